"""What people do around the engine: review its exceptions, apply or unapply by hand, and
the applications report (DESIGN.md: ``{"receipt", "trx_number", "amount", "rule", "evidence"}``).

Manual work goes through ``ar.applications`` as the user, within the user's own approval
limits (a write-off above them is refused with ApprovalError); rows carry ``made_by=user``
and the rule ``manual`` (or ``manual:recommendation`` when a person accepts one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ar import applications
from ar.applications import ApplicationStatus, MadeBy, ReceivableApplication, Setup
from ar.cashapp.tables import MatchDecision, MatchRecommendation
from ar.errors import NotFoundError, ValidationError
from ar.model import Customer, PaymentSchedule, ScheduleStatus
from ar.money import Money
from ar.receipts import Receipt, ReceiptStatus


def find_receipt(session: Session, text: str) -> Receipt:
    """A receipt by id, or by its entry reference when that is unique."""
    if text.isdigit():
        found = session.get(Receipt, int(text))
        if found is not None:
            return found
    matches = session.scalars(select(Receipt).where(Receipt.entry_ref == text).limit(2)).all()
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValidationError(f"entry reference {text!r} names several receipts: give the receipt id")
    raise NotFoundError("receipt", text)


# --------------------------------------------------------------------------- review
def review(session: Session) -> list[dict[str, Any]]:
    """The exceptions: open receipts (unidentified, or with money unapplied), each with the
    engine's decision and ranked recommendations, oldest first."""
    receipts = session.scalars(
        select(Receipt)
        .where(Receipt.status.in_([ReceiptStatus.UNIDENTIFIED.value, ReceiptStatus.UNAPPLIED.value]))
        .order_by(Receipt.receipt_date, Receipt.id)
    ).all()
    ids = [r.id for r in receipts]
    decisions = {d.receipt_id: d for d in _in(session, MatchDecision, MatchDecision.receipt_id, ids)}
    recommendations: dict[int, list[MatchRecommendation]] = {}
    for rec in sorted(
        _in(session, MatchRecommendation, MatchRecommendation.receipt_id, ids),
        key=lambda r: (r.receipt_id, r.rank),
    ):
        recommendations.setdefault(rec.receipt_id, []).append(rec)
    numbers = dict(
        session.execute(
            select(Customer.id, Customer.number).where(Customer.id.in_(_customers(receipts, decisions)))
        ).all()
    )
    out = []
    for receipt in receipts:
        amounts = applications.open_amounts(session, receipt.id)
        decision = decisions.get(receipt.id)
        out.append(
            {
                "receipt_id": receipt.id,
                "receipt": receipt.entry_ref,
                "date": receipt.receipt_date.isoformat(),
                "amount": amounts.amount.format(),
                "open": (amounts.unidentified if receipt.customer_id is None else amounts.unapplied).format(),
                "currency": receipt.currency,
                "status": receipt.status,
                "payer_name": receipt.payer_name,
                "payer_iban": receipt.payer_iban,
                "remittance": json.loads(receipt.remittance or "[]"),
                "customer": numbers.get(receipt.customer_id) if receipt.customer_id else None,
                "outcome": decision.outcome if decision else None,
                "evidence": json.loads(decision.evidence) if decision else None,
                "recommendations": [
                    {
                        "rank": r.rank,
                        "score": r.score,
                        "rule": r.rule,
                        "applications": json.loads(r.applications),
                        "evidence": json.loads(r.evidence),
                    }
                    for r in recommendations.get(receipt.id, [])
                ],
            }
        )
    return out


def _customers(receipts: Sequence[Receipt], decisions: dict[int, MatchDecision]) -> list[int]:
    ids = {r.customer_id for r in receipts if r.customer_id is not None}
    return sorted(ids)


def _in(session: Session, model: Any, column: Any, ids: Sequence[int]) -> list[Any]:
    out: list[Any] = []
    for start in range(0, len(ids), 500):
        out.extend(session.scalars(select(model).where(column.in_(ids[start : start + 500]))))
    return out


