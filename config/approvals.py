"""approvals.yaml: approval limits per user, currency and document type; receivable activities.

    policy:                      # company-policy defaults: every user (and the engine) has these
      limits:
        adjustment: {EUR: "25.00"}
    users:
      alice:
        limits:
          adjustment: {EUR: "500.00"}
          credit_memo: {EUR: "1000.00"}
    activities:                  # receivable activities: the GL account of each adjustment type
      small_balance_write_off: "6850"
      bank_charges: "6855"

A user's own limit for a document type and currency replaces the policy's; with neither, the
limit is zero and every such document waits for an approver. Limits are on absolute amounts.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator, model_validator

from config.currencies import EXPONENTS
from config.models import Strict

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class DocumentType(StrEnum):
    """What an approval limit is for (Oracle: adjustment, receipt write-off, credit memo, refund)."""

    ADJUSTMENT = "adjustment"
    #: The write-off of a short-paid item's remainder, taken when a receipt is applied.
    RECEIPT_WRITE_OFF = "receipt_write_off"
    CREDIT_MEMO = "credit_memo"
    #: A chargeback: a disputed amount moved from its invoice onto a new debit memo.
    DEBIT_MEMO = "debit_memo"
    REFUND = "refund"


def _decimal_text(value: object) -> str:
    # Amounts are written as strings ("500.00"); a YAML float (500.0) would already be inexact.
    if isinstance(value, float):
        raise ValueError('write amounts as quoted strings, e.g. "500.00" (a float is inexact)')
    if isinstance(value, int | str):
        return str(value)
    raise ValueError("an amount must be a quoted decimal string")


AmountText = Annotated[str, BeforeValidator(_decimal_text)]


class Limits(Strict):
    """Per document type: per currency the largest absolute amount one may approve alone."""

    limits: dict[DocumentType, dict[str, AmountText]] = Field(default_factory=dict)

    @field_validator("limits")
    @classmethod
    def _valid_amounts(cls, value: dict[DocumentType, dict[str, str]]) -> dict[DocumentType, dict[str, str]]:
        for per_currency in value.values():
            for currency, text in per_currency.items():
                if currency not in EXPONENTS:
                    raise ValueError(f"unknown currency {currency!r}: use an ISO 4217 code such as EUR")
                try:
                    amount = Decimal(text)
                except InvalidOperation:
                    raise ValueError(f"{currency} {text!r}: not a decimal amount") from None
                places = amount.as_tuple().exponent
                if not isinstance(places, int) or places < -EXPONENTS[currency]:
                    raise ValueError(f"{currency} {text}: more decimals than {currency} carries")
                if amount < 0:
                    raise ValueError(f"{currency} {text}: a limit cannot be negative")
        return value

    def limit(self, document_type: DocumentType, currency: str) -> Decimal | None:
        text = self.limits.get(document_type, {}).get(currency)
        return None if text is None else Decimal(text)


class Activity(Strict):
    """A receivable activity: the GL account an adjustment of this kind posts to."""

    account: str = Field(min_length=1, max_length=40)
    description: str = ""


def _activity(value: object) -> object:
    # The short form `bank_charges: "6855"` is the account alone.
    if isinstance(value, int):
        raise ValueError('write the account as a quoted string, e.g. "6855"')
    return {"account": value} if isinstance(value, str) else value


class Approvals(Strict):
    """approvals.yaml."""

    policy: Limits = Limits()
    users: dict[str, Limits] = Field(default_factory=dict)
    activities: dict[str, Annotated[Activity, BeforeValidator(_activity)]] = Field(default_factory=dict)
    #: The activity a receipt write-off (taken when applying a receipt) posts to.
    receipt_write_off_activity: str | None = None

    @field_validator("activities")
    @classmethod
    def _activity_names(cls, value: dict[str, Activity]) -> dict[str, Activity]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"{name!r}: activity names are lower case letters, digits and _")
        return value

    @model_validator(mode="after")
    def _write_off_activity_exists(self) -> Approvals:
        name = self.receipt_write_off_activity
        if name is not None and name not in self.activities:
            raise ValueError(f"receipt_write_off_activity {name!r} is not one of the activities")
        return self

    def limit(self, user: str, document_type: DocumentType, currency: str) -> Decimal:
        """What `user` may approve alone: their own limit, else the policy's, else zero."""
        own = self.users.get(user)
        found = own.limit(document_type, currency) if own is not None else None
        if found is None:
            found = self.policy.limit(document_type, currency)
        return found if found is not None else Decimal(0)
