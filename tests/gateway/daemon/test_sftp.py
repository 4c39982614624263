"""The daemon through a real OpenSSH sshd: pinned host key, a wrong one, the server gone mid-upload."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tests.gateway.daemon.checker import Report, check_inbound, check_outbound, remote_leftovers, sqlite_query
from tests.gateway.daemon.conftest import Setup, camt053, load_worker, write_config
from tests.support.sshd import SshServer, UserKeys

pytestmark = pytest.mark.sftp


def _sftp_setup(tmp_path: Path, server: SshServer, known_hosts: Path) -> Setup:
    channel = (
        f"type: sftp\nhost: {server.host}\nport: {server.port}\nusername: {server.username}\n"
        f"private_key_file: {server.user_key}\nknown_hosts_file: {known_hosts}\n"
        "timeouts: {connect: 5, banner: 5, auth: 10, channel: 10, transfer: 60}"
    )
    root = tmp_path / "config"
    write_config(
        root,
        bank_channel=channel,
        partner_channel=channel,
        after="move",
        bank_folders=(server.folder("bank/outbox"), server.folder("bank/archive")),
        partner_folder=server.folder("partner/in"),
    )
    return Setup(
        root,
        root / "spool",
        server.local("bank/outbox"),
        server.local("bank/archive"),
        server.local("partner/in"),
        "",
    )


def _enqueue(setup: Setup, data: bytes) -> str:
    source = setup.root / "invoice.edi"
    source.write_bytes(data)
    return str(
        json.loads(setup.cli("outbox", "enqueue", "retail/invoices", str(source), "--json").stdout)["name"]
    )


def test_run_once_over_sftp(tmp_path: Path, sshd: SshServer) -> None:
    setup = _sftp_setup(tmp_path, sshd, sshd.write_known_hosts(tmp_path / "known_hosts"))
    statements = {f"stmt-{i}.xml": camt053(f"REF-SFTP-{i}") for i in range(3)}
    for name, data in statements.items():
        setup.drop(name, data)
    invoice = b"INVOIC over SFTP " * 5000
    final_name = _enqueue(setup, invoice)

    setup.cli("run", "--once")

    report = Report()
    query = sqlite_query(setup.sqlite_path)
    check_inbound(query, statements, expected_receipts=3, report=report)
    check_outbound(query, str(setup.partner_in), {final_name: invoice}, report)
    report.check(remote_leftovers([str(setup.bank_outbox)]) == [], "statements left on the server")
    report.check(sorted(p.name for p in setup.bank_archive.iterdir()) == sorted(statements), "archive")
    report.assert_ok()


def test_wrong_host_key_touches_nothing(tmp_path: Path, sshd: SshServer, ssh_user_keys: UserKeys) -> None:
    impostor = ssh_user_keys.stranger.with_name(ssh_user_keys.stranger.name + ".pub").read_text().split()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[{sshd.host}]:{sshd.port} {impostor[0]} {impostor[1]}\n")
    setup = _sftp_setup(tmp_path, sshd, known_hosts)
    statement = camt053("REF-KEY")
    setup.drop("stmt-1.xml", statement)
    final_name = _enqueue(setup, b"invoice")

    setup.cli("run", "--once")

    query = sqlite_query(setup.sqlite_path)
    assert query("SELECT COUNT(*) FROM inbound_files") == [(0,)]
    assert (setup.bank_outbox / "stmt-1.xml").exists()
    assert query("SELECT state FROM outbound_files") == [("queued",)]
    status = json.loads(setup.cli("status", "--json").stdout)
    errors = {c["channel"]: c["last_error"] for c in status["channels"]}
    assert errors["test-bank"].startswith("HostKeyMismatch: ")

    sshd.write_known_hosts(known_hosts)  # the right key, confirmed out of band
    # The refused upload waits out its retry backoff; let that time pass instead of sleeping.
    with sqlite3.connect(setup.sqlite_path) as connection:
        connection.execute("UPDATE outbound_files SET not_before = '2000-01-01 00:00:00.000000'")
    setup.cli("run", "--once")
    report = Report()
    check_inbound(query, {"stmt-1.xml": statement}, expected_receipts=1, report=report)
    check_outbound(query, str(setup.partner_in), {final_name: b"invoice"}, report)
    report.assert_ok()


def test_server_stopped_mid_upload(tmp_path: Path, sshd: SshServer) -> None:
    setup = _sftp_setup(tmp_path, sshd, sshd.write_known_hosts(tmp_path / "known_hosts"))
    invoice = bytes(range(256)) * (160 * 1024)  # 40 MiB: long enough to be caught in the middle
    final_name = _enqueue(setup, invoice)
    stopped = threading.Event()

    def stop_when_a_temp_file_appears() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(p.name.startswith(".") and p.stat().st_size > 0 for p in setup.partner_in.iterdir()):
                sshd.stop()
                stopped.set()
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=stop_when_a_temp_file_appears)
    watcher.start()
    load_worker(setup.root, one_shot=True).run_once()
    watcher.join()
    assert stopped.is_set(), "the upload finished before the server could be stopped"

    query = sqlite_query(setup.sqlite_path)
    assert query("SELECT state FROM outbound_files") == [("sending",)]
    assert not (setup.partner_in / final_name).exists()  # nothing partial under the final name

    sshd.start()  # same port
    _execute_sqlite(setup.sqlite_path, "UPDATE outbound_files SET not_before = '2000-01-01 00:00:00'")
    load_worker(setup.root, one_shot=True).run_once()

    report = Report()
    check_outbound(query, str(setup.partner_in), {final_name: invoice}, report)
    report.assert_ok()
    assert query("SELECT attempts FROM outbound_files") == [(2,)]


def _execute_sqlite(path: str, sql: str) -> None:
    import sqlite3

    connection = sqlite3.connect(path, timeout=30)
    with connection:
        connection.execute(sql)
    connection.close()
