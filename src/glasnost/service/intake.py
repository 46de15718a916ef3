"""Group commit of proposals: one thread writes whatever proposals have queued up in one database
transaction. Where the public log lives in the platform's own PostgreSQL schema (the usual
deployment), the batch's log entries are appended in that same transaction, the rows stored with
their receipts, and the batch answered at its commit: a proposal is in the log exactly when it is
stored. Otherwise (SQLite, whose log is a file of its own; a log in another database) the batch is
handed to the public log's writer as one job (which appends it in one more transaction and then
answers every waiting request) while this thread goes on with the next batch, so the two commits
of consecutive batches overlap; a proposal committed but not yet logged when the server dies is
published at the next start (:meth:`glasnost.service.openbooks.OpenBooks.recover`); it was not
acknowledged.

A round's rush (thousands of councils answering at once) thus costs a few commits per batch
rather than a few per proposal, while every answer still means "committed and in the log". The
hand-offs are per batch too: requests awaiting on the event loop (:meth:`Intake.enqueue_async`) get
their answers in one ``call_soon_threadsafe`` per batch, not one wake-up per request. The batch
re-checks what may have changed since the request was checked: the round may have closed (the
proposal is refused with the open round's number), a repeated idempotency key may have raced in
(the first one counts; the others get it back), and the council may have passed its rate limit.

Under several processes the batch holds its rounds' rows ``FOR SHARE`` and its councils' rows
``FOR UPDATE`` (in id order) until it commits (PostgreSQL): closing a round (which takes the round
``FOR UPDATE``) waits for the batch and then reads its proposals, or the batch waits for the close
and then refuses them; two batches of one council (another process) take turns, so a repeated key
or the rate limit is checked against everything stored before. SQLite has one writing process,
whose writes are serialised anyway.

A repeated key answers exactly what the first answer said, receipt included. With the log apart,
the receipt is recorded on the stored row lazily, a little after the row is committed
(:data:`~glasnost.service.openbooks.RECORD_IDLE`), so a repeat that reads the row in between finds
no receipt yet: it waits for it (:meth:`Intake.with_receipt`, bounded by :data:`REPEAT_WAIT`, then
503 with ``Retry-After``). A repeat in the same batch as its first is answered with the first's
own answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, bindparam, func, insert, select, tuple_

from glasnost.db.engine import utcnow
from glasnost.ledger.store import PG_APPEND_CALL
from glasnost.service import models as m
from glasnost.service.errors import ConflictError, RateLimitedError, UnavailableError
from glasnost.service.openbooks import Publication

if TYPE_CHECKING:
    from glasnost.ledger import Receipt
    from glasnost.service.platform import Platform

__all__ = ["Intake", "IntakeItem", "Unchecked"]

log = logging.getLogger("glasnost.service")

BATCH = 500
LINGER_BELOW = 8
LINGER = 0.001
"""A batch of fewer than :data:`LINGER_BELOW` proposals waits :data:`LINGER` seconds once for more: a
batch's round trips and commit cost about the same for 2 proposals as for 20, and when a process
gets few of a rush's requests its batches stay small (measured: 2 a batch against 20)."""
KEEP_IDLE = 1.0
"""Seconds the writer keeps its connection unused: after that a batch takes one from the pool, which
checks that it is alive (a connection the server dropped, e.g. across its restart, would fail the
batch); in a rush batches follow each other and keep it."""
REPEAT_WAIT = 10.0
"""Seconds a repeated idempotency key waits for its proposal's log receipt before answering 503 (the
receipt normally comes within milliseconds; it never comes when the log write failed, until
:meth:`~glasnost.service.openbooks.OpenBooks.recover` publishes the row at the next start)."""
_RECEIPT_SQL = "SELECT ledger_index, leaf_hash FROM proposals WHERE id = ?"

