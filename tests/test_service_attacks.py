"""The platform tried as an attacker would, on SQLite and PostgreSQL, each item of issue 14's "Why"
that failed before: impersonating a workplace by naming an account after it, racing the login
limiter, exhausting memory with concurrent password hashes, a token that outlives its logout, a
ballot linked back to its voter, a tally visible before the vote closes, and the inputs that gave
HTTP 500s (ids too large for the database, odd numbers in forms, malformed and empty CSV)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_support import BOARD, Backend, bearer, delegate, make_backend
from sqlalchemy import func, select, text

from glasnost.service import models as m
from glasnost.service.accounts import Viewer
from glasnost.service.errors import RateLimitedError, UnauthorizedError

WORKER = "make-agriculture-0"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path)


@pytest.fixture
def app_client(backend: Backend) -> Iterator[tuple[TestClient, Any]]:
    from glasnost.service.app import create_app

    app = create_app(backend.settings())
    app.state.platform.accounts.create(*BOARD, board=True)
    with TestClient(app) as client:
        yield client, app.state.platform


def _board(platform: Any) -> Viewer:
    return Viewer(platform.accounts.account_id(BOARD[0]), BOARD[0], True, "system")


# ---- impersonation ---------------------------------------------------------------------------------


def test_an_account_named_after_a_workplace_has_no_right_without_a_grant(app_client: tuple[TestClient, Any]) -> None:
    from glasnost.control.alerts import Finding, raise_alerts

    client, platform = app_client
    platform.accounts.create("mill", "mill-password-1")  # anyone may choose this name
    mill = bearer(client, "mill", "mill-password-1")
    report = "kind,period,workplace,product,quantity\noutput,1,mill,flour,120\n"
    size = platform.books.call(lambda lg: lg.size)
    r = client.post("/api/control/reports", content=report, headers=mill)
    assert r.status_code == 403 and "reports for no workplace" in r.json()["detail"]
    assert platform.books.call(lambda lg: lg.size) == size  # nothing went into the permanent log
    (alert_id,) = raise_alerts(platform.db, [Finding("mill", "flour", "gap", 1, "step", 0.97, 0.1)])
    assert client.get("/api/control/alerts", headers=mill).json() == []  # private alerts stay private
    r = client.post(f"/control/alerts/{alert_id}/answer", data={"text": "ours"}, headers=mill)
    assert r.status_code == 403

    grant = platform.accounts.grant(_board(platform), "mill", "workplace", "mill")  # explicit, by the board
    assert client.post("/api/control/reports", content=report, headers=mill).status_code == 201
    assert [a["id"] for a in client.get("/api/control/alerts", headers=mill).json()] == [alert_id]
    assert client.get("/api/grants", headers=mill).json() == [grant]
    other = "kind,period,workplace,product,quantity\noutput,1,bakery,bread,10\n"
    assert client.post("/api/control/reports", content=other, headers=mill).status_code == 422  # mill only

    board = bearer(client, *BOARD)
    assert client.delete(f"/api/grants/{grant['id']}", headers=board).status_code == 200
    assert client.post("/api/control/reports", content=report, headers=mill).status_code == 403  # at once


def test_an_invitation_carries_the_workplace_grant(app_client: tuple[TestClient, Any]) -> None:
    client, _ = app_client
    board = bearer(client, *BOARD)
    inv = client.post("/api/workplace-invitations", json={"workplace": "bakery"}, headers=board).json()
    r = client.post(f"/api/invitations/{inv['token']}/accept", json={"username": "baker", "password": "baker-pw-123"})
    assert r.status_code == 200
    baker = {"Authorization": "Bearer " + r.json()["token"]}
    assert [g["target"] for g in client.get("/api/grants", headers=baker).json()] == ["bakery"]
    report = "kind,period,workplace,product,quantity\noutput,1,bakery,bread,10\n"
    assert client.post("/api/control/reports", content=report, headers=baker).status_code == 201


# ---- the login limiter and password hashes ---------------------------------------------------------


def test_concurrent_wrong_passwords_are_counted_before_any_is_checked(backend: Backend) -> None:
    from glasnost.service.platform import Platform

    platform = Platform(backend.settings(login_rate=(10, 60.0)))
    try:
        platform.accounts.create("victim", "the-right-password")
        start = threading.Barrier(30)

        def attempt(i: int) -> str:
            start.wait()
            try:
                platform.accounts.login("victim", f"guess-{i}", address="10.0.0.1")
            except UnauthorizedError:
                return "checked"
            except RateLimitedError:
                return "refused"
            return "in"

        with ThreadPoolExecutor(30) as pool:
            outcomes = list(pool.map(attempt, range(30)))
        assert outcomes.count("checked") == 10 and outcomes.count("refused") == 20
        with platform.db.read() as s:
            failed = s.scalar(
                select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.action == "login-failed")
            )
        assert failed == 10  # only ten passwords were ever hashed
    finally:
        platform.close()


def test_password_hashes_run_a_bounded_number_at_a_time(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    import glasnost.service.accounts as accounts
    from glasnost.service.platform import Platform

    platform = Platform(backend.settings(hash_concurrency=2, password_cost=(2, 8192, 1)))
    try:
        for i in range(12):
            platform.accounts.create(f"user{i}", "a-long-password")
        running, peak, lock = 0, 0, threading.Lock()
        real = accounts.check_password

        def counted(*args: Any, **kwargs: Any) -> bool:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            try:
                return real(*args, **kwargs)
            finally:
                with lock:
                    running -= 1

        monkeypatch.setattr(accounts, "check_password", counted)
        start = threading.Barrier(12)

        def attempt(i: int) -> None:
            start.wait()
            with pytest.raises(UnauthorizedError):
                platform.accounts.login(f"user{i}", "wrong-password", address=f"10.0.0.{i}")

        with ThreadPoolExecutor(12) as pool:
            list(pool.map(attempt, range(12)))
        assert 1 <= peak <= 2
    finally:
        platform.close()


# ---- tokens ----------------------------------------------------------------------------------------


def test_bearer_tokens_are_listed_and_revocable(app_client: tuple[TestClient, Any]) -> None:
    client, platform = app_client
    platform.accounts.create("carol", "carol-password")
    first = client.post("/api/login", json={"username": "carol", "password": "carol-password", "label": "laptop"})
    second = client.post("/api/login", json={"username": "carol", "password": "carol-password", "label": "script"})
    a = {"Authorization": "Bearer " + first.json()["token"]}
    b = {"Authorization": "Bearer " + second.json()["token"]}
    listed = client.get("/api/tokens", headers=a).json()
    assert [(t["label"], t["current"]) for t in listed] == [("script", False), ("laptop", True)]
    assert all("token" not in t for t in listed)
    script = listed[0]["id"]
    assert client.delete(f"/api/tokens/{script}", headers=a).status_code == 200
    assert client.get("/api/me", headers=b).json()["anonymous"] is True  # refused on the next request
    assert client.delete(f"/api/tokens/{script}", headers=a).status_code == 404
    assert client.post("/api/logout", headers=a).json() == {"revoked": True}
    assert client.get("/api/tokens", headers=a).status_code == 401


# ---- secret ballots --------------------------------------------------------------------------------


def test_no_table_and_no_log_entry_links_a_ballot_to_its_voter(backend: Backend) -> None:
    from glasnost.service.platform import Platform

    platform = Platform(backend.settings())
    try:
        board = Viewer(platform.accounts.create(*BOARD, board=True), BOARD[0], True, "system")
        cycle = platform.cycles.create(board, "secret", "demo")
        platform.rounds.run(board, cycle)
        platform.votes.publish_variants(board, cycle)
        platform.votes.open(board, cycle)
        candidates = [v.key for v in _variants(platform, cycle)]
        ballots = [[[c] for c in order] for order in list(permutations(candidates))[:12]]  # 12 distinct rankings
        voters = []
        for i in range(len(ballots)):
            member = Viewer(platform.accounts.create(f"member{i}", "member-password"), f"member{i}", False, "bearer")
            with platform.db.write() as s:
                s.add(m.Membership(account_id=member.account_id, cycle_id=cycle, council_id=None, role="member"))
            voters.append(member)
        size = platform.books.call(lambda lg: lg.size)
        receipts = [
            platform.votes.cast(v, cycle, [ranking[0][0]], ranking) for v, ranking in zip(voters, ballots, strict=True)
        ]

        # while the vote is open: nothing published, no tally, nothing in the clear
        assert platform.books.call(lambda lg: lg.size) == size
        vote = platform.views.cycle_summary(cycle)["vote"]
        assert vote["tally"] is None and vote["turnout"] == 12
        with platform.db.read() as s:
            sealed = list(s.scalars(select(m.BallotBox.sealed)))
            assert s.scalar(select(func.count()).select_from(m.Ballot)) == 0
        assert len(sealed) == 12 and not any(c.encode() in blob for blob in sealed for c in candidates)
        assert all(set(platform.votes.check_receipt(r["code"])) >= {"status"} for r in receipts)
        assert all("ballot" not in platform.votes.check_receipt(r["code"]) for r in receipts)

        tally = platform.votes.close(board, cycle)
        if backend.kind == "sqlite":  # the sealed ballots are gone from the files, not only from the table
            files = [f for f in backend.directory.glob("platform.sqlite*") if f.is_file()]
            stored = b"".join(f.read_bytes() for f in files)
            assert files and not any(blob[12:44] in stored for blob in sealed)
        cast_order = [str({"approval": [r[0][0]], "ranking": r}) for r in ballots]

        with platform.db.read() as s:
            conn = s.connection()
            # the counted ballots: no time, random ids, stored in a shuffled order, one transaction
            assert {c.name for c in m.Ballot.__table__.columns} == {
                "id",
                "vote_id",
                "position",
                "approval",
                "ranking",
                "ledger_index",
            }
            rows = s.execute(select(m.Ballot).order_by(m.Ballot.position)).scalars().all()
            by_position = [str({"approval": b.approval, "ranking": b.ranking}) for b in rows]
            by_id = [str({"approval": b.approval, "ranking": b.ranking}) for b in sorted(rows, key=lambda b: b.id)]
            physical = _physical_order(conn, backend)
            assert sorted(by_position) == sorted(cast_order)
            assert by_position != cast_order and by_id != cast_order and physical != cast_order
            # receipts sorted by their hash, nothing else
            stored = list(conn.execute(text("SELECT receipt_hash FROM vote_receipts")).scalars())
            assert stored == sorted(r["receipt_sha256"] for r in receipts)
            assert s.scalar(select(func.count()).select_from(m.BallotBox)) == 0  # the box is emptied
            if backend.kind == "postgresql":  # not even the transaction ids tie a ballot to its voter
                ballot_tx = set(conn.execute(text("SELECT xmin::text FROM ballots")).scalars())
                voter_tx = set(conn.execute(text("SELECT xmin::text FROM voters")).scalars())
                assert len(ballot_tx) == 1 and not ballot_tx & voter_tx
            audit = " ".join(t for (t,) in s.execute(select(m.AuditEvent.target)))
            assert not any(b.id in audit for b in rows)

        # the published ballots: shuffled, apart from the sorted receipts; the tally only now
        entries = platform.books.call(lambda lg: [(e.kind, e.payload) for e in lg.entries(size, lg.size)])
        assert [k for k, _ in entries] == ["ballots", "vote-receipts", "tally"]
        published = [str(b) for b in entries[0][1]["ballots"]]
        assert published == by_position and published != cast_order
        assert entries[1][1]["receipts"] == sorted(r["receipt_sha256"] for r in receipts)
        assert entries[2][1]["winner"] == tally["winner"] and entries[2][1]["ballots"] == 12
        counted = platform.votes.check_receipt(receipts[3]["code"])
        assert counted["status"] == "counted" and counted["inclusion"]["listed"] and "ballot" not in counted
    finally:
        platform.close()


def _variants(platform: Any, cycle: int) -> list[Any]:
    with platform.db.read() as s:
        return platform.votes.variants(s, cycle)


def _physical_order(conn: Any, backend: Backend) -> list[str]:
    """The ballots in the order the database keeps them on disk (SQLite's rowid, PostgreSQL's ctid)."""
    order = "rowid" if backend.kind == "sqlite" else "ctid"
    rows = conn.execute(text(f"SELECT approval, ranking FROM ballots ORDER BY {order}")).all()
    import json

    def load(v: Any) -> Any:
        return json.loads(v) if isinstance(v, str) else v

    return [str({"approval": load(a), "ranking": load(r)}) for a, r in rows]


# ---- inputs that gave HTTP 500 ---------------------------------------------------------------------


def test_odd_inputs_are_refused_never_a_server_error(app_client: tuple[TestClient, Any]) -> None:
    client, platform = app_client
    board = bearer(client, *BOARD)
    cycle = client.post("/api/cycles", json={"name": "odd"}, headers=board).json()["id"]
    worker = delegate(client, board, cycle, WORKER, "alice")
    huge = 10**30
    for path in (
        f"/api/cycles/{huge}",
        f"/api/cycles/{huge}/councils",
        f"/api/cycles/{cycle}/rounds/{huge}",
        f"/api/cycles/{cycle}/proposals/{huge}",
        f"/api/log/entries/{huge}",
        f"/cycles/{huge}",
        f"/cycles/{cycle}/rounds/{huge}",
    ):
        r = client.get(path)
        assert r.status_code in (404, 422), (path, r.status_code, r.text)
    r = client.post(f"/api/cycles/{huge}/proposals", json={"council": WORKER, "supply": {}}, headers=worker)
    assert r.status_code == 422
    for value in ("²", "inf", "nan", "1e300", "-1"):
        r = client.post(
            f"/cycles/{cycle}/councils/{WORKER}/proposal",
            data={"round": value, "supply:agriculture": "1"},
            headers=worker,
        )
        assert r.status_code == 422 and "round" in r.text, (value, r.status_code)
    for value in ("inf", "nan", "1e300"):
        r = client.post("/cycles/new", data={"name": "x", "max_rounds": value}, headers=board)
        assert r.status_code == 422, (value, r.status_code)

    proposals = lambda: platform.views.council_position(cycle, WORKER)["history"]  # noqa: E731
    client.post(
        f"/api/cycles/{cycle}/proposals", json={"council": WORKER, "supply": {"agriculture": 2}}, headers=worker
    )
    before = proposals()
    for body, where in (
        ("commodity,supply,demand\n", "CSV line 2"),
        ('commodity,supply,demand\nagriculture,"1,\n', "CSV line 2"),
        ("commodity,supply,demand\nagriculture," + "9" * (129 * 1024) + ",\n", "CSV line 2"),
        ("", "CSV line 1"),
        ("commodity,supply\nagriculture,1\n", "CSV line 1"),
        ("commodity,supply,demand\nagriculture,1\n", "CSV line 2"),
    ):
        r = client.post(
            f"/api/cycles/{cycle}/proposals.csv",
            params={"council": WORKER},
            content=body,
            headers={**worker, "content-type": "text/csv"},
        )
        assert r.status_code == 422 and where in r.json()["detail"], (body[:40], r.text)
    assert proposals() == before  # nothing replaced the council's proposal


def test_pages_send_a_content_security_policy_and_docs_need_no_cdn(app_client: tuple[TestClient, Any]) -> None:
    client, _ = app_client
    r = client.get("/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "a token from POST /api/login",
    }
    csv_body = doc["paths"]["/api/cycles/{cycle_id}/proposals.csv"]["post"]["requestBody"]
    assert "text/csv" in csv_body["content"]


def test_secure_cookies_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from glasnost.db import Settings

    monkeypatch.setenv("GLASNOST_SECURE_COOKIES", "1")
    assert Settings.from_env().secure_cookies is True
    monkeypatch.setenv("GLASNOST_SECURE_COOKIES", "0")
    assert Settings.from_env().secure_cookies is False


def test_demo_rounds_leave_a_person_time(backend: Backend) -> None:
    from glasnost.service.demo import ensure_demo
    from glasnost.service.platform import Platform

    platform = Platform(backend.settings())
    try:
        cycle = ensure_demo(platform)
        with platform.db.read() as s:
            rnd = s.scalar(select(m.Round).where(m.Round.cycle_id == cycle))
        assert rnd.deadline - rnd.opened_at >= timedelta(minutes=10)
    finally:
        platform.close()


def test_a_refused_form_keeps_what_was_typed(app_client: tuple[TestClient, Any]) -> None:
    client, platform = app_client
    board = bearer(client, *BOARD)
    cycle = client.post("/api/cycles", json={"name": "form"}, headers=board).json()["id"]
    consumer = delegate(client, board, cycle, "neighbourhood-1", "bob")
    typed = {"demand:fishing": "123456789", "demand:agriculture": "2.5", "round": "1"}
    r = client.post(f"/cycles/{cycle}/councils/neighbourhood-1/proposal", data=typed, headers=consumer)
    assert r.status_code == 422
    assert 'id="form-error"' in r.text and "its budget is" in r.text
    assert 'id="demand-fishing" value="123456789"' in r.text and 'id="demand-agriculture" value="2.5"' in r.text
    assert platform.views.council_position(cycle, "neighbourhood-1")["history"] == []  # nothing stored


def test_a_restart_during_an_open_round_publishes_no_result(backend: Backend) -> None:
    """Recovery publishes rows a crash left unpublished, never an open round as if it had a result."""
    from glasnost.service.platform import Platform

    settings = backend.settings()
    platform = Platform(settings)
    try:
        board = Viewer(platform.accounts.create(*BOARD, board=True), BOARD[0], True, "system")
        cycle = platform.cycles.create(board, "restart", "demo")
        platform.rounds.close(board, cycle, 1)
    finally:
        platform.close()
    for _ in range(2):  # two restarts with round 2 open
        platform = Platform(settings)
        kinds = platform.books.call(lambda lg: [(e.kind, e.payload.get("round")) for e in lg.entries(0, lg.size)])
        platform.close()
    assert [k for k in kinds if k[0] == "round-result"] == [("round-result", 1)]
