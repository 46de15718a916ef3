"""The tables of notifications: each member's choices, the public feed, the mail outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from glasnost.db.engine import Base, utcnow

__all__ = ["FeedEntry", "NotificationPrefs", "OutboxMail"]


class NotificationPrefs(Base):
    """What a member wants by email (``kinds``) and where (``email``); no row: nothing by email."""

    __tablename__ = "notification_prefs"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    locale: Mapped[str] = mapped_column(String(8), default="en")


class FeedEntry(Base):
    """A public event of a cycle (the Atom feed). ``title`` and ``summary`` are message templates
    (translated where shown, ``params`` put in). ``key`` makes announcing idempotent: whichever
    process announces first writes it, the others find it there."""

    __tablename__ = "feed_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    link: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class OutboxMail(Base):
    """A mail to send (written with the event, sent by the job queue or the scheduler)."""

    __tablename__ = "outbox_mail"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(300), nullable=True)
