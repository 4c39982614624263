"""The local folder channel: completeness, refusals, watcher wake-ups and rescans, atomic writes, ENOSPC."""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.transport.base import RefusalReason, Transport
from gateway.transport.errors import ChecksumRefused, DiskFull, IntegrityError, RemoteExists, RemoteNotFound
from gateway.transport.folder import FolderTransport, Wake


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def channel(clock: FakeClock) -> FolderTransport:
    return FolderTransport(settle_seconds=2.0, clock=clock)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_it_is_a_transport(channel: FolderTransport) -> None:
    assert isinstance(channel, Transport)


def test_file_is_taken_only_once_stable(channel: FolderTransport, clock: FakeClock, inbox: Path) -> None:
    statement = inbox / "camt053.xml"
    statement.write_bytes(b"<Document>")
    steps: list[tuple[Callable[[], object], list[str]]] = [
        (lambda: None, []),  # first sight: pending
        (lambda: setattr(clock, "now", clock.now + 1.5), []),  # not settled long enough
        (lambda: statement.write_bytes(b"<Document><Stmt>"), []),  # grew: settling starts again
        (lambda: setattr(clock, "now", clock.now + 1.9), []),
        (lambda: setattr(clock, "now", clock.now + 0.2), ["camt053.xml"]),  # 2.1 s unchanged
    ]
    for change, expected in steps:
        change()
        listing = channel.list(str(inbox), "*.xml")
        assert listing.names() == expected
        assert listing.pending == (() if expected else ("camt053.xml",))


def test_rename_into_place_is_picked_up(channel: FolderTransport, clock: FakeClock, inbox: Path) -> None:
    for name in (".camt053.xml.part-1234", "camt053.xml.part", "camt053.xml.tmp"):
        (inbox / name).write_bytes(b"partial")
    assert channel.list(str(inbox)) == channel.list(str(inbox))  # in progress: not even pending
    assert channel.list(str(inbox)).pending == ()

    os.rename(inbox / ".camt053.xml.part-1234", inbox / "camt053.xml")
    assert channel.list(str(inbox)).pending == ("camt053.xml",)
    clock.now += 5
    assert channel.list(str(inbox)).names() == ["camt053.xml"]


def test_special_files_are_refused_and_reported(
    channel: FolderTransport, clock: FakeClock, inbox: Path
) -> None:
    outside = inbox.parent / "secret.xml"
    outside.write_text("not in the inbox")
    (inbox / "link.xml").symlink_to(outside)
    (inbox / "dangling.xml").symlink_to(inbox / "nowhere")
    os.mkfifo(inbox / "pipe.xml")
    (inbox / "folder.xml").mkdir()
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(inbox / "sock.xml"))
        (inbox / "bad name.xml").write_text("x")
        (inbox / "ok.xml").write_text("x")
        channel.list(str(inbox))
        clock.now += 5
        listing = channel.list(str(inbox), "*.xml")

    assert listing.names() == ["ok.xml"]
    assert sorted((entry.name, entry.reason) for entry in listing.refused) == [
        ("bad name.xml", RefusalReason.NAME),
        ("dangling.xml", RefusalReason.SYMLINK),
        ("folder.xml", RefusalReason.NOT_REGULAR),
        ("link.xml", RefusalReason.SYMLINK),
        ("pipe.xml", RefusalReason.NOT_REGULAR),
        ("sock.xml", RefusalReason.NOT_REGULAR),
    ]


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_fetch_never_follows_a_symlink_nor_opens_a_fifo(
    channel: FolderTransport, inbox: Path, tmp_path: Path, kind: str
) -> None:
    if kind == "symlink":
        (tmp_path / "secret").write_text("secret")
        (inbox / "x.xml").symlink_to(tmp_path / "secret")
    else:
        os.mkfifo(inbox / "x.xml")  # opening it for reading would block forever
    dest = tmp_path / "spool"
    dest.mkdir()
    with pytest.raises(Exception, match="not a regular file"):
        channel.fetch(str(inbox), "x.xml", dest / "x.xml", deadline=time.monotonic() + 5)
    assert os.listdir(dest) == []


