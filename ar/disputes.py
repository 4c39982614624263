"""Disputes: an amount of an invoice the customer contests, held out of matching and dunning.

Opening a dispute adds its amount to the item's `amount_in_dispute_minor`; when the
customer's profile says disputed amounts do not count as open
(profiles.yaml `open_balance.include_disputed: false`) that part cannot be applied.
A dispute ends one of four ways; the first three need approval (approvals.yaml:
credit_memo, debit_memo, refund), within the resolver's limit at once, else by another user:

    credit-memo   a credit memo for the amount credits the invoice
                  (Dr the activity, default dispute_credit / Cr receivables on the invoice)
    debit-memo    a chargeback: the amount moves off the invoice onto a new debit memo that
                  goes back to matching and dunning (Dr receivables DM / Cr receivables invoice)
    refund        the invoice is paid; the amount is credited and refunded to the customer
                  (a credit memo and its refund: Dr the activity / Cr refunds)
    withdraw      the customer withdraws it: the amount counts as open again; nothing posts
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ar import approvals, audit, ledger
from ar.applications import Setup, move_item
from ar.cashapp import indexes
from ar.db import Base
from ar.errors import CurrencyMismatchError, NotFoundError, ValidationError
from ar.ledger import Posting
from ar.model import PaymentSchedule, ScheduleStatus, Transaction, TrxType
from ar.money import Money
from config.approvals import DocumentType

#: The receivable activity a dispute's credit posts to unless told otherwise.
DEFAULT_CREDIT_ACTIVITY = "dispute_credit"


class DisputeStatus(StrEnum):
    OPEN = "open"
    #: A resolution waits for an approver.
    PENDING_APPROVAL = "pending_approval"
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"


class Resolution(StrEnum):
    CREDIT_MEMO = "credit-memo"
    DEBIT_MEMO = "debit-memo"
    REFUND = "refund"
    WITHDRAW = "withdraw"


_DOCUMENT = {
    Resolution.CREDIT_MEMO: DocumentType.CREDIT_MEMO,
    Resolution.DEBIT_MEMO: DocumentType.DEBIT_MEMO,
    Resolution.REFUND: DocumentType.REFUND,
}


class Dispute(Base):
    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "status IN ('open', 'pending_approval', 'resolved', 'withdrawn')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("payment_schedules.id"), index=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    trx_number: Mapped[str] = mapped_column(String(40))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(80))
    comment: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    opened_by: Mapped[str] = mapped_column(String(120))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The requested (then final) resolution, and the activity its credit posts to.
    resolution: Mapped[str | None] = mapped_column(String(20))
    activity: Mapped[str | None] = mapped_column(String(40))
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_on: Mapped[date | None] = mapped_column(Date)
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_requests.id"))
    #: The credit or debit memo the resolution created.
    memo_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    journal_id: Mapped[int | None] = mapped_column(ForeignKey("journals.id"))

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, self.currency)


def get(session: Session, dispute_id: int, *, lock: bool = False) -> Dispute:
    dispute = session.get(Dispute, dispute_id, with_for_update=lock)
    if dispute is None:
        raise NotFoundError("dispute", dispute_id)
    return dispute


def open_dispute(
    session: Session,
    schedule_id: int,
    amount: Money,
    *,
    reason: str,
    actor: str,
    now: datetime,
    comment: str | None = None,
) -> Dispute:
    """Put `amount` of an invoice or debit memo in dispute (at most what is not disputed yet)."""
    if not reason.strip():
        raise ValidationError("a dispute needs a reason")
    item = session.get(PaymentSchedule, schedule_id, with_for_update=True)
    if item is None:
        raise NotFoundError("open item", schedule_id)
    if amount.currency != item.currency:
        raise CurrencyMismatchError(item.currency, amount.currency)
    if amount.amount <= 0:
        raise ValidationError(f"a disputed amount must be positive, not {amount}")
    if item.amount_due_original_minor <= 0:
        raise ValidationError(f"{item.trx_number} is a credit: only invoices and debit memos are disputed")
    free = item.amount_due_original_minor - item.amount_in_dispute_minor
    if amount.minor_units > free:
        raise ValidationError(
            f"cannot dispute {amount} of {item.trx_number}: "
            f"{Money.from_minor(free, item.currency)} of it is not in dispute yet"
        )
    item.amount_in_dispute_minor += amount.minor_units
    dispute = Dispute(
        schedule_id=item.id,
        transaction_id=item.transaction_id,
        customer_id=item.customer_id,
        trx_number=item.trx_number,
        amount_minor=amount.minor_units,
        currency=amount.currency,
        reason=reason,
        comment=comment,
        status=DisputeStatus.OPEN.value,
        opened_by=actor,
        opened_at=now,
    )
    session.add(dispute)
    session.flush()
    audit.record(
        session,
        actor=actor,
        entity="dispute",
        entity_id=dispute.id,
        action="opened",
        details={"trx_number": item.trx_number, "amount": str(amount), "reason": reason, "comment": comment},
        at=now,
    )
    return dispute


def resolve(
    session: Session,
    dispute_id: int,
    by: Resolution,
    *,
    setup: Setup,
    actor: str,
    now: datetime,
    activity: str = DEFAULT_CREDIT_ACTIVITY,
) -> Dispute:
    """Resolve a dispute: at once when withdrawn or within `actor`'s limit, else pending approval."""
    dispute = get(session, dispute_id, lock=True)
    if dispute.status != DisputeStatus.OPEN:
        raise ValidationError(f"dispute {dispute.id} is {dispute.status}, not open")
    item = _item(session, dispute)
    if by is Resolution.WITHDRAW:
        _release(item, dispute)
        dispute.status, dispute.resolution = DisputeStatus.WITHDRAWN.value, by.value
        dispute.resolved_by, dispute.resolved_at, dispute.resolved_on = actor, now, now.date()
        audit.record(session, actor=actor, entity="dispute", entity_id=dispute.id, action="withdrawn", at=now)
        session.flush()
        return dispute
    if by is not Resolution.DEBIT_MEMO:
        setup.activity_account(activity)  # refuse an unknown activity before anything is asked
    _check_resolvable(item, dispute, by)
    dispute.resolution, dispute.activity = by.value, activity
    req = approvals.request(
        session,
        approvals=setup.approvals,
        document_type=_DOCUMENT[by],
        document_id=dispute.id,
        amount=dispute.amount,
        requested_by=actor,
        now=now,
    )
    dispute.approval_id = req.id
    if req.status == approvals.ApprovalStatus.APPROVED:
        _execute(session, dispute, item, setup=setup, actor=actor, now=now)
    else:
        dispute.status = DisputeStatus.PENDING_APPROVAL.value
    session.flush()
    return dispute


