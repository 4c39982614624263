"""The in-memory transport behaves like the real ones, and its fault hooks do what they say."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import pytest

from gateway.transport.base import NamePolicy, RefusalReason, Transport
from gateway.transport.errors import (
    ChecksumRefused,
    ConnectionLost,
    IntegrityError,
    RemoteExists,
    RemoteNameRefused,
    TransportTimeout,
)
from gateway.transport.memory import EntryKind, MemoryTransport

OUTBOX, INBOX, ARCHIVE = "/outbox", "/inbox", "/archive"


def deadline() -> float:
    return time.monotonic() + 5


@pytest.fixture
def bank() -> MemoryTransport:
    transport = MemoryTransport(endpoint="bank")
    for folder in (OUTBOX, INBOX, ARCHIVE):
        transport.folders[folder] = {}
    return transport


def queued(tmp_path: Path, data: bytes) -> tuple[Path, str]:
    path = tmp_path / "pain008.xml"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_it_is_a_transport(bank: MemoryTransport) -> None:
    assert isinstance(bank, Transport)


def test_list_refuses_hostile_names_and_non_files(bank: MemoryTransport) -> None:
    for name in ("ok.xml", "../evil", "a\nb.xml", ".x.xml.part-1"):
        bank.add(OUTBOX, name, b"x")
    bank.add(OUTBOX, "link.xml", kind=EntryKind.SYMLINK)
    bank.add(OUTBOX, "pipe.xml", kind=EntryKind.FIFO)

    listing = bank.list(OUTBOX)

    assert listing.names() == ["ok.xml"]
    assert {(entry.name, entry.reason) for entry in listing.refused} == {
        ("../evil", RefusalReason.NAME),
        ("a\nb.xml", RefusalReason.NAME),
        ("link.xml", RefusalReason.SYMLINK),
        ("pipe.xml", RefusalReason.NOT_REGULAR),
    }


@pytest.mark.parametrize(
    ("allowed", "name", "taken"),
    [
        (r"[A-Z]{4}\d{8}\.xml", "CAMT20240131.xml", True),
        (r"[A-Z]{4}\d{8}\.xml", "camt.xml", False),
        (r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}", "x" * 201, True),
        (r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}", "x" * 202, False),
    ],
)
def test_allowlist_is_configurable(allowed: str, name: str, taken: bool) -> None:
    bank = MemoryTransport(policy=NamePolicy(re.compile(allowed)))
    bank.add(OUTBOX, name, b"x")
    assert bank.list(OUTBOX).names() == ([name] if taken else [])


def test_fetch_refuses_a_path_traversal_name(bank: MemoryTransport, tmp_path: Path) -> None:
    bank.add(OUTBOX, "../evil", b"x")
    with pytest.raises(RemoteNameRefused):
        bank.fetch(OUTBOX, "../evil", tmp_path / "x", deadline=deadline())
    assert list(tmp_path.iterdir()) == []


def test_failed_put_leaves_only_a_temp_entry(bank: MemoryTransport, tmp_path: Path) -> None:
    local, digest = queued(tmp_path, b"0123456789" * 1000)
    bank.fail_next_put(after_bytes=4000)

    with pytest.raises(ConnectionLost):
        bank.put(local, INBOX, "pain008.xml", expected_sha256=digest, deadline=deadline())
    assert bank.stat(INBOX, "pain008.xml") is None
    (temp,) = bank.names(INBOX)
    assert temp.startswith(".pain008.xml.part-")
    assert len(bank.read(INBOX, temp)) == 4000

    bank.put(local, INBOX, "pain008.xml", expected_sha256=digest, deadline=deadline())  # the retry
    assert bank.read(INBOX, "pain008.xml") == local.read_bytes()


def test_fault_hook_can_raise_any_transport_error(bank: MemoryTransport, tmp_path: Path) -> None:
    local, digest = queued(tmp_path, b"x")
    bank.fail_next_put(error=lambda message: TransportTimeout(message, endpoint="bank"))
    with pytest.raises(TransportTimeout):
        bank.put(local, INBOX, "pain008.xml", expected_sha256=digest, deadline=deadline())


def test_put_refuses_changed_bytes(bank: MemoryTransport, tmp_path: Path) -> None:
    local, digest = queued(tmp_path, b"queued")
    local.write_bytes(b"edited")
    with pytest.raises(ChecksumRefused):
        bank.put(local, INBOX, "pain008.xml", expected_sha256=digest, deadline=deadline())
    assert bank.names(INBOX) == []


def test_fetch_faults(bank: MemoryTransport, tmp_path: Path) -> None:
    bank.add(OUTBOX, "camt053.xml", b"y" * 200_000)
    bank.fail_next_fetch(after_bytes=70_000)
    with pytest.raises(ConnectionLost):
        bank.fetch(OUTBOX, "camt053.xml", tmp_path / "in.xml", deadline=deadline())
    bank.change_during_next_fetch(b"z" * 10)
    with pytest.raises(IntegrityError):
        bank.fetch(OUTBOX, "camt053.xml", tmp_path / "in.xml", deadline=deadline())
    assert list(tmp_path.iterdir()) == []

    result = bank.fetch(OUTBOX, "camt053.xml", tmp_path / "in.xml", deadline=deadline())
    assert result.path.read_bytes() == b"z" * 10


def test_move_and_remove(bank: MemoryTransport) -> None:
    bank.add(OUTBOX, "a.xml", b"a")
    bank.add(OUTBOX, "b.xml", b"b")
    bank.add(ARCHIVE, "b.xml", b"old b")
    bank.move(OUTBOX, "a.xml", ARCHIVE)
    with pytest.raises(RemoteExists):
        bank.move(OUTBOX, "b.xml", ARCHIVE)
    bank.remove(OUTBOX, "b.xml")
    assert (bank.names(OUTBOX), bank.names(ARCHIVE)) == ([], ["a.xml", "b.xml"])
    assert bank.read(ARCHIVE, "b.xml") == b"old b"
