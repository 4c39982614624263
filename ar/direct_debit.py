"""Direct-debit collections: the automatic receipts of a direct-debit batch, cleared or returned.

Modelled on Oracle Receivables' automatic receipts. A collection is a receipt
(`ReceiptSource.DIRECT_DEBIT`) the creditor makes itself, for one open item of the
mandate's debtor, and it goes through three steps, each posting one balanced journal:

    remitted  (collect)            Dr remittance / Cr unapplied        event "dd_remitted"
              then applied         Dr unapplied  / Cr receivables      event "application"
    cleared   (clear)              Dr cash       / Cr remittance       event "dd_cleared"
    returned  (return_collection)  the receipt reversed (its application undone, the item
                                   reopened, the remittance journal reversed) and, when it
                                   had cleared, the clearing journal reversed: net of the
                                   return Dr receivables / Cr cash (after clearing), or
                                   nothing left on remittance (before clearing).

Until the bank books the collection the money is not in the bank account: the receipt's
debit goes to the remittance account instead of cash. The receipt's money is held in
`receivable_applications` rows like any other receipt's (`ar.applications`); clearing
moves no receipt bucket, only the GL, so it has no rows: its journal's source is the
receipt (source_type "receipt"), and a receipt has cleared while an unreversed
"dd_cleared" journal of it exists.

Services take the caller's session, lock what they change, flush, never commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ar import applications, audit, ledger, receipts
from ar.applications import ApplicationStatus, MadeBy, Setup
from ar.errors import CurrencyMismatchError, DuplicateError, NotFoundError, ValidationError
from ar.invariants import CheckContext, Violation, invariant
from ar.ledger import Posting
from ar.model import Journal, PaymentSchedule, ScheduleStatus
from ar.money import Money
from ar.receipts import Receipt, ReceiptInput, ReceiptSource, ReceiptStatus

#: Journal events of the direct-debit steps.
REMITTED = "dd_remitted"
CLEARED = "dd_cleared"
RETURNED = "dd_returned"
#: The application rule of a collection applied to its item.
RULE = "direct_debit"
#: How a collection's payer is identified (`Receipt.identified_by`): by the mandate.
IDENTIFIED_BY = "mandate"
#: The source of a clearing journal (it moves no receipt bucket, so it has no application row).
SOURCE_TYPE = "receipt"


def entry_ref(batch_ref: str, end_to_end_id: str) -> str:
    """The unique entry reference of a collection: one receipt per batch and end-to-end id."""
    return f"DD:{batch_ref}:{end_to_end_id}"


def _collection(session: Session, receipt_id: int) -> Receipt:
    receipt = applications.get_receipt(session, receipt_id, lock=True)
    if receipt.source != ReceiptSource.DIRECT_DEBIT:
        raise ValidationError(
            f"receipt {receipt.id} is a {receipt.source} receipt, not a direct-debit collection"
        )
    return receipt


def clearing_journal(session: Session, receipt_id: int) -> Journal | None:
    """The receipt's clearing journal still in force (None: not cleared, or the clearing reversed)."""
    for journal in session.scalars(
        select(Journal)
        .where(
            Journal.source_type == SOURCE_TYPE,
            Journal.source_id == receipt_id,
            Journal.event == CLEARED,
            Journal.reversal_of_id.is_(None),
        )
        .order_by(Journal.id.desc())
    ):
        if ledger.reversal_of(session, journal.id) is None:
            return journal
    return None


def is_cleared(session: Session, receipt_id: int) -> bool:
    return clearing_journal(session, receipt_id) is not None


