"""implementation-control tables (a branch of its own off the platform's base revision)

Revision ID: ctl0001
Revises: svc0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ctl0001"
down_revision = "svc0001"
branch_labels = ("control",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "control_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("log_first", sa.Integer(), nullable=True),
        sa.Column("log_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_batches")),
        sa.UniqueConstraint("sha256", name=op.f("uq_control_batches_sha256")),
    )
    op.create_table(
        "control_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("workplace", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("variant", sa.String(length=200), nullable=False),
        sa.Column("grade", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=True),
        sa.Column("counterparty", sa.String(length=200), nullable=False),
        sa.Column("rating", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["control_batches.id"],
            name=op.f("fk_control_lines_batch_id_control_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_lines")),
    )
    op.create_index("ix_control_lines_period_workplace", "control_lines", ["period", "workplace"])
    op.create_index("ix_control_lines_batch", "control_lines", ["batch_id"])
    op.create_table(
        "control_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("workplace", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_targets")),
    )
    op.create_index("ix_control_targets_key", "control_targets", ["period", "workplace", "product"], unique=True)
    op.create_table(
        "control_coefficients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workplace", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("input", sa.String(length=200), nullable=False),
        sa.Column("per_unit", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_coefficients")),
    )
    op.create_index(
        "ix_control_coefficients_key", "control_coefficients", ["workplace", "product", "input"], unique=True
    )
    op.create_table(
        "control_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workplace", sa.String(length=200), nullable=False),
        sa.Column("indicator", sa.String(length=200), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("change", sa.Float(), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("public_from", sa.DateTime(), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("log_index", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_alerts")),
    )
    op.create_index("ix_control_alerts_workplace", "control_alerts", ["workplace"])


def downgrade() -> None:
    op.drop_index("ix_control_alerts_workplace", table_name="control_alerts")
    op.drop_table("control_alerts")
    op.drop_index("ix_control_coefficients_key", table_name="control_coefficients")
    op.drop_table("control_coefficients")
    op.drop_index("ix_control_targets_key", table_name="control_targets")
    op.drop_table("control_targets")
    op.drop_index("ix_control_lines_batch", table_name="control_lines")
    op.drop_index("ix_control_lines_period_workplace", table_name="control_lines")
    op.drop_table("control_lines")
    op.drop_table("control_batches")
