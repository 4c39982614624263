"""Receipt applications: where every unit of a receipt is — unidentified, unapplied, applied, on account.

Modelled on Oracle Receivables' AR_RECEIVABLE_APPLICATIONS. A receipt's money is held in
rows of five statuses, each row signed:

    UNID      the payer is not known                    (GL: unidentified)
    UNAPP     the payer is known, nothing decided yet   (GL: unapplied)
    APP       applied to an open item (invoice, DM; a CM is consumed with a negative amount)
    ACC       on account: the customer's credit, no item (GL: on-account)
    ACTIVITY  refunded, or written off as a small unapplied balance (GL: the activity's account)

Every event adds its rows and posts one journal with them: posting the receipt (+UNID
or +UNAPP), identifying the payer (-UNID +UNAPP), applying (-UNAPP +APP), putting on
account (-UNAPP +ACC), refunding (-UNAPP +ACTIVITY). Undoing an event (unapply, receipt
reversal) never edits it: it reverses the event's journal and adds the negated rows,
marking the originals reversed. So, for every posted receipt at all times,

    amount = applied + unapplied + on account + unidentified + activity

(zero for a reversed receipt), and each bucket but APP is never negative. The checks
are registered with the invariant registry by `ar.receivables_invariants`.

Services take the caller's session, lock what they change, flush, never commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from ar import audit, ledger
from ar.db import Base
from ar.errors import (
    ApprovalError,
    CurrencyMismatchError,
    NotFoundError,
    ValidationError,
)
from ar.invariants import CheckContext, Violation, invariant
from ar.ledger import Posting
from ar.model import Customer, PaymentSchedule, ScheduleStatus
from ar.money import Money
from ar.receipts import Receipt, ReceiptStatus
from config.approvals import Approvals, DocumentType
from config.ar import ArConfig, CalendarConfig, LedgerAccounts

#: The actor name the matching engine acts as (its limits are the company policy's).
ENGINE_ACTOR = "engine"
#: The `activity` of a refund row.
REFUND = "refund"


class ApplicationStatus(StrEnum):
    UNIDENTIFIED = "UNID"
    UNAPPLIED = "UNAPP"
    APPLIED = "APP"
    ON_ACCOUNT = "ACC"
    ACTIVITY = "ACTIVITY"


class MadeBy(StrEnum):
    """Who decided an application: the matching engine, a person, or the system (a reversal)."""

    ENGINE = "engine"
    USER = "user"
    SYSTEM = "system"


class ReceivableApplication(Base):
    """One signed movement of a receipt's money between statuses; see the module docstring."""

    __tablename__ = "receivable_applications"
    __table_args__ = (
        Index("ix_receivable_applications_receipt", "receipt_id", "status"),
        CheckConstraint(
            "status IN ('UNID', 'UNAPP', 'APP', 'ACC', 'ACTIVITY')",
            name="status_known",
        ),
        CheckConstraint("status <> 'APP' OR schedule_id IS NOT NULL", name="app_has_item"),
        CheckConstraint("status <> 'ACTIVITY' OR activity IS NOT NULL", name="activity_named"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"))
    status: Mapped[str] = mapped_column(String(8))
    #: Signed, in the receipt's currency: what this row moves into `status`.
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    #: APP: the open item applied to.
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("payment_schedules.id"), index=True)
    #: APP: early-payment discount and write-off closed on the item with this application.
    discount_minor: Mapped[int] = mapped_column(default=0)
    write_off_minor: Mapped[int] = mapped_column(default=0)
    #: The customer the money belongs to (UNAPP/ACC) or whose item was paid (APP).
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    #: ACTIVITY: "refund" or the receivable activity written off to; APP with write-off: its activity.
    activity: Mapped[str | None] = mapped_column(String(40))
    #: The rule that decided it ("reference", "autocash:clear_past_due", "manual", ...).
    rule: Mapped[str | None] = mapped_column(String(80))
    #: The engine's score, a decimal string (not money; SQLite has no exact decimal).
    score: Mapped[str | None] = mapped_column(String(20))
    #: JSON: why (references found, amount difference, how the payer was identified, ...).
    evidence: Mapped[str] = mapped_column(Text, default="{}")
    made_by: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(120))
    accounting_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    journal_id: Mapped[int | None] = mapped_column(ForeignKey("journals.id"), index=True)
    #: For a negating row: the row it negates.
    reversal_of_id: Mapped[int | None] = mapped_column(ForeignKey("receivable_applications.id"), index=True)
    #: Set on a row once it has been negated (unapplied, reversed).
    reversed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, self.currency)

    @property
    def discount(self) -> Money:
        return Money.from_minor(self.discount_minor, self.currency)

    @property
    def write_off(self) -> Money:
        return Money.from_minor(self.write_off_minor, self.currency)

    @property
    def active(self) -> bool:
        return self.reversed_at is None and self.reversal_of_id is None


