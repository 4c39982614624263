"""Streaming parser of ISO 20022 camt.052 / camt.053 / camt.054 (.001.02 to .001.13).

``parse(stream, source=...)`` yields, lazily and in document order::

    MessageHeader                      GrpHdr
    StatementHeader                    Stmt / Rpt / Ntfctn, everything before its first Ntry
    Entry, Entry, ...                  each Ntry with its TxDtls
    StatementEnd                       all balances, booked totals, balance-check warning
    StatementHeader ... StatementEnd   the next statement of the document

Memory stays flat whatever the file size: ``lxml.etree.iterparse`` reports only the
``end`` of GrpHdr, the statement elements and Ntry; each is read, cleared and its
previous siblings are deleted. Nothing is accumulated per entry except running totals.

Errors are collected: an entry with a problem is not yielded, parsing goes on, and at
the end of the document :class:`~formats.errors.InvalidContentError` is raised with
every problem (up to ``Limits.max_problems``). Records yielded before that error must
be discarded by the caller -- the gateway commits a file only once ``parse()`` is
exhausted. A well-formedness error, a DOCTYPE or a limit stops the parse at once.

Hostile input: no DTD is loaded, no entity resolved, no network, DOCTYPE refused,
``huge_tree`` off (libxml2 caps depth at 256 and a text node at 10 MB), and
:class:`Limits` caps the file size, the bytes between two entries (so a single
enormous entry or header cannot balloon), text lengths and the problem count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import BinaryIO

from lxml import etree

from formats.amount import Amount, is_currency_code, parse_decimal_amount
from formats.camt import fastpath
from formats.camt.build import Interner
from formats.camt.leaves import BALANCE_TYPES as _BALANCE_TYPES
from formats.camt.leaves import BOOLEANS as _BOOLEANS
from formats.camt.leaves import CREDIT_DEBIT as _CREDIT_DEBIT
from formats.camt.leaves import LENIENT_BOOLEANS as _LENIENT_BOOLEANS
from formats.camt.leaves import NO_PARTIES as _NO_PARTIES
from formats.camt.leaves import NO_REFS as _NO_REFS
from formats.camt.leaves import (  # re-exported: rf/qr checks are part of this module's API
    SENTINELS,
    booked_amount,
    date_from_text,
    datetime_from_text,
    qr_reference_is_valid,
    reference_kind,
    rf_reference_is_valid,
)
from formats.camt.leaves import STATUS as _STATUS
from formats.camt.leaves import make_amount as _make_amount
from formats.camt.leaves import make_bank_tx_code as _make_bank_tx_code
from formats.camt.leaves import make_entry as _make_entry
from formats.camt.leaves import make_origin as _make_origin
from formats.camt.leaves import make_parties as _make_parties
from formats.camt.leaves import make_party as _make_party
from formats.camt.leaves import make_reference as _make_reference
from formats.camt.leaves import make_refs as _make_refs
from formats.camt.leaves import make_transaction as _make_transaction
from formats.camt.profiles import Profile, UnsupportedVersion, select_profile
from formats.camt.records import (
    Account,
    AmountDetails,
    Balance,
    BalanceType,
    BankTransactionCode,
    Batch,
    CamtDocument,
    CamtRecord,
    Charge,
    Charges,
    CreditDebit,
    CreditorReference,
    CurrencyExchange,
    Entry,
    EntryStatus,
    MessageHeader,
    Origin,
    Pagination,
    Party,
    RelatedParties,
    ReturnInfo,
    Statement,
    StatementEnd,
    StatementHeader,
    Transaction,
)
from formats.errors import (
    FormatError,
    HostileInputError,
    InvalidContentError,
    LimitExceededError,
    MalformedInputError,
    Problem,
    Severity,
    UnknownFormatError,
)

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "parse",
    "parse_document",
    "qr_reference_is_valid",
    "rf_reference_is_valid",
]

Element = etree._Element


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that keep a hostile or broken file from hanging or ballooning the parser."""

    max_file_bytes: int = 8 * 1024**3  # whole file
    max_bytes_between_entries: int = 64 * 1024**2  # one Ntry, or a header, or junk between entries
    max_text_length: int = 100_000  # any text the parser reads (the XSD's longest is 500)
    max_problems: int = 1_000  # collected before the parse gives up
    head_bytes: int = 64 * 1024  # prolog + root start must fit in this


DEFAULT_LIMITS = Limits()


class _Abort(Exception):
    """Internal: stop the parse with a FormatError (raised through lxml's read callback)."""

    def __init__(self, error: FormatError) -> None:
        super().__init__(error)
        self.error = error


class _GuardedReader:
    """File-like over the stream, replaying the already-read head and enforcing byte caps."""

    def __init__(self, stream: BinaryIO, head: bytes, source: str, limits: Limits) -> None:
        self._stream = stream
        self._head: bytes | None = head
        self._source = source
        self._limits = limits
        self.position = len(head)
        self.mark = 0  # position when the last entry/statement ended
        self.previous = b""  # the two last chunks read: the end of the document, once it is read
        self.last = head

    def read(self, size: int = -1) -> bytes:
        if self._head is not None:
            data, self._head = self._head, None
            return data
        data = self._stream.read(size if size and size > 0 else 65536)
        if not isinstance(data, bytes):
            raise _Abort(
                UnknownFormatError(
                    self._source,
                    [
                        Problem(
                            "CAMT-E004", "the stream must be opened in binary mode", self._source, None, None
                        )
                    ],
                )
            )
        self.position += len(data)
        if data:
            self.previous, self.last = self.last, data
        if self.position > self._limits.max_file_bytes:
            self._limit(f"file is larger than {self._limits.max_file_bytes} bytes")
        if self.position - self.mark > self._limits.max_bytes_between_entries:
            self._limit(
                f"more than {self._limits.max_bytes_between_entries} bytes without the end of an entry"
                f" (at byte {self.position})"
            )
        return data

    def drain(self) -> bytes:
        """Read the rest of the stream (within the caps); return its last bytes."""
        tail = b""
        while data := self.read(1 << 20):
            tail = (tail + data)[-(2 << 20) :]
        return tail

    def _limit(self, message: str) -> None:
        raise _Abort(
            LimitExceededError(self._source, [Problem("CAMT-E003", message, self._source, None, None)])
        )


def _index(elem: Element) -> dict[str, list[Element]]:
    """Children by tag, in one pass (lxml's find() costs several microseconds a call)."""
    kids: dict[str, list[Element]] = {}
    for c in elem:
        found = kids.get(c.tag)
        if found is None:
            kids[c.tag] = [c]
        else:
            found.append(c)
    return kids


def _first(found: list[Element] | None) -> Element | None:
    return found[0] if found else None


