"""DbLedgerView's helpers that build open items by hand (for speed) against the dataclass's own."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from ar.cashapp.view import with_remaining
from ar.matching.model import DiscountTier, OpenItem, TrxType

ITEM = OpenItem(
    item_id="17",
    trx_number="INV-000017",
    customer_id="4",
    currency="EUR",
    amount_due_original=Decimal("500.00"),
    amount_due_remaining=Decimal("300.00"),
    trx_date=date(2026, 10, 1),
    due_date=date(2026, 10, 31),
    discounts=(DiscountTier(days=10, percent=Decimal("2")),),
    payment_term="2/10 NET30",
    trx_type=TrxType.DEBIT_MEMO,
    disputed_amount=Decimal("120.00"),
    late_charges=Decimal("5.00"),
    references=("RF18INV000017", "PO-77"),
)


@pytest.mark.parametrize(
    ("remaining", "disputed"),
    [("300.00", "120.00"), ("100.00", "100.00"), ("0.00", "0"), ("-5.00", "0")],
)
def test_with_remaining_changes_only_the_remaining_and_disputed_parts(remaining: str, disputed: str) -> None:
    got = with_remaining(ITEM, Decimal(remaining))
    assert got == dataclasses.replace(
        ITEM, amount_due_remaining=Decimal(remaining), disputed_amount=Decimal(disputed)
    )
    # every other field carried over, whatever fields OpenItem gains
    for f in dataclasses.fields(OpenItem):
        if f.name not in ("amount_due_remaining", "disputed_amount"):
            assert getattr(got, f.name) == getattr(ITEM, f.name), f.name
