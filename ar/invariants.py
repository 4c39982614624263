"""Invariants of the receivables data, checked against the live database (`arbridge check`).

Each invariant is a small registered function yielding the violations it finds, with
the ids involved. Other modules register theirs the same way:

    from ar.invariants import CheckContext, Violation, invariant

    @invariant("receipts_fully_accounted")
    def _receipts(session: Session, ctx: CheckContext) -> Iterator[Violation]:
        ...

They are imported (and so registered) by `load_all()`, which `run()` calls.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from time import perf_counter

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from ar.model import Journal, JournalLine, PaymentSchedule, Period, ScheduleStatus, Transaction, TrxType
from ar.money import Money
from config.ar import ArConfig

#: Modules whose invariants `run` includes (imported lazily; a missing one is skipped).
MODULES = (
    "ar.invariants",
    "ar.applications",
    "ar.adjustments",
    "ar.disputes",
    "ar.receipts",
    "ar.direct_debit",
)
#: At most this many ids are listed per violation message.
MAX_IDS = 20


@dataclass(frozen=True, slots=True)
class CheckContext:
    config: ArConfig

    @property
    def receivables(self) -> str:
        return self.config.ledger.accounts.receivables


@dataclass(frozen=True, slots=True)
class Violation:
    message: str
    ids: tuple[int | str, ...] = ()

    def __str__(self) -> str:
        if not self.ids:
            return self.message
        shown = ", ".join(str(i) for i in self.ids[:MAX_IDS])
        more = f" (+{len(self.ids) - MAX_IDS} more)" if len(self.ids) > MAX_IDS else ""
        return f"{self.message}: {shown}{more}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    violations: tuple[Violation, ...]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations


Check = Callable[[Session, CheckContext], Iterable[Violation]]


@dataclass
class _Registry:
    checks: dict[str, Check] = field(default_factory=dict)


_REGISTRY = _Registry()


def invariant(name: str) -> Callable[[Check], Check]:
    """Register a check under `name` (unique)."""

    def register(fn: Check) -> Check:
        existing = _REGISTRY.checks.get(name)
        if existing is not None and existing is not fn and existing.__qualname__ != fn.__qualname__:
            raise ValueError(f"invariant {name!r} is registered twice")
        _REGISTRY.checks[name] = fn
        return fn

    return register


def registered() -> Sequence[str]:
    return sorted(_REGISTRY.checks)


def load_all() -> None:
    for module in MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def run(session: Session, ctx: CheckContext, names: Iterable[str] | None = None) -> list[CheckResult]:
    load_all()
    wanted = list(names) if names is not None else registered()
    results = []
    for name in wanted:
        check = _REGISTRY.checks[name]
        started = perf_counter()
        violations = tuple(check(session, ctx))
        results.append(CheckResult(name, violations, perf_counter() - started))
    return results


# --------------------------------------------------------------------------- the ledger's own
@invariant("journals_balance")
def journals_balance(session: Session, ctx: CheckContext) -> Iterator[Violation]:
    """Every journal has lines, and debits equal credits in each of its currencies."""
    unbalanced = session.execute(
        select(JournalLine.journal_id, JournalLine.currency)
        .group_by(JournalLine.journal_id, JournalLine.currency)
        .having(func.sum(JournalLine.debit_minor) != func.sum(JournalLine.credit_minor))
        .order_by(JournalLine.journal_id)
    ).all()
    if unbalanced:
        yield Violation("journals whose debits differ from their credits", tuple(j for j, _ in unbalanced))
    empty = session.scalars(
        select(Journal.id)
        .outerjoin(JournalLine, JournalLine.journal_id == Journal.id)
        .where(JournalLine.id.is_(None))
        .order_by(Journal.id)
    ).all()
    if empty:
        yield Violation("journals without lines", tuple(empty))


@invariant("open_items_equal_receivables")
def open_items_equal_receivables(session: Session, ctx: CheckContext) -> Iterator[Violation]:
    """Per currency, the open items' remaining amounts add up to the receivables control balance."""
    subledger = dict(
        session.execute(
            select(PaymentSchedule.currency, func.sum(PaymentSchedule.amount_due_remaining_minor)).group_by(
                PaymentSchedule.currency
            )
        ).all()
    )
    gl = dict(
        session.execute(
            select(JournalLine.currency, func.sum(JournalLine.debit_minor - JournalLine.credit_minor))
            .where(JournalLine.account == ctx.receivables)
            .group_by(JournalLine.currency)
        ).all()
    )
    for currency in sorted(set(subledger) | set(gl)):
        open_items, balance = int(subledger.get(currency) or 0), int(gl.get(currency) or 0)
        if open_items != balance:
            yield Violation(
                f"{currency}: open items {Money.from_minor(open_items, currency).format()} but receivables "
                f"account {ctx.receivables} {Money.from_minor(balance, currency).format()}"
            )