def approve(session: Session, dispute_id: int, *, setup: Setup, actor: str, now: datetime) -> Dispute:
    dispute = get(session, dispute_id, lock=True)
    req = _request_of(session, dispute)
    approvals.approve(session, req, approvals=setup.approvals, approver=actor, now=now)
    _execute(session, dispute, _item(session, dispute), setup=setup, actor=actor, now=now)
    session.flush()
    return dispute


def reject(
    session: Session, dispute_id: int, *, reason: str, setup: Setup, actor: str, now: datetime
) -> Dispute:
    """Reject the requested resolution: the dispute is open again, to be resolved another way."""
    dispute = get(session, dispute_id, lock=True)
    approvals.reject(session, _request_of(session, dispute), approver=actor, reason=reason, now=now)
    dispute.status, dispute.resolution, dispute.approval_id = DisputeStatus.OPEN.value, None, None
    session.flush()
    return dispute


def list_disputes(session: Session, *, open_only: bool = False) -> Sequence[Dispute]:
    stmt = select(Dispute).order_by(Dispute.id)
    if open_only:
        stmt = stmt.where(
            Dispute.status.in_([DisputeStatus.OPEN.value, DisputeStatus.PENDING_APPROVAL.value])
        )
    return session.scalars(stmt).all()


# --------------------------------------------------------------------------- internals
def _item(session: Session, dispute: Dispute) -> PaymentSchedule:
    item = session.get(PaymentSchedule, dispute.schedule_id, with_for_update=True)
    assert item is not None  # a foreign key
    return item


def _request_of(session: Session, dispute: Dispute) -> approvals.ApprovalRequest:
    if dispute.approval_id is None or dispute.status != DisputeStatus.PENDING_APPROVAL:
        raise ValidationError(f"dispute {dispute.id} has no resolution waiting for approval")
    return approvals.get(session, dispute.approval_id, lock=True)


def _release(item: PaymentSchedule, dispute: Dispute) -> None:
    item.amount_in_dispute_minor = max(item.amount_in_dispute_minor - dispute.amount_minor, 0)


def _check_resolvable(item: PaymentSchedule, dispute: Dispute, by: Resolution) -> None:
    remaining, paid = (
        item.amount_due_remaining_minor,
        item.amount_due_original_minor - item.amount_due_remaining_minor,
    )
    if by in (Resolution.CREDIT_MEMO, Resolution.DEBIT_MEMO) and dispute.amount_minor > remaining:
        raise ValidationError(
            f"{item.trx_number} has {Money.from_minor(remaining, item.currency)} open, less than the "
            f"disputed {dispute.amount}: resolve by refund for what the customer has paid"
        )
    if by is Resolution.REFUND and dispute.amount_minor > paid:
        raise ValidationError(
            f"{item.trx_number}: only {Money.from_minor(paid, item.currency)} is paid; refund at most "
            "that, or resolve by credit memo"
        )


