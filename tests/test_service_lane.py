"""The lean way for a council program's proposal (:class:`glasnost.service.routes.lane.ProposalLane`):
it takes exactly the requests it should, and answers each as the ordinary route does: the same
status, message (in the asker's language), protective headers and stored proposal. The ordinary
route is reached with an ``Idempotency-Key``, which the lane never takes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_support import BOARD, bearer, delegate, make_backend

from glasnost.service.routes.lane import ProposalLane

_keys = itertools.count()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[dict[str, Any]]:
    from glasnost.service.app import create_app

    for backend in make_backend("sqlite", tmp_path):
        app = create_app(backend.settings())
        app.state.platform.accounts.create(*BOARD, board=True)
        with TestClient(app) as client:
            board = bearer(client, *BOARD)
            cycle = client.post("/api/cycles", json={"name": "lane"}, headers=board).json()["id"]
            worker = delegate(client, board, cycle, "make-agriculture-0", "alice")
            yield {"client": client, "cycle": cycle, "worker": worker}


def _both(api: dict[str, Any], body: Any, headers: dict[str, str] | None = None, cycle: int | None = None) -> Any:
    """The answer through the lane and the answer through the route, for the same request."""
    client = api["client"]
    url = f"/api/cycles/{cycle or api['cycle']}/proposals"
    headers = {**api["worker"], **(headers or {})}
    lane = client.post(url, json=body, headers=headers)
    route = client.post(url, json=body, headers={**headers, "Idempotency-Key": f"k{next(_keys)}"})
    return lane, route


def _scope(path: str = "/api/cycles/7/proposals", **headers: str) -> dict[str, Any]:
    base = {"authorization": "Bearer abc", "content-type": "application/json", "content-length": "10"}
    given = {k.replace("_", "-"): v for k, v in headers.items()}
    merged = {k: v for k, v in {**base, **given}.items() if v is not None}
    encoded = [(k.encode(), v.encode()) for k, v in merged.items()]
    return {"type": "http", "method": "POST", "path": path, "headers": encoded}


def test_the_lane_takes_only_a_bearer_json_proposal_without_key() -> None:
    assert ProposalLane._recognised(_scope()) == ("abc", 7)
    assert ProposalLane._recognised(_scope(content_type="application/json; charset=utf-8")) == ("abc", 7)
    for scope in (
        _scope(idempotency_key="k1"),
        _scope(authorization=None),
        _scope(authorization="Basic abc"),
        _scope(content_type="text/csv"),
        _scope(content_length=None),  # chunked: the route's body limit applies
        _scope("/api/cycles/7/proposals.csv"),
        _scope("/api/cycles/0/proposals"),
        _scope(f"/api/cycles/{2**31}/proposals"),  # beyond any id: the route answers 422
        _scope("/api/cycles/07/proposals"),
    ):
        assert ProposalLane._recognised(scope) == (None, None), scope


def test_an_accepted_proposal_is_answered_and_stored_as_by_the_route(api: dict[str, Any]) -> None:
    body = {"council": "make-agriculture-0", "supply": {"agriculture": 2.0}, "demand": {"mining": 0.2}}
    lane, route = _both(api, body)
    assert lane.status_code == route.status_code == 201, (lane.text, route.text)
    assert lane.json().keys() == route.json().keys()
    assert lane.json()["receipt"]["kind"] == "proposal" and lane.json()["receipt"]["index"] >= 0
    for name in ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy"):
        assert lane.headers[name] == route.headers[name]
    assert "set-cookie" not in lane.headers  # a bearer client gets no CSRF cookie, either way
    stored = api["client"].get(f"/api/cycles/{api['cycle']}/proposals/{lane.json()['id']}").json()
    assert stored["supply"] == {"agriculture": 2.0} and stored["demand"] == {"mining": 0.2}
    assert stored["council"] == "make-agriculture-0"


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"council": "make-agriculture-0", "supply": {"agriculture": -1}}, {}, 422),  # the model refuses
        ({"council": "make-agriculture-0", "supply": {"agriculture": "x"}}, {}, 422),
        ({"council": "make-agriculture-0", "round": 5}, {}, 409),  # not the open round
        ({"council": "neighbourhood-1"}, {}, 403),  # not this delegate's council
        ({"council": "make-agriculture-0"}, {"Authorization": "Bearer not-a-token"}, 401),
        ({"council": "make-agriculture-0", "supply": {"agriculture": -1}}, {"Accept-Language": "ru"}, 422),
        ({"council": "make-agriculture-0", "round": 5}, {"Accept-Language": "ru"}, 409),
    ],
)
def test_a_refusal_is_the_routes_refusal(api: dict[str, Any], body: Any, headers: dict[str, str], status: int) -> None:
    lane, route = _both(api, body, headers)
    assert lane.status_code == route.status_code == status, (lane.text, route.text)
    assert lane.json() == route.json()
    assert lane.headers["content-security-policy"] == route.headers["content-security-policy"]


def test_an_unknown_cycle_is_refused_as_by_the_route(api: dict[str, Any]) -> None:
    lane, route = _both(api, {"council": "make-agriculture-0"}, cycle=999)
    assert lane.status_code == route.status_code == 404
    assert lane.json() == route.json()


def test_a_body_that_is_not_json_falls_to_the_route(api: dict[str, Any]) -> None:
    client = api["client"]
    headers = {**api["worker"], "Content-Type": "application/json"}
    r = client.post(f"/api/cycles/{api['cycle']}/proposals", content=b'{"council": ', headers=headers)
    assert r.status_code == 422 and "detail" in r.json()
