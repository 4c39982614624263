"""Fixtures for the receipts/applications/disputes/adjustments tests: a Setup, a factory, and
`books_agree`, the invariants every test ends with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ar import applications, invariants, ledger
from ar.applications import Setup
from ar.model import JournalLine, PaymentSchedule
from ar.money import Money
from config.approvals import Approvals
from config.loader import load_file
from tests.ar.factories import Factory, ar_config

EXAMPLE_APPROVALS = Path(__file__).resolve().parents[3] / "config" / "example" / "approvals.yaml"


@pytest.fixture
def setup() -> Setup:
    return Setup(ar=ar_config(), approvals=load_file(Approvals, EXAMPLE_APPROVALS))


@pytest.fixture
def make(session: Session, setup: Setup) -> Factory:
    return Factory(session, config=setup.ar)


def assert_books_agree(session: Session, setup: Setup) -> None:
    """Every journal balances; receipts are whole; items within bounds; subledger = GL."""
    session.flush()
    unbalanced = session.execute(
        select(JournalLine.journal_id, JournalLine.currency)
        .group_by(JournalLine.journal_id, JournalLine.currency)
        .having(func.sum(JournalLine.debit_minor) != func.sum(JournalLine.credit_minor))
    ).all()
    assert unbalanced == []
    assert applications.check_receipt_amounts(session) == []
    assert applications.check_applications_within_open(session) == []
    assert applications.check_receipts_accounted_for(session) == []
    assert applications.check_receipt_accounts_match_gl(session, setup.accounts) == []
    for currency, remaining in session.execute(
        select(PaymentSchedule.currency, func.sum(PaymentSchedule.amount_due_remaining_minor)).group_by(
            PaymentSchedule.currency
        )
    ):
        gl = ledger.balance(session, setup.accounts.receivables, currency)
        assert gl == Money.from_minor(int(remaining), currency), "open items differ from the GL control"
    # And every check `arbridge check` runs, the AR core's included.
    failed = [
        f"{r.name}: {', '.join(map(str, r.violations))}"
        for r in invariants.run(session, invariants.CheckContext(setup.ar))
        if not r.ok
    ]
    assert failed == []


@pytest.fixture
def books_agree(session: Session, setup: Setup) -> Callable[[], None]:
    return lambda: assert_books_agree(session, setup)
