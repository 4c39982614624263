"""Property: random statements -> test writer (camt.053 v02 / v08) -> parser gives them back."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formats import camt
from formats.amount import Amount
from formats.camt.leaves import SENTINELS
from formats.camt.records import BalanceType, BankTransactionCode, CamtDocument, CreditDebit, EntryStatus
from formats.validate import validate
from tests.formats.camt_writer import (
    DocumentSpec,
    StatementSpec,
    make_account,
    make_balance,
    make_entry,
    make_transaction,
    render_camt053,
)

CURRENCIES = ["EUR", "CHF", "JPY", "BHD", "USD"]
TEXT = (
    st.text(
        alphabet=st.sampled_from(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -./:äöüéß&<>'\""
        ),
        min_size=1,
        max_size=35,
    )
    .map(str.strip)
    .filter(bool)
)
# NOTPROVIDED / NONREF are the "no reference" sentinels: the parser reads them as None
IDS = st.text(
    alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"), min_size=1, max_size=35
).filter(lambda text: text not in SENTINELS)
RF = st.sampled_from(["RF18539007547034", "RF471234567890", "RF712348231"])


@st.composite
def amounts(draw: st.DrawFn, currency: str | None = None) -> Amount:
    places = draw(st.integers(min_value=0, max_value=5))
    units = draw(st.integers(min_value=0, max_value=10**12))
    value = Decimal(units).scaleb(-places)
    return Amount(value, currency or draw(st.sampled_from(CURRENCIES)))


@st.composite
def transactions(draw: st.DrawFn, currency: str, index: int):  # type: ignore[no-untyped-def]
    return make_transaction(
        index=index,
        amount=draw(st.one_of(st.none(), amounts(currency))),
        end_to_end_id=draw(st.one_of(st.none(), IDS)),
        debtor_name=draw(st.one_of(st.none(), TEXT)),
        debtor_iban=draw(st.one_of(st.none(), st.just("DE02120300000000202051"))),
        creditor_name=draw(st.one_of(st.none(), TEXT)),
        unstructured=draw(st.lists(TEXT, max_size=3)),
        references=draw(st.lists(RF, max_size=2)),
    )


@st.composite
def entries(draw: st.DrawFn, currency: str, index: int, require_code: bool):  # type: ignore[no-untyped-def]
    count = draw(st.integers(min_value=0, max_value=3))
    codes = [
        st.just(BankTransactionCode("PMNT", "RCDT", "ESCT", None, None)),
        st.just(BankTransactionCode(None, None, None, "NTRF+166", "DK")),
    ]
    code = draw(st.one_of(*codes) if require_code else st.one_of(st.none(), *codes))
    return make_entry(
        draw(amounts(currency)),
        draw(st.sampled_from(list(CreditDebit))),
        index=index,
        status=draw(st.sampled_from([EntryStatus.BOOKED, EntryStatus.PENDING, EntryStatus.INFORMATION])),
        reversal=draw(st.booleans()),
        booking_date=draw(st.one_of(st.none(), st.dates(date(2000, 1, 1), date(2099, 12, 31)))),
        value_date=draw(st.dates(date(2000, 1, 1), date(2099, 12, 31))),
        account_servicer_ref=draw(st.one_of(st.none(), IDS)),
        bank_tx_code=code,
        transactions=[draw(transactions(currency, i)) for i in range(1, count + 1)],
    )


@st.composite
def documents(draw: st.DrawFn, require_code: bool = False) -> DocumentSpec:
    statements = []
    for s in range(draw(st.integers(min_value=1, max_value=3))):
        currency = draw(st.sampled_from(CURRENCIES))
        iban = draw(st.sampled_from(["DE89370400440532013000", "CH9300762011623852957", None]))
        n = draw(st.integers(min_value=0, max_value=4))
        stmt_entries = [draw(entries(currency, i, require_code)) for i in range(1, n + 1)]
        balances = [
            make_balance(
                BalanceType.OPENING_BOOKED, draw(amounts(currency)), CreditDebit.CREDIT, date(2024, 1, 1)
            ),
            make_balance(
                BalanceType.CLOSING_BOOKED, draw(amounts(currency)), CreditDebit.DEBIT, date(2024, 1, 31)
            ),
        ]
        account = make_account(iban, currency, other_id=None if iban else "ACC-0001")
        statements.append(StatementSpec(f"STMT-{s}", account, balances, stmt_entries))
    return DocumentSpec(draw(IDS), statements)


def _project_spec(spec: DocumentSpec) -> list[object]:
    out: list[object] = []
    for stmt in spec.statements:
        out.append((stmt.statement_id, stmt.account.iban, stmt.account.other_id, stmt.account.currency))
        out.append([(b.type, b.amount, b.credit_debit, b.date) for b in stmt.balances])
        for e in stmt.entries:
            out.append(_project_entry(e))
    return out


def _project_entry(e):  # type: ignore[no-untyped-def]
    single = len(e.transactions) == 1
    return (
        e.amount,
        e.credit_debit,
        e.reversal,
        e.status,
        e.booking_date,
        e.value_date,
        e.entry_ref,
        e.bank_tx_code,
        [
            (
                t.amount if t.amount is not None or not single else e.amount,
                t.refs.end_to_end_id,
                t.parties.debtor.name if t.parties.debtor else None,
                t.parties.debtor_iban,
                t.parties.creditor.name if t.parties.creditor else None,
                t.remittance_unstructured,
                tuple(r.value for r in t.creditor_references),
            )
            for t in e.transactions
        ],
    )


def _project_doc(doc: CamtDocument) -> list[object]:
    out: list[object] = []
    for stmt in doc.statements:
        h = stmt.header
        out.append((h.statement_id, h.account.iban, h.account.other_id, h.account.currency))
        out.append([(b.type, b.amount, b.credit_debit, b.date) for b in stmt.end.balances])
        for e in stmt.entries:
            out.append(_project_entry(e))
    return out


@pytest.mark.parametrize("version", [2, 8])
@settings(max_examples=120, deadline=None)
@given(spec=documents())
def test_render_then_parse_gives_the_records_back(version: int, spec: DocumentSpec) -> None:
    data = render_camt053(spec, version=version)
    doc = camt.parse_document(io.BytesIO(data), source="generated.xml")
    assert doc.format == f"camt.053.001.{version:02d}"
    assert doc.header.message_id == spec.message_id
    assert _project_doc(doc) == _project_spec(spec)
    # exactness survives: every amount is the same Decimal, same exponent
    for parsed, written in zip(
        (e.amount.value for s in doc.statements for e in s.entries),
        (e.amount.value for s in spec.statements for e in s.entries),
        strict=True,
    ):
        assert parsed.as_tuple() == written.as_tuple()


@pytest.mark.parametrize("version", [2, 8])
@settings(max_examples=25, deadline=None)
@given(spec=documents(require_code=True))
def test_rendered_documents_are_schema_valid(version: int, spec: DocumentSpec) -> None:
    """The writer's output is valid against the official XSD (BkTxCd is mandatory, hence require_code)."""
    data = render_camt053(spec, version=version)
    assert validate(io.BytesIO(data), source="generated.xml") == []
