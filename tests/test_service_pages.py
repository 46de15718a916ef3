"""What the pages compute and how they guide (without a browser): the variants compared, the signed
imbalance against the procedure's own, invitations many at once as full links and CSV, where an
accepted invitation lands, and the ballot's confirmation step that stores nothing until cast."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_support import BOARD, bearer, delegate, make_backend
from sqlalchemy import func, select

from glasnost.service import models as m
from glasnost.service.views import _signed_imbalance, variant_comparison

COMMODITIES = [
    {"id": "bread", "unit": "t", "kind": 0, "public": False},
    {"id": "parks", "unit": "ha", "kind": 1, "public": True},
    {"id": "hours", "unit": "h", "kind": 3, "public": False},
]


def test_variants_compared_in_plain_terms() -> None:
    variants = [
        {"key": "a", "data": {"net_output": {"bread": 10.0, "parks": 2.0, "hours": -100.0}, "reserved": {}}},
        {"key": "b", "data": {"net_output": {"bread": 8.0, "parks": 3.0, "hours": -90.0}, "reserved": {"hours": 10.0}}},
    ]
    cmp = variant_comparison(variants, COMMODITIES)
    goods, public, labour = cmp["groups"]
    assert [g["group"] for g in cmp["groups"]] == ["goods", "public goods", "labour"]
    assert goods["rows"][0]["values"] == [10.0, 8.0] and goods["rows"][0]["change"] == [0.0, -0.2]
    assert public["rows"][0]["change"] == [0.0, 0.5] and public["rows"][0]["best"] == 1
    # labour: what a variant uses is the negative of its net output; what it sets aside beside it
    assert labour["rows"][0]["values"] == [100.0, 90.0] and labour["rows"][0]["reserved"] == [0.0, 10.0]
    totals = {(t["group"], t["aside"]): t for t in cmp["totals"]}
    assert totals[("labour", True)]["values"] == [0.0, 10.0] and totals[("labour", True)]["change"] == [None, None]
    assert totals[("labour", True)]["unit"] == "h"
    assert variant_comparison([], COMMODITIES)["groups"] == []


def test_the_signed_imbalance_is_the_procedures_with_a_sign() -> None:
    from glasnost.procedures import imbalance_of

    rng = np.random.default_rng(7)
    supply, demand = rng.uniform(0, 5, 40), rng.uniform(0, 5, 40)
    ids = [f"c{i}" for i in range(40)]
    signed = _signed_imbalance(dict(zip(ids, supply, strict=True)), dict(zip(ids, demand, strict=True)))
    got = np.array([signed[c] for c in ids])
    np.testing.assert_allclose(np.abs(got), imbalance_of(supply, demand), rtol=1e-12)
    assert np.all(np.sign(got) == np.sign(demand - supply))  # positive: more asked for than offered


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    from glasnost.service.app import create_app

    app = create_app(next(make_backend("sqlite", tmp_path)).settings())
    app.state.platform.accounts.create(*BOARD, board=True)
    with TestClient(app) as c:
        yield c, app.state.platform


def _form_login(client: TestClient, username: str, password: str) -> None:
    client.get("/login")
    form = {"username": username, "password": password, "csrf_token": client.cookies.get("glasnost_csrf")}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303


def test_invitations_many_at_once_as_links_and_csv(app_client: tuple[TestClient, Any]) -> None:
    client, platform = app_client
    board = bearer(client, *BOARD)
    cycle = client.post("/api/cycles", json={"name": "links"}, headers=board).json()["id"]
    delegate(client, board, cycle, "neighbourhood-1", "bob")
    _form_login(client, *BOARD)
    csrf = client.cookies.get("glasnost_csrf")
    r = client.post(f"/cycles/{cycle}/invitations", data={"role": "delegate", "all_open": "1", "csrf_token": csrf})
    assert r.status_code == 200
    links = re.findall(r'<code class="invitation-url" id="invitation-url-\d+">([^<]+)</code>', r.text)
    councils = platform.cycles.councils(cycle)
    assert len(links) == len(councils) - 1  # every council without a delegate (bob holds one)
    assert all(link.startswith("http://testserver/invite/") for link in links)
    r = client.post(
        f"/cycles/{cycle}/invitations", data={"role": "member", "count": "3", "format": "csv", "csrf_token": csrf}
    )
    assert r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 3 and {row["role"] for row in rows} == {"member"}
    # each link works (once): the invitation page names what it is for
    page = client.get(rows[0]["link"].removeprefix("http://testserver"))
    assert page.status_code == 200 and "member of the planning cycle" in page.text
    with platform.db.read() as s:
        made = s.scalar(select(func.count(m.Invitation.id)))
    assert made == len(councils) - 1 + 3 + 1


def test_an_accepted_invitation_lands_where_its_holder_acts(app_client: tuple[TestClient, Any]) -> None:
    client, _ = app_client
    board = bearer(client, *BOARD)
    cycle = client.post("/api/cycles", json={"name": "landing"}, headers=board).json()["id"]
    token = client.post(
        f"/api/cycles/{cycle}/invitations", json={"role": "delegate", "council": "make-fishing-0"}, headers=board
    ).json()["token"]
    client.get(f"/invite/{token}")
    form = {"username": "x", "password": "short", "csrf_token": client.cookies.get("glasnost_csrf")}
    r = client.post(f"/invite/{token}", data=form)  # a refusal: the form again, the name kept
    assert r.status_code == 422 and 'id="invite-error"' in r.text and 'value="x"' in r.text
    form["password"] = "long-enough-password"
    r = client.post(f"/invite/{token}", data=form, follow_redirects=False)
    assert r.headers["location"] == f"/cycles/{cycle}/councils/make-fishing-0?welcome=delegate"
    page = client.get(r.headers["location"])
    assert 'id="welcome"' in page.text and 'id="proposal-form"' in page.text


def test_the_ballot_is_confirmed_before_it_is_cast(app_client: tuple[TestClient, Any]) -> None:
    client, platform = app_client
    board = bearer(client, *BOARD)
    cycle = client.post("/api/cycles", json={"name": "vote"}, headers=board).json()["id"]
    delegate(client, board, cycle, "neighbourhood-1", "bob")
    for path in ("rounds/run", "variants", "vote/open"):
        assert client.post(f"/api/cycles/{cycle}/{path}", json={"limit": 500}, headers=board).status_code == 200
    _form_login(client, "bob", "bob-pw-123")
    csrf = client.cookies["glasnost_csrf"]
    ballot = {"approve": ["invest"], "rank:invest": "1", "rank:public": "2", "csrf_token": csrf}
    r = client.post(f"/cycles/{cycle}/vote", data={**ballot, "action": "review"})
    assert 'id="confirm-cast"' in r.text and "Invest a tenth" in r.text and "invest</strong>" not in r.text
    assert platform.views.vote(cycle, platform.accounts.viewer(None, "cookie"))["vote"]["turnout"] == 0
    r = client.post(f"/cycles/{cycle}/vote", data={**ballot, "action": "change"})
    assert 'id="approve-invest" checked' in r.text and 'id="rank-public" value="2"' in r.text
    r = client.post(f"/cycles/{cycle}/vote", data={**ballot, "action": "ballot"})
    assert 'id="receipt-code"' in r.text
    assert platform.views.vote(cycle, platform.accounts.viewer(None, "cookie"))["vote"]["turnout"] == 1
