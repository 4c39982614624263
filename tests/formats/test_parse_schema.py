"""One-pass XSD validation while parsing: ``formats.camt.parse(..., schema=...)``."""

from __future__ import annotations

import io

import pytest

from formats import camt
from formats.errors import MalformedInputError, Severity
from formats.validate import schema_for_head

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
ENTRY = (
    '<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
    "<BookgDt><Dt>2024-01-02</Dt></BookgDt><BkTxCd/></Ntry>"
)


def document(
    grp_hdr: str = "<MsgId>M1</MsgId><CreDtTm>2024-01-31T18:00:00</CreDtTm>", statements: int = 2
) -> bytes:
    stmt = (
        "<Stmt><Id>S{n}</Id><CreDtTm>2024-01-31T18:00:00</CreDtTm>"
        "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>"
        '<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">0</Amt>'
        "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-01-01</Dt></Dt></Bal>" + ENTRY + ENTRY + "</Stmt>"
    )
    body = "".join(stmt.format(n=n) for n in range(1, statements + 1))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NS}"><BkToCstmrStmt>'
        f"<GrpHdr>{grp_hdr}</GrpHdr>{body}</BkToCstmrStmt></Document>\n"
    ).encode()


def parse(data: bytes, *, validate: bool) -> list[camt.CamtRecord]:
    schema = schema_for_head(data[:4096]) if validate else None
    return list(camt.parse(io.BytesIO(data), source="s.xml", schema=schema))


def test_valid_document_gives_the_same_records() -> None:
    data = document()
    assert parse(data, validate=True) == parse(data, validate=False)


def test_deviations_are_warnings_of_the_last_statement_end() -> None:
    data = document(grp_hdr="<MsgId>M1</MsgId>")  # the XSD wants GrpHdr/CreDtTm
    plain = parse(data, validate=False)
    records = parse(data, validate=True)
    assert records[:-1] == plain[:-1]
    last = records[-1]
    assert isinstance(last, camt.StatementEnd) and last.index == 2
    [deviation] = last.warnings
    assert deviation.code == "XSD-E001" and deviation.severity is Severity.WARNING
    assert deviation.message == "Element 'GrpHdr': Missing child element(s). Expected is ( CreDtTm )."
    assert deviation.line is None and deviation.path is None


@pytest.mark.parametrize(
    "data",
    [
        document()[:400],  # truncated: lxml ends quietly when it validates
        document()[:-40],
        document() + b"<Document/>",  # content after the root element
        document(grp_hdr="<MsgId>M1</MsgId>") + b"junk",  # ... hidden behind a deviation
        document(grp_hdr="<MsgId>M1</MsgId>").rstrip() + b"</Document>\n",
    ],
    ids=[
        "truncated-head",
        "truncated-tail",
        "trailing-element",
        "trailing-text-after-deviation",
        "closed-twice",
    ],
)
def test_malformed_document_is_still_refused(data: bytes) -> None:
    with pytest.raises(MalformedInputError) as caught:
        parse(data, validate=True)
    assert {p.code for p in caught.value.problems} == {"CAMT-E001"}


def test_comments_after_the_root_are_fine() -> None:
    data = document() + b"<!-- exported -->\n<?done yes?>\n"
    assert parse(data, validate=True) == parse(data, validate=False)
