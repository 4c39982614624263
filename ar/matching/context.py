"""What the engine needs to look up, as one small interface (``LedgerView``), and an
in-memory implementation over dictionaries for tests and benchmarks.

The integrator implements ``LedgerView`` over the database; each method is one
indexed query: customers by normalised IBAN, open items by reference key (the keys
of ``references.index_keys``), open items by customer, children by parent, customers
by name token, open items by (currency, remaining amount).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Protocol

from ar.matching.model import CustomerFacts, OpenItem
from ar.matching.references import index_keys

# Legal forms and filler words that say nothing about who a company is.
_NAME_NOISE = frozenset(
    "AG GMBH MBH CO KG KGAA OHG SE SA SAS SARL SRL SPA BV NV LTD LIMITED PLC INC LLC LLP CORP "
    "CORPORATION COMPANY AND UND ET THE DE DER DIE DAS LA LE OY AB AS APS".split()
)
_WORD = re.compile(r"[A-Z0-9]+")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")


def normalise_iban(iban: str) -> str:
    """Upper case, without spaces or separators (``de89 3704-0044`` -> ``DE8937040044``)."""
    if iban.isascii() and iban.isalnum() and (iban.isupper() or iban.isdigit()):
        return iban  # as a statement gives it, mostly: no copy, no regular expression
    return _NOT_ALNUM.sub("", iban.upper())


@functools.lru_cache(maxsize=1 << 16)
def name_tokens(name: str) -> tuple[str, ...]:
    """The words of a name that identify it: upper case, no legal forms."""
    words = _WORD.findall(name.upper())
    return tuple(word for word in words if word not in _NAME_NOISE and len(word) > 1)


@functools.lru_cache(maxsize=1 << 16)
def normalise_name(name: str) -> str:
    return " ".join(name_tokens(name))


class LedgerView(Protocol):
    """Read-only lookups the engine makes while it decides one receipt."""

    def customer(self, customer_id: str) -> CustomerFacts | None:
        """One customer by id."""
        ...

    def customers_by_iban(self, iban: str) -> Sequence[CustomerFacts]:
        """Customers that own this (normalised) IBAN; usually none or one."""
        ...

    def child_ids(self, customer_id: str) -> Sequence[str]:
        """Ids of the customers whose parent is this customer."""
        ...

    def items_by_reference(self, key: str) -> Sequence[OpenItem]:
        """Open items (remaining != 0) one of whose ``index_keys`` equals ``key``."""
        ...

    def open_items(self, customer_id: str) -> Sequence[OpenItem]:
        """The customer's open items (remaining != 0), in any order."""
        ...

    def customers_by_name(self, name: str, limit: int) -> Sequence[CustomerFacts]:
        """Candidate customers whose name shares a distinctive word with ``name`` (the engine
        scores them itself); at most ``limit``, rarest shared words first."""
        ...

    def open_items_with_amount(self, currency: str, amount: Decimal, limit: int) -> Sequence[OpenItem]:
        """Open items of any customer whose remaining amount equals ``amount``; at most ``limit``."""
        ...


class InMemoryLedgerView:
    """``LedgerView`` over dictionaries: every lookup is O(1) (plus the size of its answer)."""

    def __init__(self, customers: Iterable[CustomerFacts], items: Iterable[OpenItem]) -> None:
        self._customers: dict[str, CustomerFacts] = {}
        self._by_iban: dict[str, list[CustomerFacts]] = defaultdict(list)
        self._children: dict[str, list[str]] = defaultdict(list)
        self._by_name_token: dict[str, list[str]] = defaultdict(list)
        for customer in customers:
            self._customers[customer.customer_id] = customer
            for iban in customer.ibans:
                self._by_iban[normalise_iban(iban)].append(customer)
            if customer.parent_id is not None:
                self._children[customer.parent_id].append(customer.customer_id)
            for token in set(name_tokens(customer.name)):
                self._by_name_token[token].append(customer.customer_id)
        self._items: dict[str, OpenItem] = {}
        self._by_key: dict[str, list[OpenItem]] = defaultdict(list)
        self._by_customer: dict[str, list[OpenItem]] = defaultdict(list)
        self._by_amount: dict[tuple[str, Decimal], list[OpenItem]] = defaultdict(list)
        for item in items:
            self.add_item(item)

    def add_item(self, item: OpenItem) -> None:
        if item.amount_due_remaining == 0:
            return
        self._items[item.item_id] = item
        for key in index_keys(item.trx_number, item.references):
            self._by_key[key].append(item)
        self._by_customer[item.customer_id].append(item)
        self._by_amount[(item.currency, item.amount_due_remaining)].append(item)

    @property
    def item_count(self) -> int:
        return len(self._items)

    def customer(self, customer_id: str) -> CustomerFacts | None:
        return self._customers.get(customer_id)

    def customers_by_iban(self, iban: str) -> Sequence[CustomerFacts]:
        return self._by_iban.get(normalise_iban(iban), ())

    def child_ids(self, customer_id: str) -> Sequence[str]:
        return self._children.get(customer_id, ())

    def items_by_reference(self, key: str) -> Sequence[OpenItem]:
        return self._by_key.get(key, ())

    def open_items(self, customer_id: str) -> Sequence[OpenItem]:
        return self._by_customer.get(customer_id, ())

    def customers_by_name(self, name: str, limit: int) -> Sequence[CustomerFacts]:
        tokens = sorted(set(name_tokens(name)), key=lambda t: (len(self._by_name_token.get(t, ())), t))
        seen: dict[str, None] = {}
        for token in tokens:
            for customer_id in self._by_name_token.get(token, ()):
                seen.setdefault(customer_id, None)
                if len(seen) >= limit:
                    break
            if len(seen) >= limit:
                break
        return [self._customers[c] for c in seen]

    def open_items_with_amount(self, currency: str, amount: Decimal, limit: int) -> Sequence[OpenItem]:
        return self._by_amount.get((currency, amount), ())[:limit]
