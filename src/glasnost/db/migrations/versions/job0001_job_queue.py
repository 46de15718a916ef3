"""the job queue's tables (procrastinate's schema; PostgreSQL only, in the platform's schema)

Revision ID: job0001
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "job0001"
down_revision = None
branch_labels = ("jobs",)
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":  # SQLite: scheduled work runs in the one process, no queue
        return
    from glasnost.db.queue import schema_sql

    bind.exec_driver_sql(schema_sql())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in ("events", "periodic_defers", "jobs", "workers"):
        op.execute(f"DROP TABLE IF EXISTS procrastinate_{table} CASCADE")
    op.execute(
        "DO $$ DECLARE f record; BEGIN FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema() "
        "AND p.proname LIKE 'procrastinate%' LOOP EXECUTE 'DROP FUNCTION ' || f.sig || ' CASCADE'; END LOOP; END $$"
    )
    for kind in ("procrastinate_job_to_defer_v1", "procrastinate_job_event_type", "procrastinate_job_status"):
        op.execute(f"DROP TYPE IF EXISTS {kind} CASCADE")
