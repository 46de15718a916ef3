"""The job queue on PostgreSQL (procrastinate): its tables, its connections, and a worker that runs
in a thread of any process.

Procrastinate keeps jobs in tables of the database itself (``procrastinate_jobs`` and a few
more), so a job deferred by one process is run once by whichever worker takes it first, and a
queueing lock keeps one job of a kind waiting at a time. Its tables live beside the platform's: in
the schema named by :attr:`Settings.schema` when there is one (every connection opens with that
``search_path``), created by the Alembic revision ``job0001`` (PostgreSQL only; SQLite has no
queue). What the jobs do is the business of the parts that define them (:mod:`glasnost.service.jobs`).

A newer procrastinate may change its tables: the dependency is pinned to the minor version whose
schema ``job0001`` applies, and :func:`pending_migrations` names the files of procrastinate's own
migrations that a new revision would have to apply before the pin is raised.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from glasnost.db.settings import Settings

__all__ = [
    "SCHEMA_INCLUDES",
    "QueueWorker",
    "async_app",
    "connection_args",
    "include_name",
    "pending_migrations",
    "schema_sql",
    "sync_app",
]

log = logging.getLogger("glasnost.db.queue")

SCHEMA_INCLUDES = "03.04.00_50_post_add_retry_failed_job_procedure.sql"
"""The newest of procrastinate's migration files that the schema applied by ``job0001`` contains
(procrastinate 3.10)."""


def include_name(name: str | None, type_: str, parent_names: Any = None) -> bool:
    """Alembic's ``include_name`` hook: leave the queue's tables (procrastinate's, made by ``job0001``
    from its own SQL, not declared on :class:`~glasnost.db.Base`) out of autogenerate's comparison."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def schema_sql() -> str:
    """Procrastinate's schema (tables, types, functions, triggers), with ``%`` doubled for a DBAPI
    ``execute`` with the ``format`` paramstyle. Its names are unqualified: they land in the
    connection's ``search_path``."""
    from procrastinate.schema import SchemaManager

    return SchemaManager.get_schema().replace("%", "%%")


def pending_migrations() -> list[str]:
    """Procrastinate's migration files newer than :data:`SCHEMA_INCLUDES` in the installed version
    (empty while the pin holds)."""
    from procrastinate.schema import SchemaManager

    names = sorted(p.name for p in Path(SchemaManager.get_migrations_path()).glob("*.sql"))
    return [n for n in names if n > SCHEMA_INCLUDES]


def connection_args(settings: Settings, *, name: str = "glasnost-jobs") -> dict[str, Any]:
    """``conninfo`` and connection ``kwargs`` of a psycopg pool that reaches the platform's tables
    (the SQLAlchemy URL without its driver, the schema as ``search_path``)."""
    if settings.is_sqlite:
        raise ValueError("the job queue needs PostgreSQL; SQLite runs scheduled work in its one process")
    url = make_url(settings.database_url).set(drivername="postgresql")
    kwargs: dict[str, Any] = {"application_name": name}
    if settings.schema:
        kwargs["options"] = f"-csearch_path={settings.schema}"
    return {"conninfo": url.render_as_string(hide_password=False), "kwargs": kwargs}


def sync_app(settings: Settings) -> Any:
    """A procrastinate ``App`` that defers jobs from ordinary (threaded) code: a small pool that
    opens connections when a job is deferred and lets idle ones go. Open it with ``app.open()``."""
    from procrastinate import App, SyncPsycopgConnector

    return App(connector=SyncPsycopgConnector(**connection_args(settings), min_size=0, max_size=2, max_idle=60))


def async_app(settings: Settings) -> Any:
    """A procrastinate ``App`` for a worker (an asyncio connector; :class:`QueueWorker` opens it)."""
    from procrastinate import App, PsycopgConnector

    return App(connector=PsycopgConnector(**connection_args(settings, name="glasnost-worker"), min_size=1, max_size=4))


class QueueWorker:
    """A procrastinate worker on its own thread and event loop, so that it runs beside a web server
    (or alone) and stops cleanly: :meth:`stop` cancels it, which lets running jobs finish (up to
    ``grace`` seconds) and unregisters the worker. Should the worker fail (the database restarting),
    it starts again after ``pause`` seconds.

    Parameters
    ----------
    app
        The ``App`` (from :func:`async_app`) whose tasks are registered.
    on_start
        A coroutine function run with the open app each time the worker starts (before it takes jobs).
    worker
        Options of ``App.run_worker_async`` (queues, concurrency, polling interval, ...).
    """

    def __init__(
        self,
        app: Any,
        *,
        on_start: Callable[[Any], Any] | None = None,
        grace: float = 30.0,
        pause: float = 5.0,
        **worker: Any,
    ) -> None:
        self.app, self.on_start, self.grace, self.pause = app, on_start, grace, pause
        self.options = {"install_signal_handlers": False, "shutdown_graceful_timeout": grace, **worker}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._guard = threading.Lock()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="glasnost-queue", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the worker and wait for it (running jobs finish first)."""
        with self._guard:
            self._stopping = True
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(timeout=self.grace + 10 if timeout is None else timeout)
            if self._thread.is_alive():
                log.warning("the job worker did not stop within %.0f s", self.grace + 10)
            self._thread = None

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        with self._guard:
            if self._stopping:
                return
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        try:
            while True:
                try:
                    async with self.app.open_async():
                        if self.on_start is not None:
                            await self.on_start(self.app)
                        await self.app.run_worker_async(**self.options)
                except asyncio.CancelledError:
                    return
                except Exception:
                    log.exception("the job worker stopped; it starts again in %.0f s", self.pause)
                if self._stopping:
                    return
                await asyncio.sleep(self.pause)
        except asyncio.CancelledError:
            return
        finally:
            with self._guard:
                self._loop = self._task = None
