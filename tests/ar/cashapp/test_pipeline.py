"""The pipelined match run (a planner process plans while this one writes) against the run in
one process, on SQLite and PostgreSQL: on the same generated ledgers, in batches small enough
that plans are made on top of plans not yet written, both leave the same books, decisions,
recommendations and audit trail. A planner that fails, and a batch not written as planned,
hand the rest of the run back to this process, which finishes it and says why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import InternalError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ar.applications import Setup
from ar.cashapp import bulk
from ar.cashapp.indexes import index_customer_names, index_open_items
from ar.cashapp.run import CashApplication, RunSummary, run_batches
from ar.model import PaymentSchedule
from gateway import match_pipeline
from gateway.db import make_engine, session_factory, upgrade
from gateway.match_pipeline import Planner
from tests.ar.applications.conftest import assert_books_agree
from tests.ar.cashapp.conftest import Books
from tests.ar.cashapp.test_bulk import _generated_world, _world, snapshot
from tests.ar.factories import NOW


def fixed_now() -> datetime:
    """The run's clock (module level: the planner process gets it by reference)."""
    return NOW


_ENGINES: list[Engine] = []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_urls(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[str, str]]:
    """Two empty databases of one backend: one for each way of running (the engines the test
    opens on them are disposed after it)."""
    try:
        if request.param == "sqlite":
            yield f"sqlite:///{tmp_path / 'a.sqlite'}", f"sqlite:///{tmp_path / 'b.sqlite'}"
            return
        cluster = request.getfixturevalue("postgres_cluster")
        urls = (cluster.create_database("pipe"), cluster.create_database("pipe"))
        try:
            yield urls
        finally:
            _dispose()
            for url in urls:
                cluster.drop_database(url)
    finally:
        _dispose()


def _dispose() -> None:
    while _ENGINES:
        _ENGINES.pop().dispose()


def _engine(url: str, **kwargs: Any) -> Engine:
    engine = make_engine(url, **kwargs)
    _ENGINES.append(engine)
    return engine


def _ledger(url: str, setup: Setup, seed: int, *, indexed: bool = True) -> sessionmaker[Session]:
    """A committed ledger drawn from ``seed`` (the same for the same seed) in the database at url;
    ``indexed``: its items have their reference keys and its customers their name tokens, as the
    imports give them (else the run's catch-up gives them)."""
    engine = _engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        books = Books(session, config=setup.ar)
        _world(books, setup)
        _generated_world(books, seed)
    if indexed:
        with sessions() as session, session.begin():
            assert index_open_items(session) > 0 and index_customer_names(session) > 0
    return sessions


def _books(sessions: sessionmaker[Session], setup: Setup) -> dict[str, Any]:
    with sessions() as session, session.begin():
        assert_books_agree(session, setup)
        return snapshot(session)


def _summary(summary: RunSummary) -> dict[str, Any]:
    return summary.as_dict() | {"timing": None}


def _pipelined(
    sessions: sessionmaker[Session], cashapp: CashApplication, batch_size: int, url: str | None = None
) -> RunSummary:
    planner = Planner(sessions, cashapp, url or match_pipeline.database_url(sessions) or "", now=fixed_now)
    try:
        return run_batches(sessions, cashapp, now=fixed_now, batch_size=batch_size, runner=planner)
    finally:
        planner.close()


@pytest.mark.parametrize(("seed", "batch_size"), [(1, 4), (2, 3), (3, 7)])
def test_the_pipelined_run_leaves_the_books_of_the_run_in_one_process(
    two_urls: tuple[str, str], setup: Setup, cashapp: CashApplication, seed: int, batch_size: int
) -> None:
    alone, pipelined = (_ledger(url, setup, seed) for url in two_urls)
    expected = run_batches(alone, cashapp, now=fixed_now, batch_size=batch_size)
    got = _pipelined(pipelined, cashapp, batch_size)
    assert expected.receipts >= 50 and expected.applications >= 20
    assert got.fallbacks == expected.fallbacks == []
    assert _summary(got) == _summary(expected)
    before, after = _books(alone, setup), _books(pipelined, setup)
    for part in before:
        assert after[part] == before[part], part
    # a second run (pipelined again) finds nothing left to apply
    again = _pipelined(pipelined, cashapp, batch_size)
    assert again.applications == 0
    assert _books(pipelined, setup)["applications"] == after["applications"]


#: an open item that lost its keys, and a customer renamed (its tokens no longer current)
_UNINDEXED = (
    "DELETE FROM item_reference_keys WHERE schedule_id = "
    "(SELECT max(id) FROM payment_schedules WHERE status = 'OP')"
)
_RENAMED = "UPDATE customers SET name = name || ' (renamed)' WHERE id = (SELECT min(id) FROM customers)"


