"""The declarative base every table derives from: one metadata, one constraint naming convention.

Lives in `ar` because the AR core owns most tables and must not import the gateway;
the gateway's own tables (file registry, outbox) derive from the same base.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Amounts are integer minor units: 64-bit everywhere an int maps. On SQLite INTEGER is
    # already 64-bit, and only "INTEGER PRIMARY KEY" aliases the rowid (autoincrement).
    type_annotation_map = {int: BigInteger().with_variant(Integer(), "sqlite")}  # noqa: RUF012
