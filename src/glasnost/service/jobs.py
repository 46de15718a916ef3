"""Scheduled work of the platform: rounds closed at their deadlines, Cyberstride alerts raised when
reports arrive and published when their window has passed.

Closing a round is idempotent and serialised on the round's row (:meth:`Rounds.close`), so a
deadline is closed exactly once however many processes look for it. Each process runs one
scheduler thread that sleeps until the earliest deadline it knows of (a new round's deadline wakes
it) and otherwise sweeps the database for due rounds every ``sweep`` seconds, so deadlines set by
other processes, or before a restart, are honoured too. New reports (:meth:`Jobs.reports_arrived`)
wake it to raise alerts at once; an alert is stored once per (workplace, indicator, period) whichever
process finds it (a unique index), and published once (its row is locked while it is).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING

from glasnost.db.engine import utcnow

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["Jobs"]

log = logging.getLogger("glasnost.service")


class Jobs:
    """The scheduler of one platform process."""

    def __init__(self, platform: Platform, *, sweep: float = 1.0) -> None:
        self.p = platform
        self.sweep = sweep
        self._next: datetime | None = None
        self._reports = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="glasnost-jobs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def round_deadline(self, cycle_id: int, number: int, when: datetime) -> None:
        """Round ``number`` of ``cycle_id`` closes at ``when`` (UTC)."""
        if self._next is None or when < self._next:
            self._next = when
            self._wake.set()

    def reports_arrived(self) -> None:
        """New implementation reports are stored: raise alerts now (on the scheduler's thread)."""
        self._reports.set()
        self._wake.set()

    def run_due(self) -> int:
        """Close every round past its deadline now; how many were due."""
        return self.p.rounds.close_due()

    def raise_alerts(self) -> int:
        """Run Cyberstride over the stored reports and store new alerts; how many."""
        from glasnost.control.alerts import find_anomalies, raise_alerts
        from glasnost.control.store import load_reports

        return len(raise_alerts(self.p.db, find_anomalies(load_reports(self.p.db))))

    def publish_alerts(self) -> int:
        """Append alerts whose window has passed to the public log; how many."""
        from glasnost.control.alerts import publish_due

        return self.p.books.call(lambda ledger: publish_due(self.p.db, ledger))

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.sweep
            if self._next is not None:
                wait = min(wait, max((self._next - utcnow()).total_seconds(), 0.0))
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            if self._next is not None and self._next <= utcnow():
                self._next = None
            for job in (self.run_due, self._alerts_if_reported, self.publish_alerts):
                try:
                    job()
                except Exception:  # logged; the next sweep tries again
                    log.exception("scheduled work %s failed", job.__name__)

    def _alerts_if_reported(self) -> int:
        if not self._reports.is_set():
            return 0
        self._reports.clear()
        return self.raise_alerts()
