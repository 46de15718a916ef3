"""Where implementation control keeps its figures: SQLAlchemy 2 tables on the platform's ``Base``.

* ``control_batches``: one row per imported file (its SHA-256, line count, the public log entries
  it was published as);
* ``control_reports``: each workplace's report per period and batch, with its log entry (a later
  one for the same workplace and period is a correction whose entry refers to the earlier one);
* ``control_lines``: every report line (:mod:`glasnost.control.reports`), with the batch and the
  line number it came from;
* ``control_targets``: the plan's targets per period, workplace and product (quantity, planned
  quality, price), what fulfilment is measured against;
* ``control_coefficients``: the plan's technical coefficients per workplace (input per unit of output);
* ``control_alerts``: anomalies found, first shown to the workplace, public after a response window.

The Alembic revisions ``ctl0001`` and ``ctl0002`` (``glasnost/control/migrations/versions``) create
them as a branch of their own off the platform's base revision; the platform runs ``upgrade heads``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from glasnost.db.engine import Base, utcnow

__all__ = ["Alert", "Batch", "Coefficient", "Line", "Report", "Target"]


class Batch(Base):
    """One imported file of report lines."""

    __tablename__ = "control_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    lines: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    log_first: Mapped[int | None] = mapped_column(Integer, nullable=True)
    log_count: Mapped[int] = mapped_column(Integer, default=0)


class Report(Base):
    """One workplace's report for one period within a batch, and the public log entry it was published as.

    A later batch with lines for the same workplace and period is a correction: its entry refers to
    the entry of the report it corrects (the log is never edited).
    """

    __tablename__ = "control_reports"
    __table_args__ = (Index("ix_control_reports_key", "workplace", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("control_batches.id", ondelete="CASCADE"))
    workplace: Mapped[str] = mapped_column(String(200))
    period: Mapped[int] = mapped_column(Integer)
    log_index: Mapped[int] = mapped_column(Integer)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    corrects: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Line(Base):
    """One report line: a figure a workplace reported for a period."""

    __tablename__ = "control_lines"
    __table_args__ = (
        Index("ix_control_lines_period_workplace", "period", "workplace"),
        Index("ix_control_lines_batch", "batch_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("control_batches.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[int] = mapped_column(Integer)
    workplace: Mapped[str] = mapped_column(String(200))
    product: Mapped[str] = mapped_column(String(200))
    variant: Mapped[str] = mapped_column(String(200), default="")
    grade: Mapped[str] = mapped_column(String(64), default="")
    quantity: Mapped[float | None] = mapped_column(Float, nullable=True)
    counterparty: Mapped[str] = mapped_column(String(200), default="")
    rating: Mapped[float | None] = mapped_column(Float, nullable=True)


class Target(Base):
    """What the plan asks of a workplace for a product in a period."""

    __tablename__ = "control_targets"
    __table_args__ = (Index("ix_control_targets_key", "period", "workplace", "product", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[int] = mapped_column(Integer)
    workplace: Mapped[str] = mapped_column(String(200))
    product: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float, default=1.0)
    price: Mapped[float] = mapped_column(Float, default=1.0)


class Coefficient(Base):
    """A technical coefficient of the plan: units of ``input`` per unit of ``product`` at a workplace."""

    __tablename__ = "control_coefficients"
    __table_args__ = (Index("ix_control_coefficients_key", "workplace", "product", "input", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workplace: Mapped[str] = mapped_column(String(200))
    product: Mapped[str] = mapped_column(String(200))
    input: Mapped[str] = mapped_column(String(200))
    per_unit: Mapped[float] = mapped_column(Float)


class Alert(Base):
    """An anomaly in an indicator: shown to the workplace first, public from ``public_from``."""

    __tablename__ = "control_alerts"
    __table_args__ = (
        Index("ix_control_alerts_workplace", "workplace"),
        Index("ix_control_alerts_once", "workplace", "indicator", "period", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workplace: Mapped[str] = mapped_column(String(200))
    indicator: Mapped[str] = mapped_column(String(200))
    period: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    probability: Mapped[float] = mapped_column(Float)
    change: Mapped[float] = mapped_column(Float)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    public_from: Mapped[datetime] = mapped_column()
    response: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
