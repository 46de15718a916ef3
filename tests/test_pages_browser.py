"""Every page of the platform in a real browser (Debian's chromium, driven by Playwright), at a
desktop size (1280x800) and a phone size (390x844):

- no page is wider than the screen (wide tables scroll inside their own box);
- axe-core (the ``axe.min.js`` that the ``axe-playwright-python`` wheel bundles, run in the page)
  finds no serious or critical violation on any page: the proposal form (and its error state), the
  ballot and its confirmation, the vote's comparison, the rounds' charts, the board's pages,
  implementation control, the public log, and /docs (the vendored Swagger UI, its colours darkened);
- a member's walk in Russian: accepts an invitation, switches the language, proposes over budget
  (the error on the form, beside the total, what was typed kept), starts from the suggestion,
  compares the variants, votes (with the confirmation step) and checks the receipt, and no English
  word of the interface appears on the way.

With ``GLASNOST_SCREENSHOTS=DIR`` the walk over the pages also saves the screenshots that
``docs/screenshots`` holds (the vote comparison and a round page, desktop and phone).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from extra_support import CHROMIUM, missing_extra
from service_support import BOARD, make_backend, serve_in_thread
from test_control_pages import COEFFICIENTS, REPORTS, TARGETS

axe_package = pytest.importorskip("axe_playwright_python", reason=missing_extra("test", "axe-playwright-python"))
AXE = (Path(axe_package.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
SERIOUS = ("serious", "critical")

pytestmark = pytest.mark.browser


# ---- a platform with a cycle in every state ---------------------------------------------------


@dataclass
class Site:
    base: str
    app: Any
    api: httpx.Client
    board: dict[str, str]
    cycles: dict[str, int] = field(default_factory=dict)
    receipt: str = ""
    invitation: str = ""
    passwords: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        r = self.api.request(method, path, headers=headers or self.board, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json()

    def invite(self, cycle: int, role: str, council: str | None = None) -> str:
        return self.call("POST", f"/api/cycles/{cycle}/invitations", json={"role": role, "council": council})["token"]

    def join(self, cycle: int, username: str, role: str = "member", council: str | None = None) -> dict[str, str]:
        """An account that accepted an invitation; its bearer header (password: username + '-password')."""
        token = self.invite(cycle, role, council)
        password = username + "-password"
        self.passwords[username] = password
        r = self.api.post(f"/api/invitations/{token}/accept", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def converge_and_open_vote(self, cycle: int) -> None:
        self.call("POST", f"/api/cycles/{cycle}/rounds/run", json={"limit": 500})
        self.call("POST", f"/api/cycles/{cycle}/variants")
        self.call("POST", f"/api/cycles/{cycle}/vote/open")




@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The platform on a free port with: cycle ``rounds`` (round 1 closed, round 2 open with a
    deadline, a worker's and a consumer's delegates), ``voting`` (converged, variants, the vote open,
    one ballot cast, two members still to vote), ``decided`` (the vote closed and counted), and
    implementation control's reports, targets, coefficients and alerts."""
    from glasnost.control.alerts import Finding, raise_alerts
    from glasnost.control.store import store_coefficients, store_targets
    from glasnost.service.app import create_app

    backend = next(make_backend("sqlite", tmp_path_factory.mktemp("pages")))
    app = create_app(backend.settings())
    platform = app.state.platform
    platform.accounts.create(*BOARD, board=True)
    server, thread, base = serve_in_thread(app)
    api = httpx.Client(base_url=base, timeout=120)
    try:
        r = api.post("/api/login", json={"username": BOARD[0], "password": BOARD[1]})
        site = Site(base, app, api, {"Authorization": f"Bearer {r.json()['token']}"})
        site.passwords[BOARD[0]] = BOARD[1]
        new = site.call("POST", "/api/cycles", json={"name": "Spring plan", "deadline_seconds": 7200})
        rounds = site.cycles["rounds"] = new["id"]
        alice = site.join(rounds, "alice", "delegate", "make-agriculture-0")
        site.join(rounds, "bob", "delegate", "neighbourhood-1")
        site.call(
            "POST",
            f"/api/cycles/{rounds}/proposals",
            alice,
            json={"council": "make-agriculture-0", "supply": {"agriculture": 1.5}, "demand": {"mining": 0.1}},
        )
        site.call("POST", f"/api/cycles/{rounds}/rounds/1/close")

        voting = site.cycles["voting"] = site.call("POST", "/api/cycles", json={"name": "Autumn plan"})["id"]
        carol = site.join(voting, "carol", "delegate", "neighbourhood-2")
        for name in ("dave", "erin"):
            site.join(voting, name)
        site.converge_and_open_vote(voting)
        ballot = {"approve": ["public"], "ranking": ["public"]}
        site.call("POST", f"/api/cycles/{voting}/vote/ballots", carol, json=ballot)

        decided = site.cycles["decided"] = site.call("POST", "/api/cycles", json={"name": "Winter plan"})["id"]
        frank = site.join(decided, "frank")
        site.converge_and_open_vote(decided)
        ballot = {"approve": ["as-asked", "invest"], "ranking": ["invest", "as-asked"]}
        site.receipt = site.call("POST", f"/api/cycles/{decided}/vote/ballots", frank, json=ballot)["code"]
        site.call("POST", f"/api/cycles/{decided}/vote/close")
        site.invitation = site.invite(rounds, "member")

        store_targets(platform.db, TARGETS)
        store_coefficients(platform.db, COEFFICIENTS)
        site.call("POST", "/api/control/reports", content=REPORTS)
        raise_alerts(platform.db, [Finding("mill", "flour", "gap", 1, "step", 0.97, 0.095)], window=timedelta(days=7))
        raise_alerts(platform.db, [Finding("mill", "bran", "output", 1, "slope", 0.95, 0.2)], window=timedelta(0))
        yield site
    finally:
        api.close()
        server.should_exit = True
        thread.join(timeout=15)


