"""Two ``glasnost serve`` processes on one PostgreSQL schema, as a federation would deploy them behind
a load balancer, started in different working directories with the same master secret:

* 300 councils submit at once, spread over both processes, while the board closes round 1 through
  one of them: every proposal acknowledged with 201 is in its round's result, council by council,
  and no council is counted both as answered and modelled; the process that did not close the
  round takes the next round's proposals at once.
* 10 simultaneous closes of one round over both processes close it once: every answer is that
  result (or 409), none is a 500, and one round follows.
* A token logged out through one process is refused by the other on the next request.
* Both sign with one key: ``glasnost verify`` holds through either.
* SIGKILL of one process during a burst loses no acknowledged proposal, and the log verifies
  through either process once it is back.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_support import BOARD, Backend, Server, free_port, glasnost_process, make_backend
from sqlalchemy import select

pytestmark = pytest.mark.postgresql  # every test here runs several processes on one PostgreSQL database

SECRET = {"GLASNOST_SECRET": "the federation's master secret, shared by every process"}


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend("postgresql", tmp_path)


def _glasnost(*args: str, cwd: Path, env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen:
    return glasnost_process(*args, cwd=cwd, env={**SECRET, **(env or {})}, **kw)


@pytest.fixture
def pair(backend: Backend, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Two servers, a board token, a cycle of 150 worker and 150 consumer councils, a delegate token
    for each council (written straight into the database), and each council's modelled proposal."""
    (tmp_path / "a").mkdir()
    made = _glasnost(
        "admin", "create-board", BOARD[0], *backend.cli_args(), cwd=tmp_path / "a", env={"GLASNOST_PASSWORD": BOARD[1]}
    )
    assert made.wait(timeout=60) == 0
    a, b = Server(backend, tmp_path / "a", SECRET).start(), Server(backend, tmp_path / "b", SECRET).start()
    try:
        http = httpx.Client(timeout=60)
        login = http.post(a.url + "/api/login", json=dict(zip(("username", "password"), BOARD, strict=True)))
        board = {"Authorization": "Bearer " + login.json()["token"]}
        cycle = http.post(
            a.url + "/api/cycles", json={"name": "two processes", "source": "generated:150"}, headers=board
        )
        assert cycle.status_code == 201, cycle.text
        summary = cycle.json()
        tokens = _seat_delegates(backend, summary["id"])
        yield {
            "a": a,
            "b": b,
            "board": board,
            "cycle": summary["id"],
            "tokens": tokens,
            "bodies": _modelled(summary["id"], backend, summary["round"]["prices"]),
            "backend": backend,
        }
    finally:
        a.stop()
        b.stop()


def _seat_delegates(backend: Backend, cycle: int) -> dict[str, str]:
    """A delegate account with a bearer token for every council of the cycle (council code -> token)."""
    from datetime import timedelta

    from glasnost.db import Database, utcnow
    from glasnost.service import models as m
    from glasnost.service.security import hash_token, new_token

    db = Database(backend.settings())
    try:
        with db.write() as s:
            councils = dict(s.execute(select(m.Council.code, m.Council.id).where(m.Council.cycle_id == cycle)).all())
            codes = sorted(councils)
            s.execute(
                m.Account.__table__.insert(),
                [{"username": f"d-{c}", "password_hash": "x", "is_board": False} for c in codes],
            )
            account = dict(s.execute(select(m.Account.username, m.Account.id)).all())
            s.execute(
                m.Membership.__table__.insert(),
                [
                    {"account_id": account[f"d-{c}"], "cycle_id": cycle, "council_id": councils[c], "role": role}
                    for c in codes
                    for role in ("delegate", "member")
                ],
            )
            tokens = {c: new_token() for c in codes}
            s.execute(
                m.SessionToken.__table__.insert(),
                [
                    {
                        "token_hash": hash_token(tokens[c]),
                        "account_id": account[f"d-{c}"],
                        "kind": "bearer",
                        "label": "",
                        "expires_at": utcnow() + timedelta(days=1),
                    }
                    for c in codes
                ],
            )
        return tokens
    finally:
        db.dispose()


