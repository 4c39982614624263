"""Fixtures for the cash-application tests: a Setup with the example approval limits, an
engine with a bank-fee tolerance, and a factory of customers with IBANs, items and receipts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from ar import receipts
from ar.applications import Setup
from ar.cashapp.run import CashApplication
from ar.matching.engine import MatchingEngine
from ar.matching.rules import RuleSet
from ar.model import Customer, CustomerBankAccount, CustomerRelationship, PaymentSchedule
from ar.money import Money
from config.approvals import Approvals
from config.loader import load_file
from tests.ar.factories import NOW, TODAY, Factory, ar_config

EXAMPLE_APPROVALS = Path(__file__).resolve().parents[3] / "config" / "example" / "approvals.yaml"
#: The tolerance lets the engine propose write-offs up to 20.00; the policy lets it take 5.00.
DEFAULT_RULES: dict[str, Any] = {
    "name": "default",
    "tolerance": {"amount": "20.00", "percent": "10", "max_write_off": {"EUR": "20.00"}},
}


@pytest.fixture
def setup() -> Setup:
    return Setup(ar=ar_config(), approvals=load_file(Approvals, EXAMPLE_APPROVALS))


@pytest.fixture
def cashapp(setup: Setup) -> CashApplication:
    return CashApplication(MatchingEngine([RuleSet.from_mapping(DEFAULT_RULES)]), setup)


class Books(Factory):
    """The AR factory plus what matching reads: payer IBANs, remittance, parent relationships."""

    def payer(
        self, iban: str | None = None, *, name: str | None = None, parent: Customer | None = None
    ) -> Customer:
        customer = self.customer()
        if name:
            customer.name = name
        if iban:
            self.session.add(CustomerBankAccount(customer_id=customer.id, iban=iban))
        if parent is not None:
            self.session.add(
                CustomerRelationship(payer_id=parent.id, customer_id=customer.id, reciprocal=False)
            )
        self.session.flush()
        return customer

    def item(self, customer: Customer, amount: str, number: str, **kwargs: Any) -> PaymentSchedule:
        return self.invoice(customer, amount, number=number, **kwargs)

    def bank_receipt(
        self,
        amount: str,
        *,
        iban: str | None = None,
        name: str | None = None,
        ustrd: tuple[str, ...] = (),
        on: date = TODAY,
        ref: str | None = None,
    ) -> receipts.Receipt:
        n = next(self._seq)
        receipt, _ = receipts.record(
            self.session,
            receipts.ReceiptInput(
                bank_account="DE44500105175407324931",
                entry_ref=ref or f"STMT-{n:06d}",
                tx_index=0,
                amount=Money.of(amount, "EUR"),
                receipt_date=on,
                created_at=NOW,
                payer_iban=iban,
                payer_name=name,
                remittance=ustrd,
            ),
            actor="test",
        )
        return receipt


@pytest.fixture
def books(session: Session, setup: Setup) -> Books:
    return Books(session, config=setup.ar)


def evidence_of(text: str) -> dict[str, Any]:
    data = json.loads(text)
    assert isinstance(data, dict)
    return data
