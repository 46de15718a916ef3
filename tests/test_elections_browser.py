"""Elections and recall as the members live them, in a real browser (Debian's chromium, Playwright):

- a workplace of ten members elects its two delegates from three members who stood by themselves
  (approval ballots; the proportional result checked against abcvoting on the published ballots);
- two members (20%) sign a recall petition against one of them, the recall vote passes, the
  delegate's seat is gone on the next request and the by-election opens; in it one member stands,
  another is nominated and accepts, members rank them (Schulze) and the winner holds the seat;
  a voter checks their receipt code from the election's page (a wrong code refused beside the
  field, the right one counted, the ballot not shown);
- every page on the way, at a phone's width (390 px) and a desktop's, fits the screen and has no
  serious or critical axe-core violation (the election pages, the receipt check, the term and
  recall page, the notification preferences).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from election_support import WORKPLACE
from service_support import BOARD, make_backend, serve_in_thread
from sqlalchemy import select
from test_pages_browser import SIZES, _browser, _check

pytestmark = pytest.mark.browser

MEMBERS = [f"member{i}" for i in range(10)]
CANDIDATES = MEMBERS[:3]
# what each member ticks: six back member0 (four of them member1 too), four back member2
APPROVALS = {name: ["member0", "member1"] for name in MEMBERS[:4]}
APPROVALS.update({name: ["member0"] for name in MEMBERS[4:6]})
APPROVALS.update({name: ["member2"] for name in MEMBERS[6:]})


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any, httpx.Client, int]]:
    from glasnost.service.app import create_app

    app = create_app(next(make_backend("sqlite", tmp_path)).settings())
    platform = app.state.platform
    platform.accounts.create(*BOARD, board=True)
    server, thread, base = serve_in_thread(app)
    api = httpx.Client(base_url=base, timeout=120)
    try:
        token = api.post("/api/login", json={"username": BOARD[0], "password": BOARD[1]}).json()["token"]
        api.headers["Authorization"] = f"Bearer {token}"
        cycle = api.post("/api/cycles", json={"name": "Democracy"}).json()["id"]
        for name in MEMBERS:
            platform.accounts.create(name, name + "-password")
            r = api.post(f"/api/cycles/{cycle}/councils/{WORKPLACE}/members", json={"username": name})
            assert r.status_code == 201, r.text
        yield base, app, api, cycle
    finally:
        api.close()
        server.should_exit = True
        thread.join(timeout=30)


def _login(page: Any, base: str, name: str, password: str | None = None) -> None:
    page.context.clear_cookies()
    page.goto(base + "/login")
    page.fill("#username", name)
    page.fill("#password", password or name + "-password")
    page.click("#login-submit")
    page.wait_for_selector("#who")


def _proposal(base: str, name: str, cycle: int) -> int:
    """What the existing authorisation answers ``name``'s proposal for the workplace with (a fresh login)."""
    with httpx.Client(base_url=base, timeout=60) as c:
        token = c.post("/api/login", json={"username": name, "password": name + "-password"}).json()["token"]
        body = {"council": WORKPLACE, "supply": {"agriculture": 1.0}, "demand": {"mining": 0.1}}
        headers = {"Authorization": f"Bearer {token}"}
        return c.post(f"/api/cycles/{cycle}/proposals", json=body, headers=headers).status_code


