"""`arbridge run --once` on local folder channels, driven through the CLI in a subprocess."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable

from tests.gateway.daemon.checker import Report, check_inbound, check_outbound, remote_leftovers, sqlite_query
from tests.gateway.daemon.conftest import Setup, camt053


def _events(log: str) -> list[str]:
    return [json.loads(line)["event"] for line in log.splitlines()]


def _enqueue(setup: Setup, data: bytes, name: str = "invoice.edi") -> str:
    source = setup.root / name
    source.write_bytes(data)
    queued = json.loads(setup.cli("outbox", "enqueue", "retail/invoices", str(source), "--json").stdout)
    return str(queued["name"])


def test_statement_ingested_and_archived_invoice_delivered(folder_setup: Callable[..., Setup]) -> None:
    setup = folder_setup(after="move")
    statement = camt053("REF-1")
    setup.drop("stmt-1.xml", statement)
    invoice = b"UNA:+.? 'UNB+UNOC:3+SENDER+RETAIL+240501:1200+1'UNZ+0+1'"
    final_name = _enqueue(setup, invoice)
    assert final_name.startswith("INVOIC-") and final_name.endswith("-0001.edi")

    result = setup.cli("run", "--once")

    assert {"queued", "ingested", "sent", "cycle"} <= set(_events(result.stderr))
    assert sorted(p.name for p in setup.bank_archive.iterdir()) == ["stmt-1.xml"]
    report = Report()
    query = sqlite_query(setup.sqlite_path)
    check_inbound(query, {"stmt-1.xml": statement}, expected_receipts=1, report=report)
    check_outbound(query, str(setup.partner_in), {final_name: invoice}, report)
    report.check(remote_leftovers([str(setup.bank_outbox)]) == [], "the statement is still in the outbox")
    report.assert_ok()
    # Nothing is left in the inbound spool: the archive copy is the ingest's.
    assert not any(p.is_file() for p in (setup.spool / "in").rglob("*"))


def test_delete_route_removes_the_remote_file(folder_setup: Callable[..., Setup]) -> None:
    setup = folder_setup(after="delete")
    setup.drop("stmt-1.xml", camt053("REF-1"))
    setup.cli("run", "--once")
    assert list(setup.bank_outbox.iterdir()) == []
    assert list(setup.bank_archive.iterdir()) == []


def test_leave_route_remembers_the_file(folder_setup: Callable[..., Setup]) -> None:
    setup = folder_setup(after="leave")
    setup.drop("stmt-1.xml", camt053("REF-1"))
    setup.cli("run", "--once")
    second = setup.cli("run", "--once")
    assert (setup.bank_outbox / "stmt-1.xml").exists()  # left in place
    assert "ingested" not in _events(second.stderr)  # and not fetched again
    query = sqlite_query(setup.sqlite_path)
    assert query("SELECT name, state FROM remote_seen") == [("stmt-1.xml", "done")]
    assert query("SELECT COUNT(*) FROM inbound_files") == [(1,)]


def test_same_file_under_a_new_name_is_a_duplicate(folder_setup: Callable[..., Setup]) -> None:
    setup = folder_setup(after="delete")
    statement = camt053("REF-1")
    setup.drop("stmt-1.xml", statement)
    setup.cli("run", "--once")
    setup.drop("stmt-1-again.xml", statement)
    setup.cli("run", "--once")
    query = sqlite_query(setup.sqlite_path)
    assert sorted(query("SELECT name, state FROM inbound_files")) == [
        ("stmt-1-again.xml", "duplicate"),
        ("stmt-1.xml", "processed"),
    ]
    report = Report()
    check_inbound(query, {"stmt-1.xml": statement}, expected_receipts=1, report=report)
    report.assert_ok()
    assert list(setup.bank_outbox.iterdir()) == []


def test_a_second_worker_on_sqlite_is_refused(folder_setup: Callable[..., Setup]) -> None:
    setup = folder_setup()
    setup.cli("status")  # creates the database and spool
    lock_path = setup.spool / "arbridge.run.lock"
    with lock_path.open("a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # the "first worker"
        result = setup.cli("run", "--once", check=False)
    assert result.returncode == 2
    assert "SQLite allows one worker; use PostgreSQL for several" in result.stderr


def test_status_shows_channels_and_open_files(folder_setup: Callable[..., Setup]) -> None:
    setup = folder_setup()
    setup.drop("stmt-1.xml", camt053("REF-1"))
    setup.partner_in.rmdir()  # the partner's folder is missing: delivery fails, the file stays queued
    final_name = _enqueue(setup, b"invoice")
    setup.cli("run", "--once")

    report = json.loads(setup.cli("status", "--json").stdout)
    channels = {c["channel"]: c for c in report["channels"]}
    assert channels["test-bank"]["last_success_at"] is not None
    assert channels["test-bank"]["last_error"] is None
    assert "no such folder" in channels["retail"]["last_error"]
    assert report["outbound"]["counts"] == {"sending": 1}
    [stuck] = report["outbound"]["open"]
    assert (stuck["name"], stuck["state"], stuck["attempts"]) == (final_name, "sending", 1)
    assert report["inbound"]["counts"] == {"done": 1}

    people = setup.cli("status").stdout
    assert "test-bank" in people and "retail" in people and final_name in people
    assert "outbound files: sending 1" in people
