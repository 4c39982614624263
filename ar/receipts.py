"""Receipts: money received, from a bank statement, entered by hand, or collected by direct debit.

A statement credit becomes exactly one receipt per transaction, unique on
(bank account, entry reference, transaction index): recording the same entry twice
returns the existing receipt and creates nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, Session, mapped_column

from ar import audit, bulkrows
from ar.db import Base
from ar.errors import DuplicateError, ValidationError
from ar.money import Money


class ReceiptSource(StrEnum):
    STATEMENT = "statement"
    MANUAL = "manual"
    DIRECT_DEBIT = "direct_debit"


class ReceiptStatus(StrEnum):
    #: Nothing applied yet and the payer unknown.
    UNIDENTIFIED = "unidentified"
    #: Payer known, (part of) the amount not applied.
    UNAPPLIED = "unapplied"
    #: The whole amount applied, on account or written off.
    APPLIED = "applied"
    REVERSED = "reversed"


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("bank_account", "entry_ref", "tx_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    #: IBAN of our account the money arrived on.
    bank_account: Mapped[str] = mapped_column(String(34))
    #: AcctSvcrRef, else NtryRef, else a fingerprint of the entry ("fp:" + hex).
    entry_ref: Mapped[str] = mapped_column(String(140))
    #: Position of the transaction inside its entry (0 for a single-transaction entry).
    tx_index: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    receipt_date: Mapped[date] = mapped_column(Date, index=True)
    value_date: Mapped[date | None] = mapped_column(Date)
    payer_name: Mapped[str | None] = mapped_column(String(140))
    payer_iban: Mapped[str | None] = mapped_column(String(34), index=True)
    end_to_end_id: Mapped[str | None] = mapped_column(String(140))
    #: JSON list of the Ustrd lines.
    remittance: Mapped[str] = mapped_column(Text, default="[]")
    #: JSON list of the structured creditor references.
    references: Mapped[str] = mapped_column(Text, default="[]")
    bank_tx_code: Mapped[str | None] = mapped_column(String(40))
    #: The inbound file it came from (gateway registry id), when from a file.
    file_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_files.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: How the payer was identified: "iban", "reference", "name", "manual", ... (None: unknown).
    identified_by: Mapped[str | None] = mapped_column(String(20))
    #: Why the receipt was reversed: a direct-debit return code (AM04, MD06, ...) or a user's code.
    reversal_reason: Mapped[str | None] = mapped_column(String(40))
    reversal_date: Mapped[date | None] = mapped_column(Date)
    reversed_by: Mapped[str | None] = mapped_column(String(120))

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, self.currency)


@dataclass(frozen=True, slots=True)
class ReceiptInput:
    """What the gateway knows of a received payment; the AR core knows nothing of camt."""

    bank_account: str
    entry_ref: str
    tx_index: int
    amount: Money
    receipt_date: date
    created_at: datetime
    value_date: date | None = None
    payer_name: str | None = None
    payer_iban: str | None = None
    end_to_end_id: str | None = None
    remittance: tuple[str, ...] = field(default_factory=tuple)
    references: tuple[str, ...] = field(default_factory=tuple)
    bank_tx_code: str | None = None
    file_id: int | None = None
    source: ReceiptSource = ReceiptSource.STATEMENT


def find(session: Session, bank_account: str, entry_ref: str, tx_index: int) -> Receipt | None:
    return session.scalars(
        select(Receipt).where(
            Receipt.bank_account == bank_account, Receipt.entry_ref == entry_ref, Receipt.tx_index == tx_index
        )
    ).one_or_none()


def record(session: Session, data: ReceiptInput, *, actor: str = "system") -> tuple[Receipt, bool]:
    """Record a receipt; returns (receipt, created). An existing one is returned unchanged."""
    _check_amount(data)
    existing = find(session, data.bank_account, data.entry_ref, data.tx_index)
    if existing is not None:
        return existing, False
    receipt = Receipt(**_as_row(data))
    session.add(receipt)
    session.flush()
    audit.record(
        session,
        actor=actor,
        entity="receipt",
        entity_id=receipt.id,
        action="recorded",
        details={"amount": str(data.amount), "entry_ref": data.entry_ref},
        at=data.created_at,
    )
    return receipt, True


#: The bank account of a manual receipt entered without one (cash, cheque in the drawer).
MANUAL_ACCOUNT = "MANUAL"


def record_manual(
    session: Session,
    *,
    customer_id: int,
    amount: Money,
    receipt_date: date,
    now: datetime,
    actor: str,
    reference: str | None = None,
    bank_account: str | None = None,
) -> Receipt:
    """Record a receipt entered by hand for a known customer (a cheque, a transfer seen elsewhere).

    Unique like a statement receipt on (bank account, reference): the same reference twice
    on one account is a DuplicateError, not a second receipt. Without a reference one is
    made from the receipt's id. Post it with `ar.applications.post_receipt`.
    """
    account = bank_account or MANUAL_ACCOUNT
    if reference is not None:
        if not reference.strip():
            raise ValidationError("a manual receipt's reference cannot be blank")
        existing = find(session, account, reference, 0)
        if existing is not None:
            raise DuplicateError(
                f"a receipt with reference {reference!r} on {account} exists already (receipt {existing.id})"
            )
    # A placeholder reference unique to this transaction until the id is known.
    placeholder = f"manual:{now.isoformat()}:{id(session)}"
    receipt, created = record(
        session,
        ReceiptInput(
            bank_account=account,
            entry_ref=reference or placeholder,
            tx_index=0,
            amount=amount,
            receipt_date=receipt_date,
            created_at=now,
            source=ReceiptSource.MANUAL,
        ),
        actor=actor,
    )
    if not created:  # pragma: no cover - the reference was checked just above, in this transaction
        raise DuplicateError(f"receipt {receipt.id} exists already")
    if reference is None:
        receipt.entry_ref = f"MAN-{receipt.id:06d}"
    receipt.customer_id = customer_id
    receipt.identified_by = "manual"
    receipt.status = ReceiptStatus.UNAPPLIED.value
    session.flush()
    return receipt


def _check_amount(data: ReceiptInput) -> None:
    if data.amount.amount <= 0:
        raise ValidationError(f"a receipt amount must be positive, not {data.amount}")


#: The columns a new receipt is written with, in the order of _values().
_COLUMNS = (
    "source",
    "status",
    "bank_account",
    "entry_ref",
    "tx_index",
    "amount_minor",
    "currency",
    "receipt_date",
    "value_date",
    "payer_name",
    "payer_iban",
    "end_to_end_id",
    "remittance",
    "references",
    "bank_tx_code",
    "file_id",
    "created_at",
)
_ENCODE_STRING = json.encoder.encode_basestring_ascii


def _json_strings(texts: tuple[str, ...]) -> str:
    """``json.dumps(list(texts))`` for a tuple of strings, without the encoder's set-up per call."""
    if not texts:
        return "[]"
    if len(texts) == 1:
        return "[" + _ENCODE_STRING(texts[0]) + "]"
    return "[" + ", ".join(map(_ENCODE_STRING, texts)) + "]"


