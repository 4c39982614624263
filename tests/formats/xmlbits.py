"""Small inline camt documents for table-driven tests: wrap Ntry snippets into a whole file."""

from __future__ import annotations

import io
from collections.abc import Sequence

from formats import camt
from formats.camt.records import CamtDocument, Entry

MESSAGES = {
    "053": ("BkToCstmrStmt", "Stmt"),
    "052": ("BkToCstmrAcctRpt", "Rpt"),
    "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}

BALANCES = """
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100.00</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-01-01</Dt></Dt></Bal>
"""


def ntry(
    body: str = "", *, amt: str = "10.00", ccy: str = "EUR", ind: str = "CRDT", sts: str = "BOOK"
) -> str:
    """A v2-style Ntry; ``body`` is inserted after BookgDt/ValDt."""
    return (
        f'<Ntry><Amt Ccy="{ccy}">{amt}</Amt><CdtDbtInd>{ind}</CdtDbtInd><Sts>{sts}</Sts>'
        f"<BookgDt><Dt>2024-01-02</Dt></BookgDt><ValDt><Dt>2024-01-03</Dt></ValDt>{body}</Ntry>"
    )


def statement(
    entries: Sequence[str] = (),
    *,
    message: str = "053",
    account: str = "<Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy>",
    balances: str = BALANCES,
    stmt_id: str = "S1",
    head: str = "",
) -> str:
    _, stmt = MESSAGES[message]
    return (
        f"<{stmt}><Id>{stmt_id}</Id>{head}<Acct>{account}</Acct>{balances}" + "".join(entries) + f"</{stmt}>"
    )


def document(
    statements: Sequence[str] | str,
    *,
    message: str = "053",
    version: str = "02",
    namespace: str | None = None,
    grp_hdr: str = "<GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-01-31T18:00:00</CreDtTm></GrpHdr>",
) -> bytes:
    envelope, _ = MESSAGES[message]
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.{message}.001.{version}" if namespace is None else namespace
    xmlns = f' xmlns="{ns}"' if ns else ""
    body = statements if isinstance(statements, str) else "".join(statements)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document{xmlns}><{envelope}>{grp_hdr}{body}'
        f"</{envelope}></Document>"
    ).encode()


def parse_bytes(data: bytes, source: str = "test.xml") -> CamtDocument:
    return camt.parse_document(io.BytesIO(data), source=source)


def one_entry(entry_xml: str, **kwargs: str) -> Entry:
    """Parse a document holding one statement with this one entry, and return the entry."""
    doc = parse_bytes(document([statement([entry_xml])], **kwargs))
    (stmt,) = doc.statements
    (entry,) = stmt.entries
    return entry