def _execute(
    session: Session, dispute: Dispute, item: PaymentSchedule, *, setup: Setup, actor: str, now: datetime
) -> None:
    by = Resolution(dispute.resolution or "")
    _check_resolvable(item, dispute, by)  # the item may have moved while the resolution waited
    today = now.date()
    amount = dispute.amount
    accounts = setup.accounts
    if by is Resolution.DEBIT_MEMO:
        memo, memo_item = _memo(session, dispute, TrxType.DEBIT_MEMO, amount, now=now)
        postings = [
            Posting(
                accounts.receivables, debit=amount, customer_id=memo.customer_id, schedule_id=memo_item.id
            ),
            Posting(accounts.receivables, credit=amount, customer_id=item.customer_id, schedule_id=item.id),
        ]
        move_item(item, -amount.minor_units, today)
    else:
        memo, memo_item = _memo(session, dispute, TrxType.CREDIT_MEMO, -amount, now=now)
        credit_account = setup.activity_account(dispute.activity or DEFAULT_CREDIT_ACTIVITY)
        if by is Resolution.CREDIT_MEMO:
            postings = [
                Posting(credit_account, debit=amount, customer_id=item.customer_id),
                Posting(
                    accounts.receivables, credit=amount, customer_id=item.customer_id, schedule_id=item.id
                ),
            ]
            move_item(item, -amount.minor_units, today)
        else:
            postings = [
                Posting(credit_account, debit=amount, customer_id=item.customer_id),
                Posting(accounts.refunds, credit=amount, customer_id=item.customer_id),
            ]
    # The memo's own journal (source: the transaction, like every transaction's), which also
    # applies it to the invoice (or to the refund).
    journal = ledger.post(
        session,
        event="debit_memo" if by is Resolution.DEBIT_MEMO else "credit_memo",
        source_type="transaction",
        source_id=memo.id,
        accounting_date=today,
        description=f"dispute {dispute.id} of {dispute.trx_number} resolved by {by.value}: {memo.trx_number}",
        postings=postings,
        actor=actor,
        now=now,
        calendar=setup.calendar,
    )
    _release(item, dispute)
    dispute.memo_id, dispute.journal_id = memo.id, journal.id
    dispute.status = DisputeStatus.RESOLVED.value
    dispute.resolved_by, dispute.resolved_at, dispute.resolved_on = actor, now, today
    audit.record(
        session,
        actor=actor,
        entity="dispute",
        entity_id=dispute.id,
        action="resolved",
        details={"by": by.value, "memo": memo.trx_number, "amount": str(amount)},
        at=now,
    )


def _memo(
    session: Session, dispute: Dispute, trx_type: TrxType, amount: Money, *, now: datetime
) -> tuple[Transaction, PaymentSchedule]:
    """The credit or debit memo of a resolution, with its one installment.

    A credit memo is applied to the invoice (or refunded) in the same journal, so its
    open item is created closed; a debit memo's is open for its whole amount.
    """
    invoice = session.get(Transaction, dispute.transaction_id)
    assert invoice is not None  # a foreign key
    today = now.date()
    number = f"{trx_type.value}-D{dispute.id:06d}"
    memo = Transaction(
        trx_type=trx_type.value,
        trx_number=number,
        customer_id=dispute.customer_id,
        currency=amount.currency,
        trx_date=today,
        gl_date=today,
        order_number=invoice.order_number,
        payment_term=invoice.payment_term if trx_type is TrxType.DEBIT_MEMO else None,
        credited_trx_id=invoice.id if trx_type is TrxType.CREDIT_MEMO else None,
        net_minor=amount.minor_units,
        tax_minor=0,
        total_minor=amount.minor_units,
        created_at=now,
    )
    session.add(memo)
    session.flush()
    is_open = trx_type is TrxType.DEBIT_MEMO
    memo_item = PaymentSchedule(
        transaction_id=memo.id,
        installment=1,
        customer_id=dispute.customer_id,
        trx_type=trx_type.value,
        trx_number=number,
        currency=amount.currency,
        trx_date=today,
        due_date=today,
        amount_due_original_minor=amount.minor_units,
        amount_due_remaining_minor=amount.minor_units if is_open else 0,
        amount_in_dispute_minor=0,
        discounts="[]",
        status=(ScheduleStatus.OPEN if is_open else ScheduleStatus.CLOSED).value,
        closed_on=None if is_open else today,
    )
    session.add(memo_item)
    session.flush()
    indexes.index_items(session, [(memo_item.id, number, memo.order_number)])
    return memo, memo_item
