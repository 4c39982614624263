"""The match run on two cores: a planner process plans the next batch while this one writes.

A batch's time goes two ways: planning (reading the open items, the engine's decisions,
the applications laid over the items in memory: ``CashApplication.plan_batch``) and
writing (the bulk INSERTs and UPDATEs, the commit: ``BatchPlan.write``). In one process
they take turns on one core, the GIL allowing nothing else. Here a second process, the
planner, plans batch k+1 on its own read-only connection while this process writes batch
k; the plans travel through a pipe.

The planner's reads may not see the batches written meanwhile, so it lays
the items changed by every plan the writer has not yet confirmed over its view
(``DbLedgerView.carry``): each batch is planned against the ledger exactly as the
sequential run would see it, and the run's result is the same. The writer still checks,
under its write lock, that every item it applies to is as the plan saw it
(``BatchPlan.write``); when a batch is not written as planned (that check failed and the
batch went receipt by receipt, or a refused receipt was applied by the services after
all), the plans made on top of it no longer hold: the planner is stopped and the rest of
the run is decided in this process, batch by batch, as without a planner.

The planner is a fresh interpreter (multiprocessing's spawn: nothing of this process's
threads, connections or locks is inherited), started before the run reads its receipts so
its start-up overlaps that; it is given its batches before the run's catch-up of the
indexes (reference keys, name tokens), which mostly finds nothing to do, and is cancelled
when the catch-up did change them. A run of few batches is decided here alone.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ar.cashapp.run import OPEN_STATUSES, CashApplication, RunSummary
from ar.cashapp.view import DbLedgerView
from ar.matching.model import OpenItem
from ar.receipts import Receipt
from gateway.collector import fewer_collections
from gateway.db import make_engine, session_factory

#: Fewer batches than this are decided in this process: starting the planner (a fresh
#: interpreter, about two seconds) would cost more than it saves.
MIN_BATCHES = 3
#: Plans the planner may make beyond the last batch the writer confirmed.
AHEAD = 3
#: Seconds the planner gets to stop by itself before it is terminated.
STOP_TIMEOUT = 10.0


def database_url(sessions: sessionmaker[Session]) -> str | None:
    """The URL a second process can open the sessions' database with; None for an in-memory one."""
    bind = sessions.kw.get("bind")
    url = getattr(bind, "url", None)
    if url is None:
        return None
    if url.drivername.startswith("sqlite") and url.database in (None, "", ":memory:"):
        return None
    return str(url.render_as_string(hide_password=False))