# built once (SQLAlchemy caches their compiled form); run on a Core connection, not an ORM session
_ROUNDS = m.Round.__table__
_PROPOSALS = m.Proposal.__table__
_OPEN_ROUNDS = (
    select(_ROUNDS.c.id)
    .where(_ROUNDS.c.id.in_(bindparam("ids", expanding=True)), _ROUNDS.c.status == "open")
    .order_by(_ROUNDS.c.id)
    .with_for_update(read=True)
)
_RECENT = (
    select(_PROPOSALS.c.council_id, func.count())
    .where(_PROPOSALS.c.council_id.in_(bindparam("ids", expanding=True)), _PROPOSALS.c.created_at > bindparam("since"))
    .group_by(_PROPOSALS.c.council_id)
)
_INSERT_PROPOSALS = insert(_PROPOSALS).returning(_PROPOSALS.c.id, sort_by_parameter_order=True)
_INSERT_AUDIT = insert(m.AuditEvent.__table__)
# PostgreSQL: a batch as arrays, so that the statement's text is the same whatever the batch's size
# (psycopg parses a statement's text again unless it is short and seen before: a multi-row VALUES
# list of a varying length was parsed anew for every batch, a third of the intake thread's time)
_PG_INSERT_PROPOSALS = (
    "INSERT INTO proposals (round_id, council_id, author_id, supply, demand, source, idempotency_key, created_at) "
    "SELECT r, c, a, s::json, d::json, src, k, %s "
    "FROM unnest(%b::int[], %b::int[], %b::int[], %b::text[], %b::text[], %b::text[], %b::text[]) "
    "WITH ORDINALITY AS batch(r, c, a, s, d, src, k, n) ORDER BY n RETURNING id"
)
_PG_LOCK_BATCH = (
    "WITH r AS (SELECT id FROM rounds WHERE id = ANY(%b::int[]) AND status = 'open' ORDER BY id FOR SHARE), "
    "c AS (SELECT id FROM councils WHERE id = ANY(%b::int[]) ORDER BY id FOR UPDATE) "
    "SELECT ARRAY(SELECT id FROM r), "
    "ARRAY(SELECT nextval(pg_get_serial_sequence('proposals', 'id')) FROM generate_series(1, %s) "
    "WHERE (SELECT count(*) FROM c) >= 0)"
)
_PG_RECENT = (
    "SELECT council_id, count(*) FROM proposals WHERE council_id = ANY(%b::int[]) AND created_at > %s "
    "GROUP BY council_id"
)
# the log's entries, the rows with their receipts and the audit events: one statement
_PG_INSERT_LOGGED = (
    f"WITH log AS (SELECT {PG_APPEND_CALL} AS start), "
    "audit AS (INSERT INTO audit_events (account_id, action, target, at) SELECT a, 'submit', t, %s "
    "FROM unnest(%b::int[], %b::text[]) AS batch(a, t)), "
    "added AS (INSERT INTO proposals (id, round_id, council_id, author_id, supply, demand, source, "
    "idempotency_key, created_at, ledger_index, leaf_hash) "
    "SELECT i, r, c, a, s::json, d::json, src, k, %s, log.start + n - 1, h FROM log, "
    "unnest(%b::int[], %b::int[], %b::int[], %b::int[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) "
    "WITH ORDINALITY AS batch(i, r, c, a, s, d, src, k, h, n)) "
    "SELECT start FROM log"
)
_PG_INSERT_AUDIT = (
    "INSERT INTO audit_events (account_id, action, target, at) SELECT a, 'submit', t, %s "
    "FROM unnest(%b::int[], %b::text[]) AS batch(a, t)"
)


@dataclass(eq=False)
class IntakeItem:
    """One checked proposal waiting to be stored.

    It is answered either through ``future`` (a thread waiting in :meth:`Intake.submit`) or, when
    queued with :meth:`Intake.enqueue_async`, through ``waiter`` on its event loop: the answers of a
    batch reach a loop in one ``call_soon_threadsafe`` (one wake-up per batch, not per request)."""

    round_id: int
    round_number: int
    cycle_id: int
    council_id: int
    council: str
    author_id: int
    supply: dict[str, float]
    demand: dict[str, float]
    source: str
    key: str | None
    future: Future | None = None
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future | None = None


@dataclass(eq=False)
class Unchecked:
    """A proposal sent with a bearer token and no idempotency key, queued before any check: the
    intake checks a whole batch of them at once (:meth:`glasnost.service.rounds.Rounds.prepare_many`:
    one query for every token and one for every open round of the batch, where checking each
    request on its own costs a query and a worker-thread trip each), then stores those that pass in
    the same batch. Answered on its event loop like an :class:`IntakeItem` queued with
    :meth:`Intake.enqueue_async`."""

    token_hash: str
    cycle_id: int
    council: str
    supply: dict[str, float]
    demand: dict[str, float]
    round_number: int | None
    source: str
    future: Future | None = None
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future | None = None


