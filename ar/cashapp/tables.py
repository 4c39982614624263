"""Cash application's own tables: the reference-key index of open items, the name-token index
of customers, the engine's last decision per receipt and its ranked recommendations.

The two indexes are derived data kept by `ar.cashapp.indexes`: an item gets its keys when it is
created, and at the start of every run an open item still without keys gets them and a customer
whose name changed gets new tokens. Lookups join the open items and filter on their status, so
keys of closed items do no harm (and are there again when an item reopens).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ar.db import Base


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
