"""The cash-application run through the database, on SQLite and PostgreSQL: each outcome,
the approval limit, idempotence, and Oracle's AutoCash worked example."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ar import applications
from ar.applications import ENGINE_ACTOR, ApplicationStatus, ReceivableApplication, Setup
from ar.cashapp.run import CashApplication, batches, open_receipt_ids, open_receipts
from ar.cashapp.tables import MatchDecision, MatchRecommendation
from ar.matching.engine import MatchingEngine
from ar.matching.rules import RuleSet
from ar.model import PaymentSchedule
from ar.receipts import Receipt
from tests.ar.applications.conftest import assert_books_agree
from tests.ar.cashapp.conftest import Books, evidence_of
from tests.ar.factories import NOW

ACME = "DE89370400440532013000"
ZETA = "DE02120300000000202051"
STRANGER = "FR1420041010050500013M02606"


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Books], Receipt]
    outcome: str
    status: str  # the receipt's status afterwards
    applied: list[tuple[str, str, str]]  # (trx_number, amount, write_off)
    recommendations: int  # at least this many
    rule: str | None = None


def _exact(b: Books) -> Receipt:
    acme = b.payer(ACME)
    b.item(acme, "100.00", "INV-000101")
    b.item(acme, "250.00", "INV-000102")
    return b.bank_receipt("250.00", iban=ACME, ustrd=("Invoice INV-000102",))


def _fee(b: Books) -> Receipt:
    acme = b.payer(ACME)
    b.item(acme, "500.00", "INV-000201")
    return b.bank_receipt("497.50", iban=ACME, ustrd=("INV-000201",))


def _fee_above_limit(b: Books) -> Receipt:
    acme = b.payer(ACME)
    b.item(acme, "500.00", "INV-000301")
    return b.bank_receipt("488.00", iban=ACME, ustrd=("INV-000301",))


def _overpaid(b: Books) -> Receipt:
    acme = b.payer(ACME)
    b.item(acme, "100.00", "INV-000401")
    return b.bank_receipt("150.00", iban=ACME, ustrd=("INV-000401",))


def _by_reference_unknown_iban(b: Books) -> Receipt:
    zeta = b.payer(ZETA)
    b.item(zeta, "75.25", "INV-000501")
    return b.bank_receipt("75.25", iban=STRANGER, ustrd=("RE INV-000501",))


def _same_amount(b: Books) -> Receipt:
    acme = b.payer(ACME)
    b.item(acme, "80.00", "INV-000601")
    b.item(acme, "80.00", "INV-000602")
    return b.bank_receipt("80.00", iban=ACME)


def _nothing_fits(b: Books) -> Receipt:
    acme = b.payer(ACME)
    b.item(acme, "1000.00", "INV-000701")
    return b.bank_receipt("3.17", iban=ACME, ustrd=("Spende",))


def _unknown(b: Books) -> Receipt:
    acme = b.payer(ACME)
    b.item(acme, "100.00", "INV-000801")
    return b.bank_receipt("42.00", iban=STRANGER, name="Somebody Else", ustrd=("Mitgliedsbeitrag",))


def _parent_pays_child(b: Books) -> Receipt:
    parent = b.payer(ACME)
    child = b.payer(None, parent=parent)
    b.item(child, "310.00", "INV-000901")
    return b.bank_receipt("310.00", iban=ACME, ustrd=("INV-000901",))


CASES = [
    Case(
        "exact reference", _exact, "APPLIED", "applied", [("INV-000102", "250.00", "0.00")], 0, "1:reference"
    ),
    Case("bank fee within limit", _fee, "APPLIED", "applied", [("INV-000201", "497.50", "2.50")], 0),
    Case("bank fee above the engine's limit", _fee_above_limit, "RECOMMENDED", "unapplied", [], 1),
    Case("overpayment", _overpaid, "PARTIALLY_APPLIED", "unapplied", [("INV-000401", "100.00", "0.00")], 0),
    Case(
        "payer by reference",
        _by_reference_unknown_iban,
        "APPLIED",
        "applied",
        [("INV-000501", "75.25", "0.00")],
        0,
    ),
    Case("same amount twice", _same_amount, "RECOMMENDED", "unapplied", [], 2),
    Case("payer known, nothing fits", _nothing_fits, "UNAPPLIED", "unapplied", [], 0),
    Case("unknown payer", _unknown, "UNIDENTIFIED", "unidentified", [], 0),
    Case(
        "parent pays child", _parent_pays_child, "APPLIED", "applied", [("INV-000901", "310.00", "0.00")], 0
    ),
]


def _applied(session: Session, receipt_id: int) -> list[tuple[str, str, str]]:
    out = []
    for row in applications.applications(session, receipt_id):
        if row.status == ApplicationStatus.APPLIED.value:
            item = session.get(PaymentSchedule, row.schedule_id)
            assert item is not None
            out.append((item.trx_number, str(row.amount.amount), str(row.write_off.amount)))
    return sorted(out)


@pytest.mark.parametrize(
    ("count", "size", "ramp", "sizes"),
    [
        (0, 4, False, []),
        (10, 4, False, [4, 4, 2]),
        (10, 4, True, [1, 2, 4, 2, 1]),
        (13, 4, True, [1, 2, 4, 3, 2, 1]),
        # too few for the ramp (a quarter and a half each end, and one whole batch): as without it
        (9, 4, True, [4, 4, 1]),
        (3, 1, True, [1, 1, 1]),
        (100_000, 2000, True, [500, 1000] + [2000] * 48 + [1000, 1000, 500]),
    ],
)
def test_batches(count: int, size: int, ramp: bool, sizes: list[int]) -> None:
    ids = list(range(100, 100 + count))
    found = batches(ids, size, ramp=ramp)
    assert [len(batch) for batch in found] == sizes
    assert [i for batch in found for i in batch] == ids


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_run_outcomes(
    session: Session, setup: Setup, books: Books, cashapp: CashApplication, case: Case
) -> None:
    receipt = case.build(books)
    summary = cashapp.run(session, now=NOW)
    assert summary.receipts == 1
    decision = session.get(MatchDecision, receipt.id)
    assert decision is not None
    assert decision.outcome == case.outcome
    session.refresh(receipt)
    assert receipt.status == case.status
    assert _applied(session, receipt.id) == sorted(case.applied)
    recommendations = session.scalars(
        select(MatchRecommendation).where(MatchRecommendation.receipt_id == receipt.id)
    ).all()
    assert len(recommendations) >= case.recommendations
    assert [r.rank for r in recommendations] == list(range(1, len(recommendations) + 1))
    for row in applications.applications(session, receipt.id):
        assert row.made_by == "engine" and row.actor == ENGINE_ACTOR
        assert row.rule and row.score is not None
        evidence = evidence_of(row.evidence)
        assert evidence["identified_by"] in ("iban", "reference")
        assert "score_components" in evidence
    if case.rule:
        assert decision.rule == case.rule
    assert_books_agree(session, setup)


def test_write_off_above_the_engine_limit_is_only_recommended(
    session: Session, setup: Setup, books: Books, cashapp: CashApplication
) -> None:
    receipt = _fee_above_limit(books)
    summary = cashapp.run(session, now=NOW)
    assert summary.held_for_approval == 1 and summary.applications == 0
    top = session.scalars(
        select(MatchRecommendation).where(
            MatchRecommendation.receipt_id == receipt.id, MatchRecommendation.rank == 1
        )
    ).one()
    assert '"write_off": "12.00"' in top.applications
    assert "write_off_above_approval_limit" in top.evidence
    session.refresh(receipt)
    assert receipt.customer_id is not None  # identified by IBAN, posted as unapplied
    assert applications.open_amounts(session, receipt.id).unapplied.amount == receipt.amount.amount
    assert_books_agree(session, setup)


def test_running_twice_applies_nothing_twice(
    session: Session, setup: Setup, books: Books, cashapp: CashApplication
) -> None:
    receipts = [case.build(books) for case in CASES[:1]] + [_same_amount(books), _unknown(books)]
    first = cashapp.run(session, now=NOW)
    rows_after_first = session.scalars(select(ReceivableApplication.id)).all()
    second = cashapp.run(session, now=NOW)
    assert first.applications == 1 and second.applications == 0
    # the decided receipt is not looked at again; those left to a person are decided again, identically
    assert second.receipts == 2
    assert session.scalars(select(ReceivableApplication.id)).all() == rows_after_first
    assert open_receipt_ids(session) == [r.id for r in receipts[1:]]
    assert open_receipts(session) == [(r.id, r.receipt_date) for r in receipts[1:]]
    assert_books_agree(session, setup)


def test_an_application_a_person_undid_is_not_redone(
    session: Session, setup: Setup, books: Books, cashapp: CashApplication
) -> None:
    receipt = _exact(books)
    cashapp.run(session, now=NOW)
    (row,) = applications.applications(session, receipt.id)
    applications.unapply(session, row.id, setup=setup, actor="alice", now=NOW)
    assert cashapp.run(session, now=NOW).receipts == 0
    assert applications.applications(session, receipt.id) == []
    assert_books_agree(session, setup)


ORACLE_RULES: dict[str, Any] = {
    "name": "default",
    "rules": [
        {"rule": "match_payment_with_invoice"},
        {"rule": "clear_account"},
        {"rule": "clear_past_due"},
        {"rule": "clear_past_due_by_term"},
        {"rule": "oldest_first"},
    ],
}


def test_oracle_autocash_worked_example(session: Session, setup: Setup, books: Books) -> None:
    """Oracle Receivables' AutoCash example: 600 received on 10 December against 123 (200, due
    11 Dec), 124 (300, due 8 Dec), 125 (150, due 13 Dec), discounts lapsed: the oldest first."""
    cashapp = CashApplication(MatchingEngine([RuleSet.from_mapping(ORACLE_RULES)]), setup)
    customer = books.payer(ACME)
    invoice_date = date(2026, 11, 8)
    due = {"123": date(2026, 12, 11), "124": date(2026, 12, 8), "125": date(2026, 12, 13)}
    amounts = {"123": "200.00", "124": "300.00", "125": "150.00"}
    items = {n: books.item(customer, amounts[n], n, trx_date=invoice_date, due_date=due[n]) for n in due}
    receipt = books.bank_receipt("600.00", iban=ACME, on=date(2026, 12, 10))
    summary = cashapp.run(session, now=NOW)
    assert summary.outcomes["APPLIED"] == 1
    assert _applied(session, receipt.id) == [
        ("123", "200.00", "0.00"),
        ("124", "300.00", "0.00"),
        ("125", "100.00", "0.00"),
    ]
    remaining = {
        n: session.get(PaymentSchedule, item.id).amount_due_remaining_minor for n, item in items.items()
    }  # type: ignore[union-attr]
    assert remaining == {"123": 0, "124": 0, "125": 5000}
    rules = {row.rule for row in applications.applications(session, receipt.id)}
    assert rules == {"5:oldest_first"}
    assert_books_agree(session, setup)