def test_fetch_put_round_trip(channel: FolderTransport, inbox: Path, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (inbox / "in.xml").write_bytes(data)
    outbox = tmp_path / "outbox"
    outbox.mkdir()

    fetched = channel.fetch(str(inbox), "in.xml", tmp_path / "copy.xml", deadline=time.monotonic() + 5)
    assert (fetched.size, fetched.sha256) == (len(data), sha256(data))
    channel.put(
        fetched.path, str(outbox), "out.xml", expected_sha256=fetched.sha256, deadline=time.monotonic() + 5
    )

    assert (outbox / "out.xml").read_bytes() == data
    assert os.listdir(outbox) == ["out.xml"]
    assert channel.stat(str(outbox), "out.xml") is not None
    assert channel.stat(str(outbox), "absent.xml") is None


def test_fetch_of_a_file_changing_during_copy_is_discarded(
    channel: FolderTransport, inbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = inbox / "in.xml"
    source.write_bytes(os.urandom(200_000))
    real_read = os.read
    appended: list[bool] = []

    def read_while_writer_appends(fd: int, size: int) -> bytes:
        if not appended:  # the writer adds once, during the first read
            appended.append(True)
            with source.open("ab") as writer:
                writer.write(b"more")
        return real_read(fd, size)

    monkeypatch.setattr(os, "read", read_while_writer_appends)
    with pytest.raises(IntegrityError):
        channel.fetch(str(inbox), "in.xml", tmp_path / "copy.xml", deadline=time.monotonic() + 5)
    monkeypatch.undo()
    assert not (tmp_path / "copy.xml").exists()
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []


def test_put_refuses_changed_bytes(channel: FolderTransport, tmp_path: Path) -> None:
    local = tmp_path / "pain008.xml"
    local.write_bytes(b"queued")
    digest = sha256(b"queued")
    local.write_bytes(b"edited")
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    with pytest.raises(ChecksumRefused):
        channel.put(local, str(outbox), "pain008.xml", expected_sha256=digest, deadline=time.monotonic() + 5)
    assert os.listdir(outbox) == []


def test_move_to_archive_never_overwrites(channel: FolderTransport, inbox: Path, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    (inbox / "a.xml").write_text("a")
    (inbox / "b.xml").write_text("new b")
    (archive / "b.xml").write_text("old b")

    channel.move(str(inbox), "a.xml", str(archive))
    with pytest.raises(RemoteExists):
        channel.move(str(inbox), "b.xml", str(archive))
    channel.remove(str(inbox), "b.xml")
    with pytest.raises(RemoteNotFound):
        channel.remove(str(inbox), "b.xml")

    assert os.listdir(inbox) == []
    assert sorted(os.listdir(archive)) == ["a.xml", "b.xml"]
    assert (archive / "b.xml").read_text() == "old b"


# -- the watcher ----------------------------------------------------------------------


def test_a_new_file_wakes_the_watcher(inbox: Path) -> None:
    channel = FolderTransport(settle_seconds=0)
    with channel.watch([inbox], rescan_seconds=30) as watcher:
        assert watcher.wait(timeout=0.2) is Wake.RESCAN  # nothing happened yet
        started = time.monotonic()
        (inbox / "camt053.xml").write_bytes(b"<Document/>")
        assert watcher.wait(timeout=10) is Wake.EVENT
        assert time.monotonic() - started < 5


def test_rescan_finds_a_file_whose_event_was_missed(inbox: Path) -> None:
    # Written while nobody watched (the daemon was down, or inotify overflowed): no event will come.
    (inbox / "camt053.xml").write_bytes(b"<Document/>")
    channel = FolderTransport(settle_seconds=0)
    with channel.watch([inbox], rescan_seconds=0.3) as watcher:
        started = time.monotonic()
        assert watcher.wait() is Wake.RESCAN
        assert time.monotonic() - started < 5
        assert channel.list(str(inbox)).pending == ("camt053.xml",)
        assert channel.list(str(inbox)).names() == ["camt053.xml"]


# -- a full disk ------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A 64 KiB tmpfs when we may mount one (root), else None (the test injects ENOSPC)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    yield mount_point if mounted else None
    if mounted:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_disk_full_leaves_no_partial_file(
    channel: FolderTransport, tmp_path: Path, tiny_disk: Path | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(256 * 1024)
    local = tmp_path / "pain008.xml"
    local.write_bytes(data)
    target = tiny_disk
    if target is None:
        target = tmp_path / "outbox"
        target.mkdir()
        real_write = os.write
        budget = [100_000]

        def write_until_full(fd: int, data: bytes | memoryview) -> int:
            if budget[0] <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            budget[0] -= len(data)
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write_until_full)

    with pytest.raises(DiskFull, match="no space left") as full:
        channel.put(
            local, str(target), "pain008.xml", expected_sha256=sha256(data), deadline=time.monotonic() + 5
        )
    assert os.listdir(target) == []
    assert full.value.name == "pain008.xml"
