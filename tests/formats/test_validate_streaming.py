"""Streaming XSD validation: the same verdicts as the full-tree validation, in flat memory.

Both streaming paths run every check: libxml2's reader in C (a real file, with the GIL
released) and lxml's iterparse (a stream without a file descriptor, or no accelerator).
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats import validate as validation
from formats.errors import Problem
from formats.validate import StreamingCheck, validate
from tests.support.components import component_missing

PATHS = ["in C", "iterparse"]


@pytest.fixture(params=PATHS)
def validate_streaming(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[bytes], list[Problem]]:
    """validate_streaming over the given bytes, by the path under test."""
    if request.param == "in C" and not validation.IN_C:
        component_missing(
            "the C accelerator formats/_xsdcheck.c is not built (pip install -e . needs gcc and the Python"
            " headers) or lxml does not export its libxml2"
        )
    counter = iter(range(1_000_000))

    def run(data: bytes, source: str = "s.xml") -> list[Problem]:
        if request.param == "iterparse":
            return validation.validate_streaming(io.BytesIO(data), source=source)
        path = tmp_path / f"doc{next(counter)}.xml"
        path.write_bytes(data)
        with path.open("rb") as stream:
            problems = validation.validate_streaming(stream, source=source)
            assert stream.tell() == 0 and stream.read() == data  # left at the start, in step with the fd
        return problems

    run.in_c = request.param == "in C"  # type: ignore[attr-defined]
    return run


NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
VALID = (
    f'<?xml version="1.0"?><Document xmlns="{NS}"><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId>'
    "<CreDtTm>2026-11-20T18:00:00</CreDtTm></GrpHdr><Stmt><Id>S</Id><CreDtTm>2026-11-20T18:00:00</CreDtTm>"
    "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>"
    '<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
    "<Dt><Dt>2026-11-20</Dt></Dt></Bal>"
    '<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
    "<BookgDt><Dt>2026-11-20</Dt></BookgDt><ValDt><Dt>2026-11-20</Dt></ValDt>"
    "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
    "</Ntry></Stmt></BkToCstmrStmt></Document>"
)


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (lambda x: x, []),
        (lambda x: x.replace("<Sts>BOOK</Sts>", "<Sts>BOKK</Sts>"), ["Sts"]),
        (
            lambda x: x.replace("<CdtDbtInd>CRDT</CdtDbtInd><Sts>", "<CdtDbtInd>XX</CdtDbtInd><Sts>"),
            ["CdtDbtInd"],
        ),
        (lambda x: x.replace("<Id>S</Id>", ""), ["Expected is ( Id )"]),
        (
            lambda x: x.replace("<Sts>BOOK</Sts>", "<Sts>BOKK</Sts>").replace("<MsgId>M</MsgId>", ""),
            ["MsgId", "Sts"],
        ),
    ],
)
def test_same_verdict_as_full_validation(mutation, expected: list[str], validate_streaming) -> None:  # type: ignore[no-untyped-def]
    data = mutation(VALID).encode()
    streaming = validate_streaming(data)
    full = validate(io.BytesIO(data), source="s.xml")
    assert len(streaming) == len(full)
    if validate_streaming.in_c:  # iterparse with a schema does not report lines
        assert [p.line for p in streaming] == [p.line for p in full]
    assert all(p.source == "s.xml" and p.code == "XSD-E001" for p in streaming)
    for word in expected:
        assert any(word in p.message for p in streaming), [str(p) for p in streaming]


def test_unknown_namespace_is_one_clear_problem(validate_streaming) -> None:  # type: ignore[no-untyped-def]
    data = b'<?xml version="1.0"?><Document xmlns="urn:example:nothing"><X/></Document>'
    [problem] = validate_streaming(data, "x.xml")
    assert problem.code == "XSD-E002"


@pytest.mark.parametrize(
    ("cut", "what"),
    [
        (lambda x: x[: x.index("</Ntry>")], "truncated inside an entry"),
        (lambda x: x[: x.index("</Document>")], "truncated before the root's end tag"),
        (lambda x: x + "<Document/>", "content after the root element"),
        (lambda x: x[:-3], "truncated inside the end tag"),
    ],
)
def test_a_truncated_or_extended_file_is_not_well_formed(cut, what: str, validate_streaming) -> None:  # type: ignore[no-untyped-def]
    data = cut(VALID).encode()
    problems = validate_streaming(data)
    assert [p.code for p in problems] == ["CAMT-E001"], what
    assert "not well-formed" in problems[0].message


def test_trailing_comments_and_white_space_are_fine(validate_streaming) -> None:  # type: ignore[no-untyped-def]
    data = (VALID + "\n<!-- exported by the bank -->\n<?done?>\n").encode()
    assert validate_streaming(data) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=len(VALID) - 1))
def test_no_prefix_of_a_document_is_valid(validate_streaming, cut: int) -> None:  # type: ignore[no-untyped-def]
    """However the transfer was cut, the check never calls the rest of a file valid."""
    problems = validate_streaming(VALID[:cut].encode())
    assert problems and problems[0].code in {"CAMT-E001", "XSD-E002"}, cut


def test_a_doctype_is_refused_and_its_entities_are_not_walked(validate_streaming) -> None:  # type: ignore[no-untyped-def]
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    data = VALID.replace(
        "<Document", f'<!DOCTYPE Document [<!ENTITY l0 "lol">{laughs}]>\n<Document', 1
    ).replace("<MsgId>M</MsgId>", "<MsgId>&l9;</MsgId>")
    problems = validate_streaming(data.encode())
    assert [p.code for p in problems] in (["CAMT-E002"], ["CAMT-E001"]), [str(p) for p in problems]


def test_too_many_problems_stop_the_check(validate_streaming) -> None:  # type: ignore[no-untyped-def]
    entry = VALID[VALID.index("<Ntry>") : VALID.index("</Stmt>")].replace("BOOK", "BOKK")
    data = VALID.replace("</Stmt>", entry * (validation._MAX_PROBLEMS + 5) + "</Stmt>").encode()
    problems = validate_streaming(data)
    assert len(problems) == validation._MAX_PROBLEMS + 1
    assert problems[-1].message == "too many problems; stopped"


def _big_document(entries: int) -> bytes:
    entry = VALID[VALID.index("<Ntry>") : VALID.index("</Stmt>")]
    return VALID.replace("</Stmt>", entry * entries + "</Stmt>").encode()


def test_the_c_check_runs_beside_python_and_can_be_cancelled(tmp_path: Path) -> None:
    """The point of the C path: it reads without the GIL, and ingest can stop it early."""
    if not validation.IN_C:
        component_missing("the C accelerator formats/_xsdcheck.c is not built")
    path = tmp_path / "big.xml"
    path.write_bytes(_big_document(200_000))
    with path.open("rb") as stream:
        check = StreamingCheck(stream, source="big.xml")
        outcome: list[list[Problem] | None] = []
        worker = threading.Thread(target=lambda: outcome.append(check.run()))
        worker.start()
        ticks = 0
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:  # Python keeps running while the check reads
            ticks += 1
        check.cancel()
        worker.join(timeout=30)
        assert not worker.is_alive()
    assert outcome == [None]  # cancelled, not "valid"
    assert ticks > 10_000


def test_a_cancelled_check_before_it_starts_reports_nothing(tmp_path: Path) -> None:
    path = tmp_path / "v.xml"
    path.write_bytes(VALID.encode())
    with path.open("rb") as stream:
        check = StreamingCheck(stream, source="v.xml")
        check.cancel()
        assert check.run() is None


def test_a_stream_that_is_not_a_regular_file_goes_through_iterparse() -> None:
    stream: BinaryIO = io.BytesIO(VALID.replace("BOOK", "BOKK").encode())
    [problem] = validation.validate_streaming(stream, source="m.xml")
    assert problem.code == "XSD-E001" and "Sts" in problem.message


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=40),
            st.sampled_from(["drop", "double", "text"]),
            st.text(alphabet="AZaz09 -.:+", max_size=12),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_streaming_and_tree_validation_find_the_same_problems(validate_streaming, edits) -> None:  # type: ignore[no-untyped-def]
    """Random damage to leaf elements: both checks report the same problems, on the same lines."""
    data = VALID.replace("><", ">\n<")  # one element per line: lines tell the problems apart
    leaves = list(re.finditer(r"<(\w+)>([^<\n]*)</\1>", data))
    chosen = {index % len(leaves): (action, text) for index, action, text in edits}
    for index, (action, text) in sorted(chosen.items(), reverse=True):  # from the end: offsets stay right
        leaf = leaves[index]
        whole, name = leaf.group(0), leaf.group(1)
        replacement = {"drop": "", "double": whole + "\n" + whole, "text": f"<{name}>{text}</{name}>"}[action]
        data = data[: leaf.start()] + replacement + data[leaf.end() :]
    streaming = validate_streaming(data.encode())
    full = validate(io.BytesIO(data.encode()), source="s.xml")
    assert [p.code for p in streaming] == [p.code for p in full]
    deviations = [p.message for p in streaming if p.code == "XSD-E001"]
    assert deviations == [p.message for p in full if p.code == "XSD-E001"]
    if validate_streaming.in_c:  # where the stream found it: a missing child at its parent's end tag
        assert all(a.line and b.line and a.line >= b.line for a, b in zip(streaming, full, strict=True))