# --------------------------------------------------------------------------- manual work
@dataclass(frozen=True, slots=True)
class Target:
    """``TRX[:AMOUNT]`` of ``match apply``: a transaction number and the cash to apply (None: what fits)."""

    trx_number: str
    amount: Decimal | None = None

    @classmethod
    def parse(cls, text: str) -> Target:
        number, _, amount = text.partition(":")
        if not number:
            raise ValidationError(f"{text!r}: expected TRX or TRX:AMOUNT")
        try:
            return cls(number, Decimal(amount) if amount else None)
        except ArithmeticError:
            raise ValidationError(f"{text!r}: {amount!r} is not an amount") from None


def _open_items(session: Session, trx_number: str) -> list[PaymentSchedule]:
    items = session.scalars(
        select(PaymentSchedule)
        .where(PaymentSchedule.trx_number == trx_number, PaymentSchedule.status == ScheduleStatus.OPEN.value)
        .order_by(PaymentSchedule.due_date, PaymentSchedule.installment, PaymentSchedule.id)
    ).all()
    if not items:
        if session.scalars(
            select(PaymentSchedule.id).where(PaymentSchedule.trx_number == trx_number)
        ).first():
            raise ValidationError(f"{trx_number} has nothing open")
        raise NotFoundError("transaction", trx_number)
    return list(items)


def apply_manually(
    session: Session,
    receipt: Receipt,
    targets: Sequence[Target],
    *,
    setup: Setup,
    user: str,
    now: datetime,
) -> list[ReceivableApplication]:
    """Apply the receipt to the targets in order (installments oldest due first); an unidentified
    receipt is first identified as the customer of the first target. No amount: what fits."""
    if not targets:
        raise ValidationError("name at least one transaction to apply to")
    first = _open_items(session, targets[0].trx_number)[0]
    if receipt.customer_id is None:
        applications.identify(
            session, receipt.id, first.customer_id, how="manual", setup=setup, actor=user, now=now
        )
    rows = []
    for target in targets:
        items = _open_items(session, target.trx_number)
        wanted = Money.of(target.amount, receipt.currency).minor_units if target.amount is not None else None
        for item in items:
            unapplied = applications.open_amounts(session, receipt.id).unapplied.minor_units
            available = applications.available_on_item(session, item.id, setup=setup).minor_units
            if item.amount_due_remaining_minor < 0:  # a credit memo: consume it whole (or as asked)
                take = -min(
                    -item.amount_due_remaining_minor,
                    wanted if wanted is not None else -item.amount_due_remaining_minor,
                )
            else:
                take = min(available, unapplied, wanted if wanted is not None else available)
            if take == 0:
                continue
            rows.append(
                applications.apply(
                    session,
                    receipt.id,
                    item.id,
                    Money.from_minor(take, receipt.currency),
                    rule="manual",
                    evidence={"by": user, "trx_number": target.trx_number},
                    setup=setup,
                    actor=user,
                    now=now,
                    made_by=MadeBy.USER,
                )
            )
            if wanted is not None:
                wanted -= abs(take)
                if wanted <= 0:
                    break
        if wanted is not None and wanted > 0:
            raise ValidationError(
                f"cannot apply {Money.from_minor(wanted, receipt.currency)} more to {target.trx_number}: "
                "more than is open or unapplied"
            )
    if not rows:
        raise ValidationError(
            f"nothing applied: receipt {receipt.id} has nothing unapplied or the items nothing open"
        )
    return rows


