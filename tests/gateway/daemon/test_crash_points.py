"""kill -9 at each named point of a cycle, then a clean run: nothing lost, nothing done twice."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.gateway.daemon.checker import Report, check_inbound, check_outbound, remote_leftovers, sqlite_query
from tests.gateway.daemon.conftest import Setup, camt053

CRASH_STATUS = 137


@pytest.mark.parametrize(
    "point",
    [
        "after_download",
        "after_post_before_commit",
        "after_rename",
        "before_upload",
        "after_upload_before_sent",
    ],
)
def test_crash_then_recover(folder_setup: Callable[..., Setup], point: str) -> None:
    setup = folder_setup(after="move")
    statement, invoice = camt053("REF-CRASH"), b"INVOIC bytes " * 1000
    setup.drop("stmt-1.xml", statement)
    source = setup.root / "invoice.edi"
    source.write_bytes(invoice)
    final_name = json.loads(setup.cli("outbox", "enqueue", "retail/invoices", str(source), "--json").stdout)[
        "name"
    ]

    crashed = setup.cli("run", "--once", env={"ARBRIDGE_CRASH_AT": point}, check=False)
    assert crashed.returncode == CRASH_STATUS, crashed.stderr
    query = sqlite_query(setup.sqlite_path)
    if point in ("after_download", "after_post_before_commit"):
        # Nothing committed: the file is registered nowhere and still on the server.
        assert query("SELECT COUNT(*) FROM inbound_files") == [(0,)]
        assert (setup.bank_outbox / "stmt-1.xml").exists()
    if point == "after_rename":
        assert query("SELECT state FROM remote_seen") == [("ingested",)]
    if point == "before_upload":
        assert query("SELECT state FROM outbound_files") == [("sending",)]
        assert not (setup.partner_in / final_name).exists()
    uploaded_inode = None
    if point == "after_upload_before_sent":
        assert query("SELECT state FROM outbound_files") == [("sending",)]
        uploaded_inode = (setup.partner_in / final_name).stat().st_ino

    setup.cli("run", "--once")

    report = Report()
    check_inbound(query, {"stmt-1.xml": statement}, expected_receipts=1, report=report)
    check_outbound(query, str(setup.partner_in), {final_name: invoice}, report)
    report.check(remote_leftovers([str(setup.bank_outbox)]) == [], "the statement was not archived")
    report.check(sorted(p.name for p in setup.bank_archive.iterdir()) == ["stmt-1.xml"], "archive")
    report.assert_ok()
    if uploaded_inode is not None:
        # Confirmed by stat, not uploaded again (a second upload would be a new inode).
        assert (setup.partner_in / final_name).stat().st_ino == uploaded_inode
