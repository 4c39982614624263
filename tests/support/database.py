"""Database fixtures: every database test runs on SQLite and on a real PostgreSQL cluster.

`engine` is parametrized over both backends and migrated to head with Alembic (the same
path `arbridge db upgrade` takes); `session` is a session whose work is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.db import make_engine, session_factory, upgrade


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'arbridge.sqlite'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    factory = session_factory(engine)
    with factory() as session:
        session.begin()
        try:
            yield session
        finally:
            session.rollback()
