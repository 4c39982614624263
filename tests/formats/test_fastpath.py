"""The accelerated entry reader (formats.camt.fastpath + the C extension) agrees with the Python reader.

Every check parses the same bytes twice, with and without the accelerator, and compares
everything: the records (origins, lines and warnings included) or the error with every
problem. Inputs: every real sample, hypothesis-generated entries built from the plan
itself with valid, invalid and hostile values and unknown elements, a table of entries
the fast reader must hand back, and a document past libxml2's 65,535-line mark.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from formats import camt
from formats.camt import fastpath, parser
from formats.camt.fastpath import (
    ATTRIBUTE,
    ENTRY_PLAN,
    FALLBACK,
    GROUP,
    LINE,
    NODE,
    TEXT,
    TEXT_LIST,
    PlanNode,
)
from formats.camt.records import BankTransactionCode, Party
from formats.errors import FormatError
from tests.formats.conftest import samples_root
from tests.formats.test_golden import _camt_samples as golden_samples
from tests.formats.xmlbits import document, ntry, statement
from tests.support.components import component_missing

# The Python reader alone; the fast reader with records built in C; with the Python builder.
MODES = {"python reader": (False, False), "C builder": (True, True), "Python builder": (True, False)}


def _outcome(data: bytes, mode: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    accelerated, c_builder = MODES[mode]
    with monkeypatch.context() as patch:
        patch.setattr(fastpath, "ACCELERATED", accelerated)
        patch.setattr(fastpath, "C_BUILDER", c_builder)
        try:
            return ("records", list(camt.parse(io.BytesIO(data), source="same.xml")))
        except FormatError as exc:
            return ("error", type(exc).__name__, exc.problems)


def _agree(data: bytes, monkeypatch: pytest.MonkeyPatch) -> Any:
    slow = _outcome(data, "python reader", monkeypatch)
    assert _outcome(data, "C builder", monkeypatch) == slow
    assert _outcome(data, "Python builder", monkeypatch) == slow
    return slow


@pytest.fixture(autouse=True)
def _accelerator() -> None:
    if not fastpath.ACCELERATED:
        component_missing(
            "the C accelerator formats/camt/_extract.c is not built (pip install -e . needs gcc and the"
            " Python headers) or failed its self-check"
        )


def test_the_accelerator_reads_an_entry() -> None:
    """Not only agreement: the fast reader does read a plain entry (else the tests below prove little)."""
    entry = _fast_read(_entry_document("<AcctSvcrRef>R1</AcctSvcrRef>"))
    assert isinstance(entry, camt.Entry) and entry.entry_ref == "R1"


# -- real samples --------------------------------------------------------------------------


SAMPLES = golden_samples()


@pytest.mark.parametrize("relative", SAMPLES or ["(none)"])
def test_every_sample_reads_the_same_both_ways(relative: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not SAMPLES:
        pytest.skip(f"no camt samples under {samples_root()} (../shared sits beside the checkout in CI)")
    _agree((samples_root() / relative).read_bytes(), monkeypatch)


# -- entries the fast reader hands back, and entries it reads ----------------------------------

HANDED_BACK = [
    ("charges", "<Chrgs><Amt Ccy='EUR'>1.00</Amt></Chrgs>"),
    ("return information", "<NtryDtls><TxDtls><RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf></TxDtls></NtryDtls>"),
    (
        "currency exchange",
        "<NtryDtls><TxDtls><AmtDtls><InstdAmt><Amt Ccy='USD'>11</Amt><CcyXchg><SrcCcy>USD</SrcCcy>"
        "<XchgRate>1.1</XchgRate></CcyXchg></InstdAmt></AmtDtls></TxDtls></NtryDtls>",
    ),
    (
        "agent as party",
        "<NtryDtls><TxDtls><RltdPties><Dbtr><Agt><FinInstnId><BICFI>AAAADEFF</BICFI>"
        "</FinInstnId></Agt></Dbtr></RltdPties></TxDtls></NtryDtls>",
    ),
    ("second AcctSvcrRef", "<AcctSvcrRef>A</AcctSvcrRef><AcctSvcrRef>B</AcctSvcrRef>"),
    (
        "invalid RF reference (a warning)",
        "<NtryDtls><TxDtls><RmtInf><Strd><CdtrRefInf><Ref>RF18539007547035</Ref>"
        "</CdtrRefInf></Strd></RmtInf></TxDtls></NtryDtls>",
    ),
    (
        "transaction amount differs (a warning)",
        "<NtryDtls><TxDtls><Amt Ccy='EUR'>9.00</Amt></TxDtls></NtryDtls>",
    ),
    ("batch count differs (a warning)", "<NtryDtls><Btch><NbOfTxs>3</NbOfTxs></Btch><TxDtls/></NtryDtls>"),
    ("bad date", "<NtryDtls><TxDtls/></NtryDtls>", {"book": "2024-02-30"}),
    ("bad amount", "", {"amt": "1.2.3"}),
    ("lower-case currency", "", {"ccy": "eur"}),
    ("proprietary status", "", {"sts": "<Prtry>X</Prtry>"}),
    ("foreign namespace", "<x:AcctSvcrRef xmlns:x='urn:other'>A</x:AcctSvcrRef>"),
]
READ_FAST = [
    ("plain", "<AcctSvcrRef>A</AcctSvcrRef>"),
    ("sentinel reference", "<AcctSvcrRef>NONREF</AcctSvcrRef><NtryRef>N1</NtryRef>"),
    ("unknown element ignored by both", "<ComssnWvrInd>false</ComssnWvrInd>"),
    ("CDATA and entities", "<AddtlNtryInf>a &amp; <![CDATA[<b>]]> c</AddtlNtryInf>"),
    (
        "V8 party with Pty",
        "<NtryDtls><TxDtls><RltdPties><Dbtr><Pty><Nm>X</Nm><Id><OrgId><Othr><Id>O1</Id></Othr>"
        "<Othr><Id>O2</Id></Othr></OrgId></Id></Pty></Dbtr></RltdPties></TxDtls></NtryDtls>",
    ),
    ("several NtryDtls", "<NtryDtls><TxDtls/></NtryDtls><NtryDtls><TxDtls/><TxDtls/></NtryDtls>"),
    ("empty elements", "<AcctSvcrRef/><AddtlNtryInf></AddtlNtryInf>"),
]


def _entry_document(body: str, overrides: dict[str, str] | None = None) -> bytes:
    overrides = overrides or {}
    sts = overrides.get("sts", "BOOK")
    entry = ntry(body, amt=overrides.get("amt", "10.00"), ccy=overrides.get("ccy", "EUR"), sts=sts)
    if "book" in overrides:
        entry = entry.replace("<BookgDt><Dt>2024-01-02</Dt>", f"<BookgDt><Dt>{overrides['book']}</Dt>")
    return document([statement([entry])])


def _fast_read(data: bytes) -> object:
    """The fast reader's result for the document's first entry; both builders must give it."""
    root = etree.fromstring(data)
    namespace = etree.QName(root).namespace or ""
    entry_elem = next(e for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == "Ntry")
    results = []
    for c_builder in (True, False):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fastpath, "C_BUILDER", c_builder)
            reader = fastpath.FastEntryReader(
                namespace, "x.xml", 1000, _party, _bank_tx_code, lambda p, d, f: (None, None)
            )
            results.append(reader.read(entry_elem, 1, "/p"))
    assert results[0] == results[1]
    return results[0]


def _party(*fields: Any) -> Party:
    return Party(*fields)


def _bank_tx_code(*fields: Any) -> BankTransactionCode:
    return BankTransactionCode(*fields)


@pytest.mark.parametrize("case", HANDED_BACK, ids=[c[0] for c in HANDED_BACK])
def test_unusual_entries_are_handed_to_the_python_reader(
    case: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _entry_document(case[1], case[2] if len(case) > 2 else None)
    assert _fast_read(data) is None
    _agree(data, monkeypatch)


@pytest.mark.parametrize("case", READ_FAST, ids=[c[0] for c in READ_FAST])
def test_usual_entries_are_read_fast_and_the_same(
    case: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _entry_document(case[1])
    assert _fast_read(data) is not None
    outcome = _agree(data, monkeypatch)
    assert outcome[0] == "records"


def test_text_over_the_limit_is_handed_back(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _entry_document(f"<AddtlNtryInf>{'x' * 2000}</AddtlNtryInf>")
    assert _fast_read(data) is None  # limit 1000 in _fast_read
    limits = parser.Limits(max_text_length=1000)
    for accelerated in (True, False):
        with monkeypatch.context() as patch:
            patch.setattr(fastpath, "ACCELERATED", accelerated)
            with pytest.raises(FormatError) as caught:
                list(camt.parse(io.BytesIO(data), source="t.xml", limits=limits))
            assert "longer than 1000" in str(caught.value.problems[0].message)


def test_lines_past_65535_are_the_lines_lxml_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """libxml2 stores lines over 65,534 apart; the extension recovers them as xmlGetLineNo does."""
    entry = ntry("<NtryDtls>\n<TxDtls>\n<Refs><EndToEndId>E</EndToEndId></Refs>\n</TxDtls>\n</NtryDtls>\n")
    entry = entry.replace("><", ">\n<")
    data = document([statement([entry] * 6000)])
    assert data.count(b"\n") > 70_000
    outcome = _agree(data, monkeypatch)
    lines = [t.origin.line for r in outcome[1] if isinstance(r, camt.Entry) for t in r.transactions]
    assert max(line for line in lines if line is not None) > 65_535


# -- generated entries, from the plan itself ------------------------------------------------

VALUES: dict[str, list[str]] = {
    "Amt": ["10.00", "0", "1.5", "12345678901234567.1", "1.123456", "-1", "1e3", " 7.10 ", ""],
    "CdtDbtInd": ["CRDT", "DBIT", " CRDT ", "crdt", ""],
    "RvslInd": ["true", "false", "1", "0", "yes", ""],
    "Dt": ["2024-01-02", "2024-01-02+01:00", "2024-01-02Z", "2024-02-30", "20240102", ""],
    "DtTm": ["2024-01-02T10:11:12", "2024-01-02T10:11:12.5+01:00", "2024-01-02", "x"],
    "NbOfTxs": ["1", "2", "x", "\u00b2", " 1 "],
    "Ref": ["RF18539007547034", "RF18539007547035", "210000000003139471430009017", "INV-1", "NONREF", " "],
    "Cd": ["BOOK", "PMNT", "SCOR", "PDNG", "QRR", ""],
    "Prtry": ["QRR", "ESR ref", "X"],
    "IBAN": ["DE89370400440532013000", "DE02120300000000202051", ""],
}
GENERIC = ["A", " padded ", "NOTPROVIDED", "nonref", "", "a &amp; b", "<![CDATA[c<d]]>", "\u00e9t\u00e9"]
CURRENCIES = ["EUR", "CHF", "eur", "EU", ""]
# A clean document draws only these (and no unusual element): the fast reader's success path.
CLEAN: dict[str, list[str]] = {
    "Amt": ["10.00"],
    "CdtDbtInd": ["CRDT", "DBIT"],
    "RvslInd": ["true", "false"],
    "Dt": ["2024-01-02", "2024-01-02+01:00"],
    "DtTm": ["2024-01-02T10:11:12", "2024-01-02T10:11:12Z"],
    "NbOfTxs": ["1", "007"],
    "Ref": ["RF18539007547034", "INV-1", "NONREF", "210000000003139471430009017"],
    "Cd": ["BOOK"],
}
CLEAN_GENERIC = ["A", " padded ", "a &amp; b", "<![CDATA[c<d]]>", "\u00e9t\u00e9", "NOTPROVIDED"]
# (parent, child) a clean entry always has: what the Python reader would miss otherwise
REQUIRED = {
    ("Ntry", "Amt"),
    ("Ntry", "CdtDbtInd"),
    ("Ntry", "Sts"),
    ("Ntry", "BookgDt"),
    ("Sts", "Cd"),
    ("BookgDt", "Dt"),
    ("ValDt", "Dt"),
    ("InstdAmt", "Amt"),
    ("TxAmt", "Amt"),
    ("CntrValAmt", "Amt"),
}


@st.composite
def _element(draw: st.DrawFn, name: str, node: PlanNode | None, depth: int, clean: bool) -> str:
    values = CLEAN.get(name, CLEAN_GENERIC) if clean else VALUES.get(name, GENERIC)
    attributes = ""
    body = ""
    if node is not None:
        for rule in node.rules:
            if rule[1] == ATTRIBUTE and (clean or draw(st.integers(0, 5))):
                currency = "EUR" if clean else draw(st.sampled_from(CURRENCIES))
                attributes += f' {rule[0][1:]}="{currency}"'
        if node.text and not (clean and name == "Sts"):
            body += draw(st.sampled_from(values))
        if depth < 7:
            for rule in node.rules:
                if rule[1] in (ATTRIBUTE, LINE) or (clean and rule[1] == FALLBACK):
                    continue
                if clean:
                    required = (name, rule[0]) in REQUIRED
                    count = 1 if required else draw(st.sampled_from([0, 0, 1]))
                else:
                    choices = [0, 0, 1, 1, 1, 2] if rule[1] != FALLBACK else [0, 0, 0, 0, 1]
                    count = draw(st.sampled_from(choices))
                for _ in range(count):
                    sub = rule[2] if len(rule) > 2 else None
                    body += draw(_element(rule[0], sub, depth + 1, clean))
        if draw(st.integers(0, 12)) == 0:
            body += "<Unknown>u</Unknown>"
        if draw(st.integers(0, 20)) == 0:
            body += "<!-- a comment -->"
    else:
        body = draw(st.sampled_from(values))
        if not clean and name in ("Chrgs", "RtrInf", "CcyXchg", "Agt", "Prtry"):
            body = draw(st.sampled_from(["", "<Cd>X</Cd>", "<Amt Ccy='EUR'>1</Amt>", "x"]))
    return f"<{name}{attributes}>{body}</{name}>"


@st.composite
def _documents(draw: st.DrawFn) -> bytes:
    clean = draw(st.booleans())
    count = draw(st.integers(1, 3))
    entries = [draw(_element("Ntry", ENTRY_PLAN, 0, clean)) for _ in range(count)]
    version = draw(st.sampled_from(["02", "08"]))
    return document([statement(entries)], version=version)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(data=_documents())
def test_generated_entries_read_the_same_both_ways(data: bytes) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _agree(data, monkeypatch)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_documents())
def test_generated_clean_entries_are_mostly_read_fast(data: bytes) -> None:
    """The generator does reach the fast reader's success path (agreement alone could be all fallbacks)."""
    _fast_read(data)  # must never raise, whatever it is given


