"""Rule-set mappings (with the bad key named), the AutoCash doctests and the bounded search."""

from __future__ import annotations

import ast
import doctest
from decimal import Decimal
from types import ModuleType

import pytest

from ar.matching import autocash, combination, rules, scoring
from ar.matching.combination import find_combinations
from ar.matching.rules import (
    ClearAccountRule,
    CombinationRule,
    OldestFirstRule,
    PartialPolicy,
    ReferenceRule,
    RuleSet,
    RuleSetError,
    ScoreRule,
    TiePolicy,
)
from gateway import compiled


def _doctests(module: ModuleType) -> list[doctest.DocTest]:
    """The examples in the module's docstrings, read from its source and run in the namespace of
    the module as imported: ``doctest.testmod`` finds none in a compiled module (ADR 4)."""
    path = compiled.source_of(module.__name__)
    parser = doctest.DocTestParser()
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            text = ast.get_docstring(node)
            if text and ">>>" in text:
                name = f"{module.__name__}.{getattr(node, 'name', '')}".rstrip(".")
                line = getattr(node, "lineno", 0)
                found.append(parser.get_doctest(text, dict(vars(module)), name, str(path), line))
    return found


@pytest.mark.parametrize("module", [autocash, combination, rules, scoring])
def test_module_doctests(module: ModuleType) -> None:
    runner = doctest.DocTestRunner()
    for test in _doctests(module):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_full_mapping_builds_every_rule_and_option() -> None:
    rule_set = RuleSet.from_mapping(
        {
            "name": "standard",
            "tolerance": {"amount": "5.00", "percent": "1", "max_write_off": {"EUR": "10.00", "USD": 10}},
            "open_balance": {
                "include_disputed": False,
                "include_late_charges": True,
                "count_discounts": True,
                "discount_grace_days": 2,
            },
            "references": {
                "patterns": [r"(?P<ref>INV\d+)"],
                "min_bare_digits": 5,
                "string_handling": [{"keep": "back", "chars": 6, "strip_zeros": True}],
            },
            "identification": {"name_threshold": 90, "allow_unrelated_payer": True},
            "rules": [
                {"rule": "reference", "partial": "recommend", "overpayment": "recommend"},
                {"rule": "match_payment_with_invoice", "ties": "earliest_due_date"},
                {"rule": "clear_account"},
                {"rule": "clear_past_due"},
                {"rule": "clear_past_due_by_term", "ties": "recommend"},
                {"rule": "combination", "max_items": 4, "node_budget": 1000, "max_open_items": 100},
                {
                    "rule": "score",
                    "weights": {"customer": 20, "reference": 50, "amount": 30},
                    "auto_apply": 95,
                    "recommend": 40,
                    "margin": 8,
                },
                {"rule": "oldest_first", "partial_receipts": False},
            ],
        }
    )
    assert (
        isinstance(rule_set.rules[0], ReferenceRule) and rule_set.rules[0].partial is PartialPolicy.RECOMMEND
    )
    assert rule_set.rules[1].ties is TiePolicy.EARLIEST_DUE_DATE  # type: ignore[union-attr]
    assert isinstance(rule_set.rules[2], ClearAccountRule)
    assert isinstance(rule_set.rules[5], CombinationRule) and rule_set.rules[5].max_items == 4
    assert isinstance(rule_set.rules[6], ScoreRule) and rule_set.rules[6].weights.reference == 50
    assert isinstance(rule_set.rules[7], OldestFirstRule) and not rule_set.rules[7].partial_receipts
    assert rule_set.tolerance.write_off_limit("EUR") == Decimal("10.00")
    assert rule_set.tolerance.write_off_limit("CHF") == 0
    assert rule_set.references.string_handling[0].chars == 6
    assert rule_set.score_rule().auto_apply == 95


