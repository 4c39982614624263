"""Payment terms: due dates, installments and early-payment discounts of a transaction.

A term (profiles.yaml `payment_terms`) has one or more installments, each due a number
of days after the transaction date and carrying a percentage of the total; the last
installment takes what the rounding of the others left (half-up per installment), so
installments always add up to the total. An installment may offer discounts
("2% within 10 days"), stored on its open item.

>>> from config.ar import Installment, PaymentTerm, Discount
>>> term = PaymentTerm(installments=[Installment(days=30, percent=Decimal("50")),
...                                  Installment(days=60, percent=Decimal("50"))])
>>> items = schedule(Money.of("100.01", "EUR"), date(2026, 11, 1), term)
>>> [(i.due_date.isoformat(), str(i.amount)) for i in items]
[('2026-12-01', '50.01 EUR'), ('2026-12-31', '50.00 EUR')]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from ar.money import Money
from config.ar import PaymentTerm


@dataclass(frozen=True, slots=True)
class DiscountOffer:
    """`percent` off when paid on or before `until`."""

    until: date
    percent: Decimal


@dataclass(frozen=True, slots=True)
class ScheduledInstallment:
    installment: int
    due_date: date
    amount: Money
    discounts: tuple[DiscountOffer, ...] = ()


def schedule(total: Money, trx_date: date, term: PaymentTerm) -> tuple[ScheduledInstallment, ...]:
    """The installments of `total` under `term` (see the module docstring for the rounding)."""
    out: list[ScheduledInstallment] = []
    allocated = Money.zero(total.currency)
    last = len(term.installments)
    for number, inst in enumerate(term.installments, start=1):
        amount = (
            total - allocated
            if number == last
            else Money.rounded(total.amount * inst.percent / 100, total.currency)
        )
        allocated = allocated + amount
        offers = tuple(
            DiscountOffer(trx_date + timedelta(days=d.days), d.percent)
            for d in sorted(inst.discounts, key=lambda d: d.days)
        )
        out.append(ScheduledInstallment(number, trx_date + timedelta(days=inst.days), amount, offers))
    return tuple(out)


def discount_available(remaining: Money, offers: Sequence[DiscountOffer], paid_on: date) -> Money:
    """The discount a payment made on `paid_on` may take on `remaining`: the largest offer
    still valid, rounded half-up; zero when none is (or nothing remains).

    >>> offers = [DiscountOffer(date(2026, 11, 11), Decimal("2"))]
    >>> str(discount_available(Money.of("1000.00", "EUR"), offers, date(2026, 11, 11)))
    '20.00 EUR'
    >>> str(discount_available(Money.of("1000.00", "EUR"), offers, date(2026, 11, 12)))
    '0.00 EUR'
    """
    valid = [o.percent for o in offers if paid_on <= o.until]
    if not valid or remaining.amount <= 0:
        return Money.zero(remaining.currency)
    return Money.rounded(remaining.amount * max(valid) / 100, remaining.currency)


def offers_to_json(offers: Sequence[DiscountOffer]) -> str:
    """The form stored in payment_schedules.discounts."""
    return json.dumps([{"until": o.until.isoformat(), "percent": str(o.percent)} for o in offers])


def offers_from_json(text: str) -> tuple[DiscountOffer, ...]:
    return tuple(
        DiscountOffer(date.fromisoformat(o["until"]), Decimal(o["percent"])) for o in json.loads(text or "[]")
    )