# --------------------------------------------------------------------------- setup
@dataclass(frozen=True, slots=True)
class Setup:
    """The configuration the receivables services need: accounts, calendar, profiles, limits."""

    ar: ArConfig = field(default_factory=ArConfig)
    approvals: Approvals = field(default_factory=Approvals)
    #: Our bank account (IBAN) -> its GL cash account, when it names one (banks/<id>.yaml).
    cash_accounts: Mapping[str, str] = field(default_factory=dict)

    @property
    def accounts(self) -> LedgerAccounts:
        return self.ar.ledger.accounts

    @property
    def calendar(self) -> CalendarConfig:
        return self.ar.calendar

    def cash_account(self, bank_account: str) -> str:
        return self.cash_accounts.get(bank_account) or self.accounts.cash

    def disputes_leave_matching(self, profile: str) -> bool:
        """Whether a disputed amount is held out of matching for customers of `profile`.

        profiles.yaml's `open_balance.include_disputed: false` says disputed amounts do not
        count as open: they leave matching (and dunning) until the dispute is resolved.
        """
        found = self.ar.profiles.profiles.get(profile) or self.ar.profiles.profiles.get("default")
        return found is not None and not found.open_balance.include_disputed

    def activity_account(self, name: str) -> str:
        activity = self.approvals.activities.get(name)
        if activity is None:
            known = ", ".join(sorted(self.approvals.activities)) or "none configured"
            raise ValidationError(
                f"unknown receivable activity {name!r} (approvals.yaml activities: {known})"
            )
        return activity.account

    def receipt_write_off_account(self) -> tuple[str | None, str]:
        """(activity name, GL account) a write-off taken when applying a receipt posts to."""
        name = self.approvals.receipt_write_off_activity
        if name is None:
            return None, self.accounts.write_offs
        return name, self.activity_account(name)


@dataclass(frozen=True, slots=True)
class ReceiptAmounts:
    """Where a receipt's money is; `amount` equals the sum of the others (zero for a reversed one)."""

    receipt_id: int
    amount: Money
    applied: Money
    unapplied: Money
    on_account: Money
    unidentified: Money
    activity: Money
    posted: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "receipt_id": self.receipt_id,
            "amount": self.amount.format(),
            "applied": self.applied.format(),
            "unapplied": self.unapplied.format(),
            "on_account": self.on_account.format(),
            "unidentified": self.unidentified.format(),
            "activity": self.activity.format(),
            "currency": self.amount.currency,
            "posted": self.posted,
        }


# --------------------------------------------------------------------------- queries
def get_receipt(session: Session, receipt_id: int, *, lock: bool = False) -> Receipt:
    receipt = session.get(Receipt, receipt_id, with_for_update=lock)
    if receipt is None:
        raise NotFoundError("receipt", receipt_id)
    return receipt


def get_application(session: Session, application_id: int) -> ReceivableApplication:
    row = session.get(ReceivableApplication, application_id)
    if row is None:
        raise NotFoundError("application", application_id)
    return row


def _lock_schedule(session: Session, schedule_id: int) -> PaymentSchedule:
    item = session.get(PaymentSchedule, schedule_id, with_for_update=True)
    if item is None:
        raise NotFoundError("open item", schedule_id)
    return item


def rows_of(session: Session, receipt_id: int) -> Sequence[ReceivableApplication]:
    return session.scalars(
        select(ReceivableApplication)
        .where(ReceivableApplication.receipt_id == receipt_id)
        .order_by(ReceivableApplication.id)
    ).all()


def applications(session: Session, receipt_id: int) -> Sequence[ReceivableApplication]:
    """The receipt's active decisions (APP, ACC, ACTIVITY rows not undone), oldest first."""
    return session.scalars(
        select(ReceivableApplication)
        .where(
            ReceivableApplication.receipt_id == receipt_id,
            ReceivableApplication.status.in_(
                [ApplicationStatus.APPLIED, ApplicationStatus.ON_ACCOUNT, ApplicationStatus.ACTIVITY]
            ),
            ReceivableApplication.reversal_of_id.is_(None),
            ReceivableApplication.reversed_at.is_(None),
        )
        .order_by(ReceivableApplication.id)
    ).all()


def _buckets(session: Session, receipt_id: int) -> dict[str, int]:
    rows = session.execute(
        select(ReceivableApplication.status, func.sum(ReceivableApplication.amount_minor))
        .where(ReceivableApplication.receipt_id == receipt_id)
        .group_by(ReceivableApplication.status)
    ).all()
    return {status: int(total or 0) for status, total in rows}


def is_posted(session: Session, receipt_id: int) -> bool:
    return (
        session.scalar(
            select(func.count())
            .select_from(ReceivableApplication)
            .where(ReceivableApplication.receipt_id == receipt_id)
        )
        or 0
    ) > 0


def open_amounts(session: Session, receipt_id: int) -> ReceiptAmounts:
    receipt = get_receipt(session, receipt_id)
    b = _buckets(session, receipt_id)
    cur = receipt.currency

    def m(status: ApplicationStatus) -> Money:
        return Money.from_minor(b.get(status.value, 0), cur)

    posted = bool(b) or is_posted(session, receipt_id)
    unidentified = m(ApplicationStatus.UNIDENTIFIED)
    unapplied = m(ApplicationStatus.UNAPPLIED)
    if not posted and receipt.status != ReceiptStatus.REVERSED:
        # Recorded but not yet posted: all of it is waiting, under the payer we know or not.
        if receipt.customer_id is None:
            unidentified = receipt.amount
        else:
            unapplied = receipt.amount
    return ReceiptAmounts(
        receipt_id=receipt.id,
        amount=receipt.amount,
        applied=m(ApplicationStatus.APPLIED),
        unapplied=unapplied,
        on_account=m(ApplicationStatus.ON_ACCOUNT),
        unidentified=unidentified,
        activity=m(ApplicationStatus.ACTIVITY),
        posted=posted,
    )