class Intake:
    """The proposal writer thread of a :class:`~glasnost.service.platform.Platform`."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._queue: queue.SimpleQueue[IntakeItem | Unchecked | None] = queue.SimpleQueue()  # C: no lock in Python
        self.stats: list[tuple[int, float]] = []  # (batch size, seconds) of every batch
        self.repeat_wait = REPEAT_WAIT  # seconds a repeated key waits for its receipt (:meth:`with_receipt`)
        self._conn: Connection | None = None  # PostgreSQL: kept by the writer thread (:meth:`_transaction`)
        self._conn_used = 0.0  # when its last batch ended (time.monotonic)
        self._thread = threading.Thread(target=self._run, name="glasnost-intake", daemon=True)
        self._thread.start()

    def submit(self, item: IntakeItem, timeout: float = 60.0) -> dict[str, Any]:
        """Queue a proposal and wait until it is committed and logged; its stored form with receipt."""
        return self.with_receipt(self.enqueue(item).result(timeout=timeout))

    def with_receipt(self, answer: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """``answer`` (a proposal as stored, e.g. the stored answer of a repeated key) with its log
        receipt, waiting at most ``timeout`` seconds (default :attr:`repeat_wait`) for the receipt to
        be recorded on the row when it is not yet; :class:`UnavailableError` (503, ``Retry-After``)
        if it does not come.

        Returns at once when ``answer`` has its receipt (every first answer has). Blocks: call it
        from a worker thread, not on the event loop."""
        if answer["receipt"] is not None:
            return answer
        pid = answer["id"]
        timeout = self.repeat_wait if timeout is None else timeout
        deadline = time.monotonic() + timeout
        pause = 0.002  # seconds; doubled up to 0.1 while the row is not even handed to the log yet
        left = timeout
        while True:
            try:
                # everything queued for the log so far appended, and its receipts recorded on the rows
                self.platform.books.sync(timeout=max(left, 0.001))
            except TimeoutError:
                break
            rows = self.platform.db.lookup(_RECEIPT_SQL, (pid,))
            if rows and rows[0][0] is not None:
                index, leaf_hash = rows[0]
                return {**answer, "receipt": {"index": index, "kind": "proposal", "leaf_hash": leaf_hash}}
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(pause, left))  # committed, but its batch not handed to the log yet (or the log failed)
            pause = min(2 * pause, 0.1)
        raise UnavailableError(
            f"proposal {pid} is stored but its public-log receipt was not written within {timeout:g} s; "
            "repeat the request later",
            where=f"council {answer.get('council')}",
        )

    def enqueue(self, item: IntakeItem) -> Future:
        """Queue a proposal; the future answers like :meth:`submit`."""
        item.future = Future()
        self._queue.put(item)
        return item.future

    def enqueue_async(self, item: IntakeItem | Unchecked) -> asyncio.Future:
        """Queue a proposal from a coroutine; the asyncio future (of the running loop) answers like
        :meth:`submit` (an :class:`Unchecked` one raises the refusal its checks give, if any)."""
        item.loop = asyncio.get_running_loop()
        item.waiter = item.loop.create_future()
        self._queue.put(item)
        return item.waiter

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A batch's transaction. PostgreSQL: on a connection this thread keeps between batches (no
        pool check-out and liveness ping per batch; one that fails is given back, and the next batch
        takes a fresh one). SQLite: :meth:`~glasnost.db.engine.Database.write_connection`."""
        db = self.platform.db
        if db.settings.is_sqlite:
            with db.write_connection() as conn:
                yield conn
            return
        if self._conn is not None and time.monotonic() - self._conn_used > KEEP_IDLE:
            self._conn.close()  # idle a while (the server may have dropped it): the pool's pinged one instead
            self._conn = None
        if self._conn is None:
            self._conn = db.engine.connect()
        try:
            with self._conn.begin():
                yield self._conn
        except BaseException:
            self._conn.close()
            self._conn = None
            raise
        finally:
            self._conn_used = time.monotonic()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        if self.stats and os.environ.get("GLASNOST_INTAKE_STATS"):
            n = sum(b for b, _ in self.stats)
            busy = sum(t for _, t in self.stats)
            log.warning(
                "intake: %d proposals in %d batches, %.3f s writing (%.2f ms each)",
                n,
                len(self.stats),
                busy,
                1000 * busy / n,
            )

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            stop = self._drain(batch)
            if not stop and len(batch) < LINGER_BELOW:  # a small batch costs nearly what a big one does
                time.sleep(LINGER)
                stop = self._drain(batch)
            started = time.perf_counter()
            try:
                self._store(self._checked(batch))
                self.stats.append((len(batch), time.perf_counter() - started))
            except BaseException as exc:  # answer every waiting request; the thread carries on
                log.exception("storing %d proposals failed", len(batch))
                _settle([(item, None, exc) for item in batch], only_pending=True)
            if stop:
                break
        if self._conn is not None:
            self._conn.close()

    def _drain(self, batch: list[IntakeItem | Unchecked]) -> bool:
        """Add what is queued to ``batch`` (up to :data:`BATCH`); True if the stop sign came."""
        while len(batch) < BATCH:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return False
            if nxt is None:
                return True
            batch.append(nxt)
        return False

    def _checked(self, batch: list[IntakeItem | Unchecked]) -> list[IntakeItem]:
        """The batch with its unchecked proposals checked: those refused are answered now, those that
        pass go on as items (answered on their own loops), in the order they came."""
        unchecked = [item for item in batch if isinstance(item, Unchecked)]
        if not unchecked:
            return batch  # type: ignore[return-value]
        outcomes = dict(zip(unchecked, self.platform.rounds.prepare_many(unchecked), strict=True))
        _settle([(item, None, outcome) for item, outcome in outcomes.items() if isinstance(outcome, BaseException)])
        checked: list[IntakeItem] = []
        for item in batch:
            if isinstance(item, IntakeItem):
                checked.append(item)
            elif isinstance(outcome := outcomes[item], IntakeItem):
                outcome.loop, outcome.waiter = item.loop, item.waiter
                checked.append(outcome)
        return checked

    def _store(self, batch: list[IntakeItem]) -> None:
        if not batch:
            return
        platform = self.platform
        now = utcnow()
        accepted: list[IntakeItem] = []
        repeats: list[IntakeItem] = []  # of a key stored by an earlier batch: read back from its row
        echoes: list[tuple[IntakeItem, IntakeItem]] = []  # (repeat, its first in this batch)
        refused: list[tuple[IntakeItem, None, BaseException]] = []
        limit, window = platform.settings.submit_rate
        since = now - timedelta(seconds=window)
        with self._transaction() as conn:
            new_ids: list[int] = []
            if conn.dialect.name == "postgresql":
                open_ids, new_ids, recent = _lock_batch(conn, batch, since)
            else:
                open_ids = set(conn.scalars(_OPEN_ROUNDS, {"ids": sorted({i.round_id for i in batch})}))
                council_ids = sorted({i.council_id for i in batch})
                recent = dict(conn.execute(_RECENT, {"ids": council_ids, "since": since}).all())
            keyed = [(i.council_id, i.key) for i in batch if i.key is not None]
            taken: set[tuple[int, str]] = set()
            firsts: dict[tuple[int, str], IntakeItem] = {}  # keys first stored by this batch
            if keyed:
                taken = set(
                    conn.execute(
                        select(_PROPOSALS.c.council_id, _PROPOSALS.c.idempotency_key).where(
                            tuple_(_PROPOSALS.c.council_id, _PROPOSALS.c.idempotency_key).in_(keyed)
                        )
                    ).all()
                )
            for item in batch:
                if item.round_id not in open_ids:
                    refused.append(
                        (
                            item,
                            None,
                            ConflictError(
                                f"round {item.round_number} closed while the proposal was on its way; "
                                "the next round is open",
                                where=f"council {item.council}",
                            ),
                        )
                    )
                elif item.key is not None and (item.council_id, item.key) in taken:
                    first = firsts.get((item.council_id, item.key))
                    if first is None:
                        repeats.append(item)
                    else:
                        echoes.append((item, first))
                elif recent.get(item.council_id, 0) >= limit:
                    refused.append(
                        (
                            item,
                            None,
                            RateLimitedError(
                                f"more than {limit} proposals in {window:g} s; wait a little",
                                where=f"council {item.council}",
                            ),
                        )
                    )
                else:
                    if item.key is not None:
                        taken.add((item.council_id, item.key))
                        firsts[(item.council_id, item.key)] = item
                    recent[item.council_id] = recent.get(item.council_id, 0) + 1
                    accepted.append(item)
            receipts: list[Receipt] | None = None
            if accepted and platform.books.shares_transactions:  # rows and log entries in one commit
                payloads = _payloads(accepted, new_ids[: len(accepted)], now)
                receipts = _insert_logged(conn, accepted, payloads, now)
            elif accepted:
                payloads = _payloads(accepted, _insert_accepted(conn, accepted, now), now)
        if refused:
            _settle(refused)
        if not accepted:
            if repeats:
                _answer_repeats(platform, repeats)
            return
        if receipts is not None:
            _answer_logged(platform, accepted, payloads, receipts, echoes, repeats)
            return

        def logged(receipts: list[Receipt] | None, exc: BaseException | None) -> None:
            # on the log's writer thread, once the batch's entries are committed there (in order)
            if exc is not None:  # committed but not logged: recover() publishes it at the next start
                _settle(
                    [(item, None, exc) for item in accepted]
                    + [
                        (
                            item,
                            None,
                            UnavailableError(
                                "the proposal is stored but not yet in the public log; repeat the request later",
                                where=f"council {item.council}",
                            ),
                        )
                        for item, _ in echoes
                    ]
                )
                if repeats:
                    _answer_repeats(platform, repeats)
            else:
                _answer_logged(platform, accepted, payloads, receipts, echoes, repeats)  # type: ignore[arg-type]

        # the log's writer answers the whole batch once its entries are committed there too; meanwhile
        # this thread goes on to the next batch (the two commits of consecutive batches overlap)
        platform.books.publish_batch(
            [Publication("proposal", p, m.Proposal.__table__, p["id"]) for p in payloads], logged
        )


