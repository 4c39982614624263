"""Adjustments with approval limits, and disputes through to their credit/debit memo or refund."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ar import adjustments, applications, approvals, disputes, ledger
from ar.adjustments import AdjustmentStatus
from ar.applications import Setup
from ar.audit import AuditEvent
from ar.cashapp.indexes import item_keys
from ar.cashapp.tables import ItemReferenceKey
from ar.disputes import DisputeStatus, Resolution
from ar.errors import ApprovalError, NotFoundError, ValidationError
from ar.model import PaymentSchedule, Transaction
from ar.money import Money
from tests.ar.factories import NOW, Factory

EUR = "EUR"


def eur(text: str) -> Money:
    return Money.of(text, EUR)


@pytest.mark.parametrize(
    ("requester", "amount", "currency", "posted_at_once"),
    [
        ("alice", "-500.00", "EUR", True),  # her adjustment limit, EUR
        ("alice", "-500.01", "EUR", False),
        ("alice", "-400.00", "USD", True),  # her USD limit
        ("carol", "-100.00", "EUR", True),
        ("carol", "-100.01", "EUR", False),
        ("zed", "-25.00", "EUR", True),  # no own limits: the company policy
        ("zed", "-25.01", "EUR", False),
        ("zed", "-1.00", "USD", False),  # the policy has no USD limit: zero
    ],
)
def test_adjustment_limit_per_user_and_currency(
    session: Session,
    setup: Setup,
    make: Factory,
    books_agree: Callable[[], None],
    requester: str,
    amount: str,
    currency: str,
    posted_at_once: bool,
) -> None:
    item = make.invoice(make.customer(), "1000.00", currency=currency)
    money = Money.of(amount, currency)
    adj = adjustments.create(
        session, item.id, money, activity="small_balance_write_off", setup=setup, actor=requester, now=NOW
    )
    expected_remaining = 100000 + money.minor_units if posted_at_once else 100000
    assert item.amount_due_remaining_minor == expected_remaining
    assert adj.status == (AdjustmentStatus.APPROVED if posted_at_once else AdjustmentStatus.PENDING)
    assert (adj.journal_id is not None) == posted_at_once
    books_agree()


def test_pending_adjustment_needs_another_user_with_enough_limit(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None]
) -> None:
    item = make.invoice(make.customer(), "2000.00")
    adj = adjustments.create(
        session, item.id, eur("-800.00"), activity="bank_charges", setup=setup, actor="alice", now=NOW
    )
    assert adj.status == AdjustmentStatus.PENDING
    assert adjustments.pending_count(session, "2026-11") == 1
    with pytest.raises(ApprovalError, match=r"alice requested adjustment .* requester alice"):
        adjustments.approve(session, adj.id, setup=setup, actor="alice", now=NOW)
    with pytest.raises(ApprovalError, match=r"carol may approve adjustment up to 100\.00 EUR"):
        adjustments.approve(session, adj.id, setup=setup, actor="carol", now=NOW)
    later = NOW + timedelta(hours=2)
    adjustments.approve(session, adj.id, setup=setup, actor="bob", now=later)
    assert adj.status == AdjustmentStatus.APPROVED
    assert item.amount_due_remaining_minor == 120000
    assert ledger.balance(session, "6855", EUR) == eur("800.00")
    assert adjustments.pending_count(session, "2026-11") == 0
    with pytest.raises(ApprovalError, match="not pending"):
        adjustments.approve(session, adj.id, setup=setup, actor="bob", now=later)
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity == "approval").order_by(AuditEvent.id)
    ).all()
    assert actions == ["requested", "approved"]
    books_agree()


def test_rejected_adjustment_posts_nothing_and_is_audited(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None]
) -> None:
    item = make.invoice(make.customer(), "2000.00")
    adj = adjustments.create(
        session, item.id, eur("-800.00"), activity="bank_charges", setup=setup, actor="alice", now=NOW
    )
    with pytest.raises(ApprovalError, match="cannot decide"):
        adjustments.reject(session, adj.id, reason="no", setup=setup, actor="alice", now=NOW)
    with pytest.raises(ApprovalError, match="needs a reason"):
        adjustments.reject(session, adj.id, reason=" ", setup=setup, actor="carol", now=NOW)
    adjustments.reject(session, adj.id, reason="customer must pay", setup=setup, actor="carol", now=NOW)
    assert adj.status == AdjustmentStatus.REJECTED and adj.journal_id is None
    assert item.amount_due_remaining_minor == 200000
    req = approvals.get(session, adj.approval_id)  # type: ignore[arg-type]
    assert (req.status, req.decided_by, req.reason) == ("rejected", "carol", "customer must pay")
    assert [a.id for a in adjustments.list_adjustments(session, pending_only=True)] == []
    books_agree()


@pytest.mark.parametrize(
    ("amount", "activity", "error", "kind"),
    [
        ("-1000.01", "bank_charges", "below zero", ValidationError),
        ("0.00", "bank_charges", "changes nothing", ValidationError),
        ("20.00", "late_charges", "bill a charge as a debit memo", ValidationError),
        ("-1.00", "no_such_activity", "unknown receivable activity", ValidationError),
    ],
)
def test_adjustment_refusals(
    session: Session, setup: Setup, make: Factory, amount: str, activity: str, error: str, kind: type
) -> None:
    item = make.invoice(make.customer(), "1000.00")
    with pytest.raises(kind, match=error):
        adjustments.create(
            session, item.id, eur(amount), activity=activity, setup=setup, actor="bob", now=NOW
        )


def test_approval_refused_when_item_moved_meanwhile(session: Session, setup: Setup, make: Factory) -> None:
    customer = make.customer()
    item = make.invoice(customer, "600.00")
    adj = adjustments.create(
        session, item.id, eur("-600.00"), activity="bank_charges", setup=setup, actor="alice", now=NOW
    )
    receipt = make.receipt("100.00", customer=customer)
    applications.apply(
        session, receipt.id, item.id, eur("100.00"), rule="m", evidence={}, setup=setup, actor="a", now=NOW
    )
    with pytest.raises(ValidationError, match="below zero"):
        adjustments.approve(session, adj.id, setup=setup, actor="bob", now=NOW)


def test_pending_count_unknown_period(session: Session) -> None:
    with pytest.raises(NotFoundError):
        adjustments.pending_count(session, "1999-01")


# --------------------------------------------------------------------------- disputes
def _memo(session: Session, dispute: disputes.Dispute) -> tuple[Transaction, PaymentSchedule]:
    memo = session.get(Transaction, dispute.memo_id)
    assert memo is not None
    item = session.scalars(select(PaymentSchedule).where(PaymentSchedule.transaction_id == memo.id)).one()
    return memo, item


def test_dispute_resolved_by_credit_memo_within_limit(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None]
) -> None:
    item = make.invoice(make.customer(), "500.00")
    dispute = disputes.open_dispute(
        session, item.id, eur("120.00"), reason="damaged", comment="3 boxes", actor="carol", now=NOW
    )
    assert item.amount_in_dispute_minor == 12000
    disputes.resolve(session, dispute.id, Resolution.CREDIT_MEMO, setup=setup, actor="alice", now=NOW)
    assert dispute.status == DisputeStatus.RESOLVED
    memo, memo_item = _memo(session, dispute)
    assert (memo.trx_type, memo.total_minor, memo.credited_trx_id) == ("CM", -12000, item.transaction_id)
    assert (memo_item.amount_due_original_minor, memo_item.amount_due_remaining_minor) == (-12000, 0)
    assert (item.amount_due_remaining_minor, item.amount_in_dispute_minor) == (38000, 0)
    assert ledger.balance(session, "4090", EUR) == eur("120.00")
    books_agree()


def test_dispute_resolution_above_limit_waits_for_an_approver(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None]
) -> None:
    item = make.invoice(make.customer(), "5000.00")
    dispute = disputes.open_dispute(session, item.id, eur("2000.00"), reason="price", actor="alice", now=NOW)
    disputes.resolve(session, dispute.id, Resolution.CREDIT_MEMO, setup=setup, actor="alice", now=NOW)
    assert dispute.status == DisputeStatus.PENDING_APPROVAL and dispute.memo_id is None
    with pytest.raises(ApprovalError, match="requester alice"):
        disputes.approve(session, dispute.id, setup=setup, actor="alice", now=NOW)
    disputes.reject(session, dispute.id, reason="resolve by chargeback", setup=setup, actor="bob", now=NOW)
    assert dispute.status == DisputeStatus.OPEN and item.amount_in_dispute_minor == 200000
    # The second request of the same dispute is another document: a debit memo.
    disputes.resolve(session, dispute.id, Resolution.DEBIT_MEMO, setup=setup, actor="alice", now=NOW)
    assert dispute.status == DisputeStatus.PENDING_APPROVAL
    disputes.approve(session, dispute.id, setup=setup, actor="bob", now=NOW)
    memo, memo_item = _memo(session, dispute)
    assert (memo.trx_type, memo_item.amount_due_remaining_minor) == ("DM", 200000)
    assert (item.amount_due_remaining_minor, item.amount_in_dispute_minor) == (300000, 0)
    # cash application finds the debit memo by its number from the start
    keys = session.scalars(select(ItemReferenceKey.key).where(ItemReferenceKey.schedule_id == memo_item.id))
    assert set(keys) == set(item_keys(memo.trx_number, memo.order_number))
    books_agree()


def test_dispute_refund_only_of_what_was_paid(
    session: Session, setup: Setup, make: Factory, books_agree: Callable[[], None]
) -> None:
    customer = make.customer()
    item = make.invoice(customer, "100.00")
    dispute = disputes.open_dispute(session, item.id, eur("40.00"), reason="quality", actor="carol", now=NOW)
    with pytest.raises(ValidationError, match=r"only 0\.00 EUR is paid"):
        disputes.resolve(session, dispute.id, Resolution.REFUND, setup=setup, actor="bob", now=NOW)
    receipt = make.receipt("60.00", customer=customer)
    applications.apply(
        session, receipt.id, item.id, eur("60.00"), rule="m", evidence={}, setup=setup, actor="a", now=NOW
    )
    disputes.resolve(session, dispute.id, Resolution.REFUND, setup=setup, actor="bob", now=NOW)
    assert dispute.status == DisputeStatus.RESOLVED
    assert ledger.balance(session, setup.accounts.refunds, EUR) == eur("-40.00")
    assert item.amount_due_remaining_minor == 4000 and item.amount_in_dispute_minor == 0
    books_agree()


def test_dispute_withdraw_and_refusals(session: Session, setup: Setup, make: Factory) -> None:
    customer = make.customer()
    item = make.invoice(customer, "100.00")
    credit = make.credit_memo(customer, "10.00")
    with pytest.raises(ValidationError, match="is a credit"):
        disputes.open_dispute(session, credit.id, eur("1.00"), reason="x", actor="a", now=NOW)
    with pytest.raises(ValidationError, match="needs a reason"):
        disputes.open_dispute(session, item.id, eur("1.00"), reason="", actor="a", now=NOW)
    dispute = disputes.open_dispute(session, item.id, eur("100.00"), reason="all", actor="a", now=NOW)
    with pytest.raises(ValidationError, match=r"0\.00 EUR of it is not in dispute yet"):
        disputes.open_dispute(session, item.id, eur("0.01"), reason="more", actor="a", now=NOW)
    disputes.resolve(session, dispute.id, Resolution.WITHDRAW, setup=setup, actor="a", now=NOW)
    assert dispute.status == DisputeStatus.WITHDRAWN and item.amount_in_dispute_minor == 0
    with pytest.raises(ValidationError, match="not open"):
        disputes.resolve(session, dispute.id, Resolution.CREDIT_MEMO, setup=setup, actor="a", now=NOW)
    assert [d.id for d in disputes.list_disputes(session, open_only=True)] == []
