"""Bulk recording of statement receipts: the driver-level insert stores what the ORM would (both backends)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from ar import receipts
from ar.errors import ValidationError
from ar.money import Money
from ar.receipts import Receipt, ReceiptInput, _json_strings

NOW = datetime(2026, 11, 20, 8, 30, 15, 123456, tzinfo=UTC)


def _input(ref: str, index: int = 0, amount: str = "10.50", **extra: object) -> ReceiptInput:
    values: dict[str, object] = {
        "bank_account": "DE89370400440532013000",
        "entry_ref": ref,
        "tx_index": index,
        "amount": Money.of(amount, "EUR"),
        "receipt_date": date(2026, 11, 19),
        "value_date": date(2026, 11, 20),
        "created_at": NOW,
        "payer_name": "Kunde GmbH",
        "payer_iban": "DE02120300000000202051",
        "end_to_end_id": "E2E-1",
        "remittance": ('Rechnung "1" vom 2024', "\u00e9t\u00e9"),
        "references": ("RF18539007547034",),
        "bank_tx_code": "PMNT/RCDT/ESCT",
    } | extra
    return ReceiptInput(**values)  # type: ignore[arg-type]


def _stored(session: Session) -> list[tuple[object, ...]]:
    rows = session.scalars(select(Receipt).order_by(Receipt.entry_ref, Receipt.tx_index)).all()
    return [
        (
            r.source,
            r.status,
            r.bank_account,
            r.entry_ref,
            r.tx_index,
            r.amount,
            r.receipt_date,
            r.value_date,
            r.payer_name,
            r.payer_iban,
            r.end_to_end_id,
            json.loads(r.remittance),
            json.loads(r.references),
            r.bank_tx_code,
            r.created_at.replace(tzinfo=None),
        )
        for r in rows
    ]


def test_bulk_rows_read_back_as_the_orm_writes_them(session: Session) -> None:
    created, known = receipts.record_many(
        session, [_input("A"), _input("B", 2, remittance=(), references=())]
    )
    assert (created, known) == (2, 0)
    receipts.record(session, _input("C"))  # the ORM path, for comparison
    session.expire_all()
    a, b, c = _stored(session)
    assert a[:3] == c[:3] and a[4:] == c[4:]  # everything but the entry reference
    assert a[5] == Money(Decimal("10.50"), "EUR")
    assert a[11] == ['Rechnung "1" vom 2024', "\u00e9t\u00e9"]
    assert (b[4], b[11], b[12]) == (2, [], [])
    assert a[14] == NOW.replace(tzinfo=None)


def test_known_keys_are_counted_not_inserted_again(session: Session) -> None:
    assert receipts.record_many(session, [_input("A"), _input("A"), _input("B")]) == (2, 1)
    assert receipts.record_many(session, [_input("A"), _input("C")]) == (1, 1)
    assert len(_stored(session)) == 3


def test_a_non_positive_amount_is_refused(session: Session) -> None:
    with pytest.raises(ValidationError, match="must be positive"):
        receipts.record_many(session, [_input("Z", amount="0")])


@given(st.lists(st.text(), max_size=4))
def test_json_strings_is_json_dumps(texts: list[str]) -> None:
    assert _json_strings(tuple(texts)) == json.dumps(texts)
