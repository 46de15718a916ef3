"""``glasnost verify URL`` against a real running server (``glasnost serve``): a sound log passes; a row
changed or deleted directly in the log's database is named by its entry."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glasnost.cli import app
from glasnost.control.remote import verify_remote
from glasnost.control.store import import_reports_csv, open_database
from glasnost.ledger import Ledger

runner = CliRunner()
REPORTS = """kind,period,workplace,product,variant,grade,quantity,counterparty,rating
output,1,mill,flour,,A,100,,
delivery,1,mill,flour,,,80,bakery,
receipt,1,bakery,flour,,,75,mill,
output,1,bakery,bread,,,100,,
output,2,mill,flour,,A,90,,
output,2,bakery,bread,,,95,,
capacity,2,mill,flour,,,120,,
output,3,mill,flour,,A,91,,
output,3,farm,grain,,,300,,
output,4,farm,grain,,,310,,
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A platform on a SQLite file whose log already holds imported reports; yields (URL, log file)."""
    db_file = tmp_path / "platform.sqlite"
    db = open_database(str(db_file))
    (tmp_path / "r.csv").write_text(REPORTS)
    log_file = tmp_path / "platform-log.sqlite"
    with Ledger.open(log_file) as log:
        import_reports_csv(db, tmp_path / "r.csv", log)  # 7 reports (workplace x period) and the batch
        assert log.size == 8
    db.dispose()
    port = _free_port()
    env = {**os.environ, "GLASNOST_DATABASE": f"sqlite:///{db_file}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "glasnost.cli", "serve", "--port", str(port), "--database", f"sqlite:///{db_file}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/api/log", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stdout.read().decode()) from None  # type: ignore[union-attr]
                time.sleep(0.1)
        yield url, log_file
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _tamper(log_file: Path, sql: str, params: tuple = ()) -> None:
    conn = sqlite3.connect(log_file)
    try:
        for t in ("ledger_entries_no_update", "ledger_entries_no_delete"):
            conn.execute(f"DROP TRIGGER IF EXISTS {t}")
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def test_a_sound_server_log_passes(server: tuple[str, Path]) -> None:
    url, log_file = server
    with Ledger.open(log_file) as log:
        leaf = log.entry(3).leaf_hash.hex()
    public = log_file.with_name("platform-key.pub")  # the platform's key, as published beside it
    result = runner.invoke(app, ["verify", url, "--receipt", leaf, "--key", str(public)])
    assert result.exit_code == 0, result.output
    assert "ok:" in result.output and "8 entries" in result.output and "1 receipts" in result.output
    report = verify_remote(url)  # only the key the server itself announces: never "ok"
    assert report.sound and not report.ok and report.status == "unauthenticated" and report.checkpoints >= 1
    assert any("key the server announces" in n for n in report.notes)
    result = runner.invoke(app, ["verify", url])
    assert result.exit_code == 3 and result.output.splitlines()[-1].startswith("UNAUTHENTICATED")


def test_a_changed_row_is_named_through_the_server(server: tuple[str, Path]) -> None:
    url, log_file = server
    assert verify_remote(url).sound  # the server signs a checkpoint over the sound log
    _tamper(log_file, "UPDATE ledger_entries SET entry = ? WHERE idx = 5",
            (b'{"kind":"report","payload":{"workplace":"mill","period":2,"lines":{}}}',))
    result = runner.invoke(app, ["verify", url])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("entry 5: recorded leaf hash")
    assert lines[-1].startswith("FAILED")


def test_a_deleted_row_is_named_through_the_server(server: tuple[str, Path]) -> None:
    url, log_file = server
    assert verify_remote(url).sound
    _tamper(log_file, "DELETE FROM ledger_entries WHERE idx = 6")
    report = verify_remote(url)
    assert not report.sound
    assert str(report.problems[0]) == "entry 6: missing (deleted, or never written)"
    assert any(str(p).startswith("checkpoint 0 (size 8") for p in report.problems)


def test_an_unreachable_server_is_one_clear_line() -> None:
    result = runner.invoke(app, ["verify", f"http://127.0.0.1:{_free_port()}"])
    assert result.exit_code == 1
    assert "cannot reach the server" in result.output
