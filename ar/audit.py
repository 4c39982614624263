"""The audit trail: every state change of every entity, who made it and when."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from ar.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(120))
    #: What changed: "customer", "receipt", "file", "batch", ...
    entity: Mapped[str] = mapped_column(String(40), index=True)
    entity_id: Mapped[str] = mapped_column(String(120), index=True)
    action: Mapped[str] = mapped_column(String(40))
    #: JSON of the fields that changed: {"field": [before, after]} or free details.
    details: Mapped[str] = mapped_column(Text, default="{}")


def record(
    session: Session,
    *,
    actor: str,
    entity: str,
    entity_id: object,
    action: str,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (flushed with it, never committed here)."""
    event = AuditEvent(
        at=at or datetime.now(UTC),
        actor=actor,
        entity=entity,
        entity_id=str(entity_id),
        action=action,
        details=details_json(details),
    )
    session.add(event)
    return event


#: ``json.dumps(..., default=str, sort_keys=True)`` without an encoder built per call (the bulk
#: writers encode an event per receipt)
_ENCODER = json.JSONEncoder(default=str, sort_keys=True)


def details_json(details: Mapping[str, Any] | None) -> str:
    """An event's details as stored (``record``; the bulk writers that insert events as rows)."""
    return _ENCODER.encode(dict(details or {}))
