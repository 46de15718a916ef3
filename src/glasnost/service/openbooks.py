"""Open books: the platform's side of the public log (:class:`glasnost.ledger.Ledger`).

The log has one writer, a thread that owns the :class:`~glasnost.ledger.Ledger` (a SQLite
connection belongs to one thread). Requests hand it entries and wait for their receipts; the
thread appends whatever has queued up in one transaction (group commit), then stores each entry's
index and leaf hash on the row it publishes (outbox pattern), after answering the requests.
Rows whose ``ledger_index`` is still empty after a crash are found at start-up and published
then; an entry already in the log (the crash came between the append and the update) is
recognised by its kind and row id and not appended twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table, select, update

from glasnost.db.engine import Database
from glasnost.economy.errors import GlasnostError
from glasnost.ledger import Checkpoint, Ledger, Receipt
from glasnost.ledger.keys import Ed25519PrivateKey, key_id, public_key_hex

__all__ = ["OpenBooks", "Publication"]

log = logging.getLogger("glasnost.service")

T = TypeVar("T")

RECORD_ROWS = 5000
RECORD_SECONDS = 0.5
RECORD_IDLE = 0.05
"""Receipts are recorded on their rows when the writer has been idle for ``RECORD_IDLE`` seconds, or
at the latest after ``RECORD_ROWS`` rows or ``RECORD_SECONDS`` seconds (one transaction for several
batches instead of one per batch: the recording commits to the platform's database, which the
proposal writer also commits to). Entries published one by one (:meth:`OpenBooks.publish`: ballots,
round results; their requests may read the receipt back at once) are recorded as soon as the queue
is empty; the proposal writer's batches (:meth:`OpenBooks.publish_batch`) wait for the idle time."""


@dataclass(frozen=True)
class Publication:
    """An entry to append, and the row (table, id) whose ``ledger_index``/``leaf_hash`` it fills."""

    kind: str
    payload: Any
    table: Table | None = None
    row_id: int | None = None


def _call_back(done: Callable[..., None], receipts: list[Receipt] | None, exc: BaseException | None) -> None:
    try:
        done(receipts, exc)
    except Exception:  # the writer thread carries on
        log.exception("answering a batch of log entries failed")


