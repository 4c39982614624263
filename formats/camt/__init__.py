"""ISO 20022 camt.052 / camt.053 / camt.054 adapter (bank-to-customer cash management, .001.02-.001.13).

Adapter surface (see STYLE.md)::

    FORMAT = "camt"
    identify(head: bytes) -> bool
    parse(stream, *, source) -> Iterator[MessageHeader | StatementHeader | Entry | StatementEnd]
    parse_document(stream, *, source) -> CamtDocument           # materialised, small files
    document_to_json(document) -> dict                            # the `arbridge parse --json` shape

Consume a large statement lazily::

    with open(path, "rb") as f:
        for record in camt.parse(f, source=path.name):
            if isinstance(record, camt.Entry): ...

A refused file raises a :class:`formats.errors.FormatError` subclass, possibly after
records were yielded: commit nothing before ``parse()`` is exhausted.
"""

from __future__ import annotations

import re

from formats.camt.fingerprint import entry_fingerprint
from formats.camt.jsonout import document_to_json
from formats.camt.parser import DEFAULT_LIMITS, Limits, parse, parse_document
from formats.camt.profiles import Profile, select_profile
from formats.camt.records import (
    CamtDocument,
    CamtRecord,
    CreditDebit,
    DocumentKind,
    Entry,
    EntryStatus,
    MessageHeader,
    Statement,
    StatementEnd,
    StatementHeader,
    Transaction,
)

FORMAT = "camt"

_ENVELOPE_RE = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(BkToCstmrStmt|BkToCstmrAcctRpt|BkToCstmrDbtCdtNtfctn)[\s>/]"
)
_NAMESPACE_RE = re.compile(rb"camt\.05[234]\.001\.\d\d")


def identify(head: bytes) -> bool:
    """True when the first bytes look like a camt.052/053/054 document (namespace or envelope)."""
    return bool(_NAMESPACE_RE.search(head) or _ENVELOPE_RE.search(head))


__all__ = [
    "DEFAULT_LIMITS",
    "FORMAT",
    "CamtDocument",
    "CamtRecord",
    "CreditDebit",
    "DocumentKind",
    "Entry",
    "EntryStatus",
    "Limits",
    "MessageHeader",
    "Profile",
    "Statement",
    "StatementEnd",
    "StatementHeader",
    "Transaction",
    "document_to_json",
    "entry_fingerprint",
    "identify",
    "parse",
    "parse_document",
    "select_profile",
]
