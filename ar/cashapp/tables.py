"""Cash application's own tables: the reference-key index of open items, the name-token index
of customers, the engine's last decision per receipt and its ranked recommendations.

The two indexes are derived data kept by `ar.cashapp.indexes`: an item gets its keys when it is
created, and at the start of every run an open item still without keys gets them and a customer
whose name changed gets new tokens. Lookups join the open items and filter on their status, so
keys of closed items do no harm (and are there again when an item reopens).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ar.db import Base
from ar.matching.model import Decision


class ItemReferenceKey(Base):
    """One key (`ar.matching.references.index_keys`) an open item is found by."""

    __tablename__ = "item_reference_keys"
    __table_args__ = (
        UniqueConstraint("schedule_id", "key"),
        Index("ix_item_reference_keys_key", "key", "schedule_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("payment_schedules.id"))
    #: Upper-case alphanumeric: "INV123", "123", "INV000123", "RF18INV000123".
    key: Mapped[str] = mapped_column(String(80))


class CustomerNameToken(Base):
    """A distinctive word of a customer's name (`ar.matching.context.name_tokens`)."""

    __tablename__ = "customer_name_tokens"
    __table_args__ = (
        UniqueConstraint("customer_id", "token"),
        Index("ix_customer_name_tokens_token", "token", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    #: "" for a name without distinctive words (so the customer counts as indexed).
    token: Mapped[str] = mapped_column(String(240))
    #: The name the tokens were made from: a renamed customer is indexed again.
    name: Mapped[str] = mapped_column(String(240))


class MatchDecision(Base):
    """The engine's latest decision for a receipt (one row per receipt, replaced on each run)."""

    __tablename__ = "match_decisions"

    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"), primary_key=True)
    #: ar.matching.model.Outcome: APPLIED, PARTIALLY_APPLIED, RECOMMENDED, UNAPPLIED, UNIDENTIFIED.
    outcome: Mapped[str] = mapped_column(String(20), index=True)
    rule_set: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str | None] = mapped_column(String(80))
    score: Mapped[int] = mapped_column(Integer, default=0)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    identified_by: Mapped[str] = mapped_column(String(20))
    #: JSON: the decision's evidence, and why an application was held back (approval limit, refusal).
    evidence: Mapped[str] = mapped_column(Text, default="{}")
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MatchRecommendation(Base):
    """One ranked candidate for a person (rank 1 is the best), at most five per receipt."""

    __tablename__ = "match_recommendations"
    __table_args__ = (UniqueConstraint("receipt_id", "rank"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(80))
    #: JSON list of {"item_id" (schedule id), "trx_number", "amount", "discount", "write_off"}.
    applications: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def decision_row(receipt_id: int, decision: Decision, now: datetime) -> dict[str, Any]:
    """The MatchDecision columns of a decision (the one-by-one and the bulk recorder alike)."""
    return encoded(decision_fields(receipt_id, decision, now))


def decision_fields(receipt_id: int, decision: Decision, now: datetime) -> dict[str, Any]:
    """``decision_row`` with its JSON column not yet encoded (``encoded``)."""
    return {
        "receipt_id": receipt_id,
        "outcome": decision.outcome.value,
        "rule_set": decision.rule_set,
        "rule": decision.rule,
        "score": decision.score,
        "customer_id": int(decision.customer_id) if decision.customer_id else None,
        "identified_by": decision.identified_by.value,
        "evidence": decision.evidence.as_dict() if decision.evidence else {},
        "decided_at": now,
    }


def recommendation_rows(receipt_id: int, decision: Decision, now: datetime) -> list[dict[str, Any]]:
    """The MatchRecommendation rows of a decision, ranked from 1."""
    return [encoded(row) for row in recommendation_fields(receipt_id, decision, now)]


def recommendation_fields(receipt_id: int, decision: Decision, now: datetime) -> list[dict[str, Any]]:
    """``recommendation_rows`` with their JSON columns not yet encoded (``encoded``)."""
    return [
        {
            "receipt_id": receipt_id,
            "rank": rank,
            "score": r.score,
            "rule": r.rule,
            "applications": [a.as_dict() for a in r.applications],
            "evidence": r.evidence.as_dict(),
            "created_at": now,
        }
        for rank, r in enumerate(decision.recommendations, start=1)
    ]


#: ``json.dumps(..., sort_keys=True)`` without an encoder built per call (a decision per receipt)
_SORTED = json.JSONEncoder(sort_keys=True)


def encoded(fields: dict[str, Any]) -> dict[str, Any]:
    """The row of ``decision_fields`` or ``recommendation_fields``: its JSON columns as stored
    (evidence with sorted keys, applications in rank order). In place; the row."""
    fields["evidence"] = _SORTED.encode(fields["evidence"])
    if "applications" in fields:
        fields["applications"] = json.dumps(fields["applications"])
    return fields