# ---- what every page must satisfy -------------------------------------------------------------


def _settle(page: Any) -> None:
    """Wait until the page's script ran: its charts drawn (uPlot) and its times written locally."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart]')].every(el => el.dataset.drawn || "
        "JSON.parse(el.dataset.chart).x.length < 2)",
        timeout=15_000,
    )


def _check(page: Any, name: str, size: str, problems: list[str]) -> None:
    """No wider than the screen, and no serious or critical axe-core violation."""
    _settle(page)
    width = page.evaluate("document.documentElement.scrollWidth")
    screen = page.viewport_size["width"]
    if width > screen:
        wide = page.evaluate(
            """(screen) => [...document.querySelectorAll('body *')]
                 .filter(el => el.getBoundingClientRect().right > screen + 1 && !el.closest('.scroll'))
                 .slice(0, 5).map(el => el.tagName + (el.id ? '#' + el.id : '') + '.' + el.className)""",
            screen,
        )
        problems.append(f"{name} ({size}): {width} px wide on a {screen} px screen; wide: {wide}")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)  # evaluated, not a <script> tag: the pages' CSP allows no inline script
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    for v in result["violations"]:
        if v["impact"] in SERIOUS:
            targets = [", ".join(map(str, n["target"])) for n in v["nodes"][:4]]
            problems.append(f"{name} ({size}): axe {v['impact']} {v['id']}: {v['help']} at {targets}")


def _login(page: Any, site: Site, username: str) -> None:
    page.goto(site.base + "/login")
    page.fill("#username", username)
    page.fill("#password", site.passwords[username])
    page.click("#login-submit")
    page.wait_for_selector("#who")


def _browser(p: Any) -> Any:
    return p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)


def _shoot(page: Any, name: str, size: str, element: str | None = None) -> None:
    """With GLASNOST_SCREENSHOTS=DIR, the page (or one element of it) as DIR/NAME-SIZE.png."""
    folder = os.environ.get("GLASNOST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        path = str(Path(folder) / f"{name}-{size}.png")
        if element:
            page.locator(element).screenshot(path=path)
        else:
            page.screenshot(path=path, full_page=True)


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_fits_the_screen_and_passes_axe(site: Site, size: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    w, h = SIZES[size]
    rounds, voting, decided = (site.cycles[k] for k in ("rounds", "voting", "decided"))
    voter = "dave" if size == "desktop" else "erin"
    problems: list[str] = []
    with sync_playwright() as p:
        browser = _browser(p)
        try:

            def visit(page: Any, name: str, path: str) -> None:
                page.goto(site.base + path)
                _check(page, name, size, problems)

            contexts = {who: browser.new_context(viewport={"width": w, "height": h}) for who in ("visitor", "board")}
            pages = {who: ctx.new_page() for who, ctx in contexts.items()}
            visitor, board = pages["visitor"], pages["board"]
            for name, path in (
                ("home", "/"),
                ("login", "/login"),
                ("cycle in rounds", f"/cycles/{rounds}"),
                ("round closed", f"/cycles/{rounds}/rounds/1"),
                ("round open", f"/cycles/{rounds}/rounds/2"),
                ("council", f"/cycles/{rounds}/councils/neighbourhood-3"),
                ("cycle decided", f"/cycles/{decided}"),
                ("vote decided", f"/cycles/{decided}/vote"),
                ("receipt counted", f"/receipts?code={site.receipt}"),
                ("receipts", "/receipts"),
                ("public log", "/log"),
                ("control", "/control"),
                ("control alerts", "/control/alerts"),
                ("control mismatches", "/control/mismatches"),
                ("control workplace", "/control/workplaces/mill"),
                ("control receipt", "/control/receipt?leaf=" + "0" * 64),
                ("invitation", f"/invite/{site.invitation}"),
                ("not found", "/cycles/999999"),
            ):
                visit(visitor, name, path)
            # the open round's deadline in the reader's time, with a countdown
            visitor.goto(f"{site.base}/cycles/{rounds}/rounds/2")
            expect(visitor.locator(".countdown").first).to_have_text(re.compile(r"^\(in 1:\d\d:\d\d\)$"))
            expect(visitor.locator("time[data-local]").first).not_to_contain_text("UTC")
            # a wrong password: the form again, with its message on it and the name kept
            visitor.goto(site.base + "/login")
            visitor.fill("#username", "alice")
            visitor.fill("#password", "not-her-password")
            visitor.click("#login-submit")
            expect(visitor.locator("#login-error")).to_contain_text("wrong user name or password")
            expect(visitor.locator("#username")).to_have_value("alice")
            _check(visitor, "login refused", size, problems)

            _login(board, site, BOARD[0])
            for name, path in (
                ("cycle (board)", f"/cycles/{rounds}"),
                ("cycle voting (board)", f"/cycles/{voting}"),
                ("vote (board)", f"/cycles/{voting}/vote"),
                ("new cycle", "/cycles/new"),
                ("control report", "/control/report"),
            ):
                visit(board, name, path)
            board.goto(f"{site.base}/cycles/new")
            board.fill("#cycle-name-input", "Summer plan")
            board.fill("#max-rounds", "0")
            board.click("#create-cycle")
            expect(board.locator("#error-max_rounds")).to_contain_text("0 is not between 1 and 10000")
            expect(board.locator("#max-rounds")).to_have_value("0")
            expect(board.locator("#cycle-name-input")).to_have_value("Summer plan")
            _check(board, "new cycle refused", size, problems)
            board.goto(f"{site.base}/cycles/{rounds}")
            board.select_option("#invite-council", ["neighbourhood-4", "neighbourhood-5"])
            board.click("#invite")
            expect(board.locator(".invitation-url")).to_have_count(2)
            assert board.inner_text("#invitation-url-1").startswith(site.base + "/invite/")
            _check(board, "invitation links", size, problems)

            # a worker council's form, and its refusal beside the field with what was typed kept
            worker = browser.new_context(viewport={"width": w, "height": h}).new_page()
            _login(worker, site, "alice")
            visit(worker, "proposal form", f"/cycles/{rounds}/councils/make-agriculture-0")
            worker.fill("#supply-agriculture", "-2")
            worker.fill("#demand-mining", "0.25")
            worker.click("#submit-proposal")
            expect(worker.locator("#error-agriculture")).to_be_visible()
            expect(worker.locator("#supply-agriculture")).to_have_value("-2")
            expect(worker.locator("#demand-mining")).to_have_value("0.25")
            _check(worker, "proposal refused", size, problems)
            # a consumer council over its budget: the error beside the total
            consumer = browser.new_context(viewport={"width": w, "height": h}).new_page()
            _login(consumer, site, "bob")
            consumer.goto(f"{site.base}/cycles/{rounds}/councils/neighbourhood-1")
            consumer.fill("#demand-fishing", "5000")
            expect(consumer.locator("#budget-warning")).to_be_visible()
            consumer.click("#submit-proposal")
            expect(consumer.locator("#budget-error")).to_contain_text("its budget is")
            expect(consumer.locator("#demand-fishing")).to_have_value("5000")
            _check(consumer, "proposal over budget", size, problems)

            # a member's ballot, its confirmation, and the receipt
            member = browser.new_context(viewport={"width": w, "height": h}).new_page()
            _login(member, site, voter)
            visit(member, "ballot", f"/cycles/{voting}/vote")
            expect(member.locator("#comparison-table")).to_be_visible()
            _shoot(member, "vote-comparison", size, "#comparison")
            member.check("#approve-public")
            member.fill("#rank-public", "1")
            member.fill("#rank-as-asked", "2")
            member.click("#cast")
            expect(member.locator("#review-approve")).to_have_text("More public goods")
            _check(member, "ballot to confirm", size, problems)
            member.click("#confirm-cast")
            expect(member.locator("#receipt-code")).to_be_visible()
            _check(member, "ballot cast", size, problems)
            member.click("#check-receipt")
            expect(member.locator("#receipt-status")).to_contain_text("sealed")
            _check(member, "receipt sealed", size, problems)

            visitor.goto(f"{site.base}/cycles/{voting}/rounds/12")
            _settle(visitor)
            _shoot(visitor, "round", size)
            docs = browser.new_context(viewport={"width": w, "height": h}).new_page()
            docs.goto(site.base + "/docs")
            docs.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
            _check(docs, "API (Swagger UI)", size, problems)
        finally:
            browser.close()
    assert not problems, "\n".join(problems)


def test_keyboard_only(site: Site) -> None:
    """The skip link comes first and leads to the content; a delegate reaches the proposal form's
    fields, types and submits with the keyboard alone."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            _login(page, site, "bob")
            page.goto(f"{site.base}/cycles/{site.cycles['rounds']}/councils/neighbourhood-1")
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.className") == "skip"
            page.keyboard.press("Enter")
            assert page.evaluate("document.activeElement.id") == "main"
            for _ in range(80):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.id") == "demand-energy":
                    break
            assert page.evaluate("document.activeElement.id") == "demand-energy"
            page.keyboard.type("0.01")
            expect(page.locator("#live")).to_contain_text("Cost:")
            page.keyboard.press("Enter")
            expect(page.locator("#submitted")).to_be_visible()
            expect(page.locator("#history")).to_contain_text("energy 0.01")
        finally:
            browser.close()