def _line(elem: Element | None) -> int | None:
    """sourceline of an element (lxml-stubs types it loosely)."""
    if elem is None:
        return None
    line: object = elem.sourceline
    return line if isinstance(line, int) else None


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _local_path(elem: Element, anchor: Element, anchor_path: str) -> str:
    """XPath by local names of elem below anchor (whose siblings may be gone, hence anchor_path)."""
    steps: list[str] = []
    node: Element | None = elem
    while node is not None and node is not anchor:
        parent = node.getparent()
        name = _local(node.tag)
        if parent is None:
            steps.append(name)
            break
        same = [c for c in parent if _local(c.tag) == name]
        steps.append(f"{name}[{same.index(node) + 1}]" if len(same) > 1 else name)
        node = parent
    return "/".join([anchor_path, *reversed(steps)])


def _read_head(stream: BinaryIO, source: str, limits: Limits) -> tuple[bytes, str, str, str]:
    """Read the prolog: refuse DOCTYPE, return (head, root local name, namespace, envelope local name)."""
    head = stream.read(limits.head_bytes)
    if not isinstance(head, bytes):
        raise UnknownFormatError(
            source, [Problem("CAMT-E004", "the stream must be opened in binary mode", source, None, None)]
        )
    if not head.strip():
        raise MalformedInputError(source, [Problem("CAMT-E001", "the file is empty", source, 1, None)])
    pull = etree.XMLPullParser(
        events=("start",),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    starts: list[Element] = []
    try:
        pull.feed(head)
        for _event, elem in pull.read_events():
            if isinstance(elem, etree._Element):
                starts.append(elem)
            if len(starts) == 2:
                break
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, source, None) from None
    if not starts:
        if len(head) < limits.head_bytes:
            raise MalformedInputError(
                source, [Problem("CAMT-E001", "no root element (truncated or not XML)", source, None, None)]
            )
        raise LimitExceededError(
            source,
            [
                Problem(
                    "CAMT-E003", f"no root element in the first {limits.head_bytes} bytes", source, None, None
                )
            ],
        )
    root = starts[0]
    docinfo = root.getroottree().docinfo
    dtd_parts: tuple[object, ...] = (
        getattr(docinfo, "doctype", ""),
        getattr(docinfo, "internalDTD", None),
        getattr(docinfo, "externalDTD", None),
    )
    if any(dtd_parts):
        raise HostileInputError(
            source,
            [
                Problem(
                    "CAMT-E002",
                    "DOCTYPE declarations are refused (entities and DTDs are never processed)",
                    source,
                    1,
                    None,
                )
            ],
        )
    tag = root.tag if isinstance(root.tag, str) else ""
    namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
    envelope = _local(starts[1].tag) if len(starts) > 1 else ""
    return head, _local(tag), namespace, envelope


def _syntax_error(exc: etree.XMLSyntaxError, source: str, near: str | None) -> FormatError:
    line = exc.lineno if exc.lineno else None
    message = (exc.msg or str(exc)).strip()
    where = f" (after {near})" if near else ""
    lowered = message.lower()
    if "excessive depth" in lowered or "huge" in lowered or "xml_parse_huge" in lowered:
        return LimitExceededError(source, [Problem("CAMT-E003", message + where, source, line, None)])
    if "entity" in lowered or "doctype" in lowered or "dtd" in lowered:
        return HostileInputError(source, [Problem("CAMT-E002", message + where, source, line, None)])
    return MalformedInputError(source, [Problem("CAMT-E001", message + where, source, line, None)])


class _Names:
    """Clark-notation tags of the local names the hot path reads, computed once per document."""

    def __init__(self, profile: Profile) -> None:
        for name in _HOT_NAMES:
            setattr(self, name, profile.qname(name))

    def __getattr__(self, name: str) -> str:  # only for mypy; every name is set in __init__
        raise AttributeError(name)


_HOT_NAMES = (
    "AcctSvcrRef AddtlNtryInf AddtlRmtInf AddtlTxInf Agt AmtDtls Amt AnyBIC BIC BICFI BICOrBEI BkTxCd Btch "
    "BookgDt Cd CdOrPrtry Cdtr CdtrAcct CdtrAgt CdtrRefInf CdtDbtInd Chrgs Ctry DbtrAcct Dbtr DbtrAgt Domn "
    "Dt DtTm EndToEndId FinInstnId Fmly IBAN Id InstrId Issr MndtId MsgId Nm NtryDtls NtryRef OrgId Othr "
    "PmtInfId PrvtId Prtry PstlAdr Pty Purp Ref Refs RltdAgts RltdPties RmtInf RtrInf RvslInd Strd Sts "
    "SubFmlyCd Tp TxDtls TxId UETR UltmtCdtr UltmtDbtr Ustrd ValDt AdrLine"
).split()


class _Totals:
    """Running sums of the booked entries of one statement, in the statement's currency."""

    __slots__ = ("credits", "currency", "debits", "other_currency")

    def __init__(self, currency: str | None) -> None:
        self.currency = currency
        self.credits = Decimal(0)
        self.debits = Decimal(0)
        self.other_currency = 0

    def add(self, entry: Entry) -> None:
        if entry.status is not EntryStatus.BOOKED:
            return
        if self.currency is None:
            self.currency = entry.amount.currency
        if entry.amount.currency != self.currency:
            self.other_currency += 1
        elif entry.credit_debit is CreditDebit.CREDIT:
            self.credits += entry.amount.value
        else:
            self.debits += entry.amount.value


