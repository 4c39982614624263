"""The outbox: outbound files sent exactly once (queued -> sending -> sent | unknown).

``enqueue`` fixes the bytes (written durably to ``spool/out/``, SHA-256 recorded) in the
caller's transaction. The uploader commits ``sending`` BEFORE the upload starts and
``sent`` after the rename into place. A file found in ``sending`` without a live lease
was interrupted: the remote final name decides —

    there with the right size   -> sent (it arrived; the crash was after the rename)
    absent                      -> the identical bytes are sent again
    another size, or stat fails -> unknown: a person decides (`arbridge outbox resolve`)

``failed`` is for a file that was provably not sent and must not be retried as is (its
spool bytes changed since they were queued, or they are gone).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from ar import audit
from ar.db import Base
from config.routes import render_name
from gateway.channels import Channels, transfer_seconds
from gateway.claims import Lease, Leased, claim, fenced_update, released, utcnow
from gateway.crashpoints import crashpoint
from gateway.errors import LeaseLost, OutboxError
from gateway.routing import Outbound, RouteTable, next_scheduled
from gateway.transport.atomic import write_atomically
from gateway.transport.base import CHUNK_SIZE
from gateway.transport.errors import (
    AuthenticationFailed,
    ChecksumRefused,
    ConnectionLost,
    HostKeyMismatch,
    HostKeyUnknown,
    RemoteNameRefused,
    TransportError,
    TransportTimeout,
)

log = logging.getLogger("arbridge.outbox")

#: Failures that mean "we could not ask the server", not "the server said something odd".
UNREACHABLE = (TransportTimeout, ConnectionLost, HostKeyUnknown, HostKeyMismatch, AuthenticationFailed)
#: Failures before any session existed: nothing can have been sent.
NEVER_CONNECTED = (HostKeyUnknown, HostKeyMismatch, AuthenticationFailed)
MAX_BACKOFF = timedelta(minutes=15)


class OutboundState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    UNKNOWN = "unknown"  # maybe sent: a person decides
    FAILED = "failed"  # provably not sent, and not retried as is


class OutboundFile(Leased, Base):
    __tablename__ = "outbound_files"
    __table_args__ = (
        # A final name is never used twice in a folder: the stat after a crash must be conclusive.
        UniqueConstraint("channel", "remote_folder", "remote_name", name="uq_outbound_files_remote"),
        Index("ix_outbound_files_due", "state", "not_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The route id, ``owner/name``.
    route: Mapped[str] = mapped_column(String(130), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(63))
    #: The folder as the transport names it, fixed at enqueue time with the name.
    remote_folder: Mapped[str] = mapped_column(String(1024))
    remote_name: Mapped[str] = mapped_column(String(255))
    spool_path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    #: How many times a worker took it up: uploads, and checks after an interrupted one.
    attempts: Mapped[int] = mapped_column(default=0)
    #: Not sent before this (the route's delivery time, or a retry's back-off).
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sending_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    #: Who enqueued it ("dd:batch 12", "dispatch", "cli").
    origin: Mapped[str] = mapped_column(String(120), default="")
    #: An inbound file this answers, if any (an acknowledgement); kept for lineage.
    inbound_file_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_files.id"))


def _chunks(source: bytes | Path) -> Iterator[bytes]:
    if isinstance(source, bytes):
        for offset in range(0, len(source), CHUNK_SIZE):
            yield source[offset : offset + CHUNK_SIZE]
        return
    with source.open("rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk


def enqueue(
    session: Session,
    routes: RouteTable,
    spool: Path,
    route_id: str,
    data: bytes | Path,
    *,
    name: str = "",
    actor: str = "system",
    origin: str = "",
    now: datetime | None = None,
) -> OutboundFile:
    """Queue ``data`` for ``route_id`` in the caller's transaction; the caller commits.

    The bytes are written (and fsynced) to ``spool/out/`` before the row is added, so a
    committed row always has its bytes. A rolled-back caller leaves an unreferenced spool
    file, which is harmless. ``name`` fills the template's ``{name}`` (a suggestion).
    """
    now = now or utcnow()
    route = routes.outbound_route(route_id)
    directory = spool / "out" / route.owner / route.route.name
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
    size, sha256 = write_atomically(target, _chunks(data), verify=lambda _size, _sha: None, endpoint="spool")
    not_before = next_scheduled(route.route.schedule, now, routes.timezone) or now
    stem = Path(name).stem if name else ""
    row = _insert_with_name(
        session,
        route,
        routes,
        now,
        stem,
        lambda remote_name: OutboundFile(
            route=route.id,
            kind=route.route.kind.value,
            channel=route.channel,
            remote_folder=route.folder,
            remote_name=remote_name,
            spool_path=str(target),
            size=size,
            sha256=sha256,
            state=OutboundState.QUEUED.value,
            attempts=0,
            not_before=not_before,
            created_at=now,
            updated_at=now,
            origin=origin,
            fencing_token=0,
        ),
    )
    audit.record(
        session,
        actor=actor,
        entity="outbound_file",
        entity_id=row.id,
        action="queued",
        details={
            "route": route.id,
            "name": row.remote_name,
            "size": size,
            "sha256": sha256,
            "not_before": not_before.isoformat(),
        },
        at=now,
    )
    return row


def _insert_with_name(
    session: Session,
    route: Outbound,
    routes: RouteTable,
    now: datetime,
    stem: str,
    make: Callable[[str], OutboundFile],
) -> OutboundFile:
    """Render the final name with the next free sequence number of the route's day, and insert."""
    local = now.astimezone(routes.timezone)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    count = session.scalar(
        select(func.count()).where(
            OutboundFile.route == route.id,
            OutboundFile.created_at >= day_start,
            OutboundFile.created_at < day_start + timedelta(days=1),
        )
    )
    seq = (count or 0) + 1
    template = route.route.name_template
    for _attempt in range(1000):
        remote_name = render_name(
            template, kind=route.route.kind.value, when=local, seq=seq, route=route.route.name, stem=stem
        )
        row = make(remote_name)
        try:
            # A savepoint: a name taken by a concurrent worker must not undo the caller's work.
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            if "{seq" not in template:
                raise OutboxError(
                    f"{route.id}: the name {remote_name!r} is already used in {route.folder}; the template "
                    "has no {seq}, so pass another name"
                ) from None
            seq += 1
            continue
        return row
    raise OutboxError(f"{route.id}: no free sequence number for {local:%Y-%m-%d} after 1000 tries")


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=5 * 2 ** min(attempts, 10)), MAX_BACKOFF)