def _modelled(cycle: int, backend: Backend, prices: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Each council's modelled proposal at the round's prices (consumers ask for half: within budget at the
    next round's prices too)."""
    from glasnost.db import Database
    from glasnost.service import models as m
    from glasnost.service.planning import CycleEngine, economy_from_zip

    db = Database(backend.settings())
    try:
        with db.read() as s:
            eng = CycleEngine(economy_from_zip(s.get(m.Cycle, cycle).economy))
    finally:
        db.dispose()
    bodies = {}
    for kind, ids in (("worker", eng.worker_ids), ("consumer", eng.consumer_ids)):
        for code in ids:
            supply, demand = eng.modelled(str(code), kind, prices)
            bodies[str(code)] = {
                "council": str(code),
                "supply": supply,
                "demand": {k: v * 0.5 for k, v in demand.items()},
            }
    return bodies


async def _burst(
    pair: dict[str, Any],
    councils: list[str],
    *,
    during: Any = None,
    after: int = 0,
    concurrency: int = 60,
    **extra: Any,
) -> list[httpx.Response]:
    """Every council submits once, alternating between the two servers; ``during()`` runs once
    ``after`` answers have come back."""
    urls = [pair["a"].url, pair["b"].url]
    answered = asyncio.Event()
    count = 0
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=2 * concurrency)) as client:

        async def submit(i: int, code: str) -> httpx.Response:
            nonlocal count
            async with gate:
                r = await client.post(
                    f"{urls[i % 2]}/api/cycles/{pair['cycle']}/proposals",
                    json={**pair["bodies"][code], **extra},
                    headers={"Authorization": "Bearer " + pair["tokens"][code]},
                )
            count += 1
            if count >= after:
                answered.set()
            return r

        async def side() -> Any:
            await answered.wait()
            return await during(client)

        tasks = [asyncio.create_task(submit(i, c)) for i, c in enumerate(councils)]
        side_task = asyncio.create_task(side()) if during is not None else None
        answers = await asyncio.gather(*tasks)
        if side_task is not None:
            pair["side"] = await side_task
    return answers


