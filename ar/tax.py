"""Line amounts and tax: the documented rounding rule of AutoInvoice.

Rule (also in the README): per line, the net amount is quantity × unit price rounded
half-up (ties away from zero) to the currency's exponent; the tax is that rounded net
× rate / 100, rounded the same way. A transaction's net, tax and total are the sums of
its lines' rounded amounts, so a transaction always equals the sum of its lines.

>>> a = line_amounts(Decimal("3"), Decimal("0.125"), Decimal("19"), "EUR")
>>> str(a.net), str(a.tax)
('0.38 EUR', '0.07 EUR')
>>> line_amounts(Decimal("-1"), Decimal("10.005"), Decimal("0"), "EUR").net
Money(amount=Decimal('-10.01'), currency='EUR')
>>> line_amounts(Decimal("1"), Decimal("1000"), Decimal("7.5"), "JPY").tax
Money(amount=Decimal('75'), currency='JPY')
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from ar.errors import ValidationError
from ar.money import Money, exponent

#: Tax rates are percentages between these bounds.
MAX_RATE = Decimal(100)


@dataclass(frozen=True, slots=True)
class LineAmounts:
    net: Money
    tax: Money

    @property
    def total(self) -> Money:
        return self.net + self.tax


def check_rate(rate: Decimal) -> Decimal:
    if not rate.is_finite() or rate < 0 or rate > MAX_RATE:
        raise ValidationError(f"tax rate {rate} is not a percentage between 0 and {MAX_RATE}")
    return rate


def line_amounts(quantity: Decimal, unit_price: Decimal, rate: Decimal, currency: str) -> LineAmounts:
    """Net and tax of one line, each rounded half-up to the currency's exponent (the rule above)."""
    check_rate(rate)
    net, tax = line_minor(quantity, unit_price, rate, currency)
    return LineAmounts(Money.from_minor(net, currency), Money.from_minor(tax, currency))


_QUANTA: dict[str, tuple[Decimal, int]] = {}


def line_minor(quantity: Decimal, unit_price: Decimal, rate: Decimal, currency: str) -> tuple[int, int]:
    """The same rule in integer minor units, for the bulk import (no Money objects per line).

    The rate is not checked here: callers validate it once per distinct value.
    """
    quantum = _QUANTA.get(currency)
    if quantum is None:
        exp = exponent(currency)
        quantum = _QUANTA[currency] = (Decimal(1).scaleb(-exp), exp)
    step, exp = quantum
    net = (quantity * unit_price).quantize(step, rounding=ROUND_HALF_UP)
    tax = (net * rate / 100).quantize(step, rounding=ROUND_HALF_UP)
    return int(net.scaleb(exp)), int(tax.scaleb(exp))
