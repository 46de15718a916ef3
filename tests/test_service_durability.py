"""Durability on SQLite and PostgreSQL: ``glasnost serve`` is killed with SIGKILL while councils
are submitting, restarted, and every acknowledged proposal is there (stored and in the public log);
a submission repeated with the same idempotency key counts once, across the restart too."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_support import BOARD, Backend, Server, glasnost_process, make_backend


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path)


def test_sigkill_mid_round_loses_no_acknowledged_proposal(backend: Backend, tmp_path: Path) -> None:
    created = glasnost_process(
        "admin",
        "create-board",
        BOARD[0],
        *backend.cli_args(),
        cwd=tmp_path,
        env={**os.environ, "GLASNOST_PASSWORD": BOARD[1]},
    )
    assert created.wait(timeout=60) == 0
    server = Server(backend, tmp_path)
    server.start()
    try:
        http = httpx.Client(base_url=server.url, timeout=30)
        board = {
            "Authorization": "Bearer "
            + http.post("/api/login", json=dict(zip(("username", "password"), BOARD, strict=True))).json()["token"]
        }
        cycle = http.post("/api/cycles", json={"name": "durable"}, headers=board).json()["id"]
        councils = [c["code"] for c in http.get(f"/api/cycles/{cycle}/councils").json() if c["kind"] == "worker"][:8]
        product = {
            c["code"]: c["label"].removeprefix("makes ") for c in http.get(f"/api/cycles/{cycle}/councils").json()
        }
        tokens = {}
        for i, code in enumerate(councils):
            inv = http.post(
                f"/api/cycles/{cycle}/invitations", json={"role": "delegate", "council": code}, headers=board
            )
            acc = http.post(
                f"/api/invitations/{inv.json()['token']}/accept", json={"username": f"d{i}", "password": "password-123"}
            )
            tokens[code] = {"Authorization": "Bearer " + acc.json()["token"]}
        # the same key twice before the crash: one proposal
        first = councils[0]
        keyed = {"council": first, "supply": {product[first]: 9.0}}
        a = http.post(f"/api/cycles/{cycle}/proposals", json=keyed, headers={**tokens[first], "Idempotency-Key": "k-1"})
        b = http.post(f"/api/cycles/{cycle}/proposals", json=keyed, headers={**tokens[first], "Idempotency-Key": "k-1"})
        assert a.status_code == b.status_code == 201 and a.json()["id"] == b.json()["id"] and b.json()["repeated"]
        assert a.json()["receipt"] is not None and b.json()["receipt"] == a.json()["receipt"]  # sent back to back

        acknowledged: list[dict] = []
        lock = threading.Lock()
        stop = threading.Event()

        def council_loop(code: str) -> None:
            client = httpx.Client(base_url=server.url, timeout=10)
            n = 0
            while not stop.is_set() and n < 25:
                n += 1
                body = {"council": code, "round": 1, "supply": {product[code]: float(n)}}
                try:
                    r = client.post(f"/api/cycles/{cycle}/proposals", json=body, headers=tokens[code])
                except httpx.HTTPError:
                    return  # the server is gone: whatever was not answered was not acknowledged
                if r.status_code == 201:
                    with lock:
                        acknowledged.append(r.json())

        threads = [threading.Thread(target=council_loop, args=(c,)) for c in councils[1:]]
        for t in threads:
            t.start()
        while len(acknowledged) < 40 and any(t.is_alive() for t in threads):
            time.sleep(0.005)
        server.kill()  # mid-round, requests in flight
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert len(acknowledged) >= 40

        server.start()
        http = httpx.Client(base_url=server.url, timeout=30)
        for ack in acknowledged:
            stored = http.get(f"/api/cycles/{cycle}/proposals/{ack['id']}")
            assert stored.status_code == 200, ack
            assert stored.json()["supply"] == ack["supply"] and stored.json()["receipt"] == ack["receipt"]
            entry = http.get(f"/api/log/entries/{ack['receipt']['index']}").json()
            assert entry["leaf_hash"] == ack["receipt"]["leaf_hash"] and entry["payload"]["id"] == ack["id"]
        # the same key after the restart still counts once
        c = http.post(f"/api/cycles/{cycle}/proposals", json=keyed, headers={**tokens[first], "Idempotency-Key": "k-1"})
        assert c.status_code == 201 and c.json()["id"] == a.json()["id"] and c.json()["repeated"]
        assert c.json()["receipt"] == a.json()["receipt"]
        # the round is still open at round 1 and closes with the latest acknowledged proposal of each council
        latest = {}
        for ack in sorted(acknowledged, key=lambda x: x["id"]):
            latest[ack["council"]] = ack
        result = http.post(f"/api/cycles/{cycle}/rounds/1/close", headers=board).json()
        assert result["round"] == 1 and set(latest) <= set(result["answered"])
        detail = {p["council"]: p for p in http.get(f"/api/cycles/{cycle}/rounds/1").json()["proposals"]}
        for code, ack in latest.items():  # a later proposal may have been stored but not acknowledged
            assert detail[code]["supply"][product[code]] >= ack["supply"][product[code]]
        # every stored proposal is in the public log, and the log still verifies
        export = tmp_path / "log.jsonl"
        export.write_bytes(http.get("/api/log/export").content)
        from glasnost.ledger import verify_log

        key = bytes.fromhex(http.get("/api/log").json()["public_key"])
        assert verify_log(export, public_key=key).ok
        assert all(p["ledger_index"] is not None for p in detail.values())
    finally:
        server.stop()
