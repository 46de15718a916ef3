"""Benchmark: the planning platform under a round's load, on loopback, with 1 or more server processes.

N councils (default 10,000: half worker, half consumer councils of a generated experiment) each
submit one proposal for the open round through the JSON API (bearer tokens), at a fixed
concurrency (default 100); then the board closes the round (every proposal in, the engine's step,
the round result stored and published to the public log). Measured: throughput (requests per
second), latency p50/p99/max (milliseconds, from the client's send to the full answer), failed
requests, the CPU a request costs (milliseconds: the server's processes, PostgreSQL's, the client's;
Linux /proc), and the time to close the round. With ``--workers 1 2 4`` the same is run for each number
of server processes (``glasnost serve --workers N``, PostgreSQL), each on the next round of the
same cycle (the proposals recomputed at that round's prices).

The peer, in the same run and with the same client, requests, concurrency and process manager: a
bare FastAPI endpoint under uvicorn with the same number of worker processes, that parses the same
JSON body and does nothing, the floor any FastAPI service on this machine pays. Runs are
interleaved: peer, platform, peer.

The client is one asyncio process on the same machine, so client, servers and database share its
cores. Setup (accounts, memberships, tokens) is written straight into the database and not timed;
the proposals are what the modelled councils would propose at the posted prices.

Run: python bench/bench_service.py [--councils 10000] [--concurrency 100] [--workers 1 2 4]
                                   [--database postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 150)

PEER_APP = """
from fastapi import FastAPI, Request
app = FastAPI()
@app.post("/api/cycles/{cycle_id}/proposals", status_code=201)
async def proposals(cycle_id: int, request: Request) -> dict:
    body = await request.json()
    return {"ok": True, "council": body.get("council")}
@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def setup_platform(database: str, schema: str | None, councils: int, workdir: Path, secret: str) -> dict[str, Any]:
    """A cycle over a generated experiment and one delegate per council with a bearer token (written
    straight into the database)."""
    from sqlalchemy import select

    from glasnost.db.settings import Settings
    from glasnost.service import models as m
    from glasnost.service.accounts import Viewer
    from glasnost.service.platform import Platform
    from glasnost.service.security import hash_password, hash_token, new_token

    settings = Settings(database_url=database, schema=schema, secret=secret)
    platform = Platform(settings)
    try:
        board_id = platform.accounts.create("bench-board", "bench-board-password", board=True)
        board = Viewer(board_id, "bench-board", True, "system")
        cycle = platform.cycles.create(board, "bench", f"generated:{councils // 2}")
        eng = platform.cycles.engine(cycle)
        codes = [str(c) for c in eng.worker_ids] + [str(c) for c in eng.consumer_ids]
        shared_hash = hash_password("delegate-password")
        tokens = [new_token() for _ in codes]
        with platform.db.write() as s:
            council_ids = dict(s.execute(select(m.Council.code, m.Council.id).where(m.Council.cycle_id == cycle)).all())
            s.execute(
                m.Account.__table__.insert(),
                [{"username": f"d{i}", "password_hash": shared_hash, "is_board": False} for i in range(len(codes))],
            )
            account_ids = dict(s.execute(select(m.Account.username, m.Account.id)).all())
            expires = __import__("datetime").datetime(2100, 1, 1)
            s.execute(
                m.SessionToken.__table__.insert(),
                [
                    {
                        "token_hash": hash_token(t),
                        "account_id": account_ids[f"d{i}"],
                        "kind": "bearer",
                        "expires_at": expires,
                    }
                    for i, t in enumerate(tokens)
                ],
            )
            s.execute(
                m.Membership.__table__.insert(),
                [
                    {
                        "account_id": account_ids[f"d{i}"],
                        "cycle_id": cycle,
                        "council_id": council_ids[c],
                        "role": "delegate",
                    }
                    for i, c in enumerate(codes)
                ],
            )
        board_token = platform.accounts.login("bench-board", "bench-board-password", address="bench", kind="bearer")
    finally:
        platform.close()
    return {"cycle": cycle, "tokens": tokens, "board": board_token, "settings": settings}


