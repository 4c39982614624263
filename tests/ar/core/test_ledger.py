"""The ledger: balanced journals, gap-free numbers per period, closed periods, reversal, immutability."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ar import ledger, periods
from ar.errors import DuplicateError, PeriodClosedError, UnbalancedJournalError, ValidationError
from ar.ledger import Posting
from ar.model import Journal, JournalLine, PeriodState
from ar.money import Money
from config.ar import CalendarConfig
from gateway.db import session_factory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CAL = CalendarConfig()


def eur(value: str) -> Money:
    return Money.of(value, "EUR")


def _post(session: Session, day: date, amount: str = "100.00", cal: CalendarConfig = CAL) -> Journal:
    return ledger.post(
        session,
        event="invoice",
        source_type="transaction",
        source_id=1,
        accounting_date=day,
        description="test",
        postings=[Posting("1200", debit=eur(amount)), Posting("4000", credit=eur(amount))],
        actor="tester",
        now=NOW,
        calendar=cal,
    )


@pytest.mark.parametrize(
    ("postings", "message"),
    [
        ([], "at least one"),
        ([Posting("1200", debit=Money.of("10", "EUR"))], "debits exceed credits by 10.00 EUR"),
        (
            [Posting("1200", debit=Money.of("10", "EUR")), Posting("4000", credit=Money.of("9.99", "EUR"))],
            "by 0.01 EUR",
        ),
        (
            [Posting("1200", debit=Money.of("10", "EUR")), Posting("4000", credit=Money.of("10", "USD"))],
            "unbalanced",
        ),
    ],
)
def test_unbalanced_refused(postings: list[Posting], message: str) -> None:
    with pytest.raises(UnbalancedJournalError, match=message):
        ledger.check_balanced(postings)


def test_multi_currency_balanced_per_currency() -> None:
    ledger.check_balanced(
        [
            Posting("1200", debit=eur("10")),
            Posting("4000", credit=eur("10")),
            Posting("1200", debit=Money.of("7", "USD")),
            Posting("4000", credit=Money.of("7", "USD")),
        ]
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"debit": Money.of("1", "EUR"), "credit": Money.of("1", "EUR")},
        {"debit": Money.of("0", "EUR")},
        {"credit": Money.of("-1", "EUR")},
    ],
)
def test_posting_needs_one_positive_side(kwargs: dict[str, Money]) -> None:
    with pytest.raises(ValidationError):
        Posting("1200", **kwargs)


def test_post_numbers_gap_free_per_period(session: Session) -> None:
    first, second = _post(session, date(2026, 11, 3)), _post(session, date(2026, 11, 1))
    assert [(first.period, first.number), (second.period, second.number)] == [("2026-11", 1), ("2026-11", 2)]
    third = _post(session, date(2026, 11, 30))
    december = _post(session, date(2026, 12, 1))
    assert (third.period, third.number) == ("2026-11", 3)
    assert (december.period, december.number) == ("2026-12", 1)
    lines = session.scalars(select(JournalLine).where(JournalLine.journal_id == third.id)).all()
    assert [(x.account, x.debit_minor, x.credit_minor) for x in lines] == [
        ("1200", 10000, 0),
        ("4000", 0, 10000),
    ]
    assert ledger.balance(session, "1200", "EUR") == eur("400.00")
    assert ledger.balance(session, "1200", "EUR", up_to=date(2026, 11, 30)) == eur("300.00")


def test_closed_period_refused_or_moved(session: Session) -> None:
    _post(session, date(2026, 10, 5))
    periods.set_state(session, "2026-10", PeriodState.CLOSED, calendar=CAL, actor="t", now=NOW)
    with pytest.raises(PeriodClosedError, match="2026-10"):
        _post(session, date(2026, 10, 20))
    moving = CalendarConfig(post_to_next_open_period=True)
    periods.set_state(session, "2026-11", PeriodState.CLOSE_PENDING, calendar=CAL, actor="t", now=NOW)
    moved = _post(session, date(2026, 10, 20), cal=moving)
    assert (moved.period, moved.accounting_date) == ("2026-12", date(2026, 12, 1))
    assert "moved from closed period 2026-10" in moved.description


def test_future_period_refused_until_opened(session: Session) -> None:
    future = CalendarConfig(new_period_state="future")
    with pytest.raises(PeriodClosedError, match="future"):
        _post(session, date(2027, 1, 5), cal=future)
    periods.set_state(session, "2027-01", PeriodState.OPEN, calendar=future, actor="t", now=NOW)
    assert _post(session, date(2027, 1, 5), cal=future).number == 1


def test_reverse_swaps_and_only_once(session: Session) -> None:
    journal = _post(session, date(2026, 11, 3), "12.34")
    reversal = ledger.reverse(
        session, journal.id, accounting_date=date(2026, 11, 4), actor="t", now=NOW, calendar=CAL
    )
    assert reversal.reversal_of_id == journal.id
    assert [(p.account, p.debit, p.credit) for p in ledger.postings_of(session, reversal.id)] == [
        ("1200", None, eur("12.34")),
        ("4000", eur("12.34"), None),
    ]
    assert ledger.balance(session, "1200", "EUR").is_zero()
    with pytest.raises(DuplicateError):
        ledger.reverse(
            session, journal.id, accounting_date=date(2026, 11, 4), actor="t", now=NOW, calendar=CAL
        )
    with pytest.raises(ValidationError):
        ledger.reverse(
            session, reversal.id, accounting_date=date(2026, 11, 4), actor="t", now=NOW, calendar=CAL
        )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal_lines SET debit_minor = debit_minor + 1",
        "DELETE FROM journal_lines",
        "UPDATE journals SET description = 'edited'",
        "DELETE FROM journals",
    ],
)
def test_database_refuses_editing_posted_journals(engine: Engine, statement: str) -> None:
    factory = session_factory(engine)
    with factory() as session, session.begin():
        _post(session, date(2026, 11, 3))
    with factory() as session, session.begin(), pytest.raises(DBAPIError, match="immutable"):
        session.execute(text(statement))
    with factory() as session:
        assert session.scalar(select(JournalLine.debit_minor).where(JournalLine.line_number == 1)) == 10000


@pytest.mark.postgres
def test_postgres_refuses_unbalanced_commit(postgres_url: str) -> None:
    from gateway.db import make_engine, upgrade

    engine = make_engine(postgres_url)
    upgrade(engine)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        journal = _post(session, date(2026, 11, 3))
    # A line slipped in behind the ledger's back: the deferred trigger refuses the commit.
    with pytest.raises(DBAPIError, match="does not balance"), factory() as session, session.begin():
        session.add(
            JournalLine(journal_id=journal.id, line_number=9, account="1200", debit_minor=1, currency="EUR")
        )
    engine.dispose()
