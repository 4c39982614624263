"""Shared fixtures: the real components (sshd, PostgreSQL) come from tests/support."""

import pytest

from gateway import compiled

pytest_plugins = ["tests.support.sshd", "tests.support.postgres", "tests.support.database"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test extensions built from other sources than the ones beside them: the tests
    would pass or fail for code that is not in the tree (gateway/compiled.py)."""
    stale = compiled.stale()
    if stale:
        pytest.exit(
            f"compiled extensions are older than their sources: {', '.join(stale)};"
            " run `make test`, or `.venv/bin/python scripts/compile_modules.py`",
            returncode=4,
        )
