"""The matching engine's ``LedgerView`` over the database, and the indexes it reads.

Every lookup is one indexed query (customers by IBAN, open items by reference key, by
customer, by amount; customers by name token), answered from a per-run cache when it
was asked before. ``prefetch`` loads, for a batch of receipts, in a handful of ``IN``
queries what deciding them will ask: the payers' customers, the open items their
references point to, the open items of the customers involved. After a receipt is
applied, ``refresh`` re-reads the items it changed, so the next receipt sees them as
they are; ``clear_items`` drops the item cache between batches (memory stays flat).

The indexes are kept by ``ar.cashapp.indexes`` (reference keys given to an item when it is
created, a catch-up at the start of a run; name tokens of customers new or renamed); lookups
join the open items and filter on their status, so the keys of closed items are never answered.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, and_, func, select
from sqlalchemy.orm import Session

from ar.cashapp.indexes import item_keys
from ar.cashapp.tables import CustomerNameToken, ItemReferenceKey
from ar.matching.context import name_tokens, normalise_iban
from ar.matching.engine import AMOUNT_CANDIDATES, MAX_ITEMS_PER_KEY
from ar.matching.model import CustomerFacts, DiscountTier, OpenItem, ReceiptFacts
from ar.matching.model import TrxType as ItemType
from ar.matching.references import extract
from ar.matching.rules import ReferenceOptions
from ar.model import (
    Customer,
    CustomerBankAccount,
    CustomerRelationship,
    PaymentSchedule,
    ScheduleStatus,
    Transaction,
)
from ar.money import Money, exponent

CHUNK = 500  # ids per IN (...) query
AMOUNT_PREFETCH = 64  # open items per amount read ahead for payers that may stay unknown
_OPEN = ScheduleStatus.OPEN.value


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


# Core columns, not the ORM's attributes: the view reads plain rows, and a Core statement skips
# the ORM's per-statement and per-row handling (the session still flushes first).
_PS = _table(PaymentSchedule).c
_TRX = _table(Transaction).c
_KEYS = _table(ItemReferenceKey).c
_CUSTOMERS = _table(Customer).c
_ACCOUNTS = _table(CustomerBankAccount).c
_RELATIONSHIPS = _table(CustomerRelationship).c
_TOKENS = _table(CustomerNameToken).c


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --------------------------------------------------------------------------- the view
_SCALE: dict[str, int] = {}


def amount_of_minor(value: int, currency: str) -> Decimal:
    """``Money.from_minor(value, currency).amount`` without building the Money (hot: every item
    changed by a plan)."""
    exp = _SCALE.get(currency)
    if exp is None:
        exp = _SCALE[currency] = -exponent(currency)
    return Decimal(value).scaleb(exp)


def _discounts(text: str) -> tuple[DiscountTier, ...]:
    if not text or text == "[]":
        return ()
    offers = json.loads(text)
    return tuple(
        DiscountTier(days=0, percent=Decimal(o["percent"]), until=date.fromisoformat(o["until"]))
        for o in offers
    )


_ITEM_COLUMNS = (
    _PS.id,
    _PS.trx_number,
    _PS.customer_id,
    _PS.currency,
    _PS.amount_due_original_minor,
    _PS.amount_due_remaining_minor,
    _PS.amount_in_dispute_minor,
    _PS.trx_date,
    _PS.due_date,
    _PS.discounts,
    _PS.trx_type,
    _PS.status,
    _TRX.payment_term,
    _TRX.order_number,
)


def _item_select() -> Any:
    return select(*_ITEM_COLUMNS).join(_table(Transaction), _TRX.id == _PS.transaction_id)


@dataclass(frozen=True)
class _Read:
    """A read of ``DbLedgerView._driver_rows``: ``statement WHERE in_column IN (...) AND
    equal_column = ? ...``, compiled once per dialect."""

    statement: Any
    in_column: Any
    equal_columns: tuple[Any, ...] = ()
    order_by: tuple[Any, ...] = ()
    _sql: dict[tuple[str, str], tuple[tuple[str, str], str]] = field(default_factory=dict)

    def compiled(self, dialect: Any) -> tuple[tuple[str, str], str]:
        """(SQL before the IN list's marks, SQL after them), and the driver's mark."""
        key = (dialect.name, dialect.paramstyle)
        found = self._sql.get(key)
        if found is None:
            mark = "?" if dialect.paramstyle == "qmark" else "%s"

            def name(column: Any) -> str:
                return str(column.compile(dialect=dialect))

            head = f"{self.statement.compile(dialect=dialect)} WHERE {name(self.in_column)}"
            tail = "".join(f" AND {name(c)} = {mark}" for c in self.equal_columns)
            if self.order_by:
                tail += f" ORDER BY {', '.join(name(c) for c in self.order_by)}"
            found = self._sql[key] = ((head, tail), mark)
        return found


_ITEMS_BY_ID = _Read(_item_select(), _PS.id)
_OPEN_ITEMS_OF_CUSTOMERS = _Read(_item_select(), _PS.customer_id, (_PS.status,))
_OPEN_ITEMS_BY_KEY = _Read(
    select(_KEYS.key, _KEYS.schedule_id).join(_table(PaymentSchedule), _PS.id == _KEYS.schedule_id),
    _KEYS.key,
    (_PS.status,),
)
_CUSTOMERS_BY_ID = _Read(
    select(_CUSTOMERS.id, _CUSTOMERS.number, _CUSTOMERS.name, _CUSTOMERS.profile), _CUSTOMERS.id
)
_IBANS_OF_CUSTOMERS = _Read(
    select(_ACCOUNTS.customer_id, _ACCOUNTS.iban), _ACCOUNTS.customer_id, order_by=(_ACCOUNTS.id,)
)
_OWNERS_OF_IBANS = _Read(
    select(_ACCOUNTS.iban, _ACCOUNTS.customer_id), _ACCOUNTS.iban, order_by=(_ACCOUNTS.customer_id,)
)
_RELATIONSHIP_COLUMNS = (
    _RELATIONSHIPS.id,
    _RELATIONSHIPS.payer_id,
    _RELATIONSHIPS.customer_id,
    _RELATIONSHIPS.reciprocal,
)
_RELATIONSHIPS_OF_PAYERS = _Read(select(*_RELATIONSHIP_COLUMNS), _RELATIONSHIPS.payer_id)
_RELATIONSHIPS_OF_CUSTOMERS = _Read(select(*_RELATIONSHIP_COLUMNS), _RELATIONSHIPS.customer_id)


_ITEM_TYPES = {t.value: t for t in ItemType}
_ZERO = Decimal(0)
_STATUS = _ITEM_COLUMNS.index(_PS.status)
_CURRENCY = _ITEM_COLUMNS.index(_PS.currency)
_REMAINING = _ITEM_COLUMNS.index(_PS.amount_due_remaining_minor)
_ORDER = _ITEM_COLUMNS.index(_TRX.order_number)
#: Dates as the driver returns them (SQLite: ISO text; psycopg: dates), each converted once.
_DATES: dict[Any, date] = {}


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    found = _DATES.get(value)
    if found is None:
        found = _DATES[value] = date.fromisoformat(value)
    return found


def item_of(row: Sequence[Any]) -> OpenItem:
    """The engine's open item of a row of ``_item_select``.

    Its ``references`` stay empty: this view finds items by the keys of the reference-key
    index, and nothing reads an item's own (its creditor reference cost a third of building it)."""
    (
        sid,
        number,
        customer_id,
        cur,
        original,
        remaining,
        disputed,
        trx_date,
        due,
        discounts,
        kind,
        _,
        term,
        _order,
    ) = row
    exp = _SCALE.get(cur)
    if exp is None:
        exp = _SCALE[cur] = -exponent(cur)
    return OpenItem(
        item_id=str(sid),
        trx_number=number,
        customer_id=str(customer_id),
        currency=cur,
        amount_due_original=Decimal(original).scaleb(exp),
        amount_due_remaining=Decimal(remaining).scaleb(exp),
        trx_date=_date(trx_date),
        due_date=_date(due),
        discounts=_discounts(discounts),
        payment_term=term or "",
        trx_type=_ITEM_TYPES.get(kind) or ItemType(kind),
        disputed_amount=Decimal(max(0, min(disputed, remaining))).scaleb(exp) if remaining > 0 else _ZERO,
    )


def with_remaining(item: OpenItem, remaining: Decimal) -> OpenItem:
    """The item with another remaining amount (its disputed part as ``item_of`` computes it)."""
    disputed = min(item.disputed_amount, remaining) if remaining > 0 else _ZERO
    # every field spelled out: dataclasses.replace costs several times as much (hot: each
    # application laid over the view, each item carried to the next batch)
    return OpenItem(
        item.item_id,
        item.trx_number,
        item.customer_id,
        item.currency,
        item.amount_due_original,
        remaining,
        item.trx_date,
        item.due_date,
        item.discounts,
        item.payment_term,
        item.trx_type,
        disputed,
        item.late_charges,
        item.references,
    )


class DbLedgerView:
    """``ar.matching.context.LedgerView`` over the receivables tables, cached per run."""

    def __init__(self, session: Session, rule_set_of_profile: Mapping[str, str], default: str = "default"):
        self.session = session
        self._rule_set_of = dict(rule_set_of_profile)
        self._default = default
        self._customers: dict[str, CustomerFacts | None] = {}
        self._children: dict[str, tuple[str, ...]] = {}
        self._by_iban: dict[str, tuple[str, ...]] = {}
        self._by_name: dict[str, tuple[str, ...]] = {}
        self.queries = 0
        self.clear_items()

    def _rows(self, statement: Any) -> Sequence[Any]:
        """All rows of a query at once (the driver's fetchall, not a fetch per row)."""
        return self.session.execute(statement).all()

    def _scalars(self, statement: Any) -> Sequence[Any]:
        return self.session.scalars(statement).all()

    def _driver_rows(self, read: _Read, values: Sequence[Any], *extra: Any) -> Sequence[Any]:
        """The rows of ``read`` with its first column ``IN values`` (and each further column
        equal to one of ``extra``), as the driver returns them: nothing converted per value,
        the SQL compiled once per dialect (the hot reads of open items and their keys;
        ``item_of`` converts what it needs). The session is flushed first, as
        ``Session.execute`` does. The driver's own cursor, in the session's transaction: its
        rows are the driver's tuples (SQLAlchemy would wrap each in a ``Row``, which cost more
        than the read itself)."""
        self.session.flush()
        connection = self.session.connection()
        head, mark = read.compiled(connection.dialect)
        sql = f"{head[0]} IN ({', '.join([mark] * len(values))}){head[1]}"
        cursor = connection.connection.cursor()
        try:
            cursor.execute(sql, (*values, *extra))
            rows: Sequence[Any] = cursor.fetchall()
        finally:
            cursor.close()
        return rows

    def bind(self, session: Session) -> None:
        """Use another session (a new batch's transaction); the caches stay."""
        self.session = session

    def clear_items(self) -> None:
        self._items: dict[str, OpenItem] = {}
        self._customer_items: dict[str, list[str]] = {}
        self._keys: dict[str, list[str]] = {}
        #: (currency, remaining minor units) -> the first ids (by id) of open items with it in the
        #: database, and whether that is all of them; see `prefetch_amounts`.
        self._by_amount: dict[tuple[str, int], tuple[list[int], bool]] = {}
        #: Remaining amounts of items changed by decisions not yet written (bulk path); see `overlay`.
        self._overlay: dict[str, Decimal] = {}
        #: The same by remaining amount (ids of items with it), for `open_items_with_amount`.
        self._overlay_at: dict[Decimal, set[str]] = defaultdict(set)
        #: (currency, remaining minor units) of each item as last read from the database; None
        #: when it was not open there.
        self._read_as: dict[str, tuple[str, int] | None] = {}
        #: Overlaid items by what the database still says of them (see `_read_as`), counted;
        #: those never read (counted under every amount) apart.
        self._overlay_read: Counter[tuple[str, int]] = Counter()
        self._overlay_key: dict[str, tuple[str, int] | None] = {}
        self._overlay_unread: set[str] = set()
        #: Items laid over by ``carry``: what the database says of them depends on when it is
        #: read, so they count under every amount, as if never read, until ``clear_items``.
        self._carried: set[str] = set()

    def _drop_overlay(self, item_id: str) -> None:
        before = self._overlay.pop(item_id, None)
        if before is not None:
            self._overlay_at[before].discard(item_id)
            key = self._overlay_key.pop(item_id, None)
            if key is not None:
                self._overlay_read[key] -= 1
            self._overlay_unread.discard(item_id)

    def overlay(self, item: OpenItem, remaining: Decimal) -> None:
        """An item's remaining amount after an application decided but not yet written to the
        database (the bulk path): every later lookup sees it so, a closed item no more.
        ``clear_items`` (or ``refresh`` once it is written) drops the overlay."""
        self._drop_overlay(item.item_id)
        self._overlay[item.item_id] = remaining
        self._overlay_at[remaining].add(item.item_id)
        if item.item_id in self._read_as and item.item_id not in self._carried:
            key = self._overlay_key[item.item_id] = self._read_as[item.item_id]
            if key is not None:
                self._overlay_read[key] += 1
        else:
            self._overlay_unread.add(item.item_id)
        if remaining == 0:
            self._items.pop(item.item_id, None)
        else:
            self._items[item.item_id] = with_remaining(item, remaining)

    def carry(self, items: Iterable[OpenItem]) -> None:
        """Items as plans not yet written (or written after some of this batch's reads) left
        them: each overlaid as ``overlay`` does, so every lookup sees it so.

        The pipelined run's planner calls it after ``clear_items`` with the items of the plans
        the writer has not confirmed, so its next batch sees the ledger as the sequential run
        would. Whether the database lists such an item with its new amount depends on when it
        is read (the writer may write the plan at any moment of the batch): amount look-ups read
        past it either way, for the whole batch, even after this batch lays it over again."""
        for item in items:
            self._carried.add(item.item_id)
            self.overlay(item, item.amount_due_remaining)

    # -- customers ------------------------------------------------------------------
    def _load_customers(self, ids: Iterable[str]) -> None:
        wanted = sorted({int(i) for i in ids if i not in self._customers})
        for chunk in _chunks(wanted):
            self.queries += 4
            found: dict[int, tuple[str, str, str]] = {
                customer_id: (number, name, profile)
                for customer_id, number, name, profile in self._driver_rows(_CUSTOMERS_BY_ID, chunk)
            }
            ibans: dict[int, list[str]] = defaultdict(list)
            for customer_id, iban in self._driver_rows(_IBANS_OF_CUSTOMERS, chunk):
                ibans[customer_id].append(iban)
            parents: dict[int, int] = {}
            children: dict[int, list[str]] = defaultdict(list)
            related: dict[int, list[str]] = defaultdict(list)
            # the relationships the chunk's customers are in, either side, in the order they were made
            relationships: dict[int, tuple[int, int, Any]] = {}
            for read in (_RELATIONSHIPS_OF_PAYERS, _RELATIONSHIPS_OF_CUSTOMERS):
                for relationship_id, payer, customer, reciprocal in self._driver_rows(read, chunk):
                    relationships[relationship_id] = (payer, customer, reciprocal)
            for relationship_id in sorted(relationships):
                payer, customer, reciprocal = relationships[relationship_id]
                children[payer].append(str(customer))
                if reciprocal:
                    related[customer].append(str(payer))
                else:
                    parents.setdefault(customer, payer)
            for customer_id in chunk:
                row = found.get(customer_id)
                key = str(customer_id)
                self._children[key] = tuple(children.get(customer_id, ()))
                if row is None:
                    self._customers[key] = None
                    continue
                number, name, profile = row
                parent = parents.get(customer_id)
                self._customers[key] = CustomerFacts(
                    customer_id=key,
                    number=number,
                    name=name,
                    ibans=tuple(ibans.get(customer_id, ())),
                    parent_id=str(parent) if parent is not None else None,
                    related_ids=tuple(related.get(customer_id, ())),
                    profile=self._rule_set_of.get(profile, self._default),
                )

    def customer(self, customer_id: str) -> CustomerFacts | None:
        if customer_id not in self._customers:
            self._load_customers([customer_id])
        return self._customers.get(customer_id)

    def child_ids(self, customer_id: str) -> Sequence[str]:
        if customer_id not in self._children:
            self._load_customers([customer_id])
        return self._children.get(customer_id, ())

    def _prefetch_ibans(self, ibans: Iterable[str]) -> None:
        wanted = sorted({i for i in ibans if i not in self._by_iban})
        owners: dict[str, list[str]] = defaultdict(list)
        for chunk in _chunks(wanted):
            self.queries += 1
            for iban, customer_id in self._driver_rows(_OWNERS_OF_IBANS, chunk):
                owners[iban].append(str(customer_id))
        for iban in wanted:
            self._by_iban[iban] = tuple(owners.get(iban, ()))
        # the owners of the IBANs just looked up (those of earlier ones are loaded already)
        self._load_customers(c for ids in owners.values() for c in ids)

    def customers_by_iban(self, iban: str) -> Sequence[CustomerFacts]:
        key = normalise_iban(iban)
        if key not in self._by_iban:
            self._prefetch_ibans([key])
        return [c for c in (self.customer(i) for i in self._by_iban[key]) if c is not None]

    def forget_iban(self, iban: str) -> None:
        """A bank account was linked: look the IBAN up again next time."""
        self._by_iban.pop(normalise_iban(iban), None)

    def customers_by_name(self, name: str, limit: int) -> Sequence[CustomerFacts]:
        tokens = sorted(set(name_tokens(name)))
        cache_key = f"{limit}:{' '.join(tokens)}"
        if cache_key not in self._by_name:
            self._by_name[cache_key] = self._search_name(tokens, limit)
        return [c for c in (self.customer(i) for i in self._by_name[cache_key]) if c is not None]

    def _search_name(self, tokens: Sequence[str], limit: int) -> tuple[str, ...]:
        if not tokens:
            return ()
        self.queries += 1
        counts: dict[str, int] = dict(
            self.session.execute(
                select(_TOKENS.token, func.count()).where(_TOKENS.token.in_(tokens)).group_by(_TOKENS.token)
            ).all()
        )
        seen: dict[str, None] = {}
        for token in sorted(counts, key=lambda t: (counts[t], t)):  # rarest words first
            self.queries += 1
            for customer_id in self._scalars(
                select(_TOKENS.customer_id)
                .where(_TOKENS.token == token)
                .order_by(_TOKENS.customer_id)
                .limit(limit - len(seen))
            ):
                seen.setdefault(str(customer_id), None)
            if len(seen) >= limit:
                break
        self._load_customers(seen)
        return tuple(seen)

    # -- open items -----------------------------------------------------------------
    def _store(self, rows: Iterable[Sequence[Any]]) -> list[str]:
        ids = []
        for row in rows:
            item = item_of(row)
            self._read_as[item.item_id] = (row[_CURRENCY], row[_REMAINING]) if row[_STATUS] == _OPEN else None
            pending = self._overlay.get(item.item_id)
            if pending is not None:
                item = with_remaining(item, pending)
            if row[_STATUS] == _OPEN and item.amount_due_remaining != 0:
                self._items[item.item_id] = item
                ids.append(item.item_id)
            else:
                self._items.pop(item.item_id, None)
        return ids

    def _load_items(self, ids: Iterable[str]) -> None:
        overlay = self._overlay
        wanted = sorted({int(i) for i in ids if i not in self._items and overlay.get(i) != 0})
        for chunk in _chunks(wanted):
            self.queries += 1
            self._store(self._driver_rows(_ITEMS_BY_ID, chunk))

    def _known(self, ids: Iterable[str]) -> list[OpenItem]:
        return [self._items[i] for i in ids if i in self._items]

    def item(self, item_id: str) -> OpenItem | None:
        """The open item as the engine sees it (cached, with the batch's overlay); None when not open."""
        if item_id not in self._items:
            self._load_items([item_id])
        return self._items.get(item_id)

    def prefetch_customer_items(self, customer_ids: Iterable[str]) -> None:
        wanted = sorted({int(c) for c in customer_ids if c not in self._customer_items})
        for chunk in _chunks(wanted):
            self.queries += 1
            by_customer: dict[str, list[str]] = {str(c): [] for c in chunk}
            rows = self._driver_rows(_OPEN_ITEMS_OF_CUSTOMERS, chunk, _OPEN)
            for item_id in self._store(rows):
                by_customer[self._items[item_id].customer_id].append(item_id)
            self._customer_items.update(by_customer)

    def open_items(self, customer_id: str) -> Sequence[OpenItem]:
        if customer_id not in self._customer_items:
            self.prefetch_customer_items([customer_id])
        return self._known(self._customer_items[customer_id])

    def prefetch_keys(self, keys: Iterable[str]) -> None:
        wanted = sorted({k for k in keys if k not in self._keys and len(k) <= 80})
        for chunk in _chunks(wanted):
            self.queries += 1
            found: dict[str, list[str]] = {k: [] for k in chunk}
            rows = self._driver_rows(_OPEN_ITEMS_BY_KEY, chunk, _OPEN)
            for key, schedule_id in rows:
                found[key].append(str(schedule_id))
            self._keys.update(found)
        # the items of a key too common to mean anything are not loaded (the engine skips it)
        self._load_items(
            i for k in wanted for i in self._keys.get(k, ()) if len(self._keys[k]) <= MAX_ITEMS_PER_KEY
        )

    def items_by_reference(self, key: str) -> Sequence[OpenItem]:
        if key not in self._keys:
            if len(key) > 80:
                return ()
            self.prefetch_keys([key])
        # a key too common to mean anything: enough of its items for the engine to see that
        ids = self._keys[key][: MAX_ITEMS_PER_KEY + 1]
        self._load_items(ids)
        return self._known(ids)

    def prefetch_amounts(self, wanted: Iterable[tuple[str, int]]) -> None:
        """Read, for each (currency, remaining minor units), the first ``AMOUNT_PREFETCH`` open
        items with it, in one query per chunk: what ``open_items_with_amount`` asks for the
        receipts of a batch whose payer may stay unknown. The database does not change while
        a batch is planned (the bulk path writes after), so the answer stands for the batch;
        ``refresh`` (the per-receipt path, which writes as it goes) drops it."""
        by_currency: dict[str, set[int]] = defaultdict(set)
        customers: set[str] = set()
        for currency, minor in wanted:
            if (currency, minor) not in self._by_amount:
                by_currency[currency].add(minor)
        for currency, amounts in sorted(by_currency.items()):
            for chunk in _chunks(sorted(amounts)):
                self.queries += 1
                found: dict[int, list[int]] = {minor: [] for minor in chunk}
                rank = (
                    func.row_number()
                    .over(partition_by=_PS.amount_due_remaining_minor, order_by=_PS.id)
                    .label("rank")
                )
                ranked = (
                    select(_PS.id, _PS.amount_due_remaining_minor.label("minor"), rank)
                    .where(
                        _PS.currency == currency,
                        _PS.amount_due_remaining_minor.in_(chunk),
                        _PS.status == _OPEN,
                    )
                    .subquery()
                )
                for item_id, minor in self._rows(
                    select(ranked.c.id, ranked.c.minor).where(ranked.c.rank <= AMOUNT_PREFETCH)
                ):
                    found[minor].append(item_id)
                for minor, ids in found.items():
                    ids.sort()
                    self._by_amount[(currency, minor)] = (ids, len(ids) < AMOUNT_PREFETCH)
                # the candidates the engine will look at, and their customers
                candidates = [str(i) for ids in found.values() for i in ids[:AMOUNT_CANDIDATES]]
                self._load_items(candidates)
                customers.update(self._items[i].customer_id for i in candidates if i in self._items)
        self._load_customers(customers)

    def _ids_with_amount(self, currency: str, minor: int, count: int) -> list[int]:
        """The first ``count`` ids (by id) of open items with this remaining amount in the database."""
        known = self._by_amount.get((currency, minor))
        if known is not None:
            ids, complete = known
            if complete or len(ids) >= count:
                return ids[:count]
        self.queries += 1
        return list(
            self._scalars(
                select(_PS.id)
                .where(
                    and_(
                        _PS.currency == currency,
                        _PS.amount_due_remaining_minor == minor,
                        _PS.status == _OPEN,
                    )
                )
                .order_by(_PS.id)
                .limit(count)
            )
        )

    def open_items_with_amount(self, currency: str, amount: Decimal, limit: int) -> Sequence[OpenItem]:
        try:
            minor = Money.of(amount, currency).minor_units
        except Exception:  # an amount the currency cannot carry has no item
            return ()
        # enough ids for `limit` after the overlaid ones the database still lists with this amount
        hidden = self._overlay_read[(currency, minor)] + len(self._overlay_unread)
        ids = [str(i) for i in self._ids_with_amount(currency, minor, limit + hidden)]
        if self._overlay:
            # what the database does not know yet: items whose amount an earlier decision changed
            ids = [i for i in ids if i not in self._overlay]
            ids += [
                i
                for i in self._overlay_at.get(amount, ())
                if i in self._items and self._items[i].currency == currency
            ]
            ids = sorted(ids, key=int)[:limit]
        self._load_items(ids)
        found = self._known(ids)
        # the engine weighs each candidate's customer (its name against the payer's): one query
        self._load_customers(item.customer_id for item in found)
        return found

    # -- keeping the cache true -------------------------------------------------------
    def refresh(self, item_ids: Iterable[str]) -> None:
        """Re-read items a receipt changed: closed ones leave, reopened ones come back."""
        self._by_amount.clear()  # the database's amounts changed
        for i in item_ids:
            self._drop_overlay(i)
        ids = sorted({int(i) for i in item_ids})
        for chunk in _chunks(ids):
            self.queries += 1
            rows = self._driver_rows(_ITEMS_BY_ID, chunk)
            order_of = {str(row[0]): row[_ORDER] for row in rows}
            for item_id in self._store(rows):
                item = self._items[item_id]
                listed = self._customer_items.get(item.customer_id)
                if listed is not None and item_id not in listed:
                    listed.append(item_id)
                for key in item_keys(item.trx_number, order_of[item_id]):
                    keyed = self._keys.get(key)
                    if keyed is not None and item_id not in keyed:
                        keyed.append(item_id)

    def prefetch(self, receipts: Sequence[ReceiptFacts], options: Sequence[ReferenceOptions]) -> None:
        """Load in bulk what deciding these receipts will look up (see the module docstring)."""
        self._prefetch_ibans(normalise_iban(r.debtor_iban) for r in receipts if r.debtor_iban)
        keys: set[str] = set()
        strong_of: list[set[str]] = []
        for receipt in receipts:
            strong_keys: set[str] = set()
            for option in options:
                for found in extract(
                    receipt.remittance_lines, receipt.structured_references, receipt.end_to_end_id, option
                ):
                    keys.add(found.key)
                    if found.prefixed:
                        strong_keys.add(found.key)
            strong_of.append(strong_keys)
        self.prefetch_keys(keys)
        customers: set[str] = set()
        amounts: list[tuple[str, int]] = []
        # The items of the payer's customers are loaded now only for receipts no strong reference
        # explains: the engine reads them only when the references do not settle the receipt
        # (it then asks `open_items`, which loads them then).
        needs_scope: set[str] = set()
        for receipt, strong_keys in zip(receipts, strong_of, strict=True):
            payers = self._by_iban.get(normalise_iban(receipt.debtor_iban)) if receipt.debtor_iban else None
            referenced = {
                self._items[i].customer_id
                for key in strong_keys
                if len(self._keys.get(key, ())) <= MAX_ITEMS_PER_KEY
                for i in self._keys.get(key, ())
                if i in self._items
            }
            customers.update(payers or ())
            customers.update(referenced)
            if not referenced:
                needs_scope.update(payers or ())
                if not payers:  # the payer may stay unknown: the engine then looks for the amount
                    with contextlib.suppress(Exception):  # an amount the currency cannot carry
                        amounts.append(
                            (receipt.currency, Money.of(receipt.amount, receipt.currency).minor_units)
                        )
        self._load_customers(customers)
        self.prefetch_amounts(amounts)
        scope = set(needs_scope)
        for customer_id in needs_scope:
            facts = self._customers.get(customer_id)
            scope.update(self._children.get(customer_id, ()))
            if facts is not None:
                scope.update(facts.related_ids)
        self.prefetch_customer_items(scope)