def test_the_generator_reaches_both_outcomes() -> None:
    seen = {True: 0, False: 0}

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(data=_documents())
    def probe(data: bytes) -> None:
        seen[_fast_read(data) is not None] += 1

    probe()
    assert seen[True] > 5 and seen[False] > 5, seen


# -- the plan covers what the Python reader reads ------------------------------------------


def _ntry_path(elem: etree._Element) -> tuple[str, ...] | None:
    steps: list[str] = []
    node: etree._Element | None = elem
    while node is not None:
        name = etree.QName(node).localname
        if name == "Ntry":
            return tuple(reversed(steps))
        steps.append(name)
        node = node.getparent()
    return None


class _Recording(dict):  # type: ignore[type-arg]
    """A children index that notes which child names the Python reader asks for."""

    def __init__(self, elem: etree._Element, reads: set[tuple[tuple[str, ...], str]]) -> None:
        super().__init__()
        self._path = _ntry_path(elem)
        self._reads = reads

    def get(self, key: Any, default: Any = None) -> Any:
        if self._path is not None and isinstance(key, str):
            self._reads.add((self._path, key.rpartition("}")[2]))
        return super().get(key, default)


def _plan_at(path: tuple[str, ...]) -> PlanNode | None:
    node: PlanNode | None = ENTRY_PLAN
    for name in path:
        if node is None:
            return None
        node = node.child(name)
    return node


