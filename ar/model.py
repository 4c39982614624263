"""The receivables subledger's tables: customers, transactions and their open items, the ledger.

Amounts are integer minor units (`*_minor`) with the CHAR(3) currency beside them; the
exponent comes from ar.money. Quantities, unit prices and rates are exact decimal strings
(they are not money and may carry more decimals than a currency).

Open items are payment schedules, as in Oracle Receivables: one row per installment of
an invoice, debit memo or credit memo, carrying what is still due. Matching, disputes,
adjustments and direct debit all work on them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ar.db import Base


class TrxType(StrEnum):
    INVOICE = "INV"
    DEBIT_MEMO = "DM"
    CREDIT_MEMO = "CM"


class ScheduleStatus(StrEnum):
    OPEN = "OP"
    CLOSED = "CL"


class PeriodState(StrEnum):
    FUTURE = "future"
    OPEN = "open"
    CLOSE_PENDING = "close_pending"
    CLOSED = "closed"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(240))
    customer_class: Mapped[str] = mapped_column(String(40))
    #: Name of a profile in profiles.yaml (terms, limits, tolerances, rule set).
    profile: Mapped[str] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(2))
    gln: Mapped[str | None] = mapped_column(String(13))
    email: Mapped[str | None] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CustomerRelationship(Base):
    """`payer` may pay `customer`'s items; both ways when reciprocal."""

    __tablename__ = "customer_relationships"
    __table_args__ = (
        UniqueConstraint("payer_id", "customer_id"),
        CheckConstraint("payer_id <> customer_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    reciprocal: Mapped[bool] = mapped_column(Boolean, default=False)


class CustomerBankAccount(Base):
    """An IBAN that identifies the customer as payer on a bank statement."""

    __tablename__ = "customer_bank_accounts"
    __table_args__ = (UniqueConstraint("customer_id", "iban"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    #: Normalised: compact, upper case, checksum validated.
    iban: Mapped[str] = mapped_column(String(34), index=True)
    bic: Mapped[str | None] = mapped_column(String(11))


class Mandate(Base):
    """A SEPA direct-debit mandate (used by the direct-debit batches)."""

    __tablename__ = "mandates"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    #: MndtId: unique per creditor.
    mandate_id: Mapped[str] = mapped_column(String(35), unique=True)
    signed_on: Mapped[date] = mapped_column(Date)
    iban: Mapped[str] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    #: FRST until first collected, then RCUR; "revoked" ends it.
    status: Mapped[str] = mapped_column(String(12), default="active")
    sequence_type: Mapped[str] = mapped_column(String(4), default="FRST")


class Transaction(Base):
    """An invoice, debit memo or credit memo."""

    __tablename__ = "transactions"
    __table_args__ = (UniqueConstraint("trx_type", "trx_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trx_type: Mapped[str] = mapped_column(String(3))
    trx_number: Mapped[str] = mapped_column(String(40), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    trx_date: Mapped[date] = mapped_column(Date)
    #: Accounting date: the period it posts to.
    gl_date: Mapped[date] = mapped_column(Date)
    order_number: Mapped[str | None] = mapped_column(String(40))
    payment_term: Mapped[str | None] = mapped_column(String(40))
    #: For a credit memo: the transaction it credits (None: on-account credit).
    credited_trx_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    net_minor: Mapped[int]
    tax_minor: Mapped[int]
    total_minor: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TransactionLine(Base):
    __tablename__ = "transaction_lines"
    __table_args__ = (UniqueConstraint("transaction_id", "line_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"), index=True)
    line_number: Mapped[int] = mapped_column(Integer)
    #: The fulfilment line it came from: unique, so a line is never imported twice.
    source_ref: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(String(240))
    quantity: Mapped[str] = mapped_column(String(40))
    unit_price: Mapped[str] = mapped_column(String(40))
    tax_rate: Mapped[str] = mapped_column(String(12))
    net_minor: Mapped[int]
    tax_minor: Mapped[int]


class PaymentSchedule(Base):
    """An open item: one installment of a transaction and what remains due on it."""

    __tablename__ = "payment_schedules"
    __table_args__ = (
        UniqueConstraint("transaction_id", "installment"),
        Index("ix_payment_schedules_open_by_customer", "customer_id", "status", "due_date"),
        # Cash application: open items of any customer with exactly a receipt's amount.
        Index("ix_payment_schedules_open_by_amount", "currency", "amount_due_remaining_minor", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"), index=True)
    installment: Mapped[int] = mapped_column(Integer, default=1)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    trx_type: Mapped[str] = mapped_column(String(3))
    trx_number: Mapped[str] = mapped_column(String(40), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    trx_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    amount_due_original_minor: Mapped[int]
    amount_due_remaining_minor: Mapped[int]
    amount_in_dispute_minor: Mapped[int] = mapped_column(default=0)
    #: JSON list of early-payment discounts: [{"days": 10, "percent": "2"}].
    discounts: Mapped[str] = mapped_column(Text, default="[]")
    status: Mapped[str] = mapped_column(String(2), default=ScheduleStatus.OPEN.value)
    closed_on: Mapped[date | None] = mapped_column(Date)


class Period(Base):
    __tablename__ = "periods"

    #: "2026-11" for the monthly calendar.
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    start_date: Mapped[date] = mapped_column(Date, unique=True)
    end_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(20))
    #: Next journal number: journal numbers are gap-free within a period.
    next_journal_number: Mapped[int] = mapped_column(Integer, default=1)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(120))


class Journal(Base):
    """A balanced double-entry journal. Never updated or deleted once posted (triggers refuse it)."""

    __tablename__ = "journals"
    __table_args__ = (
        UniqueConstraint("period", "number"),
        Index("ix_journals_source", "source_type", "source_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(ForeignKey("periods.name"))
    number: Mapped[int] = mapped_column(Integer)
    accounting_date: Mapped[date] = mapped_column(Date)
    #: The AR event: invoice, credit_memo, receipt, application, adjustment, ...
    event: Mapped[str] = mapped_column(String(40))
    source_type: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(240))
    currency: Mapped[str] = mapped_column(String(3))
    reversal_of_id: Mapped[int | None] = mapped_column(ForeignKey("journals.id"))
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    posted_by: Mapped[str] = mapped_column(String(120))


class JournalLine(Base):
    __tablename__ = "journal_lines"
    __table_args__ = (
        UniqueConstraint("journal_id", "line_number"),
        CheckConstraint("debit_minor >= 0 AND credit_minor >= 0", name="non_negative"),
        CheckConstraint("(debit_minor = 0) <> (credit_minor = 0)", name="one_side"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    journal_id: Mapped[int] = mapped_column(ForeignKey("journals.id"), index=True)
    line_number: Mapped[int] = mapped_column(Integer)
    account: Mapped[str] = mapped_column(String(40), index=True)
    debit_minor: Mapped[int] = mapped_column(default=0)
    credit_minor: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    #: The open item the line moves (receivables lines), for the subledger tie-out.
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("payment_schedules.id"), index=True)


class NumberSequence(Base):
    """The next value of a gap-free numbering sequence (INV, DM, CM); prefix and width are configuration."""

    __tablename__ = "number_sequences"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    next_value: Mapped[int]


class GlExport(Base):
    """Which journal went into which GL export file: a journal is exported exactly once."""

    __tablename__ = "gl_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    journal_id: Mapped[int] = mapped_column(ForeignKey("journals.id"), unique=True)
    period: Mapped[str] = mapped_column(ForeignKey("periods.name"), index=True)
    #: The file name (inside ledger.yaml's export_folder).
    file_name: Mapped[str] = mapped_column(String(200), index=True)
    exported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    exported_by: Mapped[str] = mapped_column(String(120))