def disputed_held(setup: Setup, item: PaymentSchedule, customer: Customer | None) -> int:
    """Minor units of `item` held out of matching by its dispute (0 when the profile keeps them in)."""
    if item.amount_in_dispute_minor <= 0 or customer is None:
        return 0
    if not setup.disputes_leave_matching(customer.profile):
        return 0
    return min(item.amount_in_dispute_minor, max(item.amount_due_remaining_minor, 0))


def available_on_item(session: Session, schedule_id: int, *, setup: Setup) -> Money:
    """What may be applied to an open item now: its remaining amount, less a held dispute."""
    item = session.get(PaymentSchedule, schedule_id)
    if item is None:
        raise NotFoundError("open item", schedule_id)
    customer = session.get(Customer, item.customer_id)
    return Money.from_minor(
        item.amount_due_remaining_minor - disputed_held(setup, item, customer), item.currency
    )


# --------------------------------------------------------------------------- internals
def _refresh_status(session: Session, receipt: Receipt) -> None:
    if receipt.status == ReceiptStatus.REVERSED:
        return
    b = _buckets(session, receipt.id)
    if b.get(ApplicationStatus.UNIDENTIFIED.value, 0) > 0 or (not b and receipt.customer_id is None):
        receipt.status = ReceiptStatus.UNIDENTIFIED.value
    elif b.get(ApplicationStatus.UNAPPLIED.value, 0) > 0 or not b:
        receipt.status = ReceiptStatus.UNAPPLIED.value
    else:
        receipt.status = ReceiptStatus.APPLIED.value