def _python_reader_reads(
    datas: Iterator[bytes], monkeypatch: pytest.MonkeyPatch
) -> set[tuple[tuple[str, ...], str]]:
    reads: set[tuple[tuple[str, ...], str]] = set()

    def recording_index(elem: etree._Element) -> dict[str, list[etree._Element]]:
        kids = _Recording(elem, reads)
        for child in elem:
            kids.setdefault(child.tag, []).append(child)
        return kids

    def method_index(self: Any, elem: etree._Element) -> dict[str, list[etree._Element]]:
        return recording_index(elem)

    monkeypatch.setattr(fastpath, "ACCELERATED", False)
    monkeypatch.setattr(parser, "_index", recording_index)
    monkeypatch.setattr(parser._Reader, "_index", method_index)
    for data in datas:
        with contextlib.suppress(FormatError):
            list(camt.parse(io.BytesIO(data), source="coverage.xml"))
    return reads


def _coverage_inputs() -> Iterator[bytes]:
    root = samples_root()
    for relative in SAMPLES:
        yield (root / relative).read_bytes()
    rich = (
        "<AmtDtls><InstdAmt><Amt Ccy='EUR'>1</Amt></InstdAmt><TxAmt><Amt Ccy='EUR'>1</Amt></TxAmt>"
        "<CntrValAmt><Amt Ccy='EUR'>1</Amt></CntrValAmt></AmtDtls><BkTxCd><Domn><Cd>P</Cd><Fmly><Cd>R</Cd>"
        "<SubFmlyCd>E</SubFmlyCd></Fmly></Domn><Prtry><Cd>X</Cd><Issr>I</Issr></Prtry></BkTxCd>"
    )
    party = (
        "<Nm>N</Nm><PstlAdr><Ctry>DE</Ctry><AdrLine>L</AdrLine></PstlAdr><Id><OrgId><AnyBIC>AAAADEFF</AnyBIC>"
        "<BICOrBEI>AAAADEFF</BICOrBEI><Othr><Id>O</Id></Othr></OrgId></Id>"
    )
    tx = (
        f"<TxDtls><Refs><MsgId>M</MsgId><EndToEndId>E</EndToEndId></Refs><Amt Ccy='EUR'>10.00</Amt>"
        f"<CdtDbtInd>CRDT</CdtDbtInd>{rich}<RltdPties><Dbtr>{party}</Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000"
        "</IBAN></Id></DbtrAcct><UltmtDbtr><Pty><Nm>U</Nm><Id><PrvtId><Othr><Id>P</Id></Othr></PrvtId></Id></Pty>"
        "</UltmtDbtr><Cdtr><Nm>C</Nm></Cdtr><CdtrAcct><Id><Othr><Id>A</Id></Othr></Id></CdtrAcct><UltmtCdtr><Nm>"
        "V</Nm></UltmtCdtr></RltdPties><RltdAgts><DbtrAgt><FinInstnId><BIC>AAAADEFF</BIC></FinInstnId></DbtrAgt>"
        "<CdtrAgt><FinInstnId><BICFI>AAAADEFF</BICFI></FinInstnId></CdtrAgt></RltdAgts><Purp><Cd>SALA</Cd></Purp>"
        "<RmtInf><Ustrd>U</Ustrd><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>I</Issr></Tp>"
        "<Ref>RF18539007547034</Ref></CdtrRefInf><AddtlRmtInf>A</AddtlRmtInf></Strd></RmtInf>"
        "<AddtlTxInf>T</AddtlTxInf></TxDtls>"
    )
    body = (
        f"<AcctSvcrRef>A</AcctSvcrRef><NtryRef>N</NtryRef><RvslInd>false</RvslInd>{rich}"
        f"<NtryDtls><Btch><MsgId>B</MsgId><PmtInfId>P</PmtInfId><NbOfTxs>1</NbOfTxs>"
        f"<TtlAmt Ccy='EUR'>10.00</TtlAmt><CdtDbtInd>CRDT</CdtDbtInd></Btch>{tx}</NtryDtls>"
        "<AddtlNtryInf>I</AddtlNtryInf>"
    )
    yield _entry_document(body)
    yield _entry_document(body.replace("<Dt>2024-01-02</Dt>", "<DtTm>2024-01-02T10:00:00</DtTm>"))
    yield _entry_document("", {"sts": "<Cd>BOOK</Cd>"})


