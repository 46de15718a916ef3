"""Criticism and initiative in a real browser (Debian's chromium, driven by Playwright), as members
live them:

- a consumer files a quality complaint about flour (first without saying how bad: the error beside
  the field, what was typed kept), the mill answers it, both are in the public log (``glasnost
  verify`` against the server, as a separate process, with their receipts) and on the mill's
  fulfilment page, whose use value the complaint lowered by the stated rule;
- a member amends a plan variant (the calculator's verdict in plain words first), two members sign,
  the quorum is reached, and the new variant's figures equal what ``glasnost plan`` (a separate
  process) computes for an economy whose targets are the amended mix;
- every new page fits a 390 px screen and passes axe-core (no serious or critical violation), at
  desktop and phone size, and the complaint form reads in Russian.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from extra_support import missing_extra
from service_support import BOARD, TEST_ARGON2_ENV, make_backend, serve_in_thread
from test_control_pages import COEFFICIENTS, REPORTS, TARGETS

pytest.importorskip("axe_playwright_python", reason=missing_extra("test", "axe-playwright-python"))
from test_pages_browser import SIZES, _browser, _check

pytestmark = pytest.mark.browser


@dataclasses.dataclass
class World:
    base: str
    app: Any
    api: httpx.Client
    board: dict[str, str]
    cycle: int
    variant: dict[str, Any]
    passwords: dict[str, str]
    amendment: int = 0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The platform on a free port: the mill's targets and reports, an account ``mill`` granted the
    workplace, a converged cycle with variants and four members (olga, pete, quinn, rosa), and an
    amendment quorum of half the members (2 signatures)."""
    from glasnost.control.store import store_coefficients, store_targets
    from glasnost.service.accounts import Viewer
    from glasnost.service.app import create_app
    from glasnost.service.debate.initiative import update_settings

    backend = next(make_backend("sqlite", tmp_path_factory.mktemp("debate")))
    app = create_app(backend.settings())
    platform = app.state.platform
    board = Viewer(platform.accounts.create(*BOARD, board=True), BOARD[0], True, "system")
    platform.accounts.create("mill", "mill-password-1")
    platform.accounts.grant(board, "mill", "workplace", "mill")
    store_targets(platform.db, TARGETS)
    store_coefficients(platform.db, COEFFICIENTS)
    server, thread, base = serve_in_thread(app)
    api = httpx.Client(base_url=base, timeout=120)
    try:
        token = api.post("/api/login", json={"username": BOARD[0], "password": BOARD[1]}).json()["token"]
        head = {"Authorization": f"Bearer {token}"}
        assert api.post("/api/control/reports", content=REPORTS, headers=head).status_code == 201
        cycle = api.post("/api/cycles", json={"name": "Summer plan"}, headers=head).json()["id"]
        passwords = {BOARD[0]: BOARD[1], "mill": "mill-password-1"}
        for name in ("olga", "pete", "quinn", "rosa"):
            invite = api.post(f"/api/cycles/{cycle}/invitations", json={"role": "member"}, headers=head).json()
            passwords[name] = name + "-password"
            r = api.post(f"/api/invitations/{invite['token']}/accept",
                         json={"username": name, "password": passwords[name]})
            assert r.status_code == 200, r.text
        assert api.post(f"/api/cycles/{cycle}/rounds/run", json={"limit": 500}, headers=head).status_code == 200
        variants = api.post(f"/api/cycles/{cycle}/variants", headers=head).json()
        update_settings(platform, board, cycle, 10, 0.5)
        yield World(base, app, api, head, cycle, variants[0], passwords)
    finally:
        api.close()
        server.should_exit = True
        thread.join(timeout=15)


def _login(page: Any, world: World, username: str) -> None:
    page.context.clear_cookies()
    page.goto(world.base + "/login")
    page.fill("#username", username)
    page.fill("#password", world.passwords[username])
    page.click("#login-submit")
    page.wait_for_selector("#who")


def _glasnost(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from glasnost.cli import app; sys.exit(app())"
    import os

    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **TEST_ARGON2_ENV})