def _row(
    receipt: Receipt,
    status: ApplicationStatus,
    amount_minor: int,
    *,
    actor: str,
    now: datetime,
    accounting_date: date,
    made_by: MadeBy,
    customer_id: int | None = None,
    schedule_id: int | None = None,
    discount_minor: int = 0,
    write_off_minor: int = 0,
    activity: str | None = None,
    rule: str | None = None,
    score: Decimal | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> ReceivableApplication:
    return ReceivableApplication(
        receipt_id=receipt.id,
        status=status.value,
        amount_minor=amount_minor,
        currency=receipt.currency,
        schedule_id=schedule_id,
        discount_minor=discount_minor,
        write_off_minor=write_off_minor,
        customer_id=customer_id,
        activity=activity,
        rule=rule,
        score=None if score is None else str(score),
        evidence=audit.details_json(evidence),
        made_by=made_by.value,
        actor=actor,
        accounting_date=accounting_date,
        created_at=now,
    )


def _record_event(
    session: Session,
    rows: Sequence[ReceivableApplication],
    *,
    setup: Setup,
    event: str,
    description: str,
    postings: Sequence[Posting],
    actor: str,
    now: datetime,
    accounting_date: date,
) -> None:
    """Insert the event's rows and post its journal (source: the event's first row)."""
    session.add_all(rows)
    session.flush()
    journal = ledger.post(
        session,
        event=event,
        source_type="receivable_application",
        source_id=rows[0].id,
        accounting_date=accounting_date,
        description=description,
        postings=postings,
        actor=actor,
        now=now,
        calendar=setup.calendar,
    )
    for row in rows:
        row.journal_id = journal.id
    session.flush()


def _undo_event(
    session: Session,
    journal_id: int,
    *,
    setup: Setup,
    actor: str,
    now: datetime,
    accounting_date: date,
    reason: str | None,
) -> list[ReceivableApplication]:
    """Reverse one event: its journal by a reversing journal, its rows by negated rows."""
    originals = session.scalars(
        select(ReceivableApplication)
        .where(ReceivableApplication.journal_id == journal_id)
        .order_by(ReceivableApplication.id)
    ).all()
    reversal = ledger.reverse(
        session, journal_id, accounting_date=accounting_date, actor=actor, now=now, calendar=setup.calendar
    )
    negated: list[ReceivableApplication] = []
    for row in originals:
        row.reversed_at = now
        negated.append(
            ReceivableApplication(
                receipt_id=row.receipt_id,
                status=row.status,
                amount_minor=-row.amount_minor,
                currency=row.currency,
                schedule_id=row.schedule_id,
                discount_minor=-row.discount_minor,
                write_off_minor=-row.write_off_minor,
                customer_id=row.customer_id,
                activity=row.activity,
                rule=row.rule,
                score=None,
                evidence=json.dumps({"reason": reason} if reason else {}),
                made_by=MadeBy.SYSTEM.value if actor == "system" else MadeBy.USER.value,
                actor=actor,
                accounting_date=accounting_date,
                created_at=now,
                journal_id=reversal.id,
                reversal_of_id=row.id,
            )
        )
    session.add_all(negated)
    session.flush()
    return negated


def _usable(receipt: Receipt) -> None:
    if receipt.status == ReceiptStatus.REVERSED:
        raise ValidationError(f"receipt {receipt.id} is reversed: nothing can be applied or changed")


def _positive(amount: Money, what: str) -> None:
    if amount.amount <= 0:
        raise ValidationError(f"{what} must be positive, not {amount}")


def _same_currency(receipt: Receipt, amount: Money) -> None:
    if amount.currency != receipt.currency:
        raise CurrencyMismatchError(receipt.currency, amount.currency)


def _unapplied_minor(session: Session, receipt: Receipt) -> int:
    return _buckets(session, receipt.id).get(ApplicationStatus.UNAPPLIED.value, 0)


# --------------------------------------------------------------------------- services
def post_receipt(
    session: Session,
    receipt_id: int,
    *,
    setup: Setup,
    actor: str,
    now: datetime,
    accounting_date: date | None = None,
) -> Receipt:
    """Post a recorded receipt: Dr cash / Cr unidentified (payer unknown) or Cr unapplied.

    Idempotent: a receipt already posted is returned unchanged. Every other service
    posts the receipt first, so calling this is only needed to account for a receipt
    nothing else happens to.
    """
    receipt = get_receipt(session, receipt_id, lock=True)
    if is_posted(session, receipt.id):
        return receipt
    _usable(receipt)
    when = accounting_date or receipt.receipt_date
    known = receipt.customer_id is not None
    status = ApplicationStatus.UNAPPLIED if known else ApplicationStatus.UNIDENTIFIED
    row = _row(
        receipt,
        status,
        receipt.amount_minor,
        actor=actor,
        now=now,
        accounting_date=when,
        made_by=MadeBy.SYSTEM,
        customer_id=receipt.customer_id,
        rule="receipt",
    )
    accounts = setup.accounts
    _record_event(
        session,
        [row],
        setup=setup,
        event="receipt",
        description=f"receipt {receipt.id} {receipt.entry_ref}",
        postings=[
            Posting(setup.cash_account(receipt.bank_account), debit=receipt.amount),
            Posting(
                accounts.unapplied if known else accounts.unidentified,
                credit=receipt.amount,
                customer_id=receipt.customer_id,
            ),
        ],
        actor=actor,
        now=now,
        accounting_date=when,
    )
    _refresh_status(session, receipt)
    session.flush()
    return receipt


def identify(
    session: Session,
    receipt_id: int,
    customer_id: int,
    *,
    how: str,
    setup: Setup,
    actor: str,
    now: datetime,
    evidence: Mapping[str, Any] | None = None,
    made_by: MadeBy = MadeBy.USER,
    accounting_date: date | None = None,
) -> Receipt:
    """Name the payer of an unidentified receipt: Dr unidentified / Cr unapplied.

    On a receipt recorded but not yet posted the payer is set before posting (no
    identification journal). A receipt already identified is refused unless it is the
    same customer (then nothing changes).
    """
    receipt = get_receipt(session, receipt_id, lock=True)
    _usable(receipt)
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError("customer", customer_id)
    if receipt.customer_id is not None:
        if receipt.customer_id == customer_id:
            return receipt
        raise ValidationError(
            f"receipt {receipt.id} is already identified as customer {receipt.customer_id}: "
            "reverse it and record it again to change the payer"
        )
    when = accounting_date or receipt.receipt_date  # identified as of the day the money came
    receipt.customer_id = customer_id
    receipt.identified_by = how
    if not is_posted(session, receipt.id):
        post_receipt(session, receipt.id, setup=setup, actor=actor, now=now)
    else:
        unidentified = _buckets(session, receipt.id).get(ApplicationStatus.UNIDENTIFIED.value, 0)
        amount = Money.from_minor(unidentified, receipt.currency)
        details = {"identified_by": how, **dict(evidence or {})}
        rows = [
            _row(
                receipt,
                ApplicationStatus.UNIDENTIFIED,
                -unidentified,
                actor=actor,
                now=now,
                accounting_date=when,
                made_by=made_by,
                rule=f"identify:{how}",
                evidence=details,
            ),
            _row(
                receipt,
                ApplicationStatus.UNAPPLIED,
                unidentified,
                actor=actor,
                now=now,
                accounting_date=when,
                made_by=made_by,
                customer_id=customer_id,
                rule=f"identify:{how}",
                evidence=details,
            ),
        ]
        _record_event(
            session,
            rows,
            setup=setup,
            event="receipt_identification",
            description=f"receipt {receipt.id} identified as customer {customer.number} ({how})",
            postings=[
                Posting(setup.accounts.unidentified, debit=amount),
                Posting(setup.accounts.unapplied, credit=amount, customer_id=customer_id),
            ],
            actor=actor,
            now=now,
            accounting_date=when,
        )
    _refresh_status(session, receipt)
    audit.record(
        session,
        actor=actor,
        entity="receipt",
        entity_id=receipt.id,
        action="identified",
        details={"customer": customer.number, "how": how},
        at=now,
    )
    session.flush()
    return receipt


def _ready(session: Session, receipt_id: int, *, setup: Setup, actor: str, now: datetime) -> Receipt:
    """The receipt, locked, posted, usable and identified."""
    receipt = get_receipt(session, receipt_id, lock=True)
    _usable(receipt)
    if receipt.customer_id is None:
        raise ValidationError(f"receipt {receipt.id} is unidentified: identify the payer before applying it")
    post_receipt(session, receipt.id, setup=setup, actor=actor, now=now)
    return receipt


def apply(
    session: Session,
    receipt_id: int,
    schedule_id: int,
    amount: Money,
    *,
    discount: Money | None = None,
    write_off: Money | None = None,
    rule: str,
    score: Decimal | None = None,
    evidence: Mapping[str, Any],
    setup: Setup,
    actor: str,
    now: datetime,
    made_by: MadeBy = MadeBy.USER,
    accounting_date: date | None = None,
) -> ReceivableApplication:
    """Apply `amount` of the receipt to an open item, closing `discount` and `write_off` with it.

    Dr unapplied / Cr receivables (amount); Dr discounts / Cr receivables (discount);
    Dr write-off activity / Cr receivables (write-off). For a credit memo the amount is
    negative: the receipt consumes the credit (Dr receivables / Cr unapplied).

    Refused: a reversed or unidentified receipt; another currency (CurrencyMismatchError);
    more than the receipt's unapplied amount or the item's remaining amount (less its
    dispute when the customer's profile holds disputes out of matching); a write-off
    above the actor's receipt write-off limit (ApprovalError: create an adjustment instead).
    """
    receipt = _ready(session, receipt_id, setup=setup, actor=actor, now=now)
    item = _lock_schedule(session, schedule_id)
    _same_currency(receipt, amount)
    if item.currency != receipt.currency:
        raise CurrencyMismatchError(receipt.currency, item.currency)
    discount = discount if discount is not None else Money.zero(receipt.currency)
    write_off = write_off if write_off is not None else Money.zero(receipt.currency)
    _same_currency(receipt, discount)
    _same_currency(receipt, write_off)
    if discount.is_negative() or write_off.is_negative():
        raise ValidationError("a discount or write-off cannot be negative")
    if amount.is_zero() and discount.is_zero() and write_off.is_zero():
        raise ValidationError("nothing to apply: the amount, discount and write-off are all zero")
    remaining = item.amount_due_remaining_minor
    is_credit = remaining < 0 or item.amount_due_original_minor < 0
    if is_credit:
        if not amount.is_negative() or not discount.is_zero() or not write_off.is_zero():
            raise ValidationError(
                f"{item.trx_number} is a credit: apply a negative amount to consume it, "
                "without discount or write-off"
            )
        if -amount.minor_units > -remaining:
            raise ValidationError(
                f"{-amount} is more than the {Money.from_minor(-remaining, item.currency)} "
                f"credit left on {item.trx_number}"
            )
    else:
        if amount.is_negative():
            raise ValidationError(f"a negative amount applies only to a credit, not to {item.trx_number}")
        closing = amount.minor_units + discount.minor_units + write_off.minor_units
        held = disputed_held(setup, item, session.get(Customer, item.customer_id))
        available = remaining - held
        if closing > available:
            detail = f" ({Money.from_minor(held, item.currency)} of it in dispute)" if held else ""
            raise ValidationError(
                f"cannot close {Money.from_minor(closing, item.currency)} of {item.trx_number}: "
                f"{Money.from_minor(available, item.currency)} is open for application{detail}"
            )
        unapplied = _unapplied_minor(session, receipt)
        if amount.minor_units > unapplied:
            raise ValidationError(
                f"cannot apply {amount} of receipt {receipt.id}: only "
                f"{Money.from_minor(unapplied, receipt.currency)} is unapplied"
            )
    write_off_activity, write_off_account = (None, "")
    if not write_off.is_zero():
        write_off_activity, write_off_account = setup.receipt_write_off_account()
        limit = setup.approvals.limit(actor, DocumentType.RECEIPT_WRITE_OFF, write_off.currency)
        if write_off.amount > limit:
            raise ApprovalError(
                f"{actor} may write off up to {limit} {write_off.currency} when applying a receipt, "
                f"not {write_off}: create an adjustment for approval instead"
            )
    when = accounting_date or max(
        receipt.receipt_date, item.trx_date
    )  # Oracle: the later of receipt and item
    rows = [
        _row(
            receipt,
            ApplicationStatus.UNAPPLIED,
            -amount.minor_units,
            actor=actor,
            now=now,
            accounting_date=when,
            made_by=made_by,
            customer_id=receipt.customer_id,
            rule=rule,
        ),
        _row(
            receipt,
            ApplicationStatus.APPLIED,
            amount.minor_units,
            actor=actor,
            now=now,
            accounting_date=when,
            made_by=made_by,
            customer_id=item.customer_id,
            schedule_id=item.id,
            discount_minor=discount.minor_units,
            write_off_minor=write_off.minor_units,
            activity=write_off_activity,
            rule=rule,
            score=score,
            evidence=evidence,
        ),
    ]
    # The APP row first: the journal's source is the application itself.
    rows.reverse()
    accounts = setup.accounts
    postings: list[Posting] = []
    if not amount.is_zero():
        postings += [
            Posting.signed(accounts.unapplied, amount, customer_id=receipt.customer_id),
            Posting.signed(accounts.receivables, -amount, customer_id=item.customer_id, schedule_id=item.id),
        ]
    if not discount.is_zero():
        postings += [
            Posting(accounts.discounts, debit=discount, customer_id=item.customer_id),
            Posting(accounts.receivables, credit=discount, customer_id=item.customer_id, schedule_id=item.id),
        ]
    if not write_off.is_zero():
        postings += [
            Posting(write_off_account, debit=write_off, customer_id=item.customer_id),
            Posting(
                accounts.receivables, credit=write_off, customer_id=item.customer_id, schedule_id=item.id
            ),
        ]
    _record_event(
        session,
        rows,
        setup=setup,
        event="application",
        description=f"receipt {receipt.id} applied to {item.trx_number} ({rule})",
        postings=postings,
        actor=actor,
        now=now,
        accounting_date=when,
    )
    move_item(item, -(amount.minor_units + discount.minor_units + write_off.minor_units), when)
    _refresh_status(session, receipt)
    session.flush()
    return rows[0]


def move_item(item: PaymentSchedule, delta_minor: int, when: date) -> None:
    item.amount_due_remaining_minor += delta_minor
    if item.amount_due_remaining_minor == 0:
        item.status, item.closed_on = ScheduleStatus.CLOSED.value, when
    else:
        item.status, item.closed_on = ScheduleStatus.OPEN.value, None


def put_on_account(
    session: Session,
    receipt_id: int,
    amount: Money,
    *,
    setup: Setup,
    actor: str,
    now: datetime,
    rule: str = "on_account",
    evidence: Mapping[str, Any] | None = None,
    made_by: MadeBy = MadeBy.USER,
    accounting_date: date | None = None,
) -> ReceivableApplication:
    """Leave `amount` of the unapplied receipt as the customer's credit: Dr unapplied / Cr on-account."""
    receipt = _ready(session, receipt_id, setup=setup, actor=actor, now=now)
    _same_currency(receipt, amount)
    _positive(amount, "an on-account amount")
    unapplied = _unapplied_minor(session, receipt)
    if amount.minor_units > unapplied:
        raise ValidationError(
            f"cannot put {amount} of receipt {receipt.id} on account: only "
            f"{Money.from_minor(unapplied, receipt.currency)} is unapplied"
        )
    when = accounting_date or receipt.receipt_date
    common: dict[str, Any] = {
        "actor": actor,
        "now": now,
        "accounting_date": when,
        "made_by": made_by,
        "customer_id": receipt.customer_id,
        "rule": rule,
    }
    rows = [
        _row(receipt, ApplicationStatus.ON_ACCOUNT, amount.minor_units, evidence=evidence, **common),
        _row(receipt, ApplicationStatus.UNAPPLIED, -amount.minor_units, **common),
    ]
    _record_event(
        session,
        rows,
        setup=setup,
        event="on_account",
        description=f"receipt {receipt.id} on account",
        postings=[
            Posting(setup.accounts.unapplied, debit=amount, customer_id=receipt.customer_id),
            Posting(setup.accounts.on_account, credit=amount, customer_id=receipt.customer_id),
        ],
        actor=actor,
        now=now,
        accounting_date=when,
    )
    _refresh_status(session, receipt)
    session.flush()
    return rows[0]


def _activity(
    session: Session,
    receipt_id: int,
    amount: Money,
    *,
    activity: str,
    account: str,
    document_type: DocumentType,
    setup: Setup,
    actor: str,
    now: datetime,
    accounting_date: date | None,
    comment: str | None,
) -> ReceivableApplication:
    receipt = _ready(session, receipt_id, setup=setup, actor=actor, now=now)
    _same_currency(receipt, amount)
    _positive(amount, f"a {activity} amount")
    unapplied = _unapplied_minor(session, receipt)
    if amount.minor_units > unapplied:
        raise ValidationError(
            f"cannot {document_type.value.replace('_', ' ')} {amount} of receipt {receipt.id}: only "
            f"{Money.from_minor(unapplied, receipt.currency)} is unapplied"
        )
    limit = setup.approvals.limit(actor, document_type, amount.currency)
    if amount.amount > limit:
        raise ApprovalError(
            f"{actor} may {document_type.value.replace('_', ' ')} up to {limit} {amount.currency}, "
            f"not {amount}"
        )
    when = accounting_date or now.date()
    common: dict[str, Any] = {
        "actor": actor,
        "now": now,
        "accounting_date": when,
        "made_by": MadeBy.USER,
        "customer_id": receipt.customer_id,
        "rule": document_type.value,
        "activity": activity,
    }
    rows = [
        _row(
            receipt,
            ApplicationStatus.ACTIVITY,
            amount.minor_units,
            evidence={"comment": comment} if comment else None,
            **common,
        ),
        _row(receipt, ApplicationStatus.UNAPPLIED, -amount.minor_units, **common),
    ]
    _record_event(
        session,
        rows,
        setup=setup,
        event=document_type.value,
        description=f"receipt {receipt.id}: {activity}",
        postings=[
            Posting(setup.accounts.unapplied, debit=amount, customer_id=receipt.customer_id),
            Posting(account, credit=amount, customer_id=receipt.customer_id),
        ],
        actor=actor,
        now=now,
        accounting_date=when,
    )
    _refresh_status(session, receipt)
    session.flush()
    return rows[0]


def refund(
    session: Session,
    receipt_id: int,
    amount: Money,
    *,
    setup: Setup,
    actor: str,
    now: datetime,
    comment: str | None = None,
    accounting_date: date | None = None,
) -> ReceivableApplication:
    """Refund unapplied cash to the customer: Dr unapplied / Cr refunds (to payables).

    Within the actor's refund limit only (ApprovalError above it).
    """
    return _activity(
        session,
        receipt_id,
        amount,
        activity=REFUND,
        account=setup.accounts.refunds,
        document_type=DocumentType.REFUND,
        setup=setup,
        actor=actor,
        now=now,
        accounting_date=accounting_date,
        comment=comment,
    )


def write_off_unapplied(
    session: Session,
    receipt_id: int,
    amount: Money,
    *,
    activity: str,
    setup: Setup,
    actor: str,
    now: datetime,
    comment: str | None = None,
    accounting_date: date | None = None,
) -> ReceivableApplication:
    """Write off a small unapplied (overpaid) amount: Dr unapplied / Cr the activity's account.

    Within the actor's receipt write-off limit only (ApprovalError above it).
    """
    return _activity(
        session,
        receipt_id,
        amount,
        activity=activity,
        account=setup.activity_account(activity),
        document_type=DocumentType.RECEIPT_WRITE_OFF,
        setup=setup,
        actor=actor,
        now=now,
        accounting_date=accounting_date,
        comment=comment,
    )


def unapply(
    session: Session,
    application_id: int,
    *,
    setup: Setup,
    actor: str,
    now: datetime,
    reason: str | None = None,
    accounting_date: date | None = None,
) -> ReceivableApplication:
    """Undo an application (APP, ACC or ACTIVITY row): its journal reversed, the item reopened.

    Returns the negating row. The money goes back to unapplied.
    """
    row = get_application(session, application_id)
    receipt = get_receipt(session, row.receipt_id, lock=True)
    _usable(receipt)
    return _unapply(
        session, row, receipt, setup=setup, actor=actor, now=now, reason=reason, when=accounting_date
    )


def _unapply(
    session: Session,
    row: ReceivableApplication,
    receipt: Receipt,
    *,
    setup: Setup,
    actor: str,
    now: datetime,
    reason: str | None,
    when: date | None,
) -> ReceivableApplication:
    if row.status not in (
        ApplicationStatus.APPLIED,
        ApplicationStatus.ON_ACCOUNT,
        ApplicationStatus.ACTIVITY,
    ):
        raise ValidationError(f"row {row.id} is {row.status}, not an application: nothing to unapply")
    if not row.active or row.journal_id is None:
        raise ValidationError(f"application {row.id} is already undone")
    if row.amount_minor < 0 and _unapplied_minor(session, receipt) < -row.amount_minor:
        raise ValidationError(
            f"application {row.id} consumed a credit whose cash is applied elsewhere: "
            "unapply those applications first"
        )
    item = _lock_schedule(session, row.schedule_id) if row.schedule_id is not None else None
    when = when or now.date()
    negated = _undo_event(
        session, row.journal_id, setup=setup, actor=actor, now=now, accounting_date=when, reason=reason
    )
    if item is not None:
        move_item(item, row.amount_minor + row.discount_minor + row.write_off_minor, when)
    _refresh_status(session, receipt)
    audit.record(
        session,
        actor=actor,
        entity="application",
        entity_id=row.id,
        action="unapplied",
        details={"receipt": receipt.id, "amount": str(row.amount), "status": row.status, "reason": reason},
        at=now,
    )
    session.flush()
    return next(n for n in negated if n.reversal_of_id == row.id)


def reverse_receipt(
    session: Session,
    receipt_id: int,
    *,
    reason: str,
    setup: Setup,
    actor: str,
    now: datetime,
    accounting_date: date | None = None,
) -> Receipt:
    """Reverse a receipt (returned direct debit, bounced cheque, wrong entry) with a reason code.

    Every active application is undone (newest first, its items reopened), then the
    identification and the receipt journal are reversed; the receipt ends REVERSED with
    every bucket at zero.
    """
    if not reason.strip():
        raise ValidationError("a receipt reversal needs a reason code")
    receipt = get_receipt(session, receipt_id, lock=True)
    _usable(receipt)
    when = accounting_date or now.date()
    for row in reversed(applications(session, receipt.id)):
        _unapply(session, row, receipt, setup=setup, actor=actor, now=now, reason=reason, when=when)
    # What is left are the receipt and identification events, all in UNID/UNAPP: undo them newest first.
    events = session.scalars(
        select(ReceivableApplication.journal_id)
        .where(
            ReceivableApplication.receipt_id == receipt.id,
            ReceivableApplication.reversal_of_id.is_(None),
            ReceivableApplication.reversed_at.is_(None),
            ReceivableApplication.journal_id.is_not(None),
        )
        .distinct()
    ).all()
    for journal_id in sorted((j for j in events if j is not None), reverse=True):
        _undo_event(
            session, journal_id, setup=setup, actor=actor, now=now, accounting_date=when, reason=reason
        )
    receipt.status = ReceiptStatus.REVERSED.value
    receipt.reversal_reason = reason
    receipt.reversal_date = when
    receipt.reversed_by = actor
    audit.record(
        session,
        actor=actor,
        entity="receipt",
        entity_id=receipt.id,
        action="reversed",
        details={"reason": reason, "amount": str(receipt.amount)},
        at=now,
    )
    session.flush()
    return receipt


# --------------------------------------------------------------------------- invariants
# Plain checks over live data, each returning its problems (empty: holds). They are
# registered with the invariant registry (`arbridge check`) by name.
_CASH_BUCKETS = (
    ApplicationStatus.UNIDENTIFIED.value,
    ApplicationStatus.UNAPPLIED.value,
    ApplicationStatus.ON_ACCOUNT.value,
    ApplicationStatus.ACTIVITY.value,
)


def _all_buckets(session: Session) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {}
    for receipt_id, status, total in session.execute(
        select(
            ReceivableApplication.receipt_id,
            ReceivableApplication.status,
            func.sum(ReceivableApplication.amount_minor),
        ).group_by(ReceivableApplication.receipt_id, ReceivableApplication.status)
    ):
        found.setdefault(int(receipt_id), {})[status] = int(total or 0)
    return found


def check_receipt_amounts(session: Session) -> list[str]:
    """receipt amount = applied + unapplied + on account + unidentified (+ activity); 0 when reversed."""
    problems = []
    buckets = _all_buckets(session)
    for receipt in session.scalars(select(Receipt).where(Receipt.id.in_(list(buckets)))):
        b = buckets[receipt.id]
        expected = 0 if receipt.status == ReceiptStatus.REVERSED else receipt.amount_minor
        total = sum(b.values())
        if total != expected:
            problems.append(
                f"receipt {receipt.id}: {receipt.amount} but its applications, unapplied, on-account and "
                f"unidentified amounts add up to {Money.from_minor(total, receipt.currency)}"
            )
        for status in _CASH_BUCKETS:
            if b.get(status, 0) < 0:
                problems.append(
                    f"receipt {receipt.id}: {status} is negative "
                    f"({Money.from_minor(b[status], receipt.currency)})"
                )
    return problems


def check_applications_within_open(session: Session) -> list[str]:
    """No open item has more applied to it (amount, discount, write-off) than it was ever open for."""
    problems = []
    applied = dict(
        session.execute(
            select(
                ReceivableApplication.schedule_id,
                func.sum(
                    ReceivableApplication.amount_minor
                    + ReceivableApplication.discount_minor
                    + ReceivableApplication.write_off_minor
                ),
            )
            .where(ReceivableApplication.status == ApplicationStatus.APPLIED.value)
            .group_by(ReceivableApplication.schedule_id)
        ).all()
    )
    for item in session.scalars(select(PaymentSchedule).where(PaymentSchedule.id.in_(list(applied)))):
        original, total = item.amount_due_original_minor, int(applied[item.id] or 0)
        if abs(total) > abs(original) or (total != 0 and (total < 0) != (original < 0)):
            problems.append(
                f"{item.trx_number}: {Money.from_minor(total, item.currency)} applied, "
                f"but only {Money.from_minor(original, item.currency)} was ever open"
            )
    return problems


def check_receipts_accounted_for(session: Session) -> list[str]:
    """Every receipt is posted (its money is somewhere) and its status says where."""
    problems = []
    buckets = _all_buckets(session)
    for receipt in session.scalars(select(Receipt).order_by(Receipt.id)):
        b = buckets.get(receipt.id)
        if b is None:
            if receipt.status != ReceiptStatus.REVERSED:
                problems.append(f"receipt {receipt.id} ({receipt.amount}) is recorded but not posted")
            continue
        if receipt.status == ReceiptStatus.REVERSED:
            expected = ReceiptStatus.REVERSED
        elif b.get(ApplicationStatus.UNIDENTIFIED.value, 0) > 0:
            expected = ReceiptStatus.UNIDENTIFIED
        elif b.get(ApplicationStatus.UNAPPLIED.value, 0) > 0:
            expected = ReceiptStatus.UNAPPLIED
        else:
            expected = ReceiptStatus.APPLIED
        if receipt.status != expected:
            problems.append(f"receipt {receipt.id} is {receipt.status}, but its amounts say {expected}")
        if receipt.customer_id is None and any(
            b.get(s, 0) for s in (ApplicationStatus.UNAPPLIED.value, ApplicationStatus.APPLIED.value)
        ):
            problems.append(f"receipt {receipt.id} has no payer but unapplied or applied money")
    return problems


def check_receipt_accounts_match_gl(session: Session, accounts: LedgerAccounts) -> list[str]:
    """The unidentified, unapplied and on-account GL accounts hold what the receipts say they do."""
    problems = []
    totals: dict[tuple[str, str], int] = {}
    for status, currency, total in session.execute(
        select(
            ReceivableApplication.status,
            ReceivableApplication.currency,
            func.sum(ReceivableApplication.amount_minor),
        ).group_by(ReceivableApplication.status, ReceivableApplication.currency)
    ):
        totals[(status, currency)] = int(total or 0)
    roles = {
        ApplicationStatus.UNIDENTIFIED.value: accounts.unidentified,
        ApplicationStatus.UNAPPLIED.value: accounts.unapplied,
        ApplicationStatus.ON_ACCOUNT.value: accounts.on_account,
    }
    gl = ledger.account_balances(session, roles.values())
    currencies = {c for _, c in totals} | {c for _, c in gl}
    for status, account in roles.items():
        for currency in sorted(currencies):
            sub = totals.get((status, currency), 0)
            # These are credit-balance accounts: the GL balance (debit - credit) is the negative.
            book = -gl.get((account, currency), Money.zero(currency)).minor_units
            if sub != book:
                problems.append(
                    f"{status} receipts {Money.from_minor(sub, currency)} but GL account {account} "
                    f"holds {Money.from_minor(book, currency)}"
                )
    return problems


@invariant("receipt_amount_equals_its_parts")
def _receipt_amounts(session: Session, ctx: CheckContext) -> Iterator[Violation]:
    """receipt amount = applications + unapplied + on account + unidentified (+ refunded/written off)."""
    yield from (Violation(p) for p in check_receipt_amounts(session))


@invariant("no_application_exceeds_what_was_open")
def _within_open(session: Session, ctx: CheckContext) -> Iterator[Violation]:
    yield from (Violation(p) for p in check_applications_within_open(session))


@invariant("receipts_fully_accounted_for")
def _accounted(session: Session, ctx: CheckContext) -> Iterator[Violation]:
    yield from (Violation(p) for p in check_receipts_accounted_for(session))
    yield from (Violation(p) for p in check_receipt_accounts_match_gl(session, ctx.config.ledger.accounts))
