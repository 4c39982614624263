"""receipt applications, disputes, adjustments, approvals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:41:51.369633
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "approval_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("document_type", sa.String(length=20), nullable=False),
        sa.Column("document_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name=op.f("ck_approval_requests_status_known")
        ),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_approval_requests_amount_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
        sa.UniqueConstraint(
            "document_type", "document_id", name=op.f("uq_approval_requests_document_type_document_id")
        ),
    )
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.create_index("ix_approval_requests_status", ["status", "document_type"], unique=False)

    op.create_table(
        "adjustments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("schedule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("trx_number", sa.String(length=40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("activity", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accounting_date", sa.Date(), nullable=False),
        sa.Column("approval_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("journal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name=op.f("ck_adjustments_status_known")
        ),
        sa.CheckConstraint("amount_minor <> 0", name=op.f("ck_adjustments_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approval_requests.id"],
            name=op.f("fk_adjustments_approval_id_approval_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_adjustments_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["journal_id"], ["journals.id"], name=op.f("fk_adjustments_journal_id_journals")
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["payment_schedules.id"],
            name=op.f("fk_adjustments_schedule_id_payment_schedules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adjustments")),
    )
    with op.batch_alter_table("adjustments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_adjustments_accounting_date"), ["accounting_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_adjustments_schedule_id"), ["schedule_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_adjustments_status"), ["status"], unique=False)

    op.create_table(
        "disputes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("schedule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("trx_number", sa.String(length=40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=80), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_by", sa.String(length=120), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("activity", sa.String(length=40), nullable=True),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("approval_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("memo_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("journal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'pending_approval', 'resolved', 'withdrawn')",
            name=op.f("ck_disputes_status_known"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_disputes_amount_positive")),
        sa.ForeignKeyConstraint(
            ["approval_id"], ["approval_requests.id"], name=op.f("fk_disputes_approval_id_approval_requests")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_disputes_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["journal_id"], ["journals.id"], name=op.f("fk_disputes_journal_id_journals")
        ),
        sa.ForeignKeyConstraint(
            ["memo_id"], ["transactions.id"], name=op.f("fk_disputes_memo_id_transactions")
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["payment_schedules.id"], name=op.f("fk_disputes_schedule_id_payment_schedules")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["transactions.id"], name=op.f("fk_disputes_transaction_id_transactions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disputes_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disputes_schedule_id"), ["schedule_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disputes_status"), ["status"], unique=False)

    op.create_table(
        "receivable_applications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("receipt_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("amount_minor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("schedule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("discount_minor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("write_off_minor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("activity", sa.String(length=40), nullable=True),
        sa.Column("rule", sa.String(length=80), nullable=True),
        sa.Column("score", sa.String(length=20), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("made_by", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("accounting_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("journal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reversal_of_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status <> 'ACTIVITY' OR activity IS NOT NULL",
            name=op.f("ck_receivable_applications_activity_named"),
        ),
        sa.CheckConstraint(
            "status <> 'APP' OR schedule_id IS NOT NULL", name=op.f("ck_receivable_applications_app_has_item")
        ),
        sa.CheckConstraint(
            "status IN ('UNID', 'UNAPP', 'APP', 'ACC', 'ACTIVITY')",
            name=op.f("ck_receivable_applications_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_receivable_applications_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["journal_id"], ["journals.id"], name=op.f("fk_receivable_applications_journal_id_journals")
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name=op.f("fk_receivable_applications_receipt_id_receipts")
        ),
        sa.ForeignKeyConstraint(
            ["reversal_of_id"],
            ["receivable_applications.id"],
            name=op.f("fk_receivable_applications_reversal_of_id_receivable_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["payment_schedules.id"],
            name=op.f("fk_receivable_applications_schedule_id_payment_schedules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receivable_applications")),
    )
    with op.batch_alter_table("receivable_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_receivable_applications_journal_id"), ["journal_id"], unique=False
        )
        batch_op.create_index("ix_receivable_applications_receipt", ["receipt_id", "status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_receivable_applications_reversal_of_id"), ["reversal_of_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_receivable_applications_schedule_id"), ["schedule_id"], unique=False
        )

    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identified_by", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("reversal_reason", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("reversal_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("reversed_by", sa.String(length=120), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_column("reversed_by")
        batch_op.drop_column("reversal_date")
        batch_op.drop_column("reversal_reason")
        batch_op.drop_column("identified_by")

    with op.batch_alter_table("receivable_applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receivable_applications_schedule_id"))
        batch_op.drop_index(batch_op.f("ix_receivable_applications_reversal_of_id"))
        batch_op.drop_index("ix_receivable_applications_receipt")
        batch_op.drop_index(batch_op.f("ix_receivable_applications_journal_id"))

    op.drop_table("receivable_applications")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disputes_status"))
        batch_op.drop_index(batch_op.f("ix_disputes_schedule_id"))
        batch_op.drop_index(batch_op.f("ix_disputes_customer_id"))

    op.drop_table("disputes")
    with op.batch_alter_table("adjustments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_adjustments_status"))
        batch_op.drop_index(batch_op.f("ix_adjustments_schedule_id"))
        batch_op.drop_index(batch_op.f("ix_adjustments_accounting_date"))

    op.drop_table("adjustments")
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_requests_status")

    op.drop_table("approval_requests")
