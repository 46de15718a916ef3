"""Benchmark: one round of Hahnel's participatory procedure.

Part 1, on the published experiment dep1ex01 (3,000 worker and 3,000 consumer councils, 50
commodities), side by side in one process, runs interleaved:

- glasnost (``hahnel_board(...).run()``: closed forms vectorised over councils, every round and
  every council's proposal kept);
- demplan (``demplan.prefabs.hahnel.HahnelBook2021(threshold_pct=3).solve``, the Rust-cored
  implementation on PyPI; ``pip install demplan``, the ``bench`` extra), if installed;
- a plain Python loop over councils (the same formulas, one council at a time).

Each runs year one to the 3% threshold (19 rounds); the time per round is the median over the
repeats of (run time / rounds), loading excluded. All three must agree on the round count and the
final prices.

Part 2, scale: generated experiments (:func:`glasnost.data.pequod.generate_experiment`) with
10^4, 10^5 and 10^6 worker councils plus as many consumer councils (20 goods each) over 1,000
commodities, each size in its own subprocess so that its peak memory (maximum resident set size,
data and generation included) is its own. Time per round: median of ``--rounds`` rounds.

Run: python bench/bench_procedure.py [--experiment PATH] [--sizes 10000 100000 1000000]
                                      [--repeats 15] [--rounds 10] [--no-scale]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROUND_TARGET_S = 0.25
MEMORY_TARGET_GIB = 4.0
SPEEDUP_TARGET = 3.0
DEFAULT_EXPERIMENT = Path(__file__).resolve().parents[1] / "tests" / "data" / "pequod" / "dep1ex01.clj.gz"

console = Console()


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0**2


# ---- the plain Python loop over councils ----------------------------------------------------------


def python_loop_setup(he):
    """Per-council lists of the parameters (done once, outside the timing)."""
    w, k = he.workers, he.consumers
    B = w.exponents
    workers = []
    for i in range(len(w)):
        lo, hi = B.indptr[i], B.indptr[i + 1]
        workers.append(
            (
                int(w.product[i]),
                float(w.scale[i]),
                float(w.effort_exponent[i]),
                float(w.disutility_exponent[i]),
                float(w.disutility_coefficient[i]),
                list(zip(B.indices[lo:hi].tolist(), B.data[lo:hi].tolist(), strict=True)),
            )
        )
    U = k.preferences
    consumers = []
    for i in range(len(k)):
        lo, hi = U.indptr[i], U.indptr[i + 1]
        consumers.append(
            (float(k.income[i]), list(zip(U.indices[lo:hi].tolist(), U.data[lo:hi].tolist(), strict=True)))
        )
    return workers, consumers, he.public.tolist(), he.fixed_supply.tolist()


def python_loop_run(setup, threshold: float = 0.03, max_rounds: int = 200) -> tuple[int, list[float]]:
    """Hahnel's procedure with one council at a time (the spec's formulas, math module only)."""
    workers, consumers, public, fixed = setup
    n, n_cc = len(fixed), len(consumers)
    prices = [700.0] * n
    state = [0.25] * n
    for rnd in range(1, max_rounds + 1):
        supply, demand = list(fixed), [0.0] * n
        for product, a, c, k, s, inputs in workers:
            lam = prices[product]
            log_lam = math.log(lam)
            num = math.log(a) + (c / k) * (log_lam + math.log(c) - math.log(s) - math.log(k))
            b_sum = 0.0
            for j, b in inputs:
                num += b * (log_lam + math.log(b) - math.log(prices[j]))
                b_sum += b
            q = math.exp(num / (1.0 - c / k - b_sum))
            supply[product] += q
            for j, b in inputs:
                demand[j] += lam * b * q / prices[j]
            _effort = (lam * c * q / (s * k)) ** (1.0 / k)
        for income, prefs in consumers:
            total = sum(u for _, u in prefs)
            for j, u in prefs:
                if public[j]:
                    demand[j] += income * u / (total * prices[j] / n_cc) / n_cc
                else:
                    demand[j] += income * u / (total * prices[j])
        worst = 0.0
        for j in range(n):
            surplus = supply[j] - demand[j]
            total = supply[j] + demand[j]
            v = abs(2.0 * surplus) / total if total else 0.0
            worst = max(worst, v)
            step = 1.05 - 0.5**v
            delta = max(0.001, min(step, abs(step * state[j])))
            if surplus > 0:
                prices[j] *= 1.0 - delta
            elif surplus < 0:
                prices[j] *= 1.0 + delta
            state[j] = min(v, 0.25)
        if worst < threshold:
            return rnd, prices
    return max_rounds, prices


# ---- part 1 ------------------------------------------------------------------------------------------


def load_demplan(path: Path):
    try:
        import demplan
        from demplan.prefabs.hahnel import HahnelBook2021
    except ImportError:
        return None, None
    try:
        economy = demplan.load_dep1ex(str(path))
    except Exception:  # an older core that only reads the decompressed file
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / path.name.removesuffix(".gz")
            with gzip.open(path, "rb") as src, plain.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            economy = demplan.load_dep1ex(str(plain))
    return economy, HahnelBook2021(threshold_pct=3.0)


def part_one(path: Path, repeats: int) -> None:
    from glasnost.data.pequod import load_experiment
    from glasnost.procedures import hahnel_board

    he = load_experiment(path)
    setup = python_loop_setup(he)
    dem_economy, dem_procedure = load_demplan(path)
    n = len(he.commodities)

    def run_glasnost():
        history = hahnel_board(he, threshold=0.03).run()
        return history.n_rounds, history.final_prices

    def run_demplan():
        plan = dem_procedure.solve(dem_economy, 0)
        return None, np.asarray(plan.valuation["next_indicative_price"])

    def run_loop():
        rounds, prices = python_loop_run(setup)
        return rounds, np.asarray(prices)

    contenders = {"glasnost": run_glasnost, "python loop over councils": run_loop}
    if dem_economy is not None:
        contenders["demplan " + _version("demplan")] = run_demplan
    results = {name: fn() for name, fn in contenders.items()}  # warm-up, and the answers
    rounds = results["glasnost"][0]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(repeats):
        order = list(contenders) if r % 2 == 0 else list(reversed(contenders))  # interleaved
        for name in order:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)

    ours = results["glasnost"][1]
    demplan_order = _demplan_order(dem_economy, he) if dem_economy is not None else None
    table = Table(title=f"Hahnel's procedure on {path.name}: year one to 3% ({rounds} rounds), {repeats} runs each")
    for col in (
        "implementation",
        "rounds",
        "ms per round (median)",
        "ms per run",
        "vs glasnost",
        "final prices vs glasnost",
    ):
        table.add_column(col, justify="right" if col != "implementation" else "left")
    base = statistics.median(times["glasnost"]) / rounds
    for name in contenders:
        got_rounds, prices = results[name]
        if name.startswith("demplan"):
            got_rounds = rounds if prices is not None else None
            prices = prices[demplan_order]
        per_round = statistics.median(times[name]) / rounds
        agree = np.max(np.abs(prices - ours) / ours) if prices is not None and prices.shape == (n,) else float("nan")
        table.add_row(
            name,
            str(got_rounds),
            f"{1000 * per_round:.3f}",
            f"{1000 * statistics.median(times[name]):.2f}",
            "1.00x" if name == "glasnost" else f"{per_round / base:.2f}x slower",
            f"{agree:.1e}",
        )
    console.print(table)
    if dem_economy is None:
        console.print("[yellow]demplan is not installed (pip install demplan, or the bench extra): not compared[/]")
    else:
        name = next(n for n in contenders if n.startswith("demplan"))
        speedup = statistics.median(times[name]) / statistics.median(times["glasnost"])
        verdict = "[green]met[/]" if speedup >= SPEEDUP_TARGET else "[red]MISSED[/]"
        console.print(f"glasnost per round vs demplan: {speedup:.2f}x faster (target {SPEEDUP_TARGET:g}x): {verdict}")


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _demplan_order(economy, he) -> np.ndarray:
    """Positions in demplan's commodity order of glasnost's commodities (by kind and number)."""
    kinds = list(economy.commodity_extra["hahnel_kind"])
    names = {
        "private_good": "private-good",
        "public_good": "public-good",
        "intermediate": "intermediate-good",
        "natural_resource": "natural-resource",
        "labor": "labor",
    }
    count: dict[str, int] = {}
    ids = []
    for k in kinds:
        prefix = names.get(str(k), str(k))
        count[prefix] = count.get(prefix, 0) + 1
        ids.append(f"{prefix}-{count[prefix]}")
    position = {cid: i for i, cid in enumerate(ids)}
    return np.array([position[str(cid)] for cid in he.commodities.ids])


# ---- part 2 ------------------------------------------------------------------------------------------


def child(n: int, rounds: int, seed: int) -> None:
    """One size, in its own process: prints a JSON line."""
    from glasnost.data.pequod import generate_experiment
    from glasnost.procedures import hahnel_board

    start = time.perf_counter()
    he = generate_experiment(n, n, goods_per_kind=200, consumer_goods=20, seed=seed)
    generated = time.perf_counter() - start
    start = time.perf_counter()
    board = hahnel_board(he, threshold=1e-12, max_rounds=rounds)
    setup = time.perf_counter() - start
    per_round = []
    for _ in range(rounds):
        rnd = board.step()
        per_round.append(rnd.seconds)
    print(
        json.dumps(
            {
                "workers": n,
                "consumers": n,
                "commodities": len(he.commodities),
                "input_exponents": int(he.workers.exponents.nnz),
                "utility_exponents": int(he.consumers.preferences.nnz),
                "generate_s": generated,
                "setup_s": setup,
                "round_s": statistics.median(per_round),
                "round_max_s": max(per_round),
                "rounds": rounds,
                "imbalance_after": float(board.history.last.max_imbalance),
                "peak_gib": peak_gib(),
            }
        )
    )


def part_two(sizes: list[int], rounds: int, timeout: float) -> None:
    table = Table(title=f"Scale: Hahnel rounds on generated experiments, 1,000 commodities ({rounds} rounds each)")
    for col in (
        "worker councils",
        "consumer councils",
        "input exponents",
        "setup s",
        "s per round (median)",
        "s per round (max)",
        "peak memory GiB",
        "targets",
    ):
        table.add_column(col, justify="right")
    for n in sizes:
        cmd = [sys.executable, __file__, "--child", str(n), "--rounds", str(rounds)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            table.add_row(f"{n:,}", f"{n:,}", "-", "-", f"timed out ({timeout:g} s)", "-", "-", "[red]MISSED[/]")
            continue
        if proc.returncode != 0:
            table.add_row(f"{n:,}", f"{n:,}", "-", "-", "failed", "-", "-", proc.stderr.strip().splitlines()[-1][:60])
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        ok_time = r["round_s"] <= ROUND_TARGET_S
        ok_mem = r["peak_gib"] <= MEMORY_TARGET_GIB
        verdict = "[green]met[/]" if ok_time and ok_mem else "[red]MISSED[/]"
        table.add_row(
            f"{r['workers']:,}",
            f"{r['consumers']:,}",
            f"{r['input_exponents']:,}",
            f"{r['setup_s']:.2f}",
            f"{r['round_s']:.4f}",
            f"{r['round_max_s']:.4f}",
            f"{r['peak_gib']:.2f}",
            f"{verdict} (<= {ROUND_TARGET_S:g} s, <= {MEMORY_TARGET_GIB:g} GiB)",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", type=Path, default=DEFAULT_EXPERIMENT)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--no-scale", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rounds, args.seed)
        return
    if args.experiment.exists():
        part_one(args.experiment, args.repeats)
    else:
        console.print(f"[yellow]{args.experiment} not found: part 1 skipped[/]")
    if not args.no_scale and args.sizes:
        part_two(args.sizes, args.rounds, args.timeout)


if __name__ == "__main__":
    main()
