"""Security of the platform on SQLite and PostgreSQL: who may write what, CSRF, one vote per
member, closed rounds, malformed and oversized input (a 4xx with a message, never a 500, and
nothing stored or published), rate limits, cookies, password hashes and the audit trail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_support import BOARD, Backend, bearer, delegate, make_backend
from sqlalchemy import func, select

from glasnost.service import models as m

WORKER = "make-agriculture-0"
CONSUMER = "neighbourhood-1"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path)


@pytest.fixture
def setup(backend: Backend) -> Iterator[dict[str, Any]]:
    from glasnost.service.app import create_app

    app = create_app(backend.settings(login_rate=(5, 60.0)))
    app.state.platform.accounts.create(*BOARD, board=True)
    with TestClient(app) as client:
        board = bearer(client, *BOARD)
        cycle = client.post("/api/cycles", json={"name": "security"}, headers=board).json()["id"]
        yield {
            "client": client,
            "platform": app.state.platform,
            "board": board,
            "cycle": cycle,
            "worker": delegate(client, board, cycle, WORKER, "alice"),
            "consumer": delegate(client, board, cycle, CONSUMER, "bob"),
        }


def _state(platform: Any) -> tuple[int, int, int]:
    """What must not change: stored proposals, ballots, and the public log's size."""
    with platform.db.read() as s:
        proposals = s.scalar(select(func.count(m.Proposal.id)))
        ballots = s.scalar(select(func.count(m.Ballot.id)))
    return proposals, ballots, platform.books.call(lambda lg: lg.size)


def _refused(r: Any, status: int, message: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    detail = r.json()["detail"] if r.headers["content-type"].startswith("application/json") else r.text
    assert re.search(message, detail), detail


def test_a_council_cannot_write_another_councils_proposal(setup: dict[str, Any]) -> None:
    c, cycle = setup["client"], setup["cycle"]
    before = _state(setup["platform"])
    r = c.post(
        f"/api/cycles/{cycle}/proposals",
        json={"council": CONSUMER, "demand": {"fishing": 0.01}},
        headers=setup["worker"],
    )
    _refused(r, 403, f"alice is not a delegate of council {CONSUMER}")
    r = c.post(
        f"/api/cycles/{cycle}/proposals", json={"council": WORKER, "supply": {"agriculture": 1}}, headers=setup["board"]
    )
    _refused(r, 403, "not a delegate")
    r = c.post(f"/api/cycles/{cycle}/proposals", json={"council": WORKER, "supply": {"agriculture": 1}})
    _refused(r, 401, "log in")
    assert _state(setup["platform"]) == before


def test_board_actions_only_by_the_board(setup: dict[str, Any]) -> None:
    c, cycle, worker = setup["client"], setup["cycle"], setup["worker"]
    for path, body in [
        (f"/api/cycles/{cycle}/rounds/1/close", None),
        (f"/api/cycles/{cycle}/rounds/run", {"limit": 3}),
        (f"/api/cycles/{cycle}/invitations", {"role": "member"}),
        ("/api/cycles", {"name": "mine"}),
        (f"/api/cycles/{cycle}/variants", None),
    ]:
        _refused(c.post(path, json=body, headers=worker), 403, "only the facilitation board")
    assert c.get(f"/api/cycles/{cycle}").json()["round"]["number"] == 1


def test_a_proposal_for_a_closed_round_is_refused_clearly(setup: dict[str, Any]) -> None:
    c, cycle = setup["client"], setup["cycle"]
    c.post(f"/api/cycles/{cycle}/rounds/1/close", headers=setup["board"])
    before = _state(setup["platform"])
    r = c.post(
        f"/api/cycles/{cycle}/proposals",
        json={"council": WORKER, "round": 1, "supply": {"agriculture": 1.0}},
        headers=setup["worker"],
    )
    _refused(r, 409, f"council {WORKER}: round 1 is closed; round 2 is open")
    assert _state(setup["platform"]) == before


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"council": WORKER, "supply": {"agriculture": -1}}, 422, "agriculture.*finite number >= 0"),
        (
            {"council": WORKER, "supply": {"agriculture": 1}, "demand": {"unobtainium": 1}},
            422,
            "'unobtainium'.*not exist",
        ),
        ({"council": WORKER, "supply": {"steel": 1}}, 422, "offers 'steel', but it makes 'agriculture' only"),
        ({"council": WORKER, "supply": {"agriculture": "lots"}}, 422, "supply.agriculture"),
        ({"council": WORKER, "supply": ["agriculture", 1]}, 422, "supply"),
        ({"council": "no-such-council", "supply": {}}, 404, "no council 'no-such-council'"),
        ({"council": WORKER, "supply": {"agriculture": 1e300}}, 422, "more than 10\\^15"),
    ],
)
def test_malformed_proposals_get_a_message_and_change_nothing(
    setup: dict[str, Any], body: dict[str, Any], status: int, message: str
) -> None:
    before = _state(setup["platform"])
    r = setup["client"].post(f"/api/cycles/{setup['cycle']}/proposals", json=body, headers=setup["worker"])
    _refused(r, status, message)
    assert _state(setup["platform"]) == before


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(setup: dict[str, Any], token: str) -> None:
    before = _state(setup["platform"])
    raw = '{"council": "' + WORKER + '", "supply": {"agriculture": ' + token + "}}"  # Python's json reads NaN
    r = setup["client"].post(
        f"/api/cycles/{setup['cycle']}/proposals",
        content=raw,
        headers={**setup["worker"], "Content-Type": "application/json"},
    )
    assert 400 <= r.status_code < 500 and "agriculture" in r.json()["detail"], r.text
    assert _state(setup["platform"]) == before


