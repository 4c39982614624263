"""The bulk path of the cash-application run: a batch of decisions persisted with multi-row
INSERTs and executemany UPDATEs (SQLAlchemy Core), with the ledger effect of the
per-receipt services.

``BatchPlan.apply`` and ``post`` carry out one receipt's decision on in-memory state
exactly as ``CashApplication.persist`` does through ``ar.applications`` (``identify``,
``post_receipt``, ``apply``): the same ``receivable_applications`` rows (statuses, signs,
customers, rule, score, evidence, made_by, accounting dates), the same journals and lines,
the same open-item balances and statuses, receipt statuses, audit events, decisions and
recommendations. They check what those services check (currency, the sign of a credit, a
dispute held out of matching, the unapplied amount, the write-off limit, an open period);
a receipt one of them would refuse is not planned but returned to the caller, which hands
it to the per-receipt path after the batch is written, so it is refused in the services'
own words. Each planned application is laid over the view (``DbLedgerView.overlay``), so
the next receipt of the batch sees what is left of an item. What a receipt does is kept
as ops (post, identify, apply: the amounts and names its rows and journal lines need);
``write`` turns them into the rows and lines, so that a plan handed over to another
process (``gateway.match_pipeline``) is built there, not in the planning process.

``BatchPlan.write`` then locks the items applied to and verifies that their remaining
amounts are still those the engine saw (``BatchConflict`` otherwise: the caller rolls the
batch back and runs it per receipt); builds and inserts the application rows; posts their journals
with ``ledger.post_many`` (one block of gap-free numbers per period); sets the rows'
journals, the items' and the receipts' new state by id; writes the audit events; and
replaces the decisions and recommendations of the batch's receipts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from ar import audit, bulkrows, ledger
from ar.applications import (
    ENGINE_ACTOR,
    ApplicationStatus,
    MadeBy,
    ReceivableApplication,
    Setup,
)
from ar.audit import AuditEvent
from ar.cashapp.tables import (
    MatchDecision,
    MatchRecommendation,
    decision_fields,
    encoded,
    recommendation_fields,
)
from ar.cashapp.view import DbLedgerView, amount_of_minor, with_remaining
from ar.errors import ArError
from ar.ledger import JournalDraft, LineDraft, PeriodResolver
from ar.matching.model import Decision, OpenItem
from ar.model import Customer, PaymentSchedule, ScheduleStatus
from ar.money import Money, minor_units
from ar.numbering import IdReserver
from ar.receipts import Receipt, ReceiptStatus
from config.approvals import DocumentType

_UNID = ApplicationStatus.UNIDENTIFIED.value
_UNAPP = ApplicationStatus.UNAPPLIED.value
_APP = ApplicationStatus.APPLIED.value
_OPEN = ScheduleStatus.OPEN.value
_CLOSED = ScheduleStatus.CLOSED.value
_REVERSED = ReceiptStatus.REVERSED.value
_SYSTEM = MadeBy.SYSTEM.value
_ENGINE = MadeBy.ENGINE.value
# what a receipt does, as planned (``BatchPlan.ops``; turned into rows and events by ``write``)
_POST = "post"
_IDENTIFY = "identify"
_APPLY = "apply"


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


class BatchConflict(ArError):
    """An item changed in the database after the engine read it (another worker): redo the batch."""


class Refused(Exception):
    """A receipt the per-receipt services would refuse (internal: the caller hands it to them)."""


def application_evidence(decision: Decision) -> dict[str, Any]:
    """What each engine application records as its evidence (both persistence paths)."""
    assert decision.evidence is not None
    return {**decision.evidence.as_dict(), "rule_set": decision.rule_set, "outcome": decision.outcome.value}


def identification_evidence(decision: Decision) -> dict[str, Any]:
    """What identifying the payer records when the engine also applies the receipt."""
    return {"rule": decision.rule, "score": decision.score}


@dataclass(slots=True)
class ReceiptState:
    """A receipt as the services see it: its row and the sums of its application rows per status."""

    id: int
    status: str
    customer_id: int | None
    identified_by: str | None
    currency: str
    amount_minor: int
    receipt_date: date
    bank_account: str
    entry_ref: str
    #: Sum of the receipt's rows per status (a status with rows is present even when it sums to 0).
    buckets: dict[str, int] = field(default_factory=dict)

    @property
    def posted(self) -> bool:
        return bool(self.buckets)

    def book(self, status: str, amount_minor: int) -> None:
        """A row of ``status`` for ``amount_minor`` added to the sums (as its row will be)."""
        self.buckets[status] = self.buckets.get(status, 0) + amount_minor

    def copy(self) -> ReceiptState:
        """A copy with its own buckets (``dataclasses.replace`` costs several times more)."""
        return ReceiptState(
            self.id,
            self.status,
            self.customer_id,
            self.identified_by,
            self.currency,
            self.amount_minor,
            self.receipt_date,
            self.bank_account,
            self.entry_ref,
            dict(self.buckets),
        )


@dataclass(slots=True)
class _Written:
    """A receipt's new state as a plan handed over to another process carries it (``write``)."""

    id: int
    status: str
    customer_id: int | None
    identified_by: str | None


