"""The file registry: every inbound file, by SHA-256, and its lifecycle.

    received -> processed | quarantined | duplicate

The same bytes twice is a duplicate: recorded (who sent it again, when), never processed
again. Uniqueness is a database constraint (one original per SHA-256), not a code path,
so two workers racing on the same file cannot both process it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from ar.db import Base


class FileState(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


class InboundFile(Base):
    __tablename__ = "inbound_files"
    __table_args__ = (
        # One original per content: the constraint, not the code, makes ingest idempotent.
        Index(
            "uq_inbound_files_sha256_original",
            "sha256",
            unique=True,
            sqlite_where=text("duplicate_of_id IS NULL"),
            postgresql_where=text("duplicate_of_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    #: Where it came from: a local path, or "channel:route/name".
    source: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(255))
    #: Detected format ("camt.053.001.02"), None when not recognised.
    format: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_files.id"))
    #: Archive or quarantine copy of the bytes.
    stored_path: Mapped[str | None] = mapped_column(String(1024))
    problem_count: Mapped[int] = mapped_column(Integer, default=0)
    warning_count: Mapped[int] = mapped_column(Integer, default=0)
    #: JSON summary of what processing did (counts, statement ids) or why it was refused.
    summary: Mapped[str] = mapped_column(Text, default="{}")


class BankStatement(Base):
    """A statement, report or notification seen in a processed file, per account."""

    __tablename__ = "bank_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("inbound_files.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    statement_id: Mapped[str] = mapped_column(String(140))
    account_iban: Mapped[str] = mapped_column(String(34), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    sequence_number: Mapped[str | None] = mapped_column(String(40))
    created_at_bank: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opening_minor: Mapped[int | None]
    closing_minor: Mapped[int | None]
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    receipts_created: Mapped[int] = mapped_column(Integer, default=0)
    receipts_existing: Mapped[int] = mapped_column(Integer, default=0)


def sha256_of(path: Path, chunk: int = 1 << 20) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def find_original(session: Session, sha256: str) -> InboundFile | None:
    return session.scalars(
        select(InboundFile).where(InboundFile.sha256 == sha256, InboundFile.duplicate_of_id.is_(None))
    ).one_or_none()
