"""control_alerts: one alert per (workplace, indicator, period), whichever process finds it

Revision ID: ctl0003
Revises: ctl0002
"""

from __future__ import annotations

from alembic import op

revision = "ctl0003"
down_revision = "ctl0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM control_alerts WHERE id NOT IN "
        "(SELECT MIN(id) FROM control_alerts GROUP BY workplace, indicator, period)"
    )
    op.create_index("ix_control_alerts_once", "control_alerts", ["workplace", "indicator", "period"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_control_alerts_once", table_name="control_alerts")
