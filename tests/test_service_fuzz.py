"""schemathesis over the platform's whole OpenAPI document against a running ``glasnost serve``, as
an anonymous visitor, as a council's delegate and as the board, with the ``not_a_server_error``
check: no generated request may get a 5xx. (A cycle with an open round, a delegate and a member
exist first, so that the credentialed runs reach past the 404s.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from service_support import BOARD, TEST_ARGON2_ENV, free_port

ST = "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())"


@pytest.fixture
def served(tmp_path: Path) -> tuple[str, dict[str, str]]:
    pytest.importorskip("schemathesis", reason="the 'test' extra (schemathesis) is not installed")
    env = {**os.environ, **TEST_ARGON2_ENV, "GLASNOST_PASSWORD": BOARD[1]}
    database = f"sqlite:///{tmp_path / 'fuzz.sqlite'}"
    cli = [sys.executable, "-m", "glasnost.cli"]
    subprocess.run([*cli, "admin", "create-board", BOARD[0], "--database", database], cwd=tmp_path, env=env, check=True)
    port = free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - the server owns it until it exits
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--database", database], cwd=tmp_path, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        http = httpx.Client(base_url=url, timeout=60)
        board = http.post("/api/login", json={"username": BOARD[0], "password": BOARD[1]}).json()["token"]
        auth = {"Authorization": f"Bearer {board}"}
        cycle = http.post("/api/cycles", json={"name": "fuzzed"}, headers=auth).json()["id"]
        tokens = {"board": board}
        for role, council, name in (("delegate", "make-agriculture-0", "delegate"), ("member", None, "member")):
            inv = http.post(f"/api/cycles/{cycle}/invitations", json={"role": role, "council": council}, headers=auth)
            acc = http.post(
                f"/api/invitations/{inv.json()['token']}/accept", json={"username": name, "password": name + "-pw-123"}
            )
            tokens[name] = acc.json()["token"]
        yield url, tokens
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        print((tmp_path / "server.log").read_text()[-5000:])


@pytest.mark.parametrize("who", ["anonymous", "delegate", "board"])
def test_no_generated_request_gets_a_server_error(served: tuple[str, dict[str, str]], who: str, tmp_path: Path) -> None:
    url, tokens = served
    args = [
        f"{url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "20",
        "--seed",
        "14",
        "--workers",
        "1",  # hypothesis parses lambdas with ast, which is not thread-safe on Python 3.11
        "--request-timeout",
        "60",
    ]
    if who != "anonymous":
        # an authenticated run keeps its token: logging out or revoking it is fuzzed anonymously
        args += ["-H", f"Authorization: Bearer {tokens[who]}", "--exclude-path", "/api/logout"]
        args += ["--exclude-path", "/api/tokens/{token_id}"]
    run = subprocess.run(
        [sys.executable, "-c", ST, "run", *args], capture_output=True, text=True, timeout=900, cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert cases is not None and int(cases.group(1)) == int(cases.group(2)) >= 500, run.stdout[-2000:]
    print(f"schemathesis as {who}: {cases.group(0)}")