@invariant("open_items_match_their_ledger_lines")
def open_items_match_their_lines(session: Session, ctx: CheckContext) -> Iterator[Violation]:
    """Each open item's remaining amount equals the net of the receivables lines that moved it."""
    moved = (
        select(
            JournalLine.schedule_id.label("schedule_id"),
            func.sum(JournalLine.debit_minor - JournalLine.credit_minor).label("net"),
        )
        .where(JournalLine.account == ctx.receivables, JournalLine.schedule_id.is_not(None))
        .group_by(JournalLine.schedule_id)
        .subquery()
    )
    off = session.scalars(
        select(PaymentSchedule.id)
        .outerjoin(moved, moved.c.schedule_id == PaymentSchedule.id)
        .where(PaymentSchedule.amount_due_remaining_minor != func.coalesce(moved.c.net, 0))
        .order_by(PaymentSchedule.id)
    ).all()
    if off:
        yield Violation("open items whose remaining amount differs from their receivables lines", tuple(off))
    unlinked = session.scalars(
        select(JournalLine.journal_id)
        .where(JournalLine.account == ctx.receivables, JournalLine.schedule_id.is_(None))
        .distinct()
        .order_by(JournalLine.journal_id)
    ).all()
    if unlinked:
        yield Violation("journals moving receivables without naming the open item", tuple(unlinked))


@invariant("open_items_within_bounds")
def open_items_within_bounds(session: Session, ctx: CheckContext) -> Iterator[Violation]:
    """Invoices/debit memos: 0 <= remaining <= original; credit memos: original <= remaining <= 0;
    closed exactly when nothing remains."""
    ps = PaymentSchedule
    is_credit = ps.trx_type == TrxType.CREDIT_MEMO.value
    bad = session.scalars(
        select(ps.id)
        .where(
            or_(
                and_(
                    ~is_credit,
                    or_(
                        ps.amount_due_remaining_minor < 0,
                        ps.amount_due_remaining_minor > ps.amount_due_original_minor,
                    ),
                ),
                and_(
                    is_credit,
                    or_(
                        ps.amount_due_remaining_minor > 0,
                        ps.amount_due_remaining_minor < ps.amount_due_original_minor,
                    ),
                ),
            )
        )
        .order_by(ps.id)
    ).all()
    if bad:
        yield Violation("open items outside [0, original] (credit memos [original, 0])", tuple(bad))
    status = session.scalars(
        select(ps.id)
        .where(
            case(
                (ps.amount_due_remaining_minor == 0, ps.status != ScheduleStatus.CLOSED.value),
                else_=ps.status != ScheduleStatus.OPEN.value,
            )
        )
        .order_by(ps.id)
    ).all()
    if status:
        yield Violation("open items whose status does not match their remaining amount", tuple(status))


@invariant("transactions_posted")
def transactions_posted(session: Session, ctx: CheckContext) -> Iterator[Violation]:
    """Every transaction has its journal, and its open items add up to its total."""
    missing = session.scalars(
        select(Transaction.id)
        .outerjoin(Journal, and_(Journal.source_type == "transaction", Journal.source_id == Transaction.id))
        .where(Journal.id.is_(None))
        .order_by(Transaction.id)
    ).all()
    if missing:
        yield Violation("transactions without a journal", tuple(missing))
    totals = (
        select(
            PaymentSchedule.transaction_id,
            func.sum(PaymentSchedule.amount_due_original_minor).label("original"),
        )
        .group_by(PaymentSchedule.transaction_id)
        .subquery()
    )
    off = session.scalars(
        select(Transaction.id)
        .outerjoin(totals, totals.c.transaction_id == Transaction.id)
        .where(func.coalesce(totals.c.original, 0) != Transaction.total_minor)
        .order_by(Transaction.id)
    ).all()
    if off:
        yield Violation("transactions whose open items do not add up to their total", tuple(off))


@invariant("journal_numbers_gap_free")
def journal_numbers_gap_free(session: Session, ctx: CheckContext) -> Iterator[Violation]:
    """Per period, journal numbers run 1..n without gaps and the period's counter is n + 1."""
    stats = session.execute(
        select(
            Period.name,
            Period.next_journal_number,
            func.count(Journal.id),
            func.coalesce(func.min(Journal.number), 1),
            func.coalesce(func.max(Journal.number), 0),
        )
        .outerjoin(Journal, Journal.period == Period.name)
        .group_by(Period.name, Period.next_journal_number)
        .order_by(Period.name)
    ).all()
    bad = [
        name
        for name, next_number, count, low, high in stats
        if count != high or (count and low != 1) or next_number != high + 1
    ]
    if bad:
        yield Violation("periods whose journal numbers have gaps", tuple(bad))