def test_a_workplace_elects_two_delegates_then_recalls_one(served: tuple[str, Any, httpx.Client, int]) -> None:
    from abcvoting import abcrules
    from abcvoting.preferences import Profile
    from playwright.sync_api import expect, sync_playwright

    from glasnost.service.elections import models as e

    base, app, api, cycle = served
    problems: list[str] = []
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            # the board calls the election
            _login(page, base, *BOARD)
            page.goto(f"{base}/cycles/{cycle}/elections")
            _check(page, "elections (board)", "phone", problems)
            page.select_option("#call-council", WORKPLACE)
            page.fill("#call-seats", "2")
            page.click("#call-election")
            election = int(page.locator("#elections-table a").first.get_attribute("id").split("-")[1])
            # three members stand by themselves
            for name in CANDIDATES:
                _login(page, base, name)
                page.goto(f"{base}/elections/{election}")
                page.fill("#statement", f"I am {name} and I will report back every week.")
                page.click("#stand")
                expect(page.locator("#standing")).to_be_visible()
            _check(page, "election taking candidates (member)", "phone", problems)
            expect(page.locator(".candidate")).to_have_count(3)
            # the board closes nominations; every member ticks their candidates
            _login(page, base, *BOARD)
            page.goto(f"{base}/elections/{election}")
            page.click("#start-voting")
            expect(page.locator("#election-status")).to_have_text("voting")
            for i, name in enumerate(MEMBERS):
                _login(page, base, name)
                page.goto(f"{base}/elections/{election}")
                if i == 0:
                    _check(page, "ballot (approval)", "phone", problems)
                for candidate in APPROVALS[name]:
                    page.check(f"#approve-{CANDIDATES.index(candidate) + 1}")
                page.click("#cast")
                expect(page.locator("#receipt")).to_be_visible()
            _check(page, "ballot cast", "phone", problems)
            _login(page, base, *BOARD)
            page.goto(f"{base}/elections/{election}")
            page.click("#close-election")
            expect(page.locator("#elected")).to_contain_text("member0")
            _check(page, "election result", "phone", problems)
            # the result against abcvoting, on the ballots the platform published
            with app.state.platform.db.read() as s:
                rows = s.scalars(select(e.ElectionBallot).where(e.ElectionBallot.election_id == election))
                ballots = [b.choice for b in rows]
            assert sorted(map(sorted, ballots)) == sorted(map(sorted, APPROVALS.values()))
            profile = Profile(3)
            profile.add_voters([{CANDIDATES.index(c) for c in b} for b in ballots])
            (committee,) = abcrules.compute("seqphragmen", profile, 2, resolute=True)
            expected = sorted(CANDIDATES[i] for i in committee)
            assert expected == ["member0", "member2"]
            assert sorted(page.inner_text("#elected strong").replace(" ", "").split(",")) == expected
            page.goto(f"{base}/cycles/{cycle}/elections")
            expect(page.locator("#contested-share")).to_have_text("100%")
            _check(page, "elections with a result", "phone", problems)
            # member2 holds the delegate's seat the platform has always had
            assert _proposal(base, "member2", cycle) == 201 and _proposal(base, "member1", cycle) == 403
            _login(page, base, "member2")
            page.goto(f"{base}/cycles/{cycle}")
            expect(page.locator(".my-seat")).to_have_text([WORKPLACE])
            holder = page  # member2's browser stays logged in
            # 20% of the members sign a recall of member2
            signer = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            term = api.get(f"/api/cycles/{cycle}/elections").json()["councils"][0]["holders"]
            term = next(h["term"] for h in term if h["holder"] == "member2")
            for name in ("member4", "member5"):
                _login(signer, base, name)
                signer.goto(f"{base}/terms/{term}")
                signer.click("#sign")
                expect(signer.locator("#signed")).to_be_visible()
                if name == "member4":
                    _check(signer, "recall petition signed", "phone", problems)
                    signer.click("#sign")  # a second signature: refused, in words
                    expect(signer.locator("#error-sign")).to_contain_text("signed this petition already")
            expect(signer.locator("#recall-vote-link")).to_be_visible()
            expect(signer.locator("#sign")).to_have_count(0)  # the count is final
            vote = api.get(f"/api/terms/{term}").json()["petitions"][0]["election"]
            for name, answer in [
                ("member0", "yes"),
                ("member1", "yes"),
                ("member3", "yes"),
                ("member4", "yes"),
                ("member5", "no"),
                ("member6", "yes"),
            ]:
                _login(signer, base, name)
                signer.goto(f"{base}/elections/{vote}")
                if name == "member0":
                    _check(signer, "recall ballot", "phone", problems)
                signer.check(f"#answer-{answer}")
                signer.click("#cast")
                expect(signer.locator("#receipt")).to_be_visible()
            _login(signer, base, *BOARD)
            signer.goto(f"{base}/elections/{vote}")
            signer.click("#close-election")
            expect(signer.locator("#recall-result")).to_contain_text("Recalled")
            _check(signer, "recall result", "phone", problems)
            # the delegate's next request: no seat; and the by-election is open
            holder.goto(f"{base}/cycles/{cycle}")
            expect(holder.locator(".my-seat")).to_have_count(0)
            assert _proposal(base, "member2", cycle) == 403
            signer.click("#by-election")
            expect(signer.locator("#election-status")).to_have_text("taking candidates")
            _check(signer, "by-election", "phone", problems)
            by_election = int(signer.url.rsplit("/", 1)[1])
            signer.goto(f"{base}/terms/{term}")
            expect(signer.locator("#term-status")).to_contain_text("recalled")
            _check(signer, "term recalled", "phone", problems)
            # the by-election: one seat, ranked ballots (Schulze); member3 is nominated and accepts
            _login(signer, base, "member1")
            signer.goto(f"{base}/elections/{by_election}")
            signer.click("#stand")
            signer.fill("#nominee", "member3")
            signer.click("#nominate")
            _login(signer, base, "member3")
            signer.goto(f"{base}/elections/{by_election}")
            signer.click("#accept")
            expect(signer.locator("#standing")).to_be_visible()
            _login(signer, base, *BOARD)
            signer.goto(f"{base}/elections/{by_election}")
            signer.click("#start-voting")
            for name, first in [("member4", 2), ("member5", 2), ("member6", 1)]:  # rank-2 is member3
                _login(signer, base, name)
                signer.goto(f"{base}/elections/{by_election}")
                if name == "member4":
                    _check(signer, "ballot (ranked)", "phone", problems)
                signer.fill(f"#rank-{first}", "1")
                signer.fill(f"#rank-{3 - first}", "2")
                signer.click("#cast")
                expect(signer.locator("#receipt")).to_be_visible()
                code = signer.locator("#receipt code").inner_text()
            _login(signer, base, *BOARD)
            signer.goto(f"{base}/elections/{by_election}")
            signer.click("#close-election")
            expect(signer.locator("#elected strong")).to_have_text("member3")
            # member6 checks their receipt from the election's page: counted, and not what it said
            signer.click("#check-receipt")
            signer.fill("#code", "not-my-code")
            signer.click("#check")
            expect(signer.locator("#error-code")).to_contain_text("no ballot has this receipt code")
            assert signer.input_value("#code") == "not-my-code"
            _check(signer, "receipt refused", "phone", problems)
            signer.fill("#code", code)
            signer.click("#check")
            expect(signer.locator("#receipt-status")).to_contain_text(f"counted in election {by_election}")
            expect(signer.locator("#entry-match")).to_have_text("yes")
            assert "member3" not in signer.locator("#receipt-result").inner_text()
            assert _proposal(base, "member3", cycle) == 201 and _proposal(base, "member2", cycle) == 403
            # the pages at a desktop's size too, and the notification preferences
            for size, (w, h) in SIZES.items():
                visitor = browser.new_context(viewport={"width": w, "height": h}).new_page()
                for name, path in (
                    ("elections", f"/cycles/{cycle}/elections"),
                    ("election", f"/elections/{election}"),
                    ("recall vote", f"/elections/{vote}"),
                    ("by-election", f"/elections/{by_election}"),
                    ("term", f"/terms/{term}"),
                    ("receipt check", "/elections/receipts"),
                    ("receipt counted", f"/elections/receipts?code={code}"),
                    ("receipt refused", "/elections/receipts?code=not-my-code"),
                ):
                    visitor.goto(base + path)
                    _check(visitor, name, size, problems)
                _login(visitor, base, "member3")
                visitor.goto(f"{base}/notifications")
                _check(visitor, "notifications", size, problems)
                visitor.fill("#email", "member3@example.org")
                visitor.check("#kind-recall")
                visitor.click("#save-prefs")
                expect(visitor.locator("#saved")).to_be_visible()
                _check(visitor, "notifications saved", size, problems)
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