def test_a_consumer_complains_the_workplace_answers_both_in_the_log_and_in_fulfilment(
    world: World, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_page()
            _login(page, world, "olga")
            page.goto(world.base + "/criticism")
            page.click("#complain-link")
            page.select_option("#complaint-product", "flour")
            page.fill("#complaint-what", "grey and gritty, the bread would not rise")
            page.fill("#complaint-where", "the bakery on Lenin street")
            page.fill("#complaint-units", "4")
            page.click("#complaint-submit")  # how bad is not said yet
            expect(page.locator("#error-severity")).to_be_visible()
            expect(page.locator("#complaint-what")).to_have_value("grey and gritty, the bread would not rise")
            expect(page.locator("#complaint-units")).to_have_value("4")
            page.check("input[name=severity][value=serious]")
            page.click("#complaint-submit")
            page.wait_for_url(re.compile(r"/discuss/product/flour"))
            expect(page.locator(".comment").first).to_contain_text("grey and gritty")
            expect(page.locator("main")).to_contain_text("mill must answer by")

            _login(page, world, "mill")
            page.goto(world.base + "/criticism/workplaces/mill")
            expect(page.locator("#criticism-summary")).to_contain_text("1 not answered")
            page.locator("form[id^=answer-] textarea").fill("A worn sieve; we replaced it on Monday.")
            page.locator("form[id^=answer-] button").click()
            expect(page.locator("main")).to_contain_text("A worn sieve; we replaced it on Monday.")
            expect(page.locator("#criticism-summary")).to_contain_text("0 not answered")

            page.goto(world.base + "/control/workplaces/mill")
            main = page.locator("main")
            expect(main).to_contain_text("grey and gritty")
            expect(main).to_contain_text("A worn sieve; we replaced it on Monday.")
            # 60 rated 0.5 + 40 at planned quality = 70 of 100; a serious complaint on 4 units takes 2
            row = page.locator("#complaints-in-use-value tr", has_text="flour")
            expect(row).to_contain_text("0.680")
            expect(page.locator("#by-product tr", has_text="flour")).to_contain_text("0.680")
        finally:
            browser.close()

    comments = world.api.get("/api/discuss/product/flour").json()["comments"]
    assert [c["as_workplace"] for c in comments] == [None, "mill"]
    leaves = [world.api.get(f"/api/log/entries/{c['log_index']}").json()["leaf_hash"] for c in comments]
    key = world.api.get("/api/log/key").json()
    key_hex = key.get("public_key") or key.get("key") or next(v for v in key.values() if isinstance(v, str))
    done = _glasnost("verify", world.base, "--key", key_hex, *[a for leaf in leaves for a in ("--receipt", leaf)],
                     cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok:" in done.stdout and "2 receipts" in done.stdout


def test_an_amendment_reaches_its_quorum_and_equals_glasnost_plan(world: World, tmp_path: Path) -> None:
    import numpy as np
    from playwright.sync_api import expect, sync_playwright

    from glasnost.economy import save
    from glasnost.service.debate.models import Amendment
    from glasnost.service.models import PlanVariant

    platform = world.app.state.platform
    base = world.variant
    good = sorted(base["net_output"], key=lambda k: -base["net_output"][k])[0]
    amount = round(1.1 * base["net_output"][good], 4)
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_page()
            _login(page, world, "pete")
            page.goto(world.base + f"/cycles/{world.cycle}")
            page.click("#amendments-link")
            page.click("#new-amendment")
            page.select_option("#amend-variant", str(base["id"]))
            page.check("#kind-target")
            page.select_option("#amend-commodity", good)
            page.fill("#amend-amount", str(amount))
            page.fill("#amend-reason", "More of it for the schools.")
            page.click("#amend-check")
            verdict = page.locator("#verdict")
            expect(verdict).to_contain_text("Possible.")
            expect(verdict).to_contain_text("of work a year")
            expect(verdict).to_contain_text("It lowers everything else in the plan by about")
            expect(page.locator("#amend-amount")).to_have_value(str(amount))  # kept for proposing
            page.click("#amend-propose")
            page.wait_for_url(re.compile(r"/amendments/\d+$"))
            world.amendment = int(page.url.rsplit("/", 1)[1])
            expect(page.locator("#signatures")).to_contain_text("0 signatures")
            page.click("#sign")
            expect(page.locator("#signatures")).to_contain_text("1 signature")
            expect(page.locator("#amendment-status")).to_contain_text("Collecting signatures")

            _login(page, world, "quinn")
            page.goto(world.base + f"/amendments/{world.amendment}")
            page.click("#sign")
            expect(page.locator("#signatures")).to_contain_text("2 signatures")
            expect(page.locator("#amendment-status")).to_contain_text("on the ballot")
            page.goto(world.base + f"/cycles/{world.cycle}/vote")
            expect(page.locator("main")).to_contain_text(f"Amendment {world.amendment}")
        finally:
            browser.close()

    with platform.db.read() as s:
        row = s.get(Amendment, world.amendment)
        data = s.get(PlanVariant, row.variant_id).data
    eng = platform.cycles.engine(world.cycle)
    economy = eng.he.economy
    c = economy.commodities
    ids = [str(i) for i in c.ids]
    available = np.asarray(c.supply if eng.he.fixed_supply is None else eng.he.fixed_supply, float)
    mix = np.array([data["mix"].get(i, 0.0) for i in ids])
    supply = available - np.array([data["reserved"].get(i, 0.0) for i in ids])
    amended = dataclasses.replace(economy, commodities=dataclasses.replace(c, targets=mix, supply=supply))
    save(amended, tmp_path / "amended")
    done = _glasnost("plan", str(tmp_path / "amended"), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    cli = json.loads(done.stdout)
    assert data["scale"] == pytest.approx(cli["objective"], rel=1e-7)
    for cid in ids:
        assert data["net_output"].get(cid, 0.0) == pytest.approx(cli["net_output"][cid], rel=1e-6, abs=1e-9), cid
    assert data["net_output"][good] == pytest.approx(amount, rel=1e-6)  # exactly what the member asked for


@pytest.mark.parametrize("size", list(SIZES))
def test_the_debate_pages_fit_the_screen_and_pass_axe(world: World, size: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    w, h = SIZES[size]
    problems: list[str] = []
    variant = world.variant["id"]
    amendment = world.amendment or 1
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_page(viewport={"width": w, "height": h})

            def visit(name: str, path: str) -> None:
                page.goto(world.base + path)
                _check(page, name, size, problems)

            for name, path in (("criticism", "/criticism"), ("unanswered", "/criticism/unanswered"),
                               ("product thread", "/discuss/product/flour"), ("amendment", f"/amendments/{amendment}")):
                visit(name + " (anonymous)", path)
            _login(page, world, "rosa")
            visit("complaint form", "/criticism/complain")
            page.click("#complaint-submit")
            _check(page, "complaint form with errors", size, problems)
            visit("variant thread", f"/discuss/variant/{variant}")
            page.fill("#comment-text", "")
            page.click("#comment-submit")
            _check(page, "comment form with errors", size, problems)
            visit("amendments", f"/cycles/{world.cycle}/amendments")
            visit("amendment form", f"/cycles/{world.cycle}/amendments/new?variant={variant}")
            page.fill("#amend-amount", "1e9")
            page.click("#amend-check")
            expect(page.locator("#verdict")).to_contain_text("Not possible.")
            _check(page, "amendment form, infeasible", size, problems)
            page.fill("#amend-amount", "abc")
            page.click("#amend-check")
            expect(page.locator("#error-amount")).to_be_visible()
            _check(page, "amendment form with errors", size, problems)
            visit("amendment", f"/amendments/{amendment}")
            _login(page, world, "mill")
            visit("workplace criticism", "/criticism/workplaces/mill")
            visit("workplace fulfilment", "/control/workplaces/mill")
            _login(page, world, BOARD[0])
            visit("thread, board", "/discuss/product/flour")
            visit("debate settings", f"/cycles/{world.cycle}/debate-settings")
            page.click("#lang-ru")
            visit("complaint form (ru)", "/criticism/complain")
            expect(page.locator("h1")).to_have_text("Сообщить о проблеме с качеством продукта")
            page.click("#lang-en")
        finally:
            browser.close()
    assert problems == [], "\n".join(problems)


def test_the_debate_pages_read_in_russian(world: World) -> None:
    from playwright.sync_api import expect, sync_playwright
    from test_pages_browser import _english

    comments = world.api.get("/api/discuss/product/flour").json()["comments"]
    data = ["flour", "bran", "grain", "mill", "bakery", "cafe", "olga", "pete", "quinn", "rosa", "Summer plan",
            "glasnost", *[c["text"] or "" for c in comments], "More of it for the schools.",
            "the bakery on Lenin street",
            *world.app.state.platform.cycles.engine(world.cycle).worker_ids.tolist()]
    pages = ["/criticism", "/criticism/complain", "/criticism/unanswered", "/discuss/product/flour",
             f"/discuss/variant/{world.variant['id']}", f"/cycles/{world.cycle}/amendments",
             "/criticism/workplaces/mill"]
    if world.amendment:
        pages.append(f"/amendments/{world.amendment}")
    found: dict[str, list[str]] = {}
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_page()
            _login(page, world, "rosa")
            page.click("#lang-ru")
            for path in pages:
                page.goto(world.base + path)
                if words := _english(page, data):
                    found[path] = words
            page.goto(world.base + f"/cycles/{world.cycle}/amendments/new?variant={world.variant['id']}")
            page.fill("#amend-amount", "1")
            page.click("#amend-check")
            expect(page.locator("#verdict")).to_contain_text("Возможно.")
            if words := _english(page, data):
                found["amendment verdict"] = words
        finally:
            browser.close()
    assert found == {}, found
