"""Hypothesis properties: never more than the receipt or an item's remaining amount,
deterministic, exact Decimal sums, same currency only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ar.matching.engine import decide
from ar.matching.model import DiscountTier, OpenItem, Outcome, ReceiptFacts
from ar.matching.rules import RuleSet
from tests.ar.matching.helpers import IBAN_ACME, TODAY, item, ledger, receipt

cents = st.integers(min_value=1, max_value=500_000).map(lambda c: Decimal(c).scaleb(-2))
RULE_SETS = (
    RuleSet("default"),
    RuleSet.from_mapping(
        {
            "name": "everything",
            "tolerance": {"amount": "10", "max_write_off": {"EUR": "10"}},
            "rules": [
                {"rule": "reference"},
                {"rule": "match_payment_with_invoice", "ties": "earliest_due_date"},
                {"rule": "clear_account"},
                {"rule": "clear_past_due"},
                {"rule": "clear_past_due_by_term"},
                {"rule": "combination"},
                {"rule": "score"},
                {"rule": "oldest_first"},
            ],
        }
    ),
)


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[list[OpenItem], ReceiptFacts, RuleSet]:
    count = draw(st.integers(min_value=0, max_value=12))
    items = []
    for index in range(count):
        original = draw(cents)
        remaining = draw(st.sampled_from([original, (original / 2).quantize(Decimal("0.01"))]))
        credit = draw(st.booleans()) and index % 5 == 4
        items.append(
            item(
                f"INV-{index + 1:06d}" if not credit else f"CM-{index + 1:05d}",
                str(-original if credit else original),
                remaining=str(-remaining if credit else remaining),
                customer=draw(st.sampled_from(["C1", "C1", "C2", "C3"])),
                currency=draw(st.sampled_from(["EUR", "EUR", "EUR", "USD"])),
                due=TODAY + timedelta(days=draw(st.integers(-60, 60))),
                trx_date=TODAY - timedelta(days=draw(st.integers(0, 40))),
                discounts=draw(st.sampled_from([(), (DiscountTier(days=10, percent=Decimal(2)),)])),
                disputed=str(draw(st.sampled_from([Decimal(0), (remaining / 4).quantize(Decimal("0.01"))]))),
                term=draw(st.sampled_from(["NET30", "NET60"])),
            )
        )
    if items and draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(items), min_size=1, max_size=3, unique_by=lambda i: i.item_id))
        amount = sum((i.amount_due_remaining for i in chosen), Decimal(0))
        amount = amount if amount > 0 else draw(cents)
        amount += draw(st.sampled_from([Decimal(0), Decimal(0), Decimal("-1.50"), Decimal("7.00")]))
        refs = tuple(i.trx_number for i in chosen) if draw(st.booleans()) else ()
    else:
        amount, refs = draw(cents), ()
    amount = max(amount, Decimal("0.01"))
    iban = draw(st.sampled_from([IBAN_ACME, None, "DE00123"]))
    rule_set = draw(st.sampled_from(RULE_SETS))
    return items, receipt(str(amount), iban=iban, ustrd=(" ".join(refs),) if refs else ()), rule_set


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ledgers())
def test_applications_never_exceed_receipt_nor_item_and_are_exact(
    case: tuple[list[OpenItem], ReceiptFacts, RuleSet],
) -> None:
    items, rec, rule_set = case
    view = ledger(*items)
    decision = decide(rec, view, rule_set)
    by_id = {i.item_id: i for i in items}
    total = Decimal(0)
    for app in decision.applications:
        target = by_id[app.item_id]
        assert target.currency == rec.currency
        closed = app.amount + app.discount + app.write_off
        if target.amount_due_remaining > 0:
            assert 0 <= closed <= target.amount_due_remaining
        else:
            assert target.amount_due_remaining <= closed <= 0
        assert isinstance(app.amount, Decimal) and app.amount.is_finite()
        total += app.amount
    assert total <= rec.amount
    assert decision.unapplied == rec.amount - total
    if decision.outcome is Outcome.APPLIED:
        assert total == rec.amount
    assert len(decision.recommendations) <= 5
    for recommendation in decision.recommendations:
        assert sum((a.amount for a in recommendation.applications), Decimal(0)) <= rec.amount or any(
            "currency_mismatch" in n for n in recommendation.evidence.notes
        )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ledgers())
def test_decision_is_deterministic(case: tuple[list[OpenItem], ReceiptFacts, RuleSet]) -> None:
    items, rec, rule_set = case
    first = decide(rec, ledger(*items), rule_set)
    again = decide(rec, ledger(*reversed(items)), rule_set)  # another insertion order
    assert first == again
    assert first.as_dict() == again.as_dict()
