"""The platform's tables (SQLAlchemy 2 declarative, on :class:`glasnost.db.engine.Base`).

Quantities are stored as JSON objects ``{commodity id: amount}`` in each commodity's unit; prices
as ``{commodity id: price}`` in the economy's unit of account per unit. Times are UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from glasnost.db.engine import Base, utcnow

__all__ = [
    "Account",
    "AuditEvent",
    "Ballot",
    "BallotBox",
    "Council",
    "Cycle",
    "Grant",
    "Invitation",
    "Membership",
    "PlanVariant",
    "Proposal",
    "Round",
    "SessionToken",
    "Vote",
    "VoteReceipt",
    "Voter",
]


class Account(Base):
    """A person: a board member, a council delegate or a member."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_board: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SessionToken(Base):
    """A login: a browser session (cookie) or an API token (``Authorization: Bearer``).

    Only the SHA-256 of the random token is stored."""

    __tablename__ = "session_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8), default="cookie")
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class Grant(Base):
    """A right given explicitly to an account, e.g. ``kind="workplace"``, ``target="W1"``: the
    account reports for workplace W1 and reads and answers its alerts. Granted by the board, or by
    an invitation that carries it; revoking deletes the row (the audit log keeps both)."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("account_id", "kind", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(200))
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Cycle(Base):
    """A planning cycle: an economy, its councils, rounds, plan variants and vote.

    ``status``: ``rounds`` (rounds running), ``converged`` (the procedure converged),
    ``voting`` (variants frozen, vote open), ``decided`` (vote closed, plan chosen).
    """

    __tablename__ = "cycles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    economy: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="rounds")
    threshold: Mapped[float] = mapped_column(Float, default=0.03)
    max_rounds: Mapped[int] = mapped_column(Integer, default=200)
    initial_price: Mapped[float] = mapped_column(Float, default=700.0)
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    councils: Mapped[list[Council]] = relationship(back_populates="cycle", order_by="Council.position")


class Council(Base):
    """A worker or consumer council of a cycle (a seat; modelled until a delegate takes it)."""

    __tablename__ = "councils"
    __table_args__ = (UniqueConstraint("cycle_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(8))  # worker | consumer
    position: Mapped[int] = mapped_column(Integer)  # index in the engine's group
    label: Mapped[str] = mapped_column(String(200), default="")

    cycle: Mapped[Cycle] = relationship(back_populates="councils")


class Invitation(Base):
    """An invitation link: to a council's seat (delegate), to membership of a cycle (member, votes),
    or to report for a workplace (``role="workplace"``, ``target`` the workplace id: the grant it carries)."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), nullable=True)
    council_id: Mapped[int | None] = mapped_column(ForeignKey("councils.id"), nullable=True)
    role: Mapped[str] = mapped_column(String(16))  # delegate | member | workplace
    target: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    used_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Membership(Base):
    """An account's place in a cycle: delegate of a council, or member (voter)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("account_id", "cycle_id", "council_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    council_id: Mapped[int | None] = mapped_column(ForeignKey("councils.id"), nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Round(Base):
    """One round of a cycle: the posted prices, and once closed what the board computed."""

    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("cycle_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | closed
    prices: Mapped[dict[str, float]] = mapped_column(JSON)
    state: Mapped[list[float]] = mapped_column(JSON)
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    deadline: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    max_imbalance: Mapped[float | None] = mapped_column(Float, nullable=True)
    ledger_index: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Proposal(Base):
    """A council's proposal in a round; a later one from the same council replaces it (revision).

    ``source``: ``form``, ``api`` or ``csv``. ``idempotency_key``: a repeated submission with the
    same key returns the stored proposal instead of adding one.
    """

    __tablename__ = "proposals"
    __table_args__ = (
        UniqueConstraint("council_id", "idempotency_key", name="uq_proposals_idempotency"),
        Index("ix_proposals_round_council", "round_id", "council_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    council_id: Mapped[int] = mapped_column(ForeignKey("councils.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    supply: Mapped[dict[str, float]] = mapped_column(JSON)
    demand: Mapped[dict[str, float]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(8))
    idempotency_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ledger_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    leaf_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PlanVariant(Base):
    """A feasible plan variant the board published after convergence (computed by the calculator)."""

    __tablename__ = "plan_variants"
    __table_args__ = (UniqueConstraint("cycle_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    ledger_index: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Vote(Base):
    """The vote on a cycle's plan variants; rules and variants are frozen (hashed) when it opens.

    While it is open, ballots wait sealed in :class:`BallotBox`; closing it opens the box, counts,
    and stores the ballots (:class:`Ballot`) and the receipts (:class:`VoteReceipt`) apart."""

    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | closed
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    frozen_hash: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    tally: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    ledger_index: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Voter(Base):
    """Who has voted (one row per member and vote). Nothing here leads to the ballot."""

    __tablename__ = "voters"
    __table_args__ = (UniqueConstraint("vote_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class BallotBox(Base):
    """A cast ballot while the vote is open: sealed (encrypted under the vote's key, which lives in
    the vault), under a random id, with no time, beside the hash of its receipt code (which tells
    the voter "sealed, not yet counted"). Emptied when the vote closes."""

    __tablename__ = "ballot_box"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="CASCADE"), index=True)
    receipt_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class Ballot(Base):
    """A counted ballot: approved variants and a ranking. Written when the vote closes, all in one
    transaction, in a random order (``position``, also its place in the published list), under a
    random id: nothing orders, times or numbers it together with its voter or its receipt."""

    __tablename__ = "ballots"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    approval: Mapped[list[str]] = mapped_column(JSON)
    ranking: Mapped[list[list[str]]] = mapped_column(JSON)
    ledger_index: Mapped[int | None] = mapped_column(Integer, nullable=True)


class VoteReceipt(Base):
    """The hash of a voter's receipt code, stored (sorted) when the vote closes: proof that the
    ballot was counted, which says nothing of what it was."""

    __tablename__ = "vote_receipts"

    receipt_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="CASCADE"), index=True)
    ledger_index: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AuditEvent(Base):
    """Every action: who, what, on what, when."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


from glasnost.service.debate import models as _debate_models  # noqa: E402, F401  (registers the debate's tables)

# the tables of elections, recall and notifications (issue 18), registered with the platform's
from glasnost.service.elections import models as _elections  # noqa: E402, F401
from glasnost.service.notifications import models as _notifications  # noqa: E402, F401