def collect(
    session: Session,
    *,
    schedule_id: int,
    amount: Money,
    mandate_id: str,
    end_to_end_id: str,
    batch_ref: str,
    collection_date: date,
    creditor_account: str,
    setup: Setup,
    actor: str,
    now: datetime,
) -> Receipt:
    """Collect `amount` of an open item by direct debit: an automatic receipt, remitted and applied.

    The receipt (unique on creditor account, "DD:<batch>:<end-to-end id>", 0) is
    identified as the item's customer and posted Dr remittance / Cr unapplied
    ("dd_remitted"), then applied to the item (Dr unapplied / Cr receivables, rule
    "direct_debit"). Collecting the same key again returns the existing receipt unchanged
    (DuplicateError if its amount differs).

    Refused: an unknown or closed item, a credit memo, an amount not positive or above
    what is open on the item (less a held dispute), another currency (CurrencyMismatchError).
    """
    for name, value in (("mandate id", mandate_id), ("end-to-end id", end_to_end_id), ("batch", batch_ref)):
        if not value.strip():
            raise ValidationError(f"a direct-debit collection needs a {name}")
    ref = entry_ref(batch_ref, end_to_end_id)
    existing = receipts.find(session, creditor_account, ref, 0)
    if existing is not None:
        if existing.source != ReceiptSource.DIRECT_DEBIT or existing.amount != amount:
            raise DuplicateError(
                f"receipt {existing.id} ({existing.amount}) exists already for {ref} on {creditor_account}"
            )
        return existing
    item = session.get(PaymentSchedule, schedule_id, with_for_update=True)
    if item is None:
        raise NotFoundError("open item", schedule_id)
    if item.currency != amount.currency:
        raise CurrencyMismatchError(item.currency, amount.currency)
    if amount.amount <= 0:
        raise ValidationError(f"a direct-debit amount must be positive, not {amount}")
    if item.amount_due_original_minor < 0:
        raise ValidationError(f"{item.trx_number} is a credit: nothing to collect")
    if item.status == ScheduleStatus.CLOSED or item.amount_due_remaining_minor <= 0:
        raise ValidationError(f"{item.trx_number} is closed: nothing to collect")
    available = applications.available_on_item(session, item.id, setup=setup)
    if amount.minor_units > available.minor_units:
        raise ValidationError(
            f"cannot collect {amount} of {item.trx_number}: {available} is open for application"
        )
    receipt, _ = receipts.record(
        session,
        ReceiptInput(
            bank_account=creditor_account,
            entry_ref=ref,
            tx_index=0,
            amount=amount,
            receipt_date=collection_date,
            value_date=collection_date,
            created_at=now,
            end_to_end_id=end_to_end_id,
            source=ReceiptSource.DIRECT_DEBIT,
        ),
        actor=actor,
    )
    receipt.customer_id = item.customer_id
    receipt.identified_by = IDENTIFIED_BY
    evidence = {"mandate_id": mandate_id, "batch_ref": batch_ref, "end_to_end_id": end_to_end_id}
    row = applications._row(
        receipt,
        ApplicationStatus.UNAPPLIED,
        receipt.amount_minor,
        actor=actor,
        now=now,
        accounting_date=collection_date,
        made_by=MadeBy.SYSTEM,
        customer_id=receipt.customer_id,
        rule="receipt",
        evidence=evidence,
    )
    # As `applications.post_receipt`, but the debit is the remittance account: the money is
    # on its way to the bank, not yet booked on the creditor account.
    applications._record_event(
        session,
        [row],
        setup=setup,
        event=REMITTED,
        description=f"direct debit {ref} remitted (receipt {receipt.id}, mandate {mandate_id})",
        postings=[
            Posting(setup.accounts.remittance, debit=amount, customer_id=receipt.customer_id),
            Posting(setup.accounts.unapplied, credit=amount, customer_id=receipt.customer_id),
        ],
        actor=actor,
        now=now,
        accounting_date=collection_date,
    )
    applications._refresh_status(session, receipt)
    audit.record(
        session,
        actor=actor,
        entity="receipt",
        entity_id=receipt.id,
        action=REMITTED,
        details={**evidence, "amount": str(amount), "item": item.trx_number},
        at=now,
    )
    applications.apply(
        session,
        receipt.id,
        item.id,
        amount,
        rule=RULE,
        evidence=evidence,
        setup=setup,
        actor=actor,
        now=now,
        made_by=MadeBy.SYSTEM,
        accounting_date=collection_date,
    )
    session.flush()
    return receipt


