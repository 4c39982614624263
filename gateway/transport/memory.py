"""An in-memory transport for tests, with hooks to inject faults into the next put or fetch."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from gateway.transport.atomic import write_atomically
from gateway.transport.base import (
    CHUNK_SIZE,
    FetchResult,
    Listing,
    NamePolicy,
    NameVerdict,
    RefusalReason,
    RefusedFile,
    RemoteFile,
    check_queued_bytes,
    log_refused,
    matches,
    remaining,
    temp_name,
)
from gateway.transport.errors import (
    ChecksumRefused,
    ConnectionLost,
    IntegrityError,
    RemoteExists,
    RemoteNotFound,
    TransportError,
)


class EntryKind(StrEnum):
    FILE = "file"
    SYMLINK = "symlink"
    FIFO = "fifo"
    DIRECTORY = "directory"


@dataclass(slots=True)
class MemoryEntry:
    data: bytes
    mtime: float
    kind: EntryKind = EntryKind.FILE


@dataclass(slots=True)
class _Fault:
    after_bytes: int
    error: Callable[[str], TransportError]


@dataclass(slots=True)
class MemoryTransport:
    """Folders of byte strings. Mutable on purpose: tests arrange and inspect the "remote" side.

    Puts go through a temp name like the real transports, and an injected
    fault leaves that partial temp entry behind, as a dropped connection would.
    """

    endpoint: str = "memory"
    policy: NamePolicy = field(default_factory=NamePolicy)
    clock: Callable[[], float] = time.time
    folders: dict[str, dict[str, MemoryEntry]] = field(default_factory=dict)
    operations: list[tuple[str, ...]] = field(default_factory=list)
    _put_faults: list[_Fault] = field(default_factory=list)
    _fetch_faults: list[_Fault] = field(default_factory=list)
    _changes_during_fetch: list[bytes] = field(default_factory=list)

    # -- arranging and inspecting the remote side ----------------------------

    def add(self, folder: str, name: str, data: bytes = b"", *, kind: EntryKind = EntryKind.FILE) -> None:
        self.folders.setdefault(folder, {})[name] = MemoryEntry(data, self.clock(), kind)

    def read(self, folder: str, name: str) -> bytes:
        return self.folders[folder][name].data

    def names(self, folder: str) -> list[str]:
        return sorted(self.folders.get(folder, {}))

    def fail_next_put(
        self, after_bytes: int = 0, error: Callable[[str], TransportError] | None = None
    ) -> None:
        """The next put dies after sending ``after_bytes`` (``ConnectionLost`` unless given)."""
        self._put_faults.append(_Fault(after_bytes, error or self._connection_lost))

    def fail_next_fetch(
        self, after_bytes: int = 0, error: Callable[[str], TransportError] | None = None
    ) -> None:
        self._fetch_faults.append(_Fault(after_bytes, error or self._connection_lost))

    def change_during_next_fetch(self, new_data: bytes) -> None:
        """The remote file is rewritten with ``new_data`` while the next fetch reads it."""
        self._changes_during_fetch.append(new_data)

    def _connection_lost(self, message: str) -> TransportError:
        return ConnectionLost(message, endpoint=self.endpoint)

    # -- the protocol ----------------------------------------------------------

    def list(self, folder: str, pattern: str = "*") -> Listing:
        self.operations.append(("list", folder, pattern))
        files: list[RemoteFile] = []
        refused: list[RefusedFile] = []
        for name, entry in sorted(self._folder(folder).items()):
            if not matches(name, pattern):
                continue
            verdict = self.policy.judge(name)
            if verdict is NameVerdict.IN_PROGRESS:
                continue
            if verdict is NameVerdict.REFUSE:
                refused.append(RefusedFile(name, RefusalReason.NAME))
            elif entry.kind is EntryKind.SYMLINK:
                refused.append(RefusedFile(name, RefusalReason.SYMLINK))
            elif entry.kind is not EntryKind.FILE:
                refused.append(RefusedFile(name, RefusalReason.NOT_REGULAR))
            else:
                files.append(RemoteFile(name, len(entry.data), entry.mtime))
        log_refused(self.endpoint, folder, tuple(refused))
        return Listing(tuple(files), tuple(refused))

    def fetch(self, folder: str, name: str, dest: Path, *, deadline: float) -> FetchResult:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        self.operations.append(("fetch", folder, name))
        entry = self._entry(folder, name)
        listed_size = len(entry.data)
        fault = self._fetch_faults.pop(0) if self._fetch_faults else None
        change = self._changes_during_fetch.pop(0) if self._changes_during_fetch else None

        def chunks() -> Iterator[bytes]:
            for offset in range(0, len(entry.data), CHUNK_SIZE):
                remaining(deadline, endpoint=self.endpoint, folder=folder, name=name)
                if fault is not None and offset + CHUNK_SIZE > fault.after_bytes:
                    yield entry.data[offset : max(offset, fault.after_bytes)]
                    raise fault.error(f"fetch of {name} failed after {fault.after_bytes} bytes")
                yield entry.data[offset : offset + CHUNK_SIZE]
            if change is not None:
                self.add(folder, name, change)

        def verify(size: int, sha256: str) -> None:
            now = self._entry(folder, name)
            # add() replaces the entry, so identity says whether it was rewritten meanwhile.
            if size != listed_size or now is not entry:
                raise IntegrityError(
                    f"{name} changed during download (listed {listed_size} bytes, received {size}, "
                    f"now {len(now.data)})",
                    endpoint=self.endpoint,
                    folder=folder,
                    name=name,
                )

        size, sha256 = write_atomically(
            dest, chunks(), verify=verify, endpoint=self.endpoint, folder=folder, name=name
        )
        return FetchResult(dest, size, sha256)

    def put(self, local: Path, folder: str, name: str, *, expected_sha256: str, deadline: float) -> None:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        self.operations.append(("put", folder, name))
        check_queued_bytes(local, expected_sha256, endpoint=self.endpoint, folder=folder, name=name)
        data = local.read_bytes()
        remaining(deadline, endpoint=self.endpoint, folder=folder, name=name)
        target = self.folders.setdefault(folder, {})
        temp = temp_name(name)
        if self._put_faults:
            fault = self._put_faults.pop(0)
            target[temp] = MemoryEntry(data[: fault.after_bytes], self.clock())
            raise fault.error(f"put of {name} failed after {fault.after_bytes} bytes")
        # Hash what is actually sent: the file may have changed since the check above.
        if hashlib.sha256(data).hexdigest() != expected_sha256.lower():
            raise ChecksumRefused(
                f"{local} changed while it was being sent", endpoint=self.endpoint, folder=folder, name=name
            )
        target[temp] = MemoryEntry(data, self.clock())
        target[name] = target.pop(temp)

    def stat(self, folder: str, name: str) -> RemoteFile | None:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        entry = self._folder(folder).get(name)
        if entry is None or entry.kind is not EntryKind.FILE:
            return None
        return RemoteFile(name, len(entry.data), entry.mtime)

    def remove(self, folder: str, name: str) -> None:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        self.operations.append(("remove", folder, name))
        self._entry(folder, name)
        del self.folders[folder][name]

    def move(self, folder: str, name: str, to_folder: str) -> None:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        self.operations.append(("move", folder, name, to_folder))
        entry = self._entry(folder, name)
        target = self.folders.setdefault(to_folder, {})
        if name in target:
            raise RemoteExists(
                f"{name} is already in {to_folder}", endpoint=self.endpoint, folder=folder, name=name
            )
        target[name] = entry
        del self.folders[folder][name]

    def close(self) -> None:
        self.operations.append(("close",))

    def _folder(self, folder: str) -> dict[str, MemoryEntry]:
        if folder not in self.folders:
            raise RemoteNotFound("no such folder", endpoint=self.endpoint, folder=folder)
        return self.folders[folder]

    def _entry(self, folder: str, name: str) -> MemoryEntry:
        entry = self._folder(folder).get(name)
        if entry is None:
            raise RemoteNotFound("no such file", endpoint=self.endpoint, folder=folder, name=name)
        return entry
