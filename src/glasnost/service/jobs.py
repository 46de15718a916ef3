"""Scheduled work of the platform: rounds closed at their deadlines, Cyberstride alerts raised when
reports arrive and published when their window has passed.

The rest of the platform calls four methods of ``platform.jobs``: :meth:`~Jobs.round_deadline`
when a round with a deadline opens, :meth:`~Jobs.reports_arrived` when implementation reports are
stored, and :meth:`~Jobs.start` / :meth:`~Jobs.stop` for the process's own share of the work.
Who does the work depends on the database:

**PostgreSQL: a job queue** (:class:`JobQueue`, procrastinate, its tables beside the platform's;
see :mod:`glasnost.db.queue`). A round's deadline becomes a ``close_round`` job scheduled at the
deadline, with a queueing lock per (cycle, round); arriving reports defer one ``raise_alerts`` job
(a queueing lock, so a burst of imports queues one run); a ``sweep`` job every minute, and once
whenever a worker starts, closes any round past its deadline, publishes alerts whose window has
passed and puts jobs of vanished workers back in the queue (deadlines set before the queue
existed, deferrals lost to a crash between the commit and the deferral). Every ``glasnost
serve`` process runs a worker in a thread unless started with ``--no-jobs``; ``glasnost worker``
runs only a worker. However many workers run, a job is taken by one of them, and closing a round
is idempotent and serialised on the round's row (:meth:`Rounds.close`), so each deadline is closed
exactly once. Jobs are scheduled by the database's clock, deadlines by the platform's: the hosts
keep time (NTP).

**SQLite: in-process** (:class:`Scheduler`, the one process writing the file). A thread sleeps
until the earliest deadline it knows of (a new round's deadline wakes it) and otherwise sweeps the
database for due rounds every ``sweep`` seconds; new reports wake it to raise alerts at once.

In both, an alert is stored once per (workplace, indicator, period) whichever process finds it (a
unique index), and published once (its row is locked while it is).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from glasnost.db.engine import utcnow

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["QUEUE", "JobQueue", "Jobs", "Scheduler", "jobs_for"]

log = logging.getLogger("glasnost.service")

QUEUE = "glasnost"
"""The procrastinate queue of the platform's jobs."""
SWEEP_CRON = "* * * * *"
"""When the sweep runs (cron: every minute)."""


class Jobs:
    """The scheduled work of one platform process (the work itself; :func:`jobs_for` picks who does it).

    Parameters
    ----------
    platform
        The process's platform.
    sweep
        Seconds between looks for due work: the in-process scheduler's sweep (SQLite), the queue
        worker's polling for jobs that have come due (PostgreSQL; new jobs arrive at once by
        LISTEN/NOTIFY).
    """

    def __init__(self, platform: Platform, *, sweep: float = 1.0) -> None:
        self.p = platform
        self.sweep = sweep

    # ---- what the platform calls -------------------------------------------------------------------

    def round_deadline(self, cycle_id: int, number: int, when: datetime) -> None:
        """Round ``number`` of ``cycle_id`` closes at ``when`` (UTC, naive)."""
        raise NotImplementedError

    def reports_arrived(self) -> None:
        """New implementation reports are stored: raise alerts now."""
        raise NotImplementedError

    def start(self) -> None:
        """Start this process's share of the scheduled work."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop it (work under way finishes first)."""
        raise NotImplementedError

    # ---- the work ----------------------------------------------------------------------------------

    def close_round(self, cycle_id: int, number: int) -> None:
        """Close a round at its deadline (a round already closed stays as it is)."""
        self.p.rounds.close(None, cycle_id, number, reason="deadline")

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

    def democracy(self) -> int:
        """Elections and terms that are due, rounds to announce, and the mail outbox (issue 18)."""
        done = self.p.elections.due() + self.p.notifications.announce_rounds()
        return done + self.p.notifications.deliver()

    def mail_waiting(self) -> None:
        """Mails were queued: send them soon (the next sweep sends them in any case)."""


def jobs_for(platform: Platform) -> Jobs:
    """The queue on PostgreSQL, the in-process scheduler on SQLite."""
    return Scheduler(platform) if platform.settings.is_sqlite else JobQueue(platform)


# ---- SQLite: one process, one thread -----------------------------------------------------------------


class Scheduler(Jobs):
    """The in-process scheduler (SQLite; see the module's docstring)."""

    def __init__(self, platform: Platform, *, sweep: float = 1.0) -> None:
        super().__init__(platform, sweep=sweep)
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
        if self._next is None or when < self._next:
            self._next = when
            self._wake.set()

    def reports_arrived(self) -> None:
        self._reports.set()
        self._wake.set()

    def mail_waiting(self) -> None:
        self._wake.set()

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
            for job in (self.run_due, self._alerts_if_reported, self.publish_alerts, self.democracy):
                try:
                    job()
                except Exception:  # logged; the next sweep tries again
                    log.exception("scheduled work %s failed", job.__name__)

    def _alerts_if_reported(self) -> int:
        if not self._reports.is_set():
            return 0
        self._reports.clear()
        return self.raise_alerts()


# ---- PostgreSQL: a job queue ------------------------------------------------------------------------


