"""The cash-application decision engine: one receipt in, one explained ``Decision`` out.

Order of work for a receipt:

1. extract the references of the remittance and look up the items they point to;
2. identify the payer (IBAN, then references, then name as weak evidence);
3. run the payer's rule set, in order; the first rule that fully explains the
   receipt applies it; a rule that finds several equally good answers, or evidence
   that contradicts the amount, *blocks* the amount-only rules after it (they may
   still recommend), so nothing is ever applied by guessing;
4. otherwise rank up to five recommendations.

Pure: no database, no clock, no randomness; the same inputs give the same decision.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rapidfuzz import fuzz, process

from ar.errors import InvariantViolation
from ar.matching import autocash, scoring
from ar.matching.autocash import ItemBalance, Match, Tie, balances
from ar.matching.combination import find_combinations
from ar.matching.context import LedgerView
from ar.matching.identify import Payer, ReferenceHit, identify, name_similarity
from ar.matching.model import (
    ZERO,
    CustomerFacts,
    Decision,
    Evidence,
    OpenItem,
    Outcome,
    ProposedApplication,
    ReceiptFacts,
    Recommendation,
    quantum,
)
from ar.matching.references import compact, extract
from ar.matching.rules import (
    ClearAccountRule,
    ClearPastDueByTermRule,
    ClearPastDueRule,
    CombinationRule,
    MatchPaymentWithInvoiceRule,
    OldestFirstRule,
    OpenBalanceOptions,
    OverpaymentPolicy,
    PartialPolicy,
    ReferenceRule,
    Rule,
    RuleSet,
    ScoreRule,
)

MAX_RECOMMENDATIONS = 5
MAX_ITEMS_PER_KEY = 25  # a key that hits more items than this is too common to mean anything
MAX_SCOPE_ITEMS = 5_000  # a customer family with more open items is matched on the newest this many
SCORE_CANDIDATES = 60  # scope items nearest in amount that the score rule looks at
AMOUNT_CANDIDATES = 10  # items of any customer with exactly the amount, for an unknown payer


@dataclass(slots=True, init=False)
class _Proposal:
    """A candidate answer inside one run: what to apply and why."""

    applications: tuple[ProposedApplication, ...]
    rule: str
    notes: tuple[str, ...] = ()

    def __init__(
        self, applications: tuple[ProposedApplication, ...], rule: str, notes: tuple[str, ...] = ()
    ) -> None:
        # Written out (``init=False``), as ``OpenItem``'s: compiled, several times faster.
        self.applications = applications
        self.rule = rule
        self.notes = notes


class MatchingEngine:
    """Decides receipts with the rule set of each payer's customer profile."""

    def __init__(
        self, rule_sets: Iterable[RuleSet] | Mapping[str, RuleSet], default: str = "default"
    ) -> None:
        sets = list(rule_sets.values()) if isinstance(rule_sets, Mapping) else list(rule_sets)
        self._rule_sets = {rule_set.name: rule_set for rule_set in sets}
        if default not in self._rule_sets:
            self._rule_sets[default] = RuleSet(default)
        self._default = self._rule_sets[default]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled for the planner process (a compiled class cannot be pickled field by field)."""
        return (MatchingEngine, (list(self._rule_sets.values()), self._default.name))

    def rule_set_for(self, customer: CustomerFacts | None) -> RuleSet:
        if customer is None:
            return self._default
        return self._rule_sets.get(customer.profile, self._default)

    def decide(self, receipt: ReceiptFacts, view: LedgerView) -> Decision:
        return _Run(self, receipt, view).decide()


def decide(receipt: ReceiptFacts, view: LedgerView, rule_set: RuleSet | None = None) -> Decision:
    """Decide one receipt with one rule set for every customer (default: the built-in rules)."""
    rule_set = rule_set or RuleSet("default")
    return MatchingEngine([rule_set], rule_set.name).decide(receipt, view)


class _Run:
    """The state of deciding one receipt."""

    def __init__(self, engine: MatchingEngine, receipt: ReceiptFacts, view: LedgerView) -> None:
        self.engine = engine
        self.receipt = receipt
        self.view = view
        self.amount = receipt.amount
        self.proposals: list[_Proposal] = []
        self.blocked: list[str] = []
        self._balances: list[ItemBalance] | None = None
        self._scope_items: list[OpenItem] | None = None
        self._items_by_id: dict[str, OpenItem] | None = None

    # -- set-up ----------------------------------------------------------------
    def _lookup_references(self, rule_set: RuleSet) -> list[ReferenceHit]:
        receipt = self.receipt
        found = extract(
            receipt.remittance_lines,
            receipt.structured_references,
            receipt.end_to_end_id,
            rule_set.references,
        )
        hits: dict[str, ReferenceHit] = {}
        for reference in found:  # prefixed first, so an item keeps its strongest reference
            items = self.view.items_by_reference(reference.key)
            if len(items) > MAX_ITEMS_PER_KEY:
                continue
            for item in items:
                if item.item_id not in hits:
                    hits[item.item_id] = ReferenceHit(item, reference)
        return sorted(hits.values(), key=lambda h: h.item.item_id)

    def decide(self) -> Decision:
        receipt = self.receipt
        iban_owners = self.view.customers_by_iban(receipt.debtor_iban) if receipt.debtor_iban else ()
        first_rules = self.engine.rule_set_for(iban_owners[0] if len(iban_owners) == 1 else None)
        self.hits = self._lookup_references(first_rules)
        self.payer: Payer = identify(
            receipt, self.view, self.hits, first_rules.identification, first_rules.references.min_bare_digits
        )
        self.rules = self.engine.rule_set_for(self.payer.customer)
        if self.rules is not first_rules and self.rules.references != first_rules.references:
            self.hits = self._lookup_references(self.rules)
        self.hit_by_item = {h.item.item_id: h for h in self.hits}
        self.fuzzy: dict[str, int] = {}
        self.names: dict[str, int] = {}

        if self.amount <= 0:
            return self._finish(None, ("receipt_not_positive",))
        for index, rule in enumerate(self.rules.rules):
            applied = self._run_rule(rule, index)
            if applied is not None:
                return self._finish(applied, ())
        return self._finish(None, ())

    @property
    def balances(self) -> list[ItemBalance]:
        """The payer's items in the receipt currency as the AutoCash rules see them (computed once,
        only when a rule needs them)."""
        if self._balances is None:
            same_currency = [i for i in self.scope_items if i.currency == self.receipt.currency]
            self._balances = balances(same_currency, self.receipt.receipt_date, self.rules.open_balance)
        return self._balances

    @property
    def scope_items(self) -> list[OpenItem]:
        if self._scope_items is None:
            self._scope_items = self._read_scope_items()
        return self._scope_items

    def _read_scope_items(self) -> list[OpenItem]:
        """The open items of the payer's scope, read only when a rule needs them (a receipt its
        references explain never asks the view for all its payer's items)."""
        if self.payer.customer is None:
            return []
        items: list[OpenItem] = []
        for customer_id in sorted(self.payer.scope):
            items.extend(i for i in self.view.open_items(customer_id) if i.amount_due_remaining != 0)
        items.sort(key=lambda i: (i.due_date, i.trx_date, i.trx_number, i.item_id))
        return items[-MAX_SCOPE_ITEMS:]

    @property
    def items_by_id(self) -> dict[str, OpenItem]:
        """The scope's items and the referenced ones (a referenced item as its hit has it)."""
        if self._items_by_id is None:
            items = {i.item_id: i for i in self.scope_items}
            items.update((h.item.item_id, h.item) for h in self.hits)
            self._items_by_id = items
        return self._items_by_id

    def _item(self, item_id: str) -> OpenItem:
        hit = self.hit_by_item.get(item_id)
        return hit.item if hit is not None else self.items_by_id[item_id]

    # -- the rules -------------------------------------------------------------
    def _run_rule(self, rule: Rule, index: int) -> _Proposal | None:
        name = f"{index + 1}:{rule.kind.value}"
        if isinstance(rule, ReferenceRule):
            return self._reference(rule, name)
        if isinstance(rule, ScoreRule):
            return self._score(rule, name)
        if not self.balances:
            return None
        if isinstance(rule, CombinationRule):
            return self._combination(rule, name)
        date = self.receipt.receipt_date
        result: Match | Tie | None
        if isinstance(rule, MatchPaymentWithInvoiceRule):
            result = autocash.match_payment_with_invoice(self.amount, self.balances, rule.ties)
        elif isinstance(rule, ClearAccountRule):
            result = autocash.clear_account(self.amount, self.balances)
        elif isinstance(rule, ClearPastDueRule):
            result = autocash.clear_past_due(self.amount, self.balances, date)
        elif isinstance(rule, ClearPastDueByTermRule):
            result = autocash.clear_past_due_by_term(self.amount, self.balances, date, rule.ties)
        else:
            assert isinstance(rule, OldestFirstRule)
            result = autocash.oldest_first(self.amount, self.balances, rule.partial_receipts)
        return self._amount_only(result, name)

    def _amount_only(self, result: Match | Tie | None, name: str) -> _Proposal | None:
        """An AutoCash answer applies only for a trusted payer and when nothing blocks it."""
        if result is None:
            return None
        if isinstance(result, Tie):
            for candidate in result.candidates:
                self.proposals.append(_Proposal(candidate, name, result.notes))
            self.blocked.append(f"{name}:{','.join(result.notes)}")
            return None
        proposal = _Proposal(result.applications, name, result.notes)
        if self.blocked or not self.payer.trusted:
            self.proposals.append(proposal)
            return None
        return proposal

    def _reference(self, rule: ReferenceRule, name: str) -> _Proposal | None:
        payer, receipt = self.payer, self.receipt
        min_digits = self.rules.references.min_bare_digits
        relevant: list[ReferenceHit] = []
        for hit in self.hits:
            item = hit.item
            if payer.trusted and item.customer_id in payer.scope:
                relevant.append(hit)
            elif hit.strong:  # a bare number means something only among the payer's own items
                if payer.trusted and not self.rules.identification.allow_unrelated_payer:
                    self._propose_items([item], name, ("unrelated_customer",), block=False)
                    continue
                relevant.append(hit)
        if not relevant:
            return None
        strong_in_scope = [h for h in relevant if h.strong or h.found.significant_digits() >= min_digits]
        foreign = [h for h in relevant if h.item.currency != receipt.currency]
        if foreign:
            self._propose_items([h.item for h in relevant], name, ("currency_mismatch",), block=True)
            return None
        if not payer.trusted:
            # strong references to several unrelated customers: a person decides
            self._propose_items(
                [h.item for h in relevant], name, ("references_to_several_customers",), block=True
            )
            return None
        options = _counting_discounts(self.rules.open_balance)
        candidate_sets: list[list[ReferenceHit]] = []
        for subset in (strong_in_scope, relevant):
            if subset and [h.item.item_id for h in subset] not in [
                [h.item.item_id for h in s] for s in candidate_sets
            ]:
                candidate_sets.append(subset)
        for subset in candidate_sets:
            bals = balances([h.item for h in subset], receipt.receipt_date, options)
            fit = self._fit(bals)
            if fit is not None:
                return _Proposal(fit.applications, name, fit.notes)
        primary = candidate_sets[0]
        bals = balances([h.item for h in primary], receipt.receipt_date, options)
        if not bals:
            return None
        within = self._subset_of_references(bals, name)
        if within is not None:
            return within
        open_sum = sum((b.applicable for b in bals), ZERO)
        confident = (
            all(h.strong or h.found.significant_digits() >= min_digits for h in primary) or payer.trusted
        )
        if self.amount < open_sum:
            match = autocash.oldest_first(self.amount, bals, partial_receipts=True)
            if match is None:
                return None
            proposal = _Proposal(match.applications, name, ("partial", *match.notes))
            shortfall = open_sum - self.amount
            if shortfall <= self.rules.tolerance.amount:
                # small enough to be a bank fee, too big for the percent or write-off limit: fee or
                # partial payment? A person decides; both readings are recommended.
                closed = [b.close_without_discount() for b in bals if b.applicable > 0]
                written = _spread_write_off(closed, shortfall)
                if written is not None:
                    self.proposals.append(_Proposal(tuple(written), name, ("write_off_over_limit",)))
                self.proposals.append(proposal)
                self.blocked.append(f"{name}:short_fee_or_partial")
                return None
            if rule.partial is PartialPolicy.OLDEST_FIRST and confident:
                return proposal
            self.proposals.append(proposal)
            self.blocked.append(f"{name}:partial_recommend")
            return None
        # Referenced credits are consumed with the debits they net against: closing only the
        # debits would apply more than the receipt when a credit memo is among the references.
        applications = (
            tuple(b.close_without_discount() for b in bals if b.applicable != 0) if open_sum > 0 else ()
        )
        proposal = _Proposal(applications, name, ("overpayment",))
        if rule.overpayment is OverpaymentPolicy.UNAPPLIED and confident and applications:
            return proposal
        self.proposals.append(proposal)
        self.blocked.append(f"{name}:overpayment_recommend")
        return None

    def _subset_of_references(self, bals: Sequence[ItemBalance], name: str) -> _Proposal | None:
        """The receipt pays exactly some of the referenced items (the others paid before or later)."""
        debit = [b for b in bals if b.applicable > 0]
        if not 2 <= len(debit) <= 12:
            return None
        scale = quantum(self.receipt.currency)
        target = int(self.amount / scale)
        for with_discount in (False, True):
            values = [int((b.expected if with_discount else b.applicable) / scale) for b in debit]
            result = find_combinations(values, target, max_items=min(5, len(debit)), node_budget=20_000)
            if result.unique:
                chosen = [debit[i] for i in sorted(result.combinations[0])]
                apps = tuple(b.close() if with_discount else b.close_without_discount() for b in chosen)
                return _Proposal(apps, name, ("subset_of_references",))
            if result.combinations:
                for combo in result.combinations[:MAX_RECOMMENDATIONS]:
                    apps = tuple(debit[i].close_without_discount() for i in sorted(combo))
                    self.proposals.append(_Proposal(apps, name, ("subset_of_references_ambiguous",)))
                self.blocked.append(f"{name}:subset_ambiguous")
                return None
        return None

    def _fit(self, bals: Sequence[ItemBalance]) -> Match | None:
        """Close all the items: exactly, with the earned discount, or with a write-off in tolerance."""
        if not bals:
            return None
        applicable = sum((b.applicable for b in bals), ZERO)
        expected = sum((b.expected for b in bals), ZERO)
        if expected != applicable and self.amount == expected:
            return Match(tuple(b.close() for b in bals), ("discount_earned",))
        if self.amount == applicable:
            return Match(tuple(b.close_without_discount() for b in bals), ("exact",))
        tolerance = self.rules.tolerance
        currency = self.receipt.currency
        for total, with_discount in ((applicable, False), (expected, True)):
            shortfall = total - self.amount
            if shortfall > 0 and tolerance.allows(shortfall, applicable, currency):
                closed = [b.close() if with_discount else b.close_without_discount() for b in bals]
                apps = _spread_write_off(closed, shortfall)
                if apps is None:
                    continue
                notes = (
                    ("write_off", "discount_earned")
                    if with_discount and expected != applicable
                    else ("write_off",)
                )
                return Match(tuple(apps), notes)
        return None

    def _combination(self, rule: CombinationRule, name: str) -> _Proposal | None:
        debit = [b for b in self.balances if b.applicable > 0][-rule.max_open_items :]
        scale = quantum(self.receipt.currency)
        target = int(self.amount / scale)
        passes = [False]
        if any(b.discount for b in debit):
            passes.append(True)
        for with_discount in passes:
            values = [int((b.expected if with_discount else b.applicable) / scale) for b in debit]
            result = find_combinations(
                values,
                target,
                max_items=rule.max_items,
                node_budget=rule.node_budget,
                limit=MAX_RECOMMENDATIONS + 1,
            )
            if not result.combinations:
                if not result.complete:
                    self.blocked.append(f"{name}:over_budget")
                continue
            proposals = []
            for combo in result.combinations:
                chosen = [debit[i] for i in sorted(combo)]
                apps = tuple(b.close() if with_discount else b.close_without_discount() for b in chosen)
                proposals.append(_Proposal(apps, name, (f"combination_of:{len(chosen)}",)))
            if result.unique:
                return self._amount_only(Match(proposals[0].applications, proposals[0].notes), name)
            notes = ("combination_ambiguous",) if result.complete else ("combination_over_budget",)
            for proposal in proposals:
                self.proposals.append(_Proposal(proposal.applications, name, proposal.notes + notes))
            self.blocked.append(f"{name}:{notes[0]}")
            return None
        return None

    # -- scoring ----------------------------------------------------------------
    def _score(self, rule: ScoreRule, name: str) -> _Proposal | None:
        candidates = self._score_candidates(rule)
        scored: list[tuple[int, _Proposal, bool]] = []
        for items in candidates:
            proposal, fits = self._proposal_for(items, name)
            scored.append((self._score_of(proposal.applications, rule)[0], proposal, fits))
        scored.sort(key=lambda t: (-t[0], _proposal_key(t[1])))
        for _, proposal, _fits in scored:
            self.proposals.append(proposal)
        if not scored:
            return None
        _best_score, best, fits = scored[0]
        items = [self._item(a.item_id) for a in best.applications]
        if (
            fits
            and self.payer.trusted
            and all(i.currency == self.receipt.currency and i.customer_id in self.payer.scope for i in items)
            and scoring.guard([s for s, _, _ in scored], rule)
        ):
            self.proposals.remove(best)
            return best
        return None

    def _score_candidates(self, rule: ScoreRule) -> list[list[OpenItem]]:
        seen: set[tuple[str, ...]] = set()
        out: list[list[OpenItem]] = []

        def add(items: list[OpenItem]) -> None:
            key = tuple(sorted(i.item_id for i in items))
            if items and key not in seen:
                seen.add(key)
                out.append(items)

        for hit in self.hits:
            add([hit.item])
        relevant = [h.item for h in self.hits if h.item.customer_id in self.payer.scope]
        if len(relevant) > 1:
            add(relevant)
        near = sorted(
            self.scope_items,
            key=lambda i: (abs(i.amount_due_remaining - self.amount), i.due_date, i.item_id),
        )[:SCORE_CANDIDATES]
        self._fuzzy_references(rule)
        for item in self.scope_items:
            if item.item_id in self.fuzzy:
                add([item])
        for item in near:
            add([item])
        if self.payer.customer is None:
            for item in self.view.open_items_with_amount(
                self.receipt.currency, self.amount, AMOUNT_CANDIDATES
            ):
                self.items_by_id.setdefault(item.item_id, item)
                add([item])
        return out

    def _fuzzy_references(self, rule: ScoreRule) -> None:
        """Near misses (typos) between remittance tokens and the numbers of the payer's items."""
        if not self.scope_items:
            return
        tokens: set[str] = set()
        for line in (*self.receipt.remittance_lines, *self.receipt.structured_references):
            words = line.upper().split()
            tokens.update(compact(w) for w in words)
            tokens.update(compact(a + b) for a, b in itertools.pairwise(words))
        tokens = {t for t in tokens if len(t) >= 4 and any(c.isdigit() for c in t)}
        if not tokens:
            return
        choices = {item.item_id: compact(item.trx_number) for item in self.scope_items}
        for token in sorted(tokens):
            for _, similarity, item_id in process.extract(
                token, choices, scorer=fuzz.ratio, score_cutoff=rule.fuzzy_reference, limit=5
            ):
                value = round(similarity)
                if value > self.fuzzy.get(item_id, 0):
                    self.fuzzy[item_id] = value

    def _proposal_for(self, items: Sequence[OpenItem], name: str) -> tuple[_Proposal, bool]:
        """What applying the receipt to these items would be, and whether it fits exactly."""
        same = [i for i in items if i.currency == self.receipt.currency]
        if len(same) < len(items):
            apps = tuple(
                ProposedApplication(
                    i.item_id, i.trx_number, min(self.amount, max(i.amount_due_remaining, ZERO))
                )
                for i in items
            )
            return _Proposal(apps, name, ("currency_mismatch",)), False
        options = _counting_discounts(self.rules.open_balance)
        bals = balances(list(items), self.receipt.receipt_date, options)
        fit = self._fit(bals)
        if fit is not None:
            return _Proposal(fit.applications, name, fit.notes), True
        match = autocash.oldest_first(self.amount, bals, partial_receipts=True)
        if match is None:
            return _Proposal((), name, ("nothing_applicable",)), False
        return _Proposal(match.applications, name, ("partial", *match.notes)), False

    def _name_of(self, customer_id: str) -> int:
        if not self.receipt.debtor_name:
            return 0
        if customer_id == self.payer.customer_id and self.payer.name_similarity is not None:
            return self.payer.name_similarity
        if customer_id not in self.names:
            customer = self.view.customer(customer_id)
            self.names[customer_id] = (
                name_similarity(self.receipt.debtor_name, customer.name) if customer else 0
            )
        return self.names[customer_id]

    def _score_of(
        self, applications: Sequence[ProposedApplication], rule: ScoreRule
    ) -> tuple[int, scoring.Components, Decimal, Decimal]:
        """(score, components, cash applied, open sum of the items) of applying the receipt so."""
        items = [self._item(a.item_id) for a in applications]
        if not items:
            return 0, (), ZERO, ZERO
        payer = self.payer
        customer = min(
            scoring.customer_component(
                i.customer_id,
                payer.customer_id,
                payer.scope,
                payer.identified_by,
                self._name_of(i.customer_id),
            )
            for i in items
        )
        min_digits = self.rules.references.min_bare_digits
        reference_scores = []
        for item in items:
            hit = self.hit_by_item.get(item.item_id)
            if hit is not None:
                reference_scores.append(
                    scoring.reference_component(hit.strong, hit.found.significant_digits(), min_digits, 0)
                )
            else:
                reference_scores.append(
                    scoring.reference_component(None, 0, min_digits, self.fuzzy.get(item.item_id, 0))
                )
        reference = min(reference_scores)
        same = all(i.currency == self.receipt.currency for i in items)
        cash = sum((a.amount for a in applications), ZERO)
        closed = sum((a.amount + a.discount + a.write_off for a in applications), ZERO)
        write_off = sum((a.write_off for a in applications), ZERO)
        open_sum = sum((autocash.applicable_amount(i, self.rules.open_balance) for i in items), ZERO)
        amount = scoring.amount_component(self.amount, cash, closed, open_sum, write_off) if same else 0
        components = (("customer", customer), ("reference", reference), ("amount", amount))
        return scoring.weighted(components, rule), components, cash, open_sum

    # -- helpers ------------------------------------------------------------------
    def _propose_items(
        self, items: Sequence[OpenItem], name: str, notes: tuple[str, ...], *, block: bool
    ) -> None:
        proposal, _ = self._proposal_for(items, name)
        self.proposals.append(_Proposal(proposal.applications, name, notes + proposal.notes))
        if block:
            self.blocked.append(f"{name}:{notes[0]}")

    def _evidence(self, proposal: _Proposal, components: scoring.Components, open_sum: Decimal) -> Evidence:
        payer = self.payer
        references = tuple(
            sorted(
                {
                    self.hit_by_item[a.item_id].found.text
                    for a in proposal.applications
                    if a.item_id in self.hit_by_item
                }
            )
        )
        fuzzy = tuple(
            f"near_reference:{a.trx_number}:{self.fuzzy[a.item_id]}"
            for a in proposal.applications
            if a.item_id not in self.hit_by_item and a.item_id in self.fuzzy
        )
        related = tuple(
            f"paid_for_related:{self._item(a.item_id).customer_id}"
            for a in proposal.applications
            if payer.customer_id and self._item(a.item_id).customer_id != payer.customer_id
        )
        return Evidence(
            identified_by=payer.identified_by,
            customer_id=payer.customer_id,
            references=references,
            amount_difference=self.amount - open_sum,
            name_similarity=payer.name_similarity,
            notes=tuple(dict.fromkeys((*proposal.notes, *fuzzy, *related, *payer.notes))),
            components=components,
        )

    def _finish(self, applied: _Proposal | None, notes: tuple[str, ...]) -> Decision:
        rule = self.rules.score_rule()
        recommendations = self._recommendations(rule, applied)
        payer = self.payer
        if applied is not None:
            applied_items = {a.item_id: self._item(a.item_id) for a in applied.applications}
            _check(applied.applications, applied_items, self.receipt, self.rules.open_balance)
            score, components, _, open_sum = self._score_of(applied.applications, rule)
            used = sum((a.amount for a in applied.applications), ZERO)
            unapplied = self.amount - used
            return Decision(
                receipt_id=self.receipt.receipt_id,
                outcome=Outcome.APPLIED if unapplied == 0 else Outcome.PARTIALLY_APPLIED,
                customer_id=payer.customer_id,
                identified_by=payer.identified_by,
                applications=applied.applications,
                rule=applied.rule,
                score=score,
                evidence=self._evidence(applied, components, open_sum),
                recommendations=recommendations,
                unapplied=unapplied,
                rule_set=self.rules.name,
            )
        if self.blocked or (recommendations and recommendations[0].score >= rule.recommend):
            outcome = Outcome.RECOMMENDED
        elif payer.customer is not None:
            outcome = Outcome.UNAPPLIED
        else:
            outcome = Outcome.UNIDENTIFIED
        evidence = Evidence(
            identified_by=payer.identified_by,
            customer_id=payer.customer_id,
            references=tuple(sorted({h.found.text for h in self.hits})),
            name_similarity=payer.name_similarity,
            notes=tuple(dict.fromkeys((*notes, *self.blocked, *payer.notes))),
        )
        return Decision(
            receipt_id=self.receipt.receipt_id,
            outcome=outcome,
            customer_id=payer.customer_id,
            identified_by=payer.identified_by,
            evidence=evidence,
            recommendations=recommendations,
            unapplied=self.amount,
            rule_set=self.rules.name,
        )

    def _recommendations(self, rule: ScoreRule, applied: _Proposal | None) -> tuple[Recommendation, ...]:
        if applied is not None:
            return ()
        best: dict[tuple[str, ...], tuple[int, int, Recommendation]] = {}  # by what it applies
        for order, proposal in enumerate(self.proposals):
            if not proposal.applications:
                continue
            score, components, _, open_sum = self._score_of(proposal.applications, rule)
            key = tuple(sorted(f"{a.item_id}:{a.amount}:{a.write_off}" for a in proposal.applications))
            recommendation = Recommendation(
                proposal.applications, score, proposal.rule, self._evidence(proposal, components, open_sum)
            )
            current = best.get(key)
            if current is None or (-score, order) < (-current[0], current[1]):
                best[key] = (score, order, recommendation)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[1][1], kv[0]))
        return tuple(entry[2] for _, entry in ranked[:MAX_RECOMMENDATIONS])