@pytest.mark.parametrize(
    ("mapping", "path"),
    [
        ({"name": "x", "colour": "red"}, "colour"),
        ({}, "name"),
        ({"name": "x", "tolerance": {"amount": 1.5}}, "tolerance.amount"),
        ({"name": "x", "tolerance": {"amount": "-1"}}, "tolerance.amount"),
        ({"name": "x", "tolerance": {"max_write_off": {"euro": "1"}}}, "tolerance.max_write_off.euro"),
        ({"name": "x", "rules": []}, "rules"),
        ({"name": "x", "rules": [{"partial": "recommend"}]}, "rules[0]"),
        ({"name": "x", "rules": [{"rule": "guess"}]}, "rules[0].rule"),
        ({"name": "x", "rules": [{"rule": "reference", "partial": "maybe"}]}, "rules[0].partial"),
        ({"name": "x", "rules": [{"rule": "clear_account", "ties": "recommend"}]}, "rules[0].ties"),
        ({"name": "x", "rules": [{"rule": "combination", "max_items": 9}]}, "rules[0].max_items"),
        (
            {"name": "x", "rules": [{"rule": "score", "auto_apply": 40, "recommend": 60}]},
            "rules[0].auto_apply",
        ),
        ({"name": "x", "references": {"patterns": ["("]}}, "references.patterns[0]"),
        (
            {"name": "x", "references": {"string_handling": [{"keep": "front"}]}},
            "references.string_handling[0].chars",
        ),
        ({"name": "x", "open_balance": {"include_disputed": "yes"}}, "open_balance.include_disputed"),
        ({"name": "x", "identification": {"name_threshold": True}}, "identification.name_threshold"),
    ],
)
def test_bad_mapping_names_the_key(mapping: dict[str, object], path: str) -> None:
    with pytest.raises(RuleSetError) as error:
        RuleSet.from_mapping(mapping)
    assert error.value.path == path
    assert str(error.value).startswith(path)


@pytest.mark.parametrize(
    ("values", "target", "max_items", "count", "unique"),
    [
        ([500], 500, 5, 1, True),
        ([100, 200, 300], 600, 5, 1, True),
        ([100, 200, 300, 400], 500, 5, 2, False),
        ([100, 200, 300], 601, 5, 0, False),
        ([1, 2, 3, 4, 5, 6], 21, 5, 0, False),  # needs six items: over max_items
        ([1, 2, 3, 4, 5, 6], 21, 5, 0, False),
    ],
)
def test_find_combinations(values: list[int], target: int, max_items: int, count: int, unique: bool) -> None:
    result = find_combinations(values, target, max_items=max_items)
    assert len(result.combinations) == count
    assert result.unique is unique
    for combo in result.combinations:
        assert sum(values[i] for i in combo) == target
        assert len(combo) <= max_items


def test_find_combinations_is_bounded_for_500_items() -> None:
    values = [10_000 + 37 * i for i in range(500)]
    result = find_combinations(values, 5 * 10_000 + 37 * 1234, node_budget=20_000)
    assert result.nodes <= 20_000
    assert not result.unique  # either over budget or several answers: never "unique" by accident


def test_find_combinations_is_deterministic() -> None:
    values = [100, 200, 300, 400, 150, 250, 350]
    assert find_combinations(values, 600) == find_combinations(list(values), 600)


def test_tolerance_needs_both_limits_and_the_write_off_limit() -> None:
    tolerance = RuleSet.from_mapping(
        {"name": "x", "tolerance": {"amount": "10", "percent": "2", "max_write_off": {"EUR": "8"}}}
    ).tolerance
    assert tolerance.allows(Decimal("5"), Decimal("1000"), "EUR")
    assert not tolerance.allows(Decimal("9"), Decimal("1000"), "EUR")  # over the write-off limit
    assert not tolerance.allows(Decimal("5"), Decimal("100"), "EUR")  # over 2 %
    assert not tolerance.allows(Decimal("5"), Decimal("1000"), "USD")  # no limit for USD: none
