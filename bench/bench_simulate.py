"""Benchmark: the regime simulator at 10^5 enterprises x 50 years x 3 regimes.

Part 1, scale: each regime runs 50 years on 100,000 enterprises (20 sectors of the demo economy)
in its own subprocess, so its peak memory (maximum resident set size, Python and numpy
included) is its own; time is the median of ``--repeats`` runs. The democratic regime's time
includes running the participatory procedure (Hahnel's) for its planning years.

Part 2, what vectorisation buys: one command-planning year written as a plain Python loop over
enterprises (the same rules, one enterprise at a time) against the vectorised
``CommandRegime.step`` on the same subset of enterprises, runs interleaved, median over repeats;
both must leave the same capital and targets behind. The loop's time is scaled linearly to
10^5 enterprises x 50 years x 3 regimes.

Run: python bench/bench_simulate.py [--enterprises 100000] [--years 50] [--repeats 3]
                                    [--subset 10000]
The machine may be shared; quote medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from rich.console import Console
from rich.table import Table

console = Console()
REGIMES = ("command", "market", "democratic")


def child(regime: str, enterprises: int, years: int) -> None:
    """Run one regime and print JSON: seconds and peak resident memory (GiB)."""
    from glasnost.simulate.run import default_sectors, run_regime

    default_sectors()  # the economy is built once per process, outside the timing
    start = time.perf_counter()
    run_regime(regime, years, 0, enterprises=enterprises)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0**2
    print(json.dumps({"seconds": seconds, "peak_gib": peak}))


def run_child(regime: str, enterprises: int, years: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", regime, "--enterprises", str(enterprises), "--years", str(years)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- the plain Python loop over enterprises ------------------------------------------------------


def loop_command_year(
    sec, st, p, concealing: list[bool], product_share: list[float]
) -> tuple[list[float], list[float]]:
    """One command-planning year (year 0), one enterprise at a time: capital and targets after.

    The rules of ``PlannedRegime.step`` under command institutions, with the random parts off
    (no forecast errors, no audits, no cross-checks), so both must leave the same state."""
    n = len(st.sector)
    S = sec.size
    products = p.products  # year 0: capital has not grown
    uncoordinated = [1.0 - min(1.0, p.balances / S / (products * product_share[i])) for i in range(S)]
    full, need = [0.0] * n, [0.0] * n
    for e in range(n):
        s = st.sector[e]
        full[e] = p.output_capital_ratio * st.tfp[e] * st.capital[e] / sec.values[s]
        need[e] = sec.labour[s] / st.tfp[e] * full[e]
    need_total = sum(need)
    unemployed = st.unemployed - p.hiring_rate * st.unemployed  # jobs guaranteed, soft budget
    employed = st.labour_force - unemployed
    staffed = min(1.0, employed / need_total)
    cap, cap_rep, output, reported = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
    for e in range(n):
        efficiency = 1.0 - p.mismatch_loss * uncoordinated[st.sector[e]]
        cap[e] = full[e] * staffed * efficiency
        target = st.target[e]
        if concealing[e]:
            output[e] = min(cap[e], target * (1.0 + p.safety_margin))
            cap_rep[e] = max(cap[e] * (1.0 - p.safety_reserve), output[e])
        else:
            output[e] = cap[e]
            cap_rep[e] = cap[e]
        reported[e] = min(target, output[e] * (1.0 + p.padding_limit)) if output[e] < target else output[e]
    gross, material = [0.0] * S, [0.0] * S
    for e in range(n):
        light = st.light[e] * st.has_variant[e]
        gross[st.sector[e]] += output[e]
        material[st.sector[e]] += output[e] * (1.0 - p.lightness * light)
    net = [gross[i] - sum(sec.A[i, j] * material[j] for j in range(S)) for i in range(S)]
    y_true = sum(net[i] * sec.values[i] for i in range(S))
    investment = st.investment_rate * max(y_true, 0.0)
    seen = [0.0] * S
    for e in range(n):
        seen[st.sector[e]] += cap_rep[e]
    gross_needs = [sum(sec.leontief[i, j] * sec.needs[j] for j in range(S)) for i in range(S)]
    ratios = sorted(gross_needs[i] / seen[i] for i in range(S) if seen[i] > 0)
    m = len(ratios)
    median = ratios[m // 2] if m % 2 else 0.5 * (ratios[m // 2 - 1] + ratios[m // 2])
    pressure = [gross_needs[i] / seen[i] / median if seen[i] > 0 else 0.0 for i in range(S)]
    weights = [st.capital[e] * cap_rep[e] / max(cap[e], 1e-12) * pressure[st.sector[e]] for e in range(n)]
    total = sum(weights)
    capital, targets = [0.0] * n, [0.0] * n
    for e in range(n):
        efficiency = 1.0 - p.mismatch_loss * uncoordinated[st.sector[e]]
        capital[e] = st.capital[e] * (1.0 - p.depreciation) + investment * weights[e] / total * efficiency
        targets[e] = st.target[e] + p.ratchet * (reported[e] - st.target[e])
    return capital, targets


def part2(subset: int, repeats: int) -> tuple[float, float]:
    from glasnost.simulate.params import Params
    from glasnost.simulate.regimes.command import CommandRegime
    from glasnost.simulate.run import default_sectors
    from glasnost.simulate.state import initial_state

    # the random parts off, so that the loop and the vectorised year can be compared exactly
    sec, p = default_sectors(), Params().with_(forecast_error=0.0, command_audit=0.0, command_cross_check=0.0)
    loop_times, vec_times = [], []
    for r in range(repeats):
        st = initial_state(sec, p, np.random.default_rng([r, 0]), subset)
        regime = CommandRegime(sec, st, p, np.random.default_rng(1))
        plain = {k: getattr(st, k).tolist() for k in ("sector", "tfp", "capital", "target", "light", "has_variant")}
        snapshot = type("S", (), {**plain, "labour_force": st.labour_force, "unemployed": st.unemployed,
                                  "investment_rate": st.investment_rate})
        concealing = regime.concealing.tolist()
        t0 = time.perf_counter()
        capital, targets = loop_command_year(sec, snapshot, p, concealing, regime.product_share.tolist())
        loop_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        regime.step(0)
        vec_times.append(time.perf_counter() - t0)
        if not (np.allclose(capital, st.capital, rtol=1e-9) and np.allclose(targets, st.target, rtol=1e-9)):
            raise SystemExit("the loop and the vectorised year disagree")
    return statistics.median(loop_times), statistics.median(vec_times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--enterprises", type=int, default=100_000)
    ap.add_argument("--years", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--subset", type=int, default=10_000)
    ap.add_argument("--child", default=None)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.enterprises, args.years)
        return
    results: dict[str, list[dict[str, float]]] = {r: [] for r in REGIMES}
    for _ in range(args.repeats):  # interleaved
        for regime in REGIMES:
            results[regime].append(run_child(regime, args.enterprises, args.years))
    table = Table(title=f"{args.enterprises:,} enterprises x {args.years} years (median of {args.repeats}, "
                        "own process each)")
    for col in ("regime", "seconds", "us per enterprise-year", "peak memory (GiB)"):
        table.add_column(col, justify="right")
    total = 0.0
    for regime in REGIMES:
        sec = statistics.median(r["seconds"] for r in results[regime])
        peak = max(r["peak_gib"] for r in results[regime])
        total += sec
        table.add_row(regime, f"{sec:.2f}", f"{1e6 * sec / (args.enterprises * args.years):.2f}", f"{peak:.2f}")
    table.add_row("all three", f"{total:.2f}", "", "")
    console.print(table)

    loop_s, vec_s = part2(args.subset, max(args.repeats, 3))
    scale = args.enterprises / args.subset * args.years * len(REGIMES)
    t2 = Table(title=f"one command year on {args.subset:,} enterprises: loop vs vectorised (same results)")
    for col in ("implementation", "seconds", f"scaled to {args.enterprises:,} x {args.years} x 3", "ratio"):
        t2.add_column(col, justify="right")
    t2.add_row("Python loop over enterprises", f"{loop_s:.4f}", f"{loop_s * scale:.0f} s", f"{loop_s / vec_s:.0f}x")
    t2.add_row("glasnost (numpy, vectorised)", f"{vec_s:.4f}", f"{vec_s * scale:.1f} s", "1x")
    console.print(t2)
    console.print("Machine shared with other sessions; ratios are more telling than seconds.")


if __name__ == "__main__":
    main()