def test_a_consumer_over_budget_and_bad_csv_are_named(setup: dict[str, Any]) -> None:
    c, cycle = setup["client"], setup["cycle"]
    before = _state(setup["platform"])
    r = c.post(
        f"/api/cycles/{cycle}/proposals",
        json={"council": CONSUMER, "demand": {"fishing": 1.0}},
        headers=setup["consumer"],
    )
    _refused(r, 422, f"council {CONSUMER}: asks for 700.00 worth at the posted prices; its budget is 75.53")
    r = c.post(
        f"/api/cycles/{cycle}/proposals.csv",
        params={"council": WORKER},
        content="commodity,supply,demand\nagriculture,1,\nenergy,,two\n",
        headers=setup["worker"],
    )
    _refused(r, 422, r"CSV line 3, column 3 \(demand\): 'two' is not a number")
    r = c.post(
        f"/api/cycles/{cycle}/proposals.csv",
        params={"council": WORKER},
        content=b"\xff\xfe\x00",
        headers=setup["worker"],
    )
    _refused(r, 422, "not UTF-8")
    assert _state(setup["platform"]) == before


def test_a_10_mb_body_is_refused_before_it_is_read(setup: dict[str, Any]) -> None:
    before = _state(setup["platform"])
    big = b'{"council": "' + WORKER.encode() + b'", "supply": {"agriculture": 1}, "pad": "' + b"x" * 10_000_000 + b'"}'
    r = setup["client"].post(
        f"/api/cycles/{setup['cycle']}/proposals",
        content=big,
        headers={**setup["worker"], "Content-Type": "application/json"},
    )
    _refused(r, 413, "larger than the limit")
    r = setup["client"].post(
        f"/api/cycles/{setup['cycle']}/proposals.csv",
        params={"council": WORKER},
        content=iter([b"commodity,supply,demand\n"] + [b"x" * 1_000_000] * 10),  # streamed, no Content-Length
        headers=setup["worker"],
    )
    _refused(r, 413, "larger than the limit")
    assert _state(setup["platform"]) == before


def test_one_ballot_per_member(setup: dict[str, Any]) -> None:
    c, cycle, board = setup["client"], setup["cycle"], setup["board"]
    c.post(f"/api/cycles/{cycle}/rounds/run", json={"limit": 300}, headers=board)
    c.post(f"/api/cycles/{cycle}/variants", headers=board)
    c.post(f"/api/cycles/{cycle}/vote/open", headers=board)
    r = c.post(
        f"/api/cycles/{cycle}/vote/ballots",
        json={"approve": ["public"], "ranking": ["public"]},
        headers=setup["worker"],
    )
    assert r.status_code == 201
    before = _state(setup["platform"])
    r = c.post(
        f"/api/cycles/{cycle}/vote/ballots",
        json={"approve": ["invest"], "ranking": ["invest"]},
        headers=setup["worker"],
    )
    _refused(r, 409, "alice has voted already; one ballot per member")
    # a second login is the same member
    again = bearer(c, "alice", "alice-pw-123")
    _refused(c.post(f"/api/cycles/{cycle}/vote/ballots", json={"approve": []}, headers=again), 409, "voted already")
    # the board is not a member of the cycle; bad ballots are named
    _refused(c.post(f"/api/cycles/{cycle}/vote/ballots", json={}, headers=board), 403, "not a member")
    _refused(
        c.post(f"/api/cycles/{cycle}/vote/ballots", json={"ranking": [["plan-z"]]}, headers=setup["consumer"]),
        422,
        "'plan-z', which is not a candidate",
    )
    assert _state(setup["platform"]) == before


