"""The reference-key index of open items and the name-token index of customers, kept by
whoever creates the rows, with a catch-up at the start of every cash-application run.

An item is given its keys when it is created (``index_items``: the transaction import,
a memo of a dispute's resolution), the same keys ``index_keys`` makes of the transaction
number, the ISO 11649 creditor reference printed for it and its order number.
``index_open_items`` (run by ``match run`` before it decides anything) gives keys to any
open item still without them: rows written before this index existed, or by a path that
does not keep it. A customer is given its name tokens likewise when the customer import
creates or renames it (``index_customers``), and ``index_customer_names`` (also run by
``match run``) catches up with customers new or renamed otherwise. Lookups join the open
items and filter on their status, so keys of closed items do no harm (and are there again
when an item reopens).

>>> creditor_reference("INV-000123")
'RF73INV000123'
>>> item_keys("INV-000123", "PO-77")
('INV000123', '123', 'INV123', 'RF73INV000123', 'PO77')
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from ar import bulkrows
from ar.cashapp.tables import CustomerNameToken, ItemReferenceKey
from ar.matching.context import name_tokens
from ar.matching.references import compact, index_keys
from ar.model import Customer, PaymentSchedule, ScheduleStatus, Transaction

CHUNK = 500  # ids per IN (...) query
INSERT_CHUNK = 20_000  # rows per executemany
KEY_LENGTH = 80  # ItemReferenceKey.key
_OPEN = ScheduleStatus.OPEN.value

#: ISO 7064 mod 97-10 reads a letter as its base-36 value (A=10 ... Z=35).
_BASE10 = str.maketrans({c: str(int(c, 36)) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"})


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _rf_of_compact(body: str) -> str | None:
    if not body or len(body) > 21:
        return None
    return f"RF{98 - int((body + 'RF00').translate(_BASE10)) % 97:02d}{body}"


def creditor_reference(trx_number: str) -> str | None:
    """The ISO 11649 creditor reference printed for a transaction number (RF + check + number).

    The check digits are ``stdnum.iso7064.mod_97_10.calc_check_digits(body + "RF")``, computed
    inline (one translate and one modulo: this runs for every open item indexed).

    >>> from stdnum.iso7064 import mod_97_10
    >>> creditor_reference("INV-000123") == "RF" + mod_97_10.calc_check_digits("INV000123RF") + "INV000123"
    True
    """
    return _rf_of_compact(compact(trx_number))


def item_keys(trx_number: str, order_number: str | None) -> tuple[str, ...]:
    """``index_keys`` of an item: its number, and its references besides (its creditor
    reference, its order number), the number compacted once."""
    body = compact(trx_number)
    references = [r for r in (_rf_of_compact(body), order_number) if r]
    return index_keys(trx_number, references)


def index_items(session: Session, items: Iterable[tuple[int, str, str | None]]) -> int:
    """Insert the keys of new items, given as (schedule id, transaction number, order number); how many."""
    batch: list[tuple[int, str]] = []
    count = 0
    for schedule_id, trx_number, order_number in items:
        count += 1
        batch.extend((schedule_id, key[:KEY_LENGTH]) for key in item_keys(trx_number, order_number))
        if len(batch) >= INSERT_CHUNK:
            bulkrows.insert_tuples(session, ItemReferenceKey, ("schedule_id", "key"), batch)
            batch = []
    bulkrows.insert_tuples(session, ItemReferenceKey, ("schedule_id", "key"), batch)
    return count


def index_open_items(session: Session) -> int:
    """Give every open item without reference keys its keys, in bulk; the number of items indexed."""
    no_keys = ~exists().where(ItemReferenceKey.schedule_id == PaymentSchedule.id)
    rows = session.execute(
        select(PaymentSchedule.id, PaymentSchedule.trx_number, Transaction.order_number)
        .join(Transaction, Transaction.id == PaymentSchedule.transaction_id)
        .where(PaymentSchedule.status == _OPEN, no_keys)
    ).all()
    return index_items(session, ((r[0], r[1], r[2]) for r in rows))


def index_customers(session: Session, customers: Iterable[tuple[int, str]]) -> int:
    """Name tokens for these customers, given as (id, name), in place of any they had; how many."""
    named = list(customers)
    for ids in _chunks([customer_id for customer_id, _ in named]):
        session.execute(delete(CustomerNameToken).where(CustomerNameToken.customer_id.in_(ids)))
    batch: list[tuple[int, str, str]] = []
    for customer_id, name in named:
        for token in sorted(set(name_tokens(name))) or [""]:
            batch.append((customer_id, token[:240], name))
    for rows in _chunks(batch, INSERT_CHUNK):
        bulkrows.insert_tuples(session, CustomerNameToken, ("customer_id", "token", "name"), rows)
    return len(named)


def index_customer_names(session: Session) -> int:
    """Name tokens for customers new or renamed since they were last indexed; how many."""
    current = exists().where(
        CustomerNameToken.customer_id == Customer.id, CustomerNameToken.name == Customer.name
    )
    stale = session.execute(select(Customer.id, Customer.name).where(~current)).all()
    return index_customers(session, ((customer_id, name) for customer_id, name in stale))
