"""debate: comments and quality complaints, criticism addressed to workplaces, moderation,
amendments and their signatures, per-cycle debate settings

Revision ID: deb0001
Revises: svc0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "deb0001"
down_revision = "svc0002"
branch_labels = ("debate",)
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _logged() -> list[sa.Column]:
    return [
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.Column("leaf_hash", sa.String(length=64), nullable=True),
    ]


def _fk(table: str, column: str, referred: str, *, cascade: bool = False) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}"),
        ondelete="CASCADE" if cascade else None,
    )


def upgrade() -> None:
    op.create_table(
        "debate_settings",
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("answer_days", sa.Integer(), nullable=False),
        sa.Column("quorum_share", sa.Float(), nullable=False),
        _fk("debate_settings", "cycle_id", "cycles", cascade=True),
        sa.PrimaryKeyConstraint("cycle_id", name=op.f("pk_debate_settings")),
    )
    op.create_table(
        "debate_comments",
        _id(),
        sa.Column("subject", sa.String(length=240), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("as_workplace", sa.String(length=200), nullable=True),
        sa.Column("position", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("complaint", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *_logged(),
        _fk("debate_comments", "parent_id", "debate_comments"),
        _fk("debate_comments", "author_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debate_comments")),
    )
    op.create_index("ix_debate_comments_subject", "debate_comments", ["subject"], unique=False)
    op.create_table(
        "debate_addressees",
        _id(),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("workplace", sa.String(length=200), nullable=False),
        sa.Column("period", sa.Integer(), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        _fk("debate_addressees", "comment_id", "debate_comments"),
        _fk("debate_addressees", "answer_id", "debate_comments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debate_addressees")),
        sa.UniqueConstraint("comment_id", "workplace", name=op.f("uq_debate_addressees_comment_id")),
    )
    op.create_index("ix_debate_addressees_workplace", "debate_addressees", ["workplace"], unique=False)
    op.create_table(
        "debate_moderations",
        _id(),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        *_logged(),
        _fk("debate_moderations", "comment_id", "debate_comments"),
        _fk("debate_moderations", "by_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debate_moderations")),
        sa.UniqueConstraint("comment_id", name=op.f("uq_debate_moderations_comment_id")),
    )
    op.create_table(
        "debate_amendments",
        _id(),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("base_variant_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("change", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("verdict", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *_logged(),
        _fk("debate_amendments", "cycle_id", "cycles", cascade=True),
        _fk("debate_amendments", "base_variant_id", "plan_variants"),
        _fk("debate_amendments", "author_id", "accounts"),
        _fk("debate_amendments", "variant_id", "plan_variants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debate_amendments")),
    )
    op.create_index(op.f("ix_debate_amendments_cycle_id"), "debate_amendments", ["cycle_id"], unique=False)
    op.create_table(
        "debate_signatures",
        _id(),
        sa.Column("amendment_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        _fk("debate_signatures", "amendment_id", "debate_amendments", cascade=True),
        _fk("debate_signatures", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debate_signatures")),
        sa.UniqueConstraint("amendment_id", "account_id", name=op.f("uq_debate_signatures_amendment_id")),
    )
    op.create_index(op.f("ix_debate_signatures_amendment_id"), "debate_signatures", ["amendment_id"], unique=False)


def downgrade() -> None:
    for table in ("debate_signatures", "debate_amendments", "debate_moderations", "debate_addressees",
                  "debate_comments", "debate_settings"):
        op.drop_table(table)