class OpenBooks:
    """The public log of one platform instance, written by one thread."""

    def __init__(self, database: Database, source: str, key: Ed25519PrivateKey, *, schema: str | None = None) -> None:
        self.database = database
        self.source = source
        self.schema = schema
        self.key = key
        self.public_key = public_key_hex(key)
        self._queue: queue.Queue[tuple[str, Any, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.shares_transactions = False
        """True when the log lives in the platform's own PostgreSQL database and schema: a writer may
        then append its rows' entries inside its own transaction (:data:`glasnost.ledger.store.PG_APPEND_CALL`)."""
        self._last_checkpoint = 0.0
        self._pending: list[tuple[Publication, Receipt]] = []  # appended, not yet recorded on their rows
        self._pending_since = 0.0
        self._thread = threading.Thread(target=self._run, name="glasnost-ledger", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    # ---- the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.ledger = Ledger.open(self.source, schema=self.schema)
            self._check_signer()
        except BaseException as exc:  # reported by __init__
            self._error = exc
            self._ready.set()
            return
        self.shares_transactions = self.ledger.appends_in_one_statement and self._same_database()
        self._ready.set()
        try:
            while not self._stop.is_set():
                try:  # with receipts to record, "idle" means no job for RECORD_IDLE seconds
                    first = self._queue.get(timeout=RECORD_IDLE if self._pending else 0.2)
                except queue.Empty:
                    self._flush_records()
                    continue
                jobs = [first]
                while len(jobs) < 1000:
                    try:
                        jobs.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                self._serve(jobs)
                urgent = any(op == "publish" for op, _, _ in jobs)  # a request may read its receipt back at once
                if (
                    (urgent and self._queue.empty())
                    or len(self._pending) >= RECORD_ROWS
                    or (time.monotonic() - self._pending_since >= RECORD_SECONDS)
                ):
                    self._flush_records()
        finally:
            self._flush_records()
            self.ledger.close()

    def _same_database(self) -> bool:
        settings = self.database.settings
        url = settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        return not settings.is_sqlite and self.source == url and self.schema == settings.schema

    def _check_signer(self) -> None:
        """Refuse a log whose latest checkpoint another key signed: a process started with its own
        key would make the log fail verification."""
        cp = self.ledger.latest_checkpoint()
        if cp is not None and not cp.signed_by(self.key.public_key()):  # a note's key hash, or an older key id
            self.ledger.close()
            raise GlasnostError(
                f"the public log at {self.ledger.where} was signed by key {cp.key_id[:16]}..., not by this "
                f"platform's key {key_id(self.key)[:16]}...; start every process with the same database "
                "and master secret (GLASNOST_SECRET), or import the old key (Settings.key_path)"
            )

    def _serve(self, jobs: list[tuple[str, Any, Any]]) -> None:
        # "publish": one item and its future; "batch": a list of items and one callback for them all
        groups = [([arg], fut) if op == "publish" else (arg, fut) for op, arg, fut in jobs if op != "call"]
        if groups:
            items = [p for group, _ in groups for p in group]
            try:
                receipts = self.ledger.append_many([(p.kind, p.payload) for p in items])
            except BaseException as exc:
                for op, _arg, fut in jobs:
                    if op == "publish":
                        fut.set_exception(exc)
                    elif op == "batch":
                        _call_back(fut, None, exc)
            else:
                start = 0
                for op, arg, fut in jobs:
                    if op == "publish":
                        fut.set_result(receipts[start])
                        start += 1
                    elif op == "batch":
                        _call_back(fut, receipts[start : start + len(arg)], None)
                        start += len(arg)
                # recorded on the rows after answering, several batches in one transaction (a lost
                # update is repaired by recover() at the next start)
                if not self._pending:
                    self._pending_since = time.monotonic()
                self._pending.extend(zip(items, receipts, strict=True))
        if any(op == "call" for op, _, _ in jobs):
            self._flush_records()  # what a call reads (e.g. a closing round) sees every receipt recorded
        for op, arg, fut in jobs:
            if op == "call":
                try:
                    fut.set_result(arg(self.ledger))
                except BaseException as exc:
                    fut.set_exception(exc)

    def _flush_records(self) -> None:
        """Record the receipts of every entry appended since the last flush on their rows."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        try:
            self._record([p for p, _ in pending], [r for _, r in pending])
        except Exception:
            log.exception("recording log receipts on %d rows failed", len(pending))

    def _record(self, items: Sequence[Publication], receipts: Sequence[Receipt]) -> None:
        by_table: dict[Table, list[dict[str, Any]]] = {}
        for p, r in zip(items, receipts, strict=True):
            if p.table is not None and p.row_id is not None:
                by_table.setdefault(p.table, []).append({"rid": p.row_id, "idx": r.index, "h": r.leaf_hash.hex()})
        if not by_table:
            return
        from sqlalchemy import bindparam

        with self.database.write() as session:
            for table, rows in by_table.items():
                values: dict[str, Any] = {"ledger_index": bindparam("idx")}
                if "leaf_hash" in table.c:
                    values["leaf_hash"] = bindparam("h")
                stmt = update(table).where(table.c.id == bindparam("rid")).values(**values)
                session.connection().execute(stmt, rows)

    # ---- what requests call -------------------------------------------------------------------

    def publish(self, items: Sequence[Publication], *, wait: bool = True) -> list[Receipt] | None:
        """Append ``items`` (group-committed with whatever else is queued); with ``wait``, their receipts."""
        futures = self.publish_futures(items)
        if not wait:
            return None
        return [f.result(timeout=60) for f in futures]

    def publish_futures(self, items: Sequence[Publication]) -> list[Future]:
        """Queue ``items`` for the log; one future per item, answered with its receipt (on the writer
        thread, in order) once the entries are committed to the log."""
        futures = []
        for item in items:
            fut: Future = Future()
            self._queue.put(("publish", item, fut))
            futures.append(fut)
        return futures

    def publish_batch(
        self, items: Sequence[Publication], done: Callable[[list[Receipt] | None, BaseException | None], None]
    ) -> None:
        """Queue ``items`` for the log as one job; ``done(receipts, None)`` (or ``done(None, error)``)
        is called once, on the writer thread, when the entries are committed to the log (in order
        with everything queued before). Cheaper than :meth:`publish_futures` for a batch: one queue
        entry and one call instead of a future per item."""
        self._queue.put(("batch", list(items), done))

    def call(self, fn: Callable[[Ledger], T], *, timeout: float = 60.0) -> T:
        """Run ``fn(ledger)`` on the writer thread (reads, proofs, checkpoints) and return its result
        (waiting at most ``timeout`` seconds: :class:`TimeoutError` after that)."""
        fut: Future = Future()
        self._queue.put(("call", fn, fut))
        return fut.result(timeout=timeout)

    def sync(self, *, timeout: float = 60.0) -> None:
        """Wait (at most ``timeout`` seconds) until every entry queued so far is appended and its
        receipt recorded on its row."""
        self.call(lambda _ledger: None, timeout=timeout)

    def checkpoint(self, *, min_interval: float = 1.0, cover: int | None = None) -> Checkpoint | None:
        """The latest signed checkpoint, signing a new one first if entries came since (at most one
        new checkpoint per ``min_interval`` seconds, except that entry ``cover``, when given and in
        the log, is always covered: someone is about to check its inclusion proof)."""

        def latest(ledger: Ledger) -> Checkpoint | None:
            cp = ledger.latest_checkpoint()
            size = ledger.size
            now = time.monotonic()
            uncovered = cover is not None and cover < size and (cp is None or cp.tree_size <= cover)
            due = now - self._last_checkpoint >= min_interval
            if size and (cp is None or cp.tree_size < size) and (due or uncovered):
                self._last_checkpoint = now
                cp = ledger.checkpoint(self.key)
            return cp

        return self.call(latest)

    def recover(self, tables: Sequence[tuple[Table, str, Callable[[Any], Any], Any]]) -> int:
        """Publish rows a crash left unpublished. ``tables``: (table, kind, payload-of-row, which rows
        are published at all: a SQL condition, or None for every row).

        Entries already in the log for such rows (same kind and ``id`` in the payload) are only
        recorded on the row. Returns the number of rows published now."""
        pending: list[Publication] = []
        with self.database.read() as session:
            for table, kind, payload_of, published in tables:
                unlogged = table.c.ledger_index.is_(None)
                where = unlogged if published is None else unlogged & published
                rows = session.execute(select(table).where(where).order_by(table.c.id)).all()
                pending.extend(Publication(kind, payload_of(row), table, row.id) for row in rows)
        if not pending:
            return 0

        def logged(ledger: Ledger) -> dict[tuple[str, int], Receipt]:
            wanted = {(p.kind, p.row_id) for p in pending}
            size = ledger.size
            start = max(0, size - 10 * len(pending) - 1000)
            found = {}
            for e in ledger.entries(start, size):
                key = (e.kind, e.payload.get("id") if isinstance(e.payload, dict) else None)
                if key in wanted:
                    found[key] = Receipt(e.index, e.leaf_hash, e.kind)
            return found

        found = self.call(logged)
        already = [p for p in pending if (p.kind, p.row_id) in found]
        if already:
            self.call(lambda _: self._record(already, [found[(p.kind, p.row_id)] for p in already]))
        fresh = [p for p in pending if (p.kind, p.row_id) not in found]
        if fresh:
            self.publish(fresh)
        return len(fresh)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
