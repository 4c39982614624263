"""The cash-application run: decide each open receipt with the engine, persist the decision
through the receivables services, keep the recommendations of what it will not decide alone.

Per receipt, in receipt-date order, inside a SAVEPOINT (nothing is ever half-applied
within a receipt):

1. the engine decides (``MatchingEngine.decide`` over a ``DbLedgerView``);
2. an APPLIED / PARTIALLY_APPLIED decision is carried out as ``ENGINE_ACTOR``: the payer
   identified (``applications.identify``), each application made with its discount and
   write-off (``applications.apply``, credit memos first), rule, score and evidence on
   every row. A write-off above the engine's approval limit (approvals.yaml: the company
   policy's ``receipt_write_off``, or user "engine"'s own) is never taken: the receipt
   stays RECOMMENDED with that proposal ranked first. A refusal by the services (a
   dispute holds the amount, a period is closed) likewise leaves a recommendation;
3. otherwise the receipt is posted: unapplied under a payer identified by IBAN or
   reference, else unidentified (a name alone identifies no one);
4. the decision and up to five ranked recommendations are stored (``match_decisions``,
   ``match_recommendations``), replacing those of an earlier run.

Which receipts: unidentified or unapplied, not reversed, with nothing applied, put on
account or refunded yet (ever: an application a person undid is not redone). Running
twice therefore applies nothing twice; a receipt left to a person is decided again
(new invoices may have arrived) and gets fresh recommendations.

``run`` works in the caller's session and never commits; ``run_batches`` takes a session
factory and commits every ``batch_size`` receipts (or fewer: ``batches``), so a crash loses at
most a batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, cast

from sqlalchemy import Row, Table, delete, exists, insert, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ar import applications
from ar.applications import ENGINE_ACTOR, ApplicationStatus, MadeBy, ReceivableApplication, Setup
from ar.cashapp.bulk import (
    BatchPlan,
    Refused,
    application_evidence,
    identification_evidence,
    load_receipts,
)
from ar.cashapp.indexes import index_customer_names, index_open_items
from ar.cashapp.rules import profile_rule_sets
from ar.cashapp.tables import MatchDecision, MatchRecommendation, decision_row, recommendation_rows
from ar.cashapp.view import DbLedgerView, amount_of_minor
from ar.errors import ArError
from ar.ledger import PeriodResolver
from ar.matching.engine import MatchingEngine
from ar.matching.model import (
    CustomerFacts,
    Decision,
    Evidence,
    IdentifiedBy,
    Outcome,
    ReceiptFacts,
    Recommendation,
)
from ar.matching.rules import ReferenceOptions
from ar.money import Money
from ar.receipts import Receipt, ReceiptStatus
from config.approvals import DocumentType

#: Receipts per batch (and per transaction of ``run_batches``): each batch costs a prefetch, a bulk
#: write and a commit whatever its size; 2,000 rather than 500 took the speed benchmark's 1M-invoice
#: point (100,000 receipts) from 137 to 125 CPU seconds, the same decisions, for a write lock held
#: about 2 s per batch on SQLite.
BATCH_SIZE = 2000
#: Statuses of rows that mean someone decided where (part of) the money went.
DECIDED = (
    ApplicationStatus.APPLIED.value,
    ApplicationStatus.ON_ACCOUNT.value,
    ApplicationStatus.ACTIVITY.value,
)
_TRUSTED = (IdentifiedBy.IBAN, IdentifiedBy.REFERENCE)
#: Statuses of the receipts the engine may decide (see the module docstring for the rest).
OPEN_STATUSES = (ReceiptStatus.UNIDENTIFIED.value, ReceiptStatus.UNAPPLIED.value)


@dataclass
class RunSummary:
    """What a run did; ``as_dict`` is the ``match run --json`` output."""

    receipts: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    applications: int = 0
    #: Applications the engine proposed but did not make: a write-off above its approval limit.
    held_for_approval: int = 0
    #: Decisions the receivables services refused (recorded as recommendations, with the reason).
    refused: int = 0
    #: Receipts that could not even be posted (closed period ...), left recorded.
    errors: list[str] = field(default_factory=list)
    #: Batches the bulk path gave back to the per-receipt path, and why.
    fallbacks: list[str] = field(default_factory=list)
    indexed_items: int = 0
    indexed_customers: int = 0
    #: Wall-clock seconds spent indexing and deciding (run_batches).
    index_seconds: float = 0.0
    match_seconds: float = 0.0

    @property
    def automation_rate(self) -> float:
        done = self.outcomes[Outcome.APPLIED.value]
        return done / self.receipts if self.receipts else 0.0

    def add(self, other: RunSummary) -> None:
        self.receipts += other.receipts
        self.outcomes.update(other.outcomes)
        self.applications += other.applications
        self.held_for_approval += other.held_for_approval
        self.refused += other.refused
        self.errors += other.errors
        self.fallbacks += other.fallbacks

    def as_dict(self) -> dict[str, Any]:
        return {
            "receipts": self.receipts,
            "outcomes": {o.value: self.outcomes[o.value] for o in Outcome},
            "applications": self.applications,
            "held_for_approval": self.held_for_approval,
            "refused": self.refused,
            "errors": list(self.errors),
            "fallbacks": list(self.fallbacks),
            "automation_rate": round(self.automation_rate, 4),
            "indexed_items": self.indexed_items,
            "indexed_customers": self.indexed_customers,
            "timing": {"index_s": round(self.index_seconds, 2), "match_s": round(self.match_seconds, 2)},
        }


def receipt_facts(receipt: Receipt | Row[Any]) -> ReceiptFacts:
    """What the engine knows of a receipt (its whole amount: only receipts with nothing decided run)."""
    return ReceiptFacts(
        receipt_id=str(receipt.id),
        amount=amount_of_minor(receipt.amount_minor, receipt.currency),
        currency=receipt.currency,
        receipt_date=receipt.receipt_date,
        debtor_iban=receipt.payer_iban,
        debtor_name=receipt.payer_name,
        remittance_lines=_texts(receipt.remittance),
        structured_references=_texts(receipt.references),
        end_to_end_id=receipt.end_to_end_id,
    )


def _texts(column: str | None) -> tuple[str, ...]:
    """A JSON list column (remittance lines, references); often empty, then without decoding."""
    return () if not column or column == "[]" else tuple(json.loads(column))


# Core columns: a statement of table columns skips the ORM's per-statement and per-row handling.
_RECEIPTS = cast(Table, Receipt.__table__).c
_APPLICATIONS = cast(Table, ReceivableApplication.__table__).c


def _undecided(replay: bool = False) -> Any:
    """Nothing decided on the receipt, ever; with ``replay`` (simulation), an application the
    engine made and that was since undone does not count."""
    apps = _APPLICATIONS
    decided = [apps.receipt_id == _RECEIPTS.id, apps.status.in_(DECIDED)]
    if replay:
        decided += [
            apps.reversal_of_id.is_(None),
            or_(apps.reversed_at.is_(None), apps.made_by != MadeBy.ENGINE.value),
        ]
    return ~exists().where(*decided)


def open_receipts(
    session: Session,
    receipt_ids: Iterable[int] | None = None,
    *,
    since: date | None = None,
    replay: bool = False,
) -> list[tuple[int, date]]:
    """Receipts the engine may decide, oldest first, with their dates (see the module docstring)."""
    stmt = select(Receipt.id, Receipt.receipt_date).where(
        Receipt.status.in_(OPEN_STATUSES),
        _undecided(replay),
    )
    if since is not None:
        stmt = stmt.where(Receipt.receipt_date >= since)
    stmt = stmt.order_by(Receipt.receipt_date, Receipt.id)
    found = [(int(i), when) for i, when in session.execute(stmt)]
    if receipt_ids is None:
        return found
    wanted = set(receipt_ids)
    return [r for r in found if r[0] in wanted] if wanted else []


def open_receipt_ids(
    session: Session,
    receipt_ids: Iterable[int] | None = None,
    *,
    since: date | None = None,
    replay: bool = False,
) -> list[int]:
    """The ids of ``open_receipts``."""
    return [i for i, _ in open_receipts(session, receipt_ids, since=since, replay=replay)]


def _chunks(values: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def batches(ids: Sequence[int], size: int, *, ramp: bool = False) -> list[Sequence[int]]:
    """``ids`` in batches of ``size``. With ``ramp`` (the pipelined run: ``gateway.match_pipeline``)
    the first two batches and the last two are a quarter and a half of ``size``: the writing
    process starts on the first plan sooner, and writes the last one alone for less long."""
    edges = [max(1, size // 4), max(1, size // 2)]
    if not ramp or len(ids) < 2 * sum(edges) + size:
        return list(_chunks(ids, size))
    found: list[Sequence[int]] = []
    start = 0
    for count in edges:
        found.append(ids[start : start + count])
        start += count
    end = len(ids) - sum(edges)
    found += [ids[i : min(i + size, end)] for i in range(start, end, size)]
    for count in reversed(edges):
        found.append(ids[end : end + count])
        end += count
    return found


class CashApplication:
    """Decides and persists receipts with one engine and one configuration."""

    def __init__(self, engine: MatchingEngine, setup: Setup, *, default_rule_set: str = "default") -> None:
        self.engine = engine
        self.setup = setup
        self.default_rule_set = default_rule_set
        names = {*profile_rule_sets(setup.ar.profiles).values(), default_rule_set}
        sets = [engine.rule_set_for(CustomerFacts("", "", "", profile=name)) for name in sorted(names)]
        options: list[ReferenceOptions] = list(dict.fromkeys(s.references for s in sets))
        self.reference_options = tuple(options)

    def new_view(self, session: Session) -> DbLedgerView:
        return DbLedgerView(session, profile_rule_sets(self.setup.ar.profiles), self.default_rule_set)

    # -- one transaction ------------------------------------------------------------
    def run(
        self,
        session: Session,
        *,
        now: datetime,
        receipt_ids: Iterable[int] | None = None,
        view: DbLedgerView | None = None,
        index: bool = True,
        replay: bool = False,
        bulk: bool = True,
    ) -> RunSummary:
        """Decide the open receipts (or those of ``receipt_ids``) in the caller's session; no commit.

        ``bulk``: persist each batch with the bulk path (``ar.cashapp.bulk``), else receipt by
        receipt through the services (the reference implementation; the same ledger effect)."""
        summary = RunSummary()
        if index:
            summary.indexed_items = index_open_items(session)
            summary.indexed_customers = index_customer_names(session)
        ids = open_receipt_ids(session, receipt_ids, replay=replay)
        view = view or self.new_view(session)
        for chunk in _chunks(ids, BATCH_SIZE):
            view.clear_items()
            summary.add(self.decide_batch(session, chunk, view=view, now=now, replay=replay, bulk=bulk))
        return summary

    def decide_batch(
        self,
        session: Session,
        receipt_ids: Sequence[int],
        *,
        view: DbLedgerView,
        now: datetime,
        replay: bool = False,
        bulk: bool = False,
    ) -> RunSummary:
        """Decide and persist these receipts (those still open): in bulk, or receipt by receipt.

        In bulk, the batch is written inside a savepoint; when that fails (an item another
        worker changed, a database error) it is rolled back and the batch is done receipt by
        receipt instead, the reason kept in ``fallbacks``.
        """
        if bulk:
            savepoint = session.begin_nested()
            try:
                summary, plan, refused = self.plan_batch(
                    session, receipt_ids, view=view, now=now, replay=replay
                )
                plan.write()
                savepoint.commit()
            except (ArError, SQLAlchemyError) as exc:
                return self._fall_back(
                    session, receipt_ids, exc, savepoint, view=view, now=now, replay=replay
                )
            view.clear_items()
            self._persist_refused(session, refused, now=now, summary=summary)
            return summary
        summary = RunSummary()
        receipts = list(
            session.scalars(
                select(Receipt)
                .where(Receipt.id.in_(receipt_ids), _undecided(replay))
                .order_by(Receipt.receipt_date, Receipt.id)
            )
        )
        receipts = [r for r in receipts if r.status in OPEN_STATUSES]
        facts = [receipt_facts(r) for r in receipts]
        view.prefetch(facts, self.reference_options)
        for receipt, fact in zip(receipts, facts, strict=True):
            decision = self.engine.decide(fact, view)
            changed = self.persist(session, receipt, decision, now=now, summary=summary)
            if changed:
                view.refresh(changed)
        return summary

    def _fall_back(
        self,
        session: Session,
        receipt_ids: Sequence[int],
        exc: Exception,
        savepoint: Any,
        *,
        view: DbLedgerView,
        now: datetime,
        replay: bool = False,
    ) -> RunSummary:
        """The bulk batch failed: roll it back and decide it receipt by receipt, saying why."""
        if savepoint.is_active:
            savepoint.rollback()
        session.expire_all()
        view.clear_items()
        summary = self.decide_batch(session, receipt_ids, view=view, now=now, replay=replay)
        first, last = receipt_ids[0], receipt_ids[-1]
        summary.fallbacks.append(f"receipts {first}..{last}: {type(exc).__name__}: {exc}"[:500])
        return summary

    def _persist_refused(
        self, session: Session, refused: Sequence[tuple[int, Decision]], *, now: datetime, summary: RunSummary
    ) -> bool:
        """Receipts the services refuse: let them, in their own words (the batch's items are
        written now); whether one of them changed an item after all."""
        changed = False
        for receipt_id, decision in refused:
            receipt = session.get(Receipt, receipt_id)
            assert receipt is not None
            changed |= bool(self.persist(session, receipt, decision, now=now, summary=summary))
        return changed

    def write_plan(
        self,
        session: Session,
        receipt_ids: Sequence[int],
        planned: tuple[RunSummary, BatchPlan, list[tuple[int, Decision]]],
        *,
        view: DbLedgerView,
        now: datetime,
    ) -> tuple[RunSummary, bool]:
        """Write a batch planned in another transaction (``plan_batch`` with ``read_only``) as
        ``decide_batch`` writes its own: the summary, and whether the ledger now differs from
        what the plan laid over the view (a fallback, a refused receipt applied after all), so
        that plans made on top of this one no longer hold. ``view`` serves the fallback."""
        summary, plan, refused = planned
        plan.attach(session, self.setup)
        savepoint = session.begin_nested()
        try:
            plan.write()
            savepoint.commit()
        except (ArError, SQLAlchemyError) as exc:
            return self._fall_back(session, receipt_ids, exc, savepoint, view=view, now=now), True
        return summary, self._persist_refused(session, refused, now=now, summary=summary)

    def plan_batch(
        self,
        session: Session,
        receipt_ids: Sequence[int],
        *,
        view: DbLedgerView,
        now: datetime,
        replay: bool,
        read_only: bool = False,
    ) -> tuple[RunSummary, BatchPlan, list[tuple[int, Decision]]]:
        """Decide the batch against the view, each application laid over it, into a plan to write
        in bulk; the receipts the services would refuse are returned apart with their decisions.
        ``read_only``: planned in a transaction that cannot write, for ``write_plan`` elsewhere."""
        summary = RunSummary()
        rows: list[Row[Any]] = list(
            session.execute(
                select(
                    _RECEIPTS.id,
                    _RECEIPTS.status,
                    _RECEIPTS.amount_minor,
                    _RECEIPTS.currency,
                    _RECEIPTS.receipt_date,
                    _RECEIPTS.payer_iban,
                    _RECEIPTS.payer_name,
                    _RECEIPTS.remittance,
                    _RECEIPTS.references,
                    _RECEIPTS.end_to_end_id,
                )
                .where(_RECEIPTS.id.in_(receipt_ids), _undecided(replay))
                .order_by(_RECEIPTS.receipt_date, _RECEIPTS.id)
            )
        )
        rows = [r for r in rows if r.status in OPEN_STATUSES]
        facts = [receipt_facts(r) for r in rows]
        states = load_receipts(session, [r.id for r in rows])
        view.prefetch(facts, self.reference_options)
        plan = BatchPlan(session, self.setup, view, now=now, read_only=read_only)
        refused: list[tuple[int, Decision]] = []
        for fact in facts:
            receipt = states[int(fact.receipt_id)]
            decision = self.engine.decide(fact, view)
            held: list[str] = []
            if decision.applications:
                held = self._reasons_to_hold(receipt.customer_id, receipt.currency, decision)
            try:
                if decision.applications and not held:
                    summary.applications += len(plan.apply(receipt, decision))
                else:
                    if held:
                        decision = _as_recommendation(decision, held)
                        summary.held_for_approval += 1
                    plan.post(receipt, decision, trusted=decision.identified_by in _TRUSTED)
            except Refused:
                refused.append((receipt.id, decision))
                continue
            summary.receipts += 1
            plan.record(receipt.id, decision)
            summary.outcomes[decision.outcome.value] += 1
        return summary, plan, refused

    # -- one receipt -------------------------------------------------------------------
    def persist(
        self, session: Session, receipt: Receipt, decision: Decision, *, now: datetime, summary: RunSummary
    ) -> list[str]:
        """Carry out one decision; the ids of the open items it changed."""
        summary.receipts += 1
        held: list[str] = []
        if decision.applications:
            held = self._reasons_to_hold(receipt.customer_id, receipt.currency, decision)
        changed: list[str] = []
        if decision.applications and not held:
            savepoint = session.begin_nested()
            try:
                changed = self._apply(session, receipt, decision, now=now)
                savepoint.commit()
            except ArError as exc:
                savepoint.rollback()
                session.expire_all()
                summary.refused += 1
                held = [f"refused:{exc}"]
            else:
                summary.applications += len(changed)
        if held:
            decision = _as_recommendation(decision, held)
            if not held[0].startswith("refused:"):
                summary.held_for_approval += 1
        if not changed:
            try:
                with session.begin_nested():
                    self._post(session, receipt, decision, now=now)
            except ArError as exc:
                session.expire_all()
                summary.errors.append(f"receipt {receipt.id}: {exc}")
        self._record(session, receipt.id, decision, now=now)
        summary.outcomes[decision.outcome.value] += 1
        return changed

    def _reasons_to_hold(self, customer_id: int | None, currency: str, decision: Decision) -> list[str]:
        reasons = []
        if customer_id is not None and decision.customer_id != str(customer_id):
            reasons.append(f"payer_differs_from_receipt_customer:{customer_id}")
        limit = self.setup.approvals.limit(ENGINE_ACTOR, DocumentType.RECEIPT_WRITE_OFF, currency)
        for app in decision.applications:
            if app.write_off > limit:
                reasons.append(f"write_off_above_approval_limit:{app.trx_number}:{app.write_off}>{limit}")
        return reasons

    def _apply(self, session: Session, receipt: Receipt, decision: Decision, *, now: datetime) -> list[str]:
        assert decision.customer_id is not None and decision.evidence is not None
        evidence = application_evidence(decision)
        if receipt.customer_id is None:
            applications.identify(
                session,
                receipt.id,
                int(decision.customer_id),
                how=decision.identified_by.value,
                setup=self.setup,
                actor=ENGINE_ACTOR,
                now=now,
                evidence=identification_evidence(decision),
                made_by=MadeBy.ENGINE,
            )
        cur = receipt.currency
        changed = []
        for app in sorted(decision.applications, key=lambda a: (a.amount >= 0, a.item_id)):
            applications.apply(
                session,
                receipt.id,
                int(app.item_id),
                Money.of(app.amount, cur),
                discount=Money.of(app.discount, cur),
                write_off=Money.of(app.write_off, cur),
                rule=decision.rule or "engine",
                score=Decimal(decision.score),
                evidence=evidence,
                setup=self.setup,
                actor=ENGINE_ACTOR,
                now=now,
                made_by=MadeBy.ENGINE,
            )
            changed.append(app.item_id)
        return changed

    def _post(self, session: Session, receipt: Receipt, decision: Decision, *, now: datetime) -> None:
        if receipt.customer_id is None and decision.customer_id and decision.identified_by in _TRUSTED:
            applications.identify(
                session,
                receipt.id,
                int(decision.customer_id),
                how=decision.identified_by.value,
                setup=self.setup,
                actor=ENGINE_ACTOR,
                now=now,
                evidence={"outcome": decision.outcome.value},
                made_by=MadeBy.ENGINE,
            )
        applications.post_receipt(session, receipt.id, setup=self.setup, actor=ENGINE_ACTOR, now=now)

    def _record(self, session: Session, receipt_id: int, decision: Decision, *, now: datetime) -> None:
        row = session.get(MatchDecision, receipt_id)
        if row is None:
            row = MatchDecision(receipt_id=receipt_id)
            session.add(row)
        for column, value in decision_row(receipt_id, decision, now).items():
            setattr(row, column, value)
        session.execute(delete(MatchRecommendation).where(MatchRecommendation.receipt_id == receipt_id))
        if decision.recommendations:
            session.execute(insert(MatchRecommendation), recommendation_rows(receipt_id, decision, now))


def prepare_periods(session: Session, setup: Setup, dates: Iterable[date], today: date) -> None:
    """Create the accounting periods the receipts' journals will post into (their dates and
    today's), so that a plan made in a read-only transaction finds them all; a closed or
    missing period is left for the plan to refuse, as it would."""
    resolver = PeriodResolver(session, setup.calendar)
    for when in sorted({today, *dates}):
        with contextlib.suppress(ArError):
            resolver.resolve(when)


def _as_recommendation(decision: Decision, reasons: Sequence[str]) -> Decision:
    """The decision with its applications turned into the top recommendation, for a person."""
    evidence = decision.evidence or Evidence(decision.identified_by, decision.customer_id)
    evidence = dataclasses.replace(evidence, notes=(*evidence.notes, *reasons))
    top = Recommendation(decision.applications, decision.score, decision.rule or "engine", evidence)
    return dataclasses.replace(
        decision,
        outcome=Outcome.RECOMMENDED,
        applications=(),
        evidence=evidence,
        recommendations=(top, *decision.recommendations)[:5],
        unapplied=decision.unapplied + sum((a.amount for a in decision.applications), Decimal(0)),
    )


class BatchRunner(Protocol):
    """``run_batches``' hook to decide leading batches some other way (the gateway's pipelined run)."""

    def begin(self, batches: Sequence[Sequence[int]]) -> None:
        """The batches are known, and the periods of the receipts' dates and today's exist
        (``prepare_periods``): start on them, while the run catches up with its indexes."""

    def cancel(self) -> None:
        """The catch-up changed the indexes: what ``begin`` started on is void; decide nothing."""

    def run(self, batches: Sequence[Sequence[int]], summary: RunSummary) -> int:
        """Decide and commit a prefix of the batches, add what it did to the summary, and
        return how many; the run decides the rest itself."""


def run_batches(
    sessions: sessionmaker[Session],
    cash_application: CashApplication,
    *,
    now: Callable[[], datetime],
    receipt_ids: Iterable[int] | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
    bulk: bool = True,
    runner: BatchRunner | None = None,
) -> RunSummary:
    """Index, then decide in transactions of ``batch_size`` receipts, each committed (in bulk
    unless ``bulk`` is false: see ``CashApplication.decide_batch``); ``runner`` first, when given
    (then the first and last batches are smaller: ``batches``), begun before the indexes' catch-up
    and cancelled when that catch-up changed anything."""
    summary = RunSummary()
    started = time.perf_counter()
    with sessions() as session, session.begin():
        receipts = open_receipts(session, receipt_ids)
        ids = [receipt_id for receipt_id, _ in receipts]
        if runner is not None:
            # the runner plans in read-only transactions: the periods it posts into must exist
            prepare_periods(session, cash_application.setup, {d for _, d in receipts}, now().date())
    chunks = batches(ids, batch_size, ramp=runner is not None)
    if runner is not None and chunks:
        runner.begin(chunks)  # mostly the catch-up below changes nothing: no need to wait for it
    with sessions() as session, session.begin():
        summary.indexed_items = index_open_items(session)
        summary.indexed_customers = index_customer_names(session)
    summary.index_seconds = time.perf_counter() - started
    first = 0
    if runner is not None and chunks:
        if summary.indexed_items or summary.indexed_customers:
            runner.cancel()
            summary.fallbacks.append(
                f"no planner: the indexes caught up with {summary.indexed_items} items and "
                f"{summary.indexed_customers} customers after it started"
            )
        else:
            first = runner.run(chunks, summary)
    done = sum(len(chunk) for chunk in chunks[:first])
    if first and progress is not None:
        progress(done, len(ids))
    view: DbLedgerView | None = None
    for chunk in chunks[first:]:
        with sessions() as session, session.begin():
            if view is None:
                view = cash_application.new_view(session)
            view.bind(session)
            view.clear_items()
            summary.add(cash_application.decide_batch(session, chunk, view=view, now=now(), bulk=bulk))
        done += len(chunk)
        if progress is not None:
            progress(done, len(ids))
    summary.match_seconds = time.perf_counter() - started - summary.index_seconds
    return summary
