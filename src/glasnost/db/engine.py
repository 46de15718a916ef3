"""The database: engine, sessions and the declarative base every stateful part's tables use.

The platform (``glasnost.service.models``) and implementation control (``glasnost.control.tables``)
put their tables on the same :class:`Base`; their Alembic revisions live together in
``glasnost/db/migrations/versions`` (one branch per part), and :func:`migrate` runs
``upgrade heads``. SQLite runs in WAL mode with a busy timeout; PostgreSQL tables can live in their
own schema.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from glasnost.db.settings import Settings

__all__ = ["Base", "Database", "migrate", "utcnow"]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table of the platform (service, control)."""

    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    """Now, in UTC, without time zone (stored as such in both databases)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _sqlite_pragmas(synchronous: str):
    def on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


class Database:
    """An engine and a session factory for one database.

    For SQLite, writes are serialised in-process (:meth:`write`) so that concurrent requests wait
    their turn instead of failing with "database is locked".
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = settings.database_url
        kwargs: dict[str, object] = {"future": True}
        if settings.is_sqlite:
            file = settings.sqlite_file
            if file is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if file is not None:  # one connection per worker thread, kept: opening one costs the pragmas
                kwargs["pool_size"] = 48
                kwargs["max_overflow"] = 16
        else:
            kwargs["pool_size"] = settings.pool_size
            kwargs["max_overflow"] = settings.pool_size // 2
            kwargs["pool_pre_ping"] = True
            if settings.schema:
                kwargs["connect_args"] = {"options": f"-csearch_path={settings.schema}"}
        self.engine: Engine = create_engine(url, **kwargs)
        if settings.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas(settings.sqlite_synchronous))
            self._lookup_engine = None
        else:  # the hot reads: a small pool of autocommit connections, returned after each query
            self._lookup_engine = create_engine(
                url,
                pool_size=max(2, settings.pool_size // 2),
                max_overflow=0,
                pool_reset_on_return=None,
                isolation_level="AUTOCOMMIT",
                connect_args=kwargs.get("connect_args", {}),
            )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = threading.Lock() if settings.is_sqlite else None
        self._lookups = threading.local()

    def lookup(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Rows of one read-only query (``?`` placeholders) on a plain DBAPI connection, without
        SQLAlchemy's per-statement work: the hot checks of every request (whose token, which
        round is open). The connection reads in autocommit mode, so each query sees the latest
        commits. SQLite: this thread's own connection; PostgreSQL: one from a small pool, given
        back at once (the number of connections a process holds stays bounded)."""
        if self._lookup_engine is not None:
            pooled = self._lookup_engine.raw_connection()
            try:
                cur = pooled.cursor()
                try:
                    cur.execute(sql.replace("?", "%s"), params)
                    return [tuple(r) for r in cur.fetchall()]
                finally:
                    cur.close()
            except Exception:
                pooled.invalidate()  # broken (e.g. the server restarted): not given back
                raise
            finally:
                pooled.close()
        conn = getattr(self._lookups, "conn", None)
        if conn is None:
            conn = self._lookup_connection()
        try:
            cur = conn.cursor()
            try:
                cur.execute(sql, params)
                return [tuple(r) for r in cur.fetchall()]
            finally:
                cur.close()
        except Exception:
            self._lookups.conn = self._lookups.pooled = None  # broken: a new one next
            raise

    def _lookup_connection(self) -> Any:
        pooled = self.engine.raw_connection()  # kept by this thread (pragmas applied)
        raw = pooled.driver_connection
        raw.isolation_level = None  # autocommit: no transaction left open between lookups
        self._lookups.conn, self._lookups.pooled = raw, pooled
        return raw

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (rolled back at the end)."""
        with self.sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work is committed at the end (or rolled back on an exception)."""
        if self._write_lock is not None:
            self._write_lock.acquire()
        try:
            with self.sessions() as session, session.begin():
                yield session
        finally:
            if self._write_lock is not None:
                self._write_lock.release()

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """:meth:`write` without the ORM session: a Core connection in a transaction committed at
        the end (the proposal writer's batches, where the session's own work showed in profiles)."""
        if self._write_lock is not None:
            self._write_lock.acquire()
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            if self._write_lock is not None:
                self._write_lock.release()

    @staticmethod
    def delete_for_good(conn: Connection, statement: Any) -> None:
        """Run a DELETE whose rows must not stay readable in the database file: SQLite overwrites
        their bytes (``secure_delete``, on for this statement only: it costs every write);
        PostgreSQL keeps them until a vacuum (:meth:`forget_deleted`)."""
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA secure_delete=ON")
        try:
            conn.execute(statement)
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA secure_delete=OFF")

    def forget_deleted(self, table: str) -> None:
        """After :meth:`delete_for_good`: PostgreSQL vacuums ``table`` (an emptied table's file is
        truncated); SQLite checkpoints and truncates its write-ahead log, which still held the
        rows' earlier pages. (Either server's own logs and backups are the operator's to keep or
        not: ``docs/ballots.md``.)"""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if self.settings.is_sqlite:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                conn.execute(text(f'VACUUM "{table}"'))

    def dispose(self) -> None:
        self.engine.dispose()
        if self._lookup_engine is not None:
            self._lookup_engine.dispose()


def migrate(database: Database) -> None:
    """Bring the database to the newest revision of every branch (``alembic upgrade heads``).

    On PostgreSQL the processes that start together (``glasnost serve --workers N``, a worker
    beside them) take turns: the first one migrates under an advisory lock held to its commit, the
    others then find nothing left to do."""
    from alembic import command
    from alembic.config import Config

    here = Path(__file__).parent / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(here))
    cfg.set_main_option("version_locations", str(here / "versions"))
    cfg.set_main_option("path_separator", "space")
    schema = database.settings.schema
    with database.engine.begin() as conn:
        if not database.settings.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"glasnost-migrate:{schema}"})
            if schema:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        cfg.attributes["connection"] = conn
        cfg.attributes["schema"] = schema
        command.upgrade(cfg, "heads")
