"""Money: an exact Decimal amount with its ISO 4217 currency, stored as integer minor units.

The exponent comes from the currency table below (JPY 0, EUR 2, BHD 3). An amount
its currency cannot carry (EUR 1.005) is refused, never rounded silently.

>>> Money.of("1234.5", "EUR")
Money(amount=Decimal('1234.50'), currency='EUR')
>>> Money.of("1234.50", "EUR").minor_units
123450
>>> Money.from_minor(123, "BHD").amount
Decimal('0.123')
>>> Money.of("1.005", "EUR")
Traceback (most recent call last):
...
ar.errors.AmountPrecisionError: 1.005 has more decimals than EUR carries (2)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ar.errors import AmountPrecisionError, CurrencyError, CurrencyMismatchError
from config.currencies import EXPONENTS


def exponent(currency: str) -> int:
    """Minor-unit exponent of an ISO 4217 currency code; CurrencyError when unknown."""
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise CurrencyError(currency) from None


def is_currency(code: str) -> bool:
    return code in EXPONENTS


_QUANTA = {exp: Decimal(1).scaleb(-exp) for exp in range(5)}  # the smallest unit per exponent


def _exact(amount: Decimal, currency: str) -> tuple[Decimal, int]:
    """``amount`` quantized to the currency's exponent, and the exponent; refused when it would change.

    The common case (a Decimal of a known currency that quantizing leaves equal) takes one
    quantize; anything else goes through ``_checked``, which says why it is refused."""
    exp = EXPONENTS.get(currency)
    quantum = _QUANTA.get(exp) if exp is not None else None
    if exp is not None and quantum is not None and type(amount) is Decimal:
        try:
            exact = amount.quantize(quantum)
        except InvalidOperation:
            pass  # too many digits, or infinite: refused by _checked, in the usual words
        else:
            if exact == amount:  # not NaN, and nothing below the minor unit
                return exact, exp
    return _checked(amount, currency)


def _checked(amount: Decimal, currency: str) -> tuple[Decimal, int]:
    """``_exact`` with every check in turn: the type, the currency, finiteness, precision."""
    if not isinstance(amount, Decimal):  # a float here would already have lost exactness
        raise TypeError(f"Money needs a Decimal, not {type(amount).__name__}")
    exp = exponent(currency)
    if not amount.is_finite():
        raise AmountPrecisionError(str(amount), currency, exp)
    quantum = _QUANTA.get(exp) or Decimal(1).scaleb(-exp)
    try:
        exact = amount.quantize(quantum)
    except InvalidOperation:
        raise AmountPrecisionError(str(amount), currency, exp) from None
    if exact != amount:
        raise AmountPrecisionError(str(amount), currency, exp)
    return exact, exp


def minor_units(amount: Decimal, currency: str) -> int:
    """``Money(amount, currency).minor_units`` without building the Money: the same checks and errors.

    For bulk paths that only store the integer (statement ingest, a receipt per transaction).

    >>> minor_units(Decimal("1234.5"), "EUR")
    123450
    >>> minor_units(Decimal("7"), "JPY")
    7
    >>> minor_units(Decimal("1.005"), "EUR")
    Traceback (most recent call last):
    ...
    ar.errors.AmountPrecisionError: 1.005 has more decimals than EUR carries (2)
    """
    exact, exp = _exact(amount, currency)
    return int(exact.scaleb(exp))


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An amount in one currency, quantized to that currency's exponent when built."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _exact(self.amount, self.currency)[0])

    # -- construction ---------------------------------------------------------
    @classmethod
    def of(cls, value: str | int | Decimal, currency: str) -> Money:
        """From a decimal string, int or Decimal (never a float)."""
        if isinstance(value, float):
            raise TypeError("Money refuses floats: pass a str or Decimal")
        try:
            amount = value if isinstance(value, Decimal) else Decimal(value)
        except InvalidOperation:
            raise AmountPrecisionError(str(value), currency, exponent(currency)) from None
        return cls(amount, currency)

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        return cls(Decimal(units).scaleb(-exponent(currency)), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls.from_minor(0, currency)

    @classmethod
    def rounded(cls, value: Decimal, currency: str) -> Money:
        """Round half-up to the currency's exponent: for computed amounts (tax, discounts),
        where rounding is the documented rule, never for amounts read from input."""
        quantum = Decimal(1).scaleb(-exponent(currency))
        return cls(value.quantize(quantum, rounding=ROUND_HALF_UP), currency)

    # -- views ----------------------------------------------------------------
    @property
    def minor_units(self) -> int:
        return int(self.amount.scaleb(exponent(self.currency)))

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def format(self) -> str:
        """The JSON form: a string with the currency's decimals ("1234.50")."""
        return str(self.amount)

    # -- arithmetic -----------------------------------------------------------
    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def is_negative(self) -> bool:
        return self.amount < 0
