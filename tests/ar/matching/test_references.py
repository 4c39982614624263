"""Reference extraction, normalisation, ISO 11649 and AutoMatch string handling."""

from __future__ import annotations

import doctest

import pytest

from ar.matching import references
from ar.matching.references import apply_string_handling, extract, extract_text, index_keys, valid_rf
from ar.matching.rules import Keep, ReferenceOptions, StringHandling


def keys(text: str) -> set[str]:
    return {found.key for found in extract_text(text, source="ustrd")}


def test_module_doctests() -> None:
    assert doctest.testmod(references).failed == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("INV-000123", "INV123"),  # separator and leading zeros
        ("inv-000123", "INV123"),  # case
        ("INV000123", "INV123"),  # no separator
        ("INV 000123", "INV123"),  # space between prefix and number
        ("INV/000123", "INV123"),  # slash
        ("Invoice no. INV.000123", "INV123"),  # dots and extra words
        ("INV-123", "INV123"),  # dropped leading zeros
        ("INV-OOO123", "INV123"),  # O for 0
        ("INV-0001I3", "INV113"),  # I for 1
        ("INV-0001L3", "INV113"),  # L for 1
        ("PAYMENTREFINV000123X", "INV123"),  # number inside a longer token
        ("ZAHLUNG INV-000123 Kd-Nr 4711", "INV123"),
    ],
)
def test_normalisation_finds_the_invoice_key(text: str, expected: str) -> None:
    assert expected in keys(text)


@pytest.mark.parametrize(
    ("text", "bare"),
    [("Rechnung 000123", "123"), ("123 danke", "123"), ("Payment 4711", "4711")],
)
def test_number_without_prefix_is_a_bare_key(text: str, bare: str) -> None:
    found = {f.key: f for f in extract_text(text, source="ustrd")}
    assert bare in found
    assert found[bare].prefixed is False


@pytest.mark.parametrize(
    ("trx_number", "expected"),
    [
        ("INV-000123", ("INV000123", "123", "INV123")),
        ("CM-00045", ("CM00045", "45", "CM45")),
        ("100234", ("100234",)),
    ],
)
def test_index_keys(trx_number: str, expected: tuple[str, ...]) -> None:
    assert index_keys(trx_number) == expected


def test_every_remittance_form_of_a_number_meets_one_of_its_index_keys() -> None:
    item_keys = set(index_keys("INV-000123"))
    for text in ("inv 000123", "INV123", "INV-OO0123", "Rechnung 123", "xINV000123/2"):
        assert keys(text) & item_keys, text


@pytest.mark.parametrize(
    ("reference", "valid"),
    [
        ("RF18539007547034", True),
        ("RF18 5390 0754 7034", True),
        ("RF19539007547034", False),  # wrong check digits
        ("RF18539007547035", False),  # wrong body
        ("RF71INV000123", False),
        ("XX18539007547034", False),
    ],
)
def test_iso11649_check(reference: str, valid: bool) -> None:
    assert valid_rf(reference.replace(" ", "")) is valid
    assert ("RF18539007547034" in keys(reference)) is (valid and reference.startswith("RF18"))


def test_rf_with_trailing_words_is_cut_at_the_valid_length() -> None:
    found = {f.key: f for f in extract_text("RF18 5390 0754 7034 Rechnung", source="ustrd")}
    assert found["RF18539007547034"].source == "rf"
    assert found["RF18539007547034"].text == "RF18 5390 0754 7034"


@pytest.mark.parametrize(
    ("token", "handling", "expected"),
    [
        ("0000123456", StringHandling(keep=Keep.BACK, chars=6), "123456"),
        ("123456XYZW", StringHandling(keep=Keep.FRONT, chars=6), "123456"),
        ("000123", StringHandling(strip_zeros=True), "123"),
        ("12 34 56", StringHandling(strip_spaces=True), "123456"),
        ("0012 34", StringHandling(strip_spaces=True, strip_zeros=True), "1234"),
        ("ABC", StringHandling(), "ABC"),
    ],
)
def test_automatch_string_handling(token: str, handling: StringHandling, expected: str) -> None:
    assert apply_string_handling(token, handling) == expected


def test_string_handling_and_patterns_add_keys() -> None:
    plain = extract(("CUST99INV123456",), (), None, ReferenceOptions())
    handled = extract(
        ("CUST99INV123456",),
        (),
        None,
        ReferenceOptions(string_handling=(StringHandling(keep=Keep.BACK, chars=9),)),
    )
    assert "INV123456" in {f.key for f in handled}
    assert {f.key for f in plain} <= {f.key for f in handled}
    patterned = extract(
        ("Belegnr:77-881",), (), None, ReferenceOptions(patterns=(r"Belegnr:(?P<ref>[\d-]+)",))
    )
    assert any(f.key == "77881" and f.source == "pattern" for f in patterned)


def test_end_to_end_id_and_structured_references_are_read_but_notprovided_is_not() -> None:
    found = extract((), ("INV-000777",), "INV-000888", ReferenceOptions())
    assert {"INV777", "INV888"} <= {f.key for f in found}
    assert not extract((), (), "NOTPROVIDED", ReferenceOptions())


@pytest.mark.parametrize("junk", ["", "\x00\x01", "€€€", "-" * 5000, "RF", "RF00", "0" * 2000, "ÄÖÜ ß 12"])
def test_junk_never_crashes(junk: str) -> None:
    extract((junk,), (junk,), junk, ReferenceOptions())
    index_keys(junk)
