"""The matching engine's inputs and outputs: plain frozen records, no database.

Amounts are exact ``Decimal``s in the currency named on the record that carries
them (an open item's amounts are all in ``OpenItem.currency``, a receipt's in
``ReceiptFacts.currency``). Floats are refused when a record is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from ar.money import exponent

ZERO = Decimal(0)

JsonValue = str | int | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def rebuilt(record: Any) -> tuple[Any, ...]:
    """How a record pickles and copies: its class called with its fields. The default (an
    empty object, then the fields set one by one) cannot work on a frozen record compiled
    by mypyc (see gateway/compiled.py), so every record here says so itself."""
    return (type(record), tuple(getattr(record, f.name) for f in fields(record)))


class TrxType(StrEnum):
    INVOICE = "INV"
    DEBIT_MEMO = "DM"
    CREDIT_MEMO = "CM"


class Outcome(StrEnum):
    APPLIED = "APPLIED"  # the whole receipt is applied
    PARTIALLY_APPLIED = "PARTIALLY_APPLIED"  # some applied, the rest stays unapplied on the payer
    RECOMMENDED = "RECOMMENDED"  # nothing applied; ranked recommendations for a person
    UNAPPLIED = "UNAPPLIED"  # payer known, nothing found to apply to
    UNIDENTIFIED = "UNIDENTIFIED"  # payer unknown, nothing applied


class IdentifiedBy(StrEnum):
    IBAN = "iban"  # DbtrAcct/Id/IBAN is a known account of the customer
    REFERENCE = "reference"  # references in the remittance point to the customer's items
    NAME = "name"  # Dbtr/Nm resembles the customer's name: weak evidence only
    NONE = "none"


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-exponent(currency))


def _require_decimal(owner: str, name: str, value: object) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{owner}.{name} must be a Decimal, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class DiscountTier:
    """One step of an early-payment discount schedule ("2 % if paid within 10 days").

    The tier is earned when the receipt date is on or before ``trx_date + days``
    (or on or before ``until`` when given). Either ``percent`` of the original
    amount or a fixed ``amount`` is granted.
    """

    days: int
    percent: Decimal = ZERO
    amount: Decimal | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        _require_decimal("DiscountTier", "percent", self.percent)
        if self.amount is not None:
            _require_decimal("DiscountTier", "amount", self.amount)

    def last_day(self, trx_date: date) -> date:
        return self.until if self.until is not None else trx_date + timedelta(days=self.days)

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuilt(self)


@dataclass(frozen=True, slots=True, init=False)
class OpenItem:
    """An open debit or credit item (payment schedule) of a customer."""

    item_id: str
    trx_number: str
    customer_id: str
    currency: str
    amount_due_original: Decimal
    amount_due_remaining: Decimal  # negative for a credit memo
    trx_date: date
    due_date: date
    discounts: tuple[DiscountTier, ...] = ()
    payment_term: str = ""
    trx_type: TrxType = TrxType.INVOICE
    disputed_amount: Decimal = ZERO  # part of the remaining amount that is in dispute
    late_charges: Decimal = ZERO  # part of the remaining amount that is late charges
    references: tuple[str, ...] = ()  # other references the item is known by (RF creditor ref, order no.)

    def __init__(
        self,
        item_id: str,
        trx_number: str,
        customer_id: str,
        currency: str,
        amount_due_original: Decimal,
        amount_due_remaining: Decimal,
        trx_date: date,
        due_date: date,
        discounts: tuple[DiscountTier, ...] = (),
        payment_term: str = "",
        trx_type: TrxType = TrxType.INVOICE,
        disputed_amount: Decimal = ZERO,
        late_charges: Decimal = ZERO,
        references: tuple[str, ...] = (),
    ) -> None:
        # Written out (``init=False``): compiled by mypyc (ADR 4) this builds an item in a fifth
        # of the time of the generated one, which stays interpreted; an item is built for every
        # open item read. The defaults are the fields' (a test compares them).
        if type(amount_due_original) is not Decimal:
            _require_decimal("OpenItem", "amount_due_original", amount_due_original)
        if type(amount_due_remaining) is not Decimal:
            _require_decimal("OpenItem", "amount_due_remaining", amount_due_remaining)
        if type(disputed_amount) is not Decimal:
            _require_decimal("OpenItem", "disputed_amount", disputed_amount)
        if type(late_charges) is not Decimal:
            _require_decimal("OpenItem", "late_charges", late_charges)
        object.__setattr__(self, "item_id", item_id)
        object.__setattr__(self, "trx_number", trx_number)
        object.__setattr__(self, "customer_id", customer_id)
        object.__setattr__(self, "currency", currency)
        object.__setattr__(self, "amount_due_original", amount_due_original)
        object.__setattr__(self, "amount_due_remaining", amount_due_remaining)
        object.__setattr__(self, "trx_date", trx_date)
        object.__setattr__(self, "due_date", due_date)
        object.__setattr__(self, "discounts", discounts)
        object.__setattr__(self, "payment_term", payment_term)
        object.__setattr__(self, "trx_type", trx_type)
        object.__setattr__(self, "disputed_amount", disputed_amount)
        object.__setattr__(self, "late_charges", late_charges)
        object.__setattr__(self, "references", references)

    @property
    def is_credit(self) -> bool:
        return self.amount_due_remaining < 0

    def earned_discount(self, receipt_date: date, grace_days: int = 0) -> Decimal:
        """The best discount earned when paid in full on ``receipt_date``; zero when lapsed."""
        if self.is_credit or not self.discounts:
            return ZERO
        best = ZERO
        for tier in self.discounts:
            if receipt_date > tier.last_day(self.trx_date) + timedelta(days=grace_days):
                continue
            if tier.amount is not None:
                value = tier.amount
            else:
                value = (self.amount_due_original * tier.percent / 100).quantize(
                    quantum(self.currency), rounding=ROUND_HALF_UP
                )
            best = max(best, value)
        return min(best, self.amount_due_remaining)

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuilt(self)


@dataclass(frozen=True, slots=True, init=False)
class ReceiptFacts:
    """What the bank told us about one credit (a camt.053/054 transaction)."""

    receipt_id: str
    amount: Decimal  # TxDtls/Amt (or Ntry/Amt)
    currency: str
    receipt_date: date  # BookgDt/Dt
    debtor_iban: str | None = None  # RltdPties/DbtrAcct/Id/IBAN
    debtor_name: str | None = None  # RltdPties/Dbtr/Nm
    remittance_lines: tuple[str, ...] = ()  # RmtInf/Ustrd
    structured_references: tuple[str, ...] = ()  # RmtInf/Strd/CdtrRefInf/Ref
    end_to_end_id: str | None = None  # Refs/EndToEndId

    def __init__(
        self,
        receipt_id: str,
        amount: Decimal,
        currency: str,
        receipt_date: date,
        debtor_iban: str | None = None,
        debtor_name: str | None = None,
        remittance_lines: tuple[str, ...] = (),
        structured_references: tuple[str, ...] = (),
        end_to_end_id: str | None = None,
    ) -> None:
        # Written out (``init=False``), as ``OpenItem``'s: compiled, several times faster.
        if type(amount) is not Decimal:
            _require_decimal("ReceiptFacts", "amount", amount)
        object.__setattr__(self, "receipt_id", receipt_id)
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "currency", currency)
        object.__setattr__(self, "receipt_date", receipt_date)
        object.__setattr__(self, "debtor_iban", debtor_iban)
        object.__setattr__(self, "debtor_name", debtor_name)
        object.__setattr__(self, "remittance_lines", remittance_lines)
        object.__setattr__(self, "structured_references", structured_references)
        object.__setattr__(self, "end_to_end_id", end_to_end_id)

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuilt(self)


@dataclass(frozen=True, slots=True, init=False)
class CustomerFacts:
    """The master data of a customer that matching needs."""

    customer_id: str
    number: str
    name: str
    ibans: tuple[str, ...] = ()
    parent_id: str | None = None
    related_ids: tuple[str, ...] = ()  # children and other customers whose items it may pay
    profile: str = "default"  # the rule-set name of its customer profile

    def __init__(
        self,
        customer_id: str,
        number: str,
        name: str,
        ibans: tuple[str, ...] = (),
        parent_id: str | None = None,
        related_ids: tuple[str, ...] = (),
        profile: str = "default",
    ) -> None:
        # Written out (``init=False``), as ``OpenItem``'s: compiled, several times faster.
        object.__setattr__(self, "customer_id", customer_id)
        object.__setattr__(self, "number", number)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "ibans", ibans)
        object.__setattr__(self, "parent_id", parent_id)
        object.__setattr__(self, "related_ids", related_ids)
        object.__setattr__(self, "profile", profile)

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuilt(self)


@dataclass(frozen=True, slots=True, init=False)
class ProposedApplication:
    """Apply ``amount`` of the receipt to an item, and close ``discount`` and ``write_off`` with it.

    ``amount + discount + write_off`` never exceeds the item's remaining amount. For a
    credit memo consumed by the receipt (clearing an account), ``amount`` is negative.
    """

    item_id: str
    trx_number: str
    amount: Decimal
    discount: Decimal = ZERO
    write_off: Decimal = ZERO

    def __init__(
        self,
        item_id: str,
        trx_number: str,
        amount: Decimal,
        discount: Decimal = ZERO,
        write_off: Decimal = ZERO,
    ) -> None:
        # Written out (``init=False``), as ``OpenItem``'s: compiled, several times faster.
        object.__setattr__(self, "item_id", item_id)
        object.__setattr__(self, "trx_number", trx_number)
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "discount", discount)
        object.__setattr__(self, "write_off", write_off)

    def as_dict(self) -> dict[str, JsonValue]:
        return {
            "item_id": self.item_id,
            "trx_number": self.trx_number,
            "amount": str(self.amount),
            "discount": str(self.discount),
            "write_off": str(self.write_off),
        }

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuilt(self)


@dataclass(frozen=True, slots=True, init=False)
class Evidence:
    """Why the engine decided what it did: structured, JSON-able (``as_dict``)."""

    identified_by: IdentifiedBy
    customer_id: str | None = None
    references: tuple[str, ...] = ()  # the references found that point to the items
    amount_difference: Decimal = ZERO  # receipt minus what the items asked for (negative = short)
    name_similarity: int | None = None  # 0..100, weak evidence
    notes: tuple[str, ...] = ()  # short machine-readable facts: "discount_earned", "ties:2", ...
    components: tuple[tuple[str, int], ...] = ()  # score parts: ("customer", 100), ...

    def __init__(
        self,
        identified_by: IdentifiedBy,
        customer_id: str | None = None,
        references: tuple[str, ...] = (),
        amount_difference: Decimal = ZERO,
        name_similarity: int | None = None,
        notes: tuple[str, ...] = (),
        components: tuple[tuple[str, int], ...] = (),
    ) -> None:
        # Written out (``init=False``), as ``OpenItem``'s: compiled, several times faster.
        object.__setattr__(self, "identified_by", identified_by)
        object.__setattr__(self, "customer_id", customer_id)
        object.__setattr__(self, "references", references)
        object.__setattr__(self, "amount_difference", amount_difference)
        object.__setattr__(self, "name_similarity", name_similarity)
        object.__setattr__(self, "notes", notes)
        object.__setattr__(self, "components", components)

    def as_dict(self) -> dict[str, JsonValue]:
        return {
            "identified_by": str(self.identified_by),
            "customer_id": self.customer_id,
            "references": list(self.references),
            "amount_difference": str(self.amount_difference),
            "name_similarity": self.name_similarity,
            "notes": list(self.notes),
            "score_components": {name: value for name, value in self.components},
        }

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuilt(self)


@dataclass(frozen=True, slots=True, init=False)
class Recommendation:
    """A candidate a person may accept: what to apply, how good, which rule, why."""

    applications: tuple[ProposedApplication, ...]
    score: int
    rule: str
    evidence: Evidence

    def __init__(
        self,
        applications: tuple[ProposedApplication, ...],
        score: int,
        rule: str,
        evidence: Evidence,
    ) -> None:
        # Written out (``init=False``), as ``OpenItem``'s: compiled, several times faster.
        object.__setattr__(self, "applications", applications)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "rule", rule)
        object.__setattr__(self, "evidence", evidence)

    def as_dict(self) -> dict[str, JsonValue]:
        return {
            "applications": [a.as_dict() for a in self.applications],
            "score": self.score,
            "rule": self.rule,
            "evidence": self.evidence.as_dict(),
        }

    def item_ids(self) -> tuple[str, ...]:
        return tuple(sorted(a.item_id for a in self.applications))

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuilt(self)


@dataclass(frozen=True, slots=True, init=False)
class Decision:
    """The engine's answer for one receipt."""

    receipt_id: str
    outcome: Outcome
    customer_id: str | None
    identified_by: IdentifiedBy
    applications: tuple[ProposedApplication, ...] = ()
    rule: str | None = None
    score: int = 0
    evidence: Evidence | None = None
    recommendations: tuple[Recommendation, ...] = ()  # best first, at most five
    unapplied: Decimal = ZERO  # the part of the receipt left unapplied
    rule_set: str = field(default="")

    def __init__(
        self,
        receipt_id: str,
        outcome: Outcome,
        customer_id: str | None,
        identified_by: IdentifiedBy,
        applications: tuple[ProposedApplication, ...] = (),
        rule: str | None = None,
        score: int = 0,
        evidence: Evidence | None = None,
        recommendations: tuple[Recommendation, ...] = (),
        unapplied: Decimal = ZERO,
        rule_set: str = "",
    ) -> None:
        # Written out (``init=False``), as ``OpenItem``'s: compiled, several times faster.
        object.__setattr__(self, "receipt_id", receipt_id)
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "customer_id", customer_id)
        object.__setattr__(self, "identified_by", identified_by)
        object.__setattr__(self, "applications", applications)
        object.__setattr__(self, "rule", rule)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "evidence", evidence)
        object.__setattr__(self, "recommendations", recommendations)
        object.__setattr__(self, "unapplied", unapplied)
        object.__setattr__(self, "rule_set", rule_set)

    def as_dict(self) -> dict[str, JsonValue]:
        return {
            "receipt_id": self.receipt_id,
            "outcome": str(self.outcome),
            "customer_id": self.customer_id,
            "identified_by": str(self.identified_by),
            "applications": [a.as_dict() for a in self.applications],
            "rule": self.rule,
            "score": self.score,
            "evidence": self.evidence.as_dict() if self.evidence else None,
            "recommendations": [r.as_dict() for r in self.recommendations],
            "unapplied": str(self.unapplied),
            "rule_set": self.rule_set,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuilt(self)
