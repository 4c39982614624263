"""Junk in, clean refusal out: every registered adapter raises only FormatError on junk (stdnum's rule)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats import registry
from formats.errors import FormatError
from tests.formats.xmlbits import document, ntry, statement

SEED = document(
    [
        statement(
            [
                ntry(
                    "<AcctSvcrRef>A</AcctSvcrRef><NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch>"
                    '<TxDtls><Amt Ccy="EUR">4.00</Amt><RmtInf><Ustrd>x</Ustrd><Strd><CdtrRefInf>'
                    "<Ref>RF18539007547034</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>"
                    '<TxDtls><AmtDtls><TxAmt><Amt Ccy="EUR">6.00</Amt></TxAmt></AmtDtls></TxDtls></NtryDtls>'
                ),
                ntry(ind="DBIT", sts="PDNG"),
            ]
        )
    ],
    version="04",
)


def _consume(adapter: registry.Adapter, data: bytes) -> None:
    try:
        for _ in adapter.parse(io.BytesIO(data), source="junk.bin"):
            pass
    except FormatError as exc:
        assert exc.problems, "a FormatError carries at least one problem"
        assert all(p.source == "junk.bin" for p in exc.problems)


@pytest.mark.parametrize("adapter", registry.ADAPTERS, ids=lambda a: a.FORMAT)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000))
def test_junk_bytes(adapter: registry.Adapter, data: bytes) -> None:
    _consume(adapter, data)


@pytest.mark.parametrize("adapter", registry.ADAPTERS, ids=lambda a: a.FORMAT)
@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(SEED) - 1),
            st.sampled_from(["flip", "cut", "insert", "drop"]),
            st.binary(min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_valid_file(adapter: registry.Adapter, edits: list[tuple[int, str, bytes]]) -> None:
    data = bytearray(SEED)
    for position, action, chunk in edits:
        position %= max(len(data), 1)
        if action == "flip" and data:
            data[position] ^= chunk[0] or 1
        elif action == "cut":
            del data[position:]
        elif action == "insert":
            data[position:position] = chunk
        elif action == "drop" and data:
            del data[position : position + len(chunk)]
    _consume(adapter, bytes(data))


_XML_TOKENS = [
    b"<Ntry>",
    b"</Ntry>",
    b'<Amt Ccy="EUR">',
    b"</Amt>",
    b"<TxDtls>",
    b"</TxDtls>",
    b"<Sts>",
    b"BOOK",
    b"</Sts>",
    b"<Sts><Cd>",
    b"<CdtDbtInd>DBIT</CdtDbtInd>",
    b"-1",
    b"1.123456",
    b"<Bal>",
    b"</Bal>",
    b"<Stmt>",
    b"</Stmt>",
    b"&amp;",
    b"<![CDATA[x]]>",
    b"<!-- c -->",
    b"<?pi x?>",
    b"\xc3\xa9",
    b"NOTPROVIDED",
]


@pytest.mark.parametrize("adapter", registry.ADAPTERS, ids=lambda a: a.FORMAT)
@settings(max_examples=200, deadline=None)
@given(tokens=st.lists(st.sampled_from(_XML_TOKENS), max_size=40))
def test_structured_junk_inside_a_statement(adapter: registry.Adapter, tokens: list[bytes]) -> None:
    inner = b"".join(tokens)
    data = SEED.replace(b"</Stmt>", inner + b"</Stmt>")
    _consume(adapter, data)


def test_every_sample_is_accepted_or_refused_cleanly(tmp_path: Path) -> None:
    """Truncating every sample file at many points never escapes FormatError."""
    from tests.formats.conftest import samples_root

    root = samples_root()
    if not root.is_dir():
        pytest.skip(f"samples not found at {root}")
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in ("", ".xml")):
        data = path.read_bytes()
        adapter = registry.detect(data[:4096])
        if adapter is None:
            continue
        for cut in range(0, len(data), max(len(data) // 25, 1)):
            _consume(adapter, data[:cut])
