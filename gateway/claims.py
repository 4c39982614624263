"""Work claiming for several workers: leases with fencing tokens, advisory locks, the SQLite one-worker lock.

A job row (an outbound file, a remote file to fetch) carries ``lease_owner``,
``lease_expires_at`` and ``fencing_token``. A worker claims rows with
``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite has one writer and
ignores it) and increments the token in the same transaction. Every later
commit about the job is ``UPDATE ... WHERE id = :id AND fencing_token = :token``:
when that touches no row, another worker has claimed the job since (ours was
paused past its lease) and our commit is refused with ``LeaseLost``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import DateTime, Engine, String, and_, event, or_, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from gateway.db import is_sqlite
from gateway.errors import LeaseLost, WorkerConflict

SQLITE_ONE_WORKER = (
    "another arbridge worker is running on this SQLite database ({lock}); SQLite allows one worker; "
    "use PostgreSQL for several"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite gives datetimes back naive; they were stored as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def worker_id() -> str:
    """host:pid:random — unique per process, readable in `arbridge status`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Leased:
    """The lease columns of a job table (a mixin for mapped classes)."""

    #: The worker holding the job (worker_id()), None when free.
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Incremented at every claim; a commit about the job must still carry the current one.
    fencing_token: Mapped[int] = mapped_column(default=0)


@dataclass(frozen=True, slots=True)
class Lease:
    """A claimed job: which row, by whom, until when, under which token."""

    table: str
    row_id: int
    owner: str
    token: int
    expires_at: datetime


def claim(
    session: Session,
    model: Any,
    condition: Any,
    *,
    owner: str,
    ttl: timedelta,
    now: datetime,
    limit: int,
    values: dict[str, Any] | None = None,
    order_by: Any = None,
) -> list[Lease]:
    """Claim up to ``limit`` free rows of ``model`` matching ``condition``; ``values`` are set with the claim.

    Free means never leased, or its lease expired. Runs in the caller's transaction, which
    should commit at once so the claim is visible (and the row locks released).
    """
    free = or_(model.lease_expires_at.is_(None), model.lease_expires_at < now)
    query = (
        select(model.id)
        .where(and_(condition, free))
        .order_by(order_by if order_by is not None else model.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    leases: list[Lease] = []
    expires = now + ttl
    for row_id in session.scalars(query).all():
        token = session.execute(
            update(model)
            .where(model.id == row_id)
            .values(
                lease_owner=owner,
                lease_expires_at=expires,
                fencing_token=model.fencing_token + 1,
                **(values or {}),
            )
            .returning(model.fencing_token)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        leases.append(Lease(model.__tablename__, row_id, owner, token, expires))
    return leases


def fenced_update(session: Session, model: Any, lease: Lease, **values: Any) -> None:
    """Apply ``values`` to the leased row only if our token is still current; else raise ``LeaseLost``."""
    result = session.execute(
        update(model)
        .where(model.id == lease.row_id, model.fencing_token == lease.token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise LeaseLost(
            f"{lease.table} {lease.row_id}: another worker claimed this job after us (our fencing token "
            f"{lease.token} is stale); our commit is refused",
            table=lease.table,
            row_id=lease.row_id,
            token=lease.token,
        )


def released(**values: Any) -> dict[str, Any]:
    """``values`` plus a free lease (the token stays: it only ever grows)."""
    return {"lease_owner": None, "lease_expires_at": None, **values}


class CommitHooks:
    """A sessionmaker whose commits first run the hooks of the job in hand.

    The ingest transaction is the Ingestor's, not ours; this is how the fencing check
    and the job's own state change join it, so they commit (or roll back) with it.
    """

    def __init__(self, engine: Engine) -> None:
        self.sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
        self._hooks: list[Callable[[Session], None]] = []
        event.listen(self.sessions, "before_commit", self._before_commit)

    @contextlib.contextmanager
    def on_commit(self, hook: Callable[[Session], None]) -> Iterator[None]:
        self._hooks.append(hook)
        try:
            yield
        finally:
            self._hooks.remove(hook)

    def _before_commit(self, session: Session) -> None:
        for hook in list(self._hooks):
            hook(session)


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@contextlib.contextmanager
def single_poller(engine: Engine, name: str) -> Iterator[bool]:
    """Yield True if we are the only poller of ``name`` (PostgreSQL advisory lock), else False.

    On SQLite there is only one worker (see ``WorkerLock``), so it is always True.
    """
    if is_sqlite(engine):
        yield True
        return
    key = advisory_key(name)
    with engine.connect() as connection:
        got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        connection.commit()
        try:
            yield got
        finally:
            if got:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()


class WorkerLock:
    """On SQLite, at most one worker per database: an flock on ``spool/arbridge.run.lock``.

    The kernel drops the lock when the process dies (even by kill -9), so a crash never
    leaves a stale lock behind. On PostgreSQL there is no such lock: workers share the work.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise WorkerConflict(SQLITE_ONE_WORKER.format(lock=f"{self.path}, held by {holder}")) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> WorkerLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def dialect_insert(session: Session, model: Any) -> Any:
    """An INSERT with ``on_conflict_do_nothing`` / ``on_conflict_do_update`` for the session's backend."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(model)


def renew(session: Session, model: Any, lease: Lease, *, ttl: timedelta, now: datetime) -> Lease:
    """Extend a lease we still hold (fenced: raises ``LeaseLost`` if it was taken over)."""
    expires = now + ttl
    fenced_update(session, model, lease, lease_expires_at=expires)
    return Lease(lease.table, lease.row_id, lease.owner, lease.token, expires)
