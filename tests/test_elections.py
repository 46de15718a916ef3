"""Elections with open nomination, terms and recall (issue 18, items 1 and 2): the counts checked
against second implementations (pref_voting's Schulze, abcvoting's and a hand-written seq-Phragmén),
the winners' grants as the existing authorisation reads them, every refusal clear and storing
nothing, and signatures and ballots that name nobody."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from election_support import WORKPLACE, elect, members, proposal_status
from fastapi.testclient import TestClient
from service_support import BOARD, bearer, make_backend
from sqlalchemy import func, select, text, update

from glasnost.db.engine import utcnow
from glasnost.procedures.voting import schulze
from glasnost.service.elections import models as e
from glasnost.service.elections.count import count, phragmen_committee


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from make_backend(request.param, tmp_path)


def _client(backend: Any, *, first: bool = True) -> TestClient:
    from glasnost.service.app import create_app

    app = create_app(backend.settings(jobs=False))
    if first:
        app.state.platform.accounts.create(*BOARD, board=True)
    return TestClient(app)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _client(next(make_backend("sqlite", tmp_path))) as c:
        yield c


def _cycle(client: TestClient) -> tuple[dict[str, str], int]:
    board = bearer(client, *BOARD)
    return board, client.post("/api/cycles", json={"name": "elections"}, headers=board).json()["id"]


def _call(client: TestClient, board: dict[str, str], cycle: int, post: str = "delegates", seats: int = 2) -> int:
    r = client.post(
        f"/api/cycles/{cycle}/elections", json={"council": WORKPLACE, "post": post, "seats": seats}, headers=board
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


# ---- the counts against second implementations ------------------------------------------------------


def test_schulze_agrees_with_pref_voting_on_random_profiles() -> None:
    from pref_voting.margin_based_methods import beat_path  # "also known as the Schulze rule"
    from pref_voting.profiles import Profile

    rng = random.Random(18)
    for _ in range(300):
        m, n = rng.randint(2, 6), rng.randint(1, 40)
        names = [f"c{i}" for i in range(m)]
        rankings = [rng.sample(range(m), m) for _ in range(n)]
        ours = schulze(names, [[[names[i]] for i in r] for r in rankings])
        # full strict rankings: winning votes (ours) and margins (pref_voting's) order links alike
        theirs = beat_path(Profile(rankings))
        assert sorted(ours.winners) == sorted(names[i] for i in theirs), rankings
        elected = count("schulze", names, 1, [[[names[i]] for i in r] for r in rankings])["elected"]
        assert elected[0] in ours.winners


def _seq_phragmen(candidates: list[str], seats: int, ballots: list[list[str]]) -> list[str] | None:
    """Sequential Phragmén written out with exact fractions (None when a step ties: then any
    tie-breaking rule is right)."""
    load = [Fraction(0)] * len(ballots)
    chosen: list[str] = []
    for _ in range(min(seats, len(candidates))):
        best = []
        for c in candidates:
            if c in chosen:
                continue
            backers = [i for i, b in enumerate(ballots) if c in b]
            if not backers:
                continue
            new = (1 + sum(load[i] for i in backers)) / len(backers)
            best.append((new, c, backers))
        if not best:
            return chosen
        best.sort(key=lambda t: t[0])
        if len(best) > 1 and best[0][0] == best[1][0]:
            return None
        new, c, backers = best[0]
        for i in backers:
            load[i] = new
        chosen.append(c)
    return chosen


def test_seq_phragmen_agrees_with_a_hand_written_count_on_random_profiles() -> None:
    rng = random.Random(5)
    checked = 0
    for _ in range(400):
        m, n, seats = rng.randint(3, 7), rng.randint(3, 30), rng.randint(2, 4)
        names = [f"c{i}" for i in range(m)]
        ballots = [sorted(rng.sample(names, rng.randint(1, m))) for _ in range(n)]
        expected = _seq_phragmen(names, seats, ballots)
        if expected is None:
            continue
        checked += 1
        assert sorted(phragmen_committee(names, seats, ballots)) == sorted(expected), ballots
    assert checked > 150


def test_proportionality_a_quarter_of_the_members_wins_a_quarter_of_the_seats() -> None:
    names = ["a1", "a2", "a3", "a4", "b1", "b2"]
    ballots = [["a1", "a2", "a3", "a4"]] * 30 + [["b1", "b2"]] * 10
    assert sorted(count("seq-phragmen", names, 4, ballots)["elected"]) == ["a1", "a2", "a3", "b1"]


# ---- a whole election over the API --------------------------------------------------------------------


def test_a_workplace_elects_two_delegates_who_then_hold_the_seat(client: TestClient) -> None:
    from abcvoting import abcrules
    from abcvoting.preferences import Profile

    board, cycle = _cycle(client)
    people = members(client, board, cycle, WORKPLACE, [f"m{i}" for i in range(10)])
    election = _call(client, board, cycle)
    for name in ("m0", "m1", "m2"):
        r = client.post(f"/api/elections/{election}/candidates", json={}, headers=people[name])
        assert r.status_code == 201, r.text
    ballots = [["m0", "m1"]] * 4 + [["m0"]] * 2 + [["m2"]] * 4
    assert proposal_status(client, cycle, WORKPLACE, people["m2"]) == 403  # nobody holds the seat yet
    tally = elect(client, board, election, ballots, people)
    # the result against abcvoting, on the ballots the platform published (shuffled) at the close
    p = client.app.state.platform
    with p.db.read() as s:
        published = [
            b.choice for b in s.scalars(select(e.ElectionBallot).where(e.ElectionBallot.election_id == election))
        ]
    assert sorted(map(tuple, published)) == sorted(map(tuple, ballots))
    profile = Profile(3)
    profile.add_voters([{int(c[1]) for c in b} for b in published])
    (committee,) = abcrules.compute("seqphragmen", profile, 2, resolute=True)
    assert sorted(tally["elected"]) == sorted(f"m{i}" for i in committee) == ["m0", "m2"]  # 6:4 shares 1:1
    assert _seq_phragmen(["m0", "m1", "m2"], 2, published) == ["m0", "m2"]  # no tie anywhere
    assert tally["turnout"] == 10 and tally["members"] == 10 and tally["candidates"] == 3
    # the winners hold the council's delegate seat as the platform has it; the others do not
    assert proposal_status(client, cycle, WORKPLACE, people["m2"]) == 201
    assert proposal_status(client, cycle, WORKPLACE, people["m0"]) == 201
    assert proposal_status(client, cycle, WORKPLACE, people["m1"]) == 403
    view = client.get(f"/api/cycles/{cycle}/elections").json()
    assert view["contested"] == {"posts": 1, "contested": 1, "share": 1.0}
    (row,) = view["elections"]
    assert row["candidates"] == 3 and row["turnout"] == 10 and sorted(row["elected"]) == ["m0", "m2"]


def test_a_manager_is_elected_by_schulze_and_holds_the_manager_grant(client: TestClient) -> None:
    board, cycle = _cycle(client)
    people = members(client, board, cycle, WORKPLACE, ["ann", "ben", "cat", "dan", "eve"])
    election = _call(client, board, cycle, "manager", 1)
    client.post(f"/api/elections/{election}/candidates", json={}, headers=people["ann"])
    client.post(f"/api/elections/{election}/candidates", json={"username": "ben"}, headers=people["cat"])
    r = client.post(f"/api/elections/{election}/accept", headers=people["ben"])
    assert r.status_code == 200, r.text
    ranked = [[["ben"], ["ann"]]] * 3 + [[["ann"], ["ben"]]] * 2
    tally = elect(client, board, election, ranked, people)
    assert tally["elected"] == ["ben"] and tally["pairwise"]["ben"]["ann"] == 3
    p = client.app.state.platform
    from glasnost.service.accounts import Viewer

    ben = Viewer(p.accounts.account_id("ben"), "ben")
    assert p.accounts.may_act_for(ben, "manager", f"{cycle}/{WORKPLACE}")
    assert not p.accounts.may_act_for(Viewer(p.accounts.account_id("ann"), "ann"), "manager", f"{cycle}/{WORKPLACE}")
    # a recall of the manager: the grant row goes, read afresh by the next check
    term = client.get(f"/api/cycles/{cycle}/elections").json()["councils"][0]["holders"][0]["term"]
    vote = client.post(f"/api/terms/{term}/signatures", headers=people["eve"]).json()["election"]  # 20% of 5
    for name in ("ann", "cat", "dan"):
        client.post(f"/api/elections/{vote}/ballots", json={"choice": ["yes"]}, headers=people[name])
    assert client.post(f"/api/elections/{vote}/close", headers=board).json()["passed"]
    assert not p.accounts.may_act_for(ben, "manager", f"{cycle}/{WORKPLACE}")
    r = client.post(
        f"/api/cycles/{cycle}/elections", json={"council": "neighbourhood-1", "post": "manager"}, headers=board
    )
    assert r.status_code == 422 and "only a workplace" in r.json()["detail"]


# ---- refusals: clear, 4xx, nothing stored ----------------------------------------------------------------


def _rows(client: TestClient) -> dict[str, int]:
    p = client.app.state.platform
    with p.db.read() as s:
        return {
            t.__tablename__: int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in (e.Candidacy, e.ElectionVoter, e.ElectionBox, e.RecallSignature, e.RecallPetition)
        }


def _refused(client: TestClient, method: str, url: str, status: int, words: str, **kw: Any) -> None:
    before = _rows(client)
    r = client.request(method, url, **kw)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"], r.json()
    assert _rows(client) == before


def test_every_refusal_is_clear_and_stores_nothing(client: TestClient) -> None:
    board, cycle = _cycle(client)
    people = members(client, board, cycle, WORKPLACE, [f"m{i}" for i in range(10)])  # a recall needs 2
    p = client.app.state.platform
    p.accounts.create("outsider", "outsider-password")
    outsider = bearer(client, "outsider", "outsider-password")
    election = _call(client, board, cycle, seats=1)
    url = f"/api/elections/{election}"
    assert client.post(f"{url}/candidates", json={}, headers=people["m0"]).status_code == 201
    _refused(
        client,
        "POST",
        f"{url}/candidates",
        409,
        f"election {election}: m0 is a candidate already",
        json={},
        headers=people["m0"],
    )
    _refused(
        client,
        "POST",
        f"{url}/candidates",
        403,
        f"candidate: outsider is not a member of council {WORKPLACE}",
        json={"username": "outsider"},
        headers=people["m1"],
    )
    _refused(
        client,
        "POST",
        f"{url}/candidates",
        404,
        "candidate: there is no account 'nobody'",
        json={"username": "nobody"},
        headers=people["m1"],
    )
    _refused(client, "POST", f"{url}/candidates", 403, "is not a member", json={}, headers=outsider)
    _refused(
        client, "POST", f"{url}/ballots", 409, "not open for voting", json={"choice": ["m0"]}, headers=people["m1"]
    )
    _refused(
        client, "POST", "/api/elections/999/candidates", 404, "there is no election 999", json={}, headers=people["m1"]
    )
    client.post(f"{url}/voting", headers=board)
    _refused(
        client,
        "POST",
        f"{url}/candidates",
        409,
        "nominations to this election are closed",
        json={},
        headers=people["m1"],
    )
    _refused(client, "POST", f"{url}/ballots", 422, "ballot: ", json={"choice": ["m9"]}, headers=people["m1"])
    _refused(
        client, "POST", f"{url}/ballots", 403, "outsider is not a member", json={"choice": ["m0"]}, headers=outsider
    )
    assert client.post(f"{url}/ballots", json={"choice": ["m0"]}, headers=people["m1"]).status_code == 201
    _refused(
        client,
        "POST",
        f"{url}/ballots",
        409,
        "m1 has voted already; one ballot per member",
        json={"choice": ["m0"]},
        headers=people["m1"],
    )
    assert client.post(f"{url}/close", headers=board).status_code == 200
    _refused(
        client,
        "POST",
        f"{url}/ballots",
        409,
        f"election {election}: this election is not open for voting",
        json={"choice": ["m0"]},
        headers=people["m2"],
    )
    # recall: a non-member, and twice
    term = client.get(f"/api/cycles/{cycle}/elections").json()["councils"][0]["holders"][0]["term"]
    _refused(client, "POST", f"/api/terms/{term}/signatures", 403, "outsider is not a member", headers=outsider)
    assert client.post(f"/api/terms/{term}/signatures", headers=people["m1"]).status_code == 201
    _refused(
        client,
        "POST",
        f"/api/terms/{term}/signatures",
        409,
        f"term {term}: you have signed this petition already; one signature per member",
        headers=people["m1"],
    )
    _refused(client, "POST", "/api/terms/999/signatures", 404, "there is no term 999", headers=people["m1"])
    # and the pages answer in words, in Russian too, with the typed value kept
    r = client.post(f"/elections/{election}", data={"action": "nominate", "username": "x"}, headers=people["m1"])
    assert r.status_code == 404 and "Refused:" in r.text and "there is no account &#39;x&#39;" in r.text
    r = client.post(f"/terms/{term}", headers={**people["m1"], "Accept-Language": "ru"})
    assert r.status_code == 409 and 'id="error-sign"' in r.text and "signed this petition already" not in r.text


# ---- recall -----------------------------------------------------------------------------------------------


def test_a_recall_passes_the_grant_is_gone_in_every_process_and_a_by_election_opens(backend: Any) -> None:
    with _client(backend) as client, _client(backend, first=False) as other:
        board, cycle = _cycle(client)
        people = members(client, board, cycle, WORKPLACE, [f"m{i}" for i in range(10)])
        election = _call(client, board, cycle, seats=1)
        client.post(f"/api/elections/{election}/candidates", json={}, headers=people["m0"])
        client.post(f"/api/elections/{election}/candidates", json={}, headers=people["m1"])
        elect(client, board, election, [[["m0"]]] * 6 + [[["m1"]]] * 4, people)
        m0_other = bearer(other, "m0", "m0-password")  # the holder, through a second process
        assert proposal_status(other, cycle, WORKPLACE, m0_other) == 201
        term = client.get(f"/api/cycles/{cycle}/elections").json()["councils"][0]["holders"][0]["term"]
        first = client.post(f"/api/terms/{term}/signatures", headers=people["m5"]).json()
        assert first == {
            "petition": first["petition"],
            "signatures": 1,
            "needed": 2,
            "status": "open",
            "election": None,
        }
        second = client.post(f"/api/terms/{term}/signatures", headers=people["m6"]).json()
        assert second["status"] == "vote" and second["signatures"] == 2  # 20% of 10
        vote = second["election"]
        for name, answer in [("m1", "yes"), ("m2", "yes"), ("m3", "yes"), ("m4", "no"), ("m5", "yes")]:
            r = client.post(f"/api/elections/{vote}/ballots", json={"choice": [answer]}, headers=people[name])
            assert r.status_code == 201, r.text
        tally = client.post(f"/api/elections/{vote}/close", headers=board).json()
        assert tally["passed"] and (tally["yes"], tally["no"]) == (4, 1)
        assert proposal_status(other, cycle, WORKPLACE, m0_other) == 403  # the next request, another process
        stored = other.get(f"/api/elections/{vote}").json()["election"]["tally"]
        assert stored["by_election"] == tally["by_election"]
        by = other.get(f"/api/elections/{tally['by_election']}").json()["election"]
        assert by["status"] == "nominating" and by["reason"] == "by-election" and by["seats"] == 1
        assert other.get(f"/api/terms/{term}").json()["term"]["end_reason"] == "recalled"


def test_who_signed_is_stored_nowhere(client: TestClient) -> None:
    board, cycle = _cycle(client)
    people = members(client, board, cycle, WORKPLACE, [f"m{i}" for i in range(10)])
    election = _call(client, board, cycle, seats=1)
    client.post(f"/api/elections/{election}/candidates", json={}, headers=people["m0"])
    elect(client, board, election, [[["m0"]]], people)
    term = client.get(f"/api/cycles/{cycle}/elections").json()["councils"][0]["holders"][0]["term"]
    p = client.app.state.platform
    signer = p.accounts.account_id("m7")
    client.post(f"/api/terms/{term}/signatures", headers=people["m7"])
    with p.db.read() as s:
        (mark,) = s.scalars(select(e.RecallSignature.mark))
        audits = s.execute(text("SELECT account_id, action FROM audit_events WHERE action = 'sign-recall'")).all()
    assert audits == [(None, "sign-recall")]
    import hashlib

    assert mark not in {hashlib.sha256(str(signer).encode()).hexdigest(), str(signer)}
    assert client.get(f"/api/terms/{term}").json()["petitions"][0]["signatures"] == 1
    client.post(f"/api/terms/{term}/signatures", headers=people["m8"])  # the threshold: the key is deleted
    assert p.vault.get("recall-petition:1") is None


def test_a_term_that_ends_drops_the_grant_and_opens_the_post_again(client: TestClient) -> None:
    board, cycle = _cycle(client)
    people = members(client, board, cycle, WORKPLACE, ["a1", "a2", "a3"])
    election = _call(client, board, cycle, seats=1)
    client.post(f"/api/elections/{election}/candidates", json={}, headers=people["a1"])
    elect(client, board, election, [[["a1"]]], people)
    assert proposal_status(client, cycle, WORKPLACE, people["a1"]) == 201
    p = client.app.state.platform
    with p.db.write() as s:
        s.execute(update(e.Term).values(ends_at=utcnow() - timedelta(seconds=1)))
    assert p.elections.due() == 1
    assert proposal_status(client, cycle, WORKPLACE, people["a1"]) == 403
    rows = client.get(f"/api/cycles/{cycle}/elections").json()["elections"]
    assert rows[0]["reason"] == "term-ended" and rows[0]["status"] == "nominating"


def test_an_invitation_can_make_a_member_of_a_council(client: TestClient) -> None:
    board, cycle = _cycle(client)
    r = client.post(f"/api/cycles/{cycle}/invitations", json={"role": "member", "council": WORKPLACE}, headers=board)
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/invitations/{r.json()['token']}/accept", json={"username": "zoe", "password": "zoe-password"}
    )
    assert r.status_code == 200, r.text
    zoe = {"Authorization": f"Bearer {r.json()['token']}"}
    election = _call(client, board, cycle)
    assert client.post(f"/api/elections/{election}/candidates", json={}, headers=zoe).status_code == 201
    assert client.get(f"/api/cycles/{cycle}/elections").json()["councils"][0]["members"] == 1


def test_the_pages_forms_nominate_accept_and_refuse_in_words(client: TestClient) -> None:
    board, cycle = _cycle(client)
    people = members(client, board, cycle, WORKPLACE, ["ann", "ben"])
    client.get("/")
    csrf = client.cookies.get("glasnost_csrf")
    url = f"/cycles/{cycle}/elections"
    form = {"csrf_token": csrf, "action": "call", "council": WORKPLACE, "post": "delegates", "seats": "0"}
    r = client.post(url, data=form, headers=board)
    assert (
        r.status_code == 422
        and "0 is not between 1 and 100" in r.text
        and 'id="call-seats" min="1" max="100" value="0"' in r.text
    )
    r = client.post(url, data={**form, "seats": "2"}, headers=board, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(url, data={"csrf_token": csrf, "action": "share", "recall_share_percent": "250"}, headers=board)
    assert r.status_code == 422 and "250 is not between 1 and 100" in r.text
    assert (
        client.post(
            url,
            data={"csrf_token": csrf, "action": "share", "recall_share_percent": "30"},
            headers=board,
            follow_redirects=False,
        ).status_code
        == 303
    )
    assert client.get(f"/api/cycles/{cycle}/elections").json()["recall_share"] == pytest.approx(0.3)
    (election,) = client.get(f"/api/cycles/{cycle}/elections").json()["elections"]
    page = f"/elections/{election['id']}"
    r = client.post(
        page,
        data={"csrf_token": csrf, "action": "nominate", "username": "ben"},
        headers=people["ann"],
        follow_redirects=False,
    )
    assert r.status_code == 303
    text = client.get(page, headers=people["ben"]).text
    assert "ann nominated you." in text and 'id="accept"' in text
    assert (
        client.post(
            page, data={"csrf_token": csrf, "action": "accept"}, headers=people["ben"], follow_redirects=False
        ).status_code
        == 303
    )
    text = client.get(page, headers={"Accept-Language": "ru"}).text
    assert "выдвинут(а) участником ann, согласие дано" in text
    r = client.post(page, data={"csrf_token": csrf, "action": "stand", "statement": "x" * 501}, headers=people["ann"])
    assert r.status_code == 422 and "at most 500 characters" in r.text and "x" * 501 in r.text


def test_ballots_are_sealed_apart_from_voters_and_published_shuffled_at_the_close(client: TestClient) -> None:
    board, cycle = _cycle(client)
    people = members(client, board, cycle, WORKPLACE, [f"v{i}" for i in range(8)])
    election = _call(client, board, cycle, seats=2)
    for name in ("v0", "v1", "v2"):
        client.post(f"/api/elections/{election}/candidates", json={}, headers=people[name])
    client.post(f"/api/elections/{election}/voting", headers=board)
    cast = [["v0"], ["v1"], ["v2"], ["v0", "v1"], ["v0", "v2"], ["v1", "v2"], ["v0", "v1", "v2"], ["v2"]]
    for choice, headers in zip(cast, people.values(), strict=True):
        assert (
            client.post(f"/api/elections/{election}/ballots", json={"choice": choice}, headers=headers).status_code
            == 201
        )
    p = client.app.state.platform
    # while open: sealed rows that name no voter and carry no time; nothing in the clear; no tally
    for table in (e.ElectionBox, e.ElectionBallot):
        assert not {c.name for c in table.__table__.columns} & {"account_id", "at", "created_at", "voter"}
    with p.db.read() as s:
        sealed = list(s.scalars(select(e.ElectionBox.sealed)))
        assert len(sealed) == 8 and not any(b"v0" in x or b"v1" in x for x in sealed)
        assert s.scalar(select(func.count()).select_from(e.ElectionBallot)) == 0
    assert client.get(f"/api/elections/{election}").json()["election"]["tally"] is None
    assert client.get(f"/api/elections/{election}").json()["election"]["turnout"] == 8
    tally = client.post(f"/api/elections/{election}/close", headers=board).json()
    # closed: the box and its key gone; the ballots stored and published, the same multiset as cast
    assert p.vault.get(f"election-box:{election}") is None
    with p.db.read() as s:
        assert s.scalar(select(func.count()).select_from(e.ElectionBox)) == 0
        assert s.scalar(select(func.count()).select_from(e.ElectionReceipt)) == 8
    index = client.get(f"/api/elections/{election}").json()["election"]["ledger_index"]
    entry = p.books.call(lambda ledger: ledger.entry(index - 1))  # the ballots, just before the tally
    assert entry.payload["election"] == election
    assert sorted(map(tuple, entry.payload["ballots"])) == sorted(map(tuple, cast))
    assert tally["approvals"] == {"v0": 4, "v1": 4, "v2": 5}
    assert [f for f in p.check_books(grace=0) if not getattr(f, "pending", False)] == []  # the books still agree


def test_a_count_left_unpublished_by_a_crash_is_published_at_the_next_start(tmp_path: Path) -> None:
    backend = next(make_backend("sqlite", tmp_path))
    with _client(backend) as client:
        board, cycle = _cycle(client)
        people = members(client, board, cycle, WORKPLACE, ["ann", "ben"])
        election = _call(client, board, cycle, seats=1)
        client.post(f"/api/elections/{election}/candidates", json={}, headers=people["ann"])
        elect(client, board, election, [[["ann"]], [["ann"]]], people)
        p = client.app.state.platform
        with p.db.write() as s:  # as if the process died after the close's commit, before publishing
            s.execute(update(e.Election).values(ledger_index=None))
    with _client(backend, first=False) as again:
        found = again.get(f"/api/elections/{election}").json()["election"]
        assert found["ledger_index"] is not None
        entry = again.app.state.platform.books.call(lambda ledger: ledger.entry(found["ledger_index"]))
        assert entry.payload["election"] == election and entry.payload["elected"] == ["ann"]


def test_a_close_while_ballots_arrive_counts_every_ballot_it_accepted(backend: Any) -> None:
    """Ballots cast from many threads while the board closes: every member recorded as having voted
    has their ballot counted, and no sealed ballot is left behind in the box."""
    from concurrent.futures import ThreadPoolExecutor

    from glasnost.service.accounts import Viewer
    from glasnost.service.errors import ConflictError

    with _client(backend) as client:
        board, cycle = _cycle(client)
        p = client.app.state.platform
        names = [f"t{i}" for i in range(40)]
        people = members(client, board, cycle, WORKPLACE, names[:2])
        with p.db.write() as s:  # the other members straight into the tables (no password hashing)
            from glasnost.service import models as sm

            council = s.scalar(select(sm.Council.id).where(sm.Council.cycle_id == cycle, sm.Council.code == WORKPLACE))
            for name in names[2:]:
                account = sm.Account(username=name, password_hash="-")
                s.add(account)
                s.flush()
                s.add(sm.Membership(account_id=account.id, cycle_id=cycle, council_id=council, role="member"))
        election = _call(client, board, cycle, seats=1)
        client.post(f"/api/elections/{election}/candidates", json={}, headers=people["t0"])
        client.post(f"/api/elections/{election}/voting", headers=board)
        viewers = [Viewer(p.accounts.account_id(n), n) for n in names]

        def cast(v: Viewer) -> bool:
            try:
                p.elections.cast(v, election, [["t0"]])
                return True
            except ConflictError:
                return False

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(cast, v) for v in viewers]
            tally = client.post(f"/api/elections/{election}/close", headers=board).json()
            accepted = sum(f.result() for f in futures)
        with p.db.read() as s:
            voters = s.scalar(select(func.count()).select_from(e.ElectionVoter))
            left = s.scalar(select(func.count()).select_from(e.ElectionBox))
        assert voters == accepted == tally["turnout"] and left == 0
