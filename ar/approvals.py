"""Approval requests: four eyes on adjustments, receipt write-offs, credit/debit memos and refunds.

A document within its requester's limit (approvals.yaml: per user, per document type,
per currency; else the company policy; else zero) is approved at once by that limit.
Above it, the request waits as pending until another user whose own limit covers the
amount approves it. The approver is never the requester. Every decision is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, Index, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ar import audit
from ar.db import Base
from ar.errors import ApprovalError, NotFoundError
from ar.money import Money
from config.approvals import Approvals, DocumentType


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ApprovalRequest(Base):
    """One document that needs (or needed) approval; the document points back by `document_id`."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        UniqueConstraint("document_type", "document_id"),
        Index("ix_approval_requests_status", "status", "document_type"),
        CheckConstraint("amount_minor >= 0", name="amount_non_negative"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: config.approvals.DocumentType: adjustment, receipt_write_off, credit_memo, debit_memo, refund.
    document_type: Mapped[str] = mapped_column(String(20))
    #: The adjustment's or the dispute's id.
    document_id: Mapped[int]
    #: The absolute amount the limits are compared with.
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10))
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Who decided: the requester themself when within their own limit.
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Why a request was rejected (or "within limit" when approved at once).
    reason: Mapped[str | None] = mapped_column(Text)

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, self.currency)


def within_limit(approvals: Approvals, user: str, document_type: DocumentType, amount: Money) -> bool:
    return abs(amount).amount <= approvals.limit(user, document_type, amount.currency)


def request(
    session: Session,
    *,
    approvals: Approvals,
    document_type: DocumentType,
    document_id: int,
    amount: Money,
    requested_by: str,
    now: datetime,
) -> ApprovalRequest:
    """Ask for approval; approved at once when within the requester's own limit, else pending."""
    approved = within_limit(approvals, requested_by, document_type, amount)
    req = ApprovalRequest(
        document_type=document_type.value,
        document_id=document_id,
        amount_minor=abs(amount).minor_units,
        currency=amount.currency,
        status=(ApprovalStatus.APPROVED if approved else ApprovalStatus.PENDING).value,
        requested_by=requested_by,
        requested_at=now,
        decided_by=requested_by if approved else None,
        decided_at=now if approved else None,
        reason="within the requester's limit" if approved else None,
    )
    session.add(req)
    session.flush()
    limit = approvals.limit(requested_by, document_type, amount.currency)
    audit.record(
        session,
        actor=requested_by,
        entity="approval",
        entity_id=req.id,
        action="approved" if approved else "requested",
        details={
            "document_type": document_type.value,
            "document_id": document_id,
            "amount": str(abs(amount)),
            "requester_limit": f"{limit} {amount.currency}",
        },
        at=now,
    )
    return req


def get(session: Session, request_id: int, *, lock: bool = False) -> ApprovalRequest:
    req = session.get(ApprovalRequest, request_id, with_for_update=lock)
    if req is None:
        raise NotFoundError("approval request", request_id)
    return req


def find(session: Session, document_type: DocumentType, document_id: int) -> ApprovalRequest | None:
    return session.scalars(
        select(ApprovalRequest).where(
            ApprovalRequest.document_type == document_type.value,
            ApprovalRequest.document_id == document_id,
        )
    ).one_or_none()


def _pending(req: ApprovalRequest) -> None:
    if req.status != ApprovalStatus.PENDING:
        raise ApprovalError(
            f"{req.document_type} {req.document_id} is not pending approval (it is {req.status})"
        )


def approve(
    session: Session, req: ApprovalRequest, *, approvals: Approvals, approver: str, now: datetime
) -> ApprovalRequest:
    """Approve a pending request: the approver is not the requester and their limit covers it."""
    _pending(req)
    if approver == req.requested_by:
        raise ApprovalError(
            f"{approver} requested {req.document_type} {req.document_id} and cannot approve it: "
            f"the approver must be someone other than the requester {req.requested_by}"
        )
    document_type = DocumentType(req.document_type)
    limit = approvals.limit(approver, document_type, req.currency)
    if req.amount.amount > limit:
        raise ApprovalError(
            f"{approver} may approve {document_type.value} up to {limit} {req.currency}, "
            f"not {req.amount} (requested by {req.requested_by})"
        )
    req.status = ApprovalStatus.APPROVED.value
    req.decided_by, req.decided_at = approver, now
    session.flush()
    audit.record(
        session,
        actor=approver,
        entity="approval",
        entity_id=req.id,
        action="approved",
        details={
            "document_type": req.document_type,
            "document_id": req.document_id,
            "amount": str(req.amount),
            "requested_by": req.requested_by,
            "approver_limit": f"{limit} {req.currency}",
        },
        at=now,
    )
    return req


def reject(
    session: Session, req: ApprovalRequest, *, approver: str, reason: str, now: datetime
) -> ApprovalRequest:
    """Reject a pending request: by someone other than the requester, with a reason."""
    _pending(req)
    if approver == req.requested_by:
        raise ApprovalError(
            f"{approver} requested {req.document_type} {req.document_id} and cannot decide on it: "
            f"the approver must be someone other than the requester {req.requested_by}"
        )
    if not reason.strip():
        raise ApprovalError("a rejection needs a reason")
    req.status = ApprovalStatus.REJECTED.value
    req.decided_by, req.decided_at, req.reason = approver, now, reason
    session.flush()
    audit.record(
        session,
        actor=approver,
        entity="approval",
        entity_id=req.id,
        action="rejected",
        details={
            "document_type": req.document_type,
            "document_id": req.document_id,
            "amount": str(req.amount),
            "requested_by": req.requested_by,
            "reason": reason,
        },
        at=now,
    )
    return req


def pending(session: Session, document_type: DocumentType | None = None) -> Sequence[ApprovalRequest]:
    stmt = select(ApprovalRequest).where(ApprovalRequest.status == ApprovalStatus.PENDING.value)
    if document_type is not None:
        stmt = stmt.where(ApprovalRequest.document_type == document_type.value)
    return session.scalars(stmt.order_by(ApprovalRequest.id)).all()
