"""elections with open nomination, terms, recall petitions with secret signatures, notifications
(issue 18: the democracy branch)

Revision ID: dem0001
Revises: svc0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "dem0001"
down_revision = "svc0002"
branch_labels = ("democracy",)
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _table(
    name: str,
    *columns: sa.Column,
    refs: tuple[tuple[str, str, bool], ...] = (),
    pk: tuple[str, ...] = ("id",),
    unique: tuple[tuple[str, ...], ...] = (),
    indexes: tuple[str, ...] = (),
) -> None:
    constraints: list[sa.Constraint] = [sa.PrimaryKeyConstraint(*pk, name=op.f(f"pk_{name}"))]
    for column, table, cascade in refs:
        constraints.append(
            sa.ForeignKeyConstraint(
                [column],
                [f"{table}.id"],
                name=op.f(f"fk_{name}_{column}_{table}"),
                ondelete="CASCADE" if cascade else None,
            )
        )
    for cols in unique:
        constraints.append(sa.UniqueConstraint(*cols, name=op.f(f"uq_{name}_{cols[0]}")))
    op.create_table(name, *columns, *constraints)
    for column in indexes:
        op.create_index(op.f(f"ix_{name}_{column}"), name, [column], unique=False)


def upgrade() -> None:
    int_, str_, dt = sa.Integer, sa.String, sa.DateTime
    _table(
        "democracy_settings",
        sa.Column("cycle_id", int_(), nullable=False),
        sa.Column("recall_share", sa.Float(), nullable=False),
        sa.Column("recall_days", int_(), nullable=False),
        refs=(("cycle_id", "cycles", True),),
        pk=("cycle_id",),
    )
    _table(
        "terms",
        _id(),
        sa.Column("election_id", int_(), nullable=False),
        sa.Column("cycle_id", int_(), nullable=False),
        sa.Column("council_id", int_(), nullable=False),
        sa.Column("post", str_(16), nullable=False),
        sa.Column("account_id", int_(), nullable=False),
        sa.Column("started_at", dt(), nullable=False),
        sa.Column("ends_at", dt(), nullable=False),
        sa.Column("ended_at", dt(), nullable=True),
        sa.Column("end_reason", str_(16), nullable=True),
        refs=(("cycle_id", "cycles", True), ("council_id", "councils", True), ("account_id", "accounts", True)),
        indexes=("election_id", "council_id"),
    )
    _table(
        "elections",
        _id(),
        sa.Column("cycle_id", int_(), nullable=False),
        sa.Column("council_id", int_(), nullable=False),
        sa.Column("post", str_(16), nullable=False),
        sa.Column("seats", int_(), nullable=False),
        sa.Column("rule", str_(16), nullable=False),
        sa.Column("status", str_(12), nullable=False),
        sa.Column("reason", str_(16), nullable=False),
        sa.Column("term_days", int_(), nullable=False),
        sa.Column("nominations_close", dt(), nullable=False),
        sa.Column("voting_close", dt(), nullable=False),
        sa.Column("term_id", int_(), nullable=True),
        sa.Column("candidates", sa.JSON(), nullable=True),
        sa.Column("members", int_(), nullable=True),
        sa.Column("tally", sa.JSON(), nullable=True),
        sa.Column("created_at", dt(), nullable=False),
        sa.Column("closed_at", dt(), nullable=True),
        sa.Column("ledger_index", int_(), nullable=True),
        refs=(("cycle_id", "cycles", True), ("council_id", "councils", True), ("term_id", "terms", False)),
        indexes=("cycle_id", "council_id"),
    )
    with op.batch_alter_table("terms") as batch:  # terms and elections refer to each other
        batch.create_foreign_key(
            op.f("fk_terms_election_id_elections"), "elections", ["election_id"], ["id"], ondelete="CASCADE"
        )
    _table(
        "candidacies",
        _id(),
        sa.Column("election_id", int_(), nullable=False),
        sa.Column("account_id", int_(), nullable=False),
        sa.Column("nominated_by", int_(), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("statement", str_(500), nullable=False),
        sa.Column("created_at", dt(), nullable=False),
        refs=(
            ("election_id", "elections", True),
            ("account_id", "accounts", True),
            ("nominated_by", "accounts", False),
        ),
        unique=(("election_id", "account_id"),),
        indexes=("election_id",),
    )
    _table(
        "election_voters",
        _id(),
        sa.Column("election_id", int_(), nullable=False),
        sa.Column("account_id", int_(), nullable=False),
        sa.Column("at", dt(), nullable=False),
        refs=(("election_id", "elections", True), ("account_id", "accounts", False)),
        unique=(("election_id", "account_id"),),
    )
    _table(
        "election_box",
        sa.Column("id", str_(32), nullable=False),
        sa.Column("election_id", int_(), nullable=False),
        sa.Column("receipt_hash", str_(64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        refs=(("election_id", "elections", True),),
        unique=(("receipt_hash",),),
        indexes=("election_id",),
    )
    _table(
        "election_ballots",
        sa.Column("id", str_(32), nullable=False),
        sa.Column("election_id", int_(), nullable=False),
        sa.Column("position", int_(), nullable=False),
        sa.Column("choice", sa.JSON(), nullable=False),
        refs=(("election_id", "elections", True),),
        indexes=("election_id",),
    )
    _table(
        "election_receipts",
        sa.Column("receipt_hash", str_(64), nullable=False),
        sa.Column("election_id", int_(), nullable=False),
        refs=(("election_id", "elections", True),),
        pk=("receipt_hash",),
        indexes=("election_id",),
    )
    _table(
        "recall_petitions",
        _id(),
        sa.Column("term_id", int_(), nullable=False),
        sa.Column("cycle_id", int_(), nullable=False),
        sa.Column("council_id", int_(), nullable=False),
        sa.Column("needed", int_(), nullable=False),
        sa.Column("members", int_(), nullable=False),
        sa.Column("signatures", int_(), nullable=False),
        sa.Column("status", str_(8), nullable=False),
        sa.Column("election_id", int_(), nullable=True),
        sa.Column("created_at", dt(), nullable=False),
        refs=(
            ("term_id", "terms", True),
            ("cycle_id", "cycles", True),
            ("council_id", "councils", True),
            ("election_id", "elections", False),
        ),
        indexes=("term_id",),
    )
    _table(
        "recall_signatures",
        sa.Column("petition_id", int_(), nullable=False),
        sa.Column("mark", str_(64), nullable=False),
        refs=(("petition_id", "recall_petitions", True),),
        pk=("petition_id", "mark"),
    )
    _table(
        "notification_prefs",
        sa.Column("account_id", int_(), nullable=False),
        sa.Column("email", str_(254), nullable=True),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("locale", str_(8), nullable=False),
        refs=(("account_id", "accounts", True),),
        pk=("account_id",),
    )
    _table(
        "feed_entries",
        _id(),
        sa.Column("cycle_id", int_(), nullable=True),
        sa.Column("key", str_(120), nullable=False),
        sa.Column("kind", str_(16), nullable=False),
        sa.Column("title", str_(300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("link", str_(300), nullable=False),
        sa.Column("created_at", dt(), nullable=False),
        refs=(("cycle_id", "cycles", True),),
        unique=(("key",),),
        indexes=("cycle_id",),
    )
    _table(
        "outbox_mail",
        _id(),
        sa.Column("account_id", int_(), nullable=False),
        sa.Column("kind", str_(16), nullable=False),
        sa.Column("address", str_(254), nullable=False),
        sa.Column("subject", str_(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", dt(), nullable=False),
        sa.Column("sent_at", dt(), nullable=True),
        sa.Column("attempts", int_(), nullable=False),
        sa.Column("error", str_(300), nullable=True),
        refs=(("account_id", "accounts", True),),
        indexes=("account_id", "sent_at"),
    )


def downgrade() -> None:
    with op.batch_alter_table("terms") as batch:
        batch.drop_constraint(op.f("fk_terms_election_id_elections"), type_="foreignkey")
    for name in (
        "outbox_mail",
        "feed_entries",
        "notification_prefs",
        "recall_signatures",
        "recall_petitions",
        "election_receipts",
        "election_ballots",
        "election_box",
        "election_voters",
        "candidacies",
        "elections",
        "terms",
        "democracy_settings",
    ):
        op.drop_table(name)
