"""A local folder channel: files are taken once complete; watchdog wakes us, a rescan backs it up.

A file is complete when two listings at least ``settle_seconds`` apart saw the
same size, mtime and inode. Names starting with ``.`` or ending in ``.part`` /
``.tmp`` are in progress and left alone. Symlinks, FIFOs, devices, sockets and
directories are refused and reported; nothing here follows a symlink.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType

from watchdog.events import (
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from gateway.transport.atomic import fsync_directory, write_atomically
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
)
from gateway.transport.errors import (
    ChecksumRefused,
    IntegrityError,
    RemoteExists,
    RemoteNotFound,
    RemoteOperationFailed,
    TransportError,
)

# O_NONBLOCK: opening a FIFO swapped in after the lstat must not block the daemon.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class _Observation:
    size: int
    mtime_ns: int
    inode: int
    first_seen: float  # clock() when this exact (size, mtime, inode) was first seen


class FolderTransport:
    """The transport protocol over local directories (a ``folder`` is a directory path)."""

    def __init__(
        self,
        *,
        endpoint: str = "folder",
        settle_seconds: float = 2.0,
        policy: NamePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._endpoint = endpoint
        self.settle_seconds = settle_seconds
        self.policy = policy or NamePolicy()
        self._clock = clock
        self._seen: dict[str, dict[str, _Observation]] = {}

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def list(self, folder: str, pattern: str = "*") -> Listing:
        files: list[RemoteFile] = []
        refused: list[RefusedFile] = []
        pending: list[str] = []
        now = self._clock()
        previous = self._seen.get(folder, {})
        current: dict[str, _Observation] = {}
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except FileNotFoundError as error:
            raise RemoteNotFound("no such folder", endpoint=self.endpoint, folder=folder) from error
        for entry in entries:
            name = entry.name
            if not matches(name, pattern):
                continue
            verdict = self.policy.judge(name)
            if verdict is NameVerdict.IN_PROGRESS:
                continue
            if verdict is NameVerdict.REFUSE:
                refused.append(RefusedFile(name, RefusalReason.NAME))
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since the scandir: nothing to take
            if stat.S_ISLNK(info.st_mode):
                refused.append(RefusedFile(name, RefusalReason.SYMLINK))
                continue
            if not stat.S_ISREG(info.st_mode):
                refused.append(RefusedFile(name, RefusalReason.NOT_REGULAR))
                continue
            seen = previous.get(name)
            if seen is None or (seen.size, seen.mtime_ns, seen.inode) != (
                info.st_size,
                info.st_mtime_ns,
                info.st_ino,
            ):
                seen = _Observation(info.st_size, info.st_mtime_ns, info.st_ino, now)
                current[name] = seen
                pending.append(name)
                continue
            current[name] = seen
            if now - seen.first_seen >= self.settle_seconds:
                files.append(RemoteFile(name, info.st_size, info.st_mtime))
            else:
                pending.append(name)
        # Names that disappeared are forgotten, so a new file of the same name settles afresh.
        self._seen[folder] = current
        log_refused(self.endpoint, folder, tuple(refused))
        return Listing(tuple(files), tuple(refused), tuple(pending))

    def fetch(self, folder: str, name: str, dest: Path, *, deadline: float) -> FetchResult:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        source = Path(folder) / name
        before = self._regular_lstat(folder, name)
        try:
            fd = os.open(source, _READ_FLAGS)
        except OSError as error:
            raise self._error(error, folder, name) from error
        try:
            opened = os.fstat(fd)
            if (opened.st_ino, opened.st_dev) != (before.st_ino, before.st_dev):
                raise IntegrityError(
                    "the file was replaced while being opened",
                    endpoint=self.endpoint,
                    folder=folder,
                    name=name,
                )

            def chunks() -> Iterator[bytes]:
                while True:
                    remaining(deadline, endpoint=self.endpoint, folder=folder, name=name)
                    chunk = os.read(fd, CHUNK_SIZE)
                    if not chunk:
                        return
                    yield chunk

            def verify(size: int, sha256: str) -> None:
                after = os.fstat(fd)
                still = (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)
                if size != before.st_size or not still:
                    raise IntegrityError(
                        f"the file changed during the copy (listed {before.st_size} bytes, "
                        f"read {size}, now {after.st_size})",
                        endpoint=self.endpoint,
                        folder=folder,
                        name=name,
                    )

            size, sha256 = write_atomically(
                dest, chunks(), verify=verify, endpoint=self.endpoint, folder=folder, name=name
            )
        finally:
            os.close(fd)
        return FetchResult(dest, size, sha256)

    def put(self, local: Path, folder: str, name: str, *, expected_sha256: str, deadline: float) -> None:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        check_queued_bytes(local, expected_sha256, endpoint=self.endpoint, folder=folder, name=name)
        if not Path(folder).is_dir():
            raise RemoteNotFound("no such folder", endpoint=self.endpoint, folder=folder)

        def chunks() -> Iterator[bytes]:
            with local.open("rb") as stream:
                while True:
                    remaining(deadline, endpoint=self.endpoint, folder=folder, name=name)
                    chunk = stream.read(CHUNK_SIZE)
                    if not chunk:
                        return
                    yield chunk

        def verify(size: int, sha256: str) -> None:
            # The bytes written are hashed as they go: a change after the check above is caught too.
            if sha256 != expected_sha256.lower():
                raise ChecksumRefused(
                    f"{local} changed while it was being copied",
                    endpoint=self.endpoint,
                    folder=folder,
                    name=name,
                )

        write_atomically(
            Path(folder) / name, chunks(), verify=verify, endpoint=self.endpoint, folder=folder, name=name
        )

    def stat(self, folder: str, name: str) -> RemoteFile | None:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        try:
            info = os.lstat(Path(folder) / name)
        except FileNotFoundError:
            return None
        return RemoteFile(name, info.st_size, info.st_mtime) if stat.S_ISREG(info.st_mode) else None

    def remove(self, folder: str, name: str) -> None:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        try:
            os.unlink(Path(folder) / name)  # unlink never follows a symlink
            fsync_directory(Path(folder))
        except OSError as error:
            raise self._error(error, folder, name) from error

    def move(self, folder: str, name: str, to_folder: str) -> None:
        self.policy.check(name, endpoint=self.endpoint, folder=folder)
        self._regular_lstat(folder, name)
        source, target = Path(folder) / name, Path(to_folder) / name
        try:
            # link() fails if the target exists, where rename() would silently replace it.
            os.link(source, target, follow_symlinks=False)
            os.unlink(source)
            fsync_directory(Path(to_folder))
            fsync_directory(Path(folder))
        except OSError as error:
            raise self._error(error, folder, name) from error

    def close(self) -> None:
        self._seen.clear()

    def watch(self, folders: Iterable[str | Path], *, rescan_seconds: float = 30.0) -> FolderWatcher:
        """A started watcher over ``folders``; close it (or use ``with``) when done."""
        watcher = FolderWatcher(folders, rescan_seconds=rescan_seconds)
        watcher.start()
        return watcher

    def _regular_lstat(self, folder: str, name: str) -> os.stat_result:
        try:
            info = os.lstat(Path(folder) / name)
        except OSError as error:
            raise self._error(error, folder, name) from error
        if not stat.S_ISREG(info.st_mode):
            raise RemoteOperationFailed(
                "not a regular file (symlink or special file): refused",
                endpoint=self.endpoint,
                folder=folder,
                name=name,
            )
        return info

    def _error(self, error: OSError, folder: str, name: str) -> TransportError:
        where = {"endpoint": self.endpoint, "folder": folder, "name": name}
        if error.errno == errno.ENOENT:
            return RemoteNotFound("no such file", **where)
        if error.errno == errno.EEXIST:
            return RemoteExists("the target name is already taken", **where)
        if error.errno == errno.ELOOP:
            return RemoteOperationFailed("a symlink was swapped in: refused", **where)
        return RemoteOperationFailed(error.strerror or str(error), **where)


class Wake(StrEnum):
    """Why ``FolderWatcher.wait`` returned."""

    EVENT = "event"
    RESCAN = "rescan"


class _WakeOnChange(FileSystemEventHandler):
    # Opening or reading a file (our own fetch does) must not wake us, or we would spin.
    _WAKING = frozenset({EVENT_TYPE_CREATED, EVENT_TYPE_MODIFIED, EVENT_TYPE_MOVED, EVENT_TYPE_CLOSED})

    def __init__(self, wake: threading.Event) -> None:
        super().__init__()
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in self._WAKING:
            self._wake.set()


class FolderWatcher:
    """Wakes the caller when something changes in the watched folders, and at least every rescan.

    Events can be lost (inotify overflow, changes while the daemon was down, network
    filesystems), so the periodic rescan is what guarantees every file is found;
    the events only make it prompt.
    """

    def __init__(self, folders: Iterable[str | Path], *, rescan_seconds: float = 30.0) -> None:
        self.folders = tuple(Path(folder) for folder in folders)
        self.rescan_seconds = rescan_seconds
        self._wake = threading.Event()
        self._observer = Observer()
        self._handler = _WakeOnChange(self._wake)

    def start(self) -> None:
        for folder in self.folders:
            self._observer.schedule(self._handler, str(folder), recursive=False)
        self._observer.daemon = True
        self._observer.start()

    def wait(self, timeout: float | None = None) -> Wake:
        """Block until a change (``Wake.EVENT``) or until the rescan is due (``Wake.RESCAN``)."""
        limit = self.rescan_seconds if timeout is None else min(timeout, self.rescan_seconds)
        if self._wake.wait(limit):
            self._wake.clear()
            return Wake.EVENT
        return Wake.RESCAN

    def close(self) -> None:
        self._observer.stop()
        with contextlib.suppress(RuntimeError):  # never started
            self._observer.join(timeout=5)

    def __enter__(self) -> FolderWatcher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
