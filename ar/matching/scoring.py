"""AutoMatch-style scoring: customer, reference and amount evidence, each 0..100, weighted.

The weights and thresholds come from the rule set's ``ScoreRule``. An automatic
application needs a score at or above ``auto_apply`` *and* a runner-up more than
``margin`` below it (the ambiguity guard); from ``recommend`` up it is recommended.

>>> from ar.matching.rules import ScoreRule
>>> weighted((("customer", 100), ("reference", 0), ("amount", 100)), ScoreRule())
60
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ar.matching.model import IdentifiedBy
from ar.matching.rules import ScoreRule

Components = tuple[tuple[str, int], ...]


def customer_component(
    item_customer: str,
    payer_id: str | None,
    payer_scope: frozenset[str],
    identified_by: IdentifiedBy,
    name: int,
) -> int:
    """How sure we are that the item belongs to whoever paid."""
    if payer_id is not None and item_customer in payer_scope:
        own = item_customer == payer_id
        if identified_by is IdentifiedBy.IBAN:
            return 100 if own else 90
        if identified_by is IdentifiedBy.REFERENCE:
            return 70 if own else 60
        if identified_by is IdentifiedBy.NAME:
            return min(70, name * 7 // 10)
    return min(50, name // 2)  # a resembling name alone is weak evidence


def reference_component(
    prefixed: bool | None, significant_digits: int, min_bare_digits: int, fuzzy: int
) -> int:
    """100 for an exact prefixed or RF reference, less for a bare number, the similarity for a typo."""
    if prefixed:
        return 100
    if prefixed is False:
        return 85 if significant_digits >= min_bare_digits else 65
    return fuzzy


def amount_component(
    receipt: Decimal, cash: Decimal, closed: Decimal, open_sum: Decimal, write_off: Decimal
) -> int:
    """100 when the receipt closes exactly what the items ask for (an earned discount included),
    90 with a write-off within tolerance, at most 50 for a partial or an overpayment."""
    if cash == receipt and closed == open_sum:
        return 100 if write_off == 0 else 90
    if open_sum <= 0 or receipt <= 0:
        return 0
    ratio = min(receipt, open_sum) / max(receipt, open_sum)
    return int(ratio * 50)


def weighted(components: Components, rule: ScoreRule) -> int:
    weights = {
        "customer": rule.weights.customer,
        "reference": rule.weights.reference,
        "amount": rule.weights.amount,
    }
    total = sum(weights.values())
    value = sum(weights.get(name, 0) * score for name, score in components)
    return round(value / total)


def guard(scores: Sequence[int], rule: ScoreRule) -> bool:
    """Whether the best of ``scores`` (sorted, best first) may be applied automatically."""
    if not scores or scores[0] < rule.auto_apply:
        return False
    return len(scores) == 1 or scores[1] < scores[0] - rule.margin
