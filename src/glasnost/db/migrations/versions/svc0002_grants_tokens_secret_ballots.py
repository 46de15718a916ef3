"""explicit grants, labelled tokens, workplace invitations, secret ballots (sealed box, ballots and
receipts stored apart)

Revision ID: svc0002
Revises: svc0001
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "svc0002"
down_revision = "svc0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("granted_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_grants_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["granted_by"], ["accounts.id"], name=op.f("fk_grants_granted_by_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
        sa.UniqueConstraint("account_id", "kind", "target", name=op.f("uq_grants_account_id")),
    )
    op.create_index(op.f("ix_grants_account_id"), "grants", ["account_id"], unique=False)
    with op.batch_alter_table("session_tokens") as batch:
        batch.add_column(sa.Column("label", sa.String(length=100), nullable=False, server_default=""))
    with op.batch_alter_table("invitations") as batch:
        batch.alter_column("cycle_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("target", sa.String(length=200), nullable=True))

    op.create_table(
        "ballot_box",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("receipt_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vote_id"], ["votes.id"], name=op.f("fk_ballot_box_vote_id_votes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballot_box")),
        sa.UniqueConstraint("receipt_hash", name=op.f("uq_ballot_box_receipt_hash")),
    )
    op.create_index(op.f("ix_ballot_box_vote_id"), "ballot_box", ["vote_id"], unique=False)
    op.create_table(
        "vote_receipts",
        sa.Column("receipt_hash", sa.String(length=64), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["vote_id"], ["votes.id"], name=op.f("fk_vote_receipts_vote_id_votes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("receipt_hash", name=op.f("pk_vote_receipts")),
    )
    op.create_index(op.f("ix_vote_receipts_vote_id"), "vote_receipts", ["vote_id"], unique=False)

    # ballots of version 1 (numbered in order of casting, each beside its receipt): receipts move to
    # their own table, the ballots get random ids and positions in a random order
    conn = op.get_bind()
    old = conn.execute(sa.text("SELECT vote_id, receipt_hash, approval, ranking FROM ballots")).all()
    op.drop_table("ballots")
    ballots = op.create_table(
        "ballots",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("approval", sa.JSON(), nullable=False),
        sa.Column("ranking", sa.JSON(), nullable=False),
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["vote_id"], ["votes.id"], name=op.f("fk_ballots_vote_id_votes"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballots")),
    )
    op.create_index(op.f("ix_ballots_vote_id"), "ballots", ["vote_id"], unique=False)
    if old:
        import json

        def load(v: object) -> object:
            return json.loads(v) if isinstance(v, str) else v

        rng = secrets.SystemRandom()
        shuffled = list(old)
        rng.shuffle(shuffled)
        positions: dict[int, int] = {}
        rows = []
        for vote_id, _receipt, approval, ranking in shuffled:
            positions[vote_id] = positions.get(vote_id, -1) + 1
            rows.append(
                {
                    "id": secrets.token_hex(16),
                    "vote_id": vote_id,
                    "position": positions[vote_id],
                    "approval": load(approval),
                    "ranking": load(ranking),
                }
            )
        op.bulk_insert(ballots, rows)
        receipts = sa.table("vote_receipts", sa.column("receipt_hash"), sa.column("vote_id"))
        op.bulk_insert(
            receipts, sorted(({"receipt_hash": r, "vote_id": v} for v, r, _, _ in old), key=lambda x: x["receipt_hash"])
        )


def downgrade() -> None:
    raise NotImplementedError("secret ballots cannot be turned back into ballots numbered beside their receipts")
