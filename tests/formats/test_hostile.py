"""Hostile and broken input: refused with a FormatError naming file and place; never hangs or balloons."""

from __future__ import annotations

import io

import pytest

from formats import camt
from formats.camt.parser import Limits
from formats.errors import (
    FormatError,
    HostileInputError,
    LimitExceededError,
    MalformedInputError,
    UnknownFormatError,
)
from tests.formats.xmlbits import document, ntry, statement

VALID = document([statement([ntry() for _ in range(5)])])


def _parse(data: bytes, limits: Limits | None = None) -> None:
    kwargs = {"limits": limits} if limits else {}
    for _ in camt.parse(io.BytesIO(data), source="evil.xml", **kwargs):
        pass


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Document [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>&lol9;</MsgId>
</GrpHdr></BkToCstmrStmt></Document>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>&xxe;</MsgId>
</GrpHdr></BkToCstmrStmt></Document>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/evil.dtd">
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt/></Document>"""


@pytest.mark.parametrize(
    "data", [BILLION_LAUGHS, XXE, EXTERNAL_DTD], ids=["billion-laughs", "xxe", "external-dtd"]
)
def test_doctype_is_refused(data: bytes) -> None:
    with pytest.raises(HostileInputError) as info:
        _parse(data)
    (problem,) = info.value.problems
    assert problem.code == "CAMT-E002"
    assert str(problem).startswith("evil.xml:1: CAMT-E002 DOCTYPE")
    assert "root:" not in str(info.value)  # nothing of /etc/passwd leaks into the message


def test_undeclared_entity_is_refused() -> None:
    data = VALID.replace(b"<MsgId>M1</MsgId>", b"<MsgId>&xxe;</MsgId>")
    with pytest.raises(MalformedInputError) as info:
        _parse(data)
    # libxml2 reports this one without a line ("no element found"): the place is the last good element
    assert "(after /Document/BkToCstmrStmt" in str(info.value)


@pytest.mark.parametrize("cut", [10, 60, 200, len(VALID) // 2, len(VALID) - 20, len(VALID) - 1])
def test_truncated_file(cut: int) -> None:
    with pytest.raises(MalformedInputError) as info:
        _parse(VALID[:cut])
    problem = info.value.problems[-1]
    assert problem.source == "evil.xml"
    assert problem.line is not None or "no root element" in problem.message


def test_truncated_file_names_the_last_good_place() -> None:
    cut = VALID.rindex(b"<Ntry>") + 20
    with pytest.raises(MalformedInputError) as info:
        _parse(VALID[:cut])
    assert "after /Document/BkToCstmrStmt/Stmt[1]/Ntry[4]" in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b"\x00" * 100,
        bytes(range(256)) * 4,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"PK\x03\x04" + b"\xff" * 64,
        "<Document>\u00e9</Document>".encode("latin-1"),
        b"\xef\xbb\xbf" + VALID[:100] + b"\x00" + VALID[100:],
        VALID.replace(b"<Ntry>", b"<Ntry", 1),
    ],
)
def test_binary_and_garbage(data: bytes) -> None:
    with pytest.raises(FormatError) as info:
        _parse(data)
    assert isinstance(info.value, MalformedInputError | UnknownFormatError)
    assert all(p.source == "evil.xml" for p in info.value.problems)


def test_deep_nesting_is_refused() -> None:
    deep = b"<AddtlNtryInf>" * 5000 + b"x" + b"</AddtlNtryInf>" * 5000
    data = VALID.replace(b"</Ntry>", deep + b"</Ntry>", 1)
    with pytest.raises(LimitExceededError) as info:
        _parse(data)
    assert "depth" in str(info.value).lower()


def test_huge_text_node_is_refused() -> None:
    data = VALID.replace(b"<MsgId>M1</MsgId>", b"<MsgId>" + b"A" * 12_000_000 + b"</MsgId>")
    with pytest.raises(LimitExceededError):
        _parse(data)


def test_long_text_over_our_own_cap_is_refused_with_place() -> None:
    data = VALID.replace(b"<Sts>BOOK</Sts>", b"<Sts>" + b"B" * 200 + b"</Sts>", 1)
    with pytest.raises(FormatError) as info:
        _parse(data, Limits(max_text_length=100))
    problem = info.value.problems[0]
    assert problem.code == "CAMT-E003"
    assert problem.path == "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/Sts"


def test_file_size_cap() -> None:
    with pytest.raises(LimitExceededError) as info:
        _parse(VALID, Limits(max_file_bytes=400, head_bytes=200))
    assert "larger than 400 bytes" in str(info.value)


def test_bytes_between_entries_cap() -> None:
    bloated = VALID.replace(b"</Ntry>", b"<AddtlNtryInf>" + b"x" * 9000 + b"</AddtlNtryInf></Ntry>", 1)
    bloated = bloated.replace(
        b"<AddtlNtryInf>" + b"x" * 9000, b"".join([b"<AddtlNtryInf>x</AddtlNtryInf>"] * 600)
    )
    with pytest.raises(LimitExceededError) as info:
        _parse(bloated, Limits(max_bytes_between_entries=8192, head_bytes=1024))
    assert "without the end of an entry" in str(info.value)


def test_prolog_too_long() -> None:
    data = b"<?xml version='1.0'?>" + b"<!-- padding -->" * 5000 + VALID[VALID.index(b"<Document") :]
    with pytest.raises(LimitExceededError):
        _parse(data)


def test_problem_count_cap() -> None:
    data = document([statement([ntry(amt="bad") for _ in range(50)])])
    with pytest.raises(FormatError) as info:
        _parse(data, Limits(max_problems=10))
    assert len(info.value.problems) == 11
    assert info.value.problems[-1].code == "CAMT-E003"


def test_text_stream_is_refused() -> None:
    with pytest.raises(UnknownFormatError):
        for _ in camt.parse(io.StringIO(VALID.decode()), source="t.xml"):  # type: ignore[arg-type]
            pass