def _login_form(c: TestClient, username: str, password: str) -> None:
    c.get("/login")
    r = c.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": c.cookies.get("glasnost_csrf"), "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def test_forms_without_csrf_token_are_refused(setup: dict[str, Any]) -> None:
    app, cycle = setup["client"].app, setup["cycle"]
    before = _state(setup["platform"])
    with nullcontext(TestClient(app)) as browser:  # no second lifespan: the app keeps running
        browser.get("/login")
        r = browser.post("/login", data={"username": "alice", "password": "alice-pw-123"}, follow_redirects=False)
        _refused(r, 403, "CSRF token is missing")
        _login_form(browser, "alice", "alice-pw-123")
        form = {"round": "1", "supply:agriculture": "1.0"}
        url = f"/cycles/{cycle}/councils/{WORKER}/proposal"
        _refused(browser.post(url, data=form, headers={"Accept": "application/json"}), 403, "CSRF")
        _refused(
            browser.post(url, data={**form, "csrf_token": "forged"}, headers={"Accept": "application/json"}),
            403,
            "CSRF",
        )
        # the JSON API riding on the session cookie needs the token in a header
        body = {"council": WORKER, "supply": {"agriculture": 1.0}}
        _refused(browser.post(f"/api/cycles/{cycle}/proposals", json=body), 403, "CSRF")
        assert _state(setup["platform"]) == before
        ok = browser.post(
            url, data={**form, "csrf_token": browser.cookies.get("glasnost_csrf")}, follow_redirects=False
        )
        assert ok.status_code == 303
        r = browser.post(
            f"/api/cycles/{cycle}/proposals", json=body, headers={"X-CSRF-Token": browser.cookies.get("glasnost_csrf")}
        )
        assert r.status_code == 201
    assert _state(setup["platform"])[0] == before[0] + 2


def test_cookies_passwords_rate_limits_and_audit(setup: dict[str, Any]) -> None:
    c, platform = setup["client"], setup["platform"]
    with nullcontext(TestClient(c.app)) as browser:
        r = browser.get("/login")
        csrf_cookie = r.headers["set-cookie"]
        assert "HttpOnly" in csrf_cookie and "SameSite=lax" in csrf_cookie
        r = browser.post(
            "/login",
            data={"username": "bob", "password": "bob-pw-123", "csrf_token": browser.cookies.get("glasnost_csrf")},
            follow_redirects=False,
        )
        session_cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("glasnost_session="))
        assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    with platform.db.read() as s:
        hashes = list(s.scalars(select(m.Account.password_hash)))
        tokens = list(s.scalars(select(m.SessionToken.token_hash)))
        actions = {(a, t.split(":")[0]) for a, t in s.execute(select(m.AuditEvent.action, m.AuditEvent.target))}
        who = s.execute(select(m.AuditEvent.account_id, m.AuditEvent.at).where(m.AuditEvent.action == "submit")).all()
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert all(re.fullmatch("[0-9a-f]{64}", t) for t in tokens)  # only SHA-256 of session tokens
    assert ("create-cycle", f"cycle {setup['cycle']}") in actions and (
        "accept-invitation",
        f"cycle {setup['cycle']}",
    ) in actions
    assert who == []  # nobody submitted yet
    # five failed attempts per minute per address and name, then 429 even with the right password
    for _ in range(5):
        _refused(c.post("/api/login", json={"username": "alice", "password": "wrong-password"}), 401, "wrong user name")
    _refused(
        c.post("/api/login", json={"username": "alice", "password": "alice-pw-123"}),
        429,
        "too many failed login attempts",
    )
    assert c.post("/api/login", json={"username": "bob", "password": "bob-pw-123"}).status_code == 200


def test_submissions_are_rate_limited_per_council(backend: Backend) -> None:
    from glasnost.service.app import create_app

    app = create_app(backend.settings(submit_rate=(3, 60.0)))
    app.state.platform.accounts.create(*BOARD, board=True)
    with TestClient(app) as c:
        board = bearer(c, *BOARD)
        cycle = c.post("/api/cycles", json={"name": "rate"}, headers=board).json()["id"]
        worker = delegate(c, board, cycle, WORKER, "alice")
        body = {"council": WORKER, "supply": {"agriculture": 1.0}}
        codes = [c.post(f"/api/cycles/{cycle}/proposals", json=body, headers=worker).status_code for _ in range(4)]
        assert codes == [201, 201, 201, 429]


def test_production_password_hashes_keep_argon2_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests hash at a cheap cost; production keeps argon2id at RFC 9106's low-memory profile
    (t=3 passes, m=64 MiB, p=4 lanes), and a hash verifies whatever cost the verifier was built with."""
    from glasnost.db.settings import Settings, password_cost_from_env
    from glasnost.service.security import check_password, hash_password, password_hasher

    monkeypatch.delenv("GLASNOST_ARGON2", raising=False)
    assert Settings().password_cost is None and Settings.from_env().password_cost is None
    production = hash_password("s3cret-pass", password_hasher(Settings().password_cost))
    assert production.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    cheap = hash_password("s3cret-pass", password_hasher((1, 64, 1)))
    assert cheap.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    for stored in (production, cheap):
        for hasher in (password_hasher(None), password_hasher((1, 64, 1))):
            assert check_password(stored, "s3cret-pass", hasher) and not check_password(stored, "wrong", hasher)
    monkeypatch.setenv("GLASNOST_ARGON2", "2,128,2")
    assert password_cost_from_env() == (2, 128, 2) and Settings.from_env().password_cost == (2, 128, 2)
    monkeypatch.setenv("GLASNOST_ARGON2", "1,64")
    with pytest.raises(ValueError, match="GLASNOST_ARGON2='1,64': expected time_cost,memory_kib,parallelism"):
        password_cost_from_env()
