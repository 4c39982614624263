"""Accounting periods: the calendar (config/ar.py CalendarConfig) and the period states.

States (Oracle Receivables' period statuses): ``future`` (defined, nothing posts yet),
``open`` (posting allowed), ``close_pending`` (no posting; being reconciled),
``closed``. Periods are created on first use from the calendar.

>>> from config.ar import CalendarConfig
>>> span_of(date(2026, 11, 17), CalendarConfig())
PeriodSpan(name='2026-11', start=datetime.date(2026, 11, 1), end=datetime.date(2026, 11, 30))
>>> span_of(date(2026, 11, 17), CalendarConfig(type="quarterly")).name
'2026-Q4'
"""

from __future__ import annotations

import calendar as _cal
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ar import audit
from ar.errors import NotFoundError, PeriodClosedError, ValidationError
from ar.model import Period, PeriodState
from config.ar import CalendarConfig, CalendarType

#: How far `post_to_next_open_period` looks ahead for an open period.
MAX_PERIODS_AHEAD = 36
POSTABLE = frozenset({PeriodState.OPEN.value})


@dataclass(frozen=True, slots=True)
class PeriodSpan:
    name: str
    start: date
    end: date


def span_of(day: date, calendar: CalendarConfig) -> PeriodSpan:
    """The calendar period containing `day`; ValidationError when an explicit calendar does not cover it."""
    if calendar.periods:
        for p in calendar.periods:
            if p.start <= day <= p.end:
                return PeriodSpan(p.name, p.start, p.end)
        raise ValidationError(f"{day.isoformat()} is in no period of calendar.yaml")
    if calendar.type is CalendarType.QUARTERLY:
        quarter = (day.month - 1) // 3
        start = date(day.year, quarter * 3 + 1, 1)
        end_month = quarter * 3 + 3
        end = date(day.year, end_month, _cal.monthrange(day.year, end_month)[1])
        return PeriodSpan(f"{day.year}-Q{quarter + 1}", start, end)
    start = day.replace(day=1)
    end = day.replace(day=_cal.monthrange(day.year, day.month)[1])
    return PeriodSpan(f"{day.year}-{day.month:02d}", start, end)


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def span_named(name: str, calendar: CalendarConfig) -> PeriodSpan:
    """The calendar period called `name` ("2026-11", "2026-Q4" or an explicit period's name)."""
    if calendar.periods:
        for p in calendar.periods:
            if p.name == name:
                return PeriodSpan(p.name, p.start, p.end)
        raise NotFoundError("period", name)
    pattern = _QUARTER if calendar.type is CalendarType.QUARTERLY else _MONTH
    match = pattern.match(name)
    if not match or not (1 <= int(match.group(2)) <= 12):
        example = "2026-Q4" if calendar.type is CalendarType.QUARTERLY else "2026-11"
        raise ValidationError(f"period {name!r}: expected a name like {example}")
    year, part = int(match.group(1)), int(match.group(2))
    month = (part - 1) * 3 + 1 if calendar.type is CalendarType.QUARTERLY else part
    return span_of(date(year, month, 1), calendar)


def next_span(span: PeriodSpan, calendar: CalendarConfig) -> PeriodSpan:
    return span_of(span.end + timedelta(days=1), calendar)


def ensure(session: Session, span: PeriodSpan, calendar: CalendarConfig, *, lock: bool = False) -> Period:
    """The period row of `span`, created in the calendar's new-period state when missing.

    With `lock`, the row is locked (SELECT ... FOR UPDATE on PostgreSQL) for the rest of
    the transaction: that is what serialises journal numbering. Two workers creating the
    same period race on the primary key; the loser reads the winner's row.
    """
    stmt = select(Period).where(Period.name == span.name)
    if lock:
        stmt = stmt.with_for_update()
    period = session.scalars(stmt).one_or_none()
    if period is not None:
        return period
    dialect = session.get_bind().dialect.name
    values = {
        "name": span.name,
        "start_date": span.start,
        "end_date": span.end,
        "state": calendar.new_period_state,
        "next_journal_number": 1,
    }
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(Period).values(**values).on_conflict_do_nothing(index_elements=["name"]))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(
            sqlite_insert(Period).values(**values).on_conflict_do_nothing(index_elements=["name"])
        )
    return session.scalars(stmt.execution_options(populate_existing=True)).one()


def postable_period(
    session: Session, accounting_date: date, calendar: CalendarConfig, *, lock: bool = True
) -> tuple[Period, date, str | None]:
    """The locked period a journal dated `accounting_date` posts into (not locked without `lock`:
    a read-only look ahead, which the posting itself repeats with the lock).

    Returns (period, accounting date, note): when the date's period is not open and the
    calendar says `post_to_next_open_period`, the next open period, its first day and a
    note saying so; otherwise PeriodClosedError.
    """
    span = span_of(accounting_date, calendar)
    period = ensure(session, span, calendar, lock=lock)
    if period.state in POSTABLE:
        return period, accounting_date, None
    if not calendar.post_to_next_open_period:
        raise PeriodClosedError(period.name, f"posting ({period.state.replace('_', ' ')})")
    original, original_state = period.name, period.state.replace("_", " ")
    for _ in range(MAX_PERIODS_AHEAD):
        span = next_span(span, calendar)
        period = ensure(session, span, calendar, lock=lock)
        if period.state in POSTABLE:
            return period, span.start, f"moved from {original_state} period {original}"
    raise PeriodClosedError(original, f"posting (no open period within {MAX_PERIODS_AHEAD} periods after it)")


def get(session: Session, name: str) -> Period:
    period = session.get(Period, name)
    if period is None:
        raise NotFoundError("period", name)
    return period


def list_periods(session: Session) -> Sequence[Period]:
    return session.scalars(select(Period).order_by(Period.start_date)).all()


def set_state(
    session: Session,
    name: str,
    state: PeriodState,
    *,
    calendar: CalendarConfig,
    actor: str,
    now: datetime,
) -> Period:
    """Move a period to `state` (creating it from the calendar when missing), audited.

    Closing goes through `ar.close.close_period`, which runs the checks first; this is the
    state change itself.
    """
    span = span_named(name, calendar)
    period = ensure(session, span, calendar, lock=True)
    before = period.state
    if before == state.value:
        return period
    period.state = state.value
    if state is PeriodState.CLOSED:
        period.closed_at, period.closed_by = now, actor
    else:
        period.closed_at, period.closed_by = None, None
    audit.record(
        session,
        actor=actor,
        entity="period",
        entity_id=period.name,
        action=state.value,
        details={"state": [before, state.value]},
        at=now,
    )
    session.flush()
    return period
