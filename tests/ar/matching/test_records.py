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
from ar.matching.autocash import ItemBalance, Match
from ar.matching.engine import _Proposal
from ar.matching.identify import Payer, ReferenceHit
from ar.matching.model import (
    CustomerFacts,
    Decision,
    DiscountTier,
    Evidence,
    IdentifiedBy,
    OpenItem,
    Outcome,
    ProposedApplication,
    ReceiptFacts,
    Recommendation,
    TrxType,
)
from ar.matching.references import FoundReference

_ITEM = OpenItem(
    "7", "INV-7", "C1", "EUR", Decimal("10.00"), Decimal("10.00"), date(2024, 1, 1), date(2024, 2, 1)
)
_FOUND = FoundReference("INV7", "inv-7", "ustrd", True)
_APPLIED = (ProposedApplication("7", "INV-7", Decimal("10.00")),)
_EVIDENCE = Evidence(IdentifiedBy.REFERENCE, "C1")
_CUSTOMER = CustomerFacts("C1", "K-1", "Kunde Eins")

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
    ReceiptFacts: (
        (
            "R1",
            Decimal("10.00"),
            "EUR",
            date(2024, 3, 1),
            "DE89370400440532013000",
            "Kunde Eins",
            ("INV-7",),
            ("RF18INV7",),
            "E2E-1",
        ),
        4,
    ),
    CustomerFacts: (("C1", "K-1", "Kunde Eins", ("DE89370400440532013000",), "C0", ("C2",), "retail"), 3),
    ProposedApplication: (("7", "INV-7", Decimal("9.00"), Decimal("0.50"), Decimal("0.50")), 3),
    Evidence: (
        (
            IdentifiedBy.IBAN,
            "C1",
            ("INV-7",),
            Decimal("-0.50"),
            90,
            ("discount_earned",),
            (("customer", 100),),
        ),
        1,
    ),
    Recommendation: ((_APPLIED, 80, "2:match_payment_with_invoice", _EVIDENCE), 4),
    Decision: (
        (
            "R1",
            Outcome.APPLIED,
            "C1",
            IdentifiedBy.REFERENCE,
            _APPLIED,
            "1:reference",
            100,
            _EVIDENCE,
            (Recommendation(_APPLIED, 80, "score", _EVIDENCE),),
            Decimal("1.00"),
            "default",
        ),
        4,
    ),
    ReferenceHit: ((_ITEM, _FOUND), 2),
    Payer: ((_CUSTOMER, IdentifiedBy.IBAN, frozenset({"C1"}), 95, ("iban",)), 3),
    Match: ((_APPLIED, ("exact",)), 1),
    _Proposal: ((_APPLIED, "clear_account", ("ties:2",)), 2),
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
    if record.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(full, fields[0].name, arguments[0])


def test_an_open_item_refuses_a_float_amount_and_names_it() -> None:
    amounts: dict[str, Any] = {"disputed_amount": 0.5}
    with pytest.raises(TypeError, match=r"OpenItem\.disputed_amount must be a Decimal, not float"):
        OpenItem(
            "1", "INV-1", "C1", "EUR", Decimal(1), Decimal(1), date(2024, 1, 1), date(2024, 1, 1), **amounts
        )
