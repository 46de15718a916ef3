"""Implementation control on the platform: JSON and pages through the app, and in a real browser
(Debian chromium via Playwright) against a running ``glasnost serve``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from service_support import BOARD, bearer, free_port, make_backend

from glasnost.control.alerts import Finding, raise_alerts
from glasnost.control.fulfilment import fulfilment
from glasnost.control.reports import read_reports_csv
from glasnost.control.store import import_reports_csv, open_database, store_coefficients, store_targets
from glasnost.ledger import Ledger

REPORTS = """kind,period,workplace,product,variant,grade,quantity,counterparty,rating
output,1,mill,flour,,A,120,,
delivery,1,mill,flour,,,120,bakery,
receipt,1,bakery,flour,,,60,mill,
receipt,1,cafe,flour,,,40,mill,
rating,1,bakery,flour,,,,mill,0.5
output,1,mill,bran,,,50,,
input,1,mill,grain,,,160,,
"""
TARGETS = pa.table(
    {
        "period": [1, 1],
        "workplace": ["mill", "mill"],
        "product": ["flour", "bran"],
        "quantity": [100.0, 10.0],
        "quality": [1.0, 1.0],
        "price": [2.0, 1.0],
    }
)
COEFFICIENTS = pa.table({"workplace": ["mill"], "product": ["flour"], "input": ["grain"], "per_unit": [1.25]})


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    from glasnost.service.accounts import Viewer
    from glasnost.service.app import create_app

    backend = next(make_backend("sqlite", tmp_path))
    app = create_app(backend.settings())
    platform = app.state.platform
    board = Viewer(platform.accounts.create(*BOARD, board=True), BOARD[0], True, "system")
    platform.accounts.create("mill", "mill-password-1")
    platform.accounts.create("cafe", "cafe-password-1")
    platform.accounts.grant(board, "mill", "workplace", "mill")  # rights by explicit grant, not by name
    platform.accounts.grant(board, "cafe", "workplace", "cafe")
    store_targets(platform.db, TARGETS)
    store_coefficients(platform.db, COEFFICIENTS)
    with TestClient(app) as c:
        yield c


def test_import_by_api_is_all_or_nothing(client: TestClient) -> None:
    board = bearer(client, *BOARD)
    assert client.post("/api/control/reports", content=REPORTS).status_code == 401  # anonymous
    bad = REPORTS + "output,x,mill,flour,,A,-1,,\n"
    r = client.post("/api/control/reports", content=bad, headers=board)
    assert r.status_code == 422
    assert "line 9, column period" in r.text and "line 9, column quantity" in r.text
    assert client.get("/api/control/mismatches").json()["counts"]["shipments"] == 0  # nothing stored
    r = client.post("/api/control/reports", content=REPORTS, headers=board)
    assert r.status_code == 201, r.text
    assert r.json()["lines"] == 7 and r.json()["reports"] == 3  # mill, bakery, cafe in period 1


def test_plan_against_actual_and_mismatches_by_api(client: TestClient, tmp_path: Path) -> None:
    board = bearer(client, *BOARD)
    assert client.post("/api/control/reports", content=REPORTS, headers=board).status_code == 201
    got = client.get("/api/control/fulfilment", params={"workplace": "mill"}).json()
    (tmp_path / "r.csv").write_text(REPORTS)
    direct = fulfilment(read_reports_csv(tmp_path / "r.csv"), TARGETS)  # the same computation, outside the app
    assert got["by_workplace"] == direct.by_workplace.to_pylist()
    flour = next(r for r in got["by_product"] if r["product"] == "flour")
    assert flour["use"] == pytest.approx(0.7) and flour["gross"] == pytest.approx(1.2)
    m = client.get("/api/control/mismatches").json()
    assert [(r["supplier"], r["receiver"], r["difference"]) for r in m["shipments"]] == [
        ("mill", "bakery", 60.0),
        ("mill", "cafe", -40.0),
    ]
    assert m["coefficients"][0]["expected"] == pytest.approx(150.0)  # 1.25 x 120 flour; 160 used
    # new targets (same count) are seen at once
    store_targets(client.app.state.platform.db, TARGETS.set_column(3, "quantity", pa.array([200.0, 10.0])))
    flour = next(r for r in client.get("/api/control/fulfilment").json()["by_product"] if r["product"] == "flour")
    assert flour["gross"] == pytest.approx(0.6)
    for page, marker in (
        ("/control", "plan-actual"),
        ("/control/mismatches", "shipments"),
        ("/control/workplaces/mill", "by-product"),
    ):
        r = client.get(page)
        assert r.status_code == 200 and marker in r.text


def test_alerts_go_to_the_workplace_first_then_public(client: TestClient) -> None:
    platform = client.app.state.platform
    finding = Finding("mill", "flour", "gap", 1, "step", 0.97, 0.095)
    (alert_id,) = raise_alerts(platform.db, [finding], window=timedelta(days=7))
    assert client.get("/api/control/alerts").json() == []  # anonymous: not yet
    cafe = bearer(client, "cafe", "cafe-password-1")
    assert client.get("/api/control/alerts", headers=cafe).json() == []  # another workplace: not yet
    mill = bearer(client, "mill", "mill-password-1")
    (seen,) = client.get("/api/control/alerts", headers=mill).json()
    assert seen["id"] == alert_id and seen["public"] is False
    assert client.post(f"/control/alerts/{alert_id}/answer", data={"text": "x"}, headers=cafe).status_code == 403
    r = client.post(
        f"/control/alerts/{alert_id}/answer",
        data={"text": "a new mill line opened"},
        headers=mill,
        follow_redirects=False,
    )
    assert r.status_code == 303
    # once the window has passed it is public, with the answer
    (late,) = raise_alerts(platform.db, [Finding("mill", "bran", "output", 1, "slope", 0.95, 0.2)], window=timedelta(0))
    public = client.get("/api/control/alerts").json()
    assert [a["id"] for a in public] == [late]
    from glasnost.control.alerts import publish_due

    assert platform.books.call(lambda lg: publish_due(platform.db, lg)) == 1
    assert client.get("/api/control/alerts").json()[0]["log_index"] is not None


def test_the_receipt_page_checks_inclusion(client: TestClient) -> None:
    board = bearer(client, *BOARD)
    client.post("/api/control/reports", content=REPORTS, headers=board)
    platform = client.app.state.platform
    leaf = platform.books.call(lambda lg: lg.entry(lg.size - 2).leaf_hash.hex())  # the last report
    r = client.get("/control/receipt", params={"leaf": leaf})
    assert r.status_code == 200 and 'id="proof-ok">verified' in r.text
    r = client.get("/control/receipt", params={"leaf": "00" * 32})
    assert "no entry of the public log has this leaf hash" in r.text
    assert "64 hexadecimal digits" in client.get("/control/receipt", params={"leaf": "xyz"}).text


# ---- a real browser against a running server ------------------------------------------------------




@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    db_file = tmp_path / "platform.sqlite"
    db = open_database(str(db_file))
    (tmp_path / "r.csv").write_text(REPORTS)
    with Ledger.open(tmp_path / "platform-log.sqlite") as log:
        result = import_reports_csv(db, tmp_path / "r.csv", log)
        leaf = result.receipts[0].leaf_hash.hex()
    store_targets(db, TARGETS)
    raise_alerts(db, [Finding("mill", "flour", "gap", 1, "step", 0.97, 0.095)], window=timedelta(days=7))
    db.dispose()
    env = {**os.environ, "GLASNOST_PASSWORD": "board-password-1"}
    made = subprocess.run(
        [sys.executable, "-m", "glasnost.cli", "admin", "create-board", "board", "--database", f"sqlite:///{db_file}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "glasnost.cli", "serve", "--port", str(port), "--database", f"sqlite:///{db_file}"],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stdout.read().decode()) from None  # type: ignore[union-attr]
                time.sleep(0.1)
        yield url, leaf
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.browser
def test_pages_in_a_real_browser(served: tuple[str, str]) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    url, leaf = served
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(url + "/control")
            assert "Plan against actual" in page.inner_text("#plan-actual")
            page.click("#plan-actual a:text('mill')")
            page.wait_for_url("**/control/workplaces/mill")
            row = page.inner_text("#by-product")
            assert "flour" in row and "0.700" in row and "1.200" in row  # use value beside gross quantity
            page.goto(url + "/control/receipt")
            page.fill("#leaf", leaf)
            page.click("button:text('check')")
            assert page.inner_text("#proof-ok") == "verified"
            assert "workplace" in page.inner_text("#receipt-result")
            # the alert is private to the workplace (and the board) during its window
            page.goto(url + "/control/alerts")
            assert "No alerts" in page.inner_text("main")
            page.goto(url + "/login")
            page.fill("input[name=username]", "board")
            page.fill("input[name=password]", "board-password-1")
            page.click("#login-submit")
            page.wait_for_load_state()
            page.goto(url + "/control/alerts")
            assert "private until" in page.inner_text("#alerts")
            page.fill("#alerts input[name=text]", "the new line started this week")
            page.click("#alerts button:text('answer')")
            page.wait_for_url("**/control/alerts")
            assert "the new line started this week" in page.inner_text("#alerts")
            # a report by form, then its receipt checked
            page.goto(url + "/control/report")
            page.fill("#workplace", "bakery")  # the board reports for any workplace it names
            page.fill("#lines", "output,5,bread,40\ndelivery,5,bread,40,shop")
            page.click("#submit")
            assert "Stored as batch" in page.inner_text("#stored")
            page.click("#stored a:text('check')")
            assert page.inner_text("#proof-ok") == "verified"
        finally:
            browser.close()


def test_a_workplace_reports_by_form_and_api_for_itself_only(client: TestClient) -> None:
    mill = bearer(client, "mill", "mill-password-1")
    r = client.post("/api/control/reports", content=REPORTS, headers=mill)  # holds the bakery's and cafe's lines
    assert r.status_code == 422
    assert "line 4, column workplace: mill reports for mill only (the board grants more)" in r.text
    own = "kind,period,workplace,product,quantity\noutput,2,mill,flour,99\n"
    r = client.post("/api/control/reports", content=own, headers=mill)
    assert r.status_code == 201 and len(r.json()["receipts"]) == 1
    # by form: line 2 is blank, line 3 bad; nothing stored
    form = {"lines": "output,3,flour,120\n\ndelivery,3,flour,80\n"}
    r = client.post("/control/report", data=form, headers=mill)
    assert r.status_code == 422
    assert "line 3, counterparty: is required for delivery, receipt and rating lines" in r.text
    form = {"lines": "output,3,flour,120\ndelivery,3,flour,80,bakery\ncapacity,3,flour,150\n"}
    r = client.post("/control/report", data=form, headers=mill)
    assert r.status_code == 200 and 'id="stored"' in r.text
    receipt = r.text.split('<code class="receipt">')[1].split("<")[0]
    assert 'id="proof-ok">verified' in client.get("/control/receipt", params={"leaf": receipt}).text
    m = client.get("/api/control/mismatches").json()
    assert ("mill", "bakery", 3) in {(x["supplier"], x["receiver"], x["period"]) for x in m["shipments"]}
