"""rate counters and sealed secrets (the database layer's own tables)

Revision ID: db0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "db0001"
down_revision = None
branch_labels = ("db",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_counters")),
    )
    op.create_table(
        "sealed_secrets",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sealed_secrets")),
    )


def downgrade() -> None:
    op.drop_table("sealed_secrets")
    op.drop_table("rate_counters")
