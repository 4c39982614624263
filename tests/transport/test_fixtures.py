"""The real-component fixtures themselves: sshd answers, PostgreSQL runs queries and locks rows."""

from __future__ import annotations

import socket

import psycopg
import pytest

from tests.support.components import component_missing
from tests.support.postgres import PostgresCluster
from tests.support.sshd import SshServer


@pytest.mark.sftp
def test_sshd_sends_banner_and_can_restart(sshd: SshServer) -> None:
    for _ in range(2):
        with socket.create_connection((sshd.host, sshd.port), timeout=5) as sock:
            assert sock.recv(64).startswith(b"SSH-2.0-OpenSSH")
        sshd.restart()
    assert sshd.host_public_key.startswith("ssh-ed25519 ")
    assert sshd.local("bank/outbox").is_dir()


@pytest.mark.postgres
def test_postgres_runs_a_query(postgres_url: str, postgres_cluster: PostgresCluster) -> None:
    dbname = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_cluster.conninfo(dbname)) as connection:
        row = connection.execute("SELECT version(), current_database()").fetchone()
    assert row is not None
    assert row[0].startswith("PostgreSQL ")
    assert row[1] == dbname


@pytest.mark.postgres
def test_postgres_skip_locked_between_two_connections(
    postgres_url: str, postgres_cluster: PostgresCluster
) -> None:
    conninfo = postgres_cluster.conninfo(postgres_url.rsplit("/", 1)[1])
    with psycopg.connect(conninfo, autocommit=True) as setup:
        setup.execute("CREATE TABLE work (id int PRIMARY KEY)")
        setup.execute("INSERT INTO work SELECT generate_series(1, 3)")
    claim = "SELECT id FROM work ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
    with psycopg.connect(conninfo) as first, psycopg.connect(conninfo) as second:
        first_row = first.execute(claim).fetchone()
        second_row = second.execute(claim).fetchone()
        # The first worker holds row 1, so the second skips it instead of waiting.
        assert (first_row, second_row) == ((1,), (2,))
        first.rollback()
        # Row 1 is free again; row 2 stays locked by the second worker's open transaction.
        everything = "SELECT id FROM work ORDER BY id FOR UPDATE SKIP LOCKED"
        assert first.execute(everything).fetchall() == [(1,), (3,)]


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [("true", pytest.fail.Exception), ("", pytest.skip.Exception), ("false", pytest.skip.Exception)],
)
def test_missing_component_skips_locally_but_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="sshd not found"):
        component_missing("sshd not found: install it")
