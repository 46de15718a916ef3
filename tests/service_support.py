"""Shared helpers of the platform's tests: a fresh database per test (SQLite file or PostgreSQL
schema, dropped afterwards), a platform with a board account, and small API helpers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from extra_support import postgresql_problem

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_PLAIN = "postgresql://postgres@127.0.0.1:5432/test"
BOARD = ("board", "board-password")
# argon2id at a test cost (time 1, 64 KiB, 1 lane): production keeps argon2-cffi's defaults (3 passes,
# 64 MiB, 4 lanes), checked once in test_service_security.py; a hash stores its own parameters
TEST_ARGON2 = (1, 64, 1)
TEST_ARGON2_ENV = {"GLASNOST_ARGON2": ",".join(map(str, TEST_ARGON2))}


@dataclass
class Backend:
    """Where a test's platform keeps its tables and its public log."""

    kind: str
    url: str
    schema: str | None
    directory: Path

    def settings(self, **extra: Any):  # -> Settings
        from glasnost.db.settings import Settings

        extra.setdefault("password_cost", TEST_ARGON2)
        extra.setdefault("ledger_path", None if self.kind == "sqlite" else PG_PLAIN)
        return Settings(
            database_url=self.url,
            schema=self.schema,
            key_path=str(self.directory / "log-key"),
            secret_file=str(self.directory / "master-secret"),
            **extra,
        )

    def cli_args(self) -> list[str]:
        args = ["--database", self.url]
        if self.schema:
            args += ["--schema", self.schema]
        return args


def make_backend(kind: str, tmp_path: Path) -> Iterator[Backend]:
    """A fresh SQLite file, or a fresh PostgreSQL schema (dropped afterwards; the test skips, saying
    so, where PostgreSQL does not answer)."""
    if kind == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'platform.sqlite'}", None, tmp_path)
        return
    if problem := postgresql_problem():
        pytest.skip(problem)
    import psycopg

    schema = f"glasnost_svc_{uuid.uuid4().hex[:12]}"
    try:
        yield Backend("postgresql", PG_URL, schema, tmp_path)
    finally:
        with psycopg.connect(PG_PLAIN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def bearer(client: Any, username: str, password: str) -> dict[str, str]:
    r = client.post("/api/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def delegate(client: Any, board: dict[str, str], cycle: int, council: str, username: str) -> dict[str, str]:
    """Invite a delegate of ``council`` and accept the invitation; their bearer header."""
    r = client.post(f"/api/cycles/{cycle}/invitations", json={"role": "delegate", "council": council}, headers=board)
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/invitations/{r.json()['token']}/accept", json={"username": username, "password": username + "-pw-123"}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def free_port() -> int:
    """A TCP port nobody listens on now (for a server this test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_in_thread(app: Any) -> tuple[Any, threading.Thread, str]:
    """(server, thread, base URL) of ``app`` served by uvicorn on a free loopback port, in a thread of
    this process, once it has started (stop it: ``server.should_exit = True``, then join the thread)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=(port := free_port()), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    return server, thread, f"http://127.0.0.1:{port}"


def glasnost_process(*args: str, cwd: Path, env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen:
    """``glasnost ARGS`` as a child process, with the tests' cheap password hashes (and ``env``)."""
    code = "import sys; from glasnost.cli import app; sys.exit(app())"
    kw["env"] = {**os.environ, **TEST_ARGON2_ENV, **(env or {})}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, **kw)


class Server:
    """One ``glasnost serve`` process on a backend, in its own working directory (its log there)."""

    def __init__(self, backend: Backend, cwd: Path, env: dict[str, str] | None = None) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        self.backend, self.cwd, self.env = backend, cwd, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        import httpx

        log = open(self.cwd / "server.log", "ab")  # noqa: SIM115 - the server owns it until it exits
        self.proc = glasnost_process(
            "serve",
            "--port",
            str(self.port),
            *self.backend.cli_args(),
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the server did not start:\n" + (self.cwd / "server.log").read_text()[-3000:])

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