Outcome = tuple["IntakeItem | Unchecked", "dict[str, Any] | None", "BaseException | None"]


def _payloads(accepted: list[IntakeItem], ids: list[int], now: datetime) -> list[dict[str, Any]]:
    """The log entries' payloads of a batch's stored proposals (also their answers, with the receipt)."""
    at = now.isoformat(timespec="seconds") + "Z"
    return [
        {
            "id": pid,
            "round_id": i.round_id,
            "council_id": i.council_id,
            "supply": i.supply,
            "demand": i.demand,
            "source": i.source,
            "at": at,
            "council": i.council,
            "round": i.round_number,
            "cycle": i.cycle_id,
        }
        for i, pid in zip(accepted, ids, strict=True)
    ]


def _answer_logged(
    platform: Platform,
    accepted: list[IntakeItem],
    payloads: list[dict[str, Any]],
    receipts: list[Receipt],
    echoes: list[tuple[IntakeItem, IntakeItem]],
    repeats: list[IntakeItem],
) -> None:
    """Answer a batch whose proposals are committed and in the log (the repeats of keys stored by
    earlier batches afterwards)."""
    answers = {
        item: {**payload, "receipt": r.to_json(), "repeated": False}
        for item, payload, r in zip(accepted, payloads, receipts, strict=True)
    }
    # a repeat in the batch of its first gets the first's answer (its row may have no receipt yet)
    _settle(
        [(item, answer, None) for item, answer in answers.items()]
        + [(item, {**answers[first], "repeated": True}, None) for item, first in echoes]
    )
    if repeats:
        _answer_repeats(platform, repeats)


