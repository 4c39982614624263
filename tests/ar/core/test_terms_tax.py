"""Table-driven: tax rounding, payment terms (due dates, installments, discounts), aging buckets."""

from __future__ import annotations

import doctest
from datetime import date
from decimal import Decimal

import pytest

import ar.periods
import ar.tax
import ar.terms
from ar.errors import ValidationError
from ar.money import Money
from ar.tax import line_amounts, line_minor
from ar.terms import DiscountOffer, discount_available, offers_from_json, offers_to_json, schedule
from config.ar import CalendarConfig, Discount, Installment, PaymentTerm, ReportsConfig


@pytest.mark.parametrize("module", [ar.tax, ar.terms, ar.periods])
def test_docstrings(module: object) -> None:
    failures, _ = doctest.testmod(module)  # type: ignore[arg-type]
    assert failures == 0


@pytest.mark.parametrize(
    ("quantity", "price", "rate", "currency", "net", "tax"),
    [
        ("1", "100", "19", "EUR", "100.00", "19.00"),
        ("3", "0.125", "19", "EUR", "0.38", "0.07"),  # 0.375 -> 0.38 (half-up); 0.0722 -> 0.07
        ("1", "0.05", "10", "EUR", "0.05", "0.01"),  # tax 0.005 -> 0.01 (half-up, not banker's)
        ("1", "0.15", "10", "EUR", "0.15", "0.02"),  # 0.015 -> 0.02
        ("-1", "10.005", "0", "EUR", "-10.01", "0.00"),  # ties away from zero for credits
        ("-3", "0.125", "19", "EUR", "-0.38", "-0.07"),
        ("7", "142.857", "7.5", "JPY", "1000", "75"),
        ("1", "1.0005", "5", "BHD", "1.001", "0.050"),
        ("2.5", "3.3", "0", "EUR", "8.25", "0.00"),
    ],
)
def test_line_amounts_round_half_up_per_line(
    quantity: str, price: str, rate: str, currency: str, net: str, tax: str
) -> None:
    amounts = line_amounts(Decimal(quantity), Decimal(price), Decimal(rate), currency)
    assert (amounts.net, amounts.tax) == (Money.of(net, currency), Money.of(tax, currency))
    assert line_minor(Decimal(quantity), Decimal(price), Decimal(rate), currency) == (
        amounts.net.minor_units,
        amounts.tax.minor_units,
    )


@pytest.mark.parametrize("rate", ["-1", "100.01", "NaN"])
def test_tax_rate_out_of_range(rate: str) -> None:
    with pytest.raises(ValidationError):
        line_amounts(Decimal(1), Decimal(1), Decimal(rate), "EUR")


def _term(*installments: tuple[int, str], discounts: tuple[tuple[int, str], ...] = ()) -> PaymentTerm:
    items = [Installment(days=d, percent=Decimal(p)) for d, p in installments]
    if discounts:
        first = items[0]
        items[0] = Installment(
            days=first.days,
            percent=first.percent,
            discounts=[Discount(days=d, percent=Decimal(p)) for d, p in discounts],
        )
    return PaymentTerm(installments=items)


@pytest.mark.parametrize(
    ("term", "total", "trx_date", "expected"),
    [
        (_term((30, "100")), "119.00", date(2026, 11, 3), [("2026-12-03", "119.00")]),
        (_term((0, "100")), "5.00", date(2026, 2, 28), [("2026-02-28", "5.00")]),
        (_term((30, "100")), "1.00", date(2026, 12, 15), [("2027-01-14", "1.00")]),
        (
            _term((30, "50"), (60, "50")),
            "100.01",
            date(2026, 11, 1),
            [("2026-12-01", "50.01"), ("2026-12-31", "50.00")],
        ),
        (
            _term((30, "33.33"), (60, "33.33"), (90, "33.34")),
            "100.00",
            date(2026, 1, 31),
            [("2026-03-02", "33.33"), ("2026-04-01", "33.33"), ("2026-05-01", "33.34")],
        ),
        (
            _term((30, "50"), (60, "50")),
            "0.01",
            date(2026, 11, 1),
            [("2026-12-01", "0.01"), ("2026-12-31", "0.00")],
        ),
    ],
)
def test_installments_and_due_dates(
    term: PaymentTerm, total: str, trx_date: date, expected: list[tuple[str, str]]
) -> None:
    items = schedule(Money.of(total, "EUR"), trx_date, term)
    assert [(i.due_date.isoformat(), i.amount.format()) for i in items] == expected
    assert sum(i.amount.minor_units for i in items) == Money.of(total, "EUR").minor_units
    assert [i.installment for i in items] == list(range(1, len(expected) + 1))


