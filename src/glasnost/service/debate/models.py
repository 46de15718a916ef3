"""The debate's tables (on :class:`glasnost.db.engine.Base`; Alembic revision ``deb0001``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from glasnost.db.engine import Base, utcnow

__all__ = ["Addressee", "Amendment", "Comment", "DebateSettings", "Moderation", "Signature"]


class DebateSettings(Base):
    """A cycle's debate settings: how long a workplace has to answer criticism, and the share of
    the cycle's members whose signatures put an amendment on the ballot."""

    __tablename__ = "debate_settings"

    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True)
    answer_days: Mapped[int] = mapped_column(Integer, default=14)
    quorum_share: Mapped[float] = mapped_column(Float, default=0.1)


class Comment(Base):
    """A public comment on a subject (``kind:ref``, see :mod:`.subjects`), with a position, or a
    quality complaint (``complaint`` holds what, where, how bad, how many units). Never deleted;
    hiding it leaves its place with the reason (:class:`Moderation`)."""

    __tablename__ = "debate_comments"
    __table_args__ = (Index("ix_debate_comments_subject", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(240))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("debate_comments.id"), nullable=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    as_workplace: Mapped[str | None] = mapped_column(String(200), nullable=True)
    position: Mapped[str] = mapped_column(String(8))  # for | against | neutral
    text: Mapped[str] = mapped_column(Text)
    complaint: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ledger_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    leaf_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Addressee(Base):
    """Criticism addressed to a workplace: answered by a comment of an account holding the
    workplace's grant, due by ``due_at``. ``period``: the control period a complaint counts in."""

    __tablename__ = "debate_addressees"
    __table_args__ = (
        UniqueConstraint("comment_id", "workplace"),
        Index("ix_debate_addressees_workplace", "workplace"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("debate_comments.id"))
    workplace: Mapped[str] = mapped_column(String(200))
    period: Mapped[int | None] = mapped_column(Integer, nullable=True)
    due_at: Mapped[datetime] = mapped_column(DateTime)
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("debate_comments.id"), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Moderation(Base):
    """A comment hidden by the board, with the public reason (one per comment)."""

    __tablename__ = "debate_moderations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("debate_comments.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    by_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ledger_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    leaf_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Amendment(Base):
    """A member's amendment to a plan variant, as the calculator found it (``verdict``: the
    amended mix, reserve and plan, and the costs). ``status``: ``signing``, then ``on-ballot`` (its
    own plan variant ``variant_id``) once signed by the quorum."""

    __tablename__ = "debate_amendments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    base_variant_id: Mapped[int] = mapped_column(ForeignKey("plan_variants.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    change: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    verdict: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="signing")
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("plan_variants.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ledger_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    leaf_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Signature(Base):
    """A member's signature under an amendment (one per member)."""

    __tablename__ = "debate_signatures"
    __table_args__ = (UniqueConstraint("amendment_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    amendment_id: Mapped[int] = mapped_column(ForeignKey("debate_amendments.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
