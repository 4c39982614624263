"""Customer import: validation of every row, relationships, accounts, mandates, re-import with audit."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ar import customers
from ar.audit import AuditEvent
from ar.cashapp.indexes import index_customer_names
from ar.cashapp.tables import CustomerNameToken
from ar.matching.context import name_tokens
from ar.model import Customer, CustomerBankAccount, CustomerRelationship, Mandate
from ar.rows import ImportRejected
from tests.ar.core.helpers import NOW, add_customers, rows

GOOD_IBAN = "DE89 3704 0044 0532 0130 00"


def _c(number: str, **values: str) -> dict[str, str]:
    return {"customer_number": number, "name": f"Customer {number}", "class": "trade"} | values


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"customer_number": "", "name": "x", "class": "t"}, "customers.csv:3: customer_number: required"),
        (_c("B", name=""), "customers.csv:3: name: required"),
        (_c("B", profile="gold"), "customers.csv:3: profile: 'gold' is not a profile of profiles.yaml"),
        (_c("B", iban="DE89370400440532013001"), "customers.csv:3: iban: invalid IBAN checksum"),
        (_c("B", iban=f"{GOOD_IBAN};XX00"), "customers.csv:3: iban: XX00:"),
        (_c("B", bic="NOTABIC!"), "customers.csv:3: bic: invalid BIC"),
        (
            _c("B", mandate_id="M-1", iban=GOOD_IBAN),
            "customers.csv:3: mandate_signed: required with mandate_id",
        ),
        (
            _c("B", mandate_id="M-1", mandate_signed="2026-01-01"),
            "customers.csv:3: iban: a mandate needs the IBAN",
        ),
        (_c("B", mandate_signed="31.01.2026"), "customers.csv:3: mandate_signed: not an ISO date"),
        (_c("B", country="Germany"), "customers.csv:3: country: an ISO 3166 two-letter code"),
        (_c("B", gln="4012345000008"), "customers.csv:3: gln: not a GLN"),
        (_c("B", email="nobody"), "customers.csv:3: email: not an email address"),
        (_c("B", parent_number="B"), "customers.csv:3: parent_number: a customer cannot be its own parent"),
        (_c("B", parent_number="ZZ"), "customers.csv:3: parent_number: customer ZZ does not exist"),
        (_c("A"), "customers.csv:3: customer_number: A is already on line 2"),
        (_c("B", relationship="both"), "customers.csv:3: relationship:"),
    ],
)
def test_invalid_rows_import_nothing(session: Session, row: dict[str, str], expected: str) -> None:
    with pytest.raises(ImportRejected) as info:
        add_customers(session, _c("A"), row, _c("C", email="also bad"))
    messages = [str(p) for p in info.value.problems]
    assert any(m.startswith(expected) for m in messages), messages
    assert "customers.csv:4: email: not an email address" in messages
    assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_skip_invalid_imports_good_rows_and_children_of_bad_parents_are_left_out(session: Session) -> None:
    result = customers.import_customers(
        session,
        rows([_c("KID", parent_number="BAD"), _c("BAD", iban="DE00"), _c("OK")]),
        columns=frozenset({"customer_number", "name", "class", "parent_number", "iban"}),
        file="customers.csv",
        profiles={"default"},
        actor="t",
        now=NOW,
        skip_invalid=True,
    )
    assert result.created == 1
    assert [p.line for p in result.problems] == [2, 3]
    assert "line 3 is invalid" in str(result.problems[0])


def test_parents_after_children_accounts_mandates_and_reciprocal(session: Session) -> None:
    add_customers(
        session,
        _c("KID", parent_number="MUM", iban=f"{GOOD_IBAN.lower()}; GB82 WEST 1234 5698 7654 32"),
        _c(
            "MUM",
            relationship="",
            mandate_id="M-1",
            mandate_signed="2026-01-15",
            iban="DE44500105175407324931",
        ),
        _c("SIS", parent_number="MUM", relationship="reciprocal"),
    )
    kid, mum, sis = (customers.get(session, n) for n in ("KID", "MUM", "SIS"))
    assert sorted(
        a.iban
        for a in session.scalars(select(CustomerBankAccount).where(CustomerBankAccount.customer_id == kid.id))
    ) == [
        "DE89370400440532013000",
        "GB82WEST12345698765432",
    ]
    assert [c.number for c in customers.by_iban(session, "GB82WEST12345698765432")] == ["KID"]
    mandate = session.scalars(select(Mandate)).one()
    assert (mandate.customer_id, mandate.iban, mandate.sequence_type) == (
        mum.id,
        "DE44500105175407324931",
        "FRST",
    )
    assert customers.active_mandate(session, mum.id) == mandate
    assert customers.may_pay_for(session, mum.id) == sorted([mum.id, kid.id, sis.id])
    assert customers.may_pay_for(session, kid.id) == [kid.id]  # one-way
    assert customers.may_pay_for(session, sis.id) == sorted([sis.id, mum.id])  # reciprocal


def test_reimport_updates_and_audits_every_change(session: Session) -> None:
    add_customers(session, _c("A", iban=GOOD_IBAN, email="a@example.com"), _c("P"))
    add_customers(
        session, _c("A", name="Renamed", iban="", email="a@example.com", parent_number="P"), _c("P")
    )
    a = customers.get(session, "A")
    assert a.name == "Renamed"
    assert session.scalar(select(func.count()).select_from(CustomerBankAccount)) == 0
    assert session.scalar(select(func.count()).select_from(CustomerRelationship)) == 1
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.entity_id == "A").order_by(AuditEvent.id)
    ).all()
    assert [e.action for e in events] == ["created", "updated"]
    assert json.loads(events[1].details) == {
        "name": ["Customer A", "Renamed"],
        "iban": [["DE89370400440532013000"], []],
        "parent": [None, {"number": "P", "reciprocal": False}],
    }
    # unchanged on a third import: no audit event
    add_customers(
        session, _c("A", name="Renamed", iban="", email="a@example.com", parent_number="P"), _c("P")
    )
    assert (
        session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.entity_id == "A")) == 2
    )


def _name_tokens(session: Session) -> dict[str, list[tuple[str, str]]]:
    rows = session.execute(
        select(Customer.number, CustomerNameToken.token, CustomerNameToken.name)
        .join(Customer, Customer.id == CustomerNameToken.customer_id)
        .order_by(Customer.number, CustomerNameToken.token)
    )
    tokens: dict[str, list[tuple[str, str]]] = {}
    for number, token, name in rows:
        tokens.setdefault(number, []).append((token, name))
    return tokens


def test_the_import_gives_new_and_renamed_customers_their_name_tokens(session: Session) -> None:
    add_customers(session, _c("A", name="Müller Handel GmbH"), _c("B", name="Schmidt AG"))
    created = _name_tokens(session)
    assert sorted(created) == ["A", "B"]
    assert {name for token, name in created["A"]} == {"Müller Handel GmbH"}
    assert [token for token, _ in created["A"]] == sorted(set(name_tokens("Müller Handel GmbH")))
    # a rename replaces the tokens of that customer only; the other keeps its rows
    add_customers(session, _c("A", name="Weber KG"), _c("B", name="Schmidt AG"))
    renamed = _name_tokens(session)
    assert renamed["A"] == [(t, "Weber KG") for t in sorted(set(name_tokens("Weber KG")))]
    assert renamed["B"] == created["B"]
    # so the match run's catch-up has nothing left to do for them
    assert index_customer_names(session) == 0


def test_mandate_of_another_customer_is_refused(session: Session) -> None:
    add_customers(session, _c("A", mandate_id="M-1", mandate_signed="2026-01-01", iban=GOOD_IBAN))
    with pytest.raises(ImportRejected, match="M-1 belongs to customer A"):
        add_customers(session, _c("B", mandate_id="M-1", mandate_signed="2026-01-01", iban=GOOD_IBAN))
