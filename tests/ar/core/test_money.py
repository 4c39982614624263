"""Money and its bulk shortcut ``minor_units``: the same checks, the same errors (table-driven,
and hypothesis for any decimal); ``normalise_iban``'s shortcut likewise."""

from __future__ import annotations

import doctest
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ar.money
from ar.errors import AmountPrecisionError, CurrencyError
from ar.matching.context import normalise_iban
from ar.money import Money, minor_units


def test_docstrings() -> None:
    failures, attempted = doctest.testmod(ar.money, optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failures == 0


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("1234.5", "EUR", 123450),
        ("1234.50", "EUR", 123450),
        ("0.01", "EUR", 1),
        ("10", "EUR", 1000),
        ("1E+2", "EUR", 10000),
        ("7", "JPY", 7),
        ("7.0", "JPY", 7),
        ("1.001", "BHD", 1001),
        ("0", "EUR", 0),
        ("999999999999999999", "JPY", 999999999999999999),
        ("-3.20", "EUR", -320),
    ],
)
def test_minor_units_is_the_minor_units_of_the_money(amount: str, currency: str, minor: int) -> None:
    assert minor_units(Decimal(amount), currency) == minor
    assert Money(Decimal(amount), currency).minor_units == minor


@pytest.mark.parametrize(
    ("amount", "currency", "error", "message"),
    [
        (Decimal("1.005"), "EUR", AmountPrecisionError, "1.005 has more decimals than EUR carries (2)"),
        (Decimal("0.5"), "JPY", AmountPrecisionError, "0.5 has more decimals than JPY carries (0)"),
        (Decimal("NaN"), "EUR", AmountPrecisionError, "NaN has more decimals"),
        (Decimal("Infinity"), "EUR", AmountPrecisionError, "Infinity has more decimals"),
        (Decimal("1E+40"), "EUR", AmountPrecisionError, "1E+40 has more decimals"),  # quantize overflows
        (Decimal("1.00"), "XYZ", CurrencyError, "unknown currency 'XYZ'"),
        (1.5, "EUR", TypeError, "Money needs a Decimal, not float"),
        ("1.50", "EUR", TypeError, "Money needs a Decimal, not str"),
    ],
)
def test_minor_units_refuses_what_money_refuses(
    amount: Any, currency: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)) as ours:
        minor_units(amount, currency)
    with pytest.raises(error) as money:
        Money(amount, currency)
    assert str(ours.value) == str(money.value)


_CURRENCIES = ("EUR", "JPY", "BHD", "CLF", "XYZ")


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except (AmountPrecisionError, CurrencyError, TypeError) as exc:
        return (type(exc).__name__, str(exc))


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True),
        st.decimals(places=2, min_value=-(10**30), max_value=10**30),
        st.integers(min_value=-(10**40), max_value=10**40).map(Decimal),
    ),
    st.sampled_from(_CURRENCIES),
)
def test_minor_units_agrees_with_money_for_any_decimal(amount: Decimal, currency: str) -> None:
    """The shortcut for the common case (one quantize, shared by Money and ``minor_units``)
    answers or refuses as every check in turn (``_checked``) does."""
    checked = _outcome(lambda: ar.money._checked(amount, currency))
    assert _outcome(lambda: ar.money._exact(amount, currency)) == checked
    assert _outcome(lambda: minor_units(amount, currency)) == _outcome(
        lambda: Money(amount, currency).minor_units
    )


@given(st.text(max_size=40))
def test_normalise_iban_is_upper_case_letters_and_digits_only(text: str) -> None:
    """Its shortcut (an IBAN already normalised comes back as it is) changes nothing."""
    assert normalise_iban(text) == re.sub("[^A-Z0-9]+", "", text.upper())
