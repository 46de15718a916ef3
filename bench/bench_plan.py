"""Benchmark: optimal "scale" plans of generated planning economies, glasnost against HiGHS.

On the same generated economy (n products, two processes per product, capacities 1.5x the
gross output the targets need with the first technique (0.75x for the alternative), three
labour types with exactly the labour the targets need with the first technique), it runs:

- ``large_plan``: glasnost's certified large-scale solver (``glasnost.compute.largeplan``),
- ``harmony_plan``: Cockshott's harmony planner (``glasnost.compute.harmony``; it maximises a
  different objective, so its z is expected to be lower),
- HiGHS dual simplex, interior point and PDLP on the full LP, through
  ``glasnost.compute.optimal_plan(..., method=..., time_limit=...)``.

Every method runs in its own subprocess, one after the other (never two at once), which
regenerates the economy from the seed, so that its peak memory is its own. Columns:

- ``z``: complete sets of the target mix the returned plan delivers, recomputed from its
  activities (``check_activity``); ``violation`` is the plan's largest relative constraint
  violation (a plan above 1e-9 is not feasible and its z means little);
- ``bound``: an upper bound on the optimum computed by ``scale_bound`` (weak duality) from the
  method's own prices; valid for any prices, so it is a certificate whatever the method's status;
  ``gap = (bound - z) / max(1, |z|)``;
- ``seconds``: wall-clock of the solve call only (not the generation of the economy);
- ``peak MiB``: the subprocess's maximum resident set size (``resource.getrusage(RUSAGE_SELF)
  .ru_maxrss``), which includes the economy itself (``base MiB``: the same just before the solve).

A method that runs past its time limit plus a margin is killed. Each subprocess gets an
address-space limit (``--memory-limit``), so a solver that fills memory fails alone instead of
taking the machine down.

Run: python bench/bench_plan.py --sizes 10000 200000 --time-limit 240 --seed 1
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

METHODS = ("large_plan", "harmony_plan", "highs-simplex", "highs-ipm", "highs-pdlp")


def economy(n: int, seed: int):
    from glasnost.data.synthetic import generate

    return generate(n, processes_per_product=2, labour_types=3, capacity_slack=1.5, labour_slack=1.0, seed=seed)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def solve(method: str, econ: object, time_limit: float) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(activity, prices over commodities or None, status) of one method."""
    from glasnost.compute import optimal_plan
    from glasnost.compute.harmony import harmony_plan
    from glasnost.compute.largeplan import large_plan

    if method == "large_plan":
        plan = large_plan(econ, time_limit=time_limit)  # type: ignore[arg-type]
        return plan.activity, plan.prices, str(plan.extra["status"])
    if method == "harmony_plan":
        h = harmony_plan(econ)  # type: ignore[arg-type]
        return h.activity, None, f"harmony {h.harmony:.4g}"
    plan = optimal_plan(econ, "scale", method=method.removeprefix("highs-"), time_limit=time_limit)  # type: ignore[arg-type]
    return plan.activity, plan.prices, str(plan.extra["status"])


def worker(method: str, n: int, seed: int, time_limit: float, out: Path) -> None:
    from glasnost.compute.largeplan import check_activity, scale_bound, scale_lp

    econ = economy(n, seed)
    lp = scale_lp(econ)
    base = peak_mib()
    start = time.perf_counter()
    try:
        activity, prices, status = solve(method, econ, time_limit)
    except Exception as exc:
        out.write_text(json.dumps({"status": f"error: {type(exc).__name__}: {exc}"[:80]}))
        return
    seconds = time.perf_counter() - start
    check = check_activity(lp, activity)
    bound = float("nan") if prices is None else scale_bound(lp, prices[lp.produced], prices[lp.limited])
    result = {
        "status": status,
        "z": check.scale,
        "violation": check.violation,
        "bound": bound,
        "seconds": seconds,
        "peak": peak_mib(),
        "base": base,
    }
    out.write_text(json.dumps(result))


def run(method: str, n: int, seed: int, time_limit: float, memory_limit: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--worker", method, "--sizes", str(n), "--seed", str(seed)]
        cmd += ["--time-limit", str(time_limit), "--memory-limit", str(memory_limit), "--out", str(out)]
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, timeout=1.5 * time_limit + 120, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            return {"status": f"killed after {time.perf_counter() - started:.0f} s"}
        if out.exists():
            return json.loads(out.read_text())
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        return {"status": f"crashed: {tail[0][:60]}"}


def table(n: int, results: dict[str, dict], time_limit: float) -> Table:
    t = Table(
        title=f"scale plan, n = {n:,} products, {2 * n:,} processes, 3 labour types (time limit {time_limit:g} s)"
    )
    for col in ("method", "status", "z (sets)", "bound (sets)", "gap", "violation", "seconds", "peak MiB", "base MiB"):
        t.add_column(col, justify="left" if col in ("method", "status") else "right")
    for method, r in results.items():

        def num(key: str, fmt: str, r: dict = r) -> str:
            value = r.get(key)
            return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)

        gap = "-"
        if "z" in r and np.isfinite(r.get("bound", float("nan"))):
            gap = f"{(r['bound'] - r['z']) / max(1.0, abs(r['z'])):.1e}"
        t.add_row(
            method,
            r["status"],
            num("z", ".9f"),
            num("bound", ".9f"),
            gap,
            num("violation", ".1e"),
            num("seconds", ".2f"),
            num("peak", ".0f"),
            num("base", ".0f"),
        )
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--time-limit", type=float, default=240.0, help="seconds per method (HiGHS and large_plan)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--memory-limit", type=float, default=8.0, help="GiB of address space per method")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        limit = int(args.memory_limit * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        worker(args.worker, args.sizes[0], args.seed, args.time_limit, args.out)
        return
    console = Console(width=170)
    everything = {}
    for n in args.sizes:
        results = {}
        for method in args.methods:
            console.print(f"n = {n:,}: {method} ...")
            results[method] = run(method, n, args.seed, args.time_limit, args.memory_limit)
        console.print(table(n, results, args.time_limit))
        everything[n] = results
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2))


if __name__ == "__main__":
    main()
