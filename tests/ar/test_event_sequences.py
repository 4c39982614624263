"""Random sequences of receivables events keep the books whole (Hypothesis stateful test).

Events: invoices and credit memos, receipts (payer known or not), identifications, full
and partial applications (with discounts and write-offs within or above limits),
unapplications, on-account amounts, refunds, adjustments within and above limits,
approvals and rejections (by the requester too), disputes and their resolutions, receipt
reversals. A refused event (over-application, over a limit, approver == requester...) is
rolled back to its savepoint, as a command's transaction would be.

After every step: every journal balances; receipt amount = applications + unapplied +
on account + unidentified; no open item below zero or above its original (credit memos
the other way round); the open items equal the GL receivables control; and every check
that `arbridge check` runs holds. Runs on SQLite (one migrated file, each example rolled back).
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ar import adjustments, applications, disputes
from ar.applications import ReceivableApplication, Setup
from ar.errors import ApprovalError, ArError
from ar.model import Customer, PaymentSchedule
from ar.money import Money
from config.approvals import Approvals
from config.loader import load_file
from gateway.db import make_engine, session_factory, upgrade
from tests.ar.applications.conftest import EXAMPLE_APPROVALS, assert_books_agree
from tests.ar.factories import NOW, Factory, ar_config

USERS = ("alice", "bob", "carol", "engine", "zed")
EUR = "EUR"


@cache
def _sessions() -> sessionmaker[Session]:
    folder = Path(tempfile.mkdtemp(prefix="arbridge-events-"))
    engine = make_engine(f"sqlite:///{folder / 'events.sqlite'}")
    upgrade(engine)
    return session_factory(engine)


def eur(minor: int) -> Money:
    return Money.from_minor(minor, EUR)


class ReceivablesMachine(RuleBasedStateMachine):
    customers = Bundle("customers")
    items = Bundle("items")
    receipts = Bundle("receipts")

    def __init__(self) -> None:
        super().__init__()
        self.session = _sessions()()
        self.session.begin()
        self.setup = Setup(ar=ar_config(), approvals=load_file(Approvals, EXAMPLE_APPROVALS))
        self.make = Factory(self.session, config=self.setup.ar)
        self.now = NOW
        self.refused = 0

    def teardown(self) -> None:
        self.session.rollback()
        self.session.close()

    def _tick(self) -> None:
        self.now += timedelta(minutes=1)

    def _try(self, action: object) -> object | None:
        """Run one event in a savepoint; a refusal rolls back just that event."""
        self._tick()
        savepoint = self.session.begin_nested()
        try:
            result = action()  # type: ignore[operator]
        except ArError:
            savepoint.rollback()
            self.refused += 1
            return None
        savepoint.commit()
        return result

    # ------------------------------------------------------------------ master data and documents
    @rule(target=customers, lenient=st.booleans())
    def new_customer(self, lenient: bool) -> Customer:
        return self.make.customer(profile="lenient" if lenient else "default")

    @rule(target=items, customer=customers, cents=st.integers(1, 200_000))
    def new_invoice(self, customer: Customer, cents: int) -> PaymentSchedule:
        return self.make.invoice(customer, str(eur(cents).amount))

    @rule(target=items, customer=customers, cents=st.integers(1, 20_000))
    def new_credit_memo(self, customer: Customer, cents: int) -> PaymentSchedule:
        return self.make.credit_memo(customer, str(eur(cents).amount))

    @rule(target=receipts, cents=st.integers(1, 300_000), payer=st.one_of(customers, customers, st.none()))
    def new_receipt(self, cents: int, payer: Customer | None) -> int:
        receipt = self.make.receipt(str(eur(cents).amount), customer=payer)
        # Recorded receipts are posted by the caller in the same transaction as the ingest.
        applications.post_receipt(self.session, receipt.id, setup=self.setup, actor="ingest", now=self.now)
        return receipt.id

    # ------------------------------------------------------------------ cash application
    @rule(receipt=receipts, customer=customers)
    def identify(self, receipt: int, customer: Customer) -> None:
        self._try(
            lambda: applications.identify(
                self.session, receipt, customer.id, how="name", setup=self.setup, actor="engine", now=self.now
            )
        )

    @rule(
        receipt=receipts,
        item=items,
        percent=st.integers(1, 110),
        discount=st.sampled_from([0, 0, 0, 100, 250]),
        write_off=st.sampled_from([0, 0, 0, 0, 300, 500, 501, 5000, 5001]),
        actor=st.sampled_from(USERS),
    )
    def apply(
        self, receipt: int, item: PaymentSchedule, percent: int, discount: int, write_off: int, actor: str
    ) -> None:
        if applications.get_receipt(self.session, receipt).customer_id is None:
            # As the engine does: the payer identified by the item's reference, then applied.
            self.identify(receipt, self.session.get(Customer, item.customer_id))  # type: ignore[arg-type]
        amounts = applications.open_amounts(self.session, receipt)
        remaining = item.amount_due_remaining_minor
        if remaining < 0:  # a credit memo: consume part of it
            amount, discount, write_off = -max(1, -remaining * percent // 100), 0, 0
        else:
            base = min(amounts.unapplied.minor_units, max(remaining - discount - write_off, 0))
            amount = base * percent // 100  # over 100 %: refused unless there is room
            if amount == 0 and discount == 0 and write_off == 0:
                return
        self._try(
            lambda: applications.apply(
                self.session,
                receipt,
                item.id,
                eur(amount),
                discount=eur(discount),
                write_off=eur(write_off),
                rule="property",
                score=Decimal(percent),
                evidence={"percent": percent},
                setup=self.setup,
                actor=actor,
                now=self.now,
            )
        )

    @rule(receipt=receipts, item=items, percent=st.sampled_from([25, 50, 100, 100, 100]))
    def apply_plainly(self, receipt: int, item: PaymentSchedule, percent: int) -> None:
        """The common case, drawn as often again: part or all of what is open, no discount."""
        self.apply(receipt, item, percent, 0, 0, "engine")

    @rule(receipt=receipts, percent=st.integers(1, 120))
    def on_account(self, receipt: int, percent: int) -> None:
        unapplied = applications.open_amounts(self.session, receipt).unapplied.minor_units
        amount = max(1, unapplied * percent // 100)
        self._try(
            lambda: applications.put_on_account(
                self.session, receipt, eur(amount), setup=self.setup, actor="alice", now=self.now
            )
        )

    @rule(receipt=receipts, cents=st.integers(1, 40_000), actor=st.sampled_from(USERS))
    def refund(self, receipt: int, cents: int, actor: str) -> None:
        self._try(
            lambda: applications.refund(
                self.session, receipt, eur(cents), setup=self.setup, actor=actor, now=self.now
            )
        )

    @rule(receipt=receipts, pick=st.integers(0, 10))
    def unapply(self, receipt: int, pick: int) -> None:
        active = applications.applications(self.session, receipt)
        if active:
            row = active[pick % len(active)]
            self._try(
                lambda: applications.unapply(
                    self.session, row.id, setup=self.setup, actor="bob", now=self.now
                )
            )

    @rule(receipt=receipts, reason=st.sampled_from(["AM04", "MD06", "NSF"]), dice=st.integers(0, 3))
    def reverse(self, receipt: int, reason: str, dice: int) -> None:
        if dice:  # a reversal is rarer than the other events: one draw in four
            return
        self._try(
            lambda: applications.reverse_receipt(
                self.session, receipt, reason=reason, setup=self.setup, actor="bank", now=self.now
            )
        )

    # ------------------------------------------------------------------ adjustments and approvals
    @rule(item=items, percent=st.integers(1, 110), actor=st.sampled_from(USERS))
    def adjust(self, item: PaymentSchedule, percent: int, actor: str) -> None:
        amount = max(1, item.amount_due_remaining_minor * percent // 100)
        self._try(
            lambda: adjustments.create(
                self.session,
                item.id,
                -eur(amount),
                activity="small_balance_write_off",
                setup=self.setup,
                actor=actor,
                now=self.now,
            )
        )

    def _pending_adjustments(self) -> list[adjustments.Adjustment]:
        return list(adjustments.list_adjustments(self.session, pending_only=True))

    @precondition(lambda self: bool(self._pending_adjustments()))
    @rule(pick=st.integers(0, 10), approver=st.sampled_from(USERS), approve=st.booleans())
    def decide_adjustment(self, pick: int, approver: str, approve: bool) -> None:
        pending = self._pending_adjustments()
        adjustment = pending[pick % len(pending)]
        if approve:
            done = self._try(
                lambda: adjustments.approve(
                    self.session, adjustment.id, setup=self.setup, actor=approver, now=self.now
                )
            )
        else:
            done = self._try(
                lambda: adjustments.reject(
                    self.session, adjustment.id, reason="no", setup=self.setup, actor=approver, now=self.now
                )
            )
        if approver == adjustment.requested_by:
            assert done is None, "a requester decided on their own adjustment"

    # ------------------------------------------------------------------ disputes
    @rule(item=items, percent=st.integers(1, 110))
    def open_dispute(self, item: PaymentSchedule, percent: int) -> None:
        amount = max(1, abs(item.amount_due_original_minor) * percent // 100)
        self._try(
            lambda: disputes.open_dispute(
                self.session, item.id, eur(amount), reason="damaged", actor="carol", now=self.now
            )
        )

    def _open_disputes(self) -> list[disputes.Dispute]:
        return list(disputes.list_disputes(self.session, open_only=True))

    @precondition(lambda self: bool(self._open_disputes()))
    @rule(
        pick=st.integers(0, 10),
        by=st.sampled_from(list(disputes.Resolution)),
        actor=st.sampled_from(USERS),
    )
    def resolve_dispute(self, pick: int, by: disputes.Resolution, actor: str) -> None:
        found = self._open_disputes()
        dispute = found[pick % len(found)]
        if dispute.status == disputes.DisputeStatus.PENDING_APPROVAL:
            approved = self._try(
                lambda: disputes.approve(
                    self.session, dispute.id, setup=self.setup, actor=actor, now=self.now
                )
            )
            req_by = self.session.get(disputes.approvals.ApprovalRequest, dispute.approval_id)
            if req_by is not None and req_by.requested_by == actor:
                assert approved is None, "a requester approved their own resolution"
        else:
            self._try(
                lambda: disputes.resolve(
                    self.session, dispute.id, by, setup=self.setup, actor=actor, now=self.now
                )
            )

    # ------------------------------------------------------------------ what must always hold
    @invariant()
    def books_agree(self) -> None:
        assert_books_agree(self.session, self.setup)

    @invariant()
    def disputes_never_exceed_the_items(self) -> None:
        for item in self.session.scalars(select(PaymentSchedule)):
            assert 0 <= item.amount_in_dispute_minor <= max(item.amount_due_original_minor, 0)

    @invariant()
    def applications_record_rule_and_actor(self) -> None:
        for row in self.session.scalars(
            select(ReceivableApplication).where(ReceivableApplication.status == "APP")
        ):
            assert row.rule and row.actor and row.made_by in ("engine", "user", "system")


def test_only_a_different_user_with_enough_limit_approves() -> None:
    """A fixed prefix of the machine, so the approval path is always exercised."""
    machine = ReceivablesMachine()
    try:
        customer = machine.new_customer(False)
        item = machine.new_invoice(customer, 150_000)
        machine.adjust(item, 100, "alice")  # 1500.00 > alice's 500.00: pending
        pending = machine._pending_adjustments()
        assert len(pending) == 1
        try:
            adjustments.approve(machine.session, pending[0].id, setup=machine.setup, actor="alice", now=NOW)
        except ApprovalError as exc:
            assert "alice" in str(exc)
        else:
            raise AssertionError("the requester approved their own adjustment")
        machine.decide_adjustment(0, "bob", True)
        assert item.amount_due_remaining_minor == 0
        machine.books_agree()
    finally:
        machine.teardown()


ReceivablesMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestReceivableEventSequences = pytest.mark.slow(ReceivablesMachine.TestCase)
