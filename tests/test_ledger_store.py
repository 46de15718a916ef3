"""The ledger on real storage: a SQLite file and the PostgreSQL server, the same tests on both."""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glasnost.ledger import (
    CanonicalJSONError,
    Ledger,
    LedgerError,
    generate_signing_key,
    verify_consistency,
    verify_inclusion,
    verify_log,
)

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
TIME = "2025-03-01T12:00:00Z"


class Backend:
    """Where a test's log lives, and raw SQL access to it (as someone with database rights has)."""

    def __init__(self, source: str | Path, schema: str | None = None) -> None:
        self.source, self.schema = source, schema

    def open(self) -> Ledger:
        return Ledger.open(self.source, schema=self.schema)

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.schema is None:
            conn = sqlite3.connect(self.source)
            try:
                rows = conn.execute(statement, params).fetchall()
                conn.commit()
            finally:
                conn.close()
            return rows
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            cur = conn.execute(statement.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []

    def drop_guards(self) -> None:
        """What a tamperer with owner rights does first: remove the append-only triggers."""
        if self.schema is None:
            for t in ("ledger_entries_no_update", "ledger_entries_no_delete"):
                self.sql(f"DROP TRIGGER {t}")
        else:
            self.sql("DROP TRIGGER ledger_entries_append_only ON ledger_entries")


def _postgres_available() -> str | None:
    try:
        import psycopg

        psycopg.connect(PG_URL, connect_timeout=3).close()
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"PostgreSQL not reachable at {PG_URL}: {exc}"
    return None


def make_backend(kind: str, tmp_path: Path) -> Iterator[Backend]:
    """A fresh SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield Backend(tmp_path / "log.sqlite")
        return
    reason = _postgres_available()
    if reason:  # pragma: no cover
        pytest.skip(reason)
    import psycopg

    schema = f"glasnost_test_{uuid.uuid4().hex[:12]}"
    yield Backend(PG_URL, schema)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path)


def naive_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while 2 * k < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


def fill(log: Ledger, n: int = 12) -> list[Any]:
    kinds = ["proposal", "round-result", "plan", "plan-variant", "vote-receipt", "report", "confirmation"]
    return [log.append(kinds[i % len(kinds)], {"n": i, "share": i / 7, "who": f"council-{i % 3}"}) for i in range(n)]


def test_entries_are_the_canonical_bytes_and_the_root_is_mth(backend: Backend) -> None:
    with backend.open() as log:
        r0 = log.append("proposal", {"b": 2, "a": 1.5, "name": "Stahlwerk Süd"})
        assert r0.index == 0
        expected = '{"kind":"proposal","payload":{"a":1.5,"b":2,"name":"Stahlwerk Süd"}}'.encode()
        assert log.entry(0).data == expected
        assert r0.leaf_hash == hashlib.sha256(b"\x00" + expected).digest()
        fill(log, 20)
        assert log.size == 21
        datas = [e.data for e in log.entries()]
        assert len(datas) == 21
        assert log.root() == naive_mth(datas)
        assert log.root(7) == naive_mth(datas[:7])


def test_reopening_sees_the_same_log_and_appends_continue(backend: Backend) -> None:
    with backend.open() as log:
        fill(log, 10)
        root = log.root()
    with backend.open() as again:
        assert again.size == 10
        assert again.root() == root
        assert again.append("report", {"x": 1}).index == 10
    with backend.open() as a, backend.open() as b:
        a.append("report", {"from": "a"})
        rb = b.append("report", {"from": "b"})  # b must first catch up with a's entry
        assert rb.index == 12
        assert a.root() == b.root() == naive_mth([e.data for e in a.entries()])


def test_append_many_is_all_or_nothing(backend: Backend) -> None:
    with backend.open() as log:
        fill(log, 3)
        root = log.root()
        with pytest.raises(CanonicalJSONError, match=r"item 1 to append.*\$\.payload\.x"):
            log.append_many([("plan", {"x": 1}), ("plan", {"x": float("nan")})])
        with pytest.raises(LedgerError, match="entry 4: refers to entry 9"):
            log.append_many([("plan", {"x": 1}), ("correction", {"x": 2}, 9)])
        with pytest.raises(LedgerError, match="kind 'Plan'"):
            log.append("Plan", {})
        assert log.size == 3 and log.root() == root
    with backend.open() as again:
        assert again.size == 3 and again.root() == root
        assert backend.sql("SELECT COUNT(*) FROM ledger_entries")[0][0] == 3


def test_a_correction_is_a_new_entry_referring_to_the_old(backend: Backend) -> None:
    with backend.open() as log:
        receipts = fill(log, 5)
        before = log.entry(2).data
        fix = log.correct(2, {"n": 2, "share": 0.3, "reason": "misread meter"})
        assert fix.index == 5
        assert log.entry(2).data == before
        entry = log.entry(5)
        assert entry.kind == "correction" and entry.refers_to == 2
        assert json.loads(entry.data)["refers_to"] == {"index": 2, "leaf_hash": receipts[2].leaf_hash.hex()}
        # an answer to an entry appended in the same batch refers to it by the hash it will have
        r = log.append_many([("report", {"r": 1}), ("confirmation", {"ok": True}, 6)])
        assert json.loads(log.entry(7).data)["refers_to"]["leaf_hash"] == r[0].leaf_hash.hex()


def test_the_database_refuses_edits_and_deletes(backend: Backend) -> None:
    with backend.open() as log:
        fill(log, 3)
    for statement in ("UPDATE ledger_entries SET kind = 'x' WHERE idx = 1", "DELETE FROM ledger_entries WHERE idx = 1"):
        with pytest.raises(Exception, match="append-only"):
            backend.sql(statement)
    assert backend.sql("SELECT COUNT(*) FROM ledger_entries")[0][0] == 3


def test_checkpoints_sign_the_root_and_proofs_verify(backend: Backend) -> None:
    key = generate_signing_key()
    with backend.open() as log:
        receipts = fill(log, 9)
        cp1 = log.checkpoint(key, time=TIME)
        fill(log, 8)
        cp2 = log.checkpoint(key, time="2025-03-02T12:00:00Z")
        assert [c.tree_size for c in log.checkpoints()] == [9, 17]
        assert log.latest_checkpoint() == cp2
        datas = [e.data for e in log.entries()]
        assert cp1.root_hash == naive_mth(datas[:9]) and cp2.root_hash == naive_mth(datas)
        assert cp1.verify_signature(key.public_key()) and cp2.verify_signature(key.public_key())
        assert not cp1.verify_signature(generate_signing_key().public_key())
        for r in receipts:
            for cp in (cp1, cp2):
                proof = log.inclusion_proof(r, cp)
                assert proof.verify()
                assert verify_inclusion(r.leaf_hash, r.index, cp.tree_size, proof.path, cp.root_hash)
        proof = log.consistency_proof(9, 17)
        assert verify_consistency(9, 17, proof, cp1.root_hash, cp2.root_hash)
        with pytest.raises(LedgerError, match="entry 17"):
            log.inclusion_proof(17, cp2)


def test_export_round_trips_through_verification(backend: Backend, tmp_path: Path) -> None:
    key = generate_signing_key()
    with backend.open() as log:
        fill(log, 6)
        log.checkpoint(key, time=TIME)
        log.correct(1, {"fixed": True})
        log.checkpoint(key, time=TIME)
        path = log.export(tmp_path / "log.jsonl")
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert lines[0] == {"format": "glasnost-log", "hash": "sha-256", "tree_size": 7, "version": 1}
    assert [ln["index"] for ln in lines[1:] if ln["type"] == "entry"] == list(range(7))
    assert [ln["tree_size"] for ln in lines[1:] if ln["type"] == "checkpoint"] == [6, 7]
    for ln in lines[1:8]:
        assert hashlib.sha256(b"\x00" + ln["entry"].encode()).hexdigest() == ln["leaf_hash"]
    report = verify_log(path, public_key=key.public_key())
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints) == (7, 2)
    db_source = backend.source
    assert verify_log(db_source, public_key=key.public_key(), schema=backend.schema).ok


def test_checkpoint_refuses_to_sign_over_rewritten_history(backend: Backend) -> None:
    key = generate_signing_key()
    with backend.open() as log:
        fill(log, 5)
        log.checkpoint(key, time=TIME)
    backend.drop_guards()
    forged = b'{"kind":"plan","payload":{"forged":true}}'
    backend.sql(
        "UPDATE ledger_entries SET entry = ?, leaf_hash = ? WHERE idx = 2",
        (forged, hashlib.sha256(b"\x00" + forged).digest()),
    )
    with backend.open() as log, pytest.raises(LedgerError, match="no longer match checkpoint 0"):
        log.checkpoint(key, time=TIME)


def test_a_missing_log_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.sqlite"):
        Ledger.open(tmp_path / "nope.sqlite", create=False)
    with pytest.raises(LedgerError, match="schema applies to PostgreSQL"):
        Ledger.open(tmp_path / "x.sqlite", schema="s")


def _append_from_another_process(schema: str, who: str, batches: int, start: Any) -> list[tuple[int, str, int]]:
    with Ledger.open(PG_URL, schema=schema) as log:
        start.wait()
        got = []
        for b in range(batches):
            receipts = log.append_many([("proposal", {"who": who, "batch": b, "n": n}) for n in range(5)])
            got += [(r.index, r.leaf_hash.hex(), b) for r in receipts]
        if who == "a":  # a correction takes the head's lock and must first read in the other's entries
            got.append((log.correct(got[0][0], {"who": who, "fix": True}).index, "", -1))
        return got


def test_two_processes_appending_at_once_get_dense_distinct_places(tmp_path: Path) -> None:
    """PostgreSQL places entries that refer to no other in one statement each (``ledger_append``):
    two processes appending batches at once get every index once, with no gap, each receipt naming
    its own entry, and trees (built partly from their own receipts, partly read in) that agree."""
    import multiprocessing

    backend = next(make_backend("postgresql", tmp_path))
    with backend.open() as log:
        assert log._store.appends_in_one_statement
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        start = manager.Barrier(2)
        with ctx.Pool(2) as pool:
            runs = [pool.apply_async(_append_from_another_process, (backend.schema, who, 60, start)) for who in "ab"]
            a, b = (r.get(timeout=120) for r in runs)
    with backend.open() as log:
        assert log.size == 601
        indices = sorted(i for i, _, _ in a + b)
        assert indices == list(range(601))
        for who, got in (("a", a), ("b", b)):
            for index, h, batch in got:
                entry = log.entry(index)
                assert entry.payload["who"] == who
                if batch >= 0:
                    assert entry.leaf_hash.hex() == h and entry.payload["batch"] == batch
                else:
                    assert entry.refers_to == a[0][0]
        owners = [log.entry(i).payload["who"] for i in indices]
        leaves = [log.entry(i).data for i in range(601)]
        assert log.root() == naive_mth(leaves)
        proof = log.inclusion_proof(b[-1][0], 601)
        assert proof.verify()
    assert sum(x != y for x, y in itertools.pairwise(owners)) >= 2  # the two really ran at once