_SOURCE_VALUES = {source: source.value for source in ReceiptSource}  # a lookup: faster than .value
_UNIDENTIFIED = ReceiptStatus.UNIDENTIFIED.value


def _values(data: ReceiptInput) -> tuple[object, ...]:
    """A new receipt's column values, in the order of _COLUMNS."""
    _check_amount(data)
    amount = data.amount
    return (
        _SOURCE_VALUES[data.source],
        _UNIDENTIFIED,
        data.bank_account,
        data.entry_ref,
        data.tx_index,
        amount.minor_units,
        amount.currency,
        data.receipt_date,
        data.value_date,
        data.payer_name,
        data.payer_iban,
        data.end_to_end_id,
        _json_strings(data.remittance),
        _json_strings(data.references),
        data.bank_tx_code,
        data.file_id,
        data.created_at,
    )


def _as_row(data: ReceiptInput) -> dict[str, object]:
    return dict(zip(_COLUMNS, _values(data), strict=True))


_ENTRY_REF = _COLUMNS.index("entry_ref")


def record_many(session: Session, batch: Sequence[ReceiptInput], *, actor: str = "system") -> tuple[int, int]:
    """Record a batch of receipts at once; returns (created, already known).

    The bulk form of `record`: multi-row INSERTs with ON CONFLICT DO NOTHING on the unique
    key, so a receipt known already (from an earlier import of the statement, earlier in the
    batch, or inserted meanwhile by another worker) is skipped by the database; the row
    count tells how many were new. One audit event covers the batch (the file's own audit
    event names the file). Statement ingest builds its rows with `NewReceipts` instead.
    """
    if not batch:
        return 0, 0
    connection = session.connection()
    rows = bulkrows.to_driver(connection, Receipt, _COLUMNS, [_values(data) for data in batch])
    first = batch[0]
    return _insert_new(session, rows, file_id=first.file_id, created_at=first.created_at, actor=actor)


