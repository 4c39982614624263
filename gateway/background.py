"""A function run on a thread of its own while the caller goes on; its result is taken later.

Ingest uses it for work that needs no database and no Python-level coordination, and
that spends its time outside the GIL (the archive copy is a ``sendfile`` and an
``fsync``): it runs on the machine's other core while this one parses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """Starts ``function`` at once; ``result()`` waits for it and returns its value or raises its error."""

    def __init__(self, function: Callable[[], T], *, name: str) -> None:
        self._function = function
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._function()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def settle(self) -> None:
        """Wait for it and drop its outcome, error included: the caller is failing for another reason."""
        self._thread.join()
