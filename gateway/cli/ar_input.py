"""Reading the AR interchange files (customers CSV, transactions CSV or JSON lines) into rows.

The AR core knows nothing of files: it takes `SourceRow`s (line number + text values by
column). CSV is UTF-8 (a BOM is accepted) with a header row; JSON lines is one object a
line, numbers kept exact (parsed as Decimal). A line that is not a JSON object is a
problem of that line, reported with the others.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from ar.rows import RowProblem, SourceRow

JSON_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})


class InputFile:
    """A re-readable source of rows (the importers read twice: validate, then write)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.is_json = path.suffix.lower() in JSON_SUFFIXES
        #: Problems of the file's syntax (not of its values), filled by reading it.
        self.problems: list[RowProblem] = []
        self.columns: frozenset[str] = frozenset()
        self._passes = 0
        self._scan_columns()

    def _scan_columns(self) -> None:
        if self.is_json:
            for row in self._json_rows(record=False):
                self.columns = frozenset(row.values)
                return
            return
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
        self.columns = frozenset(h.strip() for h in header if h.strip())

    def rows(self) -> Iterator[SourceRow]:
        self._passes += 1
        record = self._passes == 1  # report syntax problems once
        if self.is_json:
            yield from self._json_rows(record=record)
        else:
            yield from self._csv_rows(record=record)

    def _csv_rows(self, *, record: bool) -> Iterator[SourceRow]:
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            width = len(header)
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                if len(values) > width and any(v.strip() for v in values[width:]):
                    if record:
                        self.problems.append(
                            RowProblem(
                                self.name, reader.line_num, "", f"{len(values)} fields, header has {width}"
                            )
                        )
                    continue
                yield SourceRow(reader.line_num, dict(zip(header, values, strict=False)))

    def _json_rows(self, *, record: bool) -> Iterator[SourceRow]:
        with self.path.open(encoding="utf-8-sig") as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    data = json.loads(text, parse_float=Decimal)
                except json.JSONDecodeError as exc:
                    if record:
                        self.problems.append(RowProblem(self.name, number, "", f"not JSON: {exc.msg}"))
                    continue
                if not isinstance(data, dict):
                    if record:
                        self.problems.append(RowProblem(self.name, number, "", "not a JSON object"))
                    continue
                yield SourceRow(number, {str(k): "" if v is None else str(v) for k, v in data.items()})
