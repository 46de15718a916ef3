"""A repeated idempotency key answers exactly what the first answer said, on SQLite and PostgreSQL,
through a real HTTP server (uvicorn in a thread of the test): repeats launched while the first
submission is in flight, and repeats sent back to back right after its answer, all carry the same
non-null log receipt, and one proposal (one row, one log entry) is stored.

The receipt is recorded on the proposal's row a little after the row is committed (the open books
record receipts lazily, see :mod:`glasnost.service.openbooks`); a repeat that read the row in that
window used to answer ``"receipt": null``. A receipt that never comes answers 503 with
``Retry-After``, never a null receipt."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from service_support import BOARD, Backend, delegate, make_backend
from sqlalchemy import select

from glasnost.service import models as m

REPEATS = 6  # concurrent repeats of each key, launched with the first submission
BACK_TO_BACK = 4  # repeats sent one after another right after the first answer
KEYS = 3  # keys (each a fresh race) per test


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path)


@pytest.fixture
def served(backend: Backend) -> Iterator[tuple[str, Any]]:
    """(base URL, platform) of the app served by uvicorn on a free port, in a thread of this process."""
    from glasnost.service.app import create_app

    app = create_app(backend.settings(submit_rate=(1000, 60.0)))
    platform = app.state.platform
    platform.accounts.create(*BOARD, board=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start within 30 s"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", platform
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _submit_with_repeats(url: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> list[httpx.Response]:
    """The first submission and ``REPEATS`` repeats of it, all released at once (one thread and one
    connection each), then ``BACK_TO_BACK`` repeats one after another once all have answered."""
    gate = threading.Barrier(REPEATS + 1)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=30) as client:
            client.get("/healthz")  # connected before the gate opens
            gate.wait(timeout=30)
            return client.post(path, json=body, headers=headers)

    with ThreadPoolExecutor(REPEATS + 1) as pool:
        answers = list(pool.map(post, range(REPEATS + 1)))
    with httpx.Client(base_url=url, timeout=30) as client:
        answers += [client.post(path, json=body, headers=headers) for _ in range(BACK_TO_BACK)]
    return answers


def test_repeats_in_flight_and_back_to_back_answer_the_same_receipt(served: tuple[str, Any]) -> None:
    url, platform = served
    with httpx.Client(base_url=url, timeout=30) as http:
        r = http.post("/api/login", json={"username": BOARD[0], "password": BOARD[1]})
        board = {"Authorization": f"Bearer {r.json()['token']}"}
        cycle = http.post("/api/cycles", json={"name": "repeats"}, headers=board).json()["id"]
        token = delegate(http, board, cycle, "make-agriculture-0", "alice")
    path = f"/api/cycles/{cycle}/proposals"
    firsts: dict[str, dict[str, Any]] = {}
    for n in range(KEYS):
        key = f"key-{n}"
        body = {"council": "make-agriculture-0", "round": 1, "supply": {"agriculture": 1.0 + n}}
        answers = _submit_with_repeats(url, path, body, {**token, "Idempotency-Key": key})
        assert [a.status_code for a in answers] == [201] * len(answers), [a.text for a in answers]
        got = [a.json() for a in answers]
        nulls = sum(g["receipt"] is None for g in got)
        assert nulls == 0, f"{key}: {nulls} of {len(got)} answers carry a null receipt: {got}"
        [first] = [g for g in got if g["repeated"] is False]
        assert sum(g["repeated"] for g in got) == len(got) - 1, f"{key}: not exactly one first answer"
        for g in got:  # every repeat says exactly what the first answer said
            assert {**g, "repeated": False} == first, f"{key}: a repeat differs from the first answer"
        firsts[key] = first
    # one row per key, with the receipt every answer gave; one log entry per row
    platform.books.sync()
    with platform.db.read() as s:
        rows = s.execute(select(m.Proposal.idempotency_key, m.Proposal.id, m.Proposal.ledger_index)).all()
    assert sorted(rows) == sorted((k, a["id"], a["receipt"]["index"]) for k, a in firsts.items())
    entries = platform.books.call(lambda ledger: [e for e in ledger.entries(0, ledger.size) if e.kind == "proposal"])
    assert sorted(e.payload["id"] for e in entries) == sorted(a["id"] for a in firsts.values())
    for e in entries:
        [a] = [a for a in firsts.values() if a["id"] == e.payload["id"]]
        assert (e.index, e.leaf_hash.hex()) == (a["receipt"]["index"], a["receipt"]["leaf_hash"])


def test_a_receipt_that_never_comes_answers_503_with_retry_after(served: tuple[str, Any]) -> None:
    """A keyed proposal stored but never logged (as when the log write failed: the next start
    publishes it) answers its repeat with 503 and ``Retry-After`` after the bounded wait."""
    url, platform = served
    with httpx.Client(base_url=url, timeout=30) as http:
        r = http.post("/api/login", json={"username": BOARD[0], "password": BOARD[1]})
        board = {"Authorization": f"Bearer {r.json()['token']}"}
        cycle = http.post("/api/cycles", json={"name": "lost receipt"}, headers=board).json()["id"]
        token = delegate(http, board, cycle, "make-agriculture-0", "alice")
        council_id = platform.cycles.council(cycle, "make-agriculture-0")[0]
        with platform.db.write() as s:
            author = s.scalar(select(m.Account.id).where(m.Account.username == "alice"))
            round_id = s.scalar(select(m.Round.id).where(m.Round.cycle_id == cycle, m.Round.number == 1))
            row = m.Proposal(
                round_id=round_id,
                council_id=council_id,
                author_id=author,
                supply={"agriculture": 1.0},
                demand={},
                source="api",
                idempotency_key="lost",
            )
            s.add(row)
            s.flush()
            pid = row.id
        platform.intake.repeat_wait = 0.3
        body = {"council": "make-agriculture-0", "supply": {"agriculture": 1.0}}
        started = time.monotonic()
        r = http.post(f"/api/cycles/{cycle}/proposals", json=body, headers={**token, "Idempotency-Key": "lost"})
        waited = time.monotonic() - started
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "5"
    assert f"proposal {pid} is stored but its public-log receipt was not written within 0.3 s" in r.json()["detail"]
    assert 0.3 <= waited < 5, f"the repeat waited {waited:.2f} s, not about the 0.3 s bound"
    from glasnost.service.accounts import Viewer
    from glasnost.service.errors import UnavailableError  # (imported here: the HTTP checks come first)

    viewer = Viewer(author, "alice", False, "bearer", frozenset({council_id}))
    with pytest.raises(UnavailableError, match=f"proposal {pid} is stored"):
        platform.rounds.submit(viewer, cycle, "make-agriculture-0", {"agriculture": 1.0}, {}, idempotency_key="lost")
