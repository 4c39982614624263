"""The SFTP channel against a real OpenSSH sshd: transfers, names, host keys, our keys, stalls."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.transport.base import RefusalReason
from gateway.transport.endpoints import SftpEndpoint, Timeouts
from gateway.transport.errors import (
    AuthenticationFailed,
    ChecksumRefused,
    ConnectionLost,
    HostKeyMismatch,
    HostKeyUnknown,
    IntegrityError,
    KeyRefused,
    RemoteExists,
    RemoteNameRefused,
    RemoteNotFound,
    RemoteOperationFailed,
    TransportTimeout,
)
from gateway.transport.hostkeys import scan_host_key, trust_host_key
from gateway.transport.sftp import SftpTransport
from tests.support.sshd import SshServer

pytestmark = pytest.mark.sftp

MIB = 1024 * 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def endpoint(sshd: SshServer, tmp_path: Path) -> SftpEndpoint:
    return SftpEndpoint(
        name="bank",
        host=sshd.host,
        port=sshd.port,
        username=sshd.username,
        private_key_path=sshd.user_key,
        known_hosts_path=sshd.write_known_hosts(tmp_path.parent / f"{tmp_path.name}-known_hosts"),
        # A long channel timeout: in these tests the per-transfer deadline is what must fire.
        timeouts=Timeouts(connect=5, banner=5, auth=5, channel=30, keepalive=0),
    )


@pytest.fixture
def channel(endpoint: SftpEndpoint) -> Iterator[SftpTransport]:
    transport = SftpTransport(endpoint)
    yield transport
    transport.close()


def queued(tmp_path: Path, data: bytes, name: str = "pain008.xml") -> tuple[Path, str]:
    path = tmp_path / "spool" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path, sha256(data)


def soon(seconds: float = 20.0) -> float:
    return time.monotonic() + seconds


# -- transfers -----------------------------------------------------------------


def test_put_lands_under_the_final_name_only(sshd: SshServer, channel: SftpTransport, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB + 17)
    local, digest = queued(tmp_path, data)
    seen_during_upload: list[list[str]] = []
    channel.progress = lambda _name, _done: seen_during_upload.append(
        sorted(os.listdir(sshd.local("bank/inbox")))
    )

    channel.put(local, sshd.folder("bank/inbox"), "pain008.xml", expected_sha256=digest, deadline=soon())

    assert (sshd.local("bank/inbox") / "pain008.xml").read_bytes() == data
    assert os.listdir(sshd.local("bank/inbox")) == ["pain008.xml"]
    # While bytes were flowing, only the hidden temp name existed.
    assert seen_during_upload
    assert all(len(names) == 1 and names[0].startswith(".pain008.xml.part-") for names in seen_during_upload)
    assert (
        channel.stat(sshd.folder("bank/inbox"), "pain008.xml")
        == (channel.list(sshd.folder("bank/inbox")).files[0])
    )


@pytest.mark.parametrize("server_goes", ["sessions killed", "server stopped"])
def test_connection_dying_mid_upload_leaves_no_final_name(
    sshd: SshServer, channel: SftpTransport, tmp_path: Path, server_goes: str
) -> None:
    local, digest = queued(tmp_path, os.urandom(4 * MIB))

    def cut(_name: str, done: int) -> None:
        if done >= MIB:
            sshd.kill_sessions() if server_goes == "sessions killed" else sshd.stop()

    channel.progress = cut
    with pytest.raises((ConnectionLost, TransportTimeout)):
        channel.put(
            local, sshd.folder("bank/inbox"), "pain008.xml", expected_sha256=digest, deadline=soon(10)
        )

    left = os.listdir(sshd.local("bank/inbox"))
    assert "pain008.xml" not in left
    assert all(name.startswith(".pain008.xml.part-") for name in left)
    # After the server is back, stat (the crash-recovery check) says: not sent.
    sshd.start()
    channel.progress = None
    assert channel.stat(sshd.folder("bank/inbox"), "pain008.xml") is None
    channel.put(local, sshd.folder("bank/inbox"), "pain008.xml", expected_sha256=digest, deadline=soon())
    assert sha256((sshd.local("bank/inbox") / "pain008.xml").read_bytes()) == digest


def test_fetch_checks_size_and_sha256(sshd: SshServer, channel: SftpTransport, tmp_path: Path) -> None:
    data = os.urandom(2 * MIB + 5)
    (sshd.local("bank/outbox") / "camt053.xml").write_bytes(data)

    result = channel.fetch(sshd.folder("bank/outbox"), "camt053.xml", tmp_path / "in.xml", deadline=soon())

    assert (result.size, result.sha256) == (len(data), sha256(data))
    assert result.path.read_bytes() == data
    assert os.listdir(tmp_path) == ["in.xml"]


def test_fetch_of_a_file_growing_during_download_is_discarded(
    sshd: SshServer, channel: SftpTransport, tmp_path: Path
) -> None:
    remote = sshd.local("bank/outbox") / "camt053.xml"
    remote.write_bytes(os.urandom(2 * MIB))

    def bank_still_writing(_name: str, done: int) -> None:
        if done == 64 * 1024:
            with remote.open("ab") as stream:
                stream.write(b"more entries")

    channel.progress = bank_still_writing
    with pytest.raises(IntegrityError, match="changed during the download"):
        channel.fetch(sshd.folder("bank/outbox"), "camt053.xml", tmp_path / "in.xml", deadline=soon())
    assert os.listdir(tmp_path) == []


def test_put_refuses_bytes_changed_since_queued(
    sshd: SshServer, channel: SftpTransport, tmp_path: Path
) -> None:
    local, digest = queued(tmp_path, b"<Document>batch 1</Document>")
    local.write_bytes(b"<Document>batch 1, edited</Document>")

    with pytest.raises(ChecksumRefused, match="was queued"):
        channel.put(local, sshd.folder("bank/inbox"), "pain008.xml", expected_sha256=digest, deadline=soon())
    assert os.listdir(sshd.local("bank/inbox")) == []


def test_put_refuses_bytes_changed_while_sending(
    sshd: SshServer, channel: SftpTransport, tmp_path: Path
) -> None:
    local, digest = queued(tmp_path, os.urandom(MIB))

    def edit(_name: str, done: int) -> None:
        if done == 64 * 1024:
            with local.open("r+b") as stream:
                stream.seek(MIB - 10)
                stream.write(b"tampered!!")

    channel.progress = edit
    with pytest.raises(ChecksumRefused, match="while it was being sent"):
        channel.put(local, sshd.folder("bank/inbox"), "pain008.xml", expected_sha256=digest, deadline=soon())
    assert os.listdir(sshd.local("bank/inbox")) == []  # the temp file was removed too


# -- listing, names, remove, move -----------------------------------------------


def test_list_takes_plain_regular_files_and_reports_the_rest(
    sshd: SshServer, channel: SftpTransport, tmp_path: Path
) -> None:
    outbox = sshd.local("bank/outbox")
    for name in (
        "a.xml",
        "b.txt",
        "bad name.xml",
        "new\nline.xml",
        "-option.xml",
        ".hidden.xml",
        "c.xml.part",
    ):
        (outbox / name).write_bytes(b"x")
    (tmp_path / "secret").write_text("not for the bank")
    (outbox / "link.xml").symlink_to(tmp_path / "secret")
    os.mkfifo(outbox / "pipe.xml")
    (outbox / "sub.xml").mkdir()

    listing = channel.list(sshd.folder("bank/outbox"), "*.xml")

    assert listing.names() == ["a.xml"]
    assert {(entry.name, entry.reason) for entry in listing.refused} == {
        ("-option.xml", RefusalReason.NAME),
        ("bad name.xml", RefusalReason.NAME),
        ("new\nline.xml", RefusalReason.NAME),
        ("link.xml", RefusalReason.SYMLINK),
        ("pipe.xml", RefusalReason.NOT_REGULAR),
        ("sub.xml", RefusalReason.NOT_REGULAR),
    }


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("../evil", RemoteNameRefused),
        ("new\nline.xml", RemoteNameRefused),
        (".hidden.xml", RemoteNameRefused),
        ("link.xml", RemoteOperationFailed),
        ("missing.xml", RemoteNotFound),
    ],
)
def test_fetch_refuses_what_list_refuses(
    sshd: SshServer, channel: SftpTransport, tmp_path: Path, name: str, error: type[Exception]
) -> None:
    (tmp_path / "secret").write_text("not for us")
    (sshd.local("bank/outbox") / "link.xml").symlink_to(tmp_path / "secret")
    dest = tmp_path / "dest"
    dest.mkdir()

    with pytest.raises(error):
        channel.fetch(sshd.folder("bank/outbox"), name, dest / "x.xml", deadline=soon())
    assert os.listdir(dest) == []


def test_remove_and_move_to_archive(sshd: SshServer, channel: SftpTransport) -> None:
    outbox, archive = sshd.local("bank/outbox"), sshd.local("bank/archive")
    for name in ("one.xml", "two.xml", "three.xml"):
        (outbox / name).write_text(name)
    (archive / "three.xml").write_text("an older three")

    channel.move(sshd.folder("bank/outbox"), "one.xml", sshd.folder("bank/archive"))
    channel.remove(sshd.folder("bank/outbox"), "two.xml")
    with pytest.raises(RemoteExists):
        channel.move(sshd.folder("bank/outbox"), "three.xml", sshd.folder("bank/archive"))
    with pytest.raises(RemoteNotFound):
        channel.remove(sshd.folder("bank/outbox"), "two.xml")

    assert sorted(os.listdir(outbox)) == ["three.xml"]
    assert (archive / "one.xml").read_text() == "one.xml"
    assert (archive / "three.xml").read_text() == "an older three"


# -- host keys and our keys -------------------------------------------------------


def test_unknown_host_key_is_refused(sshd: SshServer, endpoint: SftpEndpoint, tmp_path: Path) -> None:
    other = tmp_path / "other_known_hosts"
    other.write_text(f"[{sshd.host}]:{sshd.port + 1} {sshd.host_public_key}\n")  # same key, other port
    for known_hosts in (tmp_path / "absent", other):
        with pytest.raises(HostKeyUnknown, match="arbridge channel trust"):
            SftpTransport(replace(endpoint, known_hosts_path=known_hosts)).list(sshd.folder("bank/outbox"))


def test_changed_host_key_is_refused(sshd: SshServer, endpoint: SftpEndpoint) -> None:
    with SftpTransport(endpoint) as first:
        assert first.list(sshd.folder("bank/outbox")).files == ()
    sshd.rotate_host_key()
    with SftpTransport(endpoint) as second, pytest.raises(HostKeyMismatch) as refused:
        second.list(sshd.folder("bank/outbox"))
    assert refused.value.presented is not None
    assert refused.value.presented not in refused.value.expected


def test_scan_shows_the_fingerprint_and_trust_pins_it(
    sshd: SshServer, endpoint: SftpEndpoint, tmp_path: Path
) -> None:
    public = sshd.host_key_path.with_name(sshd.host_key_path.name + ".pub")
    keygen = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(public)], capture_output=True, text=True, check=True
    )

    scanned = scan_host_key(sshd.host, sshd.port, timeout=5)
    assert scanned.fingerprint == keygen.stdout.split()[1]
    assert not (tmp_path / "pinned").exists()  # scanning trusts nothing

    trust_host_key(tmp_path / "pinned", sshd.host, sshd.port, scanned.key)
    trust_host_key(tmp_path / "pinned", sshd.host, sshd.port, scanned.key)  # idempotent
    assert (tmp_path / "pinned").read_text() == sshd.known_hosts_line()
    with SftpTransport(replace(endpoint, known_hosts_path=tmp_path / "pinned")) as channel:
        assert channel.list(sshd.folder("bank/outbox")).files == ()


@pytest.mark.parametrize(
    ("key", "error", "message"),
    [
        (lambda keys: keys.rsa3072, None, None),
        (lambda keys: keys.rsa2048, KeyRefused, "2048 bits"),
        (lambda keys: keys.stranger, AuthenticationFailed, "refused our key"),
    ],
    ids=["rsa-3072 accepted", "rsa-2048 refused by us", "unauthorized key"],
)
def test_user_key_policy(
    sshd: SshServer,
    endpoint: SftpEndpoint,
    key: Callable[..., Path],
    error: type[Exception] | None,
    message: str | None,
) -> None:
    with SftpTransport(replace(endpoint, private_key_path=key(sshd.user_keys))) as channel:
        if error is None:
            assert channel.list(sshd.folder("bank/outbox")).files == ()
        else:
            with pytest.raises(error, match=message):
                channel.list(sshd.folder("bank/outbox"))
    if error is KeyRefused:
        # Refused before any connection: the server never saw an attempt with it.
        assert "RSA SHA256" not in sshd.log_path.read_text()


def test_unauthorized_key_is_not_reported_as_a_weak_key(sshd: SshServer, endpoint: SftpEndpoint) -> None:
    with (
        SftpTransport(replace(endpoint, private_key_path=sshd.user_keys.stranger)) as channel,
        pytest.raises(AuthenticationFailed) as failed,
    ):
        channel.list(sshd.folder("bank/outbox"))
    assert not isinstance(failed.value, KeyRefused)


# -- a stalled server ----------------------------------------------------------------


@pytest.mark.parametrize("when", ["before the banner", "mid-download", "mid-upload"])
def test_stalled_server_times_out_within_the_deadline(
    sshd: SshServer, channel: SftpTransport, tmp_path: Path, when: str
) -> None:
    budget, margin = 2.0, 1.5
    data = os.urandom(8 * MIB)
    (sshd.local("bank/outbox") / "camt053.xml").write_bytes(data)
    local, digest = queued(tmp_path, data)

    def stall_once(_name: str, done: int) -> None:
        if done == 256 * 1024:
            sshd.stall()

    if when == "before the banner":
        sshd.stall(sessions=False)
    else:
        channel.progress = stall_once
    started = time.monotonic()
    with pytest.raises(TransportTimeout):
        if when == "mid-upload":
            channel.put(
                local, sshd.folder("bank/inbox"), "x.xml", expected_sha256=digest, deadline=started + budget
            )
        else:
            channel.fetch(
                sshd.folder("bank/outbox"), "camt053.xml", tmp_path / "in.xml", deadline=started + budget
            )
    elapsed = time.monotonic() - started
    assert elapsed < budget + margin, f"took {elapsed:.2f}s for a {budget}s deadline"
    assert not (tmp_path / "in.xml").exists()

    # Once the server answers again, the same channel reconnects by itself.
    sshd.resume()
    channel.progress = None
    assert channel.stat(sshd.folder("bank/outbox"), "camt053.xml") is not None
