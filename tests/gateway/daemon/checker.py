"""An independent checker of the daemon's outcome: plain SQL and os.listdir, no gateway code.

It shares nothing with arbridge but the table and column names, so a bug in the
gateway cannot hide itself in the check.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Query = Callable[[str], list[tuple[Any, ...]]]
PARTIAL_MARKERS = (".part", ".tmp")


def sqlite_query(path: str) -> Query:
    def query(sql: str) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(path, timeout=30)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()

    return query


def postgres_query(conninfo: str) -> Query:
    import psycopg

    def query(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(conninfo) as connection:
            return list(connection.execute(sql).fetchall())

    return query


def sha256(path: str) -> str:
    with open(path, "rb") as stream:
        return hashlib.sha256(stream.read()).hexdigest()


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.problems.append(message)

    def assert_ok(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def check_inbound(query: Query, inputs: dict[str, bytes], expected_receipts: int, report: Report) -> None:
    """Every input file (name -> bytes) ends in exactly one final state; no receipt twice."""
    originals = query("SELECT sha256, state FROM inbound_files WHERE duplicate_of_id IS NULL")
    by_sha = Counter(row[0] for row in originals)
    for name, data in inputs.items():
        digest = hashlib.sha256(data).hexdigest()
        report.check(by_sha[digest] == 1, f"{name}: {by_sha[digest]} original registrations, not 1")
        states = [row[1] for row in originals if row[0] == digest]
        report.check(all(s in ("processed", "quarantined") for s in states), f"{name}: final state {states}")
    open_rows = query("SELECT name, state FROM remote_seen WHERE state NOT IN ('done', 'gone')")
    report.check(not open_rows, f"remote files not finished: {open_rows}")
    twice = query(
        "SELECT bank_account, entry_ref, tx_index, COUNT(*) FROM receipts "
        "GROUP BY bank_account, entry_ref, tx_index HAVING COUNT(*) > 1"
    )
    report.check(not twice, f"receipts recorded twice: {twice}")
    count = query("SELECT COUNT(*) FROM receipts")[0][0]
    report.check(count == expected_receipts, f"{count} receipts, expected {expected_receipts}")


def check_outbound(query: Query, folder: str, expected: dict[str, bytes], report: Report) -> None:
    """Each expected file is under its final name once, whole, recorded sent once; nothing partial."""
    listed = os.listdir(folder)
    finals = [n for n in listed if not n.startswith(".") and not n.endswith(PARTIAL_MARKERS)]
    report.check(
        sorted(finals) == sorted(expected), f"final names {sorted(finals)}, expected {sorted(expected)}"
    )
    for name, data in expected.items():
        if name in finals:
            report.check(
                sha256(os.path.join(folder, name)) == hashlib.sha256(data).hexdigest(),
                f"{name}: the bytes under the final name differ from what was queued (partial?)",
            )
    rows = query("SELECT id, remote_name, state FROM outbound_files")
    for name in expected:
        states = [row[2] for row in rows if row[1] == name]
        report.check(states == ["sent"], f"{name}: outbox states {states}, expected ['sent']")
    sent_events = query(
        "SELECT entity_id, COUNT(*) FROM audit_events WHERE entity = 'outbound_file' "
        "AND action = 'sent' GROUP BY entity_id"
    )
    report.check(all(n == 1 for _, n in sent_events), f"an outbound file recorded sent twice: {sent_events}")


def remote_leftovers(folders: Iterable[str]) -> list[str]:
    """Files still in the bank's outbox folders (should be none once removed or archived)."""
    return [os.path.join(f, n) for f in folders for n in os.listdir(f) if not n.startswith(".")]