# ---- a member's walk in Russian ---------------------------------------------------------------

LATIN_WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")
NOT_UI = {"glasnost", "English", "API", "CSV", "SHA"}
"""Latin words that are not the interface's English: the platform's name, the switch back to
English (written in English by design), and acronyms that Russian writes in Latin letters."""


def _english(page: Any, data: list[str]) -> list[str]:
    """The English words a page shows: its visible text, its title and the labels, titles and
    placeholders of its elements, with the data (names, codes, hashes) and what is shown as code
    to be typed (``<code>``: a file's column names) taken out first."""
    data = [*data, *page.evaluate("() => [...document.querySelectorAll('code')].map(el => el.innerText)")]
    texts = page.evaluate(
        """() => [document.title, document.body.innerText,
                 ...[...document.querySelectorAll('[aria-label],[title],[placeholder],[alt]')].flatMap(el =>
                    ['aria-label', 'title', 'placeholder', 'alt'].map(a => el.getAttribute(a) || ''))]"""
    )
    text = "\n".join(texts)
    for item in sorted(data, key=len, reverse=True):
        text = text.replace(item, " ")
    text = re.sub(r"\b[0-9a-f]{8,}\b", " ", text)  # hashes
    return sorted({w for w in LATIN_WORD.findall(text) if w not in NOT_UI})