def _open_receipts(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(
            session.scalar(select(func.count()).select_from(Receipt).where(Receipt.status.in_(OPEN_STATUSES)))
            or 0
        )


class Planner:
    """The planner process and this side of its pipe: ``run_batches``' runner."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        cash_application: CashApplication,
        url: str,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.cash_application = cash_application
        self.now = now
        context = multiprocessing.get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(
            target=_planner_process,
            args=(theirs, url, cash_application, now),
            name="arbridge-match-planner",
            daemon=True,
        )
        self._process.start()
        theirs.close()
        self._stopped = False
        #: sends the batches (``begin``): the message is larger than the pipe's buffer, and the
        #: planner may still be starting
        self._sending: _Sender | None = None

    @classmethod
    def start_for(
        cls,
        sessions: sessionmaker[Session],
        cash_application: CashApplication,
        *,
        now: Callable[[], datetime],
        receipts: int | None,
        batch_size: int,
    ) -> Planner | None:
        """A planner when the run looks large enough (``receipts`` to decide, None: count the
        open ones) and its database can be opened by another process; else None."""
        url = database_url(sessions)
        if url is None:
            return None
        if receipts is None:
            receipts = _open_receipts(sessions)
        if receipts < MIN_BATCHES * batch_size:
            return None
        return cls(sessions, cash_application, url, now=now)

    def begin(self, chunks: Sequence[Sequence[int]]) -> None:
        """Give the planner its batches (from a thread), so that it plans while the caller
        catches up with the indexes."""
        if self._sending is not None or self._stopped:
            return
        if len(chunks) < MIN_BATCHES:
            self.close()
            return
        self._sending = _Sender(self._pipe)
        self._sending.send(("batches", [list(c) for c in chunks]))

    def cancel(self) -> None:
        """What the planner was given is void (the indexes changed under it): stop it."""
        self.close()

    def run(self, chunks: Sequence[Sequence[int]], summary: RunSummary) -> int:
        """Write the batches as the planner plans them; how many were written (see the module
        docstring for when it stops early: the caller decides the rest)."""
        self.begin(chunks)
        if self._sending is None:
            return 0  # too few batches: stopped
        written = 0
        view: DbLedgerView | None = None
        try:
            self._sending.close()
            if self._sending.error is not None:
                raise self._sending.error
            for k, chunk in enumerate(chunks):
                message = self._pipe.recv()
                if message[0] != "plan":
                    summary.fallbacks.append(f"planner stopped before batch {k + 1}: {message[1]}"[:500])
                    break
                with self.sessions() as session, session.begin():
                    if view is None:
                        view = self.cash_application.new_view(session)
                    view.bind(session)
                    part, deviated = self.cash_application.write_plan(
                        session, chunk, message[2], view=view, now=self.now()
                    )
                summary.add(part)
                written = k + 1
                if deviated:
                    break
                # the planner ends once it has sent its last plan: a lost confirmation is
                # harmless (a planner lost before that shows at the next receive)
                with contextlib.suppress(OSError):
                    self._pipe.send(("written", k))
        except (EOFError, OSError) as exc:
            summary.fallbacks.append(f"planner lost before batch {written + 1}: {type(exc).__name__}: {exc}")
        finally:
            self.close()
        return written

    def close(self) -> None:
        """Stop the planner (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        # one sender on the pipe at a time: the batches are sent, or the planner is gone
        if self._sending is not None and not self._sending.close(STOP_TIMEOUT):
            self._process.terminate()
            self._sending.close()
        with contextlib.suppress(OSError):
            self._pipe.send(("stop",))
        # a plan it is sending when told to stop is read and dropped, so it can hear the stop
        deadline = time.monotonic() + STOP_TIMEOUT
        while self._process.is_alive() and time.monotonic() < deadline:
            try:
                if self._pipe.poll(0.05):
                    self._pipe.recv()
            except (EOFError, OSError):
                self._process.join(max(0.0, deadline - time.monotonic()))
                break
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._pipe.close()


def _planner_process(
    pipe: Connection, url: str, cash_application: CashApplication, now: Callable[[], datetime]
) -> None:
    """The planner process's life: ``plan_batches``, then out without the interpreter's teardown.
    Its connections and pipe are closed and nothing is left to flush; tearing down its heap
    (every object of the run) took about 0.3 s, which the writer waited for at the end."""
    plan_batches(pipe, url, cash_application, now)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def plan_batches(
    pipe: Connection, url: str, cash_application: CashApplication, now: Callable[[], datetime]
) -> None:
    """The planner process: plan each batch it is given, in order, on a read-only connection."""
    try:
        with fewer_collections():  # as in the writing process (gateway.cash_application)
            _plan_batches(pipe, url, cash_application, now)
    except BaseException as exc:  # the writer decides the rest itself; it only needs the reason
        with contextlib.suppress(OSError):
            pipe.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        pipe.close()


class _Sender:
    """Sends messages from a thread of their own, in order. A plan is larger than the pipe's
    buffer: sent from the planning thread, it would wait there until the writer has written the
    previous one and reads it, and the next batch's planning with it (and the run's batches,
    sent to a planner still starting, would hold up the writer's catch-up of the indexes)."""

    def __init__(self, pipe: Connection) -> None:
        self._pipe = pipe
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        #: what sending failed with (the other side is gone); later messages are dropped
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="arbridge-pipe-sender", daemon=True)
        self._thread.start()

    def send(self, message: Any) -> None:
        """Queue ``message`` (pickled here, as ``Connection.send`` would); the sending's error, if any."""
        if self.error is not None:
            raise self.error
        self._queue.put(bytes(ForkingPickler.dumps(message)))

    def close(self, timeout: float | None = None) -> bool:
        """Wait (at most ``timeout`` seconds) until every queued message is sent or the pipe
        failed; whether it is over."""
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self._pipe.send_bytes(data)
                except BaseException as exc:  # the other side is gone: the sending side hears it
                    self.error = exc


def _plan_batches(
    pipe: Connection, url: str, cash_application: CashApplication, now: Callable[[], datetime]
) -> None:
    engine = make_engine(url, read_only=True)
    sessions = session_factory(engine)
    message = pipe.recv()
    if message[0] != "batches":
        return
    chunks: list[list[int]] = message[1]
    #: plans the writer has not confirmed: the items each changes, as it leaves them
    unconfirmed: dict[int, list[OpenItem]] = {}
    confirmed = -1
    view: DbLedgerView | None = None
    sender = _Sender(pipe)
    try:
        for k, chunk in enumerate(chunks):
            # The writer's confirmations are taken before this batch's first read, so every
            # read sees the batches confirmed: their items need no carrying (the others' may
            # or may not be seen: carried, they read the same either way).
            while k - confirmed > AHEAD or pipe.poll():
                reply = pipe.recv()
                if reply[0] != "written":
                    return
                confirmed = reply[1]
                for j in [j for j in unconfirmed if j <= confirmed]:
                    del unconfirmed[j]
            with sessions() as session, session.begin():
                if view is None:
                    view = cash_application.new_view(session)
                view.bind(session)
                view.clear_items()
                carried = [item for j in sorted(unconfirmed) for item in unconfirmed[j]]
                view.carry(carried)
                planned: Any = cash_application.plan_batch(
                    session, chunk, view=view, now=now(), replay=False, read_only=True
                )
            unconfirmed[k] = planned[1].changed_items()
            sender.send(("plan", k, planned))
    finally:
        sender.close()
        engine.dispose()
