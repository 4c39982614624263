"""Write a period's unexported journals to the GL export folder, exactly once.

The journals are selected and marked exported (gl_exports, unique per journal) in the
caller's transaction; the file is written under a temporary name, fsynced and renamed
to its final name before that transaction commits. If the commit fails the final file
is removed again, so a journal is never in two files and never marked without its file.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from ar import glexport
from config.ar import ExportFormat


@dataclass(frozen=True, slots=True)
class ExportedFile:
    path: Path
    journals: int
    lines: int


def file_name(period: str, now: datetime, fmt: ExportFormat) -> str:
    return f"gl-{period}-{now.strftime('%Y%m%dT%H%M%S%fZ')}.{fmt.value}"


def _write_atomically(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.with_name(f".{dest.name}.part")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if dest.exists():
            raise FileExistsError(dest)
        os.rename(temp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    dir_fd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def export_period(
    session: Session, *, period: str, folder: Path, fmt: ExportFormat, actor: str, now: datetime
) -> ExportedFile | None:
    """Export the period's unexported journals into a new file in `folder`; None: nothing to export.

    Call inside the transaction and remove the file (`discard`) if that transaction fails.
    """
    journals = glexport.unexported(session, period)
    if not journals:
        return None
    name = file_name(period, now, fmt)
    text = glexport.to_csv(journals) if fmt is ExportFormat.CSV else glexport.to_json(journals)
    glexport.record_export(session, journals, file_name=name, actor=actor, now=now)
    dest = folder / name
    _write_atomically(dest, text.encode("utf-8"))
    return ExportedFile(dest, len(journals), sum(len(j.lines) for j in journals))


def discard(exported: ExportedFile | None) -> None:
    if exported is not None:
        with contextlib.suppress(FileNotFoundError):
            exported.path.unlink()
