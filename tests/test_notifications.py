"""Notifications (issue 18, item 5): a real SMTP server (aiosmtpd) receives the mail the scheduled
work sends (never the request), each member gets only what they chose, in their language, and the
cycle's Atom feed parses (xml.etree) with the events in it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from election_support import WORKPLACE, members
from fastapi.testclient import TestClient
from service_support import BOARD, bearer, free_port, make_backend

from glasnost.service.notifications.service import notify

ATOM = "{http://www.w3.org/2005/Atom}"


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def subjects(self) -> dict[str, str]:
        return {m["To"]: str(make_header(decode_header(m["Subject"]))) for m in self.messages}


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from make_backend(request.param, tmp_path)


def _app(backend: Any, port: int, *, jobs: bool) -> TestClient:
    from glasnost.service.app import create_app

    settings = backend.settings(
        jobs=jobs, extra={"smtp_host": "127.0.0.1", "smtp_port": port, "mail_from": "glasnost@example.org"}
    )
    app = create_app(settings)
    app.state.platform.accounts.create(*BOARD, board=True)
    return TestClient(app)


def _choose(client: TestClient, headers: dict[str, str], email: str, kinds: list[str], locale: str = "en") -> None:
    r = client.put("/api/notifications", json={"email": email, "kinds": kinds, "locale": locale}, headers=headers)
    assert r.status_code == 200, r.text


def test_mail_goes_by_the_queue_to_those_who_chose_it_in_their_language(backend: Any, inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    with _app(backend, port, jobs=False) as client:
        board = bearer(client, *BOARD)
        cycle = client.post("/api/cycles", json={"name": "news"}, headers=board).json()["id"]
        people = members(client, board, cycle, WORKPLACE, ["ann", "ben", "cat", "dan"])
        _choose(client, people["ann"], "ann@example.org", ["elections", "results"])
        _choose(client, people["ben"], "ben@example.org", ["rounds"])
        _choose(client, people["dan"], "dan@example.org", ["elections"], "ru")
        r = client.put("/api/notifications", json={"email": "not an address", "kinds": []}, headers=people["cat"])
        assert r.status_code == 422 and r.json()["detail"] == "email: 'not an address' is not an email address"
        r = client.put("/api/notifications", json={"email": "", "kinds": ["gossip"]}, headers=people["cat"])
        assert r.status_code == 422 and "kind 'gossip'" in r.json()["detail"]
        r = client.post(f"/api/cycles/{cycle}/elections", json={"council": WORKPLACE, "seats": 2}, headers=board)
        assert r.status_code == 201
        p = client.app.state.platform
        assert p.notifications.waiting() == 2 and handler.messages == []  # queued, not sent in the request
        assert p.notifications.deliver() == 2
        subjects = handler.subjects()
        assert set(subjects) == {"ann@example.org", "dan@example.org"}
        assert subjects["ann@example.org"].startswith(f"Election of delegates for council {WORKPLACE}: stand")
        assert subjects["dan@example.org"].startswith(f"Выборы: делегаты, совет {WORKPLACE}")
        assert handler.messages[0]["From"] == "glasnost@example.org"
        assert f"/elections/{r.json()['id']}" in handler.messages[0].get_payload()
        assert p.notifications.deliver() == 0  # each mail once
        # a private notice (criticism addressed to someone): only them, and not in the feed
        with p.db.write() as s:
            ids = [p.accounts.account_id("ann"), p.accounts.account_id("ben")]
            assert notify(s, "criticism", "Someone criticised your report", cycle_id=cycle, to=ids) == 0
        _choose(client, people["ben"], "ben@example.org", ["rounds", "criticism"])
        with p.db.write() as s:
            assert notify(s, "criticism", "Someone criticised your report", cycle_id=cycle, to=ids) == 1
        # the rounds: the scheduled work announces round 1 (once), to the feed and to ben
        assert p.notifications.announce_rounds() == 1 and p.notifications.announce_rounds() == 0
        assert p.notifications.deliver() == 2
        assert handler.subjects()["ben@example.org"] in {"Round 1 is open", "Someone criticised your report"}
        assert sorted(str(make_header(decode_header(m["Subject"]))) for m in handler.messages[2:]) == [
            "Round 1 is open",
            "Someone criticised your report",
        ]
        # the feed: Atom, parsed; public events only, newest first
        r = client.get(f"/cycles/{cycle}/feed.atom")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
        feed = ET.fromstring(r.content)
        assert feed.tag == f"{ATOM}feed" and feed.findtext(f"{ATOM}title") == "Planning cycle news: news"
        entries = feed.findall(f"{ATOM}entry")
        titles = [x.findtext(f"{ATOM}title") for x in entries]
        assert titles[0] == "Round 1 is open" and titles[1].startswith("Election of delegates for council")
        assert not any("criticised" in t for t in titles)
        assert entries[1].find(f"{ATOM}link").get("href").endswith("/elections/1")
        assert all(x.findtext(f"{ATOM}id") and x.findtext(f"{ATOM}updated") for x in entries)
        ru = ET.fromstring(client.get(f"/cycles/{cycle}/feed.atom", headers={"Accept-Language": "ru"}).content)
        assert ru.findall(f"{ATOM}entry")[0].findtext(f"{ATOM}title") == "Раунд 1 открыт"


def test_the_scheduler_or_the_job_queue_sends_the_mail_by_itself(backend: Any, inbox: tuple[Inbox, int]) -> None:
    """SQLite: the in-process scheduler; PostgreSQL: the procrastinate job deferred when mail is queued."""
    handler, port = inbox
    with _app(backend, port, jobs=True) as client:
        board = bearer(client, *BOARD)
        cycle = client.post("/api/cycles", json={"name": "news"}, headers=board).json()["id"]
        people = members(client, board, cycle, WORKPLACE, ["ann"])
        _choose(client, people["ann"], "ann@example.org", ["elections"])
        r = client.post(f"/api/cycles/{cycle}/elections", json={"council": WORKPLACE, "seats": 1}, headers=board)
        assert r.status_code == 201
        deadline = time.monotonic() + 20
        while not handler.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [m["To"] for m in handler.messages] == ["ann@example.org"]


def test_the_preferences_page_keeps_what_was_typed(tmp_path: Path, inbox: tuple[Inbox, int]) -> None:
    _, port = inbox
    with _app(next(make_backend("sqlite", tmp_path)), port, jobs=False) as client:
        client.app.state.platform.accounts.create("ann", "ann-password")
        client.get("/")
        csrf = client.cookies.get("glasnost_csrf")
        client.post("/login", data={"username": "ann", "password": "ann-password", "csrf_token": csrf})
        r = client.post("/notifications", data={"email": "nope", "kind": "recall", "csrf_token": csrf})
        assert r.status_code == 422 and 'value="nope"' in r.text and 'id="kind-recall" checked' in r.text
        r = client.post("/notifications", data={"email": "ann@example.org", "kind": "recall", "csrf_token": csrf})
        assert r.status_code == 200 and 'id="saved"' in r.text
        assert client.get("/api/notifications").json()["kinds"] == ["recall"]


def test_a_quality_complaint_is_mailed_to_the_workplaces_accounts(tmp_path: Path, inbox: tuple[Inbox, int]) -> None:
    """The debate's criticism addressed to a workplace reaches, through ``notify``, the accounts
    holding the workplace's grant that chose criticism by email."""
    from test_control_pages import COEFFICIENTS, REPORTS, TARGETS

    from glasnost.control.store import store_coefficients, store_targets
    from glasnost.service.accounts import Viewer

    handler, port = inbox
    with _app(next(make_backend("sqlite", tmp_path)), port, jobs=False) as client:
        p = client.app.state.platform
        board = Viewer(p.accounts.account_id(BOARD[0]), BOARD[0], True, "system")
        p.accounts.create("mill", "mill-password-1")
        p.accounts.grant(board, "mill", "workplace", "mill")
        store_targets(p.db, TARGETS)
        store_coefficients(p.db, COEFFICIENTS)
        b = bearer(client, *BOARD)
        assert client.post("/api/control/reports", content=REPORTS, headers=b).status_code == 201
        cycle = client.post("/api/cycles", json={"name": "news"}, headers=b).json()["id"]
        ann = members(client, b, cycle, WORKPLACE, ["ann"])["ann"]
        _choose(client, bearer(client, "mill", "mill-password-1"), "mill@example.org", ["criticism"])
        complaint = {"product": "flour", "what": "grey and gritty", "where": "bakery shop", "severity": "serious"}
        r = client.post("/api/complaints", json=complaint, headers=ann)
        assert r.status_code == 200 and r.json()["complaint"]["to"] == ["mill"], r.text
        assert handler.messages == [] and p.notifications.deliver() == 1
        (mail,) = handler.messages
        assert mail["To"] == "mill@example.org" and mail["Subject"].startswith("Criticism addressed to mill: answer by")
        assert "/criticism/workplaces/mill" in mail.get_payload()