@dataclass(slots=True)
class _Item:
    """An open item applied to in this batch: as the engine first saw it, and as it is now."""

    seen: OpenItem
    initial_minor: int
    remaining_minor: int
    original_minor: int
    disputed_minor: int
    closed_on: date | None = None


@dataclass(slots=True)
class _Event:
    """One event: its rows (indexes into the batch's rows, the journal's source first) and journal."""

    rows: list[int]
    event: str
    accounting_date: date
    description: str
    lines: list[LineDraft]


@dataclass(slots=True)
class _Work:
    """What one receipt adds; merged into the batch only when all of it is accepted."""

    ops: list[tuple[Any, ...]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    items: dict[str, int] = field(default_factory=dict)  # item id -> remaining after this receipt


def load_receipts(session: Session, ids: Sequence[int]) -> dict[int, ReceiptState]:
    """The receipts (by id) with their bucket sums, in two queries."""
    found: dict[int, ReceiptState] = {}
    receipts = _table(Receipt).c
    apps = _table(ReceivableApplication).c
    for row in session.execute(
        select(
            receipts.id,
            receipts.status,
            receipts.customer_id,
            receipts.identified_by,
            receipts.currency,
            receipts.amount_minor,
            receipts.receipt_date,
            receipts.bank_account,
            receipts.entry_ref,
        ).where(receipts.id.in_(ids))
    ):
        found[row.id] = ReceiptState(*row)
    for receipt_id, status, total in session.execute(
        select(apps.receipt_id, apps.status, apps.amount_minor).where(apps.receipt_id.in_(ids))
    ):
        buckets = found[receipt_id].buckets
        buckets[status] = buckets.get(status, 0) + int(total)
    return found


class BatchPlan:
    """The batch's receipts carried out in memory, then written in bulk (see the module docstring)."""

    def __init__(
        self, session: Session, setup: Setup, view: DbLedgerView, *, now: datetime, read_only: bool = False
    ) -> None:
        self.session = session
        self.setup = setup
        self.view = view
        self.now = now
        self.today = now.date()
        # planned in a read-only transaction (the pipelined run's planner): periods only read;
        # ``write`` resolves them again, locked, in the writing session (``attach``)
        self.periods = PeriodResolver(session, setup.calendar, lock=not read_only)
        #: what the receipts do, in order (``_POST``, ``_IDENTIFY``, ``_APPLY`` tuples): turned into
        #: ``rows`` and ``events`` by ``write``, in the writing process for a handed-over plan
        self.ops: list[tuple[Any, ...]] = []
        self.rows: list[dict[str, Any]] = []
        self.events: list[_Event] = []
        self.audits: list[dict[str, Any]] = []
        self.items: dict[str, _Item] = {}
        self.receipts: dict[int, ReceiptState] = {}
        self.changed_receipts: dict[int, ReceiptState | _Written] = {}
        self.decisions: list[dict[str, Any]] = []
        self.recommendations: list[dict[str, Any]] = []
        self._profiles: dict[int, str | None] = {}
        #: the items' states of a plan handed over from another process (``__setstate__``)
        self._handed_items: dict[str, tuple[int, int, date | None]] | None = None
        self._limit = setup.approvals.limit  # (actor, document type, currency) -> Decimal

    # -- handing over to another process -----------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """What ``write`` needs, in plain tuples, dicts and lists (pickled in C, where the
        planning's own objects, an ``OpenItem`` per item among them, would cost more to send
        than to plan): not the planning process's session, view or setup."""
        assert not self.rows, "a plan is handed over before it is written"
        return {
            "now": self.now,
            "today": self.today,
            "ops": self.ops,
            "audits": self.audits,
            "items": self._item_states(),
            "changed_receipts": [
                (r.id, r.status, r.customer_id, r.identified_by) for r in self.changed_receipts.values()
            ],
            "decisions": self.decisions,
            "recommendations": self.recommendations,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.now = state["now"]
        self.today = state["today"]
        self.ops = state["ops"]
        self.rows = []
        self.events = []
        self.audits = state["audits"]
        self.items = {}
        self._handed_items = state["items"]
        self.changed_receipts = {r[0]: _Written(*r) for r in state["changed_receipts"]}
        self.decisions = state["decisions"]
        self.recommendations = state["recommendations"]

    def _item_states(self) -> dict[str, tuple[int, int, date | None]]:
        """Each item applied to: (remaining as the engine saw it, remaining now, closed on)."""
        if self._handed_items is not None:
            return self._handed_items
        return {i: (t.initial_minor, t.remaining_minor, t.closed_on) for i, t in self.items.items()}

    def attach(self, session: Session, setup: Setup) -> None:
        """Take a plan made elsewhere (unpickled) into ``session``, to ``write`` it there (only
        that: the planning's state stayed with the planner)."""
        self.session = session
        self.setup = setup
        self.periods = PeriodResolver(session, setup.calendar)

    def changed_items(self) -> list[OpenItem]:
        """The items the plan changes, with the remaining amounts ``write`` will store."""
        return [
            with_remaining(item.seen, amount_of_minor(item.remaining_minor, item.seen.currency))
            for item in self.items.values()
            if item.remaining_minor != item.initial_minor
        ]

    # -- planning ---------------------------------------------------------------
    def apply(self, receipt: ReceiptState, decision: Decision) -> list[str]:
        """Carry out an APPLIED / PARTIALLY_APPLIED decision (``CashApplication._apply``); the
        items changed. Refused: nothing of the receipt is planned."""
        assert decision.customer_id is not None and decision.evidence is not None
        state = receipt.copy()
        work = _Work()
        # encoded by ``write``, once for all rows of the decision (see ``_encode_evidence``)
        evidence = application_evidence(decision)
        if state.customer_id is None:
            self._identify(
                work,
                state,
                int(decision.customer_id),
                how=decision.identified_by.value,
                evidence=identification_evidence(decision),
            )
        else:
            self._post_receipt(work, state)
        changed = []
        rule = decision.rule or "engine"
        score = str(Decimal(decision.score))
        for app in sorted(decision.applications, key=lambda a: (a.amount >= 0, a.item_id)):
            self._apply_one(
                work, state, app.item_id, app.amount, app.discount, app.write_off, rule, score, evidence
            )
            changed.append(app.item_id)
        self._commit(work, receipt, state)
        return changed

    def post(self, receipt: ReceiptState, decision: Decision, *, trusted: bool) -> None:
        """Account for a receipt nothing is applied to (``CashApplication._post``); refused: nothing."""
        state = receipt.copy()
        work = _Work()
        if state.customer_id is None and decision.customer_id and trusted:
            self._identify(
                work,
                state,
                int(decision.customer_id),
                how=decision.identified_by.value,
                evidence={"outcome": decision.outcome.value},
            )
        self._post_receipt(work, state)
        self._commit(work, receipt, state)

    def record(self, receipt_id: int, decision: Decision) -> None:
        """The decision and its recommendations (``CashApplication._record``)."""
        # JSON columns are encoded by ``write`` (in the writing process, for a handed-over plan)
        self.decisions.append(decision_fields(receipt_id, decision, self.now))
        self.recommendations.extend(recommendation_fields(receipt_id, decision, self.now))

    # -- the services, in memory ------------------------------------------------------
    def _resolve(self, accounting_date: date) -> None:
        try:
            self.periods.resolve(accounting_date)
        except ArError as exc:
            raise Refused(str(exc)) from exc

    def _row(
        self,
        receipt_id: int,
        currency: str,
        status: str,
        amount_minor: int,
        *,
        accounting_date: date,
        made_by: str,
        customer_id: int | None,
        rule: str,
        schedule_id: int | None = None,
        discount_minor: int = 0,
        write_off_minor: int = 0,
        activity: str | None = None,
        score: str | None = None,
        evidence: str | Mapping[str, Any] = "{}",
    ) -> int:
        """One application row (its index); ``evidence`` as ``_evidence_json`` wrote it, or to be
        written so by ``write`` (a mapping)."""
        self.rows.append(
            {
                "receipt_id": receipt_id,
                "status": status,
                "amount_minor": amount_minor,
                "currency": currency,
                "schedule_id": schedule_id,
                "discount_minor": discount_minor,
                "write_off_minor": write_off_minor,
                "customer_id": customer_id,
                "activity": activity,
                "rule": rule,
                "score": score,
                "evidence": evidence,
                "made_by": made_by,
                "actor": ENGINE_ACTOR,
                "accounting_date": accounting_date,
                "created_at": self.now,
                "journal_id": None,
                "reversal_of_id": None,
                "reversed_at": None,
            }
        )
        return len(self.rows) - 1

    def _post_receipt(self, work: _Work, state: ReceiptState) -> None:
        """``applications.post_receipt``: +UNID or +UNAPP, Dr cash / Cr unidentified or unapplied."""
        if state.posted:
            return
        if state.status == _REVERSED or state.amount_minor <= 0:
            raise Refused(f"receipt {state.id} cannot be posted")
        self._resolve(state.receipt_date)
        status = _UNID if state.customer_id is None else _UNAPP
        state.book(status, state.amount_minor)
        work.ops.append(
            (
                _POST,
                state.id,
                state.currency,
                state.amount_minor,
                state.customer_id,
                state.receipt_date,
                state.bank_account,
                state.entry_ref,
            )
        )

    def _emit_post(
        self,
        receipt_id: int,
        currency: str,
        amount: int,
        customer_id: int | None,
        when: date,
        bank_account: str,
        entry_ref: str,
    ) -> None:
        accounts = self.setup.accounts
        known = customer_id is not None
        row = self._row(
            receipt_id,
            currency,
            _UNAPP if known else _UNID,
            amount,
            accounting_date=when,
            made_by=_SYSTEM,
            customer_id=customer_id,
            rule="receipt",
        )
        self.events.append(
            _Event(
                [row],
                "receipt",
                when,
                f"receipt {receipt_id} {entry_ref}",
                [
                    LineDraft(self.setup.cash_account(bank_account), amount, 0, currency),
                    LineDraft(
                        accounts.unapplied if known else accounts.unidentified,
                        0,
                        amount,
                        currency,
                        customer_id,
                    ),
                ],
            )
        )

    def _identify(
        self, work: _Work, state: ReceiptState, customer_id: int, *, how: str, evidence: Mapping[str, Any]
    ) -> None:
        """``applications.identify`` of an unidentified receipt by the engine."""
        customer = self.view.customer(str(customer_id))
        if customer is None:
            raise Refused(f"customer {customer_id} not found")
        state.customer_id = customer_id
        state.identified_by = how
        if not state.posted:
            self._post_receipt(work, state)
        else:
            unidentified = state.buckets.get(_UNID, 0)
            if unidentified <= 0:
                raise Refused(f"receipt {state.id}: nothing unidentified to identify")
            self._resolve(self.today)
            state.book(_UNID, -unidentified)
            state.book(_UNAPP, unidentified)
            work.ops.append(
                (
                    _IDENTIFY,
                    state.id,
                    state.currency,
                    customer_id,
                    customer.number,
                    how,
                    unidentified,
                    evidence,
                )
            )
        work.audits.append(
            {
                "at": self.now,
                "actor": ENGINE_ACTOR,
                "entity": "receipt",
                "entity_id": str(state.id),
                "action": "identified",
                # encoded by ``write`` (in the writing process, for a handed-over plan)
                "details": {"customer": customer.number, "how": how},
            }
        )

    def _emit_identify(
        self,
        receipt_id: int,
        currency: str,
        customer_id: int,
        customer_number: str,
        how: str,
        unidentified: int,
        evidence: Mapping[str, Any],
    ) -> None:
        details = {"identified_by": how, **dict(evidence)}
        common: dict[str, Any] = {
            "accounting_date": self.today,
            "made_by": _ENGINE,
            "rule": f"identify:{how}",
            "evidence": _evidence_json(details),
        }
        first = self._row(receipt_id, currency, _UNID, -unidentified, customer_id=None, **common)
        second = self._row(receipt_id, currency, _UNAPP, unidentified, customer_id=customer_id, **common)
        accounts = self.setup.accounts
        self.events.append(
            _Event(
                [first, second],
                "receipt_identification",
                self.today,
                f"receipt {receipt_id} identified as customer {customer_number} ({how})",
                [
                    LineDraft(accounts.unidentified, unidentified, 0, currency),
                    LineDraft(accounts.unapplied, 0, unidentified, currency, customer_id),
                ],
            )
        )

    def _item(self, work: _Work, item_id: str) -> tuple[_Item, int]:
        known = self.items.get(item_id)
        if known is None:
            seen = self.view.item(item_id)
            if seen is None:
                raise Refused(f"open item {item_id} is not open")
            cur = seen.currency
            remaining = minor_units(seen.amount_due_remaining, cur)
            known = _Item(
                seen=seen,
                initial_minor=remaining,
                remaining_minor=remaining,
                original_minor=minor_units(seen.amount_due_original, cur),
                disputed_minor=minor_units(seen.disputed_amount, cur),
            )
            self.items[item_id] = known
        return known, work.items.get(item_id, known.remaining_minor)

    def _held(self, item: _Item, remaining: int) -> int:
        """``applications.disputed_held`` on the item as it is now."""
        if item.disputed_minor <= 0:
            return 0
        customer_id = int(item.seen.customer_id)
        if customer_id not in self._profiles:
            customer = self.session.get(Customer, customer_id)
            self._profiles[customer_id] = customer.profile if customer is not None else None
        profile = self._profiles[customer_id]
        if profile is None or not self.setup.disputes_leave_matching(profile):
            return 0
        return min(item.disputed_minor, max(remaining, 0))

    def _apply_one(
        self,
        work: _Work,
        state: ReceiptState,
        item_id: str,
        amount_value: Decimal,
        discount_value: Decimal,
        write_off_value: Decimal,
        rule: str,
        score: str,
        evidence: Mapping[str, Any],
    ) -> None:
        """``applications.apply`` of the engine: -UNAPP +APP, Dr unapplied / Cr receivables (and
        discount, write-off), the item moved; refused where the service refuses."""
        if state.customer_id is None:
            raise Refused("unidentified")
        self._post_receipt(work, state)
        item, remaining = self._item(work, item_id)
        cur = state.currency
        if item.seen.currency != cur:
            raise Refused("currency")
        try:
            amount = minor_units(amount_value, cur)
            discount = minor_units(discount_value, cur)
            write_off = minor_units(write_off_value, cur)
        except ArError as exc:
            raise Refused(str(exc)) from exc
        if discount < 0 or write_off < 0 or (amount == 0 and discount == 0 and write_off == 0):
            raise Refused("amounts")
        if remaining < 0 or item.original_minor < 0:
            if amount >= 0 or discount or write_off or -amount > -remaining:
                raise Refused("credit")
        else:
            if amount < 0:
                raise Refused("negative")
            if amount + discount + write_off > remaining - self._held(item, remaining):
                raise Refused("more than open")
            if amount > state.buckets.get(_UNAPP, 0):
                raise Refused("more than unapplied")
        activity: str | None = None
        write_off_account = ""
        if write_off:
            try:
                activity, write_off_account = self.setup.receipt_write_off_account()
            except ArError as exc:
                raise Refused(str(exc)) from exc
            if Money.from_minor(write_off, cur).amount > self._limit(
                ENGINE_ACTOR, DocumentType.RECEIPT_WRITE_OFF, cur
            ):
                raise Refused("write-off above the limit")
        self._resolve(self.today)
        state.book(_APP, amount)
        state.book(_UNAPP, -amount)
        work.ops.append(
            (
                _APPLY,
                state.id,
                cur,
                state.customer_id,
                int(item.seen.customer_id),
                int(item_id),
                item.seen.trx_number,
                amount,
                discount,
                write_off,
                activity,
                write_off_account,
                rule,
                score,
                evidence,
            )
        )
        work.items[item_id] = remaining - (amount + discount + write_off)

    def _emit_apply(
        self,
        receipt_id: int,
        cur: str,
        receipt_customer: int,
        customer: int,
        schedule_id: int,
        trx_number: str,
        amount: int,
        discount: int,
        write_off: int,
        activity: str | None,
        write_off_account: str,
        rule: str,
        score: str,
        evidence: Mapping[str, Any],
    ) -> None:
        common: dict[str, Any] = {"accounting_date": self.today, "made_by": _ENGINE, "rule": rule}
        # the APP row first: the journal's source is the application itself
        applied = self._row(
            receipt_id,
            cur,
            _APP,
            amount,
            customer_id=customer,
            schedule_id=schedule_id,
            discount_minor=discount,
            write_off_minor=write_off,
            activity=activity,
            score=score,
            evidence=evidence,
            **common,
        )
        unapplied = self._row(receipt_id, cur, _UNAPP, -amount, customer_id=receipt_customer, **common)
        accounts = self.setup.accounts
        lines: list[LineDraft] = []
        if amount:
            lines += [
                LineDraft(accounts.unapplied, max(amount, 0), max(-amount, 0), cur, receipt_customer),
                LineDraft(accounts.receivables, max(-amount, 0), max(amount, 0), cur, customer, schedule_id),
            ]
        if discount:
            lines += [
                LineDraft(accounts.discounts, discount, 0, cur, customer),
                LineDraft(accounts.receivables, 0, discount, cur, customer, schedule_id),
            ]
        if write_off:
            lines += [
                LineDraft(write_off_account, write_off, 0, cur, customer),
                LineDraft(accounts.receivables, 0, write_off, cur, customer, schedule_id),
            ]
        self.events.append(
            _Event(
                [applied, unapplied],
                "application",
                self.today,
                f"receipt {receipt_id} applied to {trx_number} ({rule})",
                lines,
            )
        )

    def _commit(self, work: _Work, original: ReceiptState, state: ReceiptState) -> None:
        """Accept one receipt's work into the batch: rows, events, items (laid over the view), receipt."""
        self.ops.extend(work.ops)
        self.audits.extend(work.audits)
        for item_id, remaining in work.items.items():
            item = self.items[item_id]
            item.remaining_minor = remaining
            item.closed_on = self.today if remaining == 0 else None
            self.view.overlay(item.seen, amount_of_minor(remaining, item.seen.currency))
        state.status = _status(state)
        original.buckets = state.buckets
        before = (original.status, original.customer_id, original.identified_by)
        if (state.status, state.customer_id, state.identified_by) != before:
            original.status = state.status
            original.customer_id = state.customer_id
            original.identified_by = state.identified_by
            self.changed_receipts[original.id] = original

    # -- writing ----------------------------------------------------------------------
    def write(self) -> None:
        """Write the batch (see the module docstring); BatchConflict when an item changed meanwhile."""
        session = self.session
        self._verify_items()
        self._emit()
        # Ids reserved first: each journal names its application row, each row its journal,
        # so both are inserted once, complete, with nothing read back or updated after.
        reserver = IdReserver(session)
        ids = reserver.take(ReceivableApplication, len(self.rows))
        drafts = [
            JournalDraft(
                event=e.event,
                source_type="receivable_application",
                source_id=ids[e.rows[0]],
                accounting_date=e.accounting_date,
                description=e.description,
                lines=e.lines,
                actor=ENGINE_ACTOR,
            )
            for e in self.events
        ]
        journal_ids = ledger.post_many(
            session, drafts, now=self.now, resolver=self.periods, reserver=reserver
        )
        for row_id, row in zip(ids, self.rows, strict=True):
            row["id"] = row_id
        for event, journal_id in zip(self.events, journal_ids, strict=True):
            for i in event.rows:
                self.rows[i]["journal_id"] = journal_id
        self._encode_evidence()
        bulkrows.insert_rows(session, ReceivableApplication, self.rows)
        bulkrows.update_by_id(
            session,
            PaymentSchedule,
            ("amount_due_remaining_minor", "status", "closed_on"),
            [
                (remaining, _CLOSED if remaining == 0 else _OPEN, closed_on, int(item_id))
                for item_id, (initial, remaining, closed_on) in self._item_states().items()
                if remaining != initial
            ],
        )
        bulkrows.update_by_id(
            session,
            Receipt,
            ("status", "customer_id", "identified_by"),
            [(r.status, r.customer_id, r.identified_by, r.id) for r in self.changed_receipts.values()],
        )
        bulkrows.insert_rows(
            session, AuditEvent, [{**a, "details": audit.details_json(a["details"])} for a in self.audits]
        )
        decided = [d["receipt_id"] for d in self.decisions]
        for start in range(0, len(decided), 500):
            chunk = decided[start : start + 500]
            session.execute(delete(MatchRecommendation).where(MatchRecommendation.receipt_id.in_(chunk)))
            session.execute(delete(MatchDecision).where(MatchDecision.receipt_id.in_(chunk)))
        bulkrows.insert_rows(session, MatchDecision, [encoded(d) for d in self.decisions])
        bulkrows.insert_rows(session, MatchRecommendation, [encoded(r) for r in self.recommendations])
        # ORM objects the caller's session holds (receipts, items) are stale now
        session.expire_all()

    def _emit(self) -> None:
        """The rows and events of the planned ops, in order (once)."""
        emit: dict[str, Callable[..., None]] = {
            _POST: self._emit_post,
            _IDENTIFY: self._emit_identify,
            _APPLY: self._emit_apply,
        }
        for op in self.ops:
            emit[op[0]](*op[1:])
        self.ops = []

    def _encode_evidence(self) -> None:
        """Each row's evidence as stored: a decision's, shared by its rows, encoded once."""
        texts: dict[int, str] = {}
        for row in self.rows:
            evidence = row["evidence"]
            if not isinstance(evidence, str):
                text = texts.get(id(evidence))
                if text is None:
                    text = texts[id(evidence)] = _evidence_json(evidence)
                row["evidence"] = text

    def _verify_items(self) -> None:
        """Lock the items applied to; each must still be open for what the engine saw."""
        states = self._item_states()
        wanted = sorted(int(i) for i in states)
        items = _table(PaymentSchedule).c
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found: dict[int, int] = {
                item_id: remaining
                for item_id, remaining in self.session.execute(
                    select(items.id, items.amount_due_remaining_minor)
                    .where(items.id.in_(chunk), items.status == _OPEN)
                    .with_for_update()
                )
            }
            for item_id in chunk:
                if found.get(item_id) != states[str(item_id)][0]:
                    raise BatchConflict(f"open item {item_id} changed since it was read")


def _evidence_json(evidence: Mapping[str, Any]) -> str:
    """An application row's evidence as ``applications`` stores it (the same encoding)."""
    return audit.details_json(evidence)


_UNIDENTIFIED_RECEIPT = ReceiptStatus.UNIDENTIFIED.value
_UNAPPLIED_RECEIPT = ReceiptStatus.UNAPPLIED.value
_APPLIED_RECEIPT = ReceiptStatus.APPLIED.value


def _status(state: ReceiptState) -> str:
    """``applications._refresh_status`` on the buckets."""
    if state.status == _REVERSED:
        return state.status
    b = state.buckets
    if b.get(_UNID, 0) > 0 or (not b and state.customer_id is None):
        return _UNIDENTIFIED_RECEIPT
    if b.get(_UNAPP, 0) > 0 or not b:
        return _UNAPPLIED_RECEIPT
    return _APPLIED_RECEIPT