@dataclass
class Outbox:
    """Uploads due files and settles interrupted ones; one per worker."""

    routes: RouteTable
    sessions: sessionmaker[Session]
    channels: Channels
    owner: str
    lease_ttl: timedelta = timedelta(minutes=5)
    batch: int = 20
    clock: Callable[[], datetime] = utcnow
    stopping: Callable[[], bool] = lambda: False
    sent: int = field(default=0, init=False)

    def run(self) -> int:
        """Settle interrupted uploads, then send everything due; return how many were sent."""
        before = self.sent
        self._drain(OutboundState.SENDING, self._settle)
        self._drain(OutboundState.QUEUED, self._upload)
        return self.sent - before

    def _drain(self, state: OutboundState, handle: Callable[[OutboundFile, Lease], None]) -> None:
        while not self.stopping():
            now = self.clock()
            values: dict[str, object] = {"updated_at": now, "attempts": OutboundFile.attempts + 1}
            if state is OutboundState.QUEUED:
                values.update(state=OutboundState.SENDING.value, sending_at=now)
            with self.sessions() as session, session.begin():
                leases = claim(
                    session,
                    OutboundFile,
                    (OutboundFile.state == state.value) & (OutboundFile.not_before <= now),
                    owner=self.owner,
                    ttl=self.lease_ttl,
                    now=now,
                    limit=self.batch,
                    values=values,
                )
                if state is OutboundState.QUEUED:
                    # Recorded (and committed, below) BEFORE a byte is sent.
                    for lease in leases:
                        audit.record(
                            session,
                            actor=self.owner,
                            entity="outbound_file",
                            entity_id=lease.row_id,
                            action="sending",
                            details={"token": lease.token},
                            at=now,
                        )
            if not leases:
                return
            for lease in leases:
                if self.stopping():
                    return  # the lease runs out; the next claim settles it by stat
                with self.sessions() as session:
                    row = session.get_one(OutboundFile, lease.row_id)
                    session.expunge(row)
                if row.channel not in self.routes.channels():
                    # Its route was removed from the configuration: keep it, as it is, for a person.
                    self._finish(
                        row, lease, state, f"channel {row.channel!r} is no longer configured", retry=True
                    )
                    continue
                handle(row, lease)

    # -- the two paths -------------------------------------------------------------

    def _settle(self, row: OutboundFile, lease: Lease) -> None:
        """An upload was interrupted: the remote final name tells whether it arrived."""
        transport = self.channels.get(row.channel)
        try:
            found = transport.stat(row.remote_folder, row.remote_name)
        except UNREACHABLE as error:
            self.channels.failed(row.channel, self.clock(), error)
            self._finish(row, lease, OutboundState.SENDING, f"cannot ask the server yet: {error}", retry=True)
            return
        except TransportError as error:
            self._finish(row, lease, OutboundState.UNKNOWN, f"stat of the final name failed: {error}")
            return
        self.channels.succeeded(row.channel, self.clock())
        if found is None:
            log.info("resending", extra=self._extra(row, event="resend"))
            self._upload(row, lease)
        elif found.size == row.size:
            self._finish(
                row, lease, OutboundState.SENT, None, detail="confirmed by the final name after a restart"
            )
        else:
            self._finish(
                row,
                lease,
                OutboundState.UNKNOWN,
                f"{row.remote_name} is on the server with {found.size} bytes, not {row.size}: "
                "check it with the recipient, then `arbridge outbox resolve`",
            )

    def _upload(self, row: OutboundFile, lease: Lease) -> None:
        crashpoint("before_upload")
        transport = self.channels.get(row.channel)
        # The transfer must end before our lease does, or another worker could start a second one.
        left = (lease.expires_at - self.clock()).total_seconds() - 5
        deadline = time.monotonic() + max(1.0, min(left, transfer_seconds(self.channels.config, row.channel)))
        try:
            transport.put(
                Path(row.spool_path),
                row.remote_folder,
                row.remote_name,
                expected_sha256=row.sha256,
                deadline=deadline,
            )
        except (ChecksumRefused, RemoteNameRefused) as error:
            self._finish(row, lease, OutboundState.FAILED, str(error))
            return
        except FileNotFoundError as error:
            self._finish(row, lease, OutboundState.FAILED, f"the spool file is gone: {error}")
            return
        except NEVER_CONNECTED as error:
            # Refused before a session existed: nothing of this attempt was sent, and an earlier
            # attempt (if any) was found absent by the stat that led here. Simply queued again.
            self.channels.failed(row.channel, self.clock(), error)
            self._finish(row, lease, OutboundState.QUEUED, str(error), retry=True)
            return
        except TransportError as error:
            # The rename may or may not have happened: stay `sending`; the stat decides next time.
            self.channels.failed(row.channel, self.clock(), error)
            self._finish(row, lease, OutboundState.SENDING, str(error), retry=True)
            return
        crashpoint("after_upload_before_sent")
        self.channels.succeeded(row.channel, self.clock())
        self._finish(row, lease, OutboundState.SENT, None)

    def _finish(
        self,
        row: OutboundFile,
        lease: Lease,
        state: OutboundState,
        error: str | None,
        *,
        retry: bool = False,
        detail: str | None = None,
    ) -> None:
        now = self.clock()
        values: dict[str, object] = {"state": state.value, "updated_at": now, "last_error": error}
        if state is OutboundState.SENT:
            values["sent_at"] = now
        if retry:
            values["not_before"] = now + backoff(row.attempts)
        try:
            with self.sessions() as session, session.begin():
                fenced_update(session, OutboundFile, lease, **released(**values))
                if state.value != row.state or state is not OutboundState.SENDING:
                    audit.record(
                        session,
                        actor=self.owner,
                        entity="outbound_file",
                        entity_id=row.id,
                        action=state.value,
                        details={"error": error, "detail": detail, "token": lease.token},
                        at=now,
                    )
        except LeaseLost as lost:
            log.warning("late commit refused", extra=self._extra(row, event="lease_lost", error=str(lost)))
            return
        level = logging.INFO if state is OutboundState.SENT else logging.WARNING
        extra = self._extra(row, event=state.value, error=error)
        log.log(level, detail or f"{row.remote_name}: {state.value}", extra=extra)
        if state is OutboundState.SENT:
            self.sent += 1

    def _extra(self, row: OutboundFile, **more: object) -> dict[str, object]:
        return {
            "channel": row.channel,
            "route": row.route,
            "file": row.remote_name,
            "sha256": row.sha256,
            "outbound_id": row.id,
            **more,
        }


