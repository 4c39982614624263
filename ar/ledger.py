"""The general ledger of the receivables subledger: balanced double-entry journals, never edited.

Every AR event posts one journal through :func:`post`. A journal balances per currency
(debits = credits), carries a gap-free number within its period, and is immutable once
inserted: the database refuses UPDATE and DELETE of journals and journal lines (triggers,
migration 0002), and on PostgreSQL a deferred constraint trigger re-checks the balance of
every journal at commit. A mistake is corrected by :func:`reverse`, a new journal with
debits and credits swapped.

Services never commit: `post` flushes into the caller's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ar import bulkrows, periods
from ar.errors import (
    ArError,
    DuplicateError,
    NotFoundError,
    UnbalancedJournalError,
    ValidationError,
)
from ar.model import Journal, JournalLine, Period
from ar.money import Money
from ar.numbering import IdReserver
from config.ar import CalendarConfig

#: A journal's description column is this long.
_DESCRIPTION_MAX = 240


@dataclass(frozen=True, slots=True)
class Posting:
    """One journal line: exactly one of debit/credit, positive."""

    account: str
    debit: Money | None = None
    credit: Money | None = None
    customer_id: int | None = None
    #: The open item a receivables line moves.
    schedule_id: int | None = None

    def __post_init__(self) -> None:
        if (self.debit is None) == (self.credit is None):
            raise ValidationError(f"posting to {self.account}: give exactly one of debit and credit")
        amount = self.debit if self.debit is not None else self.credit
        assert amount is not None
        if amount.amount <= 0:
            raise ValidationError(f"posting to {self.account}: amounts are positive, not {amount}")
        if not self.account:
            raise ValidationError("posting without an account")

    @property
    def money(self) -> Money:
        amount = self.debit if self.debit is not None else self.credit
        assert amount is not None
        return amount

    @property
    def currency(self) -> str:
        return self.money.currency

    @classmethod
    def signed(
        cls, account: str, amount: Money, *, customer_id: int | None = None, schedule_id: int | None = None
    ) -> Posting:
        """A debit when `amount` is positive, a credit when negative (zero is refused)."""
        if amount.is_zero():
            raise ValidationError(f"posting to {account}: zero amount")
        if amount.is_negative():
            return cls(account, credit=-amount, customer_id=customer_id, schedule_id=schedule_id)
        return cls(account, debit=amount, customer_id=customer_id, schedule_id=schedule_id)


def check_balanced(postings: Sequence[Posting]) -> None:
    """UnbalancedJournalError unless debits equal credits in every currency."""
    if not postings:
        raise UnbalancedJournalError("a journal needs at least one debit and one credit")
    net: dict[str, int] = defaultdict(int)
    for p in postings:
        net[p.currency] += p.money.minor_units if p.debit is not None else -p.money.minor_units
    off = {cur: Money.from_minor(units, cur) for cur, units in net.items() if units}
    if off:
        detail = ", ".join(f"debits exceed credits by {m}" for m in off.values())
        raise UnbalancedJournalError(f"unbalanced journal: {detail}")


def allocate_numbers(session: Session, period: Period, count: int) -> int:
    """Reserve `count` consecutive journal numbers in `period` (locked by the caller); the first.

    The increment happens in the caller's transaction: a rollback gives the numbers back,
    so numbers stay gap-free.
    """
    first = period.next_journal_number
    session.execute(
        update(Period).where(Period.name == period.name).values(next_journal_number=first + count)
    )
    period.next_journal_number = first + count
    return first


def post(
    session: Session,
    *,
    event: str,
    source_type: str,
    source_id: int,
    accounting_date: date,
    description: str,
    postings: Sequence[Posting],
    actor: str,
    now: datetime,
    calendar: CalendarConfig,
    reversal_of_id: int | None = None,
) -> Journal:
    """Post one balanced journal into the period of `accounting_date`; flushed, not committed.

    Raises UnbalancedJournalError (per currency), PeriodClosedError (unless the calendar
    moves it to the next open period, noted in the description). The journal's currency
    is the currency of its first line (a journal may carry lines of several currencies,
    each balancing).
    """
    check_balanced(postings)
    period, posted_date, note = periods.postable_period(session, accounting_date, calendar)
    if note:
        description = f"{description} ({note})"
    number = allocate_numbers(session, period, 1)
    journal = Journal(
        period=period.name,
        number=number,
        accounting_date=posted_date,
        event=event,
        source_type=source_type,
        source_id=source_id,
        description=description[:_DESCRIPTION_MAX],
        currency=postings[0].currency,
        reversal_of_id=reversal_of_id,
        posted_at=now,
        posted_by=actor,
    )
    session.add(journal)
    session.flush()
    session.add_all(
        JournalLine(
            journal_id=journal.id,
            line_number=i,
            account=p.account,
            debit_minor=p.debit.minor_units if p.debit is not None else 0,
            credit_minor=p.credit.minor_units if p.credit is not None else 0,
            currency=p.currency,
            customer_id=p.customer_id,
            schedule_id=p.schedule_id,
        )
        for i, p in enumerate(postings, start=1)
    )
    session.flush()
    return journal


class LineDraft(NamedTuple):
    """One journal line of :func:`post_many`, in minor units: exactly one side positive."""

    account: str
    debit_minor: int
    credit_minor: int
    currency: str
    customer_id: int | None = None
    schedule_id: int | None = None

    @classmethod
    def of(cls, posting: Posting) -> LineDraft:
        debit = posting.debit.minor_units if posting.debit is not None else 0
        credit = posting.credit.minor_units if posting.credit is not None else 0
        return cls(posting.account, debit, credit, posting.currency, posting.customer_id, posting.schedule_id)


@dataclass(frozen=True, slots=True)
class JournalDraft:
    """A journal :func:`post_many` posts: what :func:`post` takes, with lines in minor units."""

    event: str
    source_type: str
    source_id: int
    accounting_date: date
    description: str
    lines: Sequence[LineDraft]
    actor: str


def check_balanced_lines(lines: Sequence[LineDraft]) -> None:
    """:func:`check_balanced` for lines in minor units (one positive side each, balanced per currency)."""
    if not lines:
        raise UnbalancedJournalError("a journal needs at least one debit and one credit")
    net: dict[str, int] = {}
    for line in lines:
        debit, credit = line.debit_minor, line.credit_minor
        if not line.account:
            raise ValidationError("posting without an account")
        if (debit > 0) == (credit > 0) or debit < 0 or credit < 0:
            raise ValidationError(f"posting to {line.account}: give exactly one positive debit or credit")
        net[line.currency] = net.get(line.currency, 0) + debit - credit
    off = {cur: Money.from_minor(units, cur) for cur, units in net.items() if units}
    if off:
        detail = ", ".join(f"debits exceed credits by {m}" for m in off.values())
        raise UnbalancedJournalError(f"unbalanced journal: {detail}")


class PeriodResolver:
    """:func:`periods.postable_period` once per accounting date, for posting many journals.

    The same period rules as :func:`post` (closed periods refused or moved to the next open
    one); a refusal is remembered and raised again for every journal of that date. Without
    ``lock``, the periods are only read (a plan made in a read-only transaction).
    """

    def __init__(self, session: Session, calendar: CalendarConfig, *, lock: bool = True) -> None:
        self.session = session
        self.calendar = calendar
        self.lock = lock
        self._found: dict[date, tuple[Period, date, str | None] | ArError] = {}

    def resolve(self, accounting_date: date) -> tuple[Period, date, str | None]:
        """(locked period, date posted, note) for a journal dated `accounting_date`; PeriodClosedError."""
        found = self._found.get(accounting_date)
        if found is None:
            try:
                found = periods.postable_period(self.session, accounting_date, self.calendar, lock=self.lock)
            except ArError as exc:  # PeriodClosedError; a date outside an explicit calendar
                found = exc
            self._found[accounting_date] = found
        if isinstance(found, ArError):
            raise found
        return found


_LINE_COLUMNS = (
    "journal_id",
    "line_number",
    "account",
    "debit_minor",
    "credit_minor",
    "currency",
    "customer_id",
    "schedule_id",
)


def post_many(
    session: Session,
    journals: Sequence[JournalDraft],
    *,
    now: datetime,
    resolver: PeriodResolver,
    reserver: IdReserver | None = None,
) -> list[int]:
    """Post many balanced journals in bulk (executemany INSERTs, ids reserved beforehand with
    ``reserver``); their ids, in order. Flushed, not committed.

    The ledger effect of calling :func:`post` for each, in order: the same periods and
    dates (closed periods refused or moved), and gap-free numbers, one contiguous block
    per period taken with one update of its (locked) ``next_journal_number``.
    """
    if not journals:
        return []
    # the period's name read once per journal (an ORM attribute: a lookup each time)
    placed: list[tuple[str, date, str]] = []
    count: dict[str, int] = defaultdict(int)
    by_name: dict[str, Period] = {}
    for draft in journals:
        check_balanced_lines(draft.lines)
        period, posted_date, note = resolver.resolve(draft.accounting_date)
        description = f"{draft.description} ({note})" if note else draft.description
        name = period.name
        placed.append((name, posted_date, description[:_DESCRIPTION_MAX]))
        count[name] += 1
        by_name[name] = period
    next_number = {name: allocate_numbers(session, by_name[name], n) for name, n in count.items()}
    rows = []
    for draft, (name, posted_date, description) in zip(journals, placed, strict=True):
        number = next_number[name]
        next_number[name] = number + 1
        rows.append(
            {
                "period": name,
                "number": number,
                "accounting_date": posted_date,
                "event": draft.event,
                "source_type": draft.source_type,
                "source_id": draft.source_id,
                "description": description,
                "currency": draft.lines[0].currency,
                "reversal_of_id": None,
                "posted_at": now,
                "posted_by": draft.actor,
            }
        )
    ids = (reserver or IdReserver(session)).take(Journal, len(rows))
    for journal_id, row in zip(ids, rows, strict=True):
        row["id"] = journal_id
    lines = [
        (
            journal_id,
            number,
            line.account,
            line.debit_minor,
            line.credit_minor,
            line.currency,
            line.customer_id,
            line.schedule_id,
        )
        for journal_id, draft in zip(ids, journals, strict=True)
        for number, line in enumerate(draft.lines, start=1)
    ]
    bulkrows.insert_rows(session, Journal, rows)
    bulkrows.insert_tuples(session, JournalLine, _LINE_COLUMNS, lines)
    return ids


def lines_of(session: Session, journal_id: int) -> Sequence[JournalLine]:
    return session.scalars(
        select(JournalLine).where(JournalLine.journal_id == journal_id).order_by(JournalLine.line_number)
    ).all()


def postings_of(session: Session, journal_id: int) -> list[Posting]:
    return [
        Posting(
            line.account,
            debit=Money.from_minor(line.debit_minor, line.currency) if line.debit_minor else None,
            credit=Money.from_minor(line.credit_minor, line.currency) if line.credit_minor else None,
            customer_id=line.customer_id,
            schedule_id=line.schedule_id,
        )
        for line in lines_of(session, journal_id)
    ]


def reversal_of(session: Session, journal_id: int) -> Journal | None:
    """The journal that reverses `journal_id`, if any."""
    return session.scalars(select(Journal).where(Journal.reversal_of_id == journal_id)).first()


def reverse(
    session: Session,
    journal_id: int,
    *,
    accounting_date: date,
    actor: str,
    now: datetime,
    calendar: CalendarConfig,
) -> Journal:
    """Post the reversing journal of `journal_id` (debits and credits swapped), dated `accounting_date`.

    A journal is reversed at most once (DuplicateError); a reversal is not itself reversed
    (post the original again instead). The caller moves the open items back.
    """
    original = session.get(Journal, journal_id)
    if original is None:
        raise NotFoundError("journal", journal_id)
    if original.reversal_of_id is not None:
        raise ValidationError(f"journal {journal_id} is itself a reversal: post the original event again")
    existing = reversal_of(session, journal_id)
    if existing is not None:
        raise DuplicateError(f"journal {journal_id} is already reversed by journal {existing.id}")
    swapped = [
        Posting(
            p.account, debit=p.credit, credit=p.debit, customer_id=p.customer_id, schedule_id=p.schedule_id
        )
        for p in postings_of(session, journal_id)
    ]
    return post(
        session,
        event=f"{original.event}_reversal",
        source_type=original.source_type,
        source_id=original.source_id,
        accounting_date=accounting_date,
        description=f"reversal of journal {original.period}/{original.number}: {original.description}",
        postings=swapped,
        actor=actor,
        now=now,
        calendar=calendar,
        reversal_of_id=original.id,
    )


def journals_of(session: Session, source_type: str, source_id: int) -> Sequence[Journal]:
    return session.scalars(
        select(Journal)
        .where(Journal.source_type == source_type, Journal.source_id == source_id)
        .order_by(Journal.id)
    ).all()


def account_balances(
    session: Session, accounts: Iterable[str] | None = None, *, up_to: date | None = None
) -> Mapping[tuple[str, str], Money]:
    """Balance (debit - credit) per (account, currency), over journals dated up to `up_to`."""
    stmt = (
        select(
            JournalLine.account,
            JournalLine.currency,
            func.coalesce(func.sum(JournalLine.debit_minor - JournalLine.credit_minor), 0),
        )
        .join(Journal, Journal.id == JournalLine.journal_id)
        .group_by(JournalLine.account, JournalLine.currency)
    )
    if accounts is not None:
        stmt = stmt.where(JournalLine.account.in_(list(accounts)))
    if up_to is not None:
        stmt = stmt.where(Journal.accounting_date <= up_to)
    return {
        (account, currency): Money.from_minor(int(units), currency)
        for account, currency, units in session.execute(stmt)
    }


def balance(session: Session, account: str, currency: str, *, up_to: date | None = None) -> Money:
    return account_balances(session, [account], up_to=up_to).get((account, currency), Money.zero(currency))
