"""control_lines.log_index: every report line carries the public log entry it was published in

Lines stored before this revision get theirs from their report (same batch, workplace and period).

Revision ID: ctl0003
Revises: ctl0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ctl0003"
down_revision = "ctl0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("control_lines") as batch:
        batch.add_column(sa.Column("log_index", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE control_lines SET log_index = (SELECT r.log_index FROM control_reports r "
        "WHERE r.batch_id = control_lines.batch_id AND r.workplace = control_lines.workplace "
        "AND r.period = control_lines.period)"
    )
    op.create_index("ix_control_lines_log_index", "control_lines", ["log_index"])


def downgrade() -> None:
    op.drop_index("ix_control_lines_log_index", table_name="control_lines")
    with op.batch_alter_table("control_lines") as batch:
        batch.drop_column("log_index")