# -- what people do with the outbox --------------------------------------------------------


def list_files(
    session: Session, states: list[OutboundState] | None = None, limit: int = 1000
) -> list[OutboundFile]:
    query = select(OutboundFile).order_by(OutboundFile.id.desc()).limit(limit)
    if states:
        query = query.where(OutboundFile.state.in_([s.value for s in states]))
    return list(session.scalars(query))


def resolve(
    session: Session, file_id: int, *, sent: bool, actor: str, now: datetime | None = None
) -> OutboundFile:
    """A person's decision on an ``unknown`` (or ``failed``) file: it was sent, or send it again."""
    now = now or utcnow()
    row = session.get(OutboundFile, file_id, with_for_update=True)
    if row is None:
        raise OutboxError(f"no outbound file {file_id}")
    if row.state not in (OutboundState.UNKNOWN, OutboundState.FAILED):
        raise OutboxError(
            f"outbound file {file_id} is {row.state}: only unknown or failed files are resolved"
        )
    before = row.state
    row.state = (OutboundState.SENT if sent else OutboundState.QUEUED).value
    row.updated_at = now
    row.not_before = now
    if sent:
        row.sent_at = now
    row.lease_owner, row.lease_expires_at = None, None
    audit.record(
        session,
        actor=actor,
        entity="outbound_file",
        entity_id=row.id,
        action="resolved_sent" if sent else "resolved_resend",
        details={"state": [before, row.state], "last_error": row.last_error},
        at=now,
    )
    return row