class _Reader:
    """Reads one document's elements into records, collecting problems."""

    def __init__(self, profile: Profile, source: str, limits: Limits, root_name: str) -> None:
        self.profile = profile
        self.source = source
        self.limits = limits
        ns = profile.namespace
        self._prefix = f"{{{ns}}}" if ns else ""
        self.root_path = f"/{root_name}/{profile.envelope}"
        self.problems: list[Problem] = []
        self.error_count = 0
        # current anchor for lazily computed paths
        self._anchor: Element | None = None
        self._anchor_path = ""
        self._scratch: list[Problem] = []  # problems of the record being read
        self.account_iban: str | None = None  # of the current statement, for counterparties
        self._kids: dict[Element, dict[str, list[Element]]] = {}
        q = profile.qname
        self.q = q
        self.n = _Names(profile)
        # Equal sub-records recur from entry to entry (the same bank code, the same creditor).
        self._party = Interner(_make_party)
        self._bank_tx_code = Interner(_make_bank_tx_code)
        self._fast = (
            fastpath.FastEntryReader(
                ns, source, limits.max_text_length, self._party, self._bank_tx_code, self.counterparty
            )
            if fastpath.ACCELERATED
            else None
        )

    # -- problems ---------------------------------------------------------------------------

    def _anchor_to(self, elem: Element, path: str) -> None:
        self._anchor = elem
        self._anchor_path = path

    def path_of(self, elem: Element | None) -> str:
        if elem is None or self._anchor is None:
            return self._anchor_path
        return _local_path(elem, self._anchor, self._anchor_path)

    def problem(
        self,
        code: str,
        message: str,
        elem: Element | None,
        severity: Severity = Severity.ERROR,
        *,
        line: int | None = None,
    ) -> None:
        if line is None:
            line = _line(elem) if elem is not None else _line(self._anchor)
        self._scratch.append(Problem(code, message, self.source, line, self.path_of(elem), severity))

    def problem_at(
        self, anchor_path: str, code: str, message: str, elem: Element | None, *, line: int | None = None
    ) -> None:
        """A problem outside any record being read (anchored at a known path)."""
        self._anchor = None
        self._anchor_path = anchor_path
        self.problem(code, message, None, line=_line(elem) if elem is not None and line is None else line)
        self.flush()

    def flush(self) -> tuple[tuple[Problem, ...], bool]:
        """Move the current record's problems to the document list; (warnings, had_error)."""
        scratch, self._scratch = self._scratch, []
        errors = [p for p in scratch if p.severity is Severity.ERROR]
        self.problems.extend(scratch)
        self.error_count += len(errors)
        if self.error_count >= self.limits.max_problems:
            self.problems.append(
                Problem(
                    "CAMT-E003",
                    f"{self.error_count} errors: stopped collecting",
                    self.source,
                    None,
                    self._anchor_path,
                )
            )
            raise _Abort(InvalidContentError(self.source, self.problems))
        return tuple(p for p in scratch if p.severity is Severity.WARNING), bool(errors)

    # -- leaves -----------------------------------------------------------------------------

    # lxml's find()/findall() go through its ElementPath machinery (several us a call);
    # instead each element's children are indexed once, by tag, in one pass, and the
    # index is kept until the record is read (reset() before every entry).

    def _index(self, elem: Element) -> dict[str, list[Element]]:
        kids = self._kids.get(elem)
        if kids is None:
            kids = {}
            for c in elem:
                found = kids.get(c.tag)
                if found is None:
                    kids[c.tag] = [c]
                else:
                    found.append(c)
            self._kids[elem] = kids
        return kids

    def child(self, elem: Element | None, name: str) -> Element | None:
        if elem is None:
            return None
        found = self._index(elem).get(self._prefix + name)
        return found[0] if found else None

    def children(self, elem: Element | None, name: str) -> list[Element]:
        if elem is None:
            return []
        return self._index(elem).get(self._prefix + name) or []

    def text_of(self, elem: Element | None) -> str | None:
        if elem is None:
            return None
        text = elem.text
        if text is None:
            return None
        if len(text) > self.limits.max_text_length:
            self.problem("CAMT-E003", f"text longer than {self.limits.max_text_length} characters", elem)
            return None
        return text

    def text(self, elem: Element | None, *names: str) -> str | None:
        """Stripped text at a child path (local names), None when absent or empty."""
        for name in names:
            if elem is None:
                return None
            found = self._index(elem).get(self._prefix + name)
            elem = found[0] if found else None
        value = self.text_of(elem)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def raw_text(self, elem: Element | None) -> str | None:
        """Text as written (free text such as Ustrd), None when absent or empty."""
        value = self.text_of(elem)
        return value if value and value.strip() else None

    def ref(self, elem: Element | None, *names: str) -> str | None:
        value = self.text(elem, *names)
        return None if value is None or value.upper() in SENTINELS else value

    def amount(self, elem: Element | None, what: str, *, required: bool = True) -> Amount | None:
        """An ``Amt``-typed element: non-negative Decimal as written + Ccy attribute."""
        if elem is None:
            if required:
                self.problem("CAMT-E012", f"{what} is missing", None)
            return None
        raw = self.text_of(elem)
        currency = (elem.get("Ccy") or "").strip()
        value = parse_decimal_amount(raw) if raw is not None and len(raw) <= 64 else None
        if value is None:
            shown = (raw or "")[:40]
            self.problem(
                "CAMT-E010",
                f"{what} {shown!r} is not a non-negative amount with at most 18 digits, 5 decimals",
                elem,
            )
        if not is_currency_code(currency):
            self.problem("CAMT-E011", f"{what} has no valid Ccy attribute ({currency[:10]!r})", elem)
            return None
        return None if value is None else _make_amount(value, currency)

    def credit_debit(self, elem: Element | None, what: str, *, required: bool = True) -> CreditDebit | None:
        if elem is None:
            if required:
                self.problem("CAMT-E012", f"{what} is missing", None)
            return None
        value = (self.text_of(elem) or "").strip()
        indicator = _CREDIT_DEBIT.get(value)
        if indicator is None:
            self.problem("CAMT-E013", f"{what} {value[:20]!r} is neither CRDT nor DBIT", elem)
        return indicator

    def boolean(self, elem: Element | None, what: str, *, lenient: bool = False) -> bool | None:
        if elem is None:
            return None
        value = (self.text_of(elem) or "").strip()
        result = _BOOLEANS.get(value)
        if result is None and lenient:
            result = _LENIENT_BOOLEANS.get(value.lower())
            if result is not None:
                self.problem(
                    "CAMT-E015",
                    f"{what} {value!r} is not an xs:boolean; read as {str(result).lower()}",
                    elem,
                    Severity.WARNING,
                )
                return result
        if result is None:
            self.problem("CAMT-E015", f"{what} {value[:20]!r} is not a boolean", elem)
        return result

    def date_choice(self, elem: Element | None, what: str) -> tuple[date | None, datetime | None]:
        """A DateAndDateTimeChoice (``Dt`` or ``DtTm``): (date, datetime)."""
        if elem is None:
            return None, None
        k = _index(elem)
        dt_elem = k.get(self.n.DtTm)
        if dt_elem:
            stamp = self.datetime_of(dt_elem[0], f"{what}/DtTm")
            return (stamp.date() if stamp else None), stamp
        d_elem = k.get(self.n.Dt)
        if not d_elem:
            self.problem("CAMT-E012", f"{what} has neither Dt nor DtTm", elem)
            return None, None
        return self.date_of(d_elem[0], f"{what}/Dt"), None

    def date_of(self, elem: Element, what: str) -> date | None:
        value = (self.text_of(elem) or "").strip()
        try:
            return date_from_text(value)
        except ValueError:
            self.problem("CAMT-E014", f"{what} {value[:40]!r} is not a date (YYYY-MM-DD)", elem)
            return None

    def datetime_of(self, elem: Element | None, what: str) -> datetime | None:
        if elem is None:
            return None
        value = (self.text_of(elem) or "").strip()
        try:
            return datetime_from_text(value)
        except ValueError:
            self.problem("CAMT-E014", f"{what} {value[:40]!r} is not a date-time", elem)
            return None

    def pagination(self, elem: Element | None, what: str) -> Pagination | None:
        if elem is None:
            return None
        page = self.text(elem, "PgNb")
        last = self.boolean(self.child(elem, "LastPgInd"), f"{what}/LastPgInd", lenient=True)
        if page is None:
            self.problem("CAMT-E012", f"{what}/PgNb is missing", elem)
        return Pagination(page or "", bool(last))

    # -- composite parts --------------------------------------------------------------------

    def bic(self, fin_instn: Element | None) -> str | None:
        if fin_instn is None:
            return None
        return self.text(fin_instn, "BICFI") or self.text(fin_instn, "BIC")

    def party(self, elem: Element | None) -> Party | None:
        """PartyIdentification (V2-V6) or Party35Choice & later (``Pty`` / ``Agt``)."""
        if elem is None:
            return None
        n = self.n
        k = _index(elem)
        wrapped = k.get(n.Pty)
        if wrapped:
            k = _index(wrapped[0])
        else:
            agent = k.get(n.Agt)
            if agent:
                fin = self.child(agent[0], "FinInstnId")
                return Party(self.text(fin, "Nm"), self.bic(fin), None, ())
        identifier: str | None = None
        ident = k.get(n.Id)
        if ident:
            ik = _index(ident[0])
            org = ik.get(n.OrgId)
            if org:
                ok = _index(org[0])
                identifier = (
                    self.t1(ok.get(n.AnyBIC)) or self.t1(ok.get(n.BICOrBEI)) or self._othr(ok.get(n.Othr))
                )
            else:
                prvt = ik.get(n.PrvtId)
                if prvt:
                    identifier = self._othr(_index(prvt[0]).get(n.Othr))
        country: str | None = None
        lines: tuple[str, ...] = ()
        address = k.get(n.PstlAdr)
        if address:
            ak = _index(address[0])
            country = self.t1(ak.get(n.Ctry))
            adr_lines = ak.get(n.AdrLine)
            if adr_lines:
                lines = tuple(t for t in (self.raw_text(a) for a in adr_lines) if t)
        return self._party(self.t1(k.get(n.Nm)), identifier, country, lines)  # type: ignore[no-any-return]

    def t1(self, found: list[Element] | None) -> str | None:
        """Stripped text of the first of some children (an _index() entry), None when absent/empty."""
        if not found:
            return None
        text = found[0].text
        if text is None:
            return None
        if len(text) > self.limits.max_text_length:
            return self.text_of(found[0])  # reports the problem
        return text.strip() or None

    def r1(self, found: list[Element] | None) -> str | None:
        """Like t1, for references: the sentinels NOTPROVIDED / NONREF read as None."""
        value = self.t1(found)
        return None if value is None or value.upper() in SENTINELS else value

    def _othr(self, found: list[Element] | None) -> str | None:
        return self.t1(_index(found[0]).get(self.n.Id)) if found else None

    def _agent_bic(self, found: list[Element] | None) -> str | None:
        if not found:
            return None
        fin = _index(found[0]).get(self.n.FinInstnId)
        if not fin:
            return None
        fk = _index(fin[0])
        return self.t1(fk.get(self.n.BICFI)) or self.t1(fk.get(self.n.BIC))

    def account_ids(self, acct: Element | None) -> tuple[str | None, str | None]:
        if acct is None:
            return None, None
        ident = _index(acct).get(self.n.Id)
        if not ident:
            return None, None
        ik = _index(ident[0])
        return self.t1(ik.get(self.n.IBAN)), self._othr(ik.get(self.n.Othr))

    def bank_tx_code(self, elem: Element | None) -> BankTransactionCode | None:
        if elem is None:
            return None
        n = self.n
        k = _index(elem)
        domain = family = subfamily = code = issuer = None
        domn = k.get(n.Domn)
        if domn:
            dk = _index(domn[0])
            domain = self.t1(dk.get(n.Cd))
            fmly = dk.get(n.Fmly)
            if fmly:
                fk = _index(fmly[0])
                family = self.t1(fk.get(n.Cd))
                subfamily = self.t1(fk.get(n.SubFmlyCd))
        prtry = k.get(n.Prtry)
        if prtry:
            pk = _index(prtry[0])
            code = self.t1(pk.get(n.Cd))
            issuer = self.t1(pk.get(n.Issr))
        return self._bank_tx_code(domain, family, subfamily, code, issuer)  # type: ignore[no-any-return]

    def exchange(self, elem: Element | None) -> CurrencyExchange | None:
        xchg = self.child(elem, "CcyXchg")
        if xchg is None:
            return None
        raw = self.text(xchg, "XchgRate")
        rate: Decimal | None = None
        if raw is not None and len(raw) <= 40:
            try:
                rate = Decimal(raw)
            except InvalidOperation:
                rate = None
        if rate is None or not rate.is_finite() or rate < 0:
            self.problem("CAMT-E010", f"CcyXchg/XchgRate {str(raw)[:40]!r} is not a rate", xchg)
            return None
        return CurrencyExchange(
            source_currency=self.text(xchg, "SrcCcy"),
            target_currency=self.text(xchg, "TrgtCcy"),
            unit_currency=self.text(xchg, "UnitCcy"),
            rate=rate,
            contract_id=self.text(xchg, "CtrctId"),
        )

    def amount_details(self, elem: Element | None, what: str) -> AmountDetails | None:
        if elem is None:
            return None
        instructed = self.child(elem, "InstdAmt")
        transaction = self.child(elem, "TxAmt")
        counter = self.child(elem, "CntrValAmt")
        exchange = None
        for part in (transaction, instructed, counter):
            if part is not None:
                exchange = self.exchange(part)
                if exchange is not None:
                    break
        return AmountDetails(
            instructed=self.amount(self.child(instructed, "Amt"), f"{what}/InstdAmt/Amt")
            if instructed is not None
            else None,
            transaction=self.amount(self.child(transaction, "Amt"), f"{what}/TxAmt/Amt")
            if transaction is not None
            else None,
            counter_value=self.amount(self.child(counter, "Amt"), f"{what}/CntrValAmt/Amt")
            if counter is not None
            else None,
            exchange=exchange,
        )

    def charges(self, elems: list[Element], what: str) -> Charges | None:
        """V2: repeated ChargesInformation6 (Amt...); V3+: one Charges with TtlChrgsAndTaxAmt + Rcrd*."""
        if not elems:
            return None
        total: Amount | None = None
        records: list[Charge] = []
        for chrgs in elems:
            ttl = self.child(chrgs, "TtlChrgsAndTaxAmt")
            if ttl is not None and total is None:
                total = self.amount(ttl, f"{what}/TtlChrgsAndTaxAmt")
            rcrds = self.children(chrgs, "Rcrd")
            for rec in rcrds or ([chrgs] if self.child(chrgs, "Amt") is not None else []):
                amount = self.amount(self.child(rec, "Amt"), f"{what}/Amt")
                if amount is None:
                    continue
                tp = self.child(rec, "Tp")
                records.append(
                    Charge(
                        amount=amount,
                        credit_debit=self.credit_debit(
                            self.child(rec, "CdtDbtInd"), f"{what}/CdtDbtInd", required=False
                        ),
                        included=self.boolean(self.child(rec, "ChrgInclInd"), f"{what}/ChrgInclInd"),
                        type_code=self.text(tp, "Cd") or self.text(tp, "Prtry", "Id"),
                        bearer=self.text(rec, "Br"),
                    )
                )
        return Charges(total, tuple(records))

    def creditor_reference(self, cdtr_ref_inf: Element) -> CreditorReference | None:
        n = self.n
        k = _index(cdtr_ref_inf)
        value = self.t1(k.get(n.Ref))
        if value is None:
            return None
        code = proprietary = issuer = None
        tp = k.get(n.Tp)
        if tp:
            tk = _index(tp[0])
            issuer = self.t1(tk.get(n.Issr))
            cd_or_prtry = tk.get(n.CdOrPrtry)
            if cd_or_prtry:
                ck = _index(cd_or_prtry[0])
                code = self.t1(ck.get(n.Cd))
                proprietary = self.t1(ck.get(n.Prtry))
        kind, valid = reference_kind(value, code, proprietary)
        if valid is False:
            self.problem(
                "CAMT-W002",
                f"creditor reference {value!r} ({kind.value}) fails its check digits; kept",
                cdtr_ref_inf,
                Severity.WARNING,
            )
        return _make_reference(value, kind, code or proprietary, issuer, valid)

    def return_info(self, elem: Element | None) -> ReturnInfo | None:
        if elem is None:
            return None
        reason = self.child(elem, "Rsn")
        originator = self.child(elem, "Orgtr")
        originator_name = self.text(originator, "Nm") or self.text(originator, "Pty", "Nm")
        return ReturnInfo(
            reason_code=self.text(reason, "Cd"),
            reason_proprietary=self.text(reason, "Prtry"),
            additional_info=tuple(
                t for t in (self.raw_text(a) for a in self.children(elem, "AddtlInf")) if t
            ),
            originator_name=originator_name,
            original_bank_tx_code=self.bank_tx_code(self.child(elem, "OrgnlBkTxCd")),
        )

    # -- top-level records --------------------------------------------------------------------

    def message_header(self, grp_hdr: Element | None) -> MessageHeader:
        self._kids = {}
        path = f"{self.root_path}/GrpHdr"
        if grp_hdr is not None:
            self._anchor_to(grp_hdr, path)
        else:
            self._anchor = None
            self._anchor_path = self.root_path
            self.problem("CAMT-E012", "GrpHdr is missing", None)
        header = MessageHeader(
            format=self.profile.format,
            namespace=self.profile.namespace,
            kind=self.profile.kind,
            message_id=self.text(grp_hdr, "MsgId"),
            created_at=self.datetime_of(self.child(grp_hdr, "CreDtTm"), "GrpHdr/CreDtTm"),
            pagination=self.pagination(self.child(grp_hdr, "MsgPgntn"), "GrpHdr/MsgPgntn"),
            additional_info=self.raw_text(self.child(grp_hdr, "AddtlInf")),
            warnings=(),
            origin=Origin(self.source, _line(grp_hdr), path),
        )
        warnings, _had_error = self.flush()
        if warnings:
            header = dataclasses.replace(header, warnings=warnings)
        return header

    def balances(self, elems: list[tuple[int, Element]], stmt_path: str) -> list[Balance]:
        found: list[Balance] = []
        for position, bal in elems:
            path = f"{stmt_path}/Bal[{position}]"
            self._anchor_to(bal, path)
            tp = self.child(bal, "Tp")
            cd_or_prtry = self.child(tp, "CdOrPrtry")
            holder = cd_or_prtry if cd_or_prtry is not None else tp  # BalanceType13 vs later
            code = self.text(holder, "Cd")
            proprietary = self.text(holder, "Prtry")
            balance_type = _BALANCE_TYPES.get(code) if code else None
            if code is not None and balance_type is None:
                self.problem(
                    "CAMT-W003", f"unknown balance type {code!r}, kept as proprietary", tp, Severity.WARNING
                )
                proprietary = proprietary or code
            if code is None and proprietary is None:
                self.problem("CAMT-E012", "Bal/Tp/CdOrPrtry is missing", bal)
            sub = self.child(tp, "SubTp")
            amount = self.amount(self.child(bal, "Amt"), "Bal/Amt")
            indicator = self.credit_debit(self.child(bal, "CdtDbtInd"), "Bal/CdtDbtInd")
            day, stamp = self.date_choice(self.child(bal, "Dt"), "Bal/Dt")
            _warnings, had_error = self.flush()
            if had_error or amount is None or indicator is None:
                continue
            found.append(
                Balance(
                    type=balance_type,
                    proprietary=proprietary,
                    sub_type=self.text(sub, "Cd") or self.text(sub, "Prtry"),
                    amount=amount,
                    credit_debit=indicator,
                    date=day,
                    datetime=stamp,
                    origin=Origin(self.source, _line(bal), path),
                )
            )
        return found

    def statement_header(self, stmt: Element, index: int, stmt_path: str) -> StatementHeader:
        """Read every child of the statement element that precedes its first Ntry."""
        self._kids = {}
        self._anchor_to(stmt, stmt_path)
        q_ntry = self.q("Ntry")
        q_bal = self.q("Bal")
        bals: list[tuple[int, Element]] = []
        for child in stmt:
            if child.tag == q_ntry:
                break
            if child.tag == q_bal:
                bals.append((len(bals) + 1, child))
        profile = self.profile
        acct = self.child(stmt, "Acct")
        if acct is None:
            self.problem("CAMT-E012", f"{profile.statement}/Acct is missing", stmt)
        iban, other = self.account_ids(acct)
        self.account_iban = iban
        if acct is not None and iban is None and other is None:
            self.problem("CAMT-E012", f"{profile.statement}/Acct/Id has neither IBAN nor Othr/Id", acct)
        currency = self.text(acct, "Ccy")
        if currency is not None and not is_currency_code(currency):
            self.problem("CAMT-E011", f"Acct/Ccy {currency[:10]!r} is not a currency code", acct)
        account = Account(
            iban=iban,
            other_id=other,
            other_scheme=self.text(acct, "Id", "Othr", "SchmeNm", "Cd")
            or self.text(acct, "Id", "Othr", "SchmeNm", "Prtry"),
            currency=currency,
            name=self.text(acct, "Nm"),
            owner_name=self.text(acct, "Ownr", "Nm") or self.text(acct, "Ownr", "Pty", "Nm"),
            servicer_bic=self.bic(self.child(self.child(acct, "Svcr"), "FinInstnId")),
        )
        fr_to = self.child(stmt, "FrToDt")
        statement_id = self.text(stmt, "Id")
        if statement_id is None:
            self.problem("CAMT-E012", f"{profile.statement}/Id is missing", stmt)
        pagination = self.pagination(
            self.child(stmt, profile.message.pagination), f"{profile.statement}/{profile.message.pagination}"
        )
        created_at = self.datetime_of(self.child(stmt, "CreDtTm"), f"{profile.statement}/CreDtTm")
        from_dt = self.datetime_of(self.child(fr_to, "FrDtTm"), "FrToDt/FrDtTm")
        to_dt = self.datetime_of(self.child(fr_to, "ToDtTm"), "FrToDt/ToDtTm")
        warnings, _had_error = self.flush()
        balances = self.balances(bals, stmt_path)
        self._anchor_to(stmt, stmt_path)
        return StatementHeader(
            kind=profile.kind,
            index=index,
            statement_id=statement_id,
            electronic_sequence_number=self.text(stmt, "ElctrncSeqNb"),
            legal_sequence_number=self.text(stmt, "LglSeqNb"),
            created_at=created_at,
            from_datetime=from_dt,
            to_datetime=to_dt,
            pagination=pagination,
            account=account,
            balances=tuple(balances),
            additional_info=self.raw_text(self.child(stmt, profile.message.additional_info)),
            warnings=warnings,
            origin=Origin(self.source, _line(stmt), stmt_path),
        )

    def entry(self, ntry: Element, index: int, entry_path: str) -> Entry | None:
        """One Ntry, or None when it has an error (recorded in self.problems)."""
        if self._fast is not None:  # clean entries: one C pass (formats.camt.fastpath)
            found = self._fast.read(ntry, index, entry_path)
            if found is not None:
                return found
        self._kids = {}
        self._anchor_to(ntry, entry_path)
        n = self.n
        k = _index(ntry)
        g = k.get
        amount = self.amount(_first(g(n.Amt)), "Ntry/Amt")
        indicator = self.credit_debit(_first(g(n.CdtDbtInd)), "Ntry/CdtDbtInd")
        rvsl = g(n.RvslInd)
        reversal = bool(self.boolean(rvsl[0], "Ntry/RvslInd")) if rvsl else False
        status = self.entry_status(_first(g(n.Sts)))
        booking_date, booking_dt = self.date_choice(_first(g(n.BookgDt)), "Ntry/BookgDt")
        value_date, value_dt = self.date_choice(_first(g(n.ValDt)), "Ntry/ValDt")
        servicer_ref = self.r1(g(n.AcctSvcrRef))
        entry_reference = self.r1(g(n.NtryRef))
        chrgs = g(n.Chrgs)
        entry_charges = self.charges(chrgs, "Ntry/Chrgs") if chrgs else None
        amt_dtls = g(n.AmtDtls)
        details = self.amount_details(amt_dtls[0], "Ntry/AmtDtls") if amt_dtls else None
        bk_tx_cd = g(n.BkTxCd)
        bank_code = self.bank_tx_code(bk_tx_cd[0]) if bk_tx_cd else None

        batches: list[Batch] = []
        tx_elems: list[tuple[Element, str]] = []
        ntry_dtls = g(n.NtryDtls) or ()
        for d_index, dtls in enumerate(ntry_dtls, 1):
            dtls_path = (
                f"{entry_path}/NtryDtls[{d_index}]" if len(ntry_dtls) > 1 else f"{entry_path}/NtryDtls"
            )
            dk = _index(dtls)
            txs = dk.get(n.TxDtls) or []
            if len(txs) == 1:
                tx_elems.append((txs[0], f"{dtls_path}/TxDtls"))
            else:
                tx_elems.extend((tx, f"{dtls_path}/TxDtls[{t_index}]") for t_index, tx in enumerate(txs, 1))
            btch = dk.get(n.Btch)
            if btch:
                batches.append(self.batch(btch[0], txs))

        single = len(tx_elems) == 1
        transactions = tuple(
            [
                self.transaction(tx, t_index, path, amount if single else None, indicator, reversal)
                for t_index, (tx, path) in enumerate(tx_elems, 1)
            ]
        )
        if single and amount is not None and transactions[0].amount is not None:
            tx_amount = transactions[0].amount
            if tx_amount.currency == amount.currency and tx_amount.value != amount.value:
                self._anchor_to(ntry, entry_path)
                self.problem(
                    "CAMT-W005",
                    f"the entry's only transaction has amount {tx_amount.display()}"
                    f" ({transactions[0].amount_source}) but the entry booked {amount.display()}",
                    tx_elems[0][0],
                    Severity.WARNING,
                )
        if self._scratch:
            self._anchor_to(ntry, entry_path)
            warnings, had_error = self.flush()
            if had_error:
                return None
        else:
            warnings = ()
        if amount is None or indicator is None or status is None:
            return None
        return _make_entry(  # the fields of Entry, in order
            index,
            amount,
            indicator,
            reversal,
            status,
            booking_date,
            booking_dt,
            value_date,
            value_dt,
            servicer_ref or entry_reference,  # entry_ref
            servicer_ref,
            entry_reference,
            bank_code,
            details,
            entry_charges,
            tuple(batches) if batches else (),
            transactions,
            self.raw_text(_first(g(n.AddtlNtryInf))),
            warnings,
            _make_origin(self.source, ntry.sourceline, entry_path),
        )

    def entry_status(self, sts: Element | None) -> EntryStatus | None:
        if sts is None:
            self.problem("CAMT-E012", "Ntry/Sts is missing", None)
            return None
        if len(sts):
            k = _index(sts)
            code_elem = k.get(self.n.Cd)
            if not code_elem:  # V7+ EntryStatus1Choice with Prtry
                prtry = self.t1(k.get(self.n.Prtry))
                self.problem("CAMT-E015", f"proprietary entry status {prtry!r} is not supported", sts)
                return None
            value = (self.text_of(code_elem[0]) or "").strip()
        else:
            value = (self.text_of(sts) or "").strip()
        status = _STATUS.get(value)
        if status is None:
            self.problem("CAMT-E015", f"entry status {value[:20]!r} is not BOOK, PDNG, INFO or FUTR", sts)
        return status

    def batch(self, btch: Element, txs: list[Element]) -> Batch:
        count_text = self.text(btch, "NbOfTxs")
        count: int | None = None
        if count_text is not None:
            if count_text.isascii() and count_text.isdigit() and len(count_text) <= 15:
                count = int(count_text)
            else:
                self.problem("CAMT-E015", f"Btch/NbOfTxs {count_text[:20]!r} is not a number", btch)
        ttl = self.child(btch, "TtlAmt")
        total = self.amount(ttl, "Btch/TtlAmt") if ttl is not None else None
        if count is not None and txs and count != len(txs):
            self.problem(
                "CAMT-W004",
                f"Btch/NbOfTxs is {count} but the NtryDtls has {len(txs)} TxDtls",
                btch,
                Severity.WARNING,
            )
        return Batch(
            message_id=self.ref(btch, "MsgId"),
            payment_info_id=self.ref(btch, "PmtInfId"),
            number_of_transactions=count,
            total_amount=total,
            credit_debit=self.credit_debit(self.child(btch, "CdtDbtInd"), "Btch/CdtDbtInd", required=False),
        )

    def transaction(
        self,
        tx: Element,
        index: int,
        path: str,
        entry_amount: Amount | None,
        entry_indicator: CreditDebit | None,
        reversal: bool,
    ) -> Transaction:
        n = self.n
        k = _index(tx)
        g = k.get
        amt = g(n.Amt)
        tx_amount = self.amount(amt[0], "TxDtls/Amt") if amt else None
        ind = g(n.CdtDbtInd)
        tx_indicator = self.credit_debit(ind[0], "TxDtls/CdtDbtInd", required=False) if ind else None
        amt_dtls = g(n.AmtDtls)
        details = self.amount_details(amt_dtls[0], "TxDtls/AmtDtls") if amt_dtls else None
        amount, source = booked_amount(tx_amount, details, entry_amount)
        refs_elem = g(n.Refs)
        if refs_elem:
            rk = _index(refs_elem[0])
            r1 = self.r1
            refs = _make_refs(
                r1(rk.get(n.MsgId)),
                r1(rk.get(n.AcctSvcrRef)),
                r1(rk.get(n.PmtInfId)),
                r1(rk.get(n.InstrId)),
                r1(rk.get(n.EndToEndId)),
                r1(rk.get(n.TxId)),
                r1(rk.get(n.MndtId)),
                r1(rk.get(n.UETR)),
            )
        else:
            refs = _NO_REFS
        parties_elem = g(n.RltdPties)
        agents = g(n.RltdAgts)
        if parties_elem or agents:
            pk = _index(parties_elem[0]) if parties_elem else {}
            ak = _index(agents[0]) if agents else {}
            debtor_iban, debtor_other = self.account_ids(_first(pk.get(n.DbtrAcct)))
            creditor_iban, creditor_other = self.account_ids(_first(pk.get(n.CdtrAcct)))
            parties = _make_parties(  # the fields of RelatedParties, in order
                self.party(_first(pk.get(n.Dbtr))),
                debtor_iban,
                debtor_other,
                self.party(_first(pk.get(n.UltmtDbtr))),
                self.party(_first(pk.get(n.Cdtr))),
                creditor_iban,
                creditor_other,
                self.party(_first(pk.get(n.UltmtCdtr))),
                self._agent_bic(ak.get(n.DbtrAgt)),
                self._agent_bic(ak.get(n.CdtrAgt)),
            )
        else:
            parties = _NO_PARTIES
        rtr = g(n.RtrInf)
        return_info = self.return_info(rtr[0]) if rtr else None
        counterparty, counterparty_iban = self.counterparty(
            parties, tx_indicator or entry_indicator, reversal or return_info is not None
        )

        unstructured: tuple[str, ...] = ()
        references: list[CreditorReference] = []
        additional: list[str] = []
        rmt = g(n.RmtInf)
        if rmt:
            mk = _index(rmt[0])
            ustrd = mk.get(n.Ustrd)
            if ustrd:
                unstructured = tuple(u for u in (self.raw_text(e) for e in ustrd) if u)
            for strd in mk.get(n.Strd) or ():
                sk = _index(strd)
                for cri in sk.get(n.CdtrRefInf) or ():
                    reference = self.creditor_reference(cri)
                    if reference is not None:
                        references.append(reference)
                for e in sk.get(n.AddtlRmtInf) or ():
                    text = self.raw_text(e)
                    if text:
                        additional.append(text)
        chrgs = g(n.Chrgs)
        purp = g(n.Purp)
        purpose = None
        if purp:
            pk2 = _index(purp[0])
            purpose = self.t1(pk2.get(n.Cd)) or self.t1(pk2.get(n.Prtry))
        bk_tx_cd = g(n.BkTxCd)
        return _make_transaction(  # the fields of Transaction, in order
            index,
            amount,
            source,
            tx_indicator,
            details,
            details.instructed if details is not None else None,  # instructed_amount
            refs,
            self.bank_tx_code(bk_tx_cd[0]) if bk_tx_cd else None,
            parties,
            counterparty,
            counterparty_iban,
            unstructured,
            tuple(references) if references else (),
            tuple(additional) if additional else (),
            return_info,
            self.charges(chrgs, "TxDtls/Chrgs") if chrgs else None,
            purpose,
            self.raw_text(_first(g(n.AddtlTxInf))),
            _make_origin(self.source, tx.sourceline, path),
        )

    def counterparty(
        self, parties: RelatedParties, direction: CreditDebit | None, flipped: bool
    ) -> tuple[Party | None, str | None]:
        """The other party of a transaction, from the account holder's point of view.

        When one side's IBAN is the statement account, the other side is the counterparty.
        Otherwise the direction decides: the debtor on a credit, the creditor on a debit --
        of the *original* transaction: a reversal (RvslInd) or a return (RtrInf) is booked
        in the opposite direction but keeps the original roles, so the direction is flipped.
        """
        own = self.account_iban
        if own is not None:
            if parties.debtor_iban == own and parties.creditor is not None:
                return parties.creditor, parties.creditor_iban
            if parties.creditor_iban == own and parties.debtor is not None:
                return parties.debtor, parties.debtor_iban
        if direction is None:
            return None, None
        if (direction is CreditDebit.CREDIT) != flipped:
            return parties.debtor, parties.debtor_iban
        return parties.creditor, parties.creditor_iban

    def statement_end(
        self,
        stmt: Element,
        header: StatementHeader,
        late_balances: list[Balance],
        entry_count: int,
        totals: _Totals,
    ) -> StatementEnd:
        stmt_path = header.origin.path
        balances = [*header.balances, *late_balances]
        self._anchor_to(stmt, stmt_path)
        end = StatementEnd(
            kind=header.kind,
            index=header.index,
            statement_id=header.statement_id,
            balances=tuple(balances),
            entry_count=entry_count,
            currency=totals.currency,
            booked_credit_total=totals.credits,
            booked_debit_total=totals.debits,
            other_currency_entries=totals.other_currency,
            warnings=(),
            origin=Origin(self.source, _line(stmt), stmt_path),
        )
        opening = end.balance(BalanceType.OPENING_BOOKED, BalanceType.PREVIOUSLY_CLOSED_BOOKED)
        closing = end.balance(BalanceType.CLOSING_BOOKED)
        credits, debits = totals.credits, totals.debits
        if opening is not None and closing is not None and opening.amount.currency == closing.amount.currency:
            expected = opening.signed_value + credits - debits
            if totals.other_currency or (totals.currency not in (None, closing.amount.currency)):
                self.problem(
                    "CAMT-W001",
                    f"balance check impossible: {totals.other_currency} booked entries are not in"
                    f" {totals.currency}, the currency of the statement",
                    None,
                    Severity.WARNING,
                    line=closing.origin.line,
                )
            elif expected != closing.signed_value:
                self.problem(
                    "CAMT-W001",
                    f"opening {opening.signed_value} + booked credits {credits} - booked debits {debits}"
                    f" = {expected}, but the closing balance is {closing.signed_value}",
                    None,
                    Severity.WARNING,
                    line=closing.origin.line,
                )
        warnings, _had_error = self.flush()
        if warnings:
            end = dataclasses.replace(end, warnings=warnings)
        return end