def clear(
    session: Session, receipt_id: int, *, cleared_on: date, setup: Setup, actor: str, now: datetime
) -> Receipt:
    """The bank booked the collection: Dr cash (the creditor account's) / Cr remittance ("dd_cleared").

    Idempotent: a cleared receipt is returned unchanged. A returned (reversed) one is refused.
    """
    receipt = _collection(session, receipt_id)
    if receipt.status == ReceiptStatus.REVERSED:
        raise ValidationError(f"direct debit {receipt.entry_ref} was returned: it cannot clear")
    if is_cleared(session, receipt.id):
        return receipt
    if not applications.is_posted(session, receipt.id):  # pragma: no cover - collect posts it
        raise ValidationError(f"receipt {receipt.id} is not remitted")
    ledger.post(
        session,
        event=CLEARED,
        source_type=SOURCE_TYPE,
        source_id=receipt.id,
        accounting_date=cleared_on,
        description=f"direct debit {receipt.entry_ref} cleared (receipt {receipt.id})",
        postings=[
            Posting(setup.cash_account(receipt.bank_account), debit=receipt.amount),
            Posting(setup.accounts.remittance, credit=receipt.amount, customer_id=receipt.customer_id),
        ],
        actor=actor,
        now=now,
        calendar=setup.calendar,
    )
    audit.record(
        session,
        actor=actor,
        entity="receipt",
        entity_id=receipt.id,
        action=CLEARED,
        details={"amount": str(receipt.amount), "cleared_on": cleared_on.isoformat()},
        at=now,
    )
    session.flush()
    return receipt


def return_collection(
    session: Session,
    receipt_id: int,
    *,
    reason_code: str,
    returned_on: date,
    setup: Setup,
    actor: str,
    now: datetime,
) -> Receipt:
    """The debtor's bank returned the collection (R-transaction, reason e.g. AM04, MD06).

    The receipt is reversed (`applications.reverse_receipt`: its application undone, the
    item reopened, the remittance journal reversed) with the reason code as its
    `reversal_reason`; if it had cleared, the clearing journal is reversed too. Net of
    the return: Dr receivables / Cr cash after clearing; before clearing, nothing is
    left on remittance. Returning twice is refused.
    """
    code = reason_code.strip()
    if not code:
        raise ValidationError("a direct-debit return needs a reason code")
    receipt = _collection(session, receipt_id)
    if receipt.status == ReceiptStatus.REVERSED:
        raise ValidationError(
            f"direct debit {receipt.entry_ref} is already returned ({receipt.reversal_reason})"
        )
    cleared = clearing_journal(session, receipt.id)
    applications.reverse_receipt(
        session,
        receipt.id,
        reason=code,
        setup=setup,
        actor=actor,
        now=now,
        accounting_date=returned_on,
    )
    if cleared is not None:
        ledger.reverse(
            session, cleared.id, accounting_date=returned_on, actor=actor, now=now, calendar=setup.calendar
        )
    audit.record(
        session,
        actor=actor,
        entity="receipt",
        entity_id=receipt.id,
        action=RETURNED,
        details={
            "reason": code,
            "amount": str(receipt.amount),
            "returned_on": returned_on.isoformat(),
            "after_clearing": cleared is not None,
        },
        at=now,
    )
    session.flush()
    return receipt


# --------------------------------------------------------------------------- invariants
def check_remittance_matches_gl(session: Session, remittance_account: str) -> list[str]:
    """The remittance GL account holds exactly the collections remitted and neither cleared nor returned."""
    reversal = aliased(Journal)
    cleared = set(
        session.scalars(
            select(Journal.source_id)
            .outerjoin(reversal, reversal.reversal_of_id == Journal.id)
            .where(
                Journal.source_type == SOURCE_TYPE,
                Journal.event == CLEARED,
                Journal.reversal_of_id.is_(None),
                reversal.id.is_(None),
            )
        )
    )
    expected: dict[str, int] = {}
    for receipt_id, amount_minor, currency in session.execute(
        select(Receipt.id, Receipt.amount_minor, Receipt.currency).where(
            Receipt.source == ReceiptSource.DIRECT_DEBIT.value,
            Receipt.status != ReceiptStatus.REVERSED.value,
        )
    ):
        if receipt_id not in cleared:
            expected[currency] = expected.get(currency, 0) + int(amount_minor)
    gl = ledger.account_balances(session, [remittance_account])
    problems = []
    for currency in sorted(set(expected) | {c for _, c in gl}):
        book = gl.get((remittance_account, currency), Money.zero(currency)).minor_units
        want = expected.get(currency, 0)
        if book != want:
            problems.append(
                f"direct debits remitted and not cleared {Money.from_minor(want, currency)} but "
                f"remittance account {remittance_account} holds {Money.from_minor(book, currency)}"
            )
    return problems


@invariant("remittance_holds_uncleared_direct_debits")
def _remittance(session: Session, ctx: CheckContext) -> Iterator[Violation]:
    yield from (
        Violation(p) for p in check_remittance_matches_gl(session, ctx.config.ledger.accounts.remittance)
    )
