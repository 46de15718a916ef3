"""control_reports: each report's public log entry, so that a correction can refer to it

Revision ID: ctl0002
Revises: ctl0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ctl0002"
down_revision = "ctl0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "control_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("workplace", sa.String(length=200), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("corrects", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["control_batches.id"],
            name=op.f("fk_control_reports_batch_id_control_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_reports")),
    )
    op.create_index("ix_control_reports_key", "control_reports", ["workplace", "period"])


def downgrade() -> None:
    op.drop_index("ix_control_reports_key", table_name="control_reports")
    op.drop_table("control_reports")
