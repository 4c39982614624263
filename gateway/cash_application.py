"""Cash application after ingest, for the CLI and the daemon alike: the configured engine over new receipts.

Runs after the file's own commit, in transactions of its own (batches): a matching failure
never loses the file's receipts; they stay open for the next `arbridge match run`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from ar.cashapp.rules import engine_from
from ar.cashapp.run import BATCH_SIZE, CashApplication, RunSummary, run_batches
from config.directory import Configuration
from gateway.cli.receivables import setup_from
from gateway.ingest import IngestResult, receipt_ids_of_file
from gateway.registry import FileState


def _now() -> datetime:
    return datetime.now(UTC)


def cash_application_for(config: Configuration) -> CashApplication:
    """The configuration's rule sets with the receivables services' setup (accounts, limits)."""
    return CashApplication(
        engine_from(config.matching), setup_from(config), default_rule_set=config.matching.default
    )


def match_file(
    sessions: sessionmaker[Session], config: Configuration, result: IngestResult
) -> RunSummary | None:
    """Cash application on the receipts a processed file created; None when there are none."""
    if result.state is not FileState.PROCESSED or not result.receipts_created or result.file_id is None:
        return None
    with sessions() as session:
        ids = receipt_ids_of_file(session, result.file_id)
    return match_receipts(sessions, config, ids)


#: Allocations between two collections of the youngest generation during a run (Python's default: 700).
RUN_GC_THRESHOLD = 50_000


@contextmanager
def fewer_collections(threshold: int = RUN_GC_THRESHOLD) -> Iterator[None]:
    """Python's cyclic garbage collector runs less often within the block (restored after).

    A match run allocates millions of short-lived objects (rows, items, proposals), freed by
    reference counting, while it holds the batch's caches: at the default threshold the
    collector runs every few receipts and a full collection walks every cached object (12 %
    of the CPU of a 10,000-receipt run; 3 % with this threshold). Objects are freed as before;
    only the search for reference cycles is rarer."""
    before = gc.get_threshold()
    gc.set_threshold(max(threshold, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def match_receipts(
    sessions: sessionmaker[Session],
    config: Configuration,
    receipt_ids: Iterable[int] | None = None,
    *,
    batch_size: int = BATCH_SIZE,
) -> RunSummary:
    """Match the given open receipts (all open ones with None), committing every `batch_size`."""
    with fewer_collections():
        return run_batches(
            sessions, cash_application_for(config), now=_now, receipt_ids=receipt_ids, batch_size=batch_size
        )
