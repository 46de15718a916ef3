"""The proposal writer (:class:`glasnost.service.intake.Intake`) on SQLite and PostgreSQL, without
HTTP: requests awaiting on an event loop are answered per batch (one hand-off per loop), each with
its own entry in the public log; a key repeated while the first is still on its way counts once; a
proposal for a round that closed on its way is refused and not stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from service_support import BOARD, PG_PLAIN, make_backend
from sqlalchemy import func, select

from glasnost.procedures import RoundContext
from glasnost.service import models as m
from glasnost.service.accounts import Viewer
from glasnost.service.errors import ConflictError
from glasnost.service.intake import KEEP_IDLE
from glasnost.service.platform import Platform

LOG_APART = "postgresql://postgres@127.0.0.1:5432/postgres"  # a database of its own, beside "test"


@pytest.fixture(params=["sqlite", "postgresql", "postgresql, log apart"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A platform with a generated cycle (100 worker and 100 consumer councils) and one delegate for each
    of 30 worker councils (seats written straight into the database), and the councils' modelled proposals.

    On PostgreSQL the public log lives in the platform's schema (rows and entries then commit
    together), or apart (another database: entries appended by the log's own writer after the rows)."""
    kind, _, apart = request.param.partition(", ")
    for backend in make_backend(kind, tmp_path):
        extra = {"ledger_path": LOG_APART} if apart else {}
        platform = Platform(backend.settings(**extra))
        assert platform.books.shares_transactions == (request.param == "postgresql")
        try:
            board_id = platform.accounts.create(*BOARD, board=True)
            board = Viewer(board_id, BOARD[0], True, "system")
            cycle = platform.cycles.create(board, "intake", "generated:100")
            eng = platform.cycles.engine(cycle)
            p = eng.price_vector(eng.initial_prices())
            ws, wd = eng.workers_model.propose(RoundContext(1, p, np.zeros_like(p), {})).matrices()
            ids = eng.commodity_ids

            def row(M: Any, i: int, ids: Any = ids) -> dict[str, float]:
                lo, hi = M.indptr[i], M.indptr[i + 1]
                return {str(ids[j]): float(v) for j, v in zip(M.indices[lo:hi], M.data[lo:hi], strict=True)}

            councils = [str(c) for c in eng.worker_ids[:30]]
            bodies = {c: (row(ws, i), row(wd, i)) for i, c in enumerate(councils)}
            with platform.db.write() as s:
                seat = dict(s.execute(select(m.Council.code, m.Council.id).where(m.Council.cycle_id == cycle)).all())
                s.execute(
                    m.Account.__table__.insert(),
                    [{"username": f"d-{c}", "password_hash": "x", "is_board": False} for c in councils],
                )
                account = dict(s.execute(select(m.Account.username, m.Account.id)).all())
                s.execute(
                    m.Membership.__table__.insert(),
                    [
                        {"account_id": account[f"d-{c}"], "cycle_id": cycle, "council_id": seat[c], "role": "delegate"}
                        for c in councils
                    ],
                )
            viewers = {c: Viewer(account[f"d-{c}"], f"d-{c}", False, "bearer", frozenset({seat[c]})) for c in councils}
            yield {"platform": platform, "board": board, "cycle": cycle, "bodies": bodies, "viewers": viewers}
        finally:
            platform.close()
            if apart:
                with psycopg.connect(LOG_APART, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{backend.schema}" CASCADE')


def _items(setup: dict[str, Any], councils: list[str], key: str | None = None) -> list[Any]:
    platform, cycle = setup["platform"], setup["cycle"]
    return [
        platform.rounds.prepare(setup["viewers"][c], cycle, c, *setup["bodies"][c], idempotency_key=key)
        for c in councils
    ]


def test_awaiting_requests_get_each_their_own_logged_entry(setup: dict[str, Any]) -> None:
    platform = setup["platform"]
    councils = sorted(setup["bodies"])
    items = _items(setup, councils)

    async def submit_all() -> list[dict[str, Any]]:
        return await asyncio.gather(*(platform.intake.enqueue_async(item) for item in items))

    answers = asyncio.run(submit_all())
    assert [a["council"] for a in answers] == councils
    assert all(a["repeated"] is False for a in answers)
    indices = [a["receipt"]["index"] for a in answers]
    assert len(set(indices)) == len(councils)
    # read back independently: each receipt's log entry is this council's proposal, as stored
    entries = platform.books.call(lambda ledger: {i: ledger.entry(i) for i in indices})
    for a in answers:
        entry = entries[a["receipt"]["index"]]
        assert entry.leaf_hash.hex() == a["receipt"]["leaf_hash"]
        assert entry.payload["id"] == a["id"] and entry.payload["council"] == a["council"]
        assert entry.payload["supply"] == pytest.approx(setup["bodies"][a["council"]][0])
    if platform.books.shares_transactions:  # each row was stored with its receipt
        with platform.db.read() as s:
            rows = s.execute(select(m.Proposal.id, m.Proposal.ledger_index, m.Proposal.leaf_hash)).all()
        stored = {pid: (idx, h) for pid, idx, h in rows}
        assert stored == {a["id"]: (a["receipt"]["index"], a["receipt"]["leaf_hash"]) for a in answers}
    platform.books.sync()  # the receipts are recorded on the rows (lazily, in one transaction)
    with platform.db.read() as s:
        recorded = dict(s.execute(select(m.Proposal.id, m.Proposal.ledger_index)).all())
    assert recorded == {a["id"]: a["receipt"]["index"] for a in answers}


def test_a_thread_and_coroutines_share_the_writer(setup: dict[str, Any]) -> None:
    platform = setup["platform"]
    councils = sorted(setup["bodies"])
    first, rest = councils[0], councils[1:]
    items = _items(setup, rest)

    async def submit_all() -> list[Any]:
        waiting = [platform.intake.enqueue_async(item) for item in items]
        blocking = asyncio.to_thread(
            platform.rounds.submit, setup["viewers"][first], setup["cycle"], first, *setup["bodies"][first]
        )
        return await asyncio.gather(blocking, *waiting)

    answers = asyncio.run(submit_all())
    assert sorted(a["council"] for a in answers) == councils
    assert len({a["receipt"]["index"] for a in answers}) == len(councils)


def test_a_key_repeated_on_its_way_counts_once(setup: dict[str, Any]) -> None:
    platform = setup["platform"]
    council = sorted(setup["bodies"])[3]
    twice = _items(setup, [council, council], key="same-key")  # both checked before either is stored

    async def submit_both() -> list[dict[str, Any]]:
        return await asyncio.gather(*(platform.intake.enqueue_async(item) for item in twice))

    a, b = asyncio.run(submit_both())
    # the two may land in one batch or in two; a repeat read back before its receipt is recorded on
    # the row waits for it, as the API does (routes.rounds.api_submit)
    a, b = (platform.intake.with_receipt(x) for x in (a, b))
    assert a["id"] == b["id"]
    assert sorted([a["repeated"], b["repeated"]]) == [False, True]
    # the repeat says what the first said, receipt included (not yet recorded on the row when answered)
    assert a["receipt"] is not None and {**a, "repeated": None} == {**b, "repeated": None}
    with platform.db.read() as s:
        assert s.scalar(select(func.count()).select_from(m.Proposal)) == 1


def test_a_round_closed_on_the_way_refuses_and_stores_nothing(setup: dict[str, Any]) -> None:
    platform = setup["platform"]
    council = sorted(setup["bodies"])[0]
    [item] = _items(setup, [council])
    platform.rounds.close(setup["board"], setup["cycle"], 1)

    async def submit() -> Any:
        return await platform.intake.enqueue_async(item)

    with pytest.raises(ConflictError, match="round 1 closed while the proposal was on its way"):
        asyncio.run(submit())
    with platform.db.read() as s:
        assert s.scalar(select(func.count()).select_from(m.Proposal)) == 0
        assert isinstance(s.scalar(select(m.Round.closed_at).where(m.Round.number == 1)), datetime)


def test_unchecked_proposals_are_checked_with_their_batch_each_answered_alone(setup: dict[str, Any]) -> None:
    """The API's bearer path queues proposals unchecked; the intake checks the batch together (one
    query for all tokens, one for the open rounds) and answers each with its own outcome: the good
    ones stored and logged, each refusal the same error a lone request gets, and nothing stored for it."""
    from glasnost.service.errors import ForbiddenError, NotFoundError, UnauthorizedError
    from glasnost.service.intake import Unchecked
    from glasnost.service.security import hash_token, new_token

    platform, cycle = setup["platform"], setup["cycle"]
    councils = sorted(setup["bodies"])
    tokens = {c: new_token() for c in councils}
    with platform.db.write() as s:
        s.execute(
            m.SessionToken.__table__.insert(),
            [
                {
                    "token_hash": hash_token(tokens[c]),
                    "account_id": setup["viewers"][c].account_id,
                    "kind": "bearer",
                    "expires_at": datetime(2100, 1, 1),
                }
                for c in councils
            ],
        )

    def unchecked(token: str, council: str, round_number: int | None = None) -> Unchecked:
        supply, demand = setup["bodies"].get(council, ({}, {}))
        return Unchecked(hash_token(token), cycle, council, supply, demand, round_number, "api")

    good = councils[:20]
    batch = [unchecked(tokens[c], c) for c in good]
    batch += [
        unchecked("not-a-token", councils[20]),  # nobody
        unchecked(tokens[councils[21]], councils[22]),  # another council's delegate
        unchecked(tokens[councils[23]], councils[23], round_number=2),  # a round not open yet
        unchecked(tokens[councils[24]], "no-such-council"),
    ]
    checked_first = _items(setup, [councils[25]])  # an item checked the old way, in the same batch

    async def submit_all() -> list[Any]:
        waiting = [platform.intake.enqueue_async(u) for u in batch]
        waiting += [platform.intake.enqueue_async(item) for item in checked_first]
        return await asyncio.gather(*waiting, return_exceptions=True)

    answers = asyncio.run(submit_all())
    stored_answers = answers[: len(good)] + answers[-1:]
    assert [a["council"] for a in stored_answers] == [*good, councils[25]]
    assert len({a["receipt"]["index"] for a in stored_answers}) == len(good) + 1
    refusals = answers[len(good) : -1]
    assert [type(r) for r in refusals] == [UnauthorizedError, ForbiddenError, ConflictError, NotFoundError]
    assert "round 2 is not open yet; round 1 is open" in str(refusals[2])
    with platform.db.read() as s:
        stored = set(
            s.execute(select(m.Council.code).join(m.Proposal, m.Proposal.council_id == m.Council.id)).scalars()
        )
    assert stored == {*good, councils[25]}


@pytest.mark.parametrize("setup", ["postgresql", "postgresql, log apart"], indirect=True)  # SQLite: no server
def test_a_connection_the_server_dropped_between_batches_fails_no_proposal(setup: dict[str, Any]) -> None:
    """The writer keeps its PostgreSQL connection between batches; one the server drops while it is
    idle (a restart, an idle timeout) is replaced before the next batch, not used and failed."""
    platform = setup["platform"]
    councils = sorted(setup["bodies"])
    assert platform.intake.submit(_items(setup, councils[:1])[0])["receipt"] is not None
    pid = platform.intake._conn.connection.driver_connection.info.backend_pid
    with psycopg.connect(PG_PLAIN, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    time.sleep(KEEP_IDLE + 0.2)
    answer = platform.intake.submit(_items(setup, councils[1:2])[0])
    assert answer["council"] == councils[1] and answer["receipt"] is not None
