"""Adjustments: a change to an open item's balance, booked to a receivable activity, within limits.

The amount is signed as it acts on the balance (Oracle's convention): -5.00 writes 5.00
off (Dr activity account / Cr receivables). Only reductions: an item never holds more than
its original amount (the `open_items_within_bounds` invariant), so a charge is billed as a
debit memo instead. Within the requester's `adjustment` limit (approvals.yaml) it is
approved and posted at once; above it, it waits as pending until another user whose
limit covers it approves it (or rejects it, with a reason). Every decision is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ar import approvals, audit, ledger
from ar.applications import Setup, move_item
from ar.db import Base
from ar.errors import CurrencyMismatchError, NotFoundError, ValidationError
from ar.ledger import Posting
from ar.model import PaymentSchedule, Period
from ar.money import Money
from config.approvals import DocumentType


class AdjustmentStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Adjustment(Base):
    __tablename__ = "adjustments"
    __table_args__ = (
        CheckConstraint("amount_minor <> 0", name="amount_not_zero"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("payment_schedules.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    trx_number: Mapped[str] = mapped_column(String(40))
    #: Signed, as it acts on the item's balance: negative reduces it (a write-off).
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    #: The receivable activity (approvals.yaml activities) and its GL account at creation.
    activity: Mapped[str] = mapped_column(String(40))
    account: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), index=True)
    comment: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The date it posts on (when approved); a pending one counts against this period's close.
    accounting_date: Mapped[date] = mapped_column(Date, index=True)
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_requests.id"))
    journal_id: Mapped[int | None] = mapped_column(ForeignKey("journals.id"))

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, self.currency)


def get(session: Session, adjustment_id: int, *, lock: bool = False) -> Adjustment:
    adjustment = session.get(Adjustment, adjustment_id, with_for_update=lock)
    if adjustment is None:
        raise NotFoundError("adjustment", adjustment_id)
    return adjustment


def _check_fits(item: PaymentSchedule, amount: Money) -> None:
    if item.currency != amount.currency:
        raise CurrencyMismatchError(item.currency, amount.currency)
    if item.amount_due_original_minor < 0:
        raise ValidationError(f"{item.trx_number} is a credit: adjust invoices and debit memos only")
    if not amount.is_negative():
        raise ValidationError(
            f"an adjustment reduces a balance (a negative amount such as -{amount.amount}); "
            "bill a charge as a debit memo"
        )
    if item.amount_due_remaining_minor + amount.minor_units < 0:
        raise ValidationError(
            f"an adjustment of {amount} would take {item.trx_number} below zero: "
            f"{Money.from_minor(item.amount_due_remaining_minor, item.currency)} is open"
        )


def create(
    session: Session,
    schedule_id: int,
    amount: Money,
    *,
    activity: str,
    setup: Setup,
    actor: str,
    now: datetime,
    comment: str | None = None,
    accounting_date: date | None = None,
) -> Adjustment:
    """Create an adjustment; posted at once when within `actor`'s limit, else pending approval."""
    if amount.is_zero():
        raise ValidationError("an adjustment of zero changes nothing")
    account = setup.activity_account(activity)
    item = session.get(PaymentSchedule, schedule_id, with_for_update=True)
    if item is None:
        raise NotFoundError("open item", schedule_id)
    _check_fits(item, amount)
    adjustment = Adjustment(
        schedule_id=item.id,
        customer_id=item.customer_id,
        trx_number=item.trx_number,
        amount_minor=amount.minor_units,
        currency=amount.currency,
        activity=activity,
        account=account,
        status=AdjustmentStatus.PENDING.value,
        comment=comment,
        requested_by=actor,
        created_at=now,
        accounting_date=accounting_date or now.date(),
    )
    session.add(adjustment)
    session.flush()
    audit.record(
        session,
        actor=actor,
        entity="adjustment",
        entity_id=adjustment.id,
        action="created",
        details={"trx_number": item.trx_number, "amount": str(amount), "activity": activity},
        at=now,
    )
    req = approvals.request(
        session,
        approvals=setup.approvals,
        document_type=DocumentType.ADJUSTMENT,
        document_id=adjustment.id,
        amount=amount,
        requested_by=actor,
        now=now,
    )
    adjustment.approval_id = req.id
    if req.status == approvals.ApprovalStatus.APPROVED:
        _post(session, adjustment, item, setup=setup, actor=actor, now=now)
    session.flush()
    return adjustment