@functools.lru_cache(maxsize=64)
def _counting_discounts(options: OpenBalanceOptions) -> OpenBalanceOptions:
    """The options with earned discounts counted (the reference and score rules' view); one per
    rule set, not a new one per receipt."""
    return dataclasses.replace(options, count_discounts=True)


def _proposal_key(proposal: _Proposal) -> tuple[str, ...]:
    return tuple(sorted(a.item_id for a in proposal.applications))


def _spread_write_off(
    apps: list[ProposedApplication], write_off: Decimal
) -> list[ProposedApplication] | None:
    """Move ``write_off`` of the cash to write-off, from the last (youngest) debit item back."""
    out = list(apps)
    left = write_off
    for index in range(len(out) - 1, -1, -1):
        app = out[index]
        if left == 0:
            break
        if app.amount <= 0:
            continue
        part = min(left, app.amount)
        out[index] = dataclasses.replace(app, amount=app.amount - part, write_off=app.write_off + part)
        left -= part
    return out if left == 0 else None


def _check(
    applications: Sequence[ProposedApplication],
    items: Mapping[str, OpenItem],
    receipt: ReceiptFacts,
    options: object,
) -> None:
    """The invariants no decision may break; a breach is a bug, never a silent wrong answer."""
    total = ZERO
    for app in applications:
        item = items[app.item_id]
        if item.currency != receipt.currency:
            raise InvariantViolation(f"{receipt.receipt_id}: {item.trx_number} is in {item.currency}")
        closed = app.amount + app.discount + app.write_off
        remaining = item.amount_due_remaining
        if remaining > 0 and not (0 <= closed <= remaining and app.discount >= 0 and app.write_off >= 0):
            raise InvariantViolation(f"{receipt.receipt_id}: {closed} closes more than {remaining} open")
        if remaining < 0 and not remaining <= closed <= 0:
            raise InvariantViolation(f"{receipt.receipt_id}: credit {item.trx_number} over-consumed")
        total += app.amount
    if total > receipt.amount or total < 0:
        raise InvariantViolation(f"{receipt.receipt_id}: applies {total} of {receipt.amount}")
