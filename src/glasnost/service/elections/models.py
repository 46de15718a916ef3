"""The tables of elections, terms and recall (see ``docs/elections.md``).

Who voted and what was voted are stored apart, as for the plan-variant vote
(:mod:`glasnost.service.votes`): ``election_voters`` (who), ``election_box`` (sealed ballots, no
time, random ids) while voting is open; ``election_ballots`` (shuffled) and ``election_receipts``
(sorted) once it closes. Who signed a recall petition is never stored: ``recall_signatures`` keeps a
keyed hash per signer (the key in the vault, deleted when the petition closes) and the petition its
count.
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
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from glasnost.db.engine import Base, utcnow

__all__ = [
    "Candidacy",
    "DemocracySettings",
    "Election",
    "ElectionBallot",
    "ElectionBox",
    "ElectionReceipt",
    "ElectionVoter",
    "RecallPetition",
    "RecallSignature",
    "Term",
]


class DemocracySettings(Base):
    """A cycle's settings for elections and recall (defaults when no row)."""

    __tablename__ = "democracy_settings"

    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True)
    recall_share: Mapped[float] = mapped_column(Float, default=0.2)
    recall_days: Mapped[int] = mapped_column(Integer, default=7)


class Election(Base):
    """An election to a council's post: ``post`` is ``delegates`` (``seats`` of them) or ``manager``
    (a workplace's; one seat), or ``recall`` (a yes/no vote on removing ``term_id``'s holder).

    ``status``: ``nominating`` (members stand, are nominated, accept), ``voting`` (candidates
    frozen in ``candidates``), ``closed`` (``tally`` public). ``rule``: ``schulze`` (one seat,
    ranked ballots), ``seq-phragmen`` (several seats, approval ballots), ``majority`` (recall)."""

    __tablename__ = "elections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    council_id: Mapped[int] = mapped_column(ForeignKey("councils.id", ondelete="CASCADE"), index=True)
    post: Mapped[str] = mapped_column(String(16))
    seats: Mapped[int] = mapped_column(Integer, default=1)
    rule: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12), default="nominating")
    reason: Mapped[str] = mapped_column(String(16), default="regular")
    term_days: Mapped[int] = mapped_column(Integer, default=365)
    nominations_close: Mapped[datetime] = mapped_column(DateTime)
    voting_close: Mapped[datetime] = mapped_column(DateTime)
    term_id: Mapped[int | None] = mapped_column(ForeignKey("terms.id"), nullable=True)
    candidates: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    members: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tally: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    ledger_index: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Candidacy(Base):
    """A member standing (``nominated_by`` None) or nominated by another member; a nomination counts
    once the nominee accepts. Nobody approves candidates."""

    __tablename__ = "candidacies"
    __table_args__ = (UniqueConstraint("election_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("elections.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    nominated_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    statement: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ElectionVoter(Base):
    """Who has voted in an election (public as a count: the turnout). Nothing here leads to the ballot."""

    __tablename__ = "election_voters"
    __table_args__ = (UniqueConstraint("election_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("elections.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ElectionBox(Base):
    """A sealed ballot while voting is open: random id, no time, the hash of its receipt code."""

    __tablename__ = "election_box"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("elections.id", ondelete="CASCADE"), index=True)
    receipt_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class ElectionBallot(Base):
    """A counted ballot, written at the close in a random order under a random id: ``choice`` is a
    ranking (groups, best first), an approval list, or ``["yes"]``/``["no"]`` for a recall."""

    __tablename__ = "election_ballots"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("elections.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    choice: Mapped[list[Any]] = mapped_column(JSON)


class ElectionReceipt(Base):
    """The hash of a voter's receipt code, stored when the election closes (proof of being counted)."""

    __tablename__ = "election_receipts"

    receipt_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("elections.id", ondelete="CASCADE"), index=True)


class Term(Base):
    """A member's term in a post won at an election: the grant it carries (a delegate's seat, or the
    ``manager`` grant) is held while ``ended_at`` is None. ``end_reason``: ``term`` (it ran out),
    ``recalled``, ``succeeded`` (the next election filled the post)."""

    __tablename__ = "terms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    election_id: Mapped[int] = mapped_column(ForeignKey("elections.id", ondelete="CASCADE"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    council_id: Mapped[int] = mapped_column(ForeignKey("councils.id", ondelete="CASCADE"), index=True)
    post: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)


class RecallPetition(Base):
    """A petition to recall a term's holder. Nobody is recorded as its author or a signer:
    ``signatures`` is the public count, ``needed`` the threshold frozen when it opened.
    ``status``: ``open``, ``vote`` (the threshold was met: ``election_id`` is the recall vote),
    ``passed``, ``failed``, ``lapsed`` (the term ended first)."""

    __tablename__ = "recall_petitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id", ondelete="CASCADE"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    council_id: Mapped[int] = mapped_column(ForeignKey("councils.id", ondelete="CASCADE"))
    needed: Mapped[int] = mapped_column(Integer)
    members: Mapped[int] = mapped_column(Integer)
    signatures: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(8), default="open")
    election_id: Mapped[int | None] = mapped_column(ForeignKey("elections.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RecallSignature(Base):
    """One signature: a keyed hash of the signer (HMAC under the petition's key, kept in the vault
    and deleted when the petition closes). It stops a second signature by the same member; without
    the key it names no one, and the key is gone once the count is final."""

    __tablename__ = "recall_signatures"

    petition_id: Mapped[int] = mapped_column(ForeignKey("recall_petitions.id", ondelete="CASCADE"), primary_key=True)
    mark: Mapped[str] = mapped_column(String(64), primary_key=True)