def test_acknowledged_proposals_are_in_the_result_and_a_round_closes_once(pair: dict[str, Any]) -> None:
    a, b, board, cycle = pair["a"], pair["b"], pair["board"], pair["cycle"]
    councils = sorted(pair["tokens"])
    assert len(councils) == 300

    async def close_round_1(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(f"{a.url}/api/cycles/{cycle}/rounds/1/close", headers=board)

    # no round named: a proposal goes to whichever round is open when it is checked
    answers = asyncio.run(_burst(pair, councils, during=close_round_1, after=100))
    assert pair["side"].status_code == 200, pair["side"].text
    statuses = {r.status_code for r in answers}
    assert statuses <= {201, 409}, [r.text for r in answers if r.status_code not in (201, 409)][:3]
    acked = [r.json() for r in answers if r.status_code == 201]
    assert any(x["round"] == 1 for x in acked) and any(x["round"] == 2 for x in acked)  # both processes took round 2

    http = httpx.Client(timeout=60)
    round1 = http.get(f"{b.url}/api/cycles/{cycle}/rounds/1").json()
    result = round1["result"]
    stored = {p["council"] for p in round1["proposals"]}
    for ack in (x for x in acked if x["round"] == 1):
        assert ack["council"] in result["answered"], ack
        assert result["proposals"][ack["council"]] == ack["id"], ack
    assert stored == set(result["answered"])  # nothing stored in round 1 was computed as modelled
    assert result["modelled"] == 300 - len(result["answered"])
    refused = [r.json()["detail"] for r in answers if r.status_code == 409]
    assert all("round 1 closed while the proposal was on its way" in d for d in refused), refused[:3]

    # ten simultaneous closes of round 2, five through each process
    async def closes() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            return await asyncio.gather(
                *(client.post(f"{u}/api/cycles/{cycle}/rounds/2/close", headers=board) for u in [a.url, b.url] * 5)
            )

    answers2 = asyncio.run(closes())
    assert {r.status_code for r in answers2} <= {200, 409}, [r.text for r in answers2]
    results = [r.json() for r in answers2 if r.status_code == 200]
    assert results and all(x == results[0] for x in results)
    for ack in (x for x in acked if x["round"] == 2):
        assert results[0]["proposals"][ack["council"]] == ack["id"]
    summary = http.get(f"{a.url}/api/cycles/{cycle}").json()
    assert [h["round"] for h in summary["history"]] == [1, 2] and summary["round"]["number"] == 3
    entries = http.get(f"{b.url}/api/log/entries", params={"start": 0, "stop": 1000}).json()["entries"]
    closed = [e["payload"]["round"] for e in entries if e["kind"] == "round-result"]
    assert closed == [1, 2]  # each round published once

    # a token logged out through one process is refused by the other at once
    code = councils[0]
    me = {"Authorization": "Bearer " + pair["tokens"][code]}
    assert http.get(f"{a.url}/api/me", headers=me).json()["username"] == f"d-{code}"
    assert http.post(f"{b.url}/api/logout", headers=me).json() == {"revoked": True}
    assert http.get(f"{a.url}/api/me", headers=me).json()["anonymous"] is True
    late = http.post(f"{a.url}/api/cycles/{cycle}/proposals", json=pair["bodies"][code], headers=me)
    assert late.status_code == 401

    # one signing key whichever process signs: the log verifies through either, with that key
    key = http.get(f"{a.url}/api/log").json()["public_key"]
    assert http.get(f"{b.url}/api/log").json()["public_key"] == key
    _verify(a, key)
    _verify(b, key)


def _verify(server: Server, key: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "glasnost.cli", "verify", server.url, "--key", key],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_sigkill_of_one_process_loses_no_acknowledged_proposal(pair: dict[str, Any]) -> None:
    a, b, cycle = pair["a"], pair["b"], pair["cycle"]
    councils = sorted(pair["tokens"])

    answers: list[Any] = []

    async def burst_killing_a() -> None:
        urls = [a.url, b.url]
        gate = asyncio.Semaphore(60)
        done = 0
        killed = False
        async with httpx.AsyncClient(timeout=60) as client:

            async def submit(i: int, code: str) -> Any:
                nonlocal done, killed
                async with gate:
                    try:
                        r = await client.post(
                            f"{urls[i % 2]}/api/cycles/{cycle}/proposals",
                            json={**pair["bodies"][code], "round": 1},
                            headers={"Authorization": "Bearer " + pair["tokens"][code]},
                        )
                    except httpx.HTTPError as exc:
                        return exc  # the process is gone: not acknowledged
                done += 1
                if done >= 60 and not killed:
                    killed = True
                    a.kill()
                return r

            answers.extend(await asyncio.gather(*(submit(i, c) for i, c in enumerate(councils))))

    asyncio.run(burst_killing_a())
    acked = [r.json() for r in answers if isinstance(r, httpx.Response) and r.status_code == 201]
    assert len(acked) >= 60
    assert all(r.status_code < 500 for r in answers if isinstance(r, httpx.Response))
    a.start()
    http = httpx.Client(timeout=60)
    for ack in acked:
        for server in (a, b):
            got = http.get(f"{server.url}/api/cycles/{cycle}/proposals/{ack['id']}")
            assert got.status_code == 200 and got.json()["receipt"] == ack["receipt"], ack
        entry = http.get(f"{b.url}/api/log/entries/{ack['receipt']['index']}").json()
        assert entry["leaf_hash"] == ack["receipt"]["leaf_hash"] and entry["payload"]["id"] == ack["id"]
    key = http.get(f"{b.url}/api/log").json()["public_key"]
    _verify(a, key)
    _verify(b, key)


def test_serve_with_workers_starts_on_an_empty_schema_and_serves(backend: Backend, tmp_path: Path) -> None:
    """``glasnost serve --workers 2`` on a schema nothing has migrated yet: the processes start
    together without tripping over each other's migrations, and serve one platform."""
    port = free_port()
    log = open(tmp_path / "workers.log", "ab")  # noqa: SIM115 - the server owns it until it exits
    proc = _glasnost(
        "serve", "--port", str(port), "--workers", "2", *backend.cli_args(), cwd=tmp_path, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError((tmp_path / "workers.log").read_text()[-3000:])
        made = _glasnost(
            "admin", "create-board", BOARD[0], *backend.cli_args(), cwd=tmp_path, env={"GLASNOST_PASSWORD": BOARD[1]}
        )
        assert made.wait(timeout=60) == 0
        http = httpx.Client(base_url=url, timeout=60)
        token = http.post("/api/login", json=dict(zip(("username", "password"), BOARD, strict=True))).json()["token"]
        cycles = [
            http.post("/api/cycles", json={"name": f"c{i}"}, headers={"Authorization": f"Bearer {token}"})
            for i in range(4)
        ]
        assert [c.status_code for c in cycles] == [201] * 4
        assert {c["name"] for c in http.get("/api/cycles").json()} == {"c0", "c1", "c2", "c3"}
        assert "Traceback" not in (tmp_path / "workers.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
