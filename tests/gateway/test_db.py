"""The schema: migrations reach head on both backends and match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

import gateway.schema  # noqa: F401
from ar.db import Base
from gateway.db import current_revision, ensure_schema, head_revision


def test_migrations_reach_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    ensure_schema(engine)  # idempotent at head
    assert current_revision(engine) == head_revision()


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_sqlite_pragmas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gateway.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_page_cache_is_set_within_the_block_and_restored(session) -> None:  # type: ignore[no-untyped-def]
    from gateway.db import SQLITE_CACHE_KIB, sqlite_page_cache

    def cache() -> int | None:
        if session.get_bind().dialect.name != "sqlite":
            return None
        return int(session.connection().exec_driver_sql("PRAGMA cache_size").scalar())

    before = cache()
    with sqlite_page_cache(session, 1234):
        inside = cache()
    if before is None:  # PostgreSQL: nothing to set
        assert inside is None and cache() is None
        return
    assert before == -SQLITE_CACHE_KIB
    assert inside == -1234
    assert cache() == before
