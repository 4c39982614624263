"""ReceiptWriter: batches recorded on a thread, one at a time, counted, errors handed back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

import gateway.receipt_writer as receipt_writer
from ar.receipts import NewReceiptRows
from gateway.receipt_writer import ReceiptWriter


def _batch(*numbers: int) -> NewReceiptRows:
    """Stand-in rows: one number each."""
    return NewReceiptRows(
        [(n,) for n in numbers], file_id=None, created_at=datetime(2026, 11, 22, tzinfo=UTC)
    )


class _Recorder:
    """Stands in for receipts.record_rows: records which thread ran each batch, never two at once."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[int] = set()
        self.busy = threading.Lock()
        self.fail_on = fail_on

    def __call__(self, session: Any, rows: NewReceiptRows, *, actor: str) -> tuple[int, int]:
        assert self.busy.acquire(blocking=False), "two batches recorded at once"
        batch = [n for (n,) in rows.rows]
        try:
            self.threads.add(threading.get_ident())
            if self.fail_on is not None and self.fail_on in batch:
                raise RuntimeError(f"database refused {self.fail_on}")
            self.batches.append(list(batch))
            return sum(1 for n in batch if n % 2), sum(1 for n in batch if not n % 2)
        finally:
            self.busy.release()


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    fake = _Recorder()
    monkeypatch.setattr(receipt_writer.receipts, "record_rows", fake)
    return fake


def test_batches_are_recorded_in_order_on_another_thread_and_counted(recorder: _Recorder) -> None:
    writer = ReceiptWriter(session=None, actor="ingest")  # type: ignore[arg-type]
    writer.submit(_batch(1, 2, 3))
    writer.submit(_batch())
    writer.submit(_batch(4, 5))
    assert writer.take_counts() == (3, 2)  # odd ones "created", even ones "known"
    writer.submit(_batch(7))
    assert writer.take_counts() == (1, 0)  # counted since the last call
    assert recorder.batches == [[1, 2, 3], [4, 5], [7]]
    assert threading.get_ident() not in recorder.threads


def test_an_error_of_a_batch_is_raised_to_the_caller(recorder: _Recorder) -> None:
    recorder.fail_on = 5
    writer = ReceiptWriter(session=None, actor="ingest")  # type: ignore[arg-type]
    writer.submit(_batch(4, 5))
    with pytest.raises(RuntimeError, match="refused 5"):
        writer.wait()
    writer.submit(_batch(5))
    writer.abandon()  # the transaction is rolled back anyway: its error is not raised again
    writer.wait()
    assert recorder.batches == []
