"""DbLedgerView: its helpers that build open items by hand (for speed) against the dataclass's
own, and what it lays over the database for a batch."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from ar.cashapp.run import CashApplication
from ar.cashapp.view import with_remaining
from ar.matching.model import DiscountTier, OpenItem, TrxType
from tests.ar.cashapp.conftest import Books

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


def test_an_item_carried_over_counts_under_every_amount_whenever_it_is_read(
    session: Session, books: Books, cashapp: CashApplication
) -> None:
    """The pipelined run's planner carries the items of a plan the writer may write at any
    moment of its batch: a read of such an item may come before that write, a look-up by
    amount after it. Laid over again by the batch, the item must not count only under the
    amount it was first read with, or the look-up reads one item too few past it."""
    payer = books.payer("DE89370400440532013000")
    carried = books.item(payer, "100.00", "INV-004001")
    others = [books.item(payer, "40.00", f"INV-00401{n}") for n in range(3)]
    view = cashapp.new_view(session)
    item = view.item(str(carried.id))
    assert item is not None
    view.clear_items()
    view.carry([with_remaining(item, Decimal("40.00"))])  # the plan not yet written leaves 40.00
    # the payer's items, read before that plan is written: 100.00 there
    seen = {i.item_id: i for i in view.open_items(str(payer.id))}[str(carried.id)]
    assert seen.amount_due_remaining == Decimal("40.00")
    view.overlay(seen, Decimal("15.00"))  # this batch applies 25.00 of it
    carried.amount_due_remaining_minor = 4000  # the writer writes the plan
    session.flush()
    found = view.open_items_with_amount("EUR", Decimal("40.00"), 3)
    assert [i.item_id for i in found] == [str(o.id) for o in others]
