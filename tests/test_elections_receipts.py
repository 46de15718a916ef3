"""A voter checks an election receipt (issue 18): sealed while voting is open, counted in election N
once it closes (the receipt's hash found in the published ``election-ballots`` entry, read from
the log here), never what the ballot said; a wrong or empty code is refused clearly, beside the
field with the typed code kept; in English and Russian; linked from the election's page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from election_support import WORKPLACE, members
from fastapi.testclient import TestClient
from service_support import BOARD, bearer, make_backend

from glasnost.service.security import hash_token

BALLOTS = {"ann": ["zelda"], "ben": ["zelda", "yorick"], "cat": ["yorick"]}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    from glasnost.service.app import create_app

    app = create_app(next(make_backend("sqlite", tmp_path)).settings(jobs=False))
    app.state.platform.accounts.create(*BOARD, board=True)
    with TestClient(app) as c:
        yield c


def _voting(client: TestClient) -> tuple[dict[str, str], int, dict[str, str]]:
    """An election of two delegates among zelda, yorick and xena, voting open, three ballots cast:
    the board's header, the election and each voter's receipt code."""
    board = bearer(client, *BOARD)
    cycle = client.post("/api/cycles", json={"name": "receipts"}, headers=board).json()["id"]
    people = members(client, board, cycle, WORKPLACE, [*BALLOTS, "zelda", "yorick", "xena"])
    r = client.post(f"/api/cycles/{cycle}/elections", json={"council": WORKPLACE, "post": "delegates", "seats": 2},
                    headers=board)
    election = r.json()["id"]
    for name in ("zelda", "yorick", "xena"):
        client.post(f"/api/elections/{election}/candidates", json={}, headers=people[name])
    assert client.post(f"/api/elections/{election}/voting", headers=board).status_code == 200
    codes = {}
    for name, choice in BALLOTS.items():
        r = client.post(f"/api/elections/{election}/ballots", json={"choice": choice}, headers=people[name])
        assert r.status_code == 201, r.text
        codes[name] = r.json()["code"]
    return board, election, codes


def test_a_receipt_is_sealed_then_counted_and_never_shows_the_ballot(client: TestClient) -> None:
    board, election, codes = _voting(client)
    sealed = client.post("/api/elections/receipts", json={"code": codes["ben"]})
    assert sealed.status_code == 200 and sealed.json()["status"] == "sealed"
    assert sealed.json()["election"] == election and sealed.json()["ballots_counted"] is None
    page = client.get(f"/elections/{election}").text
    assert 'href="/elections/receipts"' in page  # the election's page links to the check
    assert client.post(f"/api/elections/{election}/close", headers=board).status_code == 200
    p = client.app.state.platform
    for name, code in codes.items():
        answer = client.post("/api/elections/receipts", json={"code": f"  {code} "}).json()
        assert answer["status"] == "counted" and answer["election"] == election
        assert answer["ballots_counted"] == len(BALLOTS)
        # the log, read here: the ballots entry the answer names lists this receipt's hash
        entry = p.books.call(lambda ledger, i=answer["inclusion"]["index"]: ledger.entry(i))
        assert entry.kind == "election-ballots" and entry.payload["election"] == election
        assert hash_token(code) in entry.payload["receipts"]
        assert answer["inclusion"] == {**answer["inclusion"], "listed": True, "verified": True}
        # nothing in the answer says what the ballot was: no candidate's name anywhere in it
        for text in (str(answer), client.get("/elections/receipts", params={"code": code}).text):
            assert not any(c in text for c in ("zelda", "yorick", "xena")), (name, text)
    text = client.get("/elections/receipts", params={"code": codes["ann"]}).text
    assert f"Your ballot was counted in election {election}" in text and "one of the 3 ballots" in text
    ru = client.get("/elections/receipts", params={"code": codes["ann"]}, headers={"Accept-Language": "ru"}).text
    assert f"Ваш бюллетень учтён на выборах {election}" in ru and "Квитанции опубликованы" in ru


def test_a_wrong_or_empty_code_is_refused_beside_the_field_with_the_code_kept(client: TestClient) -> None:
    _voting(client)
    r = client.post("/api/elections/receipts", json={"code": "not-my-code"})
    assert r.status_code == 404 and "no ballot has this receipt code" in r.text
    r = client.post("/api/elections/receipts", json={"code": "   "})
    assert r.status_code == 422 and "enter the receipt code you were given when you voted" in r.text
    page = client.get("/elections/receipts", params={"code": "not-my-code"})
    assert page.status_code == 404
    assert 'id="error-code"' in page.text and "no ballot has this receipt code" in page.text
    assert 'value="not-my-code"' in page.text and 'aria-invalid="true"' in page.text
    page = client.get("/elections/receipts", params={"code": ""})
    assert page.status_code == 422 and "enter the receipt code" in page.text
    ru = client.get("/elections/receipts", params={"code": "<b>x"}, headers={"Accept-Language": "ru"})
    assert ru.status_code == 404 and "&lt;b&gt;x" in ru.text and "<b>x" not in ru.text
    assert "Код квитанции" in ru.text and "no ballot has this receipt code" not in ru.text
    blank = client.get("/elections/receipts")
    assert blank.status_code == 200 and 'id="error-code"' not in blank.text
