"""Several workers on PostgreSQL: the work is shared, and a worker paused past its lease is fenced off."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.transport.errors import TransportTimeout
from tests.gateway.daemon.checker import Report, check_inbound, check_outbound, postgres_query
from tests.gateway.daemon.conftest import Setup, camt053, load_worker

pytestmark = pytest.mark.postgres


def _conninfo(url: str) -> str:
    # postgresql+psycopg://postgres@127.0.0.1:PORT/NAME -> a libpq URI the checker opens on its own.
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def pg_setup(folder_setup: Callable[..., Setup], postgres_url: str) -> Setup:
    return folder_setup(after="delete", database=postgres_url)


def test_two_workers_share_the_work(pg_setup: Setup) -> None:
    statements = {f"stmt-{i:02d}.xml": camt053(f"REF-PG-{i}") for i in range(30)}
    for name, data in statements.items():
        pg_setup.drop(name, data)
    workers = [load_worker(pg_setup.root, one_shot=True, batch=3) for _ in range(2)]
    counts: list[int] = []

    def run(worker: Any) -> None:
        counts.append(worker.run_once().ingested)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker in workers:
        worker.engine.dispose()

    assert sum(counts) == 30
    report = Report()
    check_inbound(
        postgres_query(_conninfo(pg_setup.database)), statements, expected_receipts=30, report=report
    )
    report.assert_ok()
    assert list(pg_setup.bank_outbox.iterdir()) == []


def test_paused_inbound_worker_commit_is_refused(pg_setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    statement = camt053("REF-PAUSE")
    pg_setup.drop("stmt-1.xml", statement)
    slow = load_worker(pg_setup.root, one_shot=True, lease_ttl=timedelta(seconds=1))
    fast = load_worker(pg_setup.root, one_shot=True)
    real_ingest = slow.ingestor.ingest
    downloaded = threading.Event()

    def paused_ingest(path: Path, **kwargs: Any) -> Any:
        downloaded.set()
        time.sleep(3)  # a GC pause, a stopped VM: our 1 s lease runs out meanwhile
        return real_ingest(path, **kwargs)

    slow.ingestor.ingest = paused_ingest  # type: ignore[method-assign]
    thread = threading.Thread(target=slow.run_once)
    thread.start()
    assert downloaded.wait(30)
    time.sleep(1.5)  # the slow worker's lease has expired
    assert fast.run_once().ingested == 1  # takes the file over: a new fencing token
    thread.join()

    assert any(getattr(r, "event", None) == "lease_lost" for r in caplog.records), "late commit not refused"
    query = postgres_query(_conninfo(pg_setup.database))
    # The slow worker's whole ingest transaction was refused: not even a duplicate registration.
    assert query("SELECT name, state FROM inbound_files") == [("stmt-1.xml", "processed")]
    assert query("SELECT state, fencing_token FROM remote_seen") == [("done", 2)]
    report = Report()
    check_inbound(query, {"stmt-1.xml": statement}, expected_receipts=1, report=report)
    report.assert_ok()
    for worker in (slow, fast):
        worker.engine.dispose()


def _queue_invoice(worker: Any) -> str:
    from gateway.outbox import enqueue

    with worker.hooks.sessions() as session, session.begin():
        row = enqueue(session, worker.routes, worker.config.spool, "retail/invoices", b"INVOIC", actor="test")
        return str(row.remote_name)


def test_paused_uploader_late_sent_is_refused(pg_setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    slow = load_worker(pg_setup.root, one_shot=True, lease_ttl=timedelta(seconds=2))
    final_name = _queue_invoice(slow)
    fast = load_worker(pg_setup.root, one_shot=True)
    transport = slow.channels.get("retail")
    real_put = transport.put
    uploaded = threading.Event()

    def put_then_pause(*args: Any, **kwargs: Any) -> None:
        real_put(*args, **kwargs)
        uploaded.set()
        time.sleep(4)  # paused between the rename and recording `sent`, past the 2 s lease

    transport.put = put_then_pause  # type: ignore[method-assign]
    thread = threading.Thread(target=slow.run_once)
    thread.start()
    assert uploaded.wait(30)
    time.sleep(2.5)
    # The other worker finds the file `sending` with a lapsed lease: the final name is there, whole.
    fast.run_once()
    thread.join()

    assert any(getattr(r, "event", None) == "lease_lost" for r in caplog.records), "late commit not refused"
    query = postgres_query(_conninfo(pg_setup.database))
    assert query("SELECT state, fencing_token FROM outbound_files") == [("sent", 2)]
    report = Report()
    check_outbound(query, str(pg_setup.partner_in), {final_name: b"INVOIC"}, report)
    report.assert_ok()
    for worker in (slow, fast):
        worker.engine.dispose()


def test_an_upload_cannot_outlive_its_lease(pg_setup: Setup) -> None:
    worker = load_worker(pg_setup.root, one_shot=True, lease_ttl=timedelta(seconds=10))
    final_name = _queue_invoice(worker)
    transport = worker.channels.get("retail")
    real_put = transport.put
    failures: list[BaseException] = []

    def paused_put(*args: Any, deadline: float, **kwargs: Any) -> None:
        time.sleep(max(0.0, deadline - time.monotonic()) + 0.2)  # stalled until the deadline passed
        try:
            real_put(*args, deadline=deadline, **kwargs)
        except TransportTimeout as error:
            failures.append(error)
            raise

    transport.put = paused_put  # type: ignore[method-assign]
    started = time.monotonic()
    worker.run_once()
    # The deadline given to the transport ends before the lease does (10 s, less a margin).
    assert failures and time.monotonic() - started < 10
    query = postgres_query(_conninfo(pg_setup.database))
    assert query("SELECT state FROM outbound_files") == [("sending",)]  # settled by stat next time
    assert not (pg_setup.partner_in / final_name).exists()
    worker.engine.dispose()
