"""Receipts recorded on a thread of their own while the parse of their statement goes on.

Ingest hands the AR core a batch of receipts every 2,000, as rows already in the
driver's form (``receipts.NewReceipts``). Most of the time of a batch is SQLite's B-tree
work (``sqlite3_step``), which runs without the GIL: on a second thread it overlaps the
parse of the next batch instead of following it. Each INSERT carries 500 rows, so this
thread takes the GIL a few times per batch, not twice per row (``bulkrows.insert_values``).

One batch at a time, and the session belongs to one thread at a time: ``submit`` waits
for the batch before it, and the caller uses the session again only after ``wait``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ar import receipts
from gateway.background import Background


class ReceiptWriter:
    """Records batches with ``receipts.record_rows`` in the background, counting what they did."""

    def __init__(self, session: Session, *, actor: str) -> None:
        self._session = session
        self._actor = actor
        self._running: Background[tuple[int, int]] | None = None
        self._created = 0
        self._known = 0

    def submit(self, batch: receipts.NewReceiptRows) -> None:
        """Record ``batch`` (the caller must not change it) once the batch before it is done."""
        self.wait()
        if batch.rows:
            session, actor = self._session, self._actor
            self._running = Background(
                lambda: receipts.record_rows(session, batch, actor=actor), name="record receipts"
            )

    def wait(self) -> None:
        """Wait for the batch being recorded; its error, if any, is raised here."""
        running, self._running = self._running, None
        if running is not None:
            created, known = running.result()
            self._created += created
            self._known += known

    def take_counts(self) -> tuple[int, int]:
        """Receipts created and already known since the last call (waits for the running batch)."""
        self.wait()
        counts = (self._created, self._known)
        self._created = self._known = 0
        return counts

    def abandon(self) -> None:
        """Wait for the running batch and drop its outcome: the transaction is being rolled back."""
        running, self._running = self._running, None
        if running is not None:
            running.settle()  # the error that made us abandon is the one reported
