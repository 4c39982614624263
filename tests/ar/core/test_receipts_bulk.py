"""Bulk recording of statement receipts: the driver-level insert stores what the ORM would (both backends)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ar import bulkrows, receipts
from ar.audit import AuditEvent
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


def _rows_of(session: Session, inputs: list[ReceiptInput]) -> receipts.NewReceiptRows:
    """The same receipts through the ingest path: NewReceipts, the rows in the driver's form."""
    made = receipts.NewReceipts(session.get_bind().dialect, file_id=None, created_at=NOW)
    for data in inputs:
        made.add(
            data.bank_account,
            data.entry_ref,
            data.tx_index,
            data.amount.minor_units,
            data.amount.currency,
            data.receipt_date,
            data.value_date,
            data.payer_name,
            data.payer_iban,
            data.end_to_end_id,
            data.remittance,
            data.references,
            data.bank_tx_code,
        )
    return made.take()


VARIANTS = [
    {},
    {"value_date": None, "payer_name": None, "payer_iban": None, "end_to_end_id": None, "bank_tx_code": None},
    {"remittance": (), "references": ()},
    {
        "remittance": ("line 1", "line \u00e9 2", 'quote " and \\ back'),
        "references": ("RF18539007547034", "X"),
    },
    {"amount": Money.of("1234567", "JPY")},
    {"amount": Money.of("0.001", "BHD"), "tx_index": 3},
    {"receipt_date": date(2024, 2, 29), "value_date": date(2024, 3, 1)},
]


def test_ingest_rows_are_stored_as_record_many_stores_them(session: Session) -> None:
    """Each variant once through record_many (reference M..) and once through NewReceipts (N..)."""
    variants = [_input(f"{i:02d}") for i in range(len(VARIANTS))]
    variants = [replace(data, **extra) for data, extra in zip(variants, VARIANTS, strict=True)]
    by_many = [replace(data, entry_ref="M" + data.entry_ref) for data in variants]
    by_rows = [replace(data, entry_ref="N" + data.entry_ref) for data in variants]
    assert receipts.record_many(session, by_many) == (len(VARIANTS), 0)
    assert receipts.record_rows(session, _rows_of(session, by_rows)) == (len(VARIANTS), 0)
    session.expire_all()
    stored = _stored(session)
    many = [row for row in stored if str(row[3]).startswith("M")]
    rows = [row for row in stored if str(row[3]).startswith("N")]
    assert len(many) == len(rows) == len(VARIANTS)
    for one, other in zip(many, rows, strict=True):
        assert one[:3] + one[4:] == other[:3] + other[4:]
    assert rows[4][5] == Money.of("1234567", "JPY") and rows[5][5] == Money.of("0.001", "BHD")
    assert rows[3][11] == ["line 1", "line \u00e9 2", 'quote " and \\ back']


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (["A", "B"], ["A", "B"], [(2, 0), (0, 2)]),  # a statement ingested again: nothing new
        (["A", "A", "B"], ["B", "C", "C"], [(2, 1), (1, 2)]),  # repeated within a batch: counted as known
        ([f"R{i}" for i in range(1203)], [f"R{i}" for i in range(1200, 1210)], [(1203, 0), (7, 3)]),
    ],
)
def test_ingest_rows_are_idempotent_and_counted(
    session: Session, first: list[str], second: list[str], expected: list[tuple[int, int]]
) -> None:
    """Batches over 500 rows take several INSERTs; the counts are the database's, over all of them."""
    counts = [
        receipts.record_rows(session, _rows_of(session, [_input(ref) for ref in refs]))
        for refs in (first, second)
    ]
    assert counts == expected
    assert session.scalar(select(func.count()).select_from(Receipt)) == len(set(first) | set(second))


def test_an_ingest_batch_is_audited_once(session: Session) -> None:
    receipts.record_rows(session, _rows_of(session, [_input("A"), _input("B")]))
    receipts.record_rows(session, _rows_of(session, [_input("A")]))  # nothing new: no event
    events = session.scalars(select(AuditEvent).where(AuditEvent.entity == "receipt")).all()
    assert [(e.entity_id, json.loads(e.details)) for e in events] == [
        ("A", {"first_entry_ref": "A", "receipts": 2})
    ]


@pytest.mark.parametrize("amount", ["0", "0.00"])
def test_a_non_positive_ingest_amount_is_refused(session: Session, amount: str) -> None:
    made = receipts.NewReceipts(session.get_bind().dialect, file_id=None, created_at=NOW)
    with pytest.raises(ValidationError, match=r"must be positive, not 0\.00 EUR"):
        made.add(
            "DE89370400440532013000",
            "Z",
            0,
            Money.of(amount, "EUR").minor_units,
            "EUR",
            date(2026, 11, 19),
            None,
            None,
            None,
            None,
            (),
            (),
            None,
        )
    assert len(made) == 0


def test_insert_values_refuses_a_row_of_the_wrong_width(session: Session) -> None:
    with pytest.raises(ValueError, match="every row needs 2 values"):
        bulkrows.insert_values(session, Receipt, ("entry_ref", "tx_index"), [("A", 0), ("B",), ("C", 0, 1)])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_sqlite_with_the_old_parameter_limit_gets_smaller_statements(session: Session) -> None:
    """SQLite before 3.32 allows 999 parameters per statement: 58 receipts' rows, not 500."""
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    before = driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    try:
        first = [_input(f"R{i}") for i in range(130)]  # 2,210 parameters in all
        assert receipts.record_rows(session, _rows_of(session, first)) == (130, 0)
        assert receipts.record_rows(session, _rows_of(session, first[-70:])) == (0, 70)
    finally:
        driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)