def _lock_batch(
    conn: Connection, batch: list[IntakeItem], since: datetime
) -> tuple[set[int], list[int], dict[int, int]]:
    """PostgreSQL: lock the batch's rounds (those still open, ``FOR SHARE``) and councils (``FOR
    UPDATE``, in id order), take one new proposal id per item (the log entries name them, so they
    are known before the rows are written), then count each council's proposals since ``since``:
    the open rounds, the new ids and the counts. The count is a statement of its own, so that its
    snapshot comes after the locks (it sees what a batch of the same council that held them wrote)."""
    cur = conn.connection.cursor()
    try:
        councils = sorted({i.council_id for i in batch})
        cur.execute(_PG_LOCK_BATCH, (sorted({i.round_id for i in batch}), councils, len(batch)))
        open_ids, new_ids = cur.fetchone()
        cur.execute(_PG_RECENT, (councils, since))
        return set(open_ids), new_ids, dict(cur.fetchall())
    finally:
        cur.close()


def _insert_logged(
    conn: Connection, accepted: list[IntakeItem], payloads: list[dict[str, Any]], now: datetime
) -> list[Receipt]:
    """PostgreSQL, the log in the same database: append the batch's entries, store its rows with
    their receipts and its audit events, in one statement of the batch's transaction (so a
    proposal is committed exactly when its entry is; no receipt recorded later, nothing for
    :meth:`~glasnost.service.openbooks.OpenBooks.recover` to publish). The log's head stays locked
    from this statement to the commit."""
    from glasnost.ledger import Receipt, entry_bytes, leaf_hash

    entries = [entry_bytes("proposal", p) for p in payloads]
    hashes = [leaf_hash(e) for e in entries]
    ids = [p["id"] for p in payloads]
    cur = conn.connection.cursor()
    try:
        cur.execute(
            _PG_INSERT_LOGGED,
            (
                ["proposal"] * len(entries),
                entries,
                hashes,
                now,
                [i.author_id for i in accepted],
                [_audit_target(i, pid) for i, pid in zip(accepted, ids, strict=True)],
                now,
                ids,
                *_columns(accepted),
                [h.hex() for h in hashes],
            ),
        )
        start = cur.fetchone()[0]
    finally:
        cur.close()
    return [Receipt(start + n, h, "proposal") for n, h in enumerate(hashes)]


