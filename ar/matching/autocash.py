"""The AutoCash rules of Oracle Receivables, on plain open items.

Each rule answers with a ``Match`` (apply these), a ``Tie`` (several equally good
answers: a person decides) or ``None`` (the rule does not explain the receipt).

Oracle's worked example (receipt of 600 on 10 December; discounts lapsed):

>>> from datetime import date
>>> from decimal import Decimal as D
>>> def inv(no, amt, due):
...     return OpenItem(no, no, "C1", "EUR", D(amt), D(amt), date(2024, 11, 1), due)
>>> items = [inv("123", "200", date(2024, 12, 11)), inv("124", "300", date(2024, 12, 8)),
...          inv("125", "150", date(2024, 12, 13))]
>>> bals = balances(items, date(2024, 12, 10), OpenBalanceOptions())
>>> match_payment_with_invoice(D(600), bals, TiePolicy.RECOMMEND) is None
True
>>> clear_account(D(600), bals) is None
True
>>> [(a.trx_number, str(a.amount)) for a in oldest_first(D(600), bals, True).applications]
[('124', '300'), ('123', '200'), ('125', '100')]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ar.matching.model import ZERO, OpenItem, ProposedApplication
from ar.matching.rules import OpenBalanceOptions, TiePolicy


@dataclass(frozen=True, slots=True, init=False)
class ItemBalance:
    """An item as the AutoCash rules see it on the receipt date."""

    item: OpenItem
    applicable: Decimal  # what a receipt may close: remaining less excluded disputes/late charges
    discount: Decimal  # the earned discount when the item is paid in full now (0 if not counted)

    def __init__(self, item: OpenItem, applicable: Decimal, discount: Decimal) -> None:
        # written out: compiled, faster than the generated one (see ``OpenItem.__init__``)
        object.__setattr__(self, "item", item)
        object.__setattr__(self, "applicable", applicable)
        object.__setattr__(self, "discount", discount)

    @property
    def expected(self) -> Decimal:
        """What the customer owes now, net of the earned discount."""
        return self.applicable - self.discount

    def close(self) -> ProposedApplication:
        """Close the item: pay what is expected and take the discount."""
        return ProposedApplication(self.item.item_id, self.item.trx_number, self.expected, self.discount)

    def close_without_discount(self) -> ProposedApplication:
        return ProposedApplication(self.item.item_id, self.item.trx_number, self.applicable)

    def pay(self, amount: Decimal) -> ProposedApplication:
        return ProposedApplication(self.item.item_id, self.item.trx_number, amount)

    def sort_key(self) -> tuple[date, date, str, str]:
        return (self.item.due_date, self.item.trx_date, self.item.trx_number, self.item.item_id)


@dataclass(frozen=True, slots=True, init=False)
class Match:
    applications: tuple[ProposedApplication, ...]
    notes: tuple[str, ...] = ()

    def __init__(
        self,
        applications: tuple[ProposedApplication, ...],
        notes: tuple[str, ...] = (),
    ) -> None:
        # Written out (``init=False``), as ``OpenItem``'s: compiled, several times faster.
        object.__setattr__(self, "applications", applications)
        object.__setattr__(self, "notes", notes)


@dataclass(frozen=True, slots=True)
class Tie:
    candidates: tuple[tuple[ProposedApplication, ...], ...]
    notes: tuple[str, ...] = ()


def applicable_amount(item: OpenItem, options: OpenBalanceOptions) -> Decimal:
    amount = item.amount_due_remaining
    if item.is_credit:
        return amount
    if not options.include_disputed:
        amount -= item.disputed_amount
    if not options.include_late_charges:
        amount -= item.late_charges
    return max(amount, ZERO)


def balances(items: Sequence[OpenItem], receipt_date: date, options: OpenBalanceOptions) -> list[ItemBalance]:
    """The items with what is applicable to them, oldest due date first (stable keys)."""
    out = []
    for item in items:
        applicable = applicable_amount(item, options)
        if applicable == 0:
            continue
        discount = ZERO
        if options.count_discounts and applicable > 0:
            discount = min(item.earned_discount(receipt_date, options.discount_grace_days), applicable)
        out.append(ItemBalance(item, applicable, discount))
    out.sort(key=ItemBalance.sort_key)
    return out


def _close_all(bals: Sequence[ItemBalance], amount: Decimal) -> Match | None:
    if not bals:
        return None
    if sum((b.expected for b in bals), ZERO) == amount:
        return Match(tuple(b.close() for b in bals))
    if sum((b.applicable for b in bals), ZERO) == amount:
        return Match(tuple(b.close_without_discount() for b in bals), ("discount_not_taken",))
    return None


def _break_tie(
    groups: Sequence[tuple[date, tuple[ProposedApplication, ...]]], ties: TiePolicy, what: str
) -> Match | Tie | None:
    if not groups:
        return None
    if len(groups) == 1:
        return Match(groups[0][1])
    ordered = sorted(groups, key=lambda g: g[0])
    if ties is TiePolicy.EARLIEST_DUE_DATE and ordered[0][0] < ordered[1][0]:
        return Match(ordered[0][1], (f"{what}_tie_broken_by_due_date:{len(groups)}",))
    return Tie(tuple(g[1] for g in ordered), (f"{what}_tie:{len(groups)}",))


def match_payment_with_invoice(
    amount: Decimal, bals: Sequence[ItemBalance], ties: TiePolicy
) -> Match | Tie | None:
    """Exactly one item whose open amount (net of an earned discount, or not) equals the receipt."""
    groups: list[tuple[date, tuple[ProposedApplication, ...]]] = []
    for bal in bals:
        if bal.applicable <= 0:
            continue
        if bal.expected == amount:
            groups.append((bal.item.due_date, (bal.close(),)))
        elif bal.applicable == amount:
            groups.append((bal.item.due_date, (bal.close_without_discount(),)))
    return _break_tie(groups, ties, "same_amount")


def clear_account(amount: Decimal, bals: Sequence[ItemBalance]) -> Match | None:
    """The receipt equals the customer's whole open balance (credits included)."""
    if len(bals) < 2:
        return None  # one item is "match payment with invoice"
    return _close_all(bals, amount)


