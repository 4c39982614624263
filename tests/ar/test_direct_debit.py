"""Direct-debit collections: remitted, cleared, returned — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ar import audit, direct_debit, invariants, ledger
from ar.applications import ApplicationStatus, ReceivableApplication, Setup
from ar.errors import CurrencyMismatchError, DuplicateError, ValidationError
from ar.model import Journal, JournalLine, PaymentSchedule, ScheduleStatus
from ar.money import Money
from ar.receipts import Receipt, ReceiptSource, ReceiptStatus
from config.approvals import Approvals
from config.loader import load_file
from tests.ar.applications.conftest import EXAMPLE_APPROVALS, assert_books_agree
from tests.ar.factories import NOW, TODAY, Factory, ar_config

EUR = "EUR"
CREDITOR = "DE02120300000000202051"
#: The creditor account names its own GL cash account (banks/<id>.yaml gl_cash_account).
CREDITOR_CASH = "1010"
CLEARED_ON = TODAY + timedelta(days=2)
RETURNED_ON = TODAY + timedelta(days=5)


def eur(text: str) -> Money:
    return Money.of(text, EUR)


@pytest.fixture
def setup() -> Setup:
    return Setup(
        ar=ar_config(),
        approvals=load_file(Approvals, EXAMPLE_APPROVALS),
        cash_accounts={CREDITOR: CREDITOR_CASH},
    )


@pytest.fixture
def make(session: Session, setup: Setup) -> Factory:
    return Factory(session, config=setup.ar)


def _collect(
    session: Session, setup: Setup, item: PaymentSchedule, text: str, *, e2e: str = "E2E-1", **kw: object
) -> Receipt:
    args: dict[str, object] = {
        "schedule_id": item.id,
        "amount": eur(text),
        "mandate_id": "MNDT-7",
        "end_to_end_id": e2e,
        "batch_ref": "B-2026-11-16",
        "collection_date": TODAY,
        "creditor_account": CREDITOR,
        "setup": setup,
        "actor": "dd-batch",
        "now": NOW,
    }
    args.update(kw)
    return direct_debit.collect(session, **args)  # type: ignore[arg-type]


def _clear(session: Session, setup: Setup, receipt: Receipt) -> Receipt:
    return direct_debit.clear(session, receipt.id, cleared_on=CLEARED_ON, setup=setup, actor="bank", now=NOW)


def _return(session: Session, setup: Setup, receipt: Receipt, code: str = "AM04") -> Receipt:
    return direct_debit.return_collection(
        session, receipt.id, reason_code=code, returned_on=RETURNED_ON, setup=setup, actor="bank", now=NOW
    )


def _balances(session: Session, setup: Setup) -> dict[str, Money]:
    a = setup.accounts
    roles = {
        "receivables": a.receivables,
        "remittance": a.remittance,
        "cash": setup.cash_account(CREDITOR),
        "unapplied": a.unapplied,
    }
    gl = ledger.account_balances(session, roles.values())
    return {role: gl.get((account, EUR), Money.zero(EUR)) for role, account in roles.items()}


def _net_since(session: Session, journal_id: int) -> dict[str, int]:
    """Net (debit - credit) per account of the journals posted after `journal_id`, zeros left out."""
    net: dict[str, int] = defaultdict(int)
    for account, debit, credit in session.execute(
        select(JournalLine.account, JournalLine.debit_minor, JournalLine.credit_minor).where(
            JournalLine.journal_id > journal_id
        )
    ):
        net[account] += debit - credit
    return {account: units for account, units in net.items() if units}


def _last_journal(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(Journal.id), 0))) or 0)


# Invoice 100.00, 60.00 collected: (steps, GL balances after them, item remaining, receipt status,
# what the last step's journals net to).
CASES = {
    "collect": (
        ["collect"],
        {"receivables": "40.00", "remittance": "60.00", "cash": "0.00", "unapplied": "0.00"},
        "40.00",
        ReceiptStatus.APPLIED,
        # Dr remittance / Cr unapplied, then Dr unapplied / Cr receivables.
        {"1210": 6000, "1200": -6000},
    ),
    "collect, clear": (
        ["collect", "clear"],
        {"receivables": "40.00", "remittance": "0.00", "cash": "60.00", "unapplied": "0.00"},
        "40.00",
        ReceiptStatus.APPLIED,
        {CREDITOR_CASH: 6000, "1210": -6000},
    ),
    "collect, return before clearing": (
        ["collect", "return"],
        {"receivables": "100.00", "remittance": "0.00", "cash": "0.00", "unapplied": "0.00"},
        "100.00",
        ReceiptStatus.REVERSED,
        {"1200": 6000, "1210": -6000},
    ),
    "collect, clear, return": (
        ["collect", "clear", "return"],
        {"receivables": "100.00", "remittance": "0.00", "cash": "0.00", "unapplied": "0.00"},
        "100.00",
        ReceiptStatus.REVERSED,
        {"1200": 6000, CREDITOR_CASH: -6000},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_direct_debit_steps(session: Session, setup: Setup, make: Factory, case: str) -> None:
    steps, balances, remaining, status, last_step_net = CASES[case]
    customer = make.customer()
    item = make.invoice(customer, "100.00")
    receipt: Receipt | None = None
    before = 0
    for step in steps:
        before = _last_journal(session)
        if step == "collect":
            receipt = _collect(session, setup, item, "60.00")
        elif step == "clear":
            assert receipt is not None
            _clear(session, setup, receipt)
        else:
            assert receipt is not None
            _return(session, setup, receipt)
        assert_books_agree(session, setup)
    assert receipt is not None
    session.flush()
    session.refresh(item)
    assert _balances(session, setup) == {role: eur(v) for role, v in balances.items()}
    assert item.amount_due_remaining_minor == eur(remaining).minor_units
    assert item.status == ScheduleStatus.OPEN
    assert receipt.status == status
    assert _net_since(session, before) == last_step_net
    assert direct_debit.is_cleared(session, receipt.id) == (steps[-1] == "clear")
    events = [e for (e,) in session.execute(select(Journal.event).order_by(Journal.id))]
    assert direct_debit.REMITTED in events
    assert (direct_debit.CLEARED in events) == ("clear" in steps)
    actions = {
        e.action
        for e in session.scalars(select(audit.AuditEvent).where(audit.AuditEvent.entity == "receipt"))
    }
    expected = {"recorded", direct_debit.REMITTED}
    expected |= {direct_debit.CLEARED} if "clear" in steps else set()
    expected |= {direct_debit.RETURNED, "reversed"} if "return" in steps else set()
    assert expected <= actions


def test_collection_is_an_identified_automatic_receipt(session: Session, setup: Setup, make: Factory) -> None:
    customer = make.customer()
    item = make.invoice(customer, "100.00")
    receipt = _collect(session, setup, item, "100.00")
    assert receipt.source == ReceiptSource.DIRECT_DEBIT
    assert (receipt.bank_account, receipt.entry_ref, receipt.tx_index) == (
        CREDITOR,
        "DD:B-2026-11-16:E2E-1",
        0,
    )
    assert receipt.customer_id == customer.id and receipt.identified_by == "mandate"
    assert receipt.end_to_end_id == "E2E-1" and receipt.receipt_date == TODAY
    assert item.status == ScheduleStatus.CLOSED
    applied = session.scalars(
        select(ReceivableApplication).where(
            ReceivableApplication.receipt_id == receipt.id,
            ReceivableApplication.status == ApplicationStatus.APPLIED.value,
        )
    ).one()
    assert applied.rule == "direct_debit" and applied.schedule_id == item.id
    assert '"mandate_id": "MNDT-7"' in applied.evidence
    # The same collection again is the same receipt; a different amount under its key is refused.
    assert _collect(session, setup, item, "100.00") is receipt
    with pytest.raises(DuplicateError):
        _collect(session, setup, item, "50.00")
    assert_books_agree(session, setup)


def test_refusals(session: Session, setup: Setup, make: Factory) -> None:
    customer = make.customer()
    item = make.invoice(customer, "100.00")
    with pytest.raises(ValidationError, match="open for application"):
        _collect(session, setup, item, "100.01")
    with pytest.raises(CurrencyMismatchError):
        _collect(session, setup, item, "10.00", amount=Money.of("10.00", "USD"))
    with pytest.raises(ValidationError, match="positive"):
        _collect(session, setup, item, "0.00")
    credit = make.credit_memo(customer, "10.00")
    with pytest.raises(ValidationError, match="credit"):
        _collect(session, setup, credit, "5.00", e2e="E2E-CM")
    _collect(session, setup, item, "100.00")
    assert item.status == ScheduleStatus.CLOSED
    with pytest.raises(ValidationError, match="closed"):
        _collect(session, setup, item, "1.00", e2e="E2E-2")
    assert session.scalar(select(func.count()).select_from(Receipt)) == 1
    assert_books_agree(session, setup)


def test_clear_is_idempotent_and_return_is_once(session: Session, setup: Setup, make: Factory) -> None:
    customer = make.customer()
    item = make.invoice(customer, "80.00")
    receipt = _collect(session, setup, item, "80.00")
    _clear(session, setup, receipt)
    journals = _last_journal(session)
    assert _clear(session, setup, receipt) is receipt
    assert _last_journal(session) == journals
    _return(session, setup, receipt, "MD06")
    assert receipt.reversal_reason == "MD06" and receipt.reversal_date == RETURNED_ON
    with pytest.raises(ValidationError, match="already returned"):
        _return(session, setup, receipt)
    with pytest.raises(ValidationError, match="returned"):
        _clear(session, setup, receipt)
    with pytest.raises(ValidationError, match="reason code"):
        _return(session, setup, _collect(session, setup, item, "80.00", e2e="E2E-2"), " ")
    assert_books_agree(session, setup)


def test_returned_before_clearing_cannot_clear(session: Session, setup: Setup, make: Factory) -> None:
    item = make.invoice(make.customer(), "30.00")
    receipt = _collect(session, setup, item, "30.00")
    _return(session, setup, receipt)
    with pytest.raises(ValidationError, match="returned"):
        _clear(session, setup, receipt)
    assert ledger.balance(session, setup.accounts.remittance, EUR) == eur("0.00")
    assert_books_agree(session, setup)


def test_only_direct_debit_receipts(session: Session, setup: Setup, make: Factory) -> None:
    customer = make.customer()
    other = make.receipt("10.00", customer=customer)
    with pytest.raises(ValidationError, match="not a direct-debit"):
        direct_debit.clear(session, other.id, cleared_on=date(2026, 11, 18), setup=setup, actor="b", now=NOW)
    with pytest.raises(ValidationError, match="not a direct-debit"):
        _return(session, setup, other)


def test_remittance_invariant_sees_a_stray_posting(session: Session, setup: Setup, make: Factory) -> None:
    item = make.invoice(make.customer(), "50.00")
    receipt = _collect(session, setup, item, "50.00")
    assert "remittance_holds_uncleared_direct_debits" in invariants.registered()
    assert direct_debit.check_remittance_matches_gl(session, setup.accounts.remittance) == []
    # Cleared by hand, outside `clear`: the remittance account no longer holds the collection.
    ledger.post(
        session,
        event="manual",
        source_type="manual",
        source_id=receipt.id,
        accounting_date=TODAY,
        description="stray",
        postings=[
            ledger.Posting(setup.accounts.cash, debit=eur("50.00")),
            ledger.Posting(setup.accounts.remittance, credit=eur("50.00")),
        ],
        actor="test",
        now=NOW,
        calendar=setup.calendar,
    )
    [problem] = direct_debit.check_remittance_matches_gl(session, setup.accounts.remittance)
    assert "remitted and not cleared 50.00" in problem or "50.00 EUR" in problem
