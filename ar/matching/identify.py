"""Payer identification: debtor IBAN, then the customers of the referenced items, then
name similarity (rapidfuzz) as weak evidence only. Parent/child relationships widen the
customer's scope: a parent may pay its children's items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from ar.matching.context import LedgerView, normalise_iban, normalise_name
from ar.matching.model import CustomerFacts, IdentifiedBy, OpenItem, ReceiptFacts
from ar.matching.references import FoundReference
from ar.matching.rules import IdentificationOptions

NAME_CANDIDATES = 50


@dataclass(frozen=True, slots=True, init=False)
class ReferenceHit:
    """An open item one of the receipt's references points to."""

    item: OpenItem
    found: FoundReference

    def __init__(
        self,
        item: OpenItem,
        found: FoundReference,
    ) -> None:
        # Written out (``init=False``), as ``OpenItem``'s: compiled, several times faster.
        object.__setattr__(self, "item", item)
        object.__setattr__(self, "found", found)

    @property
    def strong(self) -> bool:
        return self.found.prefixed


@dataclass(frozen=True, slots=True, init=False)
class Payer:
    customer: CustomerFacts | None
    identified_by: IdentifiedBy
    scope: frozenset[str]  # the customer and those whose items it may pay
    name_similarity: int | None = None
    notes: tuple[str, ...] = ()

    def __init__(
        self,
        customer: CustomerFacts | None,
        identified_by: IdentifiedBy,
        scope: frozenset[str],
        name_similarity: int | None = None,
        notes: tuple[str, ...] = (),
    ) -> None:
        # Written out (``init=False``), as ``OpenItem``'s: compiled, several times faster.
        object.__setattr__(self, "customer", customer)
        object.__setattr__(self, "identified_by", identified_by)
        object.__setattr__(self, "scope", scope)
        object.__setattr__(self, "name_similarity", name_similarity)
        object.__setattr__(self, "notes", notes)

    @property
    def customer_id(self) -> str | None:
        return self.customer.customer_id if self.customer else None

    @property
    def trusted(self) -> bool:
        """Identified well enough for amount-only rules to apply without a person."""
        return self.identified_by in (IdentifiedBy.IBAN, IdentifiedBy.REFERENCE)


def name_similarity(left: str, right: str) -> int:
    """0..100, legal forms ignored, word order ignored."""
    a, b = normalise_name(left), normalise_name(right)
    if not a or not b:
        return 0
    return round(fuzz.token_sort_ratio(a, b))


def scope_of(customer: CustomerFacts, view: LedgerView) -> frozenset[str]:
    """The customer, its children and the customers explicitly related to it."""
    return frozenset((customer.customer_id, *view.child_ids(customer.customer_id), *customer.related_ids))


def _family_head(customers: Sequence[CustomerFacts], view: LedgerView) -> CustomerFacts | None:
    """The one customer whose scope covers all the others, if there is one."""
    heads = [c for c in customers if {o.customer_id for o in customers} <= scope_of(c, view)]
    return heads[0] if len(heads) == 1 else None


def identify(
    receipt: ReceiptFacts,
    view: LedgerView,
    hits: Sequence[ReferenceHit],
    options: IdentificationOptions,
    min_bare_digits: int,
) -> Payer:
    notes: list[str] = []
    if receipt.debtor_iban:
        owners = sorted(view.customers_by_iban(receipt.debtor_iban), key=lambda c: c.customer_id)
        chosen: CustomerFacts | None = None
        if len(owners) == 1:
            chosen = owners[0]
        elif len(owners) > 1:
            notes.append(f"iban_shared_by:{len(owners)}")
            chosen = _family_head(owners, view)
            if chosen is None:
                # references may tell which of the account's owners this is
                referenced = {h.item.customer_id for h in hits if h.strong}
                matching = [c for c in owners if c.customer_id in referenced]
                if len(matching) == 1:
                    chosen = matching[0]
        if chosen is not None:
            similarity = name_similarity(receipt.debtor_name, chosen.name) if receipt.debtor_name else None
            return Payer(chosen, IdentifiedBy.IBAN, scope_of(chosen, view), similarity, tuple(notes))
        notes.append(
            f"iban_unknown:{normalise_iban(receipt.debtor_iban)}" if not owners else "iban_ambiguous"
        )

    # only a prefixed or RF reference identifies a payer: a bare number ("2024", "4711") is too common
    usable = [h for h in hits if h.strong]
    referenced_ids = sorted({h.item.customer_id for h in usable})
    if referenced_ids:
        customers = [c for c in (view.customer(i) for i in referenced_ids) if c is not None]
        chosen = customers[0] if len(customers) == 1 else _family_head(customers, view)
        if chosen is not None:
            similarity = name_similarity(receipt.debtor_name, chosen.name) if receipt.debtor_name else None
            return Payer(chosen, IdentifiedBy.REFERENCE, scope_of(chosen, view), similarity, tuple(notes))
        notes.append(f"references_point_to:{len(customers)}_customers")

    if receipt.debtor_name:
        scored = sorted(
            (
                (name_similarity(receipt.debtor_name, c.name), c.customer_id, c)
                for c in view.customers_by_name(receipt.debtor_name, NAME_CANDIDATES)
            ),
            key=lambda t: (-t[0], t[1]),
        )
        if scored and scored[0][0] >= options.name_threshold:
            best_score, _, best = scored[0]
            runner_up = scored[1][0] if len(scored) > 1 else 0
            if runner_up < best_score:
                return Payer(best, IdentifiedBy.NAME, scope_of(best, view), best_score, tuple(notes))
            notes.append("name_ambiguous")
    return Payer(None, IdentifiedBy.NONE, frozenset(), None, tuple(notes))
