"""Helpers of the election tests: a cycle with a council of members, each with a bearer header."""

from __future__ import annotations

from typing import Any

from service_support import bearer

WORKPLACE = "make-agriculture-0"


def members(
    client: Any, board: dict[str, str], cycle: int, council: str, names: list[str]
) -> dict[str, dict[str, str]]:
    """Accounts made members of ``council`` by the board; their bearer headers by name."""
    platform = client.app.state.platform
    out = {}
    for name in names:
        platform.accounts.create(name, name + "-password")
        r = client.post(f"/api/cycles/{cycle}/councils/{council}/members", json={"username": name}, headers=board)
        assert r.status_code == 201, r.text
        out[name] = bearer(client, name, name + "-password")
    return out


def proposal_status(client: Any, cycle: int, council: str, headers: dict[str, str]) -> int:
    """What the existing authorisation answers a delegate's proposal for ``council`` with."""
    body = {"council": council, "supply": {"agriculture": 1.0}, "demand": {"mining": 0.1}}
    return client.post(f"/api/cycles/{cycle}/proposals", json=body, headers=headers).status_code


def elect(
    client: Any, board: dict[str, str], election: int, ballots: list[Any], voters: dict[str, dict[str, str]]
) -> dict:
    """Open voting, cast ``ballots`` (one per voter, in order) and close; the tally."""
    r = client.post(f"/api/elections/{election}/voting", headers=board)
    assert r.status_code == 200, r.text
    for choice, headers in zip(ballots, voters.values(), strict=False):
        r = client.post(f"/api/elections/{election}/ballots", json={"choice": choice}, headers=headers)
        assert r.status_code == 201, r.text
    r = client.post(f"/api/elections/{election}/close", headers=board)
    assert r.status_code == 200, r.text
    return r.json()
