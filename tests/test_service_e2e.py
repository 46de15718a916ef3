"""End to end in real headless Chromium (Debian's, driven by Playwright) on SQLite and PostgreSQL:
the board creates a cycle; two councils log in by invitation, submit and revise; rounds run to
convergence; a member votes and checks the receipt; a visitor without an account sees the plan.
Screenshots of every open page are kept under the test's ``artifacts`` folder when it fails."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_support import BOARD, Backend, make_backend, serve_in_thread

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path)


@pytest.fixture
def server(backend: Backend) -> Iterator[str]:
    """The platform on a free loopback port, served by uvicorn in a thread."""
    from glasnost.service.app import create_app

    app = create_app(backend.settings())
    app.state.platform.accounts.create(*BOARD, board=True)
    srv, thread, base = serve_in_thread(app)
    yield base
    srv.should_exit = True
    thread.join(timeout=15)


def _login(page, base: str, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-submit")
    page.wait_for_selector("#who")


def _invite(board, base: str, cycle_url: str, council: str) -> str:  # type: ignore[no-untyped-def]
    board.goto(cycle_url)
    board.select_option("#invite-role", "delegate")
    board.select_option("#invite-council", council)
    board.click("#invite")
    return board.inner_text(".invitation-url").strip()  # the full link, ready to send


def _accept(page, url: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", username + "-password")
    page.click("#accept")
    page.wait_for_selector("#who")


@pytest.mark.browser
def test_a_planning_cycle_in_the_browser(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        contexts = {name: browser.new_context() for name in ("board", "worker", "consumer", "visitor")}
        pages = {name: ctx.new_page() for name, ctx in contexts.items()}
        try:
            board, worker, consumer, visitor = (pages[k] for k in ("board", "worker", "consumer", "visitor"))
            # the board creates a cycle on the bundled economy
            _login(board, base, *BOARD)
            board.click("#new-cycle")
            board.fill("input[name=name]", "Spring plan")
            board.click("#create-cycle")
            expect(board.locator("#cycle-name")).to_have_text("Spring plan")
            cycle_url = board.url
            expect(board.locator("#round-number")).to_have_text("1")

            # two councils accept their invitations and hand in proposals
            _accept(worker, _invite(board, base, cycle_url, "make-agriculture-0"), "alice")
            _accept(consumer, _invite(board, base, cycle_url, "neighbourhood-1"), "bob")
            worker.goto(cycle_url + "/councils/make-agriculture-0")
            worker.fill("#supply-agriculture", "2")
            worker.fill("#demand-mining", "0.1")
            # the form shows the live benefit and cost at the posted prices (700 each): 1400 and 70
            expect(worker.locator("#live")).to_have_text("Benefit: 1,400.00 · cost: 70.00")
            worker.click("#submit-proposal")
            expect(worker.locator("#submitted")).to_be_visible()
            # revise: a later proposal replaces the first
            worker.fill("#supply-agriculture", "1.5")
            worker.click("#submit-proposal")
            expect(worker.locator("#history tr").nth(1).locator(".how")).to_have_text("own")
            expect(worker.locator("#history")).to_contain_text("agriculture 1.5")

            consumer.goto(cycle_url + "/councils/neighbourhood-1")
            consumer.fill("#demand-fishing", "0.05")
            expect(consumer.locator("#live")).to_have_text("Cost: 35.00 · budget: 75.53 · left: 40.53")
            consumer.click("#submit-proposal")
            expect(consumer.locator("#submitted")).to_be_visible()
            consumer.fill("#demand-fishing", "0.08")
            consumer.click("#submit-proposal")
            expect(consumer.locator("#submitted")).to_be_visible()

            # the board closes round 1, then runs rounds to convergence
            board.goto(cycle_url)
            board.click("#close-round")
            expect(board.locator("#round-number")).to_have_text("2")
            board.click("#run-rounds")
            expect(board.locator("#cycle-status")).to_have_text("converged")
            round1 = base + re.sub(r"^https?://[^/]+", "", cycle_url) + "/rounds/1"
            visitor.goto(round1)
            expect(visitor.locator("#proposals")).to_contain_text("agriculture 1.5")
            expect(visitor.locator("#proposals")).to_contain_text("fishing 0.08")

            # plan variants, the vote, a ballot and its receipt
            board.goto(cycle_url + "/vote")
            board.click("#publish-variants")
            expect(board.locator(".variant")).to_have_count(4)
            board.click("#open-vote")
            worker.goto(cycle_url + "/vote")
            worker.check("#approve-public")
            worker.check("#approve-invest")
            worker.fill("#rank-public", "1")
            worker.fill("#rank-invest", "2")
            worker.click("#cast")  # a confirmation step first: the ballot in words, then cast
            expect(worker.locator("#review-approve")).to_have_text("More public goods, Invest a tenth")
            expect(worker.locator("#review-ranking")).to_have_text("More public goods > Invest a tenth")
            worker.click("#confirm-cast")
            code = worker.inner_text("#receipt-code").strip()
            assert len(code) > 30
            worker.click("#check-receipt")
            expect(worker.locator("#receipt-status")).to_contain_text("sealed in the ballot box")
            expect(worker.locator("#receipt-result")).not_to_contain_text("public")  # never what was voted
            worker.goto(cycle_url + "/vote")
            expect(worker.locator("#turnout")).to_contain_text("1 member has voted so far")
            expect(worker.locator("#voted")).to_be_visible()  # and no second ballot form
            expect(worker.locator("#ballot")).to_have_count(0)
            board.goto(cycle_url + "/vote")
            board.click("#close-vote")
            expect(board.locator("#winner")).to_have_text("More public goods")  # titles, never keys
            worker.goto(base + "/receipts?code=" + code)
            expect(worker.locator("#receipt-status")).to_contain_text("Counted")
            expect(worker.locator("#proof-ok")).to_have_text("verified")
            expect(worker.locator("#entry-match")).to_have_text("yes")

            # a visitor without an account sees the plan, the tally and the log
            visitor.goto(cycle_url + "/vote")
            expect(visitor.locator("#login-link")).to_be_visible()
            expect(visitor.locator("#winner")).to_have_text("More public goods")
            expect(visitor.locator("#tally")).to_contain_text("1 ballot was counted.")
            expect(visitor.locator("#tally")).not_to_contain_text("as-asked")
            expect(visitor.locator("#variant-public")).to_contain_text("Scale")
            visitor.goto(cycle_url)
            expect(visitor.locator("#cycle-status")).to_have_text("decided")
            visitor.goto(base + "/log")
            expect(visitor.locator("body")).to_contain_text("vote-receipts")
        except BaseException:
            shots = tmp_path / "artifacts"
            shots.mkdir(exist_ok=True)
            for name, page in pages.items():
                try:
                    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
                    (shots / f"{name}.html").write_text(page.content())
                except Exception:  # a crashed page: keep what the others show
                    pass
            print(f"screenshots kept in {shots}")
            raise
        finally:
            browser.close()
