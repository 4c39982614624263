"""Gap-free numbering: sequences (INV, DM, CM, ...) and id reservation for bulk inserts.

A sequence's next value lives in `number_sequences` and is incremented in the caller's
transaction under a row lock (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN
IMMEDIATE already serialises writers), so a rollback gives the numbers back: no gaps.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from ar.model import NumberSequence


def allocate(session: Session, name: str, count: int, *, start: int = 1) -> int:
    """Reserve `count` consecutive values of sequence `name` (created at `start`); the first."""
    stmt = select(NumberSequence).where(NumberSequence.name == name).with_for_update()
    row = session.scalars(stmt).one_or_none()
    if row is None:
        values = {"name": name, "next_value": start}
        if session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            session.execute(pg_insert(NumberSequence).values(**values).on_conflict_do_nothing())
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            session.execute(sqlite_insert(NumberSequence).values(**values).on_conflict_do_nothing())
        row = session.scalars(stmt.execution_options(populate_existing=True)).one()
    first = row.next_value
    session.execute(
        update(NumberSequence).where(NumberSequence.name == name).values(next_value=first + count)
    )
    row.next_value = first + count
    return first


class IdReserver:
    """Primary keys for rows inserted in bulk, known before the INSERT (so children can refer to them).

    PostgreSQL: values drawn from the column's sequence (safe with concurrent writers).
    SQLite: max(id) + 1 onwards, safe because the transaction holds the write lock
    (BEGIN IMMEDIATE) from its start to its commit.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"
        self._next: dict[str, int] = {}

    def take(self, model: Any, count: int) -> list[int]:
        table = model.__table__
        if count <= 0:
            return []
        if self._postgres:
            return list(
                self._session.scalars(
                    text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                    {"t": table.name, "n": count},
                )
            )
        first = self._next.get(table.name)
        if first is None:
            first = (self._session.scalar(select(func.max(table.c.id))) or 0) + 1
        self._next[table.name] = first + count
        return list(range(first, first + count))