@dataclass(frozen=True, slots=True)
class NewReceiptRows:
    """A batch of `NewReceipts`: the INSERT's rows, in the order of _COLUMNS, as the driver takes them."""

    rows: list[tuple[Any, ...]]
    file_id: int | None
    created_at: datetime


class NewReceipts:
    """Statement receipts of one file, gathered as the rows of their INSERT (for `record_rows`).

    Ingest makes one receipt per credit transaction, over a million for a large statement.
    Each becomes one tuple of column values in the driver's own form, with no `ReceiptInput`
    or `Money` in between: the file's id and clock are the same for all its receipts (the
    timestamp converted once), and each distinct date is converted once by its column's
    bind processor (exactly what SQLAlchemy would store). The amount comes as minor units
    (`ar.money.minor_units` checks it as `Money` would).
    """

    def __init__(self, dialect: Dialect, *, file_id: int | None, created_at: datetime) -> None:
        table = Receipt.__table__
        self._file_id = file_id
        self._created_at = created_at
        self._dates = _Converted(bulkrows.bind_processor(dialect, table.c.receipt_date))
        stored_at = bulkrows.bind_processor(dialect, table.c.created_at)
        self._stored_at = stored_at(created_at) if stored_at is not None else created_at
        self._source = ReceiptSource.STATEMENT.value
        self._rows: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self._rows)

    def add(
        self,
        bank_account: str,
        entry_ref: str,
        tx_index: int,
        amount_minor: int,
        currency: str,
        receipt_date: date,
        value_date: date | None,
        payer_name: str | None,
        payer_iban: str | None,
        end_to_end_id: str | None,
        remittance: tuple[str, ...],
        references: tuple[str, ...],
        bank_tx_code: str | None,
    ) -> None:
        """One new receipt; a non-positive amount is a ValidationError, as in `record`."""
        if amount_minor <= 0:
            raise ValidationError(
                f"a receipt amount must be positive, not {Money.from_minor(amount_minor, currency)}"
            )
        dates = self._dates
        self._rows.append(
            (
                self._source,
                _UNIDENTIFIED,
                bank_account,
                entry_ref,
                tx_index,
                amount_minor,
                currency,
                dates[receipt_date],
                dates[value_date],
                payer_name,
                payer_iban,
                end_to_end_id,
                _json_strings(remittance),
                _json_strings(references),
                bank_tx_code,
                self._file_id,
                self._stored_at,
            )
        )

    def take(self) -> NewReceiptRows:
        """The rows gathered since the last call, as one batch; gathering starts afresh."""
        rows, self._rows = self._rows, []
        return NewReceiptRows(rows, self._file_id, self._created_at)


def record_rows(session: Session, batch: NewReceiptRows, *, actor: str = "system") -> tuple[int, int]:
    """Record a batch of `NewReceipts`; returns (created, already known), as `record_many` does."""
    if not batch.rows:
        return 0, 0
    return _insert_new(session, batch.rows, file_id=batch.file_id, created_at=batch.created_at, actor=actor)


def _insert_new(
    session: Session,
    rows: Sequence[Sequence[Any]],
    *,
    file_id: int | None,
    created_at: datetime,
    actor: str,
) -> tuple[int, int]:
    created = bulkrows.insert_values(
        session, Receipt, _COLUMNS, rows, on_conflict_do_nothing=("bank_account", "entry_ref", "tx_index")
    )
    if created:
        first_ref = rows[0][_ENTRY_REF]
        audit.record(
            session,
            actor=actor,
            entity="receipt",
            entity_id=f"file:{file_id}" if file_id is not None else first_ref,
            action="recorded",
            details={"receipts": created, "first_entry_ref": first_ref},
            at=created_at,
        )
    return created, len(rows) - created


class _Converted(dict[Any, Any]):
    """Values as a bind processor converts them, each distinct one converted once (None stays None)."""

    def __init__(self, processor: Callable[[Any], Any] | None) -> None:
        super().__init__({None: None})
        self._processor = processor

    def __missing__(self, value: Any) -> Any:
        converted = self[value] = self._processor(value) if self._processor is not None else value
        return converted
