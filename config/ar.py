"""The receivables configuration: ledger accounts, calendar, profiles and payment terms,
AutoInvoice (grouping, numbering), and report settings.

Files of a configuration directory (each optional; a missing file means its defaults):

    ledger.yaml        GL accounts of every AR event; the GL export folder and format
    calendar.yaml      accounting periods and what happens when posting into a closed one
    profiles.yaml      payment terms and customer profiles (limits, tolerances, rule set, ...)
    autoinvoice.yaml   grouping rule, line ordering, numbering sequences, tax defaults
    reports.yaml       aging buckets

`config/example/` carries each of them with every key commented.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.models import CurrencyStr


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- ledger.yaml
class LedgerAccounts(_Strict):
    """GL account codes, one per role an AR event posts to."""

    #: The receivables control account: its balance equals the open items (the tie-out).
    receivables: str = "1200"
    revenue: str = "4000"
    tax: str = "2300"
    #: Default cash account; a bank account may name its own (banks/<id>.yaml gl_cash_account).
    cash: str = "1000"
    #: Receipts whose payer is known but not (fully) applied.
    unapplied: str = "2410"
    #: Receipts whose payer is not known.
    unidentified: str = "2420"
    #: Receipts applied on account (no invoice).
    on_account: str = "2430"
    #: Early-payment discounts taken.
    discounts: str = "4900"
    write_offs: str = "6900"
    refunds: str = "2440"
    late_charges: str = "4950"
    #: Direct debit: collected but not yet booked by the bank (remitted), then cleared.
    remittance: str = "1210"
    clearing: str = "1220"


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


class LedgerConfig(_Strict):
    """ledger.yaml."""

    accounts: LedgerAccounts = LedgerAccounts()
    #: Where `arbridge gl export` writes its files, relative to the spool folder.
    export_folder: Path = Path("out/gl")
    export_format: ExportFormat = ExportFormat.CSV

    @field_validator("export_folder")
    @classmethod
    def _relative(cls, value: Path) -> Path:
        if value.is_absolute() or ".." in value.parts:
            raise ValueError("must be a relative path inside the spool folder")
        return value


# --------------------------------------------------------------------------- calendar.yaml
class CalendarType(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


_PERIOD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,19}$")


class ExplicitPeriod(_Strict):
    name: str
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> ExplicitPeriod:
        if not _PERIOD_NAME.match(self.name):
            raise ValueError(f"period name {self.name!r}: letters, digits, - _ . (at most 20)")
        if self.end < self.start:
            raise ValueError(f"period {self.name} ends before it starts")
        return self


class CalendarConfig(_Strict):
    """calendar.yaml: the accounting calendar.

    Periods are named "2026-11" (monthly) or "2026-Q4" (quarterly) unless listed
    explicitly under `periods`, which then must cover every date posted to.
    """

    type: CalendarType = CalendarType.MONTHLY
    #: Explicit periods (e.g. a 4-4-5 calendar); when given, `type` is not used.
    periods: list[ExplicitPeriod] = Field(default_factory=list)
    #: Posting into a closed (or close-pending) period moves the journal to the next open
    #: period (recorded in the journal's description) instead of refusing it.
    post_to_next_open_period: bool = False
    #: The state of a period created on first use: "open", or "future" (then it must be
    #: opened with `arbridge period open` before anything posts into it).
    new_period_state: Literal["open", "future"] = "open"

    @model_validator(mode="after")
    def _no_overlap(self) -> CalendarConfig:
        ordered = sorted(self.periods, key=lambda p: p.start)
        names: set[str] = set()
        for before, after in itertools.pairwise(ordered):
            if after.start <= before.end:
                raise ValueError(f"periods {before.name} and {after.name} overlap")
        for period in ordered:
            if period.name in names:
                raise ValueError(f"period {period.name} is listed twice")
            names.add(period.name)
        return self


# --------------------------------------------------------------------------- profiles.yaml
def _decimal_text(value: object) -> Decimal:
    if isinstance(value, float):
        # YAML 2.5 is a float: refuse it rather than carry binary noise into money.
        raise ValueError("write amounts and percentages as quoted strings, e.g. '2.5'")
    try:
        return Decimal(str(value))
    except Exception:
        raise ValueError(f"not a number: {value!r}") from None


class Discount(_Strict):
    """An early-payment discount: `percent` off when paid within `days` of the transaction date."""

    days: int = Field(ge=0)
    percent: Decimal

    @field_validator("percent", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        return _decimal_text(value)

    @field_validator("percent")
    @classmethod
    def _range(cls, value: Decimal) -> Decimal:
        if not Decimal(0) < value < Decimal(100):
            raise ValueError("a discount percent is between 0 and 100")
        return value


class Installment(_Strict):
    #: Due this many days after the transaction date.
    days: int = Field(ge=0)
    #: Share of the transaction total; the installments of a term add up to 100.
    percent: Decimal = Decimal(100)
    discounts: list[Discount] = Field(default_factory=list)

    @field_validator("percent", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        return _decimal_text(value)


class PaymentTerm(_Strict):
    description: str = ""
    installments: list[Installment] = Field(min_length=1)

    @model_validator(mode="after")
    def _hundred(self) -> PaymentTerm:
        total = sum((i.percent for i in self.installments), Decimal(0))
        if total != Decimal(100):
            raise ValueError(f"installment percentages add up to {total}, not 100")
        if any(i.percent <= 0 for i in self.installments):
            raise ValueError("every installment percent is positive")
        for inst in self.installments:
            for d in inst.discounts:
                if d.days > inst.days:
                    raise ValueError(f"a discount period ({d.days} days) ends after its due date")
        return self


class Tolerances(_Strict):
    """How far a receipt may differ from the open item and still close it."""

    amount: Decimal = Decimal(0)
    percent: Decimal = Decimal(0)

    @field_validator("amount", "percent", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        return _decimal_text(value)


class OpenBalance(_Strict):
    """What counts in a customer's open balance (credit checks, statements, dunning)."""

    include_disputed: bool = True
    include_late_charges: bool = True
    #: When true, discounts still available are deducted from the open balance.
    deduct_available_discounts: bool = False