def _columns(accepted: list[IntakeItem]) -> tuple[list[Any], ...]:
    """A batch's proposals as the columns PostgreSQL's array statements take: rounds, councils,
    authors, supplies and demands (JSON text), sources, idempotency keys."""
    return (
        [i.round_id for i in accepted],
        [i.council_id for i in accepted],
        [i.author_id for i in accepted],
        [orjson.dumps(i.supply).decode() for i in accepted],
        [orjson.dumps(i.demand).decode() for i in accepted],
        [i.source for i in accepted],
        [i.key for i in accepted],
    )


def _insert_accepted(conn: Connection, accepted: list[IntakeItem], now: datetime) -> list[int]:
    """Store the accepted proposals of a batch and their audit events; the proposals' new ids, in order."""
    if conn.dialect.name == "postgresql":
        cur = conn.connection.cursor()
        try:
            cur.execute(
                _PG_INSERT_PROPOSALS,
                (now, *_columns(accepted)),
            )
            # rows come in the order of their ids, which the sequence gave in the ORDER BY's order
            ids = sorted(row[0] for row in cur.fetchall())
            targets = [_audit_target(i, pid) for i, pid in zip(accepted, ids, strict=True)]
            cur.execute(_PG_INSERT_AUDIT, (now, [i.author_id for i in accepted], targets))
        finally:
            cur.close()
        return ids
    rows = [
        {
            "round_id": i.round_id,
            "council_id": i.council_id,
            "author_id": i.author_id,
            "supply": i.supply,
            "demand": i.demand,
            "source": i.source,
            "idempotency_key": i.key,
            "created_at": now,
        }
        for i in accepted
    ]
    ids = list(conn.scalars(_INSERT_PROPOSALS, rows))
    conn.execute(
        _INSERT_AUDIT,
        [
            {"account_id": i.author_id, "action": "submit", "target": _audit_target(i, pid), "at": now}
            for i, pid in zip(accepted, ids, strict=True)
        ],
    )
    return ids


def _audit_target(item: IntakeItem, proposal_id: int) -> str:
    return f"cycle {item.cycle_id} round {item.round_number}: {item.council} proposal {proposal_id}"


def _settle(outcomes: list[Outcome], *, only_pending: bool = False) -> None:
    """Answer items with (result, error): threads through their futures, coroutines through one
    ``call_soon_threadsafe`` per event loop for all of them."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        item, result, exc = outcome
        if item.loop is not None:
            by_loop.setdefault(item.loop, []).append(outcome)
        elif item.future is not None and not (only_pending and item.future.done()):
            if exc is not None:
                item.future.set_exception(exc)
            else:
                item.future.set_result(result)
    for loop, group in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_on_loop, group)
        except RuntimeError:  # the loop has closed: nobody waits any more
            log.warning("%d answers for a closed event loop dropped", len(group))


def _settle_on_loop(outcomes: list[Outcome]) -> None:
    for item, result, exc in outcomes:
        waiter = item.waiter
        if waiter is None or waiter.done():  # e.g. the request was cancelled (client gone)
            continue
        if exc is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_result(result)


def _answer_repeats(platform: Platform, repeats: list[IntakeItem]) -> None:
    """Answer repeated idempotency keys with the stored proposal (read now; its receipt may not be
    recorded yet, which the requests then wait for: :meth:`Intake.with_receipt`)."""
    outcomes: list[Outcome] = []
    for item in repeats:
        try:
            outcomes.append((item, platform.rounds.keyed(item.council_id, item.key), None))  # type: ignore[arg-type]
        except BaseException as exc:
            outcomes.append((item, None, exc))
    _settle(outcomes)