def settle_database(database: str, schema: str) -> None:
    """PostgreSQL after bulk writes (the set-up's, the last round's): vacuum and analyse the schema's tables and
    checkpoint, so that the autovacuum and the checkpoint those writes call for do not fall into a
    measured load (they did: PostgreSQL's CPU a request doubled in the run that followed the set-up).
    A federation's accounts exist long before a round's rush."""
    import psycopg

    plain = database.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
        for (table,) in tables:
            conn.execute(f'VACUUM ANALYZE "{schema}"."{table}"')
        conn.execute("CHECKPOINT")


def proposals_at_open_round(settings: Any, cycle: int) -> tuple[int, list[dict[str, Any]]]:
    """The open round's number and every council's modelled proposal at its prices (consumers ask for
    99% of their modelled demand: inside their budget whatever the rounding)."""
    from glasnost.procedures import RoundContext
    from glasnost.service.platform import Platform

    platform = Platform(settings)
    try:
        rnd = platform.rounds.current(cycle)
        assert rnd is not None, "the rounds of the bench cycle have ended"
        eng = platform.cycles.engine(cycle)
    finally:
        platform.close()
    p = eng.price_vector(rnd.prices)
    ctx = RoundContext(rnd.number, p, np.zeros_like(p), {})
    ws, wd = eng.workers_model.propose(ctx).matrices()
    _, cd = eng.consumers_model.propose(ctx).matrices()
    ids = eng.commodity_ids

    def row(M: Any, i: int, scale: float = 1.0) -> dict[str, float]:
        lo, hi = M.indptr[i], M.indptr[i + 1]
        return {str(ids[j]): float(v) * scale for j, v in zip(M.indices[lo:hi], M.data[lo:hi], strict=True)}

    bodies = [{"council": str(c), "supply": row(ws, i), "demand": row(wd, i)} for i, c in enumerate(eng.worker_ids)]
    bodies += [{"council": str(c), "demand": row(cd, i, 0.99)} for i, c in enumerate(eng.consumer_ids)]
    return rnd.number, bodies


async def _connection(host: str, port: int, jobs: asyncio.Queue, request_of, latencies, status, advance) -> None:
    """One keep-alive HTTP/1.1 connection sending requests one after another (a minimal client, so
    that the load generator costs little of the machine the servers share)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                i = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            start = time.perf_counter()
            try:
                writer.write(request_of(i))
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                status[i] = int(head[9:12])
            except (OSError, asyncio.IncompleteReadError, ValueError):
                status[i] = -1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            latencies[i] = time.perf_counter() - start
            advance()
    finally:
        writer.close()


async def load(url: str, cycle: int, bodies: list[dict], tokens: list[str], concurrency: int, label: str) -> dict:
    import json

    host, port = url.removeprefix("http://").split(":")
    latencies = np.zeros(len(bodies))
    status = np.zeros(len(bodies), dtype=np.int32)
    jobs: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        jobs.put_nowait(i)
    path = f"/api/cycles/{cycle}/proposals"

    def request_of(i: int) -> bytes:
        body = json.dumps(bodies[i]).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {tokens[i]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=len(bodies))
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                _connection(host, int(port), jobs, request_of, latencies, status, lambda: progress.advance(task))
                for _ in range(concurrency)
            )
        )
        wall = time.perf_counter() - t0
    ms = latencies * 1000
    return {
        "label": label,
        "requests": len(bodies),
        "failed": int((status != 201).sum()),
        "statuses": sorted({int(s) for s in status}),
        "throughput": len(bodies) / wall,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
        "wall": wall,
    }


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu() -> dict[int, tuple[int, float, str]]:
    """Every process's (parent pid, CPU seconds used so far, command name), from /proc (Linux)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        fields = rest.split()
        found[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK, head.split("(", 1)[1])
    return found


