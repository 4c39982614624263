"""Inbound exactly once: list a route's remote folder, fetch each file to the spool, ingest, then dispose.

Every remote file seen is a row of ``remote_seen`` (unique on channel, folder, name,
size, mtime), which is both the job queue and the memory of what was taken:

    queued -> fetching -> ingested -> done       (after: delete | move)
                     \\--> done                   (after: leave: remembered, never fetched again)
                     \\--> gone                   (it vanished before we fetched it)

The row becomes ``ingested`` (or ``done``) in the SAME transaction as the file's
ingest, through a commit hook that also checks our fencing token: a late commit of
a stalled worker is refused with the whole ingest. Only after that commit is the
remote file removed or moved; a crash in between leaves the row ``ingested`` and
the next worker finishes the disposal. A crash before the commit leaves it
``fetching``: it is fetched again and, if the first ingest did commit after all,
the registry recognises the bytes by SHA-256 as a duplicate.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy import DateTime, Engine, Index, String, Text, UniqueConstraint, case, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ar.db import Base
from config.routes import AfterFetch
from gateway.channels import Channels, transfer_seconds
from gateway.claims import (
    CommitHooks,
    Lease,
    Leased,
    claim,
    dialect_insert,
    fenced_update,
    released,
    renew,
    single_poller,
    utcnow,
)
from gateway.crashpoints import crashpoint
from gateway.errors import LeaseLost
from gateway.ingest import Ingestor, IngestResult
from gateway.routing import Inbound, RouteTable
from gateway.transport.base import Listing
from gateway.transport.errors import RemoteExists, RemoteNotFound, TransportError
from gateway.transport.folder import FolderTransport

log = logging.getLogger("arbridge.inbound")
MAX_BACKOFF = timedelta(minutes=15)


class RemoteState(StrEnum):
    QUEUED = "queued"
    FETCHING = "fetching"
    INGESTED = "ingested"  # committed locally; the remote file still to remove or move
    DONE = "done"
    GONE = "gone"  # vanished from the server before we fetched it


class RemoteSeen(Leased, Base):
    """A remote file as listed, and what became of it."""

    __tablename__ = "remote_seen"
    __table_args__ = (
        UniqueConstraint("channel", "folder", "name", "size", "mtime_us", name="uq_remote_seen_file"),
        Index("ix_remote_seen_due", "state", "not_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(63))
    #: The folder as the transport names it.
    folder: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    #: The server's mtime in microseconds (SFTP gives whole seconds).
    mtime_us: Mapped[int]
    route: Mapped[str] = mapped_column(String(130), index=True)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ingested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: SHA-256 of the bytes fetched: the inbound_files row(s) of this file.
    sha256: Mapped[str | None] = mapped_column(String(64))
    #: What the ingest made of it: processed, quarantined or duplicate.
    ingest_state: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)


# A claimed file is being fetched, unless it was already ingested (then only its disposal is left).
_TAKEN = case(
    (RemoteSeen.state == RemoteState.INGESTED.value, RemoteState.INGESTED.value),
    else_=RemoteState.FETCHING.value,
)


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=5 * 2 ** min(attempts, 10)), MAX_BACKOFF)


@dataclass(frozen=True, slots=True)
class Polled:
    ok: bool
    queued: int = 0
    #: Files seen but not complete yet (a folder channel's settle time): poll again soon.
    pending: int = 0


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


@dataclass
class InboundWork:
    """Polls routes and works the inbound queue; one per worker."""

    routes: RouteTable
    engine: Engine
    hooks: CommitHooks
    ingestor: Ingestor
    channels: Channels
    spool: Path
    owner: str
    lease_ttl: timedelta = timedelta(minutes=5)
    batch: int = 20
    clock: Callable[[], datetime] = utcnow
    stopping: Callable[[], bool] = lambda: False
    #: One-shot runs wait out a folder channel's settle time instead of leaving files for next time.
    wait_for_settle: bool = False
    #: Called after a file's ingest committed (the daemon runs cash application here).
    after_ingest: Callable[[IngestResult], None] | None = None

    # -- polling -------------------------------------------------------------------

    def poll(self, route: Inbound) -> Polled:
        """List the route's folder and queue the files not seen before."""
        with single_poller(self.engine, f"arbridge:poll:{route.id}") as ours:
            if not ours:
                return Polled(ok=True)  # another worker is polling this route right now
            transport = self.channels.get(route.channel)
            try:
                listing = transport.list(route.folder, route.route.pattern)
                if self.wait_for_settle and listing.pending and isinstance(transport, FolderTransport):
                    time.sleep(transport.settle_seconds + 0.05)
                    listing = transport.list(route.folder, route.route.pattern)
            except TransportError as error:
                self.channels.failed(route.channel, self.clock(), error)
                log.error(
                    "poll failed",
                    extra={
                        "event": "poll_failed",
                        "channel": route.channel,
                        "route": route.id,
                        "error": str(error),
                    },
                )
                return Polled(ok=False)
            self.channels.succeeded(route.channel, self.clock())
            return Polled(ok=True, queued=self._queue(route, listing), pending=len(listing.pending))

    def _queue(self, route: Inbound, listing: Listing) -> int:
        now = self.clock()
        queued = 0
        with self.hooks.sessions() as session, session.begin():
            known = self._known(session, route, listing)
            for file in listing.files:
                mtime_us = round(file.mtime * 1_000_000)
                state = known.get((file.name, file.size, mtime_us))
                if state is not None and (state != RemoteState.DONE or route.route.after is AfterFetch.LEAVE):
                    continue  # queued or in hand already, or taken and left in place
                key = {
                    "channel": route.channel,
                    "folder": route.folder,
                    "name": file.name,
                    "size": file.size,
                    "mtime_us": round(file.mtime * 1_000_000),
                }
                insert = (
                    dialect_insert(session, RemoteSeen)
                    .values(
                        **key,
                        route=route.id,
                        state=RemoteState.QUEUED.value,
                        attempts=0,
                        not_before=now,
                        seen_at=now,
                        fencing_token=0,
                    )
                    .on_conflict_do_nothing()
                )
                if session.execute(insert).rowcount:  # type: ignore[attr-defined]
                    queued += 1
                    log.info(
                        "queued",
                        extra={
                            "event": "queued",
                            "channel": route.channel,
                            "route": route.id,
                            "file": file.name,
                            "size": file.size,
                        },
                    )
                elif route.route.after is not AfterFetch.LEAVE:
                    # Taken and disposed of before, yet listed again with the same name, size and
                    # mtime: fetch it again and let its SHA-256 decide whether it is a duplicate.
                    conditions = [getattr(RemoteSeen, k) == v for k, v in key.items()]
                    session.execute(
                        update(RemoteSeen)
                        .where(*conditions, RemoteSeen.state == RemoteState.DONE.value)
                        .values(state=RemoteState.QUEUED.value, not_before=now, done_at=None)
                    )
        return queued

    def _known(self, session: Session, route: Inbound, listing: Listing) -> dict[tuple[str, int, int], str]:
        """The rows already there for the listed names: a big folder is not re-inserted at every poll."""
        names = listing.names()
        known: dict[tuple[str, int, int], str] = {}
        for start in range(0, len(names), 500):
            rows = session.execute(
                select(RemoteSeen.name, RemoteSeen.size, RemoteSeen.mtime_us, RemoteSeen.state).where(
                    RemoteSeen.channel == route.channel,
                    RemoteSeen.folder == route.folder,
                    RemoteSeen.name.in_(names[start : start + 500]),
                )
            )
            known.update({(name, size, mtime): state for name, size, mtime, state in rows})
        return known

    # -- the queue -------------------------------------------------------------------

    def work(self) -> int:
        """Fetch and ingest everything due (and finish interrupted disposals); return files committed."""
        committed = 0
        configured = list(self.routes.inbound)
        while not self.stopping():
            now = self.clock()
            with self.hooks.sessions() as session, session.begin():
                leases = claim(
                    session,
                    RemoteSeen,
                    RemoteSeen.state.in_(
                        [RemoteState.QUEUED.value, RemoteState.FETCHING.value, RemoteState.INGESTED.value]
                    )
                    & (RemoteSeen.not_before <= now)
                    & RemoteSeen.route.in_(configured),
                    owner=self.owner,
                    ttl=self.lease_ttl,
                    now=now,
                    limit=self.batch,
                    values={"state": _TAKEN, "attempts": RemoteSeen.attempts + 1},
                )
                ids = [lease.row_id for lease in leases]
                rows = {
                    row.id: row for row in session.scalars(select(RemoteSeen).where(RemoteSeen.id.in_(ids)))
                }
                for row in rows.values():
                    session.expunge(row)
            if not leases:
                return committed
            for lease in leases:
                if self.stopping():
                    return committed  # unclaimed leases run out; nothing was done with them
                row = rows[lease.row_id]
                route = self.routes.inbound[row.route]
                try:
                    lease = self._renew(lease)
                    if row.state == RemoteState.INGESTED:
                        self._dispose(route, row, lease)
                    elif self._take(route, row, lease):
                        committed += 1
                except LeaseLost as lost:
                    log.warning(
                        "late commit refused",
                        extra=self._extra(route, row, event="lease_lost", error=str(lost)),
                    )
                except Exception as error:  # a daemon outlives one bad file; it is retried, not lost
                    log.exception(
                        "job failed", extra=self._extra(route, row, event="job_failed", error=repr(error))
                    )
                    with contextlib.suppress(Exception):
                        self._settle(
                            row,
                            lease,
                            RemoteState(row.state)
                            if row.state != RemoteState.FETCHING
                            else RemoteState.QUEUED,
                            repr(error),
                            retry=True,
                        )
        return committed

    def _spool_path(self, route: Inbound, row: RemoteSeen, lease: Lease) -> Path:
        # The token is in the name: a worker that lost its lease must not find its file
        # replaced (or removed) by the worker that took the job over.
        directory = self.spool / "in" / route.owner / route.route.name
        return directory / f"{row.id:08d}-{lease.token}-{_safe(row.name)}"

    def _clean_spool(self, route: Inbound, row: RemoteSeen, lease: Lease) -> None:
        """The row is finished: remove our download, and those crashed workers left long ago.

        A recent one may belong to a paused worker, which still reads it (to be refused).
        """
        self._spool_path(route, row, lease).unlink(missing_ok=True)
        stale = time.time() - max(3600.0, 2 * self.lease_ttl.total_seconds())
        directory = self.spool / "in" / route.owner / route.route.name
        for path in directory.glob(f"{row.id:08d}-*"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < stale:
                    path.unlink()

    def _renew(self, lease: Lease) -> Lease:
        now = self.clock()
        if lease.expires_at - now > self.lease_ttl / 2:
            return lease
        with self.hooks.sessions() as session, session.begin():
            return renew(session, RemoteSeen, lease, ttl=self.lease_ttl, now=now)

    def _take(self, route: Inbound, row: RemoteSeen, lease: Lease) -> bool:
        """Fetch, ingest (our row's state commits with it), dispose. True once committed."""
        transport = self.channels.get(route.channel)
        dest = self._spool_path(route, row, lease)
        dest.parent.mkdir(parents=True, exist_ok=True)
        left = (lease.expires_at - self.clock()).total_seconds() - 5
        deadline = time.monotonic() + max(
            1.0, min(left, transfer_seconds(self.channels.config, route.channel))
        )
        try:
            fetched = transport.fetch(row.folder, row.name, dest, deadline=deadline)
        except RemoteNotFound as error:
            self._settle(row, lease, RemoteState.GONE, str(error), done=True)
            self._clean_spool(route, row, lease)
            return False
        except TransportError as error:
            self.channels.failed(route.channel, self.clock(), error)
            self._settle(row, lease, RemoteState.QUEUED, str(error), retry=True)
            return False
        self.channels.succeeded(route.channel, self.clock())
        crashpoint("after_download")
        final = RemoteState.DONE if route.route.after is AfterFetch.LEAVE else RemoteState.INGESTED

        def with_the_ingest(session: Session) -> None:
            # Runs inside the Ingestor's own transaction, just before it commits.
            now = self.clock()
            values: dict[str, object] = {
                "state": final.value,
                "sha256": fetched.sha256,
                "ingested_at": now,
                "last_error": None,
            }
            if final is RemoteState.DONE:
                values.update(released(done_at=now))
            fenced_update(session, RemoteSeen, lease, **values)
            crashpoint("after_post_before_commit")

        try:
            with self.hooks.on_commit(with_the_ingest):
                result = self.ingestor.ingest(
                    dest, source=f"{route.channel}:{route.id}/{row.name}", name=row.name
                )
        except LeaseLost:
            dest.unlink(missing_ok=True)
            raise
        except OperationalError as error:
            # The database is locked or unreachable: nothing committed; try the file again later.
            dest.unlink(missing_ok=True)
            log.warning("database busy", extra=self._extra(route, row, event="db_busy", error=str(error)))
            with contextlib.suppress(OperationalError):
                self._settle(row, lease, RemoteState.QUEUED, f"database: {error}", retry=True)
            return False
        self._record_outcome(row, result)
        self._log_ingest(route, row, result)
        if self.after_ingest is not None:
            self.after_ingest(result)
        if final is RemoteState.INGESTED:
            self._dispose(route, row, lease)
        else:
            self._clean_spool(route, row, lease)
        return True

    def _record_outcome(self, row: RemoteSeen, result: IngestResult) -> None:
        # The hook ran before the Ingestor knew the outcome; the outcome is informative only.
        with self.hooks.sessions() as session, session.begin():
            session.execute(
                update(RemoteSeen).where(RemoteSeen.id == row.id).values(ingest_state=result.state.value)
            )

    def _dispose(self, route: Inbound, row: RemoteSeen, lease: Lease) -> None:
        """The content is committed: remove or archive the remote file, then the row is done."""
        transport = self.channels.get(route.channel)
        try:
            if route.route.after is AfterFetch.DELETE:
                transport.remove(row.folder, row.name)
            elif route.archive_folder is not None:
                transport.move(row.folder, row.name, route.archive_folder)
        except RemoteNotFound:
            pass  # already removed or archived (a crash after the disposal, before `done`)
        except RemoteExists as error:
            self._settle(row, lease, RemoteState.INGESTED, f"cannot archive: {error}", retry=True)
            return
        except TransportError as error:
            self.channels.failed(route.channel, self.clock(), error)
            self._settle(row, lease, RemoteState.INGESTED, str(error), retry=True)
            return
        crashpoint("after_rename")
        self._settle(row, lease, RemoteState.DONE, None, done=True)
        self._clean_spool(route, row, lease)

    def _settle(
        self,
        row: RemoteSeen,
        lease: Lease,
        state: RemoteState,
        error: str | None,
        *,
        retry: bool = False,
        done: bool = False,
    ) -> None:
        now = self.clock()
        values: dict[str, object] = {"state": state.value, "last_error": error}
        if retry:
            values["not_before"] = now + backoff(row.attempts)  # attempts were counted by the claim
        if done:
            values["done_at"] = now
        with self.hooks.sessions() as session, session.begin():
            fenced_update(session, RemoteSeen, lease, **released(**values))
        if error is not None:
            log.warning(error, extra=self._extra(self.routes.inbound[row.route], row, event=state.value))

    def _log_ingest(self, route: Inbound, row: RemoteSeen, result: IngestResult) -> None:
        expected = route.route.formats
        if expected and result.format and not any(result.format.startswith(f) for f in expected):
            log.warning(
                "unexpected format",
                extra=self._extra(
                    route, row, event="unexpected_format", format=result.format, expected=expected
                ),
            )
        log.info(
            f"{row.name}: {result.state.value}",
            extra=self._extra(
                route,
                row,
                event="ingested",
                sha256=result.sha256,
                state=result.state.value,
                file_id=result.file_id,
                receipts=result.receipts_created,
            ),
        )

    @staticmethod
    def _extra(route: Inbound, row: RemoteSeen, **more: object) -> dict[str, object]:
        return {"channel": route.channel, "route": route.id, "file": row.name, **more}
