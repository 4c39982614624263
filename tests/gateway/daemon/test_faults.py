"""Faults on folder channels: a full disk, a locked database. Nothing lost, nothing done twice."""

from __future__ import annotations

import errno
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import gateway.transport.atomic
from tests.gateway.daemon.checker import Report, check_inbound, check_outbound, sqlite_query
from tests.gateway.daemon.conftest import Setup, camt053, load_worker


def _execute(path: str) -> Callable[[str], None]:
    def run(sql: str) -> None:
        connection = sqlite3.connect(path, timeout=30)
        with connection:
            connection.execute(sql)
        connection.close()

    return run


def _enqueue(setup: Setup, data: bytes) -> str:
    source = setup.root / "invoice.edi"
    source.write_bytes(data)
    return str(
        json.loads(setup.cli("outbox", "enqueue", "retail/invoices", str(source), "--json").stdout)["name"]
    )


def test_disk_full_loses_nothing(folder_setup: Callable[..., Setup], monkeypatch: pytest.MonkeyPatch) -> None:
    setup = folder_setup(after="move")
    statement, invoice = camt053("REF-FULL"), b"invoice bytes"
    setup.drop("stmt-1.xml", statement)
    final_name = _enqueue(setup, invoice)

    def no_space(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    # Every atomic write fails: the download into the spool and the copy into the partner folder.
    monkeypatch.setattr(gateway.transport.atomic.os, "write", no_space)
    load_worker(setup.root, one_shot=True).run_once()
    monkeypatch.undo()

    query = sqlite_query(setup.sqlite_path)
    assert query("SELECT COUNT(*) FROM inbound_files") == [(0,)]
    assert query("SELECT state, last_error LIKE '%local disk is full%' FROM remote_seen") == [("queued", 1)]
    assert query("SELECT state FROM outbound_files") == [("sending",)]
    assert (setup.bank_outbox / "stmt-1.xml").exists()
    assert not any(p.is_file() for p in (setup.spool / "in").rglob("*"))  # no partial download left
    assert [p.name for p in setup.partner_in.iterdir()] == []  # nothing partial under any name

    _execute(setup.sqlite_path)("UPDATE remote_seen SET not_before = '2000-01-01 00:00:00'")
    _execute(setup.sqlite_path)("UPDATE outbound_files SET not_before = '2000-01-01 00:00:00'")
    load_worker(setup.root, one_shot=True).run_once()

    report = Report()
    check_inbound(query, {"stmt-1.xml": statement}, expected_receipts=1, report=report)
    check_outbound(query, str(setup.partner_in), {final_name: invoice}, report)
    report.assert_ok()


def test_locked_database_waits_and_loses_nothing(folder_setup: Callable[..., Setup]) -> None:
    setup = folder_setup(after="move")
    statement = camt053("REF-LOCK")
    setup.cli("status")  # the database exists
    setup.drop("stmt-1.xml", statement)
    final_name = _enqueue(setup, b"invoice")

    holding = threading.Event()

    def hold_the_write_lock() -> None:
        connection = sqlite3.connect(setup.sqlite_path, timeout=30, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")  # another writer: everyone else waits
        holding.set()
        time.sleep(4)
        connection.execute("ROLLBACK")
        connection.close()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    holding.wait(10)
    started = time.monotonic()
    result = setup.cli("run", "--once")
    holder.join()
    assert time.monotonic() - started >= 3  # it waited for the lock rather than failing
    assert result.returncode == 0

    report = Report()
    query = sqlite_query(setup.sqlite_path)
    check_inbound(query, {"stmt-1.xml": statement}, expected_receipts=1, report=report)
    check_outbound(query, str(setup.partner_in), {final_name: b"invoice"}, report)
    report.assert_ok()
