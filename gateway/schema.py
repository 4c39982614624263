"""Imports every module that defines tables, so the metadata is complete (Alembic, tests)."""

from ar import adjustments, applications, approvals, audit, disputes, model, receipts  # noqa: F401
from ar.cashapp import tables as cashapp_tables  # noqa: F401
from gateway import channels, inbound, outbox, registry  # noqa: F401
