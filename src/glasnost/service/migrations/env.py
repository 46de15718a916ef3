"""Alembic environment of the platform; run programmatically by :func:`glasnost.service.db.migrate`
with the connection in ``config.attributes["connection"]``."""

from __future__ import annotations

import contextlib

from alembic import context

from glasnost.service import models  # noqa: F401  (registers the tables)
from glasnost.service.db import Base

with contextlib.suppress(ImportError):  # the implementation-control tables, when that package provides them
    from glasnost.control import tables as _control_tables  # noqa: F401

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # pragma: no cover - the command-line alembic is not used
        raise RuntimeError("run the platform's migrations through glasnost.service.db.migrate")
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