def test_the_plan_covers_every_child_the_python_reader_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = _python_reader_reads(_coverage_inputs(), monkeypatch)
    assert len(reads) > 60  # the inputs do exercise the reader
    missing = []
    for path, name in sorted(reads):
        node = _plan_at(path)
        if node is None:
            # below a FALLBACK element (the Python reader reads that entry itself)
            assert any(_plan_at(path[:i]) is not None for i in range(len(path))), path
            continue
        if name not in node.names():
            missing.append("/".join((*path, name)))
    assert not missing, f"the Python reader reads these, the plan does not: {missing}"


def test_plan_kinds_are_known() -> None:
    def walk(node: PlanNode) -> Iterator[int]:
        for rule in node.rules:
            yield rule[1]
            if len(rule) > 2:
                yield from walk(rule[2])

    assert set(walk(ENTRY_PLAN)) <= {TEXT, TEXT_LIST, NODE, GROUP, FALLBACK, ATTRIBUTE, LINE}


def test_the_bench_generator_is_read_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark measures the fast reader: its entries must not fall back."""
    from bench.gen_camt import generate

    out = tmp_path / "bench.xml"
    generate(200, out)
    data = out.read_bytes()
    handled = 0
    for _event, elem in etree.iterparse(io.BytesIO(data), tag="{*}Ntry"):
        reader = fastpath.FastEntryReader(
            etree.QName(elem).namespace or "",
            "b.xml",
            1000,
            _party,
            _bank_tx_code,
            lambda p, d, f: (None, None),
        )
        handled += reader.read(elem, 1, "/p") is not None
    assert handled == 200
    _agree(data, monkeypatch)
