"""Reports (aging, statement, reconcile, trial balance) and the period close that ties them out.

Aging as of a date: the open items of transactions dated (GL date) up to that date, each
with what remained on that date — today's remaining amount with the receivables
movements dated after it rolled back (they all name their open item, `schedule_id`).
Days past due = as-of date - due date; buckets from reports.yaml.

Reconcile: per currency, the open items against the receivables control account, and
the events not posted. The period close refuses while anything is unposted, adjustments
wait for approval, or the aging at the period's end differs from the GL balance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ar import ledger, periods
from ar.customers import get as get_customer
from ar.errors import PeriodCloseRefused
from ar.model import Customer, Journal, JournalLine, PaymentSchedule, Period, PeriodState, Transaction
from ar.money import Money
from config.ar import ArConfig


# --------------------------------------------------------------------------- unposted events
@dataclass(frozen=True, slots=True)
class UnpostedEvent:
    kind: str
    id: int
    on: date
    description: str


UnpostedSource = Callable[[Session, date | None], Sequence[UnpostedEvent]]
_UNPOSTED: dict[str, UnpostedSource] = {}


def unposted_source(name: str) -> Callable[[UnpostedSource], UnpostedSource]:
    """Register a query of events (dated up to the given date) that should have a journal and have none."""

    def register(fn: UnpostedSource) -> UnpostedSource:
        _UNPOSTED[name] = fn
        return fn

    return register


@unposted_source("transactions")
def _unposted_transactions(session: Session, up_to: date | None) -> Sequence[UnpostedEvent]:
    stmt = (
        select(Transaction.id, Transaction.gl_date, Transaction.trx_type, Transaction.trx_number)
        .outerjoin(Journal, and_(Journal.source_type == "transaction", Journal.source_id == Transaction.id))
        .where(Journal.id.is_(None))
        .order_by(Transaction.id)
    )
    if up_to is not None:
        stmt = stmt.where(Transaction.gl_date <= up_to)
    return [UnpostedEvent("transaction", i, d, f"{t} {n}") for i, d, t, n in session.execute(stmt)]


def unposted_events(session: Session, up_to: date | None = None) -> list[UnpostedEvent]:
    from ar.invariants import load_all  # registers the other modules' sources too

    load_all()
    events: list[UnpostedEvent] = []
    for name in sorted(_UNPOSTED):
        events.extend(_UNPOSTED[name](session, up_to))
    return events


# --------------------------------------------------------------------------- aging
@dataclass(frozen=True, slots=True)
class AgingItem:
    schedule_id: int
    customer_number: str
    customer_name: str
    trx_type: str
    trx_number: str
    installment: int
    trx_date: date
    due_date: date
    days_past_due: int
    bucket: str
    remaining: Money
    in_dispute: Money


@dataclass(frozen=True, slots=True)
class AgingRow:
    customer_number: str
    customer_name: str
    currency: str
    buckets: dict[str, Money]
    total: Money


@dataclass(frozen=True, slots=True)
class AgingReport:
    as_of: date
    bucket_names: tuple[str, ...]
    rows: tuple[AgingRow, ...]
    totals: dict[str, Money]


def aging_items(
    session: Session, config: ArConfig, as_of: date, *, customer_id: int | None = None
) -> Iterator[AgingItem]:
    """The open items as of `as_of` (remaining not zero on that date)."""
    receivables = config.ledger.accounts.receivables
    later = (
        select(
            JournalLine.schedule_id.label("schedule_id"),
            func.sum(JournalLine.debit_minor - JournalLine.credit_minor).label("net"),
        )
        .join(Journal, Journal.id == JournalLine.journal_id)
        .where(
            JournalLine.account == receivables,
            JournalLine.schedule_id.is_not(None),
            Journal.accounting_date > as_of,
        )
        .group_by(JournalLine.schedule_id)
        .subquery()
    )
    ps = PaymentSchedule
    remaining = ps.amount_due_remaining_minor - func.coalesce(later.c.net, 0)
    stmt = (
        select(ps, Customer.number, Customer.name, remaining.label("remaining"))
        .join(Transaction, Transaction.id == ps.transaction_id)
        .join(Customer, Customer.id == ps.customer_id)
        .outerjoin(later, later.c.schedule_id == ps.id)
        .where(Transaction.gl_date <= as_of, remaining != 0)
        .order_by(Customer.number, ps.due_date, ps.id)
    )
    if customer_id is not None:
        stmt = stmt.where(ps.customer_id == customer_id)
    for item, number, name, left in session.execute(stmt.execution_options(yield_per=2000)):
        days = (as_of - item.due_date).days
        yield AgingItem(
            schedule_id=item.id,
            customer_number=number,
            customer_name=name,
            trx_type=item.trx_type,
            trx_number=item.trx_number,
            installment=item.installment,
            trx_date=item.trx_date,
            due_date=item.due_date,
            days_past_due=days,
            bucket=config.reports.bucket(days),
            remaining=Money.from_minor(int(left), item.currency),
            in_dispute=Money.from_minor(item.amount_in_dispute_minor, item.currency),
        )


def aging(session: Session, config: ArConfig, as_of: date) -> AgingReport:
    names = tuple(b.name for b in config.reports.aging_buckets)
    per: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    who: dict[str, str] = {}
    for item in aging_items(session, config, as_of):
        who[item.customer_number] = item.customer_name
        per[(item.customer_number, item.remaining.currency)][item.bucket] += item.remaining.minor_units
    rows = []
    totals: dict[str, int] = defaultdict(int)
    for (number, currency), buckets in sorted(per.items()):
        amounts = {n: Money.from_minor(buckets.get(n, 0), currency) for n in names}
        total = sum(buckets.values())
        totals[currency] += total
        rows.append(AgingRow(number, who[number], currency, amounts, Money.from_minor(total, currency)))
    return AgingReport(
        as_of, names, tuple(rows), {c: Money.from_minor(v, c) for c, v in sorted(totals.items())}
    )


# --------------------------------------------------------------------------- statement
@dataclass(frozen=True, slots=True)
class Statement:
    customer_number: str
    customer_name: str
    as_of: date
    items: tuple[AgingItem, ...]
    totals: dict[str, Money]


def statement(session: Session, config: ArConfig, customer_number: str, as_of: date) -> Statement:
    customer = get_customer(session, customer_number)
    items = tuple(aging_items(session, config, as_of, customer_id=customer.id))
    totals: dict[str, Money] = {}
    for item in items:
        cur = item.remaining.currency
        totals[cur] = totals.get(cur, Money.zero(cur)) + item.remaining
    return Statement(customer.number, customer.name, as_of, items, dict(sorted(totals.items())))


# --------------------------------------------------------------------------- reconcile
@dataclass(frozen=True, slots=True)
class ReconcileRow:
    currency: str
    open_items: Money
    gl_balance: Money

    @property
    def difference(self) -> Money:
        return self.open_items - self.gl_balance


@dataclass(frozen=True, slots=True)
class Reconciliation:
    as_of: date | None
    account: str
    rows: tuple[ReconcileRow, ...]
    unposted: tuple[UnpostedEvent, ...]

    @property
    def ok(self) -> bool:
        return not self.unposted and all(r.difference.is_zero() for r in self.rows)


def reconcile(session: Session, config: ArConfig, as_of: date | None = None) -> Reconciliation:
    """Open items (aging total) per currency against the receivables control balance, up to `as_of`."""
    account = config.ledger.accounts.receivables
    if as_of is None:
        sub = dict(
            session.execute(
                select(
                    PaymentSchedule.currency, func.sum(PaymentSchedule.amount_due_remaining_minor)
                ).group_by(PaymentSchedule.currency)
            ).all()
        )
        subledger = {c: Money.from_minor(int(v or 0), c) for c, v in sub.items()}
    else:
        subledger = dict(aging(session, config, as_of).totals)
    gl = {cur: m for (acc, cur), m in ledger.account_balances(session, [account], up_to=as_of).items()}
    rows = tuple(
        ReconcileRow(c, subledger.get(c, Money.zero(c)), gl.get(c, Money.zero(c)))
        for c in sorted(set(subledger) | set(gl))
    )
    return Reconciliation(as_of, account, rows, tuple(unposted_events(session, as_of)))


# --------------------------------------------------------------------------- trial balance
@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    account: str
    currency: str
    debit: Money
    credit: Money

    @property
    def balance(self) -> Money:
        return self.debit - self.credit


def trial_balance(
    session: Session, *, period: str | None = None, up_to: date | None = None
) -> tuple[TrialBalanceRow, ...]:
    """Debits and credits per account and currency: of one period, or of everything up to a date."""
    stmt = (
        select(
            JournalLine.account,
            JournalLine.currency,
            func.coalesce(func.sum(JournalLine.debit_minor), 0),
            func.coalesce(func.sum(JournalLine.credit_minor), 0),
        )
        .join(Journal, Journal.id == JournalLine.journal_id)
        .group_by(JournalLine.account, JournalLine.currency)
        .order_by(JournalLine.account, JournalLine.currency)
    )
    if period is not None:
        stmt = stmt.where(Journal.period == period)
    if up_to is not None:
        stmt = stmt.where(Journal.accounting_date <= up_to)
    return tuple(
        TrialBalanceRow(a, c, Money.from_minor(int(d), c), Money.from_minor(int(k), c))
        for a, c, d, k in session.execute(stmt)
    )


# --------------------------------------------------------------------------- period close
@dataclass(frozen=True, slots=True)
class OpenReceipt:
    id: int
    status: str
    receipt_date: date
    amount: Money
    payer: str | None


@dataclass(frozen=True, slots=True)
class CloseReport:
    period: str
    start: date
    end: date
    state: str
    reconciliation: Reconciliation
    pending_adjustments: int | None
    #: Unapplied and unidentified receipts dated in or before the period (listed, not blocking).
    open_receipts: tuple[OpenReceipt, ...] = field(default_factory=tuple)

    @property
    def problems(self) -> list[str]:
        out = [
            f"{r.currency}: aging {r.open_items.format()} but GL {self.reconciliation.account} "
            f"{r.gl_balance.format()} (difference {r.difference.format()})"
            for r in self.reconciliation.rows
            if not r.difference.is_zero()
        ]
        if self.reconciliation.unposted:
            out.append(f"{len(self.reconciliation.unposted)} events are not posted")
        if self.pending_adjustments:
            out.append(f"{self.pending_adjustments} adjustments wait for approval")
        return out


class CloseRefused(PeriodCloseRefused):
    """The close checks failed; `report` says which."""

    def __init__(self, report: CloseReport) -> None:
        self.report = report
        super().__init__(f"period {report.period} not closed: " + "; ".join(report.problems))


def pending_adjustments(session: Session, period_name: str) -> int | None:
    """Adjustments of the period waiting for approval (ar.adjustments.pending_count); None
    when that module is not installed."""
    try:
        from ar import adjustments
    except ImportError:  # pragma: no cover - the adjustments module ships with the core
        return None
    count: Callable[[Session, str], int] | None = getattr(adjustments, "pending_count", None)
    return None if count is None else count(session, period_name)


def open_receipts(session: Session, up_to: date) -> tuple[OpenReceipt, ...]:
    from ar.receipts import Receipt, ReceiptStatus

    stmt = (
        select(Receipt)
        .where(
            Receipt.status.in_([ReceiptStatus.UNAPPLIED.value, ReceiptStatus.UNIDENTIFIED.value]),
            Receipt.receipt_date <= up_to,
        )
        .order_by(Receipt.receipt_date, Receipt.id)
    )
    return tuple(
        OpenReceipt(r.id, r.status, r.receipt_date, r.amount, r.payer_name) for r in session.scalars(stmt)
    )


def close_report(session: Session, config: ArConfig, name: str) -> CloseReport:
    span = periods.span_named(name, config.calendar)
    period = periods.ensure(session, span, config.calendar, lock=True)
    return CloseReport(
        period=period.name,
        start=period.start_date,
        end=period.end_date,
        state=period.state,
        reconciliation=reconcile(session, config, as_of=period.end_date),
        pending_adjustments=pending_adjustments(session, period.name),
        open_receipts=open_receipts(session, period.end_date),
    )


def close_period(
    session: Session, config: ArConfig, name: str, *, actor: str, now: datetime, pending: bool = False
) -> CloseReport:
    """Close `name` (or, with `pending`, set it close pending: no posting, still reopenable).

    Refuses (PeriodCloseRefused, carrying the report as `.report`) while events are
    unposted, adjustments wait for approval, or the aging at the period's end differs from
    the receivables control balance.
    """
    report = close_report(session, config, name)
    target = PeriodState.CLOSE_PENDING if pending else PeriodState.CLOSED
    if not pending and report.problems:
        raise CloseRefused(report)
    period = periods.set_state(session, name, target, calendar=config.calendar, actor=actor, now=now)
    return CloseReport(
        period.name,
        period.start_date,
        period.end_date,
        period.state,
        report.reconciliation,
        report.pending_adjustments,
        report.open_receipts,
    )


def period_rows(session: Session) -> list[dict[str, object]]:
    counts = dict(
        session.execute(select(Journal.period, func.count(Journal.id)).group_by(Journal.period)).all()
    )
    return [
        {
            "period": p.name,
            "start": p.start_date,
            "end": p.end_date,
            "state": p.state,
            "journals": int(counts.get(p.name, 0)),
            "closed_at": p.closed_at,
            "closed_by": p.closed_by,
        }
        for p in session.scalars(select(Period).order_by(Period.start_date))
    ]