class CpuMeter:
    """CPU seconds used by the server's process tree, by PostgreSQL's processes and by this client
    between :meth:`start` and :meth:`stop`: where a request's cost goes when the cores are shared.
    (A process that ends in between is not counted; the measured ones live through the load.)"""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def _parts(self) -> dict[int, tuple[str, float]]:
        procs = _process_cpu()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = set(), [self.server_pid]
        while todo:
            pid = todo.pop()
            tree.add(pid)
            todo += children.get(pid, [])
        parts = {}
        for pid, (_, cpu, name) in procs.items():
            if pid in tree:
                parts[pid] = ("server", cpu)
            elif name.startswith("postgres"):
                parts[pid] = ("postgres", cpu)
            elif pid == os.getpid():
                parts[pid] = ("client", cpu)
        return parts

    def start(self) -> None:
        self._before = self._parts()

    def stop(self) -> dict[str, float]:
        used = {"server": 0.0, "postgres": 0.0, "client": 0.0}
        for pid, (part, cpu) in self._parts().items():
            used[part] += cpu - self._before.get(pid, (part, 0.0))[1]
        return used


def measured_load(meter: CpuMeter, *args: Any) -> dict:
    """:func:`load`, with the CPU its requests cost (milliseconds a request, by part)."""
    meter.start()
    res = asyncio.run(load(*args))
    used = meter.stop()
    res["cpu_ms"] = {part: 1000 * seconds / res["requests"] for part, seconds in used.items()}
    return res


def load_table(title: str, first: str, runs: list[dict], count: str = "requests") -> Table:
    """A table of :func:`load` results, one row each (``first``, ``count``: the headings of their
    labels and of how many requests each sent)."""
    table = Table(title=title)
    cpu = any("cpu_ms" in res for res in runs)
    columns = (first, count, "failed", "req/s", "p50 ms", "p99 ms", "max ms")
    if cpu:
        columns += ("CPU ms/req: server", "postgres", "client")
    for col in columns:
        table.add_column(col, justify="left" if col == first else "right")
    for res in runs:
        row = [
            res["label"],
            f"{res['requests']:,}",
            f"{res['failed']} {[x for x in res['statuses'] if x != 201] or ''}",
            f"{res['throughput']:.0f}",
            f"{res['p50']:.1f}",
            f"{res['p99']:.1f}",
            f"{res['max']:.1f}",
        ]
        if cpu:
            parts = ("server", "postgres", "client")
            row += [f"{res['cpu_ms'][part]:.3f}" if "cpu_ms" in res else "" for part in parts]
        table.add_row(*row)
    return table


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def record(pid: int, out: str, mode: str) -> subprocess.Popen:
    """py-spy recording the process ``pid`` and its children into ``out`` (collapsed stacks) until
    it gets SIGINT; ``mode``: cpu, gil or idle."""
    spy = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--subprocesses", "-f", "raw", "-o", out, "-r", "200",
         *{"cpu": [], "gil": ["--gil"], "idle": ["--idle"]}[mode]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    return spy