def test_two_processes_announce_each_round_once(tmp_path: Path) -> None:
    """The scheduled work of two processes finds the same news at once: each round is announced once,
    and neither fails (the second found the key taken; before, its insert broke its transaction)."""
    import threading

    from glasnost.service.accounts import Viewer
    from glasnost.service.platform import Platform

    backend = next(make_backend("postgresql", tmp_path))
    first, second = Platform(backend.settings()), Platform(backend.settings())
    try:
        board = Viewer(first.accounts.create(*BOARD, board=True), BOARD[0], True, "system")
        cycle = first.cycles.create(board, "news", "demo")
        for number in range(1, 6):
            barrier = threading.Barrier(2)
            counts: list[int] = []
            errors: list[BaseException] = []

            def announce(
                platform: Platform,
                barrier: threading.Barrier = barrier,
                counts: list[int] = counts,
                errors: list[BaseException] = errors,
            ) -> None:
                barrier.wait()
                try:
                    counts.append(platform.notifications.announce_rounds())
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=announce, args=(p,)) for p in (first, second)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == [], errors
            # round 1: opened; later: the last round closed and the next opened
            assert sum(counts) == (1 if number == 1 else 2), counts
            first.rounds.close(board, cycle, number)
    finally:
        first.close()
        second.close()
