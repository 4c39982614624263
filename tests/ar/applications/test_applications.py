"""Receipts and their applications: every service rule, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ar import applications, ledger, receipts
from ar.applications import ApplicationStatus, MadeBy, ReceivableApplication, Setup
from ar.errors import ApprovalError, CurrencyMismatchError, DuplicateError, ValidationError
from ar.model import ScheduleStatus
from ar.money import Money
from ar.receipts import ReceiptStatus
from tests.ar.factories import NOW, TODAY, Factory

EUR = "EUR"


def eur(text: str) -> Money:
    return Money.of(text, EUR)


def test_receipt_posts_to_unidentified_then_identify_moves_it(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None]
) -> None:
    customer = make.customer()
    receipt = make.receipt("120.00")
    applications.post_receipt(session, receipt.id, setup=setup, actor="test", now=NOW)
    assert receipt.status == ReceiptStatus.UNIDENTIFIED
    assert ledger.balance(session, setup.accounts.unidentified, EUR) == eur("-120.00")
    books_agree()

    applications.identify(session, receipt.id, customer.id, how="iban", setup=setup, actor="engine", now=NOW)
    amounts = applications.open_amounts(session, receipt.id)
    assert (amounts.unidentified, amounts.unapplied) == (eur("0.00"), eur("120.00"))
    assert receipt.status == ReceiptStatus.UNAPPLIED and receipt.identified_by == "iban"
    assert ledger.balance(session, setup.accounts.unidentified, EUR) == eur("0.00")
    assert ledger.balance(session, setup.accounts.unapplied, EUR) == eur("-120.00")
    books_agree()


def test_apply_closes_item_records_rule_score_evidence(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None]
) -> None:
    customer = make.customer()
    item = make.invoice(customer, "100.00")
    receipt = make.receipt("98.00", customer=customer)
    app = applications.apply(
        session,
        receipt.id,
        item.id,
        eur("98.00"),
        discount=eur("2.00"),
        rule="reference",
        score=Decimal("97.5"),
        evidence={"references": [item.trx_number]},
        setup=setup,
        actor="engine",
        made_by=MadeBy.ENGINE,
        now=NOW,
    )
    assert (app.status, app.rule, app.score, app.made_by) == ("APP", "reference", "97.5", "engine")
    assert json.loads(app.evidence) == {"references": [item.trx_number]}
    assert item.amount_due_remaining_minor == 0 and item.status == ScheduleStatus.CLOSED
    assert item.closed_on == TODAY
    assert receipt.status == ReceiptStatus.APPLIED
    assert ledger.balance(session, setup.accounts.discounts, EUR) == eur("2.00")
    assert [a.id for a in applications.applications(session, receipt.id)] == [app.id]
    books_agree()


def test_partial_application_leaves_unapplied(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None]
) -> None:
    customer = make.customer()
    first, second = make.invoice(customer, "60.00"), make.invoice(customer, "80.00")
    receipt = make.receipt("100.00", customer=customer)
    common = {"rule": "manual", "evidence": {}, "setup": setup, "actor": "alice", "now": NOW}
    applications.apply(session, receipt.id, first.id, eur("60.00"), **common)  # type: ignore[arg-type]
    applications.apply(session, receipt.id, second.id, eur("40.00"), **common)  # type: ignore[arg-type]
    amounts = applications.open_amounts(session, receipt.id)
    assert (amounts.applied, amounts.unapplied) == (eur("100.00"), eur("0.00"))
    assert second.amount_due_remaining_minor == 4000 and second.status == ScheduleStatus.OPEN
    books_agree()


@pytest.mark.parametrize(
    ("receipt_amount", "invoice_amount", "apply", "discount", "write_off", "error"),
    [
        ("50.00", "100.00", "60.00", None, None, "only 50.00 EUR is unapplied"),
        ("500.00", "100.00", "100.01", None, None, "100.00 EUR is open for application"),
        ("500.00", "100.00", "90.00", "5.00", "5.01", "100.00 EUR is open for application"),
        ("500.00", "100.00", "-10.00", None, None, "a negative amount applies only to a credit"),
        ("500.00", "100.00", "10.00", "-1.00", None, "cannot be negative"),
        ("500.00", "100.00", "0.00", None, None, "nothing to apply"),
    ],
)
def test_over_application_and_bad_amounts_refused(
    session: Session,
    setup: Setup,
    make: Factory,
    receipt_amount: str,
    invoice_amount: str,
    apply: str,
    discount: str | None,
    write_off: str | None,
    error: str,
) -> None:
    customer = make.customer()
    item = make.invoice(customer, invoice_amount)
    receipt = make.receipt(receipt_amount, customer=customer)
    with pytest.raises(ValidationError, match=error):
        applications.apply(
            session,
            receipt.id,
            item.id,
            eur(apply),
            discount=None if discount is None else eur(discount),
            write_off=None if write_off is None else eur(write_off),
            rule="manual",
            evidence={},
            setup=setup,
            actor="bob",
            now=NOW,
        )
    assert item.amount_due_remaining_minor == item.amount_due_original_minor


@pytest.mark.parametrize(
    ("receipt_currency", "item_currency", "amount_currency"),
    [("EUR", "USD", "EUR"), ("EUR", "EUR", "USD"), ("USD", "EUR", "USD")],
)
def test_currency_mismatch_refused(
    session: Session,
    setup: Setup,
    make: Factory,
    receipt_currency: str,
    item_currency: str,
    amount_currency: str,
) -> None:
    customer = make.customer()
    item = make.invoice(customer, "10.00", currency=item_currency)
    receipt = make.receipt("10.00", currency=receipt_currency, customer=customer)
    with pytest.raises(CurrencyMismatchError):
        applications.apply(
            session,
            receipt.id,
            item.id,
            Money.of("10.00", amount_currency),
            rule="manual",
            evidence={},
            setup=setup,
            actor="bob",
            now=NOW,
        )


def test_unidentified_receipt_cannot_be_applied(session: Session, setup: Setup, make: Factory) -> None:
    item = make.invoice(make.customer(), "10.00")
    receipt = make.receipt("10.00")
    with pytest.raises(ValidationError, match="identify the payer"):
        applications.apply(
            session, receipt.id, item.id, eur("10.00"), rule="m", evidence={}, setup=setup, actor="a", now=NOW
        )


@pytest.mark.parametrize(
    ("actor", "write_off", "allowed"),
    [
        ("engine", "5.00", True),  # the company policy: 5.00 EUR
        ("engine", "5.01", False),
        ("alice", "50.00", True),  # her own limit
        ("alice", "50.01", False),
        ("carol", "5.00", True),  # no own receipt_write_off limit: the policy's
        ("carol", "6.00", False),
    ],
)
def test_write_off_on_application_within_limit_only(
    session: Session,
    setup: Setup,
    make: Factory,
    books_agree: Callable[[], None],
    actor: str,
    write_off: str,
    allowed: bool,
) -> None:
    customer = make.customer()
    item = make.invoice(customer, "100.00")
    receipt = make.receipt("100.00", customer=customer)
    call = lambda: applications.apply(  # noqa: E731
        session,
        receipt.id,
        item.id,
        eur("100.00") - eur(write_off),
        write_off=eur(write_off),
        rule="tolerance",
        evidence={},
        setup=setup,
        actor=actor,
        now=NOW,
    )
    if allowed:
        app = call()
        assert app.write_off == eur(write_off) and app.activity == "small_balance_write_off"
        assert ledger.balance(session, "6850", EUR) == eur(write_off)
    else:
        with pytest.raises(ApprovalError, match=f"{actor} may write off up to"):
            call()
    books_agree()


@pytest.mark.parametrize("leave_matching", [True, False])
def test_disputed_amount_leaves_matching_per_profile(
    session: Session, setup: Setup, make: Factory, leave_matching: bool
) -> None:
    from ar import disputes

    customer = make.customer(profile="default" if leave_matching else "lenient")
    item = make.invoice(customer, "100.00")
    disputes.open_dispute(session, item.id, eur("30.00"), reason="damaged", actor="alice", now=NOW)
    receipt = make.receipt("100.00", customer=customer)
    expected = "70.00" if leave_matching else "100.00"
    assert applications.available_on_item(session, item.id, setup=setup) == eur(expected)
    kwargs = {"rule": "m", "evidence": {}, "setup": setup, "actor": "alice", "now": NOW}
    if leave_matching:
        with pytest.raises(ValidationError, match=r"30.00 EUR of it in dispute"):
            applications.apply(session, receipt.id, item.id, eur("100.00"), **kwargs)  # type: ignore[arg-type]
        applications.apply(session, receipt.id, item.id, eur("70.00"), **kwargs)  # type: ignore[arg-type]
    else:
        applications.apply(session, receipt.id, item.id, eur("100.00"), **kwargs)  # type: ignore[arg-type]
    assert item.amount_due_remaining_minor == (3000 if leave_matching else 0)


def test_unapply_reopens_item_and_reverses_journal(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None]
) -> None:
    customer = make.customer()
    item = make.invoice(customer, "100.00")
    receipt = make.receipt("100.00", customer=customer)
    app = applications.apply(
        session,
        receipt.id,
        item.id,
        eur("95.00"),
        discount=eur("5.00"),
        rule="m",
        evidence={},
        setup=setup,
        actor="alice",
        now=NOW,
    )
    assert item.status == ScheduleStatus.CLOSED
    negated = applications.unapply(session, app.id, setup=setup, actor="alice", now=NOW, reason="wrong item")
    assert negated.reversal_of_id == app.id and negated.amount == eur("-95.00")
    assert app.reversed_at is not None
    assert item.amount_due_remaining_minor == 10000 and item.status == ScheduleStatus.OPEN
    assert item.closed_on is None
    assert applications.open_amounts(session, receipt.id).unapplied == eur("100.00")
    assert receipt.status == ReceiptStatus.UNAPPLIED
    assert ledger.balance(session, setup.accounts.discounts, EUR) == eur("0.00")
    assert ledger.reversal_of(session, app.journal_id) is not None  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="already undone"):
        applications.unapply(session, app.id, setup=setup, actor="alice", now=NOW)
    books_agree()


def test_on_account_and_refund_and_unapplied_write_off(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None]
) -> None:
    customer = make.customer()
    receipt = make.receipt("300.00", customer=customer)
    acc = applications.put_on_account(session, receipt.id, eur("100.00"), setup=setup, actor="alice", now=NOW)
    assert acc.status == ApplicationStatus.ON_ACCOUNT
    refund = applications.refund(session, receipt.id, eur("150.00"), setup=setup, actor="alice", now=NOW)
    assert (refund.status, refund.activity) == ("ACTIVITY", "refund")
    with pytest.raises(ApprovalError, match=r"carol may refund up to 0 EUR"):
        applications.refund(session, receipt.id, eur("45.00"), setup=setup, actor="carol", now=NOW)
    wo = applications.write_off_unapplied(
        session, receipt.id, eur("4.00"), activity="bank_charges", setup=setup, actor="engine", now=NOW
    )
    amounts = applications.open_amounts(session, receipt.id)
    assert (amounts.on_account, amounts.activity, amounts.unapplied) == (
        eur("100.00"),
        eur("154.00"),
        eur("46.00"),
    )
    assert ledger.balance(session, setup.accounts.on_account, EUR) == eur("-100.00")
    assert ledger.balance(session, setup.accounts.refunds, EUR) == eur("-150.00")
    assert ledger.balance(session, "6855", EUR) == eur("-4.00")
    with pytest.raises(ValidationError, match=r"only 46\.00 EUR is unapplied"):
        applications.put_on_account(session, receipt.id, eur("46.01"), setup=setup, actor="alice", now=NOW)
    applications.unapply(session, acc.id, setup=setup, actor="alice", now=NOW)
    applications.unapply(session, wo.id, setup=setup, actor="alice", now=NOW)
    assert applications.open_amounts(session, receipt.id).unapplied == eur("150.00")
    books_agree()


def test_credit_memo_consumed_by_a_receipt(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None]
) -> None:
    customer = make.customer()
    invoice, credit = make.invoice(customer, "100.00"), make.credit_memo(customer, "30.00")
    receipt = make.receipt("70.00", customer=customer)
    kwargs = {"rule": "m", "evidence": {}, "setup": setup, "actor": "alice", "now": NOW}
    cm_app = applications.apply(session, receipt.id, credit.id, eur("-30.00"), **kwargs)  # type: ignore[arg-type]
    assert applications.open_amounts(session, receipt.id).unapplied == eur("100.00")
    applications.apply(session, receipt.id, invoice.id, eur("100.00"), **kwargs)  # type: ignore[arg-type]
    assert (credit.amount_due_remaining_minor, invoice.amount_due_remaining_minor) == (0, 0)
    assert receipt.status == ReceiptStatus.APPLIED
    with pytest.raises(ValidationError, match="applied elsewhere"):
        applications.unapply(session, cm_app.id, setup=setup, actor="alice", now=NOW)
    with pytest.raises(ValidationError, match="is a credit"):
        applications.apply(session, receipt.id, credit.id, eur("1.00"), **kwargs)  # type: ignore[arg-type]
    books_agree()


@pytest.mark.parametrize("identified_first", [True, False])
def test_reversal_reopens_everything_it_paid(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None], identified_first: bool
) -> None:
    customer = make.customer()
    first, second = make.invoice(customer, "60.00"), make.invoice(customer, "50.00")
    receipt = make.receipt("100.00", customer=None if identified_first else customer)
    if identified_first:
        applications.post_receipt(session, receipt.id, setup=setup, actor="bank", now=NOW)
        applications.identify(session, receipt.id, customer.id, how="name", setup=setup, actor="a", now=NOW)
    kwargs = {"rule": "m", "evidence": {}, "setup": setup, "actor": "alice", "now": NOW}
    applications.apply(session, receipt.id, first.id, eur("60.00"), **kwargs)  # type: ignore[arg-type]
    applications.apply(session, receipt.id, second.id, eur("30.00"), **kwargs)  # type: ignore[arg-type]
    applications.put_on_account(session, receipt.id, eur("10.00"), setup=setup, actor="alice", now=NOW)
    books_agree()

    applications.reverse_receipt(session, receipt.id, reason="AM04", setup=setup, actor="bank", now=NOW)
    assert receipt.status == ReceiptStatus.REVERSED and receipt.reversal_reason == "AM04"
    assert receipt.reversal_date == TODAY and receipt.reversed_by == "bank"
    assert (first.amount_due_remaining_minor, second.amount_due_remaining_minor) == (6000, 5000)
    assert first.status == second.status == ScheduleStatus.OPEN
    amounts = applications.open_amounts(session, receipt.id)
    assert amounts.applied == amounts.unapplied == amounts.on_account == amounts.unidentified == eur("0.00")
    cash = ledger.balance(session, setup.accounts.cash, EUR)
    assert cash == eur("0.00")
    assert applications.applications(session, receipt.id) == []
    with pytest.raises(ValidationError, match="is reversed"):
        applications.put_on_account(session, receipt.id, eur("1.00"), setup=setup, actor="a", now=NOW)
    with pytest.raises(ValidationError, match="is reversed"):
        applications.reverse_receipt(session, receipt.id, reason="AM04", setup=setup, actor="bank", now=NOW)
    books_agree()


def test_identify_twice_and_unknown_customer(session: Session, setup: Setup, make: Factory) -> None:
    one, other = make.customer(), make.customer()
    receipt = make.receipt("10.00")
    applications.identify(session, receipt.id, one.id, how="iban", setup=setup, actor="a", now=NOW)
    # Identified before posting: posted straight to unapplied, no identification journal.
    rows = session.scalars(
        select(ReceivableApplication).where(ReceivableApplication.receipt_id == receipt.id)
    )
    assert [(r.status, r.amount_minor) for r in rows] == [("UNAPP", 1000)]
    applications.identify(session, receipt.id, one.id, how="iban", setup=setup, actor="a", now=NOW)  # no-op
    with pytest.raises(ValidationError, match="already identified"):
        applications.identify(session, receipt.id, other.id, how="iban", setup=setup, actor="a", now=NOW)
    from ar.errors import NotFoundError

    with pytest.raises(NotFoundError):
        applications.identify(session, receipt.id, 999_999, how="iban", setup=setup, actor="a", now=NOW)


def test_manual_receipt_reference_is_unique(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None]
) -> None:
    customer = make.customer()
    first = receipts.record_manual(
        session,
        customer_id=customer.id,
        amount=eur("25.00"),
        receipt_date=TODAY,
        now=NOW,
        actor="alice",
        reference="CHQ-1",
    )
    assert (first.source, first.status, first.customer_id) == ("manual", "unapplied", customer.id)
    with pytest.raises(DuplicateError, match="CHQ-1"):
        receipts.record_manual(
            session,
            customer_id=customer.id,
            amount=eur("25.00"),
            receipt_date=TODAY,
            now=NOW,
            actor="alice",
            reference="CHQ-1",
        )
    second = receipts.record_manual(
        session, customer_id=customer.id, amount=eur("5.00"), receipt_date=TODAY, now=NOW, actor="alice"
    )
    assert second.entry_ref == f"MAN-{second.id:06d}"
    for r in (first, second):
        applications.post_receipt(session, r.id, setup=setup, actor="alice", now=NOW)
    assert applications.open_amounts(session, second.id).unapplied == eur("5.00")
    books_agree()


def test_unposted_receipt_is_reported_by_the_invariant(session: Session, make: Factory) -> None:
    receipt = make.receipt("10.00")
    assert applications.check_receipts_accounted_for(session) == [
        f"receipt {receipt.id} (10.00 EUR) is recorded but not posted"
    ]
    amounts = applications.open_amounts(session, receipt.id)
    assert (amounts.unidentified, amounts.posted) == (eur("10.00"), False)
