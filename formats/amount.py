"""Exact money amounts as written in ISO 20022 files (ActiveOrHistoricCurrencyAndAmount).

The XSD type allows at most 18 digits in total, 5 of them after the point, and
no negative value. :func:`parse_decimal_amount` accepts exactly that and keeps
the value *as written* (``Decimal("474.4")`` stays ``474.4``); nothing is ever
rounded and no float is ever involved.

>>> parse_decimal_amount("1234.50")
Decimal('1234.50')
>>> parse_decimal_amount("0.12345")
Decimal('0.12345')
>>> parse_decimal_amount("1.123456") is None
True
>>> Amount(Decimal("474.4"), "CHF").display()
'474.40'
>>> Amount(Decimal("1.23456"), "EUR").display()
'1.23456'
>>> Amount(Decimal("100"), "JPY").display()
'100'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

# XSD decimal lexical space restricted to non-negative: optional '+', digits, optional fraction.
_AMOUNT_RE = re.compile(r"\+?(?:(\d+)(?:\.(\d*))?|\.(\d+))")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")

MAX_TOTAL_DIGITS = 18  # totalDigits of the XSD type
MAX_FRACTION_DIGITS = 5  # fractionDigits of the XSD type

# ISO 4217 minor units that are not 2 (the default). XXX/XTS etc. have none: shown as written.
_EXPONENTS: dict[str, int | None] = {
    **dict.fromkeys(
        ("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()),
        0,
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
    **dict.fromkeys("XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX".split(), None),
}


def currency_exponent(currency: str) -> int | None:
    """Minor units of an ISO 4217 currency (2 unless listed), None when it has none."""
    return _EXPONENTS.get(currency, 2)


def is_currency_code(text: str) -> bool:
    """True for three upper-case letters (the XSD pattern; not a check of ISO 4217 membership)."""
    return _CURRENCY_RE.fullmatch(text) is not None


def parse_decimal_amount(text: str) -> Decimal | None:
    """The exact Decimal of an XSD amount, or None when the text is not a possible amount."""
    match = _AMOUNT_RE.fullmatch(text.strip())
    if match is None:
        return None
    whole, fraction, only_fraction = match.groups()
    if only_fraction is not None:
        whole, fraction = "0", only_fraction
    fraction = fraction or ""
    significant = whole.lstrip("0") or "0"
    if len(fraction) > MAX_FRACTION_DIGITS or len(significant) + len(fraction) > MAX_TOTAL_DIGITS:
        return None
    return Decimal(f"{significant}.{fraction}" if fraction else significant)


@dataclass(frozen=True, slots=True)
class Amount:
    """A non-negative amount exactly as written, with its ISO 4217 currency code."""

    value: Decimal  # Amt text, exact
    currency: str  # Amt/@Ccy

    def __post_init__(self) -> None:
        if not isinstance(self.value, Decimal):
            raise TypeError(f"Amount.value must be a Decimal, not {type(self.value).__name__}")

    def display(self) -> str:
        """The value with at least the currency's decimals and never fewer than written."""
        written = -int(self.value.as_tuple().exponent)
        exponent = currency_exponent(self.currency)
        places = max(written, exponent or 0)
        return f"{self.value:.{places}f}"

    def __str__(self) -> str:
        return f"{self.display()} {self.currency}"
