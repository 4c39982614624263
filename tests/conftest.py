"""Shared fixtures: the real components (sshd, PostgreSQL) come from tests/support."""

pytest_plugins = ["tests.support.sshd", "tests.support.postgres", "tests.support.database"]
