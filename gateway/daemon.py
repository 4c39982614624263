"""The daemon: poll, watch, ingest and deliver on schedule; one cycle for cron; status; JSON-line logs.

A worker owns one transport per channel and works in one thread. SIGTERM/SIGINT set
a flag that the loops check between files, so the file in hand is finished (its
transaction commits) or, if the process dies anyway, rolled back by the database.
On SQLite one worker runs at a time (an flock); on PostgreSQL any number share the
work through leases (gateway/claims.py).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

import gateway.schema  # noqa: F401  -- every mapped class, so the ORM can resolve foreign keys
from config.directory import Configuration
from gateway.cash_application import match_file
from gateway.channels import ChannelHealth, Channels, channel_config
from gateway.claims import CommitHooks, WorkerLock, aware, utcnow, worker_id
from gateway.db import is_sqlite
from gateway.inbound import InboundWork, RemoteSeen, RemoteState
from gateway.ingest import Ingestor, IngestResult
from gateway.outbox import OutboundFile, OutboundState, Outbox
from gateway.routing import Inbound, RouteTable, next_scheduled
from gateway.transport.folder import FolderWatcher, Wake

log = logging.getLogger("arbridge.daemon")
RUN_LOCK = "arbridge.run.lock"
IDLE_SECONDS = 2.0  # how often an idle worker looks for work other workers queued

# -- logs ----------------------------------------------------------------------------------

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, event, message, then the record's extras (channel, route...)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or record.name.rsplit(".", 1)[-1],
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(stream: TextIO = sys.stderr, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("arbridge")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # The transports log refusals under their module names.
    transport = logging.getLogger("gateway")
    transport.handlers[:] = [handler]
    transport.setLevel(logging.WARNING)


# -- the worker ----------------------------------------------------------------------------


@dataclass
class CycleReport:
    polled: int = 0
    queued: int = 0
    ingested: int = 0
    sent: int = 0
    poll_errors: int = 0


@dataclass
class Worker:
    config: Configuration
    engine: Engine
    owner: str = field(default_factory=worker_id)
    lease_ttl: timedelta = timedelta(minutes=5)
    batch: int = 20
    one_shot: bool = False

    def __post_init__(self) -> None:
        self.routes = RouteTable.from_config(self.config)
        self.channels = Channels(self.config)
        self.hooks = CommitHooks(self.engine)
        self.stop_requested = threading.Event()
        self.ingestor = Ingestor(self.config, self.hooks.sessions, actor=f"daemon:{self.owner}")
        self.inbound = InboundWork(
            after_ingest=self._match,
            routes=self.routes,
            engine=self.engine,
            hooks=self.hooks,
            ingestor=self.ingestor,
            channels=self.channels,
            spool=self.config.spool,
            owner=self.owner,
            lease_ttl=self.lease_ttl,
            batch=self.batch,
            stopping=self.stop_requested.is_set,
            wait_for_settle=self.one_shot,
        )
        self.outbox = Outbox(
            routes=self.routes,
            sessions=self.hooks.sessions,
            channels=self.channels,
            owner=self.owner,
            lease_ttl=self.lease_ttl,
            batch=self.batch,
            stopping=self.stop_requested.is_set,
        )
        self._lock: WorkerLock | None = None

    def _match(self, result: IngestResult) -> None:
        """Cash application on a processed file's new receipts; a failure leaves them open, logged."""
        try:
            summary = match_file(self.hooks.sessions, self.config, result)
            if summary is None:
                return
        except Exception as error:  # the receipts are committed; `arbridge match run` retries them
            log.error(
                "cash application failed",
                extra={
                    "event": "match_failed",
                    "file": result.file,
                    "error": f"{type(error).__name__}: {error}",
                },
            )
            return
        log.info(
            "matched",
            extra={
                "event": "matched",
                "file": result.file,
                "receipts": summary.receipts,
                "applications": summary.applications,
                "outcomes": dict(summary.outcomes),
            },
        )

    @contextmanager
    def running(self) -> Iterator[Worker]:
        """Take the SQLite worker lock (refused with WorkerConflict if taken), set up, clean up."""
        if is_sqlite(self.engine):
            self._lock = WorkerLock(self.config.spool / RUN_LOCK)
            self._lock.acquire()
            self._break_stale_leases()
        self.channels.create_folders(self.routes.folders())
        log.info("worker started", extra={"event": "started", "worker": self.owner})
        try:
            yield self
        finally:
            self.channels.close()
            if self._lock is not None:
                self._lock.release()
            log.info("worker stopped", extra={"event": "stopped", "worker": self.owner})

    def _break_stale_leases(self) -> None:
        # We hold the only-worker lock: any lease still running belongs to a dead process.
        with self.hooks.sessions() as session, session.begin():
            for model in (RemoteSeen, OutboundFile):
                session.execute(
                    update(model).where(model.lease_owner.is_not(None)).values(lease_expires_at=None)
                )

    def cycle(self, due: list[Inbound]) -> CycleReport:
        report = CycleReport()
        for route in due:
            if self.stop_requested.is_set():
                break
            polled = self.inbound.poll(route)
            report.polled += 1
            report.queued += polled.queued
            report.poll_errors += 0 if polled.ok else 1
        report.ingested = self.inbound.work()
        report.sent = self.outbox.run()
        with self.hooks.sessions() as session, session.begin():
            self.channels.flush_health(session, self.owner)
        return report

    def run_once(self) -> CycleReport:
        """One full cycle: every inbound route polled, the queue worked, everything due sent."""
        with self.running():
            report = self.cycle(list(self.routes.inbound.values()))
        log.info("cycle done", extra={"event": "cycle", **report.__dict__})
        return report

    def run_forever(self) -> None:
        """Until SIGTERM/SIGINT: poll each route on its schedule (sooner on a folder event)."""
        self._install_signals()
        with self.running():
            schedule = _Schedule(self.routes)
            watcher = self._watcher()
            try:
                while not self.stop_requested.is_set():
                    due = schedule.due()
                    for route in due:
                        polled = self.inbound.poll(route)
                        schedule.polled(route, polled.pending, self._settle_seconds(route))
                        if self.stop_requested.is_set():
                            break
                    self.inbound.work()
                    self.outbox.run()
                    with self.hooks.sessions() as session, session.begin():
                        self.channels.flush_health(session, self.owner)
                    wait = min(IDLE_SECONDS, schedule.seconds_to_next())
                    if wait > 0 and not self.stop_requested.is_set():
                        if watcher is not None:
                            if watcher.wait(wait) is Wake.EVENT:
                                schedule.wake_folders()
                        else:
                            self.stop_requested.wait(wait)
            finally:
                if watcher is not None:
                    watcher.close()

    def stop(self) -> None:
        self.stop_requested.set()

    def _install_signals(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("stopping after the file in hand", extra={"event": "stopping", "signal": signum})
            self.stop_requested.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _settle_seconds(self, route: Inbound) -> float:
        settings = channel_config(self.config, route.channel)
        return getattr(settings, "settle_seconds", 0.0)

    def _watcher(self) -> FolderWatcher | None:
        folders = [
            Path(route.folder)
            for route in self.routes.inbound.values()
            if channel_config(self.config, route.channel).type == "folder" and Path(route.folder).is_dir()
        ]
        if not folders:
            return None
        watcher = FolderWatcher(folders, rescan_seconds=IDLE_SECONDS)
        watcher.start()
        return watcher


class _Schedule:
    """When each inbound route is next polled (monotonic seconds), from its poll interval and times of day."""

    def __init__(self, routes: RouteTable) -> None:
        self.routes = routes
        now = time.monotonic()
        self.next: dict[str, float] = {route_id: now for route_id in routes.inbound}
        self.next_at: dict[str, datetime | None] = {
            route.id: next_scheduled(route.route.schedule, utcnow(), routes.timezone)
            for route in routes.inbound.values()
        }

    def due(self) -> list[Inbound]:
        now, wall = time.monotonic(), utcnow()
        due = []
        for route in self.routes.inbound.values():
            at = self.next_at[route.id]
            if self.next[route.id] <= now or (at is not None and at <= wall):
                due.append(route)
        return due

    def polled(self, route: Inbound, pending: int, settle_seconds: float) -> None:
        interval = route.route.schedule.poll_seconds
        # Files seen but not settled yet are looked at again once they can have settled.
        delay = min(interval, settle_seconds + 0.1) if pending else interval
        self.next[route.id] = time.monotonic() + delay
        self.next_at[route.id] = next_scheduled(route.route.schedule, utcnow(), self.routes.timezone)

    def wake_folders(self) -> None:
        now = time.monotonic()
        for route_id in self.next:
            self.next[route_id] = min(self.next[route_id], now)

    def seconds_to_next(self) -> float:
        soonest = min(self.next.values(), default=time.monotonic() + IDLE_SECONDS)
        return max(0.0, soonest - time.monotonic())


# -- status --------------------------------------------------------------------------------


def status(session: Session, routes: RouteTable, *, limit: int = 50) -> dict[str, Any]:
    """Each channel with its last success and error; outbound and inbound files not done yet."""
    health = {row.channel: row for row in session.scalars(select(ChannelHealth))}
    channels = []
    for channel in routes.channels():
        row = health.get(channel)
        channels.append(
            {
                "channel": channel,
                "last_success_at": aware(row.last_success_at) if row else None,
                "last_error_at": aware(row.last_error_at) if row else None,
                "last_error": row.last_error if row else None,
            }
        )
    outbound_counts = dict(
        session.execute(select(OutboundFile.state, func.count()).group_by(OutboundFile.state)).tuples().all()
    )
    open_states = [
        OutboundState.QUEUED.value,
        OutboundState.SENDING.value,
        OutboundState.UNKNOWN.value,
        OutboundState.FAILED.value,
    ]
    outbound = [
        {
            "id": row.id,
            "route": row.route,
            "name": row.remote_name,
            "state": row.state,
            "attempts": row.attempts,
            "not_before": aware(row.not_before),
            "last_error": row.last_error,
        }
        for row in session.scalars(
            select(OutboundFile)
            .where(OutboundFile.state.in_(open_states))
            .order_by(OutboundFile.id)
            .limit(limit)
        )
    ]
    inbound_counts = dict(
        session.execute(select(RemoteSeen.state, func.count()).group_by(RemoteSeen.state)).tuples().all()
    )
    inbound = [
        {
            "id": row.id,
            "route": row.route,
            "name": row.name,
            "state": row.state,
            "attempts": row.attempts,
            "last_error": row.last_error,
        }
        for row in session.scalars(
            select(RemoteSeen)
            .where(
                RemoteSeen.state.in_(
                    [RemoteState.QUEUED.value, RemoteState.FETCHING.value, RemoteState.INGESTED.value]
                )
            )
            .order_by(RemoteSeen.id)
            .limit(limit)
        )
    ]
    return {
        "channels": channels,
        "outbound": {"counts": outbound_counts, "open": outbound},
        "inbound": {"counts": inbound_counts, "open": inbound},
    }