@pytest.mark.parametrize("missing", ["keys", "names"])
def test_a_catch_up_of_the_indexes_cancels_the_planner(
    two_urls: tuple[str, str], setup: Setup, cashapp: CashApplication, missing: str
) -> None:
    """The planner starts before the run's catch-up of the indexes: when that catch-up gives an
    item its keys or a customer its name tokens, what the planner read may lack them, so the
    run is decided in this process, and says why."""
    alone, pipelined = (_ledger(url, setup, 4) for url in two_urls)
    with pipelined() as session, session.begin():
        session.execute(text(_UNINDEXED if missing == "keys" else _RENAMED))
    with alone() as session, session.begin():
        if missing == "names":  # the same renaming, indexed before the run
            session.execute(text(_RENAMED))
            index_customer_names(session)
    expected = run_batches(alone, cashapp, now=fixed_now, batch_size=4)
    got = _pipelined(pipelined, cashapp, 4)
    caught_up = (1, 0) if missing == "keys" else (0, 1)
    assert (got.indexed_items, got.indexed_customers) == caught_up
    assert got.fallbacks == [
        f"no planner: the indexes caught up with {caught_up[0]} items and {caught_up[1]} customers "
        "after it started"
    ]
    assert _summary(got) | {"fallbacks": [], "indexed_items": 0, "indexed_customers": 0} == _summary(
        expected
    ) | {"indexed_items": 0, "indexed_customers": 0}
    before, after = _books(alone, setup), _books(pipelined, setup)
    for part in before:
        assert after[part] == before[part], part


def test_a_planner_that_cannot_plan_hands_the_run_back(
    two_urls: tuple[str, str], setup: Setup, cashapp: CashApplication, tmp_path: Any
) -> None:
    alone, pipelined = (_ledger(url, setup, 5) for url in two_urls)
    expected = run_batches(alone, cashapp, now=fixed_now, batch_size=5)
    # the planner is given a database it cannot read: it says so, this process decides everything
    missing = f"sqlite:///{tmp_path / 'nothing-here' / 'none.sqlite'}?mode=ro"
    got = _pipelined(pipelined, cashapp, 5, url=missing)
    assert len(got.fallbacks) == 1 and got.fallbacks[0].startswith("planner stopped before batch 1:")
    assert _summary(got) | {"fallbacks": []} == _summary(expected)
    before, after = _books(alone, setup), _books(pipelined, setup)
    for part in before:
        assert after[part] == before[part], part


def test_a_batch_not_written_as_planned_stops_the_planner(
    two_urls: tuple[str, str], setup: Setup, cashapp: CashApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker changes an item the second batch applies to, between its plan and its
    write: that batch goes receipt by receipt, the plans made on top of it are dropped, and the
    rest of the run is decided here; every receipt is decided once and the books agree."""
    _, pipelined = (_ledger(url, setup, 6) for url in two_urls)
    write = bulk.BatchPlan.write
    writes = []

    def write_after_another_worker(plan: bulk.BatchPlan) -> None:
        writes.append(plan)
        applied = plan._item_states()  # the plan came from the planner: only its item states
        if len(writes) == 2 and applied:
            item_id = int(next(iter(applied)))
            item = plan.session.get(PaymentSchedule, item_id)
            assert item is not None
            item.amount_due_remaining_minor -= 1  # someone applied 0.01 meanwhile
            plan.session.flush()
        write(plan)

    monkeypatch.setattr(bulk.BatchPlan, "write", write_after_another_worker)
    got = _pipelined(pipelined, cashapp, 4)
    assert len(got.fallbacks) == 1 and "BatchConflict" in got.fallbacks[0]
    # the remaining batches were planned and written here, in bulk, after the planner stopped
    assert len(writes) > 2
    with pipelined() as session:
        decided = session.execute(text("SELECT count(*) FROM match_decisions")).scalar()
        undecided = session.execute(
            text("SELECT count(*) FROM receipts WHERE status IN ('unidentified', 'unapplied')")
        ).scalar()
    assert decided == got.receipts
    assert undecided is not None and decided is not None and undecided <= decided
    _books(pipelined, setup)
    assert _pipelined(pipelined, cashapp, 4).applications == 0


def test_the_planner_cannot_write(two_urls: tuple[str, str]) -> None:
    """Its connections refuse any write: a bug there fails loudly instead of writing beside the writer."""
    url = two_urls[0]
    upgrade(_engine(url))
    engine = _engine(url, read_only=True)
    with session_factory(engine)() as session, session.begin():
        assert session.execute(text("SELECT count(*) FROM receipts")).scalar() == 0
        with pytest.raises((OperationalError, InternalError), match=r"readonly|read-only"):
            session.execute(text("DELETE FROM receipts"))


def test_a_run_of_few_batches_or_in_memory_needs_no_planner(
    two_urls: tuple[str, str], setup: Setup, cashapp: CashApplication
) -> None:
    sessions = _ledger(two_urls[0], setup, 7)
    assert Planner.start_for(sessions, cashapp, now=fixed_now, receipts=10, batch_size=4) is None
    memory = session_factory(_engine("sqlite://"))
    assert match_pipeline.database_url(memory) is None
    assert Planner.start_for(memory, cashapp, now=fixed_now, receipts=10_000, batch_size=4) is None
    planner = Planner.start_for(sessions, cashapp, now=fixed_now, receipts=None, batch_size=4)
    assert planner is not None
    planner.close()
