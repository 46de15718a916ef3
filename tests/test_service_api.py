"""The platform's API end to end on SQLite and PostgreSQL: a cycle, proposals, rounds that follow
the procedure exactly, plan variants, a vote with receipts, and a public log that verifies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_support import BOARD, Backend, bearer, delegate, make_backend

from glasnost.data.demo import demo_economy
from glasnost.ledger import verify_log
from glasnost.procedures import HahnelEconomy, run_hahnel


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path)


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    from glasnost.service.app import create_app

    app = create_app(backend.settings())
    app.state.platform.accounts.create(*BOARD, board=True)
    with TestClient(app) as c:
        yield c


def test_rounds_without_people_follow_the_procedure_exactly(client: TestClient) -> None:
    # every seat empty: each round is the modelled councils' round, so the platform must reproduce
    # run_hahnel's run on the same economy (a second method, round for round)
    board = bearer(client, *BOARD)
    cycle = client.post("/api/cycles", json={"name": "modelled"}, headers=board).json()["id"]
    last = client.post(f"/api/cycles/{cycle}/rounds/run", json={"limit": 300}, headers=board).json()
    reference = run_hahnel(HahnelEconomy.from_economy(demo_economy())).years[0]
    assert last["round"] == reference.n_rounds and last["converged"] is True
    ids = [str(c) for c in reference.commodity_ids]
    np.testing.assert_allclose([last["next_prices"][c] for c in ids], reference.final_prices, rtol=1e-12)
    np.testing.assert_allclose(last["max_imbalance"], reference.last.max_imbalance, rtol=1e-9)
    summary = client.get(f"/api/cycles/{cycle}").json()
    assert summary["status"] == "converged" and len(summary["history"]) == reference.n_rounds


def test_a_cycle_with_two_delegates_a_vote_and_a_verified_log(client: TestClient, tmp_path: Path) -> None:
    board = bearer(client, *BOARD)
    cycle = client.post("/api/cycles", json={"name": "two councils"}, headers=board).json()["id"]
    worker = delegate(client, board, cycle, "make-agriculture-0", "alice")
    consumer = delegate(client, board, cycle, "neighbourhood-1", "bob")
    r = client.post(
        f"/api/cycles/{cycle}/proposals",
        json={"council": "make-agriculture-0", "round": 1, "supply": {"agriculture": 2.0}, "demand": {"mining": 0.2}},
        headers=worker,
    )
    assert r.status_code == 201, r.text
    first_receipt = r.json()["receipt"]
    # the consumer's budget at the posted prices (700 each) allows 75.5/700 units: ask for 0.1 fishing
    r = client.post(
        f"/api/cycles/{cycle}/proposals",
        json={"council": "neighbourhood-1", "demand": {"fishing": 0.1}},
        headers=consumer,
    )
    assert r.status_code == 201, r.text
    # a revision replaces the first proposal
    r = client.post(
        f"/api/cycles/{cycle}/proposals",
        json={"council": "make-agriculture-0", "supply": {"agriculture": 1.5}, "demand": {"mining": 0.1}},
        headers=worker,
    )
    assert r.status_code == 201
    result = client.post(f"/api/cycles/{cycle}/rounds/1/close", headers=board).json()
    assert set(result["answered"]) == {"make-agriculture-0", "neighbourhood-1"}
    assert result["modelled"] == 44
    # the round's supply of agriculture = the delegate's 1.5 + what the modelled councils make of it
    from glasnost.service.planning import CycleEngine, economy_from_source

    eng = CycleEngine(economy_from_source("demo"))
    prices = eng.initial_prices()
    others = sum(
        eng.modelled(w, "worker", prices)[0].get("agriculture", 0.0)
        for w in eng.worker_ids
        if w != "make-agriculture-0"
    )
    assert result["supply"]["agriculture"] == pytest.approx(1.5 + others, rel=1e-12)
    position = client.get(f"/api/cycles/{cycle}/councils/make-agriculture-0").json()
    assert position["history"][0]["how"] == "own" and position["history"][0]["supply"] == {"agriculture": 1.5}
    assert position["history"][0]["benefit"] == pytest.approx(1.5 * 700)

    client.post(f"/api/cycles/{cycle}/rounds/run", json={"limit": 300}, headers=board)
    assert client.get(f"/api/cycles/{cycle}").json()["status"] == "converged"
    variants = client.post(f"/api/cycles/{cycle}/variants", headers=board).json()
    keys = [v["key"] for v in variants]
    assert keys == ["as-asked", "public", "private", "invest"] and all(v["scale"] > 0 for v in variants)
    client.post(f"/api/cycles/{cycle}/vote/open", headers=board)
    member = {"Authorization": bearer(client, "alice", "alice-pw-123")["Authorization"]}
    ballots = {
        "alice": (["invest", "public"], [["invest"], ["public", "as-asked"]]),
        "bob": (["public"], [["public"], ["invest"], ["as-asked"], ["private"]]),
    }
    codes = {}
    for name, (approve, ranking) in ballots.items():
        header = member if name == "alice" else consumer
        r = client.post(
            f"/api/cycles/{cycle}/vote/ballots", json={"approve": approve, "ranking": ranking}, headers=header
        )
        assert r.status_code == 201, r.text
        codes[name] = r.json()["code"]
        sealed = client.post("/api/receipts", json={"code": codes[name]}).json()
        assert sealed["status"] == "sealed" and sealed["inclusion"] is None and "ballot" not in sealed
    assert client.get(f"/api/cycles/{cycle}").json()["vote"] | {"rules": None} == {
        "status": "open",
        "rules": None,
        "turnout": 2,
        "tally": None,
    }
    tally = client.post(f"/api/cycles/{cycle}/vote/close", headers=board).json()
    # by hand: d[public, invest] = d[invest, public] = 1, and no one beats either of them, so both
    # are Schulze winners; the tie rule takes the most approvals: public (2) over invest (1)
    assert tally["winner"] == "public"
    assert tally["approval"]["counts"] == {"as-asked": 0, "public": 2, "private": 0, "invest": 1}
    receipt = client.post("/api/receipts", json={"code": codes["bob"]}).json()
    assert receipt["counted"] and receipt["inclusion"]["verified"] and receipt["inclusion"]["listed"]
    assert receipt["ballots_counted"] == 2 and "ballot" not in receipt  # counted, never what it was
    published = client.get(f"/api/log/entries/{tally['ballots_entry']}").json()["payload"]["ballots"]
    assert sorted(map(str, published)) == sorted(str({"approval": a, "ranking": r}) for a, r in ballots.values())

    # the public log: every proposal, round, variant and receipt, and it verifies independently
    log = client.get("/api/log").json()
    export = tmp_path / "log.jsonl"
    export.write_bytes(client.get("/api/log/export").content)
    report = verify_log(export, public_key=bytes.fromhex(log["public_key"]))
    assert report.ok, report.summary()
    kinds = [e["kind"] for e in client.get("/api/log/entries", params={"start": 0, "stop": 1000}).json()["entries"]]
    assert kinds.count("proposal") == 3 and kinds.count("plan-variant") == 4
    assert kinds.count("ballots") == kinds.count("vote-receipts") == kinds.count("tally") == 1
    assert kinds.count("round-result") == len(client.get(f"/api/cycles/{cycle}").json()["history"])
    entry = client.get(f"/api/log/entries/{first_receipt['index']}").json()
    assert entry["leaf_hash"] == first_receipt["leaf_hash"] and entry["payload"]["supply"] == {"agriculture": 2.0}
    proof = client.get("/api/log/proof/inclusion", params={"index": first_receipt["index"]}).json()
    from glasnost.ledger import verify_inclusion

    assert verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["index"],
        proof["tree_size"],
        [bytes.fromhex(h) for h in proof["path"]],
        bytes.fromhex(proof["root_hash"]),
    )
    assert "/api/cycles/{cycle_id}/proposals" in client.get("/openapi.json").json()["paths"]


def test_csv_upload_and_pages_are_public(client: TestClient) -> None:
    board = bearer(client, *BOARD)
    cycle = client.post("/api/cycles", json={"name": "csv"}, headers=board).json()["id"]
    worker = delegate(client, board, cycle, "make-fishing-0", "carol")
    body = "commodity,supply,demand\nfishing,3.5,\nenergy,,0.25\n"
    r = client.post(
        f"/api/cycles/{cycle}/proposals.csv", params={"council": "make-fishing-0"}, content=body, headers=worker
    )
    assert r.status_code == 201, r.text
    assert r.json()["supply"] == {"fishing": 3.5} and r.json()["demand"] == {"energy": 0.25}
    client.post(f"/api/cycles/{cycle}/rounds/1/close", headers=board)
    anonymous = TestClient(client.app)
    for page in (
        "/",
        f"/cycles/{cycle}",
        f"/cycles/{cycle}/rounds/1",
        f"/cycles/{cycle}/councils/make-fishing-0",
        "/log",
    ):
        r = anonymous.get(page)
        assert r.status_code == 200, page
    assert "3.5" in anonymous.get(f"/cycles/{cycle}/rounds/1").text


def test_rounds_close_at_their_deadline_and_demo_seats_can_be_taken(backend: Backend) -> None:
    from glasnost.service.app import create_app
    from glasnost.service.demo import ensure_demo

    app = create_app(backend.settings())
    platform = app.state.platform
    platform.accounts.create("visitor", "visitor-password")
    with TestClient(app) as client:
        visitor = bearer(client, "visitor", "visitor-password")
        cycle = ensure_demo(platform, round_seconds=3.0)
        assert ensure_demo(platform) == cycle  # only one demo cycle
        r = client.post(f"/api/cycles/{cycle}/councils/neighbourhood-2/seat", headers=visitor)
        assert r.status_code == 200, r.text
        r = client.post(f"/api/cycles/{cycle}/councils/neighbourhood-2/seat", headers=visitor)
        assert r.status_code == 409 and "taken" in r.json()["detail"]
        # a visitor without an account names one on the council's page and holds the seat at once
        browser = TestClient(app)
        browser.get(f"/cycles/{cycle}/councils/make-fishing-0")
        form = {
            "username": "walk-in",
            "password": "walk-in-password",
            "csrf_token": browser.cookies.get("glasnost_csrf"),
        }
        r = browser.post(f"/cycles/{cycle}/councils/make-fishing-0/seat", data=form, follow_redirects=False)
        assert r.status_code == 303, r.text
        assert "proposal-form" in browser.get(f"/cycles/{cycle}/councils/make-fishing-0").text
        r = client.post(
            f"/api/cycles/{cycle}/proposals",
            json={"council": "neighbourhood-2", "demand": {"energy": 0.01}},
            headers=visitor,
        )
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 20
        while client.get(f"/api/cycles/{cycle}").json()["round"]["number"] < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        first = client.get(f"/api/cycles/{cycle}/rounds/1").json()
        assert first["status"] == "closed" and first["result"]["closed_by"] == "deadline"
        assert first["result"]["answered"] == ["neighbourhood-2"] and first["result"]["modelled"] == 45
