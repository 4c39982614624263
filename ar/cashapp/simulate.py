"""``match simulate``: replay past receipts against a candidate rule set, keep nothing.

Inside a SAVEPOINT that is always rolled back: every application the engine made to a
receipt dated on or after ``since`` is unapplied, the receipts are decided again with the
candidate engine, and the result is compared with what the current rules did. Receipts a
person has applied (or undone an application of) are left out: their answer is a person's.

Reported: the automation rate before and after (receipts fully applied by the engine),
the receipts whose applications would change, and the new doubtful ones: receipts the
candidate would apply automatically that the current rules left to a person, or applied
differently (the answers a person should look at before adopting the candidate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ar import applications
from ar.applications import ApplicationStatus, MadeBy, ReceivableApplication
from ar.cashapp.run import DECIDED, CashApplication
from ar.cashapp.tables import MatchDecision
from ar.model import PaymentSchedule
from ar.receipts import Receipt, ReceiptStatus

SIMULATION_ACTOR = "simulation"

Applied = tuple[tuple[str, str, str, str], ...]  # (trx_number, amount, discount, write_off)


@dataclass
class SimulationReport:
    since: date
    receipts: int = 0
    automatic_before: int = 0
    automatic_after: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)
    new_doubtful: list[dict[str, Any]] = field(default_factory=list)
    no_longer_automatic: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def rate(n: int) -> float:
            return round(n / self.receipts, 4) if self.receipts else 0.0

        return {
            "since": self.since.isoformat(),
            "receipts": self.receipts,
            "automation_rate_before": rate(self.automatic_before),
            "automation_rate_after": rate(self.automatic_after),
            "changed": self.changed,
            "new_doubtful": self.new_doubtful,
            "no_longer_automatic": self.no_longer_automatic,
        }


def _engine_applied(session: Session, receipt_ids: list[int]) -> dict[int, Applied]:
    found: dict[int, list[tuple[str, str, str, str]]] = {i: [] for i in receipt_ids}
    for start in range(0, len(receipt_ids), 500):
        rows = session.execute(
            select(ReceivableApplication, PaymentSchedule.trx_number)
            .join(PaymentSchedule, PaymentSchedule.id == ReceivableApplication.schedule_id)
            .where(
                ReceivableApplication.receipt_id.in_(receipt_ids[start : start + 500]),
                ReceivableApplication.status == ApplicationStatus.APPLIED.value,
                ReceivableApplication.made_by == MadeBy.ENGINE.value,
                ReceivableApplication.reversal_of_id.is_(None),
                ReceivableApplication.reversed_at.is_(None),
            )
        )
        for row, trx_number in rows:
            found[row.receipt_id].append(
                (trx_number, row.amount.format(), row.discount.format(), row.write_off.format())
            )
    return {k: tuple(sorted(v)) for k, v in found.items()}


def _fully_applied(session: Session, receipt_ids: list[int]) -> set[int]:
    return set(
        session.scalars(
            select(Receipt.id).where(
                Receipt.id.in_(receipt_ids), Receipt.status == ReceiptStatus.APPLIED.value
            )
        )
    )


def simulate(session: Session, candidate: CashApplication, *, since: date, now: datetime) -> SimulationReport:
    """Replay receipts dated ``since`` or later with ``candidate``; the database is left as it was."""
    report = SimulationReport(since)
    person = exists().where(
        ReceivableApplication.receipt_id == Receipt.id,
        ReceivableApplication.status.in_(DECIDED),
        ReceivableApplication.made_by != MadeBy.ENGINE.value,
    )
    savepoint = session.begin_nested()
    try:
        receipt_ids = list(
            session.scalars(
                select(Receipt.id)
                .where(
                    Receipt.receipt_date >= since,
                    Receipt.status != ReceiptStatus.REVERSED.value,
                    ~person,
                )
                .order_by(Receipt.receipt_date, Receipt.id)
            )
        )
        report.receipts = len(receipt_ids)
        before = _engine_applied(session, receipt_ids)
        automatic_before = _fully_applied(session, receipt_ids) & {r for r, a in before.items() if a}
        report.automatic_before = len(automatic_before)
        engine_rows = session.scalars(
            select(ReceivableApplication)
            .where(
                ReceivableApplication.receipt_id.in_(receipt_ids),
                ReceivableApplication.status.in_(DECIDED),
                ReceivableApplication.made_by == MadeBy.ENGINE.value,
                ReceivableApplication.reversal_of_id.is_(None),
                ReceivableApplication.reversed_at.is_(None),
            )
            .order_by(ReceivableApplication.id.desc())
        ).all()
        for row in engine_rows:
            applications.unapply(
                session, row.id, setup=candidate.setup, actor=SIMULATION_ACTOR, now=now, reason="simulation"
            )
        candidate.run(session, now=now, receipt_ids=receipt_ids, replay=True)
        after = _engine_applied(session, receipt_ids)
        automatic_after = _fully_applied(session, receipt_ids) & {r for r, a in after.items() if a}
        report.automatic_after = len(automatic_after)
        refs = dict(
            session.execute(select(Receipt.id, Receipt.entry_ref).where(Receipt.id.in_(receipt_ids))).all()
        )
        outcomes = dict(
            session.execute(
                select(MatchDecision.receipt_id, MatchDecision.outcome).where(
                    MatchDecision.receipt_id.in_(receipt_ids)
                )
            ).all()
        )
        for receipt_id in receipt_ids:
            was, now_applied = before.get(receipt_id, ()), after.get(receipt_id, ())
            entry = {
                "receipt_id": receipt_id,
                "receipt": refs.get(receipt_id),
                "before": [list(a) for a in was],
                "after": [list(a) for a in now_applied],
                "outcome_after": outcomes.get(receipt_id),
            }
            if was != now_applied:
                report.changed.append(entry)
            if receipt_id in automatic_after and (receipt_id not in automatic_before or was != now_applied):
                report.new_doubtful.append(entry)
            if receipt_id in automatic_before and receipt_id not in automatic_after:
                report.no_longer_automatic.append(entry)
    finally:
        savepoint.rollback()
        session.expire_all()
    return report