class JobQueue(Jobs):
    """The platform's jobs on procrastinate (PostgreSQL; see the module's docstring).

    Deferring needs no worker in this process: the jobs wait in the database for whichever worker
    takes them. :meth:`start` runs one in a thread of this process.
    """

    def __init__(self, platform: Platform, *, sweep: float = 1.0) -> None:
        super().__init__(platform, sweep=sweep)
        self._deferrer: Any = None
        self._deferrer_lock = threading.Lock()
        self._worker: Any = None

    # deferring (any thread) -----------------------------------------------------------------------------

    def round_deadline(self, cycle_id: int, number: int, when: datetime) -> None:
        at = when.replace(tzinfo=UTC) if when.tzinfo is None else when
        self._defer(
            "glasnost.close_round",
            {"cycle_id": cycle_id, "number": number},
            schedule_at=at,
            queueing_lock=f"close-round:{cycle_id}:{number}",
        )

    def reports_arrived(self) -> None:
        self._defer("glasnost.raise_alerts", {}, queueing_lock="raise-alerts")

    def mail_waiting(self) -> None:
        self._defer("glasnost.democracy", {}, queueing_lock="democracy")

    def _defer(self, task: str, kwargs: dict[str, Any], **options: Any) -> None:
        """Defer a job; one already waiting under the same queueing lock stands. A deferral that
        fails is logged, not raised: what it asked for is already committed, and the sweep does it."""
        from procrastinate.exceptions import AlreadyEnqueued

        try:
            self._deferring_app().tasks[task].configure(**options).defer(**kwargs)
        except AlreadyEnqueued:
            pass
        except Exception:
            log.exception("could not queue %s(%s); the minute's sweep will do it", task, kwargs)

    def _deferring_app(self) -> Any:
        with self._deferrer_lock:
            if self._deferrer is None:
                from glasnost.db.queue import sync_app

                app = sync_app(self.p.settings)
                register_tasks(app, self)
                app.open()
                self._deferrer = app
            return self._deferrer

    # running (this process's worker) ---------------------------------------------------------------

    def start(self) -> None:
        if self._worker is not None:
            return
        from glasnost.db.queue import QueueWorker, async_app

        app = async_app(self.p.settings)
        register_tasks(app, self)
        self._worker = QueueWorker(
            app,
            on_start=_sweep_now,
            queues=[QUEUE],
            name=f"{socket.gethostname()}:{os.getpid()}",
            concurrency=2,  # a long round close does not hold up alerts
            fetch_job_polling_interval=self.sweep,
            delete_jobs="successful",
        )
        self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        with self._deferrer_lock:
            if self._deferrer is not None:
                self._deferrer.close()
                self._deferrer = None

    async def sweep_once(self, app: Any) -> dict[str, int]:
        """The sweep: close rounds past their deadline, publish alerts whose window has passed, and
        put back in the queue the jobs of workers that stopped sending heartbeats (killed)."""
        from procrastinate.exceptions import UniqueViolation
        from procrastinate.jobs import Status
        from procrastinate.utils import sync_to_async

        done = {"rounds": 0, "alerts": 0, "democracy": 0, "requeued": 0}
        for key, work in (("rounds", self.run_due), ("alerts", self.publish_alerts), ("democracy", self.democracy)):
            try:
                done[key] = await sync_to_async(work)
            except Exception:  # logged; the next sweep tries again
                log.exception("scheduled work %s failed", work.__name__)
        for job in await app.job_manager.get_stalled_jobs(queue=QUEUE):
            try:
                await app.job_manager.retry_job(job)
                done["requeued"] += 1
            except UniqueViolation:  # the same work already waits under its queueing lock
                await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
        return done


def register_tasks(app: Any, jobs: JobQueue) -> None:
    """The platform's tasks on a procrastinate ``App`` (the deferring one and the worker's).

    A job that fails is logged and kept in the queue's table as failed, not retried by the queue (a
    retry could meet a newer job under the same queueing lock): the sweep closes a round whose job
    failed within the minute, and the next import runs Cyberstride again."""

    @app.task(name="glasnost.close_round", queue=QUEUE)
    def close_round(cycle_id: int, number: int) -> None:
        jobs.close_round(cycle_id, number)

    @app.task(name="glasnost.raise_alerts", queue=QUEUE)
    def raise_alerts() -> int:
        return jobs.raise_alerts()

    @app.task(name="glasnost.democracy", queue=QUEUE)
    def democracy() -> int:
        return jobs.democracy()

    @app.periodic(cron=SWEEP_CRON, periodic_id="sweep", queueing_lock="sweep")
    @app.task(name="glasnost.sweep", queue=QUEUE, pass_context=True)
    async def sweep(context: Any, timestamp: int | None = None) -> dict[str, int]:
        return await jobs.sweep_once(context.app)


async def _sweep_now(app: Any) -> None:
    """Queue one sweep as a worker starts (deadlines that passed while no worker ran)."""
    from procrastinate.exceptions import AlreadyEnqueued

    with contextlib.suppress(AlreadyEnqueued):
        await app.tasks["glasnost.sweep"].configure(queueing_lock="sweep").defer_async()
