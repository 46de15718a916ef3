"""Scheduled work on PostgreSQL through the job queue (procrastinate), with real processes on one schema:

* two ``glasnost serve`` processes and one ``glasnost worker`` all run queue workers; a cycle with
  2-second deadlines: each deadline closes its round exactly once (one ``close-round`` record, one
  round-result entry in the public log), at the deadline, and the next round opens;
* an import of implementation reports through ``POST /api/control/reports`` whose series has a lasting
  change raises the alert within seconds, with nothing but the server running;
* with ``glasnost serve --no-jobs`` no deadline closes; a ``glasnost worker`` started later closes the
  due round from its queued job, and a round whose deadline was set with no job queued (before the
  queue existed) by its sweep; SIGTERM stops it cleanly (it unregisters);
* the queue's tables live in the platform's schema, and the installed procrastinate's schema is the
  one the migration applies; processes that start together on a fresh schema migrate once.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pyarrow as pa
import pytest
from service_support import BOARD, PG_PLAIN, TEST_ARGON2_ENV, Backend, make_backend

SECRET = {"GLASNOST_SECRET": "the master secret every process of this platform shares"}


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend("postgresql", tmp_path)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A ``glasnost`` command in its own working directory, its output in ``<name>.log``."""

    def __init__(self, backend: Backend, cwd: Path, name: str, *args: str) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        self.log = cwd / f"{name}.log"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = tuple(a.replace("{port}", str(self.port)) for a in args)
        code = "import sys; from glasnost.cli import app; sys.exit(app())"
        env = {**os.environ, **TEST_ARGON2_ENV, **SECRET, "GLASNOST_PASSWORD": BOARD[1]}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, *args, *backend.cli_args()], cwd=cwd, env=env, stdout=out, stderr=out
            )

    def wait_http(self) -> Process:
        until = time.monotonic() + 60
        while time.monotonic() < until:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
        raise AssertionError("the server did not start:\n" + self.log.read_text()[-3000:])

    def stop(self) -> int | None:
        """SIGTERM, and the exit status: 0, or -SIGTERM from uvicorn, which shuts down gracefully and
        then raises the signal it caught again."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def _sql(backend: Backend, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(PG_PLAIN, options=f"-csearch_path={backend.schema}", autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {seconds} s")


def _board(url: str) -> dict[str, str]:
    r = httpx.post(url + "/api/login", json={"username": BOARD[0], "password": BOARD[1]}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["token"]}


def _migrated(backend: Backend, tmp_path: Path) -> None:
    """The board account (the first command also creates every table, the queue's among them)."""
    made = Process(backend, tmp_path / "admin", "admin", "admin", "create-board", BOARD[0])
    assert made.proc.wait(timeout=90) == 0, made.log.read_text()


def _rounds(backend: Backend, cycle: int) -> list[tuple[Any, ...]]:
    """(number, status, deadline, closed_at, closed by) of every round of a cycle."""
    return _sql(
        backend,
        "SELECT number, status, deadline, closed_at, result->>'closed_by' FROM rounds WHERE cycle_id = %s "
        "ORDER BY number",
        cycle,
    )


def _closes(backend: Backend, cycle: int) -> dict[int, int]:
    """How many times each round of a cycle was closed, by the audit records of closes."""
    rows = _sql(backend, "SELECT target FROM audit_events WHERE action = 'close-round'")
    counts: dict[int, int] = {}
    for (target,) in rows:
        c, _, rest = target.removeprefix("cycle ").partition(" round ")
        if int(c) == cycle:
            number = int(rest.split()[0])
            counts[number] = counts.get(number, 0) + 1
    return counts


def _logged_results(backend: Backend) -> list[dict[str, Any]]:
    """The payloads of the round-result entries in the public log, in log order (read from its table)."""
    import json

    rows = _sql(backend, "SELECT entry FROM ledger_entries WHERE kind = 'round-result' ORDER BY idx")
    return [json.loads(bytes(entry))["payload"] for (entry,) in rows]


def test_each_deadline_is_closed_once_by_three_processes_running_jobs(backend: Backend, tmp_path: Path) -> None:
    _migrated(backend, tmp_path)
    a = Process(backend, tmp_path / "a", "serve", "serve", "--port", "{port}")
    b = Process(backend, tmp_path / "b", "serve", "serve", "--port", "{port}")
    w = Process(backend, tmp_path / "w", "worker", "worker")
    try:
        a.wait_http(), b.wait_http()
        # each of the three registers its queue worker
        _until(lambda: _sql(backend, "SELECT count(*) FROM procrastinate_workers")[0][0] == 3, 60, "three workers")
        board = _board(a.url)
        r = httpx.post(
            b.url + "/api/cycles", json={"name": "deadlines", "deadline_seconds": 2}, headers=board, timeout=60
        )
        assert r.status_code == 201, r.text
        cycle = r.json()["id"]
        _until(lambda: len(_rounds(backend, cycle)) >= 4, 30, "three deadlines passed")
    finally:
        codes = [p.stop() for p in (a, b, w)]
    assert codes == [-signal.SIGTERM, -signal.SIGTERM, 0], [p.log.read_text()[-2000:] for p in (a, b, w)]
    rounds = _rounds(backend, cycle)
    closed = [r for r in rounds if r[1] == "closed"]
    assert len(closed) >= 3 and rounds[-1][1] == "open"  # one open round follows the closed ones
    assert [r[0] for r in rounds] == list(range(1, len(rounds) + 1))
    assert _closes(backend, cycle) == {r[0]: 1 for r in closed}
    print("deadline to close (s):", [round((r[3] - r[2]).total_seconds(), 3) for r in closed])
    for number, _, deadline, closed_at, by in closed:
        assert by == "deadline", number
        # closed at its deadline: not before, and within the polling (1 s) and the close (the first one
        # loads the cycle), with room for a busy machine: the minute's sweep alone would be up to 60 s late
        assert timedelta(0) <= closed_at - deadline < timedelta(seconds=5), (number, closed_at - deadline)
    ids = dict(_sql(backend, "SELECT number, id FROM rounds WHERE cycle_id = %s", cycle))
    logged = _logged_results(backend)  # one entry per closed round, with its result
    assert sorted(e["id"] for e in logged) == sorted(ids[r[0]] for r in closed)
    assert all(e["closed_by"] == "deadline" for e in logged)
    # every worker unregistered as its process stopped
    assert _sql(backend, "SELECT count(*) FROM procrastinate_workers")[0][0] == 0


def _anomalous_reports() -> tuple[str, set[tuple[str, str]]]:
    """Reports of 40 shops over 12 periods in which shop w07 lets a third of its potential capacity go
    unbuilt in the last two periods (its capability steps down by log(2/3)), as CSV; and the
    (workplace, indicator) of the alerts that Cyberstride finds in the same table, read back from
    the CSV outside the platform."""
    from glasnost.control.alerts import find_anomalies
    from glasnost.control.reports import reports_from_table

    rng = np.random.default_rng(4)
    periods, shops = 12, 40
    p = np.repeat(np.arange(1, periods + 1), shops)
    w = np.tile(np.array([f"w{i:02d}" for i in range(shops)]), periods)
    capability = 90.0 * np.exp(0.01 * rng.standard_normal(p.size))
    capability[(w == "w07") & (p >= periods - 1)] *= 2 / 3
    table = pa.table(
        {
            "kind": ["potential"] * p.size + ["capacity"] * p.size,
            "period": np.concatenate([p, p]),
            "workplace": np.concatenate([w, w]),
            "product": ["steel"] * (2 * p.size),
            "quantity": np.concatenate([np.full(p.size, 100.0), capability]),
        }
    )
    out = io.StringIO()
    out.write("kind,period,workplace,product,variant,grade,quantity,counterparty,rating\n")
    for row in table.to_pylist():
        out.write(f"{row['kind']},{row['period']},{row['workplace']},{row['product']},,,{row['quantity']!r},,\n")
    expected = {(f.workplace, f"{f.indicator}:{f.product}") for f in find_anomalies(reports_from_table(table))}
    return out.getvalue(), expected


def test_alerts_are_raised_when_reports_arrive_through_the_api(backend: Backend, tmp_path: Path) -> None:
    body, expected = _anomalous_reports()
    assert expected == {("w07", "latency:steel")}  # the shop whose capability stepped down, and only it
    _migrated(backend, tmp_path)
    server = Process(backend, tmp_path / "a", "serve", "serve", "--port", "{port}").wait_http()
    try:
        board = _board(server.url)
        assert httpx.get(server.url + "/api/control/alerts", headers=board, timeout=30).json() == []
        r = httpx.post(
            server.url + "/api/control/reports",
            content=body,
            headers={**board, "Content-Type": "text/csv"},
            timeout=120,
        )
        assert r.status_code == 201, r.text
        started = time.monotonic()

        def alerts() -> list[dict[str, Any]]:
            return httpx.get(server.url + "/api/control/alerts", headers=board, timeout=30).json()

        found = _until(alerts, 15, "the alert")
        print(f"alert raised {time.monotonic() - started:.2f} s after the import was answered")
        assert {(a["workplace"], a["indicator"]) for a in found} == expected
        assert all(not a["public"] for a in found)  # private to the workplace during its window
    finally:
        assert server.stop() == -signal.SIGTERM


def test_a_worker_alone_closes_due_rounds_when_no_server_runs_jobs(backend: Backend, tmp_path: Path) -> None:
    _migrated(backend, tmp_path)
    server = Process(backend, tmp_path / "a", "serve", "serve", "--port", "{port}", "--no-jobs").wait_http()
    worker = None
    try:
        board = _board(server.url)
        new = httpx.post(
            server.url + "/api/cycles", json={"name": "with deadline", "deadline_seconds": 2}, headers=board, timeout=60
        )
        old = httpx.post(server.url + "/api/cycles", json={"name": "no deadline"}, headers=board, timeout=60)
        assert new.status_code == old.status_code == 201, (new.text, old.text)
        timed, untimed = new.json()["id"], old.json()["id"]
        # a deadline set with no job queued for it (as before the queue existed, or a lost deferral)
        _sql(backend, "UPDATE rounds SET deadline = opened_at + interval '1 second' WHERE cycle_id = %s", untimed)
        time.sleep(3)
        assert _sql(backend, "SELECT count(*) FROM procrastinate_workers")[0][0] == 0  # --no-jobs: no worker
        assert [r[1] for r in _rounds(backend, timed)] == ["open"]  # due for 1 s, and nobody closed it
        assert [r[1] for r in _rounds(backend, untimed)] == ["open"]
        assert _sql(backend, "SELECT task_name, status FROM procrastinate_jobs") == [("glasnost.close_round", "todo")]
        started = time.monotonic()
        worker = Process(backend, tmp_path / "w", "worker", "worker")
        for cycle in (timed, untimed):
            _until(lambda c=cycle: len(_rounds(backend, c)) >= 2, 60, f"cycle {cycle}'s round 1 closed")
        print(f"both due rounds closed {time.monotonic() - started:.2f} s after the worker was started")
        assert _sql(backend, "SELECT count(*) FROM procrastinate_workers")[0][0] == 1
        assert worker.stop() == 0  # SIGTERM: it stops cleanly ...
        assert _sql(backend, "SELECT count(*) FROM procrastinate_workers")[0][0] == 0  # ... and unregisters
        for cycle in (timed, untimed):  # (the following rounds have deadlines too: the worker went on)
            rounds = _rounds(backend, cycle)
            assert rounds[0][1] == "closed" and rounds[0][4] == "deadline" and rounds[-1][1] == "open"
            assert _closes(backend, cycle) == {r[0]: 1 for r in rounds if r[1] == "closed"}
        assert "Traceback" not in worker.log.read_text()
    finally:
        if worker is not None:
            worker.stop()
        server.stop()


def test_the_queue_lives_in_the_platform_schema(backend: Backend) -> None:
    from glasnost.db.queue import pending_migrations
    from glasnost.service.platform import Platform

    assert pending_migrations() == []  # a newer procrastinate changed its tables: add a revision for them
    platform = Platform(backend.settings())
    try:
        with psycopg.connect(PG_PLAIN, autocommit=True) as conn:
            where = conn.execute(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'procrastinate_jobs'"
            ).fetchall()
        assert (backend.schema,) in where
        when = platform.db.lookup("SELECT now()", ())[0][0]
        platform.jobs.round_deadline(7, 1, when.replace(tzinfo=None) + timedelta(hours=1))
        platform.jobs.round_deadline(7, 1, when.replace(tzinfo=None) + timedelta(hours=1))  # one job per round
        platform.jobs.reports_arrived()
        platform.jobs.reports_arrived()  # a burst of imports queues one run
        jobs = _sql(backend, "SELECT task_name, args, queueing_lock FROM procrastinate_jobs ORDER BY id")
        assert jobs == [
            ("glasnost.close_round", {"cycle_id": 7, "number": 1}, "close-round:7:1"),
            ("glasnost.raise_alerts", {}, "raise-alerts"),
        ]
    finally:
        platform.close()


def test_no_jobs_reaches_every_process_of_serve_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    # `glasnost serve --workers N` hands its settings to its processes through the environment
    from glasnost.db.settings import Settings

    for jobs in (True, False):
        for name, value in Settings(database_url="postgresql+psycopg://x@h/db", jobs=jobs).to_env().items():
            monkeypatch.setenv(name, value)
        assert Settings.from_env().jobs is jobs
    monkeypatch.delenv("GLASNOST_JOBS")
    assert Settings.from_env().jobs is True  # the default: a process does its share


def test_processes_that_start_together_migrate_once(backend: Backend, tmp_path: Path) -> None:
    # four processes on a fresh schema at once (as `glasnost serve --workers 4` starts, or every
    # process of a deployment upgraded to a version with a new revision, such as the queue's)
    code = (
        "import sys; from glasnost.db import Database, Settings, migrate; "
        "migrate(Database(Settings(database_url=sys.argv[1], schema=sys.argv[2])))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, backend.url, backend.schema or ""], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    heads = _sql(backend, "SELECT version_num FROM alembic_version ORDER BY 1")
    assert [h for (h,) in heads if h.startswith("job")] == ["job0001"]
