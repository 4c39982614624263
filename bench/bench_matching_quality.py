"""Quality and speed of the pure matching engine on generated, labelled scenarios.

    .venv/bin/python bench/bench_matching_quality.py [--scenarios 5000] [--seed N]
        [--throughput-items 1000000] [--throughput-customers 50000]

Prints, overall and per class: precision of automatic applications (target >= 99.9 %),
automation rate (receipts fully and correctly applied with no person; target >= 95 %),
and how often the top recommendation was right; then the decision throughput against a
ledger of 1,000,000 open items of 50,000 customers.

"Right" for a class where nothing may be applied (unknown payer, two items with the
same amount) is leaving the receipt unapplied or recommended; applying it is wrong.
The automation rate is over the receipts that have a true application.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ar.matching.context import InMemoryLedgerView
from ar.matching.engine import MatchingEngine
from ar.matching.model import Decision, Outcome, ProposedApplication
from ar.matching.rules import RuleSet
from bench.matching_scenarios import CLASSES, HOLD_CLASSES, Scenario, World, generate

# The profile the benchmark runs with: the built-in rule order, a bank-fee tolerance.
STANDARD = {
    "name": "standard",
    "tolerance": {"amount": "20.00", "percent": "10", "max_write_off": {"EUR": "20.00", "USD": "20.00"}},
}


def _applied(applications: Sequence[ProposedApplication]) -> dict[str, tuple[Decimal, Decimal]]:
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for app in applications:
        cash, write_off = out.get(app.item_id, (Decimal(0), Decimal(0)))
        out[app.item_id] = (cash + app.amount, write_off + app.write_off)
    return out


def _right(scenario: Scenario, applications: Sequence[ProposedApplication]) -> bool:
    got = _applied(applications)
    want = {t.item_id: (t.amount, t.write_off) for t in scenario.truth}
    return got == want


def evaluate(world: World, engine: MatchingEngine, view: InMemoryLedgerView) -> dict[str, Counter[str]]:
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    for scenario in world.scenarios:
        decision = engine.decide(scenario.receipt, view)
        for key in (scenario.klass, "ALL"):
            _count(stats[key], scenario, decision)
    return stats


def _count(stat: Counter[str], scenario: Scenario, decision: Decision) -> None:
    stat["receipts"] += 1
    hold = scenario.klass in HOLD_CLASSES
    automatic = decision.outcome in (Outcome.APPLIED, Outcome.PARTIALLY_APPLIED)
    if not hold:
        stat["appliable"] += 1
    if automatic:
        stat["auto"] += 1
        if not hold and _right(scenario, decision.applications) and decision.outcome is Outcome.APPLIED:
            stat["auto_right"] += 1
        else:
            stat["auto_wrong"] += 1
        return
    if hold:
        stat["held_right"] += 1
        return
    stat["left_to_person"] += 1
    if decision.recommendations and _right(scenario, decision.recommendations[0].applications):
        stat["top_recommendation_right"] += 1
    if any(_right(scenario, r.applications) for r in decision.recommendations):
        stat["any_recommendation_right"] += 1


def _pct(numerator: int, denominator: int) -> str:
    return f"{100 * numerator / denominator:6.2f}%" if denominator else "     -"


def report(stats: dict[str, Counter[str]]) -> None:
    header = (
        f"{'class':<20}{'n':>6}{'auto':>6}{'wrong':>6}{'precision':>10}{'automation':>11}"
        f"{'to person':>10}{'top rec ok':>11}{'any rec ok':>11}{'held ok':>8}"
    )
    print(header)
    print("-" * len(header))
    for klass in (*CLASSES, "ALL"):
        s = stats.get(klass)
        if not s:
            continue
        held = f"{s['held_right']}/{s['receipts']}" if klass in HOLD_CLASSES else ""
        print(
            f"{klass:<20}{s['receipts']:>6}{s['auto']:>6}{s['auto_wrong']:>6}"
            f"{_pct(s['auto_right'], s['auto']):>10}{_pct(s['auto_right'], s['appliable']):>11}"
            f"{s['left_to_person']:>10}"
            f"{_pct(s['top_recommendation_right'], s['left_to_person']):>11}"
            f"{_pct(s['any_recommendation_right'], s['left_to_person']):>11}{held:>8}"
        )


def throughput(scenarios: int, customers: int, items: int, seed: int) -> None:
    extra = max(0, customers - scenarios)
    # scenario customers hold about 5 open items each; the background customers make up the rest
    per_customer = max(1, -(-(items - 5 * scenarios) // max(1, extra)))
    started = time.perf_counter()
    world = generate(scenarios, seed=seed + 1, extra_customers=extra, items_per_extra=per_customer)
    generated = time.perf_counter()
    view = InMemoryLedgerView(world.customers, world.items)
    indexed = time.perf_counter()
    engine = MatchingEngine([RuleSet.from_mapping(STANDARD)], default="standard")
    receipts = [s.receipt for s in world.scenarios]
    began = time.perf_counter()
    outcomes: Counter[str] = Counter()
    for receipt in receipts:
        outcomes[engine.decide(receipt, view).outcome] += 1
    elapsed = time.perf_counter() - began
    print(
        f"\nthroughput: {len(receipts)} receipts against {view.item_count:,} open items of "
        f"{len(world.customers):,} customers: {elapsed:.2f} s = {len(receipts) / elapsed:,.0f} receipts/s "
        f"(generate {generated - started:.1f} s, index {indexed - generated:.1f} s); "
        f"100,000 receipts would take {100_000 * elapsed / len(receipts):.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=20240614)
    parser.add_argument("--throughput-items", type=int, default=1_000_000)
    parser.add_argument("--throughput-customers", type=int, default=50_000)
    parser.add_argument("--throughput-receipts", type=int, default=10_000)
    parser.add_argument("--no-throughput", action="store_true")
    args = parser.parse_args(argv)

    world = generate(args.scenarios, seed=args.seed)
    view = InMemoryLedgerView(world.customers, world.items)
    engine = MatchingEngine([RuleSet.from_mapping(STANDARD)], default="standard")
    print(
        f"quality: {len(world.scenarios)} scenarios, {len(world.customers)} customers, "
        f"{view.item_count} open items, seed {args.seed}\n"
    )
    report(evaluate(world, engine, view))
    if not args.no_throughput:
        throughput(args.throughput_receipts, args.throughput_customers, args.throughput_items, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
