"""What every command needs: the configuration, the database, output for people or JSON, exit codes.

Exit status (DESIGN.md): 0 ok, 1 rejected input, 2 usage or configuration error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from config.directory import Configuration, load_configuration
from config.loader import ConfigError
from gateway.db import ensure_schema, make_engine, session_factory

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2


def fail(message: str, status: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"arbridge: {message}", err=True)
    sys.exit(status)


@dataclass
class Runtime:
    """Lazily loads the configuration and opens the database the first time a command needs them."""

    config_dir: str | None
    db_url: str | None

    @cached_property
    def config(self) -> Configuration:
        if not self.config_dir:
            fail(
                "no configuration: pass --config DIR or set ARBRIDGE_CONFIG "
                "(create one with `arbridge init DIR`)"
            )
        try:
            return load_configuration(Path(self.config_dir))
        except ConfigError as exc:
            fail(f"configuration error:\n{exc}")

    @cached_property
    def engine(self) -> Engine:
        url = self.db_url or self.config.database_url()
        engine = make_engine(url)
        ensure_schema(engine)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: everything commits together or nothing does."""
        with self.sessions() as session, session.begin():
            yield session


#: Decorator giving a command the Runtime: `@pass_runtime def cmd(rt: Runtime, ...)`.
pass_runtime = click.make_pass_decorator(Runtime, ensure=False)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_default))


def print_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    """A plain aligned table for people; right-aligns amount-like columns."""
    if not rows:
        click.echo("(none)")
        return
    columns = columns or list(rows[0])
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = [all(_looks_numeric(row[i]) for row in cells if row[i]) for i in range(len(columns))]
    click.echo(
        "  ".join(
            c.ljust(w) if not n else c.rjust(w) for c, w, n in zip(columns, widths, numeric, strict=True)
        )
    )
    for row in cells:
        click.echo(
            "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(row, widths, numeric, strict=True))
        )


def _looks_numeric(text: str) -> bool:
    try:
        Decimal(text)
    except Exception:
        return False
    return True
