"""Cash application after ingest, for the CLI and the daemon alike: the configured engine over new receipts.

Runs after the file's own commit, in transactions of its own (batches): a matching failure
never loses the file's receipts; they stay open for the next `arbridge match run`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from ar.cashapp.rules import engine_from
from ar.cashapp.run import BATCH_SIZE, CashApplication, RunSummary, run_batches
from config.directory import Configuration
from gateway.cli.receivables import setup_from
from gateway.collector import fewer_collections
from gateway.ingest import IngestResult, receipt_ids_of_file
from gateway.match_pipeline import Planner
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


def match_receipts(
    sessions: sessionmaker[Session],
    config: Configuration,
    receipt_ids: Iterable[int] | None = None,
    *,
    batch_size: int = BATCH_SIZE,
) -> RunSummary:
    """Match the given open receipts (all open ones with None), committing every `batch_size`;
    a large run plans its next batch in a second process while it writes (``gateway.match_pipeline``)."""
    cash_application = cash_application_for(config)
    ids = None if receipt_ids is None else list(receipt_ids)
    planner = Planner.start_for(
        sessions,
        cash_application,
        now=_now,
        receipts=None if ids is None else len(ids),
        batch_size=batch_size,
    )
    try:
        with fewer_collections():
            return run_batches(
                sessions,
                cash_application,
                now=_now,
                receipt_ids=ids,
                batch_size=batch_size,
                runner=planner,
            )
    finally:
        if planner is not None:
            planner.close()
