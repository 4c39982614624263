"""Bounded subset-sum: which combinations of at most N open items sum to a receipt.

Depth-first over the amounts (integer minor units) in descending order with two
bounds — skip straight (bisect) to the first amount not above what is left, and stop
when ``slots_left * amount`` cannot reach it — and a node budget, so a customer with
500 open items costs at most ``node_budget`` steps. The answer says whether the
search was complete: "unique" is only claimed after a complete search.

>>> r = find_combinations([100, 250, 400, 150], 500, max_items=3)
>>> sorted(sorted(c) for c in r.combinations), r.complete
([[0, 1, 3], [0, 2]], True)
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CombinationResult:
    combinations: tuple[tuple[int, ...], ...]  # indices into the values given, each ascending by value rank
    complete: bool  # True: every combination was looked at, so none is missing
    nodes: int

    @property
    def unique(self) -> bool:
        return self.complete and len(self.combinations) == 1


def find_combinations(
    values: Sequence[int],
    target: int,
    *,
    max_items: int = 5,
    node_budget: int = 200_000,
    limit: int = 6,
) -> CombinationResult:
    """Combinations (at most ``limit``) of positive ``values`` summing exactly to ``target``.

    Deterministic: ``values`` are visited largest first, ties by index.
    """
    order = sorted((i for i, v in enumerate(values) if 0 < v <= target), key=lambda i: (-values[i], i))
    amounts = [values[i] for i in order]
    negated = [-v for v in amounts]  # ascending, for bisect
    found: list[tuple[int, ...]] = []
    nodes = 0
    exhausted = False
    chosen: list[int] = []

    def search(start: int, left: int, slots: int) -> None:
        nonlocal nodes, exhausted
        index = max(start, bisect.bisect_left(negated, -left))
        while index < len(amounts):
            if nodes >= node_budget or len(found) >= limit:
                exhausted = True
                return
            nodes += 1
            amount = amounts[index]
            if amount * slots < left:
                return  # every later amount is smaller still
            chosen.append(order[index])
            if amount == left:
                found.append(tuple(chosen))
            elif slots > 1:
                search(index + 1, left - amount, slots - 1)
            chosen.pop()
            if exhausted:
                return
            index += 1

    if target > 0:
        search(0, target, max_items)
    return CombinationResult(tuple(found), not exhausted, nodes)
