"""Witnesses against a forked log: three witnesses as separate processes, a log that shows a fork.

* C2SP tlog-witness: three ``glasnost witness serve`` processes; the log asks them to cosign
  (``POST /add-checkpoint``). Once they have cosigned the honest tree of size 12, a forked tree of
  the same size signed with the same key gets no cosignature (409, a split view), nor does a fork that
  does not extend what they saw (422), and ``glasnost verify --quorum 2`` fails on the forked log.
* Pull: a platform that shows one council (witness 3) a forked view on another address; witnesses
  run ``glasnost witness cosign`` as separate processes. The fork gets one cosignature, below the
  quorum, and the council's witness refuses the honest view afterwards (the split is shown to it).
* The real platform (``glasnost serve``): a council cosigns, the platform publishes the cosignature,
  and ``glasnost verify URL --witness ... --quorum 1`` holds.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_control_remote import server  # noqa: F401 (the real platform fixture)
from typer.testing import CliRunner

from glasnost.cli import app
from glasnost.ledger import Ledger, generate_signing_key, public_key_hex, write_keypair
from glasnost.ledger.checkpoint import Checkpoint
from glasnost.ledger.note import COSIGNATURE, format_vkey
from glasnost.ledger.witness import WitnessRefusal, request_cosignature

runner = CliRunner()
ENV = {**os.environ}
TIME = "2025-03-01T12:00:00Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entries(log: Ledger, tag: str, start: int, stop: int) -> None:
    log.append_many([("report", {"n": i, "view": tag}) for i in range(start, stop)])


class Witnesses:
    """Three witness keys (files), their verifier keys, and their state files."""

    def __init__(self, tmp: Path) -> None:
        self.keys, self.vkeys, self.states, self.names = [], [], [], []
        for i in range(1, 4):
            key = generate_signing_key()
            path, _ = write_keypair(key, tmp / f"w{i}.key")
            self.keys.append(path)
            self.names.append(f"council-{i}.example/witness")
            self.vkeys.append(format_vkey(self.names[-1], COSIGNATURE, key.public_key()))
            self.states.append(tmp / f"w{i}-state.json")


@pytest.fixture
def log_key(tmp_path: Path):
    key = generate_signing_key()
    write_keypair(key, tmp_path / "log.key")
    return key


@pytest.fixture
def witness_servers(tmp_path: Path, log_key) -> Iterator[tuple[Witnesses, list[str]]]:
    """Three ``glasnost witness serve`` processes, each with its own key and state."""
    ws = Witnesses(tmp_path)
    procs, urls = [], []
    try:
        for i in range(3):
            port = _free_port()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "glasnost.cli", "witness", "serve", "--key", str(ws.keys[i]), "--name",
                 ws.names[i], "--log-key", public_key_hex(log_key), "--state", str(ws.states[i]), "--port", str(port)],
                env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(procs, urls, strict=True):
            for _ in range(300):
                try:
                    assert urllib.request.urlopen(url, timeout=2).read().decode().strip() in ws.vkeys
                    break
                except OSError:
                    if proc.poll() is not None:
                        raise RuntimeError(proc.stdout.read().decode()) from None  # type: ignore[union-attr]
                    time.sleep(0.05)
        yield ws, urls
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)


def _ask_all(log: Ledger, cp: Checkpoint, urls: list[str]) -> list[str | WitnessRefusal]:
    """The log asks each witness to cosign ``cp``; cosignatures are stored with the checkpoint."""
    answers: list[str | WitnessRefusal] = []
    for url in urls:
        try:
            line = request_cosignature(url, cp, lambda old, n=cp.tree_size: log.consistency_proof(old, n))
            log.add_cosignatures(cp, [line])
            answers.append(line)
        except WitnessRefusal as exc:
            answers.append(exc)
    return answers


def _verify(path: Path, log_key, ws: Witnesses, quorum: int):
    args = ["verify", str(path), "--key", public_key_hex(log_key), "--quorum", str(quorum)]
    for v in ws.vkeys:
        args += ["--witness", v]
    return runner.invoke(app, args)


def test_a_fork_of_the_same_size_gets_no_cosignature_and_fails_the_quorum(
    tmp_path: Path, log_key, witness_servers: tuple[Witnesses, list[str]]
) -> None:
    ws, urls = witness_servers
    with Ledger.open(tmp_path / "honest.sqlite") as honest, Ledger.open(tmp_path / "fork.sqlite") as fork:
        _entries(honest, "honest", 0, 8)
        _entries(fork, "honest", 0, 8)
        assert all(isinstance(a, str) for a in _ask_all(honest, honest.checkpoint(log_key, time=TIME), urls))
        _entries(honest, "honest", 8, 12)
        a12 = honest.checkpoint(log_key, time=TIME)
        # each witness had size 8: it answers 409 with its size, and the log asks again with a proof 8 -> 12
        assert all(isinstance(a, str) for a in _ask_all(honest, a12, urls))
        # the fork: the same first 8 entries, 4 others, signed with the log's own key
        _entries(fork, "fork", 8, 12)
        b12 = fork.checkpoint(log_key, time=TIME)
        assert b12.tree_size == a12.tree_size and b12.root_hash != a12.root_hash
        refused = _ask_all(fork, b12, urls)
        assert all(isinstance(r, WitnessRefusal) and r.status == 409 and "split view" in str(r) for r in refused)
        # a fork that does not extend the tree the witnesses saw: its consistency proof fails (422)
        _entries(fork, "fork", 12, 13)
        b13 = fork.checkpoint(log_key, time=TIME)
        refused = []
        for url in urls:
            with pytest.raises(WitnessRefusal) as info:
                request_cosignature(url, b13, lambda old: fork.consistency_proof(old, 13), old_size=12)
            refused.append(info.value)
        assert all(r.status == 422 and "does not extend" in str(r) for r in refused)
        assert [len(cp.cosignatures) for cp in fork.checkpoints()] == [0, 0]
        honest_export = honest.export(tmp_path / "honest.jsonl")
        fork_export = fork.export(tmp_path / "fork.jsonl")
    ok = _verify(honest_export, log_key, ws, 2)
    assert ok.exit_code == 0, ok.output
    assert "cosigned by council-1.example/witness, council-2.example/witness, council-3.example/witness" in ok.output
    for source in (fork_export, tmp_path / "fork.sqlite"):
        bad = _verify(source, log_key, ws, 2)
        assert bad.exit_code == 1, bad.output
        assert bad.output.splitlines()[0].startswith(
            f"checkpoint 1 (size 13, {TIME}): cosigned by 0 of the given witnesses, 2 needed")
    # the witnesses' state: the honest tree of size 12
    for state in ws.states:
        recorded = json.loads(state.read_text())
        assert {v["size"] for v in recorded.values()} == {12}


class _Platform(BaseHTTPRequestHandler):
    """A platform's public log endpoints over one of two views (the server's ``ledger``)."""

    def do_GET(self) -> None:
        url = urllib.parse.urlparse(self.path)
        ledger: Ledger = self.server.ledger  # type: ignore[attr-defined]
        with self.server.lock:  # type: ignore[attr-defined]
            if url.path == "/api/log/checkpoint":
                body = ledger.latest_checkpoint().to_json()  # type: ignore[union-attr]
            else:
                q = urllib.parse.parse_qs(url.query)
                first, second = int(q["first"][0]), int(q["second"][0])
                body = {"path": [h.hex() for h in ledger.consistency_proof(first, second)]}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        obj = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.ledger.add_cosignatures(Checkpoint.from_note(obj["checkpoint"]), obj["cosignatures"])  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        return


def _platform_view(ledger: Ledger) -> tuple[ThreadingHTTPServer, str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Platform)
    srv.ledger, srv.lock = ledger, threading.Lock()  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def _cosign_cli(ws: Witnesses, i: int, url: str, log_key) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "glasnost.cli", "witness", "cosign", url, "--key", str(ws.keys[i]), "--name",
         ws.names[i], "--log-key", public_key_hex(log_key), "--state", str(ws.states[i])],
        env=ENV, capture_output=True, text=True, timeout=120)


def test_a_platform_showing_one_council_a_fork_is_caught(tmp_path: Path, log_key) -> None:
    ws = Witnesses(tmp_path)
    honest, fork = Ledger.open(tmp_path / "honest.sqlite"), Ledger.open(tmp_path / "fork.sqlite")
    for lg in (honest, fork):  # the platform's serving threads use the connections too
        lg._store.conn.close()
        lg._store.conn = sqlite3.connect(lg.where, isolation_level=None, check_same_thread=False)
    servers = []
    try:
        _entries(honest, "honest", 0, 8)
        _entries(fork, "honest", 0, 8)
        honest.checkpoint(log_key, time=TIME)
        fork.checkpoint(log_key, time=TIME)
        (srv_a, url_a), (srv_b, url_b) = _platform_view(honest), _platform_view(fork)
        servers = [srv_a, srv_b]
        for i in range(3):  # everyone saw the honest tree of size 8
            done = _cosign_cli(ws, i, url_a, log_key)
            assert done.returncode == 0, done.stdout + done.stderr
        _entries(honest, "honest", 8, 12)
        honest.checkpoint(log_key, time=TIME)
        _entries(fork, "fork", 8, 12)
        fork.checkpoint(log_key, time=TIME)
        for i in (0, 1):
            assert _cosign_cli(ws, i, url_a, log_key).returncode == 0
        shown = _cosign_cli(ws, 2, url_b, log_key)  # council 3 is shown the fork: it extends what it saw
        assert shown.returncode == 0, shown.stdout + shown.stderr
        fork_export, honest_export = fork.export(tmp_path / "fork.jsonl"), honest.export(tmp_path / "honest.jsonl")
        bad = _verify(fork_export, log_key, ws, 2)
        assert bad.exit_code == 1
        assert f"checkpoint 1 (size 12, {TIME}): cosigned by 1 of the given witnesses, 2 needed" in bad.output
        assert _verify(honest_export, log_key, ws, 2).exit_code == 0
        # when council 3's witness later meets the honest view, it refuses it, and says why
        later = _cosign_cli(ws, 2, url_a, log_key)
        assert later.returncode == 1
        assert "refused" in later.stderr and "split view" in later.stderr
    finally:
        for srv in servers:
            srv.shutdown()
        honest.close()
        fork.close()


def test_a_council_witnesses_the_real_platform(server: tuple[str, Path], tmp_path: Path) -> None:  # noqa: F811
    url, log_file = server
    public = log_file.with_name("platform-key.pub")
    key_file = tmp_path / "council.key"
    made = runner.invoke(app, ["witness", "keygen", "--name", "council-9.example/witness", "--out", str(key_file)])
    assert made.exit_code == 0, made.output
    vkey = (tmp_path / "council.key.vkey").read_text().strip()
    assert vkey in made.output.replace("\n", "")
    done = runner.invoke(app, ["witness", "cosign", url, "--key", str(key_file), "--name",
                               "council-9.example/witness", "--log-key", str(public), "--state",
                               str(tmp_path / "state.json")])
    assert done.exit_code == 0, done.output
    note = urllib.request.urlopen(url + "/api/log/checkpoint/note").read().decode()
    assert note.splitlines()[-1] == done.output.splitlines()[-1]  # the platform publishes the cosignature
    result = runner.invoke(app, ["verify", url, "--key", str(public), "--witness", vkey, "--quorum", "1"])
    assert result.exit_code == 0, result.output
    stranger = format_vkey("council-10.example/witness", COSIGNATURE, generate_signing_key().public_key())
    result = runner.invoke(app, ["verify", url, "--key", str(public), "--witness", vkey, "--witness", stranger])
    assert result.exit_code == 1
    assert "cosigned by 1 of the given witnesses, 2 needed (not by council-10.example/witness)" in result.output
