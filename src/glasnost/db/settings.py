"""Settings of the planning platform: where the database is, how sessions and limits behave."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_DATABASE", "Settings"]

DEFAULT_DATABASE = "sqlite:///glasnost-service.sqlite"
"""A SQLite file in the working directory (WAL mode)."""


@dataclass
class Settings:
    """What :func:`glasnost.service.app.create_app` needs.

    Attributes
    ----------
    database_url : str
        SQLAlchemy URL: ``sqlite:///path.sqlite`` (default, WAL mode) or
        ``postgresql+psycopg://postgres@127.0.0.1:5432/test``.
    schema : str, optional
        PostgreSQL only: keep every table (the service's and the public log's) in this schema.
    ledger_path : str, optional
        Where the public log lives: a SQLite file or a PostgreSQL URL. Default: next to a SQLite
        database (``<name>-log.sqlite``), or the same PostgreSQL database and schema.
    key_path : str, optional
        A file holding an Ed25519 key from before keys were kept in the database: imported into the
        vault at the first start (the log's signing key is otherwise created there). Default: next
        to the SQLite database, or ``./glasnost-service-key`` for PostgreSQL.
    secret : str, optional
        The master secret that seals the database's secrets (the log's signing key, ballot-box
        keys); environment variable ``GLASNOST_SECRET``. Every process of a platform needs the same.
    secret_file : str, optional
        Where the master secret is read from when ``secret`` is not given (created with 32 random
        bytes if missing). Default: next to the SQLite database (``<name>-secret``), or
        ``./glasnost-secret`` for PostgreSQL (give every process the same file or ``GLASNOST_SECRET``).
    secure_cookies : bool
        Mark cookies ``Secure`` (behind HTTPS); environment variable ``GLASNOST_SECURE_COOKIES=1``.
    max_body_bytes : int
        Largest request body accepted (bytes); larger ones get 413.
    login_rate : tuple of (int, float)
        At most this many failed login attempts per (address, user name) per that many seconds.
    login_account_rate : tuple of (int, float)
        At most this many failed login attempts per user name (from any address) per that many seconds.
    login_address_rate : tuple of (int, float)
        At most this many failed login attempts per address (for any user name) per that many seconds.
    hash_concurrency : int
        Password hashes computed at once by one process (argon2id takes 64 MiB each at the default
        cost); more wait their turn, at most ``hash_wait`` seconds, then get 503.
    hash_wait : float
        Seconds a login waits for a free hash slot.
    submit_rate : tuple of (int, float)
        At most this many submissions per council per that many seconds.
    sqlite_synchronous : str
        ``FULL`` (default: a commit is on disk before the answer) or ``NORMAL`` (survives a
        killed server but not a power cut).
    password_cost : tuple of (int, int, int), optional
        argon2id ``(time_cost, memory_cost in KiB, parallelism)`` for new password hashes. None
        (default, for production): argon2-cffi's defaults (3, 65536, 4). Tests use a cheap cost;
        environment variable ``GLASNOST_ARGON2=t,m,p``. Stored hashes carry their own parameters.
    pool_size : int
        PostgreSQL: connections a process keeps for sessions (up to half as many more at peaks),
        plus half as many for the hot lookups. The job queue takes up to 7 more (a worker's 4 and
        its listener, 2 for deferring jobs). Mind the server's ``max_connections`` (100 by default)
        across all processes: 4 processes at the default take at most 4 x 31.
    demo : bool
        Preload a demo cycle whose councils are modelled unless a person takes their seat.
    jobs : bool
        Whether this process does scheduled work (round deadlines, alerts) once started: on
        PostgreSQL it runs a job-queue worker, on SQLite the in-process scheduler. False for
        ``glasnost serve --no-jobs`` (environment variable ``GLASNOST_JOBS=0``), when
        ``glasnost worker`` processes do it.
    """

    database_url: str = DEFAULT_DATABASE
    schema: str | None = None
    ledger_path: str | None = None
    key_path: str | None = None
    secret: str | None = None
    secret_file: str | None = None
    secure_cookies: bool = False
    max_body_bytes: int = 2 * 1024 * 1024
    login_rate: tuple[int, float] = (10, 60.0)
    login_account_rate: tuple[int, float] = (50, 900.0)
    login_address_rate: tuple[int, float] = (100, 60.0)
    hash_concurrency: int = 2
    hash_wait: float = 10.0
    submit_rate: tuple[int, float] = (30, 60.0)
    sqlite_synchronous: str = "FULL"
    password_cost: tuple[int, int, int] | None = None
    pool_size: int = 12
    demo: bool = False
    jobs: bool = True
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from the environment: ``GLASNOST_DATABASE``, ``GLASNOST_SCHEMA``, ``GLASNOST_DEMO``,
        ``GLASNOST_ARGON2``, ``GLASNOST_SECRET``, ``GLASNOST_SECRET_FILE``, ``GLASNOST_LEDGER``,
        ``GLASNOST_KEY``, ``GLASNOST_SECURE_COOKIES``, ``GLASNOST_SYNCHRONOUS``, ``GLASNOST_POOL_SIZE`` and
        ``GLASNOST_JOBS``."""
        env = os.environ.get
        return cls(
            database_url=env("GLASNOST_DATABASE", DEFAULT_DATABASE),
            schema=env("GLASNOST_SCHEMA") or None,
            ledger_path=env("GLASNOST_LEDGER") or None,
            key_path=env("GLASNOST_KEY") or None,
            secret=env("GLASNOST_SECRET") or None,
            secret_file=env("GLASNOST_SECRET_FILE") or None,
            secure_cookies=_flag(env("GLASNOST_SECURE_COOKIES")),
            sqlite_synchronous=(env("GLASNOST_SYNCHRONOUS") or "FULL").upper(),
            demo=_flag(env("GLASNOST_DEMO")),
            password_cost=password_cost_from_env(),
            pool_size=int(env("GLASNOST_POOL_SIZE") or 12),
            jobs=_flag(env("GLASNOST_JOBS") or "1"),
        )

    def to_env(self) -> dict[str, str]:
        """The environment that :meth:`from_env` reads these settings back from (how ``glasnost serve
        --workers N`` hands its settings to the worker processes)."""
        pairs = {
            "GLASNOST_DATABASE": self.database_url,
            "GLASNOST_SCHEMA": self.schema,
            "GLASNOST_LEDGER": self.ledger_path,
            "GLASNOST_KEY": self.key_path,
            "GLASNOST_SECRET": self.secret,
            "GLASNOST_SECRET_FILE": self.secret_file,
            "GLASNOST_SECURE_COOKIES": "1" if self.secure_cookies else "0",
            "GLASNOST_SYNCHRONOUS": self.sqlite_synchronous,
            "GLASNOST_DEMO": "1" if self.demo else "0",
            "GLASNOST_ARGON2": None if self.password_cost is None else ",".join(map(str, self.password_cost)),
            "GLASNOST_POOL_SIZE": self.pool_size,
            "GLASNOST_JOBS": "1" if self.jobs else "0",
        }
        return {k: str(v) for k, v in pairs.items() if v is not None}

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database file, or None for an in-memory or PostgreSQL database."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split("///", 1)[-1]
        return None if path in ("", ":memory:") else Path(path)

    def ledger_source(self) -> str:
        """The public log's SQLite path or PostgreSQL URL (psycopg form)."""
        if self.ledger_path:
            return self.ledger_path
        file = self.sqlite_file
        if file is not None:
            return str(file.with_name(file.stem + "-log.sqlite"))
        if self.is_sqlite:
            raise ValueError("an in-memory SQLite database needs an explicit ledger_path")
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)

    def master_secret_path(self) -> Path:
        if self.secret_file:
            return Path(self.secret_file)
        file = self.sqlite_file
        if file is not None:
            return file.with_name(file.stem + "-secret")
        return Path("glasnost-secret")

    def signing_key_path(self) -> Path:
        if self.key_path:
            return Path(self.key_path)
        file = self.sqlite_file
        if file is not None:
            return file.with_name(file.stem + "-key")
        return Path("glasnost-service-key")


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


def password_cost_from_env() -> tuple[int, int, int] | None:
    """``GLASNOST_ARGON2="time_cost,memory_kib,parallelism"`` as a tuple, or None when unset."""
    raw = os.environ.get("GLASNOST_ARGON2", "").strip()
    if not raw:
        return None
    parts = raw.split(",")
    try:
        cost = tuple(int(p) for p in parts)
    except ValueError:
        cost = ()
    if len(cost) != 3 or cost[0] < 1 or cost[1] < 8 * cost[2] or cost[2] < 1:
        raise ValueError(
            f"GLASNOST_ARGON2={raw!r}: expected time_cost,memory_kib,parallelism (memory >= 8 x parallelism)"
        )
    return cost  # type: ignore[return-value]
