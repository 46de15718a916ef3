"""The database layer: every table the models declare is what the migrations make (SQLite and
PostgreSQL), the vault seals and refuses a wrong master secret, and the rate counter counts
concurrent hits from several processes against one limit."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_support import Backend, make_backend


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path)


def test_the_migrations_make_exactly_the_declared_tables(backend: Backend) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from glasnost.control import tables  # noqa: F401  (registers the control tables)
    from glasnost.db import Base, Database, migrate
    from glasnost.db.queue import include_name
    from glasnost.service import models  # noqa: F401  (registers the platform's tables)

    db = Database(backend.settings())
    migrate(db)
    with db.engine.connect() as conn:
        opts = {"include_schemas": False, "include_name": include_name}  # the job queue's tables are procrastinate's
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    db.dispose()
    # SQLite reports server defaults and nullable changes of batch-altered columns loosely: only
    # tables, columns and indexes count here
    meaningful = [
        d
        for d in diff
        if isinstance(d, tuple)
        and d[0] in ("add_table", "remove_table", "add_column", "remove_column", "add_index", "remove_index")
    ]
    assert meaningful == []


def test_the_vault_refuses_another_master_secret(backend: Backend) -> None:
    from glasnost.db import Database, migrate
    from glasnost.db.vault import Vault, VaultError

    db = Database(backend.settings())
    migrate(db)
    try:
        first = Vault(db, b"one master secret of enough length").get_or_create("k", lambda: b"\x01" * 32)
        again = Vault(db, b"one master secret of enough length").get_or_create("k", lambda: b"\x02" * 32)
        assert first == again == b"\x01" * 32  # made once, read back
        with pytest.raises(VaultError, match="sealed under another master secret"):
            Vault(db, b"another master secret, also long").get("k")
        with db.read() as s:  # sealed: the bytes are not in the table in the clear
            from glasnost.db.vault import SealedSecret

            assert b"\x01" * 32 not in s.get(SealedSecret, "k").sealed
    finally:
        db.dispose()


def _hits(url: str, schema: str | None, n: int, out: multiprocessing.Queue) -> None:
    from glasnost.db import Database, Settings
    from glasnost.db.limits import Limit, count_hit

    db = Database(Settings(database_url=url, schema=schema))
    limit = Limit("test", 25, 3600)
    refused = 0
    for _ in range(n):
        with db.write_connection() as conn:
            refused += count_hit(conn, limit, limit.key("one key")) is not None
    db.dispose()
    out.put(refused)


@pytest.fixture
def postgresql(tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend("postgresql", tmp_path)


def test_a_limit_counts_hits_from_several_processes_atomically(postgresql: Backend) -> None:
    from glasnost.db import Database, migrate

    backend = postgresql
    db = Database(backend.settings())
    migrate(db)
    db.dispose()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hits, args=(backend.url, backend.schema, 20, out)) for _ in range(3)]
    for p in procs:
        p.start()
    refused = sum(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert refused == 60 - 25  # exactly the limit got through, whatever the interleaving
