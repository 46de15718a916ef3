"""Benchmark: an election of N members (default 10,000) over HTTP against a real ``glasnost serve``
on PostgreSQL, beside the same number of proposal submissions on the same server.

Setup (not timed; written straight into the database, as ``bench_service.py`` does): a cycle over a
generated experiment with N councils and one delegate each (bearer tokens); all N accounts are
also made members of one workplace, whose delegation of 2 seats three of them stand for. Then, with
the server running (``--workers`` processes):

1. N proposals, one per council, through ``POST /api/cycles/{id}/proposals`` at the concurrency;
2. N secret ballots (approval ballots: each member approves one or two of the three candidates)
   through ``POST /api/elections/{id}/ballots`` at the same concurrency;
3. the tally: ``POST /api/elections/{id}/close`` (the box opened, N ballots decrypted, shuffled,
   counted by sequential Phragmén, stored apart from the voters and published to the log), timed.

Measured: throughput, latency p50/p99/max, failed requests, and the close's time; the elected pair
is checked against the approvals the bench cast (abcvoting on the same ballots).

Run: python bench/bench_elections.py [--members 10000] [--concurrency 100] [--workers 1]
                                     [--database postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_service import (  # the sibling benchmark's setup, client and server handling
    _connection,
    console,
    free_port,
    load,
    load_table,
    proposals_at_open_round,
    setup_platform,
    stop,
    wait_up,
)

CANDIDATES = ("d0", "d1", "d2")


def setup_election(state: dict[str, Any], members: int) -> dict[str, Any]:
    """All the cycle's delegates made members of its first workplace; an election to its 2-seat
    delegation with three candidates, voting open. The ballots each member will cast."""
    from sqlalchemy import select

    from glasnost.service import models as m
    from glasnost.service.accounts import Viewer
    from glasnost.service.platform import Platform

    platform = Platform(state["settings"])
    try:
        cycle = state["cycle"]
        eng = platform.cycles.engine(cycle)
        code = str(eng.worker_ids[0])
        with platform.db.write() as s:
            council = s.scalar(select(m.Council.id).where(m.Council.cycle_id == cycle, m.Council.code == code))
            ids = dict(s.execute(select(m.Account.username, m.Account.id).where(m.Account.username.like("d%"))).all())
            s.execute(
                m.Membership.__table__.insert(),
                [
                    {"account_id": ids[f"d{i}"], "cycle_id": cycle, "council_id": council, "role": "member"}
                    for i in range(members)
                ],
            )
        board = Viewer(platform.accounts.account_id("bench-board"), "bench-board", True, "system")
        election = platform.elections.call(board, cycle, code, "delegates", seats=2)
        for name in CANDIDATES:
            platform.elections.stand(Viewer(ids[name], name), election)
        platform.elections.start_voting(board, election)
    finally:
        platform.close()
    rng = np.random.default_rng(18)
    kinds = rng.choice(3, size=members, p=[0.45, 0.2, 0.35])  # d0 alone, d0 and d1, d2 alone
    choices = [[["d0"], ["d0", "d1"], ["d2"]][k] for k in kinds]
    return {"election": election, "council": code, "choices": choices}


async def cast_all(url: str, election: int, choices: list[list[str]], tokens: list[str], concurrency: int) -> dict:
    """Every member's ballot over keep-alive connections (``bench_service``'s minimal client)."""
    host, port = url.removeprefix("http://").split(":")
    latencies = np.zeros(len(choices))
    status = np.zeros(len(choices), dtype=np.int32)
    jobs: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(choices)):
        jobs.put_nowait(i)
    path = f"/api/elections/{election}/ballots"

    def request_of(i: int) -> bytes:
        body = json.dumps({"choice": choices[i]}).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {tokens[i]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    t0 = time.perf_counter()
    await asyncio.gather(
        *(_connection(host, int(port), jobs, request_of, latencies, status, lambda: None) for _ in range(concurrency))
    )
    wall = time.perf_counter() - t0
    ms = latencies * 1000
    return {
        "label": "glasnost: secret ballots",
        "requests": len(choices),
        "failed": int((status != 201).sum()),
        "statuses": sorted({int(s) for s in status}),
        "throughput": len(choices) / wall,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
        "wall": wall,
    }


def expected_committee(choices: list[list[str]]) -> list[str]:
    from abcvoting import abcrules
    from abcvoting.preferences import Profile

    profile = Profile(3)
    profile.add_voters([{CANDIDATES.index(c) for c in b} for b in choices])
    (committee,) = abcrules.compute("seqphragmen", profile, 2, resolute=True)
    return sorted(CANDIDATES[i] for i in committee)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    if args.database.startswith("sqlite"):
        raise SystemExit("this benchmark runs on PostgreSQL (the job queue, several processes)")
    workdir = Path(tempfile.mkdtemp(prefix="glasnost-bench-elections-"))
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    console.print(f"setting up {args.members:,} councils, delegates and workplace members in schema {schema} ...")
    t = time.perf_counter()
    state = setup_platform(args.database, schema, args.members, workdir, secret=uuid.uuid4().hex * 2)
    election = setup_election(state, args.members)
    console.print(f"setup {time.perf_counter() - t:.1f} s (not timed below)")
    _, bodies = proposals_at_open_round(state["settings"], state["cycle"])
    port = free_port()
    cmd = [sys.executable, "-c", "import sys; from glasnost.cli import app; sys.exit(app())", "serve"]
    cmd += ["--port", str(port), "--database", args.database, "--workers", str(args.workers), "--schema", schema]
    pool = max(4, 80 // (2 * args.workers))
    env = {**os.environ, "GLASNOST_SECRET": state["settings"].secret, "GLASNOST_POOL_SIZE": str(pool)}
    server = subprocess.Popen(cmd, cwd=workdir, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url, server)
        time.sleep(1.0)
        proposals = load(url, state["cycle"], bodies, state["tokens"], args.concurrency, "glasnost: proposals")
        runs = [asyncio.run(proposals)]
        choices, tokens = election["choices"], state["tokens"][: args.members]
        runs.append(asyncio.run(cast_all(url, election["election"], choices, tokens, args.concurrency)))
        t = time.perf_counter()
        r = httpx.post(
            f"{url}/api/elections/{election['election']}/close",
            headers={"Authorization": f"Bearer {state['board']}"},
            timeout=600,
        )
        close_s = time.perf_counter() - t
        tally = r.json() if r.status_code == 200 else {"detail": r.text}
    finally:
        stop(server)
        import psycopg

        with psycopg.connect(args.database.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    table = load_table(
        f"{args.members:,} members at concurrency {args.concurrency}, {args.workers} server process(es), "
        f"PostgreSQL, loopback ({os.cpu_count()} cores)",
        "requests",
        runs,
        count="count",
    )
    console.print(table)
    expected = expected_committee(election["choices"])
    elected = sorted(tally.get("elected", []))
    console.print(
        f"tally: HTTP {r.status_code} in {close_s:.2f} s; {tally.get('turnout', '?'):,} ballots of "
        f"{tally.get('members', '?'):,} members; elected {elected} "
        f"({'equal to' if elected == expected else 'NOT equal to'} abcvoting's seq-Phragmén {expected})"
    )


if __name__ == "__main__":
    main()