def past_due(bals: Sequence[ItemBalance], receipt_date: date) -> list[ItemBalance]:
    return [b for b in bals if b.item.due_date < receipt_date]


def clear_past_due(amount: Decimal, bals: Sequence[ItemBalance], receipt_date: date) -> Match | None:
    """The receipt equals the sum of the items past due on the receipt date."""
    due = past_due(bals, receipt_date)
    if len(due) == len(bals):
        return None  # that is clearing the account
    return _close_all(due, amount)


def clear_past_due_by_term(
    amount: Decimal, bals: Sequence[ItemBalance], receipt_date: date, ties: TiePolicy
) -> Match | Tie | None:
    """The receipt equals the past-due items of one payment term."""
    by_term: dict[str, list[ItemBalance]] = defaultdict(list)
    for bal in past_due(bals, receipt_date):
        by_term[bal.item.payment_term].append(bal)
    if len(by_term) < 2:
        return None  # one term: that is clearing past-due items
    groups = []
    for term in sorted(by_term):
        match = _close_all(by_term[term], amount)
        if match is not None:
            groups.append((min(b.item.due_date for b in by_term[term]), match.applications))
    return _break_tie(groups, ties, "payment_term")


def oldest_first(amount: Decimal, bals: Sequence[ItemBalance], partial_receipts: bool) -> Match | None:
    """Apply to the debit items in due-date order; the last one partly when ``partial_receipts``."""
    left = amount
    applications: list[ProposedApplication] = []
    notes: list[str] = []
    for bal in bals:
        if left <= 0:
            break
        if bal.applicable <= 0:
            continue
        if left >= bal.expected:
            applications.append(bal.close())
            left -= bal.expected
        elif partial_receipts:
            applications.append(bal.pay(left))
            notes.append(f"partial:{bal.item.trx_number}")
            left = ZERO
        else:
            break
    if not applications:
        return None
    return Match(tuple(applications), tuple(notes))
