"""Alembic environment of glasnost's database; run programmatically by :func:`glasnost.db.migrate`
with the connection in ``config.attributes["connection"]``.

To autogenerate a revision, import the table modules first (``glasnost.service.models``,
``glasnost.control.tables``) so that :class:`~glasnost.db.Base` knows every table; this package
does not import them itself (it sits below both).
"""

from __future__ import annotations

from alembic import context

from glasnost.db.engine import Base
from glasnost.db.queue import include_name

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # pragma: no cover - the command-line alembic is not used
        raise RuntimeError("run glasnost's migrations through glasnost.db.migrate")
    context.configure(
        connection=connection, target_metadata=target_metadata, render_as_batch=True, include_name=include_name
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
