"""Database engines and sessions: SQLite (WAL) embedded by default, PostgreSQL (psycopg 3) by URL.

SQLite is opened with WAL, synchronous=FULL, foreign keys on and every transaction
as BEGIN IMMEDIATE, so two writers queue on the lock instead of failing half-way; its page
cache is SQLITE_CACHE_KIB per connection (not SQLite's 2 MB: a match run over a million open
items reads and changes index pages all over the file).
The schema is managed by Alembic (`arbridge db upgrade`); a fresh SQLite file is
migrated on first use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Upper bound of a connection's page cache; pages are allocated as they are read.
SQLITE_CACHE_KIB = 256 * 1024
#: The page cache of a read-only connection (a match run's planner).
SQLITE_READER_CACHE_KIB = 128 * 1024
#: The page cache of a statement ingest: it appends (a million receipts in one
#: transaction) and reads little back, so a big cache would only raise its memory.
SQLITE_INGEST_CACHE_KIB = 8 * 1024


def normalise_url(url: str) -> str:
    """Let operators write postgresql:// and get the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``; with ``read_only``, one whose transactions cannot write.

    A read-only engine serves a process that only reads while another writes (the match
    run's planner). Each of its statements reads the latest committed state: on SQLite it
    runs outside any transaction (a snapshot held across statements would keep the writer's
    checkpoints from restarting the WAL, which would then grow by everything written) and
    ``query_only`` refuses any write; on PostgreSQL its transactions are READ ONLY.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "isolation_level": None}, **kwargs
        )
        _configure_sqlite(engine, read_only=read_only)
        return engine
    if read_only:
        kwargs.setdefault("connect_args", {"options": "-c default_transaction_read_only=on"})
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine, *, read_only: bool = False) -> None:
    # a reader's cache starts empty whenever another connection has committed (SQLite's rule):
    # it holds what one batch reads, not what a run reads
    cache_kib = SQLITE_READER_CACHE_KIB if read_only else SQLITE_CACHE_KIB

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA cache_size=-{cache_kib}")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # pysqlite's own BEGIN is deferred: a reader that later writes can fail with
        # "database is locked" mid-transaction. Take the write lock up front instead
        # (a read-only engine begins nothing: each statement is its own read).
        if not read_only:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session


# alembic is imported where it is used: a process that only reads and writes rows (the match
# run's planner) starts without it
def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    return script.get_current_head()


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def ensure_schema(engine: Engine) -> None:
    """Migrate to head when behind (a fresh SQLite file is migrated on first use)."""
    if current_revision(engine) != head_revision():
        upgrade(engine)


@contextmanager
def sqlite_page_cache(session: Session, kib: int) -> Iterator[None]:
    """Within the block, the session's SQLite connection caches at most ``kib`` KiB of pages.

    The engine's connections start with SQLITE_CACHE_KIB (for match runs); a bulk append
    such as a statement ingest needs far less and keeps its memory flat with less. The
    connection's own setting is restored after the block. A no-op on PostgreSQL.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before = int(connection.exec_driver_sql("PRAGMA cache_size").scalar() or 0)
    connection.exec_driver_sql(f"PRAGMA cache_size=-{int(kib)}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size={before}")