def test_a_member_in_russian_proposes_compares_votes_and_checks_the_receipt(site: Site) -> None:
    from playwright.sync_api import expect, sync_playwright

    cycle = site.call("POST", "/api/cycles", json={"name": "Весенний план"})["id"]
    link = f"{site.base}/invite/{site.invite(cycle, 'delegate', 'neighbourhood-1')}"
    codes = [c["code"] for c in site.call("GET", f"/api/cycles/{cycle}/councils")]
    seen: dict[str, list[str]] = {}

    def check(page: Any, step: str, *more: str) -> None:
        _settle(page)
        assert page.evaluate("document.documentElement.lang") == "ru", step
        words = _english(page, [*codes, "ivan", *more])
        if words:
            seen[step] = words

    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844}).new_page()
            # the invitation, in the browser's language (English); then the switch to Russian
            page.goto(link)
            expect(page.locator("html")).to_have_attribute("lang", "en")
            page.fill("#username", "ivan")
            page.fill("#password", "ivan-password")
            page.click("#accept")
            expect(page.locator("#welcome")).to_contain_text("You are now a delegate")
            page.click("#lang-ru")
            expect(page.locator("html")).to_have_attribute("lang", "ru")
            expect(page.locator("#welcome")).to_contain_text("Теперь вы делегат")
            check(page, "council page")

            # over budget: refused, the error beside the total, what was typed kept
            page.fill("#demand-fishing", "1000")
            page.fill("#demand-education", "2.5")
            expect(page.locator("#budget-warning")).to_contain_text("Бюджет превышен")
            check(page, "form over budget")
            page.click("#submit-proposal")
            expect(page.locator("#form-error")).to_contain_text("Не сохранено")
            expect(page.locator("#budget-error")).to_contain_text("бюджет совета")
            expect(page.locator("#demand-fishing")).to_have_value("1000")
            expect(page.locator("#demand-education")).to_have_value("2.5")
            check(page, "proposal refused")
            # the suggestion instead, stored
            page.click("#use-suggestion")
            expect(page.locator("#budget-warning")).to_be_hidden()
            page.click("#submit-proposal")
            expect(page.locator("#submitted")).to_contain_text("сохранено")
            check(page, "proposal stored")
            page.goto(f"{site.base}/cycles/{cycle}/rounds/1")
            check(page, "round page")

            # the board runs the rounds and opens the vote; the member compares and votes
            site.converge_and_open_vote(cycle)
            page.goto(f"{site.base}/cycles/{cycle}")
            check(page, "cycle page")
            page.click("#vote-link")
            expect(page.locator("#comparison-table")).to_contain_text("общественные блага")
            expect(page.locator("#variants-chart")).to_be_visible()
            check(page, "variants compared")
            page.check("#approve-public")
            page.check("#approve-invest")
            page.fill("#rank-public", "1")
            page.fill("#rank-invest", "2")
            page.click("#cast")
            expect(page.locator("#review-approve")).to_have_text("Больше общественных благ, Вложить десятую часть")
            check(page, "ballot to confirm")
            page.click("#confirm-cast")
            code = page.inner_text("#receipt-code").strip()
            check(page, "ballot cast", code)
            page.click("#check-receipt")
            expect(page.locator("#receipt-status")).to_contain_text("запечатан")
            check(page, "receipt sealed", code)
            site.call("POST", f"/api/cycles/{cycle}/vote/close")
            page.reload()
            expect(page.locator("#receipt-status")).to_contain_text("Учтён")
            expect(page.locator("#proof-ok")).to_have_text("проверено")
            check(page, "receipt counted", code)
            page.goto(f"{site.base}/cycles/{cycle}/vote")
            expect(page.locator("#winner")).to_have_text("Больше общественных благ")
            check(page, "tally")

            # a browser that prefers Russian gets Russian without the switch
            fresh = browser.new_context(locale="ru-RU").new_page()
            fresh.goto(site.base + "/")
            expect(fresh.locator("html")).to_have_attribute("lang", "ru")
            expect(fresh.locator("h1")).to_have_text("Циклы планирования")
        finally:
            browser.close()
    assert not seen, f"English words on the Russian pages: {seen}"
