"""Streaming XSD validation: the same verdicts as the full-tree validation, in flat memory."""

from __future__ import annotations

import io

import pytest

from formats.validate import validate, validate_streaming

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
def test_same_verdict_as_full_validation(mutation, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    data = mutation(VALID).encode()
    streaming = validate_streaming(io.BytesIO(data), source="s.xml")
    full = validate(io.BytesIO(data), source="s.xml")
    assert len(streaming) == len(full)
    assert all(p.source == "s.xml" and p.code == "XSD-E001" for p in streaming)
    for word in expected:
        assert any(word in p.message for p in streaming), [str(p) for p in streaming]


def test_unknown_namespace_is_one_clear_problem() -> None:
    data = b'<?xml version="1.0"?><Document xmlns="urn:example:nothing"><X/></Document>'
    [problem] = validate_streaming(io.BytesIO(data), source="x.xml")
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
def test_a_truncated_or_extended_file_is_not_well_formed(cut, what: str) -> None:  # type: ignore[no-untyped-def]
    data = cut(VALID).encode()
    problems = validate_streaming(io.BytesIO(data), source="t.xml")
    assert [p.code for p in problems] == ["CAMT-E001"], what
    assert "not well-formed" in problems[0].message


def test_trailing_comments_and_white_space_are_fine() -> None:
    data = (VALID + "\n<!-- exported by the bank -->\n<?done?>\n").encode()
    assert validate_streaming(io.BytesIO(data), source="t.xml") == []
