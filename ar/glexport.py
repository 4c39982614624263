"""GL export: a period's journals not yet exported -> rows for the company GL (CSV or JSON).

Pure rendering (`rows`, `to_csv`, `to_json`) over the records `unexported` selects;
`record_export` marks the journals as exported in the caller's transaction
(gl_exports is unique on the journal: a journal goes into exactly one export file).
Writing the file is the gateway's job (gateway/glexport_writer.py).

One row per journal line:
period, journal, accounting_date, event, source_type, source_id, description, line,
account, debit, credit, currency, customer_id, schedule_id — amounts as strings with
the currency's decimals.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ar.model import GlExport, Journal, JournalLine
from ar.money import Money

COLUMNS = (
    "period",
    "journal",
    "accounting_date",
    "event",
    "source_type",
    "source_id",
    "description",
    "line",
    "account",
    "debit",
    "credit",
    "currency",
    "customer_id",
    "schedule_id",
)


@dataclass(frozen=True, slots=True)
class ExportLine:
    line: int
    account: str
    debit: Money | None
    credit: Money | None
    customer_id: int | None
    schedule_id: int | None


@dataclass(frozen=True, slots=True)
class ExportJournal:
    id: int
    period: str
    number: int
    accounting_date: date
    event: str
    source_type: str
    source_id: int
    description: str
    lines: tuple[ExportLine, ...]


def unexported(session: Session, period: str) -> list[ExportJournal]:
    """The period's journals with no gl_exports row, in number order."""
    journals = session.scalars(
        select(Journal)
        .outerjoin(GlExport, GlExport.journal_id == Journal.id)
        .where(Journal.period == period, GlExport.id.is_(None))
        .order_by(Journal.number)
    ).all()
    if not journals:
        return []
    by_journal: dict[int, list[ExportLine]] = {j.id: [] for j in journals}
    ids = list(by_journal)
    for start in range(0, len(ids), 500):
        for line in session.scalars(
            select(JournalLine)
            .where(JournalLine.journal_id.in_(ids[start : start + 500]))
            .order_by(JournalLine.journal_id, JournalLine.line_number)
        ):
            by_journal[line.journal_id].append(
                ExportLine(
                    line.line_number,
                    line.account,
                    Money.from_minor(line.debit_minor, line.currency) if line.debit_minor else None,
                    Money.from_minor(line.credit_minor, line.currency) if line.credit_minor else None,
                    line.customer_id,
                    line.schedule_id,
                )
            )
    return [
        ExportJournal(
            j.id,
            j.period,
            j.number,
            j.accounting_date,
            j.event,
            j.source_type,
            j.source_id,
            j.description,
            tuple(by_journal[j.id]),
        )
        for j in journals
    ]


def rows(journals: Sequence[ExportJournal]) -> list[dict[str, str]]:
    """One flat row per journal line (all values text)."""
    out: list[dict[str, str]] = []
    for j in journals:
        for line in j.lines:
            money = line.debit or line.credit
            assert money is not None
            out.append(
                {
                    "period": j.period,
                    "journal": str(j.number),
                    "accounting_date": j.accounting_date.isoformat(),
                    "event": j.event,
                    "source_type": j.source_type,
                    "source_id": str(j.source_id),
                    "description": j.description,
                    "line": str(line.line),
                    "account": line.account,
                    "debit": line.debit.format() if line.debit else "",
                    "credit": line.credit.format() if line.credit else "",
                    "currency": money.currency,
                    "customer_id": "" if line.customer_id is None else str(line.customer_id),
                    "schedule_id": "" if line.schedule_id is None else str(line.schedule_id),
                }
            )
    return out


def to_csv(journals: Sequence[ExportJournal]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(journals))
    return buffer.getvalue()


def to_json(journals: Sequence[ExportJournal]) -> str:
    """A JSON document: {"journals": [{..., "lines": [...]}]}."""
    doc = {
        "journals": [
            {
                "period": j.period,
                "number": j.number,
                "accounting_date": j.accounting_date.isoformat(),
                "event": j.event,
                "source_type": j.source_type,
                "source_id": j.source_id,
                "description": j.description,
                "lines": [
                    {
                        "line": line.line,
                        "account": line.account,
                        "debit": line.debit.format() if line.debit else None,
                        "credit": line.credit.format() if line.credit else None,
                        "currency": (line.debit or line.credit or Money.zero("EUR")).currency,
                        "customer_id": line.customer_id,
                        "schedule_id": line.schedule_id,
                    }
                    for line in j.lines
                ],
            }
            for j in journals
        ]
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def record_export(
    session: Session, journals: Sequence[ExportJournal], *, file_name: str, actor: str, now: datetime
) -> None:
    """Mark the journals exported in `file_name` (flushed, not committed)."""
    if journals:
        session.execute(
            insert(GlExport),
            [
                {
                    "journal_id": j.id,
                    "period": j.period,
                    "file_name": file_name,
                    "exported_at": now,
                    "exported_by": actor,
                }
                for j in journals
            ],
        )
        session.flush()