def run_workers(
    args: Any, state: dict[str, Any], database: str, schema: str | None, workdir: Path, workers: int
) -> dict:
    """Peer, platform, peer at ``workers`` processes each, then the round's close."""
    if schema is not None:  # the set-up's or the last close's writes settled first, for every run alike
        settle_database(database, schema)
    number, bodies = proposals_at_open_round(state["settings"], state["cycle"])
    tokens, cycle = state["tokens"], state["cycle"]
    peer_port, port = free_port(), free_port()
    peer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "peer_app:app",
            "--app-dir",
            str(workdir),
            "--port",
            str(peer_port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    )
    cmd = [sys.executable, "-c", "import sys; from glasnost.cli import app; sys.exit(app())", "serve"]
    cmd += ["--port", str(port), "--database", database, "--workers", str(workers)]
    cmd += ["--schema", schema] if schema else ["--synchronous", args.synchronous]
    pool = max(4, 80 // (2 * workers))  # every process's connections together stay under PostgreSQL's 100
    env = {**os.environ, "GLASNOST_SECRET": state["settings"].secret, "GLASNOST_POOL_SIZE": str(pool)}
    server = subprocess.Popen(cmd, cwd=workdir, env=env)
    peer_url, url = f"http://127.0.0.1:{peer_port}", f"http://127.0.0.1:{port}"
    runs = []
    try:
        wait_up(peer_url, peer)
        wait_up(url, server)
        time.sleep(1.0)  # every worker process up
        peer_cpu, server_cpu = CpuMeter(peer.pid), CpuMeter(server.pid)
        runs.append(
            measured_load(peer_cpu, peer_url, cycle, bodies, tokens, args.concurrency, f"bare FastAPI x{workers} (1)")
        )
        spy = record(server.pid, args.profile, args.profile_mode) if args.profile else None
        runs.append(measured_load(server_cpu, url, cycle, bodies, tokens, args.concurrency, f"glasnost x{workers}"))
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        runs.append(
            measured_load(peer_cpu, peer_url, cycle, bodies, tokens, args.concurrency, f"bare FastAPI x{workers} (2)")
        )
        spy = record(server.pid, args.profile_close, args.profile_mode) if args.profile_close else None
        t = time.perf_counter()
        r = httpx.post(
            f"{url}/api/cycles/{cycle}/rounds/{number}/close",
            headers={"Authorization": f"Bearer {state['board']}"},
            timeout=300,
        )
        close_s = time.perf_counter() - t
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        closed = r.json() if r.status_code == 200 else {"detail": r.text}
    finally:
        stop(server, peer)
    return {"workers": workers, "runs": runs, "close": close_s, "close_status": r.status_code, "closed": closed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--councils", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--workers", type=int, nargs="+", default=[1], help="server processes (more than 1: PostgreSQL)")
    ap.add_argument("--database", default=None, help="default: a SQLite file in a temporary folder")
    ap.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"], help="SQLite's synchronous mode")
    ap.add_argument(
        "--profile", default=None, help="record the platform server with py-spy during its load (collapsed stacks file)"
    )
    ap.add_argument("--keep-schema", action="store_true", help="PostgreSQL: keep the bench's schema (to inspect it)")
    ap.add_argument("--profile-close", default=None, help="record the platform server with py-spy during the close")
    ap.add_argument(
        "--profile-mode",
        default="cpu",
        choices=["cpu", "gil", "idle"],
        help="with --profile: threads on a CPU, only the thread holding the GIL, or every thread (waits too)",
    )
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="glasnost-bench-service-"))
    (workdir / "peer_app.py").write_text(PEER_APP)
    database = args.database or f"sqlite:///{workdir / 'platform.sqlite'}"
    schema = None if database.startswith("sqlite") else f"bench_{uuid.uuid4().hex[:10]}"
    if schema is None and max(args.workers) > 1:
        raise SystemExit("several workers need PostgreSQL: give --database postgresql+psycopg://...")
    console.print(f"setting up {args.councils:,} councils with delegates in {database} ...")
    t = time.perf_counter()
    state = setup_platform(database, schema, args.councils, workdir, secret=uuid.uuid4().hex * 2)
    console.print(f"setup {time.perf_counter() - t:.1f} s (not timed below)")
    try:
        measured = [run_workers(args, state, database, schema, workdir, w) for w in args.workers]
    finally:
        if schema and args.keep_schema:
            console.print(f"schema {schema} kept")
        elif schema:
            import psycopg

            plain = database.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    table = load_table(
        f"{args.councils:,} proposals at concurrency {args.concurrency} on loopback ({os.cpu_count()} cores)",
        "server",
        [res for m in measured for res in m["runs"]],
    )
    console.print(table)
    for m in measured:
        peer_a, platform_run, peer_b = m["runs"]
        floor_p99 = statistics.median([peer_a["p99"], peer_b["p99"]])
        floor_rps = statistics.median([peer_a["throughput"], peer_b["throughput"]])
        closed = m["closed"]
        answered = len(closed.get("answered", []))
        ratio = platform_run["throughput"] / floor_rps
        console.print(
            f"[bold]{m['workers']} process(es)[/]: close round {m['close']:.2f} s (HTTP {m['close_status']}; "
            f"{answered:,} councils answered, {closed.get('modelled', '?')} modelled); platform / bare FastAPI: "
            f"throughput {ratio:.2f}x, p99 {platform_run['p99'] / floor_p99:.1f}x"
        )
        targets = {
            "p99 < 250 ms": platform_run["p99"] < 250,
            "close < 5 s": m["close"] < 5 and m["close_status"] == 200,
            "no failed request": platform_run["failed"] == 0 and answered == args.councils,
            "throughput >= 0.5x bare": ratio >= 0.5,
        }
        console.print("  targets: " + ", ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in targets.items()))


if __name__ == "__main__":
    main()