def parse(
    stream: BinaryIO,
    *,
    source: str,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[CamtRecord]:
    """Parse a camt.052/053/054 document lazily; see the module docstring for the event order.

    Raises a FormatError subclass (after the records already yielded) when the file
    must be refused; its ``problems`` lists every problem found, each with file, line
    and XPath.

    The XSD is not checked here: ``formats.validate`` does that, and ingest runs it on
    another thread beside this parse (``gateway/xsd_thread.py``).
    """
    try:
        yield from _parse(stream, source, limits)
    except _Abort as abort:
        raise abort.error from None


def _parse(stream: BinaryIO, source: str, limits: Limits) -> Iterator[CamtRecord]:
    head, root_name, namespace, envelope_name = _read_head(stream, source, limits)
    try:
        profile = select_profile(namespace, envelope_name)
    except UnsupportedVersion as exc:
        raise UnknownFormatError(
            source, [Problem("CAMT-E004", str(exc), source, 1, f"/{root_name}")]
        ) from None
    if profile is None:
        shown = f"{{{namespace}}}" if namespace else ""
        raise UnknownFormatError(
            source,
            [
                Problem(
                    "CAMT-E004",
                    f"not a camt.052/053/054 document (root {shown}{root_name},"
                    f" first child {envelope_name!r})",
                    source,
                    1,
                    f"/{root_name}",
                )
            ],
        )
    reader = _GuardedReader(stream, head, source, limits)
    doc = _Reader(profile, source, limits, root_name)
    q = profile.qname
    q_grp_hdr, q_stmt, q_ntry, q_bal = q("GrpHdr"), q(profile.statement), q("Ntry"), q("Bal")
    context = etree.iterparse(
        reader,
        events=("end",),
        tag=(q_grp_hdr, q_stmt, q_ntry),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=False,
    )
    q_envelope = q(profile.envelope)
    header_sent = False
    stmt_elem: Element | None = None
    stmt_header: StatementHeader | None = None
    late_balances: list[Balance] = []
    stmt_count = 0
    entry_count = 0
    totals = _Totals(None)
    last_path = doc.root_path
    envelope_seen = False

    def in_envelope(elem: Element | None) -> bool:
        return elem is not None and elem.tag == q_envelope

    try:
        for _event, elem in context:
            tag = elem.tag
            parent = elem.getparent()
            if tag == q_ntry:
                if parent is None or parent.tag != q_stmt or not in_envelope(parent.getparent()):
                    doc.problem_at(
                        last_path, "CAMT-E012", f"Ntry outside a {profile.statement} element", elem
                    )
                    continue
            elif not in_envelope(parent):
                continue  # a same-named element deeper down, not a statement or group header
            if tag == q_grp_hdr:
                if not header_sent:
                    yield doc.message_header(elem)
                    header_sent = True
                    last_path = f"{doc.root_path}/GrpHdr"
                elem.clear(keep_tail=False)
                reader.mark = reader.position
                continue
            envelope_seen = True
            if not header_sent:
                yield doc.message_header(None)
                header_sent = True
            stmt = parent if tag == q_ntry else elem
            assert stmt is not None
            if stmt is not stmt_elem:
                stmt_elem = stmt
                stmt_count += 1
                entry_count = 0
                late_balances = []
                stmt_header = doc.statement_header(
                    stmt, stmt_count, f"{doc.root_path}/{profile.statement}[{stmt_count}]"
                )
                totals = _Totals(
                    stmt_header.account.currency
                    or (stmt_header.balances[0].amount.currency if stmt_header.balances else None)
                )
                yield stmt_header
            assert stmt_header is not None
            if tag == q_ntry:
                entry_count += 1
                entry_path = f"{stmt_header.origin.path}/Ntry[{entry_count}]"
                entry = doc.entry(elem, entry_count, entry_path)
                last_path = entry_path
                # Free memory: the entry itself and everything before it in the statement.
                # A Bal between entries (out of schema order) is read first, never dropped.
                elem.clear(keep_tail=False)
                while True:
                    first = stmt[0]
                    if first is elem:
                        break
                    if entry_count > 1 and first.tag == q_bal:
                        late_balances.extend(
                            doc.balances(
                                [(len(stmt_header.balances) + len(late_balances) + 1, first)],
                                stmt_header.origin.path,
                            )
                        )
                    del stmt[0]
                reader.mark = reader.position
                if entry is not None:
                    totals.add(entry)
                    yield entry
                continue
            # end of the statement element
            if entry_count:
                numbered = len(stmt_header.balances) + len(late_balances)
                trailing = [(numbered + i, b) for i, b in enumerate((c for c in stmt if c.tag == q_bal), 1)]
                late_balances.extend(doc.balances(trailing, stmt_header.origin.path))
            yield doc.statement_end(stmt, stmt_header, late_balances, entry_count, totals)
            last_path = stmt_header.origin.path
            stmt.clear(keep_tail=False)
            assert parent is not None
            while stmt.getprevious() is not None:
                del parent[0]
            reader.mark = reader.position
            stmt_elem = None
    except etree.XMLSyntaxError as exc:
        error = _syntax_error(exc, source, last_path)
        raise type(error)(source, [*doc.problems, *error.problems]) from None

    if not header_sent:
        yield doc.message_header(None)
    if not envelope_seen:
        root = context.root
        first = root[0] if root is not None and len(root) else None
        if first is None or first.tag != q_envelope:
            doc.problem_at(f"/{root_name}", "CAMT-E012", f"{profile.envelope} is missing", None, line=1)
        elif stmt_count == 0:
            doc.problem_at(
                doc.root_path, "CAMT-E012", f"the document has no {profile.statement}", None, line=1
            )
    if doc.error_count:
        raise InvalidContentError(source, doc.problems)


def parse_document(stream: BinaryIO, *, source: str, limits: Limits = DEFAULT_LIMITS) -> CamtDocument:
    """Parse and materialise a whole document (small files, tests, JSON output)."""
    header: MessageHeader | None = None
    statements: list[Statement] = []
    current: StatementHeader | None = None
    entries: list[Entry] = []
    for record in parse(stream, source=source, limits=limits):
        if isinstance(record, MessageHeader):
            header = record
        elif isinstance(record, StatementHeader):
            current, entries = record, []
        elif isinstance(record, Entry):
            entries.append(record)
        elif current is not None:
            statements.append(Statement(current, tuple(entries), record))
            current = None
    assert header is not None  # parse() always yields the message header first
    return CamtDocument(header, tuple(statements))
