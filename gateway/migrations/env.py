"""Alembic environment: runs on the engine the gateway hands over (see gateway.db.upgrade)."""

from __future__ import annotations

from alembic import context

import gateway.schema  # noqa: F401  (registers every table on the metadata)
from ar.db import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only when alembic's own CLI is used
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
