"""Write a local file atomically: temp name beside it, fsync, verify, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from gateway.transport.base import temp_name
from gateway.transport.errors import DiskFull, RemoteOperationFailed

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (the new entry survives a power cut)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(
    dest: Path,
    chunks: Iterable[bytes],
    *,
    verify: Callable[[int, str], None],
    endpoint: str,
    folder: str | None = None,
    name: str | None = None,
    mode: int = 0o640,
) -> tuple[int, str]:
    """Write ``chunks`` to ``dest`` and return (size, SHA-256 hex).

    ``verify(size, sha256)`` runs after the fsync and before the rename; if it
    raises, the temp file is removed and ``dest`` is untouched. Whatever goes
    wrong, nothing partial is ever left under ``dest`` nor under the temp name.
    """
    temp = dest.with_name(temp_name(dest.name))
    digest = hashlib.sha256()
    size = 0
    renamed = False

    @contextlib.contextmanager
    def writing() -> Iterator[None]:
        # Only errors of the local writes are translated; the source's errors pass as they are.
        try:
            yield
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull(
                    f"no space left writing {dest} after {size} bytes",
                    endpoint=endpoint,
                    folder=folder,
                    name=name,
                ) from error
            raise RemoteOperationFailed(
                f"cannot write {dest}: {error.strerror or error}", endpoint=endpoint, folder=folder, name=name
            ) from error

    try:
        with writing():
            fd = os.open(temp, _CREATE_FLAGS, mode)
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                with writing():
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
                digest.update(chunk)
                size += len(chunk)
            with writing():
                os.fsync(fd)
        finally:
            os.close(fd)
        verify(size, digest.hexdigest())
        with writing():
            os.replace(temp, dest)
            renamed = True
            fsync_directory(dest.parent)
    finally:
        if not renamed:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    return size, digest.hexdigest()
