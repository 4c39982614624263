"""A throwaway PostgreSQL cluster (initdb + pg_ctl) on a loopback port, as pytest fixtures.

Fixtures:

- ``postgres_cluster`` (session): a started :class:`PostgresCluster`; one per
  xdist worker, stopped (``pg_ctl stop -m immediate``) and removed at the end.
- ``postgres_url`` (function): a fresh, empty database for one test, as a
  SQLAlchemy URL ``postgresql+psycopg://postgres@127.0.0.1:PORT/NAME``;
  dropped after the test.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.components import component_missing, free_port

POSTGRES_MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql (make test does)"
)
_START_ATTEMPTS = 5
_names = itertools.count(1)


def find_postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding initdb and pg_ctl, else their PATH directory."""

    def version(path: Path) -> int:
        match = re.fullmatch(r"\d+", path.parent.name)
        return int(match.group()) if match else -1

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    initdb_on_path = shutil.which("initdb")
    if initdb_on_path and shutil.which("pg_ctl"):
        return Path(initdb_on_path).parent
    return None


class PostgresCluster:
    """A cluster in its own temporary directory, run as the ``postgres`` user when we are root.

    initdb refuses to run as root, so as root every server command goes through
    ``runuser -u postgres``, and the directory is made outside pytest's
    (root-only) tmp tree and handed to that user.
    """

    host = "127.0.0.1"
    superuser = "postgres"

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.run_as: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                component_missing("running as root but there is no 'postgres' user to run initdb as")
            self.run_as = "postgres"
        self.base = Path(tempfile.mkdtemp(prefix="arbridge-pg-"))
        self.data_dir = self.base / "data"
        self.socket_dir = self.base / "socket"
        self.log_path = self.base / "postgres.log"
        self.socket_dir.mkdir()
        if self.run_as is not None:
            for path in (self.base, self.socket_dir):
                shutil.chown(path, user=self.run_as, group=None)
        self.port = 0

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / program), *args]
        return ["runuser", "-u", self.run_as, "--", *command] if self.run_as else command

    def _run(self, program: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._command(program, *args), capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self) -> None:
        initdb = self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "--auth=trust",
            f"--username={self.superuser}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # throwaway data: nothing to make durable
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}\n{initdb.stderr}")
        last_error = ""
        for _attempt in range(_START_ATTEMPTS):
            self.port = free_port()
            options = (
                f"-k {self.socket_dir} -p {self.port} -c listen_addresses={self.host} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            started = self._run(
                "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w", "-t", "60",
                "-o", options, "start",
            )  # fmt: skip
            if started.returncode == 0:
                return
            # Most likely the port was taken between free_port() and bind: try another.
            last_error = started.stdout + started.stderr + self._log_tail()
        raise RuntimeError(f"pg_ctl start failed {_START_ATTEMPTS} times; last:\n{last_error}")

    def stop(self) -> None:
        if self.data_dir.joinpath("postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "stop", "-m", "immediate", timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    # -- databases -------------------------------------------------------------

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.superuser} dbname={dbname}"

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of a database in this cluster."""
        return f"postgresql+psycopg://{self.superuser}@{self.host}:{self.port}/{dbname}"

    def create_database(self, prefix: str = "test") -> str:
        """Create a new empty database and return its SQLAlchemy URL."""
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        name = f"{prefix}_{worker}_{next(_names)}".lower()
        with psycopg.connect(self.conninfo(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.conninfo(), autocommit=True) as connection:
            # FORCE: a test that leaked a connection must not keep its database alive.
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        component_missing(POSTGRES_MISSING)
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    url = postgres_cluster.create_database()
    yield url
    postgres_cluster.drop_database(url)
