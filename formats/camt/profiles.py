"""Per-version profiles of camt.052 / camt.053 / camt.054 (.001.02 to .001.13).

A profile is selected from the root namespace (ISO ``urn:iso:std:iso:20022:tech:xsd:camt.053.001.08``,
a bank variant that still names the message, e.g. ``http://www.six-interbank-clearing.com/de/camt.053.001.04.xsd``,
or none at all, in which case the message is inferred from the envelope element and
the version is unknown). It names the elements of the message (``Stmt`` / ``Rpt`` /
``Ntfctn`` ...) and records the version differences the parser cares about:

============  ===========================  ==========================================
versions      element                      form
============  ===========================  ==========================================
02            agent BIC                    ``FinInstnId/BIC``
03+           agent BIC                    ``FinInstnId/BICFI``
02-06         entry status                 ``<Sts>BOOK</Sts>``
07+           entry status                 ``<Sts><Cd>BOOK</Cd></Sts>``
02-06         party                        ``Dbtr/Nm``
07+           party                        ``Dbtr/Pty/Nm`` (Party35Choice and later)
02            charges                      repeated ``Chrgs/Amt``
03+           charges                      ``Chrgs/TtlChrgsAndTaxAmt`` + ``Chrgs/Rcrd/Amt``
02            transaction amount           only ``TxDtls/AmtDtls/TxAmt/Amt``
03+           transaction amount           ``TxDtls/Amt`` + ``TxDtls/CdtDbtInd``
02            pagination                   ``GrpHdr/MsgPgntn`` only
03+           pagination                   also ``Stmt/StmtPgntn`` (``RptPgntn``, ``NtfctnPgntn``)
============  ===========================  ==========================================

Real files do not always follow their version (a v02 file with ``Cdtr/Pty/Nm``), so
the parser reads both forms whatever the profile says; the profile gives the names and
the preferred form (used by the test writer too).

>>> p = select_profile("urn:iso:std:iso:20022:tech:xsd:camt.053.001.08", "BkToCstmrStmt")
>>> p.format, p.kind.value, p.statement, p.status_choice, p.party_choice, p.bic
('camt.053.001.08', 'statement', 'Stmt', True, True, 'BICFI')
>>> select_profile("", "BkToCstmrDbtCdtNtfctn").format
'camt.054'
>>> select_profile("urn:iso:std:iso:20022:tech:xsd:pain.008.001.02", "CstmrDrctDbtInitn") is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from formats.camt.records import DocumentKind

SUPPORTED_VERSIONS = range(2, 14)  # .001.02 to .001.13

_NAMESPACE_RE = re.compile(r"camt\.(05[234])\.001\.(\d{2})")


@dataclass(frozen=True, slots=True)
class Message:
    message: str  # "camt.053"
    kind: DocumentKind
    envelope: str  # child of Document
    statement: str  # repeated statement-like element
    pagination: str  # per-statement pagination (V3+)
    additional_info: str  # per-statement free text


MESSAGES: dict[str, Message] = {
    "camt.052": Message(
        "camt.052", DocumentKind.REPORT, "BkToCstmrAcctRpt", "Rpt", "RptPgntn", "AddtlRptInf"
    ),
    "camt.053": Message(
        "camt.053", DocumentKind.STATEMENT, "BkToCstmrStmt", "Stmt", "StmtPgntn", "AddtlStmtInf"
    ),
    "camt.054": Message(
        "camt.054",
        DocumentKind.NOTIFICATION,
        "BkToCstmrDbtCdtNtfctn",
        "Ntfctn",
        "NtfctnPgntn",
        "AddtlNtfctnInf",
    ),
}
_BY_ENVELOPE = {m.envelope: m for m in MESSAGES.values()}


@dataclass(frozen=True, slots=True)
class Profile:
    message: Message
    version: int | None  # None: namespace-less or a variant namespace without a version
    namespace: str  # as written on the root, "" when none

    @property
    def format(self) -> str:
        """ "camt.053.001.08", or "camt.053" when the version is unknown."""
        if self.version is None:
            return self.message.message
        return f"{self.message.message}.001.{self.version:02d}"

    @property
    def kind(self) -> DocumentKind:
        return self.message.kind

    @property
    def envelope(self) -> str:
        return self.message.envelope

    @property
    def statement(self) -> str:
        return self.message.statement

    @property
    def status_choice(self) -> bool:
        """Entry status as ``Sts/Cd`` (V7+) rather than ``Sts`` text."""
        return self.version is None or self.version >= 7

    @property
    def party_choice(self) -> bool:
        """Parties wrapped as ``Dbtr/Pty`` (V7+) rather than ``Dbtr/Nm``."""
        return self.version is None or self.version >= 7

    @property
    def bic(self) -> str:
        """Element name of an agent's BIC."""
        return "BIC" if self.version == 2 else "BICFI"

    @property
    def transaction_amount(self) -> bool:
        """``TxDtls/Amt`` and ``TxDtls/CdtDbtInd`` exist (V3+)."""
        return self.version is None or self.version >= 3

    def qname(self, local: str) -> str:
        """Clark-notation tag of a local name in the document's namespace."""
        return f"{{{self.namespace}}}{local}" if self.namespace else local


class UnsupportedVersion(ValueError):
    """A camt namespace with a version outside 02..13."""

    def __init__(self, message: str, version: int) -> None:
        self.message = message
        self.version = version
        super().__init__(f"{message}.001.{version:02d} is not supported (versions 02 to 13 are)")


def select_profile(namespace: str, envelope: str) -> Profile | None:
    """The profile of a document from its root namespace and envelope element (local name).

    Returns None when neither names a camt.052/053/054; raises UnsupportedVersion for a
    camt namespace of another version. When the namespace and the envelope disagree,
    the envelope wins only if the namespace names no camt message at all.
    """
    match = _NAMESPACE_RE.search(namespace)
    by_envelope = _BY_ENVELOPE.get(envelope)
    if match is not None:
        message = MESSAGES[f"camt.{match.group(1)}"]
        version = int(match.group(2))
        if by_envelope is not message:
            return None
        if version not in SUPPORTED_VERSIONS:
            raise UnsupportedVersion(message.message, version)
        return Profile(message, version, namespace)
    if by_envelope is None:
        return None
    if namespace and "camt" not in namespace.lower() and "20022" not in namespace:
        return None  # a foreign namespace that happens to reuse the element name
    return Profile(by_envelope, None, namespace)


def profile_for(format_id: str, *, namespace: str | None = None) -> Profile:
    """The profile of ``camt.05N.001.VV`` with the ISO namespace (for writers and tests)."""
    message, _, version = format_id.rpartition(".001.")
    ns = namespace if namespace is not None else f"urn:iso:std:iso:20022:tech:xsd:{format_id}"
    return Profile(MESSAGES[message], int(version), ns)
