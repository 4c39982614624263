"""Small builders for matching tests: one customer family, invoices, receipts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from ar.matching.context import InMemoryLedgerView
from ar.matching.model import CustomerFacts, DiscountTier, OpenItem, ReceiptFacts, TrxType

TODAY = date(2024, 12, 10)
IBAN_ACME = "DE89370400440532013000"
IBAN_CHILD = "DE02120300000000202051"
IBAN_OTHER = "DE44500105175407324931"

ACME = CustomerFacts("C1", "1001", "Acme Industries GmbH", (IBAN_ACME,))
ACME_CHILD = CustomerFacts("C2", "1002", "Acme Logistics GmbH", (IBAN_CHILD,), parent_id="C1")
OTHER = CustomerFacts("C3", "1003", "Zeta Foods AG", (IBAN_OTHER,))
CUSTOMERS = (ACME, ACME_CHILD, OTHER)


def item(
    number: str,
    amount: str,
    *,
    customer: str = "C1",
    due: date | None = None,
    trx_date: date | None = None,
    remaining: str | None = None,
    currency: str = "EUR",
    term: str = "NET30",
    discounts: tuple[DiscountTier, ...] = (),
    disputed: str = "0",
    late: str = "0",
    references: tuple[str, ...] = (),
) -> OpenItem:
    trx = trx_date or TODAY - timedelta(days=20)
    credit = amount.startswith("-")
    return OpenItem(
        item_id=f"id-{number}",
        trx_number=number,
        customer_id=customer,
        currency=currency,
        amount_due_original=Decimal(amount),
        amount_due_remaining=Decimal(remaining if remaining is not None else amount),
        trx_date=trx,
        due_date=due or trx + timedelta(days=30),
        discounts=discounts,
        payment_term=term,
        trx_type=TrxType.CREDIT_MEMO if credit else TrxType.INVOICE,
        disputed_amount=Decimal(disputed),
        late_charges=Decimal(late),
        references=references,
    )


def receipt(
    amount: str,
    *,
    iban: str | None = IBAN_ACME,
    name: str | None = None,
    ustrd: tuple[str, ...] = (),
    structured: tuple[str, ...] = (),
    end_to_end: str | None = None,
    currency: str = "EUR",
    on: date = TODAY,
) -> ReceiptFacts:
    return ReceiptFacts(
        receipt_id="R1",
        amount=Decimal(amount),
        currency=currency,
        receipt_date=on,
        debtor_iban=iban,
        debtor_name=name,
        remittance_lines=ustrd,
        structured_references=structured,
        end_to_end_id=end_to_end,
    )


def ledger(*items: OpenItem, customers: tuple[CustomerFacts, ...] = CUSTOMERS) -> InMemoryLedgerView:
    return InMemoryLedgerView(customers, items)


def applied(decision: object) -> list[tuple[str, str, str, str]]:
    """(trx_number, amount, discount, write_off) of a decision's applications, in order."""
    from ar.matching.model import Decision

    assert isinstance(decision, Decision)
    return [(a.trx_number, str(a.amount), str(a.discount), str(a.write_off)) for a in decision.applications]
