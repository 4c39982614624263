"""The XSD check beside the parse (gateway.xsd_thread) and the background archive copy."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from formats import validate as validation
from gateway.background import Background
from gateway.xsd_thread import XsdCheckThread
from tests.formats.test_validate_streaming import VALID
from tests.support.components import component_missing


def _document(entries: int, *, status: str = "BOOK") -> bytes:
    entry = VALID[VALID.index("<Ntry>") : VALID.index("</Stmt>")].replace("BOOK", status)
    return VALID.replace("</Stmt>", entry * entries + "</Stmt>").encode()


def test_the_check_reports_the_deviations_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.xml"
    path.write_bytes(_document(3, status="BOKK"))
    with path.open("rb") as parse_stream, XsdCheckThread(path, parse_stream, source="s.xml") as check:
        parse_stream.read()  # the parse reads its own stream meanwhile
        problems = check.result()
    assert [p.code for p in problems] == ["XSD-E001"] * 3  # the three entries added
    assert all(p.source == "s.xml" and "Sts" in p.message for p in problems)
    if validation.IN_C:
        assert all(p.line for p in problems)


def test_a_valid_file_has_no_deviation(tmp_path: Path) -> None:
    path = tmp_path / "s.xml"
    path.write_bytes(_document(3))
    with path.open("rb") as parse_stream, XsdCheckThread(path, parse_stream, source="s.xml") as check:
        assert check.result() == []


def test_leaving_the_block_early_stops_the_check(tmp_path: Path) -> None:
    """A refused file: the parse failed, the check must not read on through 1.5 GB."""
    if not validation.IN_C:
        component_missing("the C accelerator formats/_xsdcheck.c is not built")
    path = tmp_path / "big.xml"
    path.write_bytes(_document(100_000))
    started = time.monotonic()
    with (
        pytest.raises(RuntimeError),
        path.open("rb") as parse_stream,
        XsdCheckThread(path, parse_stream, source="big.xml") as check,
    ):
        raise RuntimeError("the parse refused the file")
    assert check._running is not None and not check._running._thread.is_alive()  # joined on the way out
    full = time.monotonic()
    with path.open("rb") as parse_stream, XsdCheckThread(path, parse_stream, source="big.xml") as check:
        assert check.result() == []
    assert (full - started) < (time.monotonic() - full)  # stopped well before the end


def test_a_path_that_is_no_longer_the_parsed_file_is_not_checked(tmp_path: Path) -> None:
    """The check must read the very bytes the parse reads: else it checks the parse's stream."""
    path = tmp_path / "s.xml"
    path.write_bytes(_document(1, status="BOKK"))
    with path.open("rb") as parse_stream:
        replacement = tmp_path / "other.xml"
        replacement.write_bytes(_document(1))
        replacement.replace(path)  # a valid file now has the name
        with XsdCheckThread(path, parse_stream, source="s.xml") as check:
            problems = check.result()
    assert [p.code for p in problems] == ["XSD-E001"]  # the bad file, not the valid one


def test_background_returns_the_value_or_raises_the_error() -> None:
    assert Background(lambda: 42, name="answer").result() == 42

    def fail() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        Background(fail, name="failing").result()
    Background(fail, name="settled").settle()  # waited for; its error is dropped
