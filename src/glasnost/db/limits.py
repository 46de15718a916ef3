"""Rate limits kept in the database, so that every process of a platform counts against the same
limit: a fixed window per key, counted by one atomic ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``
(PostgreSQL and SQLite 3.35+), so concurrent attempts are each counted before any of them is served.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, String, case, delete, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from glasnost.db.engine import Base, utcnow

__all__ = ["Limit", "RateCounter", "count_hit", "forget_hit"]


class RateCounter(Base):
    """Hits of one key in the window that started at ``window_start``."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime)
    hits: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class Limit:
    """At most ``hits`` per ``seconds`` for keys starting with ``prefix``."""

    prefix: str
    hits: int
    seconds: float

    def key(self, *parts: str) -> str:
        return (self.prefix + ":" + "|".join(parts))[:300]


def count_hit(conn: Connection, limit: Limit, key: str, *, now: datetime | None = None) -> float | None:
    """Count one hit of ``key`` (made by :meth:`Limit.key`); None if it is within the limit, else the
    seconds until the window ends. The hit is counted either way (a refused attempt is an attempt).

    Runs in the caller's transaction; commit it before doing the work the limit protects, so that
    concurrent callers see each other's hits."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=limit.seconds)
    table = RateCounter.__table__
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stale = table.c.window_start <= cutoff
    stmt = dialect.insert(table).values(key=key, window_start=now, hits=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "hits": case((stale, literal(1)), else_=table.c.hits + 1),
            "window_start": case((stale, literal(now)), else_=table.c.window_start),
        },
    ).returning(table.c.hits, table.c.window_start)
    hits, start = conn.execute(stmt).one()
    if hits <= limit.hits:
        return None
    if not isinstance(start, datetime):
        start = datetime.fromisoformat(str(start))
    return max((start + timedelta(seconds=limit.seconds) - now).total_seconds(), 1.0)


def forget_hit(conn: Connection, key: str) -> None:
    """Take one hit of ``key`` back (e.g. an attempt that turned out to be a correct password)."""
    table = RateCounter.__table__
    conn.execute(update(table).where(table.c.key == key, table.c.hits > 0).values(hits=table.c.hits - 1))


def forget_stale(conn: Connection, older_than: timedelta, *, now: datetime | None = None) -> int:
    """Delete counters whose window started before ``now - older_than``; how many."""
    table = RateCounter.__table__
    return conn.execute(delete(table).where(table.c.window_start < (now or utcnow()) - older_than)).rowcount
