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
        The Ed25519 key that signs the log's checkpoints (created on first start). Default: next to
        the SQLite database, or ``./glasnost-service-key`` for PostgreSQL.
    secure_cookies : bool
        Mark cookies ``Secure`` (behind HTTPS).
    max_body_bytes : int
        Largest request body accepted (bytes); larger ones get 413.
    login_rate : tuple of (int, float)
        At most this many login attempts per (address, user name) per that many seconds.
    submit_rate : tuple of (int, float)
        At most this many submissions per council per that many seconds.
    sqlite_synchronous : str
        ``FULL`` (default: a commit is on disk before the answer) or ``NORMAL`` (survives a
        killed server but not a power cut).
    password_cost : tuple of (int, int, int), optional
        argon2id ``(time_cost, memory_cost in KiB, parallelism)`` for new password hashes. None
        (default, for production): argon2-cffi's defaults (3, 65536, 4). Tests use a cheap cost;
        environment variable ``GLASNOST_ARGON2=t,m,p``. Stored hashes carry their own parameters.
    demo : bool
        Preload a demo cycle whose councils are modelled unless a person takes their seat.
    """

    database_url: str = DEFAULT_DATABASE
    schema: str | None = None
    ledger_path: str | None = None
    key_path: str | None = None
    secure_cookies: bool = False
    max_body_bytes: int = 2 * 1024 * 1024
    login_rate: tuple[int, float] = (10, 60.0)
    submit_rate: tuple[int, float] = (30, 60.0)
    sqlite_synchronous: str = "FULL"
    password_cost: tuple[int, int, int] | None = None
    demo: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from ``GLASNOST_DATABASE``, ``GLASNOST_SCHEMA``, ``GLASNOST_DEMO`` and ``GLASNOST_ARGON2``."""
        return cls(
            database_url=os.environ.get("GLASNOST_DATABASE", DEFAULT_DATABASE),
            schema=os.environ.get("GLASNOST_SCHEMA") or None,
            demo=os.environ.get("GLASNOST_DEMO", "") not in ("", "0"),
            password_cost=password_cost_from_env(),
        )

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

    def signing_key_path(self) -> Path:
        if self.key_path:
            return Path(self.key_path)
        file = self.sqlite_file
        if file is not None:
            return file.with_name(file.stem + "-key")
        return Path("glasnost-service-key")


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
