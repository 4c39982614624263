"""Records whose ``__init__`` is written out instead of generated (``init=False``: compiled by
mypyc it is several times faster, ADR 4) must take their fields as the generated one would:
in field order, by name, with the fields' defaults."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ar.matching import autocash, combination, context, engine, identify, model, references, scoring
from ar.matching.autocash import ItemBalance
from ar.matching.model import DiscountTier, OpenItem, TrxType
from ar.matching.references import FoundReference

_ITEM = OpenItem(
    "7", "INV-7", "C1", "EUR", Decimal("10.00"), Decimal("10.00"), date(2024, 1, 1), date(2024, 2, 1)
)

#: every argument, in field order, none equal to its field's default; how many are required
CASES: dict[type, tuple[tuple[Any, ...], int]] = {
    OpenItem: (
        (
            "1",
            "INV-1",
            "C1",
            "EUR",
            Decimal("10.00"),
            Decimal("9.00"),
            date(2024, 1, 1),
            date(2024, 2, 1),
            (DiscountTier(10, Decimal("2")),),
            "NET30",
            TrxType.DEBIT_MEMO,
            Decimal("1.00"),
            Decimal("2.00"),
            ("RF18INV1",),
        ),
        8,
    ),
    ItemBalance: ((_ITEM, Decimal("9.00"), Decimal("1.00")), 3),
    FoundReference: (("INV1", "inv-1", "ustrd", True), 4),
}


def test_every_record_with_a_written_out_init_is_checked_here() -> None:
    written_out = {
        cls
        for module in (autocash, combination, context, engine, identify, model, references, scoring)
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and cls.__module__ == module.__name__
        and dataclasses.is_dataclass(cls)
        and not cls.__dataclass_params__.init  # type: ignore[attr-defined]
    }
    assert written_out == set(CASES)


@pytest.mark.parametrize("record", list(CASES), ids=lambda c: c.__name__)
def test_a_written_out_init_takes_the_fields_in_order_by_name_and_with_their_defaults(record: type) -> None:
    arguments, required = CASES[record]
    fields = dataclasses.fields(record)
    assert len(arguments) == len(fields)
    full = record(*arguments)
    for field, value in zip(fields, arguments, strict=True):
        assert getattr(full, field.name) == value, field.name
    assert record(**{f.name: v for f, v in zip(fields, arguments, strict=True)}) == full
    least = record(*arguments[:required])
    for field in fields[required:]:
        assert field.default is not dataclasses.MISSING, field.name
        assert getattr(least, field.name) == field.default, field.name
        assert getattr(full, field.name) != field.default, field.name  # the case tells them apart
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(full, fields[0].name, arguments[0])


def test_an_open_item_refuses_a_float_amount_and_names_it() -> None:
    amounts: dict[str, Any] = {"disputed_amount": 0.5}
    with pytest.raises(TypeError, match=r"OpenItem\.disputed_amount must be a Decimal, not float"):
        OpenItem(
            "1", "INV-1", "C1", "EUR", Decimal(1), Decimal(1), date(2024, 1, 1), date(2024, 1, 1), **amounts
        )