@pytest.mark.parametrize(
    ("remaining", "paid_on", "expected"),
    [
        ("1000.00", date(2026, 11, 5), "30.00"),  # within 5 days: 3 %
        ("1000.00", date(2026, 11, 6), "30.00"),  # the 5th day still counts: 3 %
        ("1000.00", date(2026, 11, 7), "20.00"),  # within 10 days: 2 %
        ("1000.00", date(2026, 11, 11), "20.00"),  # the last day still counts
        ("1000.00", date(2026, 11, 12), "0.00"),
        ("0.25", date(2026, 11, 2), "0.01"),  # 0.0075 -> 0.01
        ("0.00", date(2026, 11, 2), "0.00"),
    ],
)
def test_discounts(remaining: str, paid_on: date, expected: str) -> None:
    term = _term((30, "100"), discounts=((10, "2"), (5, "3")))
    (item,) = schedule(Money.of("1000.00", "EUR"), date(2026, 11, 1), term)
    assert [o.until for o in item.discounts] == [date(2026, 11, 6), date(2026, 11, 11)]
    assert discount_available(Money.of(remaining, "EUR"), item.discounts, paid_on) == Money.of(
        expected, "EUR"
    )
    assert offers_from_json(offers_to_json(item.discounts)) == item.discounts


def test_discount_json_roundtrip_empty() -> None:
    assert offers_from_json("") == ()
    assert offers_from_json(offers_to_json([DiscountOffer(date(2026, 1, 1), Decimal("1.5"))]))[
        0
    ].percent == Decimal("1.5")


@pytest.mark.parametrize(
    ("installments", "message"),
    [
        ([{"days": 30, "percent": "60"}, {"days": 60, "percent": "60"}], "add up to 120"),
        ([{"days": 30, "percent": 50.5}, {"days": 60, "percent": "49.5"}], "quoted strings"),
        ([{"days": 10, "percent": "100", "discounts": [{"days": 20, "percent": "2"}]}], "after its due date"),
    ],
)
def test_term_validation(installments: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PaymentTerm.model_validate({"installments": installments})


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-10, "current"),
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (90, "61-90"),
        (91, "91+"),
        (4000, "91+"),
    ],
)
def test_aging_buckets(days: int, bucket: str) -> None:
    assert ReportsConfig().bucket(days) == bucket


@pytest.mark.parametrize(
    ("day", "calendar", "name", "start", "end"),
    [
        (date(2026, 2, 14), CalendarConfig(), "2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        (date(2028, 2, 29), CalendarConfig(), "2028-02", date(2028, 2, 1), date(2028, 2, 29)),
        (
            date(2026, 12, 31),
            CalendarConfig(type="quarterly"),
            "2026-Q4",
            date(2026, 10, 1),
            date(2026, 12, 31),
        ),
        (
            date(2026, 10, 30),
            CalendarConfig.model_validate(
                {
                    "periods": [
                        {"name": "P1", "start": "2026-10-01", "end": "2026-10-28"},
                        {"name": "P2", "start": "2026-10-29", "end": "2026-11-25"},
                    ]
                }
            ),
            "P2",
            date(2026, 10, 29),
            date(2026, 11, 25),
        ),
    ],
)
def test_calendar_spans(day: date, calendar: CalendarConfig, name: str, start: date, end: date) -> None:
    span = ar.periods.span_of(day, calendar)
    assert (span.name, span.start, span.end) == (name, start, end)
    assert ar.periods.span_named(name, calendar) == span
