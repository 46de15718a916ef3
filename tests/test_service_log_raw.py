"""The public log's entries are served as stored: a row tampered into bytes that are no longer
canonical JSON (or not even UTF-8) is still served, and ``glasnost verify URL`` names it as tampered
from the entries themselves (no fallback to the export). Through a real uvicorn server on loopback."""

from __future__ import annotations

import base64
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from service_support import BOARD, make_backend

from glasnost.control.remote import verify_remote


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A platform on SQLite with two cycles (its log holds entries), served by uvicorn; (URL, log file)."""
    from glasnost.service.app import create_app

    backend = next(make_backend("sqlite", tmp_path))
    app = create_app(backend.settings())
    app.state.platform.accounts.create(*BOARD, board=True)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if server.started:
                break
            time.sleep(0.05)
        http = httpx.Client(base_url=url, timeout=30)
        token = http.post("/api/login", json={"username": BOARD[0], "password": BOARD[1]}).json()["token"]
        for name in ("raw", "raw too"):
            r = http.post("/api/cycles", json={"name": name}, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 201, r.text
        yield url, tmp_path / "platform-log.sqlite"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def _overwrite(log_file: Path, index: int, data: bytes) -> None:
    conn = sqlite3.connect(log_file)
    try:
        for t in ("ledger_entries_no_update", "ledger_entries_no_delete"):
            conn.execute(f"DROP TRIGGER IF EXISTS {t}")
        conn.execute("UPDATE ledger_entries SET entry = ? WHERE idx = ?", (data, index))
        conn.commit()
    finally:
        conn.close()


def test_tampered_rows_are_served_raw_and_named_by_verify(running: tuple[str, Path]) -> None:
    url, log_file = running
    size = httpx.get(url + "/api/log").json()["size"]
    assert size >= 2
    before = verify_remote(url)
    assert before.ok, [str(p) for p in before.problems]
    original = httpx.get(url + "/api/log/entries/1").json()
    assert base64.b64decode(original["entry_base64"]) == original["entry"].encode() and "problem" not in original
    not_canonical = b'{ "kind": "x", "payload": {} }'  # valid JSON with spaces: not canonical
    not_utf8 = b"\xff\xfe not text"
    _overwrite(log_file, 0, not_canonical)
    _overwrite(log_file, 1, not_utf8)
    page = httpx.get(url + "/api/log/entries")
    assert page.status_code == 200, page.text
    entries = page.json()["entries"]
    assert len(entries) == size
    assert base64.b64decode(entries[0]["entry_base64"]) == not_canonical and entries[0]["payload"] is None
    assert base64.b64decode(entries[1]["entry_base64"]) == not_utf8 and entries[1]["entry"] is None
    assert "canonical" in entries[0]["problem"] and "canonical" in entries[1]["problem"]
    single = httpx.get(url + "/api/log/entries/1")
    assert single.status_code == 200 and single.json()["entry_base64"] == entries[1]["entry_base64"]
    assert httpx.get(url + f"/api/log/entries/{size + 5}").status_code == 404
    page = httpx.get(url + "/log")  # the page shows the damaged rows too, saying what is wrong
    assert page.status_code == 200 and page.text.count("not a canonical log entry") == 2
    report = verify_remote(url)
    assert not report.ok
    problems = [str(p) for p in report.problems]
    assert any(p.startswith("entry 0:") for p in problems) and any(p.startswith("entry 1:") for p in problems)
    assert not any("export" in n for n in report.notes), report.notes  # read from the entries, no fallback


def test_every_page_links_to_implementation_control(running: tuple[str, Path]) -> None:
    url, _ = running
    for page in ("/", "/log", "/receipts"):
        r = httpx.get(url + page)
        assert r.status_code == 200 and '<a href="/control">implementation control</a>' in r.text, page
    assert httpx.get(url + "/control").status_code == 200


def test_a_fresh_entry_is_proved_at_once(running: tuple[str, Path]) -> None:
    # a checkpoint signed just now, then a new entry: asking for its inclusion proof must sign a
    # checkpoint covering it, not refuse until the next one is due (one per second otherwise)
    url, _ = running
    http = httpx.Client(base_url=url, timeout=30)
    token = http.post("/api/login", json={"username": BOARD[0], "password": BOARD[1]}).json()["token"]
    assert http.get("/api/log/checkpoint").status_code == 200
    r = http.post("/api/cycles", json={"name": "fresh"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    index = http.get("/api/log").json()["size"] - 1
    proof = http.get("/api/log/proof/inclusion", params={"index": index})
    assert proof.status_code == 200, proof.text
    checkpoint = http.get("/api/log/checkpoint").json()
    assert proof.json()["tree_size"] == checkpoint["tree_size"] > index
    assert proof.json()["root_hash"] == checkpoint["root_hash"]
