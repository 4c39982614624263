"""Rows written in bulk with the driver's executemany: INSERTs of many rows, UPDATEs by id.

SQLAlchemy's own executemany handles each row's parameters in Python (and, for an INSERT
with RETURNING in parameter order on SQLite, falls back to one statement per row); these
helpers build the statement once, convert each value with its column's own bind processor
(exactly what SQLAlchemy would store) and hand plain tuples to the driver. Ids the caller
needs are reserved beforehand (``ar.numbering.IdReserver``), so nothing is read back.
``insert_values`` puts many rows in each statement instead (for rows made on another thread).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import date, datetime
from itertools import chain
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session


def _table(model: Any) -> Table:
    return cast(Table, getattr(model, "__table__", model))


def bind_processor(dialect: Dialect, column: Any) -> Callable[[Any], Any] | None:
    """What SQLAlchemy applies to a value of ``column`` before the driver gets it (None: nothing)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


def _processors(
    connection: Connection, table: Table, names: Sequence[str]
) -> list[Callable[[Any], Any] | None]:
    return [bind_processor(connection.dialect, table.c[name]) for name in names]


def _mark(connection: Connection) -> str:
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def _convert(
    rows: Sequence[Sequence[Any]], processors: Sequence[Callable[[Any], Any] | None]
) -> list[tuple[Any, ...]]:
    columns = [(i, p) for i, p in enumerate(processors) if p is not None]
    if not columns:
        return [tuple(row) for row in rows]
    # Dates and timestamps repeat across a batch (its clock, its accounting dates): each
    # distinct one is converted once (a timestamp keyed with its zone: equal instants in
    # different zones are stored as written).
    seen: dict[Any, Any] = {}
    out: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(row)
        for i, processor in columns:
            v = values[i]
            if v is None:
                continue
            kind = type(v)
            if kind is date:
                key: Any = (i, v)
            elif kind is datetime:
                key = (i, v, v.tzinfo)
            else:
                values[i] = processor(v)
                continue
            converted = seen.get(key, seen)
            if converted is seen:
                converted = seen[key] = processor(v)
            values[i] = converted
        out.append(tuple(values))
    return out


def insert_rows(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT the rows (dicts with the same keys, ids included where the caller needs them)."""
    if not rows:
        return
    names = list(rows[0])
    if len(names) == 1:
        (name,) = names
        insert_tuples(session, model, names, [(r[name],) for r in rows])
        return
    values = itemgetter(*names)  # a tuple of the values in the order of names, in C
    insert_tuples(session, model, names, [values(r) for r in rows])


def insert_tuples(
    session: Session,
    model: Any,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    on_conflict_do_nothing: Sequence[str] = (),
) -> int:
    """INSERT rows given as tuples in the order of ``names``; returns the driver's row count.

    With ``on_conflict_do_nothing`` (the columns of a unique key), a row whose key exists
    is skipped by the database and not counted: the count is the rows inserted.
    """
    if not rows:
        return 0
    table = _table(model)
    connection = session.connection()
    sql = _values_sql(connection, table, tuple(names), 1, tuple(on_conflict_do_nothing))
    result = connection.exec_driver_sql(sql, to_driver(connection, table, names, rows))
    return int(result.rowcount)


def to_driver(
    connection: Connection, model: Any, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[tuple[Any, ...]]:
    """Rows in the order of ``names`` as the driver takes them (each column's bind processor applied)."""
    return _convert(rows, _processors(connection, _table(model), names))


#: Rows per statement of ``insert_values``: 17 columns x 500 rows stays below SQLite's
#: (32,766 since 3.32; checked, see _parameter_limit) and PostgreSQL's (65,535) limits on
#: the parameters of a statement.
VALUES_ROWS = 500
#: PostgreSQL's wire protocol counts a statement's parameters in 16 bits.
_POSTGRES_PARAMETERS = 65_535


def insert_values(
    session: Session,
    model: Any,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    on_conflict_do_nothing: Sequence[str] = (),
    rows_per_statement: int = VALUES_ROWS,
) -> int:
    """INSERT rows in the driver's form (see ``to_driver``), many per statement; returns the rows inserted.

    Unlike ``insert_tuples`` (the driver's executemany: the statement runs once per row),
    each statement carries up to ``rows_per_statement`` rows. The driver binds them all at
    once and runs the statement once, and the sqlite3 module holds the GIL for each run's
    binding, not around every row: with ingest's parse on another thread, every row of an
    executemany was a hand-over of the GIL between the two threads. With
    ``on_conflict_do_nothing`` (the columns of a unique key) a row whose key exists, also
    earlier in the same statement, is skipped by the database and not counted.
    """
    if not rows:
        return 0
    connection = session.connection()
    width = len(names)
    rows_per_statement = max(1, min(rows_per_statement, _parameter_limit(connection) // width))
    inserted = 0
    for start in range(0, len(rows), rows_per_statement):
        chunk = rows[start : start + rows_per_statement]
        sql = _values_sql(connection, _table(model), tuple(names), len(chunk), tuple(on_conflict_do_nothing))
        if set(map(len, chunk)) != {width}:
            raise ValueError(f"every row needs {width} values, for {', '.join(names)}")
        flat = tuple(chain.from_iterable(chunk))
        inserted += int(connection.exec_driver_sql(sql, flat).rowcount)
    return inserted


def _parameter_limit(connection: Connection) -> int:
    """How many parameters one statement may have on this connection."""
    driver = connection.connection.driver_connection
    if isinstance(driver, sqlite3.Connection):
        return driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # 999 before SQLite 3.32
    return _POSTGRES_PARAMETERS


_VALUES_SQL: dict[tuple[str, str, tuple[str, ...], int, tuple[str, ...]], str] = {}


def _values_sql(
    connection: Connection, table: Table, names: tuple[str, ...], count: int, conflict: tuple[str, ...]
) -> str:
    """The INSERT of ``count`` rows (one for an executemany; made once per dialect, table,
    columns and count)."""
    key = (connection.dialect.name, table.name, names, count, conflict)
    sql = _VALUES_SQL.get(key)
    if sql is None:
        preparer = connection.dialect.identifier_preparer
        mark = _mark(connection)
        row = f"({', '.join(mark for _ in names)})"
        sql = (
            f"INSERT INTO {preparer.format_table(table)} ({', '.join(preparer.quote(n) for n in names)}) "
            f"VALUES {', '.join(row for _ in range(count))}"
        )
        if conflict:
            sql += f" ON CONFLICT ({', '.join(preparer.quote(n) for n in conflict)}) DO NOTHING"
        _VALUES_SQL[key] = sql
    return sql


def update_by_id(session: Session, model: Any, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """UPDATE ``names`` of rows by id: each row is the new values in the order of ``names``, then the id."""
    if not rows:
        return
    table = _table(model)
    connection = session.connection()
    preparer = connection.dialect.identifier_preparer
    mark = _mark(connection)
    assignments = ", ".join(f"{preparer.quote(n)} = {mark}" for n in names)
    sql = f"UPDATE {preparer.format_table(table)} SET {assignments} WHERE {preparer.quote('id')} = {mark}"
    connection.exec_driver_sql(sql, _convert(rows, _processors(connection, table, [*names, "id"])))