def _post(
    session: Session,
    adjustment: Adjustment,
    item: PaymentSchedule,
    *,
    setup: Setup,
    actor: str,
    now: datetime,
) -> None:
    amount = adjustment.amount
    _check_fits(item, amount)  # the item may have moved while the adjustment waited
    journal = ledger.post(
        session,
        event="adjustment",
        source_type="adjustment",
        source_id=adjustment.id,
        accounting_date=adjustment.accounting_date,
        description=f"adjustment {adjustment.id} of {item.trx_number} ({adjustment.activity})",
        postings=[
            Posting.signed(
                setup.accounts.receivables, amount, customer_id=item.customer_id, schedule_id=item.id
            ),
            Posting.signed(adjustment.account, -amount, customer_id=item.customer_id),
        ],
        actor=actor,
        now=now,
        calendar=setup.calendar,
    )
    adjustment.journal_id = journal.id
    adjustment.status = AdjustmentStatus.APPROVED.value
    move_item(item, amount.minor_units, adjustment.accounting_date)


def approve(session: Session, adjustment_id: int, *, setup: Setup, actor: str, now: datetime) -> Adjustment:
    """Approve a pending adjustment and post it: `actor` is not the requester and their limit covers it."""
    adjustment = get(session, adjustment_id, lock=True)
    req = _request_of(session, adjustment)
    approvals.approve(session, req, approvals=setup.approvals, approver=actor, now=now)
    item = session.get(PaymentSchedule, adjustment.schedule_id, with_for_update=True)
    assert item is not None  # a foreign key
    if adjustment.accounting_date < now.date():
        # It posts when approved: into today's period, not a past one that may be closed by now.
        adjustment.accounting_date = now.date()
    _post(session, adjustment, item, setup=setup, actor=actor, now=now)
    session.flush()
    return adjustment


def reject(
    session: Session, adjustment_id: int, *, reason: str, setup: Setup, actor: str, now: datetime
) -> Adjustment:
    """Reject a pending adjustment with a reason; nothing posts."""
    adjustment = get(session, adjustment_id, lock=True)
    approvals.reject(session, _request_of(session, adjustment), approver=actor, reason=reason, now=now)
    adjustment.status = AdjustmentStatus.REJECTED.value
    session.flush()
    return adjustment


def _request_of(session: Session, adjustment: Adjustment) -> approvals.ApprovalRequest:
    if adjustment.approval_id is None:  # pragma: no cover - create() always sets it
        raise ValidationError(f"adjustment {adjustment.id} has no approval request")
    return approvals.get(session, adjustment.approval_id, lock=True)


def list_adjustments(session: Session, *, pending_only: bool = False) -> Sequence[Adjustment]:
    stmt = select(Adjustment).order_by(Adjustment.id)
    if pending_only:
        stmt = stmt.where(Adjustment.status == AdjustmentStatus.PENDING.value)
    return session.scalars(stmt).all()


def pending_count(session: Session, period_name: str) -> int:
    """Adjustments dated in `period_name` still waiting for approval (period close refuses them)."""
    period = session.get(Period, period_name)
    if period is None:
        raise NotFoundError("period", period_name)
    return int(
        session.scalar(
            select(func.count())
            .select_from(Adjustment)
            .where(
                Adjustment.status == AdjustmentStatus.PENDING.value,
                Adjustment.accounting_date >= period.start_date,
                Adjustment.accounting_date <= period.end_date,
            )
        )
        or 0
    )
