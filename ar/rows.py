"""Input rows and their problems: what the importers (customers, transactions) take and report.

The gateway reads a file (CSV, JSON lines) into `SourceRow`s: the line number and the
values by column name, as text. Importers validate every row and report every problem
with its place, `customers.csv:7: iban: invalid IBAN checksum`, before changing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from ar.errors import ArError


@dataclass(frozen=True, slots=True)
class SourceRow:
    #: Line of the file the row starts on (the header is line 1 of a CSV).
    line: int
    values: Mapping[str, str]

    def get(self, column: str) -> str:
        """The stripped value of `column`, "" when empty or absent."""
        return (self.values.get(column) or "").strip()


@dataclass(frozen=True, slots=True)
class RowProblem:
    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.column}: {self.message}" if self.column else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "column": self.column, "message": self.message}


class RowError(ArError):
    """One problem of one column, raised by a field parser and turned into a RowProblem."""

    def __init__(self, column: str, message: str) -> None:
        self.column, self.message = column, message
        super().__init__(f"{column}: {message}")


class ImportRejected(ArError):
    """The input had invalid rows and nothing was imported; `problems` lists every one."""

    def __init__(self, problems: tuple[RowProblem, ...]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def header_problems(
    file: str, columns: frozenset[str], required: frozenset[str], known: frozenset[str]
) -> list[RowProblem]:
    problems = [
        RowProblem(file, 1, column, "required column is missing") for column in sorted(required - columns)
    ]
    problems += [
        RowProblem(file, 1, column, f"unknown column (known: {', '.join(sorted(known))})")
        for column in sorted(columns - known)
    ]
    return problems


def text(row: SourceRow, column: str, *, max_length: int, required: bool = False) -> str | None:
    value = row.get(column)
    if not value:
        if required:
            raise RowError(column, "required")
        return None
    if len(value) > max_length:
        raise RowError(column, f"longer than {max_length} characters")
    return value


def decimal(row: SourceRow, column: str, *, required: bool = False) -> Decimal | None:
    value = row.get(column)
    if not value:
        if required:
            raise RowError(column, "required")
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise RowError(column, f"not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise RowError(column, f"not a decimal number: {value!r}")
    if abs(number.adjusted()) > 15:
        raise RowError(column, f"out of range: {value!r}")
    return number


def iso_date(row: SourceRow, column: str, *, required: bool = False) -> date | None:
    value = row.get(column)
    if not value:
        if required:
            raise RowError(column, "required")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RowError(column, f"not an ISO date (YYYY-MM-DD): {value!r}") from None
