"""The XSD check of an inbound file on a thread of its own, beside the parse of the same file.

Ingest both parses a statement and checks it against the official XSD. One after the
other (or the check riding along the parse) they share one core; with the C check
(``formats.validate.IN_C``) libxml2 reads without the GIL, so here the check runs on the
other core while the parse and the inserts run on this one, and a 1.5 GB statement is
ingested in about the time of its parse and inserts alone. Without the C check the same
code runs the iterparse check, which holds the GIL: correct, only not parallel.

The check reads the file through a descriptor of its own; it is opened by path and must
be the very file the parse reads (same device and inode), else the check runs after the
parse on the parse's own stream.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from formats.errors import Problem
from formats.validate import StreamingCheck
from gateway.background import Background


class XsdCheckThread:
    """Starts the check at once; ``result()`` waits for its problems; leaving the block cancels it.

    Use as a context manager, so that a refused file (the parse failed, the block is left
    by an exception) stops the check at its next node instead of reading on.
    """

    def __init__(self, path: Path, parse_stream: BinaryIO, *, source: str) -> None:
        self._parse_stream = parse_stream
        self._source = source
        self._stream: BinaryIO | None = _same_file(path, parse_stream)
        self._check: StreamingCheck | None = None
        self._running: Background[list[Problem] | None] | None = None
        if self._stream is not None:
            self._check = StreamingCheck(self._stream, source=source)
            self._running = Background(self._check.run, name=f"xsd-check {source}")

    def result(self) -> list[Problem]:
        """Every deviation of the file from its XSD (waits for the check to finish)."""
        if self._running is None:  # no second descriptor on this file: check the parse's stream now
            problems = StreamingCheck(self._parse_stream, source=self._source).run()
        else:
            try:
                problems = self._running.result()
            finally:
                self._close()
        assert problems is not None  # only a cancelled check has none
        return problems

    def __enter__(self) -> XsdCheckThread:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._running is not None and self._check is not None:
            self._check.cancel()  # a no-op once it has finished
            self._running.settle()
        self._close()

    def _close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def _same_file(path: Path, parse_stream: BinaryIO) -> BinaryIO | None:
    """A second stream on the file the parse reads, or None when ``path`` is no longer that file."""
    try:
        parsed = os.fstat(parse_stream.fileno())
        stream = path.open("rb")
    except (OSError, ValueError, AttributeError):
        return None
    opened = os.fstat(stream.fileno())
    if (opened.st_dev, opened.st_ino) != (parsed.st_dev, parsed.st_ino):
        stream.close()
        return None
    return stream
