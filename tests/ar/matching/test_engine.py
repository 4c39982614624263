"""The engine end to end on small in-memory ledgers: one table per rule family."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from ar.matching.engine import MatchingEngine, decide
from ar.matching.model import DiscountTier, IdentifiedBy, Outcome
from ar.matching.rules import RuleSet
from tests.ar.matching.helpers import (
    ACME,
    IBAN_ACME,
    IBAN_CHILD,
    TODAY,
    applied,
    item,
    ledger,
    receipt,
)

TOLERANT = RuleSet.from_mapping(
    {"name": "tolerant", "tolerance": {"amount": "10", "percent": "2", "max_write_off": {"EUR": "10"}}}
)
RECOMMEND_PARTIAL = RuleSet.from_mapping(
    {"name": "p", "rules": [{"rule": "reference", "partial": "recommend"}]}
)
DISCOUNT = (DiscountTier(days=10, percent=Decimal(2)),)


def oracle(*rules: dict[str, object]) -> RuleSet:
    return RuleSet.from_mapping({"name": "oracle", "rules": list(rules)})


# -- Oracle's worked AutoCash example -------------------------------------------------

ORACLE_ITEMS = (
    item("123", "200", due=date(2024, 12, 11)),
    item("124", "300", due=date(2024, 12, 8)),
    item("125", "150", due=date(2024, 12, 13)),
)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"rule": "match_payment_with_invoice"}, []),
        ({"rule": "clear_account"}, []),
        (
            {"rule": "oldest_first"},
            [("124", "300", "0", "0"), ("123", "200", "0", "0"), ("125", "100", "0", "0")],
        ),
        (
            {"rule": "oldest_first", "partial_receipts": False},
            [("124", "300", "0", "0"), ("123", "200", "0", "0")],
        ),
    ],
)
def test_oracle_worked_example_each_rule(rule: dict[str, object], expected: list[tuple[str, ...]]) -> None:
    decision = decide(receipt("600"), ledger(*ORACLE_ITEMS), oracle(rule))
    assert applied(decision) == expected


def test_oracle_worked_example_rule_set_in_order_leaves_50_open_on_125() -> None:
    rule_set = oracle(
        {"rule": "match_payment_with_invoice"}, {"rule": "clear_account"}, {"rule": "oldest_first"}
    )
    decision = decide(receipt("600"), ledger(*ORACLE_ITEMS), rule_set)
    assert decision.outcome is Outcome.APPLIED
    assert decision.rule == "3:oldest_first"
    assert applied(decision) == [("124", "300", "0", "0"), ("123", "200", "0", "0"), ("125", "100", "0", "0")]
    item_125 = ORACLE_ITEMS[2]
    assert item_125.amount_due_remaining - decision.applications[2].amount == Decimal(50)


# -- reference rule -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "amount", "items", "rule_set", "outcome", "expected", "note"),
    [
        (
            "exact",
            "1000.00",
            [item("INV-000123", "1000.00")],
            None,
            Outcome.APPLIED,
            [("INV-000123", "1000.00", "0", "0")],
            "exact",
        ),
        (
            "short within tolerance",
            "995.00",
            [item("INV-000123", "1000.00")],
            TOLERANT,
            Outcome.APPLIED,
            [("INV-000123", "995.00", "0", "5.00")],
            "write_off",
        ),
        (
            "short over the write-off limit: partial",
            "985.00",
            [item("INV-000123", "1000.00")],
            TOLERANT,
            Outcome.APPLIED,
            [("INV-000123", "985.00", "0", "0")],
            "partial",
        ),
        (
            "discount earned",
            "980.00",
            [item("INV-000123", "1000.00", trx_date=TODAY - timedelta(days=5), discounts=DISCOUNT)],
            None,
            Outcome.APPLIED,
            [("INV-000123", "980.00", "20.00", "0")],
            "discount_earned",
        ),
        (
            "discount lapsed: partial",
            "980.00",
            [item("INV-000123", "1000.00", trx_date=TODAY - timedelta(days=15), discounts=DISCOUNT)],
            None,
            Outcome.APPLIED,
            [("INV-000123", "980.00", "0", "0")],
            "partial",
        ),
        (
            "partial, oldest first among the referenced",
            "700.00",
            [
                item("INV-000123", "500.00", due=TODAY + timedelta(days=5)),
                item("INV-000124", "500.00", due=TODAY - timedelta(days=5)),
                item("INV-000125", "40.00"),
            ],
            None,
            Outcome.APPLIED,
            [("INV-000124", "500.00", "0", "0"), ("INV-000123", "200.00", "0", "0")],
            "partial",
        ),
        (
            "partial, recommend",
            "700.00",
            [item("INV-000123", "1000.00")],
            RECOMMEND_PARTIAL,
            Outcome.RECOMMENDED,
            [],
            "partial",
        ),
        (
            "overpayment: rest unapplied",
            "1200.00",
            [item("INV-000123", "1000.00")],
            None,
            Outcome.PARTIALLY_APPLIED,
            [("INV-000123", "1000.00", "0", "0")],
            "overpayment",
        ),
        (
            "several invoices and a credit memo",
            "850.00",
            [item("INV-000123", "500.00"), item("INV-000124", "400.00"), item("CM-00007", "-50.00")],
            None,
            Outcome.APPLIED,
            [
                ("INV-000123", "500.00", "0", "0"),
                ("INV-000124", "400.00", "0", "0"),
                ("CM-00007", "-50.00", "0", "0"),
            ],
            "exact",
        ),
        (
            "disputed part is not applied",
            "600.00",
            [item("INV-000123", "1000.00", disputed="400.00")],
            None,
            Outcome.APPLIED,
            [("INV-000123", "600.00", "0", "0")],
            "exact",
        ),
    ],
)
def test_reference_rule(case, amount, items, rule_set, outcome, expected, note) -> None:  # type: ignore[no-untyped-def]
    refs = " ".join(i.trx_number for i in items)
    decision = decide(receipt(amount, ustrd=(f"Zahlung {refs}",)), ledger(*items), rule_set)
    assert decision.outcome is outcome, case
    if expected:
        assert sorted(applied(decision)) == sorted(expected), case
        assert decision.evidence is not None and note in decision.evidence.notes
        assert decision.evidence.references
    else:
        assert decision.recommendations and note in decision.recommendations[0].evidence.notes


def test_paying_some_of_the_referenced_items_applies_that_subset() -> None:
    items = [item("INV-000123", "500.00"), item("INV-000124", "400.00"), item("INV-000125", "70.00")]
    decision = decide(receipt("570.00", ustrd=("INV-000123 INV-000124 INV-000125",)), ledger(*items))
    assert sorted(applied(decision)) == [
        ("INV-000123", "500.00", "0", "0"),
        ("INV-000125", "70.00", "0", "0"),
    ]


def test_short_like_a_fee_but_over_the_percent_limit_is_recommended_not_guessed() -> None:
    decision = decide(receipt("90.00", ustrd=("INV-000123",)), ledger(item("INV-000123", "100.00")), TOLERANT)
    assert decision.outcome is Outcome.RECOMMENDED
    notes = {n for r in decision.recommendations for n in r.evidence.notes}
    assert {"write_off_over_limit", "partial"} <= notes


def test_write_off_never_exceeds_the_limit_for_the_currency() -> None:
    rule_set = RuleSet.from_mapping(
        {"name": "x", "tolerance": {"amount": "50", "max_write_off": {"USD": "50"}}}
    )
    decision = decide(
        receipt("995.00", ustrd=("INV-000123",)), ledger(item("INV-000123", "1000.00")), rule_set
    )
    assert all(a.write_off == 0 for a in decision.applications)


# -- payer identification -------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "kwargs", "identified_by", "customer"),
    [
        ("iban", {"iban": IBAN_ACME}, IdentifiedBy.IBAN, "C1"),
        ("iban with spaces, lower case", {"iban": "de89 3704 0044 0532 0130 00"}, IdentifiedBy.IBAN, "C1"),
        ("unknown iban, reference", {"iban": "DE00", "ustrd": ("INV-000123",)}, IdentifiedBy.REFERENCE, "C1"),
        ("no iban, reference", {"iban": None, "ustrd": ("INV-000123",)}, IdentifiedBy.REFERENCE, "C1"),
        ("name only", {"iban": None, "name": "ACME Industries"}, IdentifiedBy.NAME, "C1"),
        ("nothing", {"iban": None, "name": "Unbekannt & Soehne"}, IdentifiedBy.NONE, None),
        ("bare number alone identifies nobody", {"iban": None, "ustrd": ("123",)}, IdentifiedBy.NONE, None),
    ],
)
def test_payer_identification(case, kwargs, identified_by, customer) -> None:  # type: ignore[no-untyped-def]
    view = ledger(item("INV-000123", "1000.00"), item("INV-000999", "5.00", customer="C3"))
    decision = decide(receipt("1000.00", **kwargs), view)
    assert decision.identified_by is identified_by, case
    assert decision.customer_id == customer, case


def test_name_similarity_is_weak_evidence_only() -> None:
    """Name + exact amount of the one open item: recommended, never applied."""
    view = ledger(item("INV-000123", "1000.00"))
    decision = decide(receipt("1000.00", iban=None, name="Acme Industries GmbH"), view)
    assert decision.identified_by is IdentifiedBy.NAME
    assert decision.outcome is Outcome.RECOMMENDED
    assert decision.recommendations[0].applications[0].trx_number == "INV-000123"


@pytest.mark.parametrize("with_reference", [True, False])
def test_parent_pays_child(with_reference: bool) -> None:
    view = ledger(item("INV-000500", "250.00", customer="C2"), item("INV-000501", "80.00"))
    ustrd = ("INV-000500",) if with_reference else ()
    decision = decide(receipt("250.00", iban=IBAN_ACME, ustrd=ustrd), view)
    assert decision.outcome is Outcome.APPLIED
    assert applied(decision) == [("INV-000500", "250.00", "0", "0")]
    assert decision.evidence is not None and "paid_for_related:C2" in decision.evidence.notes


def test_child_does_not_silently_pay_the_parent() -> None:
    view = ledger(item("INV-000501", "80.00"))
    decision = decide(receipt("80.00", iban=IBAN_CHILD), view)
    assert decision.outcome is not Outcome.APPLIED


def test_reference_to_an_unrelated_customer_is_recommended() -> None:
    view = ledger(item("INV-000999", "75.00", customer="C3"))
    decision = decide(receipt("75.00", iban=IBAN_ACME, ustrd=("INV-000999",)), view)
    assert decision.outcome is not Outcome.APPLIED
    assert "unrelated_customer" in decision.recommendations[0].evidence.notes


# -- AutoCash rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "rule", "amount", "items", "expected"),
    [
        (
            "match payment: one item",
            {"rule": "match_payment_with_invoice"},
            "300",
            [item("A-1", "200"), item("A-2", "300")],
            [("A-2", "300", "0", "0")],
        ),
        (
            "match payment: tie broken by earliest due date",
            {"rule": "match_payment_with_invoice", "ties": "earliest_due_date"},
            "300",
            [
                item("A-1", "300", due=TODAY + timedelta(days=9)),
                item("A-2", "300", due=TODAY + timedelta(days=3)),
            ],
            [("A-2", "300", "0", "0")],
        ),
        (
            "match payment: tie on the same due date is recommended",
            {"rule": "match_payment_with_invoice", "ties": "earliest_due_date"},
            "300",
            [item("A-1", "300", due=TODAY), item("A-2", "300", due=TODAY)],
            [],
        ),
        (
            "match payment: tie recommended by default",
            {"rule": "match_payment_with_invoice"},
            "300",
            [
                item("A-1", "300", due=TODAY + timedelta(days=9)),
                item("A-2", "300", due=TODAY + timedelta(days=3)),
            ],
            [],
        ),
        (
            "match payment: net of an earned discount",
            {"rule": "match_payment_with_invoice"},
            "98.00",
            [item("A-1", "100.00", trx_date=TODAY - timedelta(days=3), discounts=DISCOUNT)],
            [("A-1", "98.00", "2.00", "0")],
        ),
        (
            "clear the account",
            {"rule": "clear_account"},
            "450",
            [item("A-1", "200"), item("A-2", "300"), item("C-1", "-50")],
            [("A-1", "200", "0", "0"), ("A-2", "300", "0", "0"), ("C-1", "-50", "0", "0")],
        ),
        (
            "clear past due",
            {"rule": "clear_past_due"},
            "500",
            [
                item("A-1", "200", due=TODAY - timedelta(days=1)),
                item("A-2", "300", due=TODAY - timedelta(days=9)),
                item("A-3", "150", due=TODAY + timedelta(days=1)),
            ],
            [("A-2", "300", "0", "0"), ("A-1", "200", "0", "0")],
        ),
        (
            "clear past due grouped by payment term",
            {"rule": "clear_past_due_by_term"},
            "500",
            [
                item("A-1", "200", due=TODAY - timedelta(days=1), term="NET60"),
                item("A-2", "300", due=TODAY - timedelta(days=9), term="NET60"),
                item("A-3", "150", due=TODAY - timedelta(days=2), term="NET30"),
            ],
            [("A-2", "300", "0", "0"), ("A-1", "200", "0", "0")],
        ),
        (
            "late charges excluded from the balance",
            {"rule": "match_payment_with_invoice"},
            "100",
            [item("A-1", "110", late="10")],
            [],
        ),
    ],
)
def test_autocash_rules(case, rule, amount, items, expected) -> None:  # type: ignore[no-untyped-def]
    decision = decide(receipt(amount), ledger(*items), oracle(rule))
    assert applied(decision) == expected, case
    if not expected and len(items) > 1:
        assert decision.outcome is Outcome.RECOMMENDED, case


@pytest.mark.parametrize(
    ("include_late_charges", "expected"),
    [(True, []), (False, [("A-1", "100", "0", "0")])],
)
def test_open_balance_option_late_charges(
    include_late_charges: bool, expected: list[tuple[str, ...]]
) -> None:
    rule_set = RuleSet.from_mapping(
        {
            "name": "x",
            "rules": [{"rule": "match_payment_with_invoice"}],
            "open_balance": {"include_late_charges": include_late_charges},
        }
    )
    decision = decide(receipt("100"), ledger(item("A-1", "110", late="10")), rule_set)
    assert applied(decision) == expected


@pytest.mark.parametrize(("include_disputed", "expected"), [(False, []), (True, [("A-1", "110", "0", "0")])])
def test_open_balance_option_disputed(include_disputed: bool, expected: list[tuple[str, ...]]) -> None:
    rule_set = RuleSet.from_mapping(
        {
            "name": "x",
            "rules": [{"rule": "match_payment_with_invoice"}],
            "open_balance": {"include_disputed": include_disputed},
        }
    )
    decision = decide(receipt("110"), ledger(item("A-1", "110", disputed="30")), rule_set)
    assert applied(decision) == expected


# -- combination search -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "amounts", "paid", "outcome"),
    [
        ("unique pair", ["100.00", "250.00", "400.10", "977.31"], "500.10", Outcome.APPLIED),
        ("unique triple", ["100.00", "250.00", "400.10", "977.31"], "1327.31", Outcome.APPLIED),
        ("ambiguous", ["100.00", "200.00", "300.00", "50.00"], "350.00", Outcome.RECOMMENDED),
        ("none", ["100.00", "200.00"], "999.99", Outcome.UNAPPLIED),
    ],
)
def test_combination_without_remittance(case: str, amounts: list[str], paid: str, outcome: Outcome) -> None:
    items = [item(f"A-{i}", a) for i, a in enumerate(amounts)]
    rule_set = oracle({"rule": "combination"})
    decision = decide(receipt(paid), ledger(*items), rule_set)
    assert decision.outcome is outcome, case
    if outcome is Outcome.APPLIED:
        assert sum(a.amount for a in decision.applications) == Decimal(paid)
    if outcome is Outcome.RECOMMENDED:
        assert len(decision.recommendations) >= 2


def test_combination_over_budget_never_applies() -> None:
    items = [item(f"A-{i}", f"{100 + i}.00") for i in range(300)]
    rule_set = oracle({"rule": "combination", "node_budget": 50})
    decision = decide(receipt("1000.00"), ledger(*items), rule_set)
    assert decision.outcome is not Outcome.APPLIED


# -- scoring --------------------------------------------------------------------------------


def test_score_applies_a_near_reference_that_breaks_a_tie() -> None:
    items = [item("INV-004711", "300.00"), item("INV-009999", "300.00")]
    decision = decide(receipt("300.00", ustrd=("INV-004771",)), ledger(*items))  # typo: 71 for 11
    assert decision.outcome is Outcome.APPLIED
    assert decision.rule is not None and decision.rule.endswith("score")
    assert applied(decision) == [("INV-004711", "300.00", "0", "0")]


def test_ambiguity_guard_holds_when_runner_up_is_within_margin() -> None:
    items = [item("INV-004711", "300.00"), item("INV-004712", "300.00")]
    decision = decide(receipt("300.00", ustrd=("INV-00471",)), ledger(*items))
    assert decision.outcome is Outcome.RECOMMENDED
    top, runner_up = decision.recommendations[:2]
    assert top.score - runner_up.score <= 5


# -- unidentified, currency, hygiene -----------------------------------------------------------


def test_unidentified_gets_ranked_recommendations() -> None:
    items = [item(f"INV-00010{i}", "120.00", customer=c) for i, c in enumerate(("C1", "C3", "C2"))]
    decision = decide(receipt("120.00", iban=None, name="Somebody Else"), ledger(*items))
    assert decision.outcome in (Outcome.UNIDENTIFIED, Outcome.RECOMMENDED)
    assert not decision.applications
    assert 1 <= len(decision.recommendations) <= 5
    scores = [r.score for r in decision.recommendations]
    assert scores == sorted(scores, reverse=True)


def test_another_currency_is_never_applied_automatically() -> None:
    view = ledger(item("INV-000123", "1000.00", currency="USD"))
    decision = decide(receipt("1000.00", ustrd=("INV-000123",)), view)
    assert decision.outcome is Outcome.RECOMMENDED
    assert "currency_mismatch" in decision.recommendations[0].evidence.notes


def test_decision_is_json_able_with_rule_score_and_evidence() -> None:
    decision = decide(receipt("1000.00", ustrd=("INV-000123",)), ledger(item("INV-000123", "1000.00")))
    data = json.loads(json.dumps(decision.as_dict()))
    assert data["rule"] == "1:reference"
    assert data["score"] == 100
    assert data["evidence"]["identified_by"] == "iban"
    assert data["evidence"]["references"] == ["INV-000123"]
    assert data["evidence"]["amount_difference"] == "0.00"


def test_rule_set_is_chosen_by_customer_profile() -> None:
    strict = RuleSet.from_mapping(
        {"name": "strict", "rules": [{"rule": "reference", "partial": "recommend"}]}
    )
    engine = MatchingEngine([strict], default="strict")
    decision = engine.decide(receipt("10.00", ustrd=("INV-000123",)), ledger(item("INV-000123", "100.00")))
    assert ACME.profile == "default"  # not a known rule set: the engine's default applies
    assert decision.rule_set == "strict"
    assert decision.outcome is Outcome.RECOMMENDED


def test_non_positive_receipt_is_not_applied() -> None:
    decision = decide(receipt("0.00", ustrd=("INV-000123",)), ledger(item("INV-000123", "100.00")))
    assert decision.outcome is Outcome.UNAPPLIED


@pytest.mark.parametrize(
    ("amount", "invoice", "credit", "expected"),
    [
        # Found by the property test: the overpayment path closed the invoice and forgot the
        # referenced credit memo, applying 0.02 of a 0.01 receipt.
        ("0.01", "0.02", "-0.02", []),
        # Invoice net of its credit is 30.00; 50.00 received: both consumed, 20.00 left unapplied.
        (
            "50.00",
            "100.00",
            "-70.00",
            [("CM-000005", "-70.00", "0", "0"), ("INV-000008", "100.00", "0", "0")],
        ),
    ],
)
def test_overpayment_consumes_referenced_credits_too(
    amount: str, invoice: str, credit: str, expected: list[tuple[str, ...]]
) -> None:
    items = [item("INV-000008", invoice), item("CM-000005", credit)]
    decision = decide(receipt(amount, ustrd=("INV-000008 CM-000005",)), ledger(*items))
    assert sorted(applied(decision)) == expected
    assert sum((a.amount for a in decision.applications), Decimal(0)) <= Decimal(amount)