def accept_recommendation(
    session: Session, receipt: Receipt, rank: int, *, setup: Setup, user: str, now: datetime
) -> list[ReceivableApplication]:
    """Carry out recommendation ``rank`` as the user (its discount and write-off within the user's limits)."""
    rec = session.scalars(
        select(MatchRecommendation).where(
            MatchRecommendation.receipt_id == receipt.id, MatchRecommendation.rank == rank
        )
    ).one_or_none()
    if rec is None:
        raise NotFoundError("recommendation", f"{receipt.id}#{rank}")
    proposed = json.loads(rec.applications)
    if receipt.customer_id is None:
        item = session.get(PaymentSchedule, int(proposed[0]["item_id"]))
        if item is None:
            raise NotFoundError("open item", proposed[0]["item_id"])
        applications.identify(
            session, receipt.id, item.customer_id, how="manual", setup=setup, actor=user, now=now
        )
    evidence = {**json.loads(rec.evidence), "accepted_by": user, "recommendation": rank}
    rows = []
    for app in sorted(proposed, key=lambda a: (Decimal(a["amount"]) >= 0, a["item_id"])):
        cur = receipt.currency
        rows.append(
            applications.apply(
                session,
                receipt.id,
                int(app["item_id"]),
                Money.of(app["amount"], cur),
                discount=Money.of(app["discount"], cur),
                write_off=Money.of(app["write_off"], cur),
                rule=f"manual:{rec.rule}",
                score=Decimal(rec.score),
                evidence=evidence,
                setup=setup,
                actor=user,
                now=now,
                made_by=MadeBy.USER,
            )
        )
    return rows


def unapply_manually(
    session: Session,
    *,
    setup: Setup,
    user: str,
    now: datetime,
    application_id: int | None = None,
    receipt: Receipt | None = None,
    trx_number: str | None = None,
) -> list[ReceivableApplication]:
    """Undo one application by id, or every active application of a receipt to a transaction."""
    if application_id is not None:
        return [applications.unapply(session, application_id, setup=setup, actor=user, now=now)]
    assert receipt is not None and trx_number is not None
    rows = [
        row
        for row in applications.applications(session, receipt.id)
        if row.status == ApplicationStatus.APPLIED.value
        and row.schedule_id is not None
        and (item := session.get(PaymentSchedule, row.schedule_id)) is not None
        and item.trx_number == trx_number
    ]
    if not rows:
        raise NotFoundError("application", f"receipt {receipt.id} to {trx_number}")
    return [applications.unapply(session, row.id, setup=setup, actor=user, now=now) for row in reversed(rows)]


# --------------------------------------------------------------------------- the report
def applications_report(
    session: Session, *, since: date | None = None, receipt_id: int | None = None
) -> list[dict[str, Any]]:
    """Active applications to open items, oldest first, in DESIGN.md's shape plus detail keys."""
    stmt = (
        select(ReceivableApplication, Receipt.entry_ref, PaymentSchedule.trx_number)
        .join(Receipt, Receipt.id == ReceivableApplication.receipt_id)
        .join(PaymentSchedule, PaymentSchedule.id == ReceivableApplication.schedule_id)
        .where(
            ReceivableApplication.status == ApplicationStatus.APPLIED.value,
            ReceivableApplication.reversal_of_id.is_(None),
            ReceivableApplication.reversed_at.is_(None),
        )
        .order_by(ReceivableApplication.id)
    )
    if since is not None:
        stmt = stmt.where(ReceivableApplication.accounting_date >= since)
    if receipt_id is not None:
        stmt = stmt.where(ReceivableApplication.receipt_id == receipt_id)
    out = []
    for row, entry_ref, trx_number in session.execute(stmt):
        out.append(
            {
                "receipt": entry_ref,
                "trx_number": trx_number,
                "amount": row.amount.format(),
                "rule": row.rule,
                "evidence": json.loads(row.evidence or "{}"),
                "receipt_id": row.receipt_id,
                "application_id": row.id,
                "currency": row.currency,
                "discount": row.discount.format(),
                "write_off": row.write_off.format(),
                "score": row.score,
                "made_by": row.made_by,
                "actor": row.actor,
                "applied_at": row.created_at.isoformat(),
            }
        )
    return out