class Profile(_Strict):
    payment_terms: str = "NET30"
    #: In the company currency; None: no limit.
    credit_limit: Decimal | None = None
    tolerances: Tolerances = Tolerances()
    #: Largest remaining amount a user may write off without an approver.
    write_off_limit: Decimal = Decimal(0)
    #: The name of the matching (AutoCash) rule set used for this customer's receipts.
    matching_rule_set: str = "default"
    statement_cycle: Literal["weekly", "monthly", "quarterly", "none"] = "monthly"
    open_balance: OpenBalance = OpenBalance()

    @field_validator("credit_limit", "write_off_limit", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal | None:
        return None if value is None else _decimal_text(value)


_DEFAULT_TERMS = {"NET30": PaymentTerm(description="net 30 days", installments=[Installment(days=30)])}


class ProfilesConfig(_Strict):
    """profiles.yaml: payment terms by name, and customer profiles by name ("default" always exists)."""

    payment_terms: dict[str, PaymentTerm] = Field(default_factory=lambda: dict(_DEFAULT_TERMS))
    profiles: dict[str, Profile] = Field(default_factory=lambda: {"default": Profile()})

    @model_validator(mode="after")
    def _references(self) -> ProfilesConfig:
        if "default" not in self.profiles:
            raise ValueError("a profile named 'default' is required (customers without one get it)")
        for name, profile in self.profiles.items():
            if profile.payment_terms not in self.payment_terms:
                raise ValueError(f"profile {name}: payment_terms {profile.payment_terms!r} is not defined")
        return self


# --------------------------------------------------------------------------- autoinvoice.yaml
GroupField = Literal["customer_number", "currency", "order_number", "trx_date", "trx_type"]
OrderField = Literal["source_ref", "description", "order_number", "trx_date"]


class NumberSequence(_Strict):
    """A gap-free numbering sequence: prefix + zero-padded number (INV-000001)."""

    prefix: str = ""
    width: int = Field(default=6, ge=1, le=20)
    start: int = Field(default=1, ge=0)

    def format(self, value: int) -> str:
        return f"{self.prefix}{value:0{self.width}d}"


class CreditMethod(StrEnum):
    """Which installments of an invoice a credit memo reduces first (Oracle's credit method)."""

    LIFO = "lifo"
    FIFO = "fifo"


def _default_grouping() -> list[GroupField]:
    return ["customer_number", "currency", "order_number"]


def _default_sequences() -> dict[str, NumberSequence]:
    return {t: NumberSequence(prefix=f"{t}-") for t in ("INV", "DM", "CM")}


class AutoInvoiceConfig(_Strict):
    """autoinvoice.yaml: how fulfilment lines become transactions."""

    #: Lines with the same values of these fields form one transaction (the type and the
    #: credited transaction always separate). A line's explicit trx_number wins over this.
    grouping: list[GroupField] = Field(default_factory=_default_grouping)
    #: Order of the lines inside a transaction; empty: the order of the file.
    line_order: list[OrderField] = Field(default_factory=list)
    #: Numbering sequences per transaction type.
    sequences: dict[str, NumberSequence] = Field(default_factory=_default_sequences)
    #: Tax rate (percent) of a line that gives none.
    default_tax_rate: Decimal = Decimal(0)
    default_currency: CurrencyStr | None = None
    credit_method: CreditMethod = CreditMethod.LIFO
    #: Transactions written per database batch (memory vs speed).
    batch_size: int = Field(default=5000, ge=1, le=100_000)

    @field_validator("default_tax_rate", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        return _decimal_text(value)

    def sequence(self, trx_type: str) -> NumberSequence:
        return self.sequences.get(trx_type) or NumberSequence(prefix=f"{trx_type}-")

    @field_validator("sequences")
    @classmethod
    def _types(cls, value: dict[str, NumberSequence]) -> dict[str, NumberSequence]:
        unknown = sorted(set(value) - {"INV", "DM", "CM"})
        if unknown:
            raise ValueError(f"sequences are per transaction type INV, DM, CM; not {', '.join(unknown)}")
        return value


# --------------------------------------------------------------------------- reports.yaml
class AgingBucket(_Strict):
    name: str
    #: Days past due, inclusive; None: no bound. "current" is up to 0 days past due.
    from_days: int | None = None
    to_days: int | None = None


_DEFAULT_BUCKETS = [
    AgingBucket(name="current", to_days=0),
    AgingBucket(name="1-30", from_days=1, to_days=30),
    AgingBucket(name="31-60", from_days=31, to_days=60),
    AgingBucket(name="61-90", from_days=61, to_days=90),
    AgingBucket(name="91+", from_days=91),
]


class ReportsConfig(_Strict):
    """reports.yaml."""

    aging_buckets: list[AgingBucket] = Field(default_factory=lambda: list(_DEFAULT_BUCKETS), min_length=1)

    @model_validator(mode="after")
    def _contiguous(self) -> ReportsConfig:
        buckets = self.aging_buckets
        if buckets[0].from_days is not None:
            raise ValueError("the first aging bucket has no from_days (it takes everything not yet due)")
        if buckets[-1].to_days is not None:
            raise ValueError("the last aging bucket has no to_days")
        for a, b in itertools.pairwise(buckets):
            if a.to_days is None or b.from_days != a.to_days + 1:
                raise ValueError(f"aging buckets {a.name} and {b.name} are not contiguous")
        return self

    def bucket(self, days_past_due: int) -> str:
        for b in self.aging_buckets:
            if b.to_days is None or days_past_due <= b.to_days:
                return b.name
        return self.aging_buckets[-1].name  # pragma: no cover - the last bucket is unbounded


# --------------------------------------------------------------------------- all of them
class ArConfig(_Strict):
    """The receivables configuration, one model per file."""

    ledger: LedgerConfig = LedgerConfig()
    calendar: CalendarConfig = CalendarConfig()
    profiles: ProfilesConfig = ProfilesConfig()
    autoinvoice: AutoInvoiceConfig = AutoInvoiceConfig()
    reports: ReportsConfig = ReportsConfig()


#: file name -> field of ArConfig
AR_FILES: Mapping[str, str] = {
    "ledger.yaml": "ledger",
    "calendar.yaml": "calendar",
    "profiles.yaml": "profiles",
    "autoinvoice.yaml": "autoinvoice",
    "reports.yaml": "reports",
}
