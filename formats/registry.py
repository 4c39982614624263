"""The hand-written list of format adapters, and detection of a file's format from its first bytes.

Every adapter is a module with the same surface (STYLE.md): ``FORMAT``,
``identify(head) -> bool`` and ``parse(stream, *, source) -> Iterator[...]``.
Add one here by hand; ``tests/formats/test_registry.py`` feeds junk to each.

>>> detect(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>').FORMAT
'camt'
>>> detect(b"UNA:+.? 'UNB+UNOC:3") is None
True
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from formats import camt


class Adapter(Protocol):
    """What every format module provides (checked structurally; modules satisfy it)."""

    FORMAT: str

    def identify(self, head: bytes) -> bool: ...

    def parse(self, stream: BinaryIO, *, source: str) -> Iterator[object]: ...


ADAPTERS: tuple[Adapter, ...] = (camt,)


def detect(head: bytes) -> Adapter | None:
    """The adapter that recognises these first bytes (a few KiB of the file), or None: unknown format."""
    for adapter in ADAPTERS:
        if adapter.identify(head):
            return adapter
    return None


def names() -> list[str]:
    """The FORMAT of every registered adapter, for "unknown format (known: ...)" messages."""
    return [adapter.FORMAT for adapter in ADAPTERS]
