"""The transport protocol (list, fetch, put, stat, remove, move) and what the implementations share.

Deadlines are absolute ``time.monotonic()`` values: a transfer that is still
running when the deadline passes is abandoned with ``TransportTimeout``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from gateway.transport.errors import ChecksumRefused, RemoteNameRefused, TransportTimeout

log = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
# Letters, digits, '.', '_', '-'; no leading dot; at most 201 characters. Such a
# name can never be a path ("..", "/"), an option ("-x") or a hidden file.
DEFAULT_ALLOWED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
# Files still being written by someone, by the usual conventions (ours included:
# ".name.part-xxxx"). Only plain characters, so "../x" is refused rather than ignored.
_IN_PROGRESS = re.compile(r"\.[A-Za-z0-9._-]+|[A-Za-z0-9._-]+\.(?:part|tmp)")


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A regular file in a remote (or watched) folder, as listed."""

    name: str
    size: int
    mtime: float  # seconds since the epoch, as the server reports it


class RefusalReason(StrEnum):
    NAME = "name outside the allowlist"
    SYMLINK = "symbolic link"
    NOT_REGULAR = "not a regular file"


@dataclass(frozen=True, slots=True)
class RefusedFile:
    """A listed entry that will not be fetched: it is reported, never used as a local path."""

    name: str  # as received, possibly hostile: print it with repr()
    reason: RefusalReason


@dataclass(frozen=True, slots=True)
class Listing:
    """What ``list`` found: files to take, and entries refused (to report, not to fetch).

    ``pending`` names files that are there but not complete yet (folder channel).
    Iterating a listing iterates ``files``.
    """

    files: tuple[RemoteFile, ...] = ()
    refused: tuple[RefusedFile, ...] = ()
    pending: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[RemoteFile]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def names(self) -> list[str]:
        return [file.name for file in self.files]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A completed download: its final local path, size and SHA-256 (hex)."""

    path: Path
    size: int
    sha256: str


class NameVerdict(StrEnum):
    TAKE = "take"
    IN_PROGRESS = "in progress"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class NamePolicy:
    """Which remote names are acceptable; configurable per channel."""

    allowed: re.Pattern[str] = field(default=DEFAULT_ALLOWED_NAME)

    def judge(self, name: str) -> NameVerdict:
        if _IN_PROGRESS.fullmatch(name):
            return NameVerdict.IN_PROGRESS
        return NameVerdict.TAKE if self.allowed.fullmatch(name) else NameVerdict.REFUSE

    def check(self, name: str, *, endpoint: str | None = None, folder: str | None = None) -> str:
        """Return ``name`` if it is a takeable name, else raise ``RemoteNameRefused``."""
        if self.judge(name) is not NameVerdict.TAKE:
            raise RemoteNameRefused(
                f"the name {name!r} is outside the allowlist", endpoint=endpoint, folder=folder, name=None
            )
        return name


def matches(name: str, pattern: str) -> bool:
    """Shell-style pattern (``*.xml``), case-sensitive, the same on every platform."""
    return fnmatch.fnmatchcase(name, pattern)


def log_refused(endpoint: str, folder: str, refused: tuple[RefusedFile, ...]) -> None:
    for entry in refused:
        log.warning("%s: %s: refused %r (%s)", endpoint, folder, entry.name, entry.reason.value)


def temp_name(name: str) -> str:
    """The hidden name a file is written under before it is renamed into place."""
    return f".{name}.part-{secrets.token_hex(4)}"


def sha256_file(path: Path) -> tuple[int, str]:
    """(size, SHA-256 hex) of a local file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def check_queued_bytes(local: Path, expected_sha256: str, *, endpoint: str, folder: str, name: str) -> int:
    """Refuse to send a file whose bytes changed since it was queued; return its size."""
    size, actual = sha256_file(local)
    if actual != expected_sha256.lower():
        raise ChecksumRefused(
            f"{local} has SHA-256 {actual}, but {expected_sha256} was queued",
            endpoint=endpoint,
            folder=folder,
            name=name,
        )
    return size


def remaining(deadline: float, *, endpoint: str, folder: str | None = None, name: str | None = None) -> float:
    """Seconds left before ``deadline``; raise ``TransportTimeout`` when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TransportTimeout(
            "the transfer passed its deadline", endpoint=endpoint, folder=folder, name=name
        )
    return left


@runtime_checkable
class Transport(Protocol):
    """A channel to one remote (or local) place holding folders of files.

    Names are checked against the channel's allowlist on the way in and out;
    folders come from configuration and are trusted.
    """

    @property
    def endpoint(self) -> str:
        """A short label for messages and logs (``sftp://bank@host:22``, ``folder``)."""
        ...

    def list(self, folder: str, pattern: str = "*") -> Listing:
        """Regular files in ``folder`` whose name matches ``pattern`` and the allowlist.

        Entries matching ``pattern`` that are refused (names, symlinks, special
        files) are in ``Listing.refused`` and logged; in-progress names
        (leading dot, ``.part``, ``.tmp``) are left alone.
        """
        ...

    def fetch(self, folder: str, name: str, dest: Path, *, deadline: float) -> FetchResult:
        """Download to a temp file beside ``dest``, verify, fsync, rename to ``dest``.

        Raises ``IntegrityError`` when the remote file changed during the
        download or the bytes received are not its size.
        """
        ...

    def put(self, local: Path, folder: str, name: str, *, expected_sha256: str, deadline: float) -> None:
        """Upload under a temp name, verify, then rename to ``name``.

        Raises ``ChecksumRefused`` when ``local`` no longer has the queued
        SHA-256; never leaves a partial file under ``name``.
        """
        ...

    def stat(self, folder: str, name: str) -> RemoteFile | None:
        """The file if it is there (and regular), else None: used to confirm an upload after a crash."""
        ...

    def remove(self, folder: str, name: str) -> None: ...

    def move(self, folder: str, name: str, to_folder: str) -> None:
        """Move a file to another folder under the same name (archive); never overwrites."""
        ...

    def close(self) -> None: ...
