"""Benchmark: gross output and labour values at n = 10^4 .. 10^6 (10^7) products.

Compares, in one run on the same generated data (about ten inputs per product, three labour
types, a core of heavily used products and a long tail):

- glasnost (``LeontiefSystem``: products outside cycles of use peeled off, reordering, the
  Neumann iteration with the Perron direction deflated, in float32 refined in float64, each
  sweep one pass of the compiled OpenMP kernel on all cores (scipy's product on row blocks
  where it is not built; the table's header says which), to a relative residual of 1e-10;
  ``glasnost:gmres`` with restarted GMRES instead),
- ``scipy.sparse.linalg.spsolve`` (SuperLU) on I - A,
- ``scipy.sparse.linalg.bicgstab`` with default settings (its default rtol is 1e-5, so it stops
  far earlier than glasnost: the residual column shows what each method delivers),
- pymrio's calculation (dense Leontief inverse ``calc_L`` then ``calc_x_from_L`` and the
  multipliers ``calc_M``) where the dense matrix fits (n <= 5,000).

Each method runs in its own subprocess (so its peak memory is its own) with a time limit. Time
is the median wall-clock over the repeats of (gross output for one final demand + labour values
for three labour types), after setup; setup (reordering, factorisation, dense inverse) is shown
separately. Peak memory is the subprocess's maximum resident set size, which includes the
matrix itself.

Run: python bench/bench_leontief.py [--sizes 10000 100000 1000000] [--timeout 300]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

RTOL = 1e-10
LABOUR_TYPES = 3


def make_data(n: int, seed: int, path: Path) -> None:
    from glasnost.data.synthetic import random_technology

    rng = np.random.default_rng(seed + 1)
    A = random_technology(n, 10, seed=seed)
    hours = rng.lognormal(0, 0.3, n) * 0.5
    L = sp.csr_array((hours, (rng.integers(0, LABOUR_TYPES, n), np.arange(n))), shape=(LABOUR_TYPES, n))
    d = rng.lognormal(0.0, 1.0, n) * (rng.random(n) < 0.6)
    sp.save_npz(path.with_suffix(".A.npz"), sp.csr_matrix(A), compressed=False)
    sp.save_npz(path.with_suffix(".L.npz"), sp.csr_matrix(L))
    np.save(path.with_suffix(".d.npy"), d)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def residual(A: sp.csr_array, x: np.ndarray, d: np.ndarray, transpose: bool = False) -> float:
    M = A.T if transpose else A
    return float(np.linalg.norm(x - M @ x - d) / np.linalg.norm(d))


def run_worker(method: str, path: Path, repeats: int) -> dict:
    # "NAME@RTOL" runs NAME to that relative residual instead of its default; "glasnost:ITER"
    # runs glasnost with another iteration (gmres, jacobi) than its default
    method, _, rtol_text = method.partition("@")
    rtol = float(rtol_text) if rtol_text else None
    method, _, iteration = method.partition(":")
    A = sp.csr_array(sp.load_npz(path.with_suffix(".A.npz")))
    L = sp.load_npz(path.with_suffix(".L.npz")).toarray()
    d = np.load(path.with_suffix(".d.npy"))
    n = A.shape[0]
    base = peak_mib()
    t0 = time.perf_counter()
    if method == "glasnost":
        from glasnost.compute import LeontiefSystem

        system = LeontiefSystem(A)
        how = {"rtol": rtol or RTOL, "method": iteration or "auto"}
        # prepare (reorder, split, float32 copies, Perron vectors) outside the timed solve
        system._op, system._op_t, system._op32, system._op32_t  # noqa: B018
        if how["method"] == "auto":
            system._perron  # noqa: B018

        def solve() -> tuple[float, int]:
            _, rep = system.solve(d, **how)
            worst, iters = rep.residual, rep.iterations
            for k in range(L.shape[0]):
                _, rep = system.solve(L[k], transpose=True, **how)
                worst, iters = max(worst, rep.residual), iters + rep.iterations
            return worst, iters

    elif method in ("bicgstab", "spsolve"):
        import scipy.sparse.linalg as spla

        M = sp.csr_array(sp.eye_array(n, format="csr") - A)
        MT = sp.csr_array(M.T)

        def solve() -> tuple[float, int]:
            counter = [0]

            def count(_: object) -> None:
                counter[0] += 1

            extra = {"rtol": rtol, "maxiter": 10_000} if rtol else {}
            if method == "bicgstab":
                x, _ = spla.bicgstab(M, d, callback=count, **extra)
            else:
                x = spla.spsolve(sp.csc_array(M), d)
            worst = residual(A, x, d)
            for k in range(L.shape[0]):
                if method == "bicgstab":
                    v, _ = spla.bicgstab(MT, L[k], callback=count, **extra)
                else:
                    v = spla.spsolve(sp.csc_array(MT), L[k])
                worst = max(worst, residual(A, v, L[k], transpose=True))
            return worst, counter[0]

    elif method == "pymrio":
        import pymrio.tools.iomath as iomath

        dense = A.toarray()
        Linv = iomath.calc_L(dense)

        def solve() -> tuple[float, int]:
            x = iomath.calc_x_from_L(Linv, d)
            v = iomath.calc_M(L, Linv)  # multipliers: labour per unit of final demand
            worst = residual(A, np.asarray(x).ravel(), d)
            for k in range(L.shape[0]):
                worst = max(worst, residual(A, np.asarray(v[k]).ravel(), L[k], transpose=True))
            return worst, 0

    else:
        raise SystemExit(f"unknown method {method}")
    setup = time.perf_counter() - t0
    times, worst, iters = [], 0.0, 0
    for _ in range(repeats):
        start = time.perf_counter()
        worst, iters = solve()
        times.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(times),
        "setup": setup,
        "residual": worst,
        "iterations": iters,
        "peak_mib": peak_mib(),
        "data_mib": base,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["glasnost", "bicgstab", "spsolve", "pymrio"],
        help="glasnost, bicgstab, spsolve, pymrio; NAME@RTOL for another tolerance (e.g. bicgstab@1e-10); "
        "glasnost:gmres for glasnost's GMRES instead of its default deflated iteration",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per method and size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", nargs=2, metavar=("METHOD", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker[0], Path(args.worker[1]), args.repeats)))
        return

    console = Console(width=150)
    from glasnost.compute.linear import COMPILED_KERNELS

    kernel = "compiled kernel" if COMPILED_KERNELS else "scipy kernel (no compiled kernel built)"
    title = "Gross output + labour values (3 labour types): median seconds per full solve"
    table = Table(title=f"{title}; glasnost on the {kernel}")
    for col in ("n", "method", "seconds", "vs glasnost", "setup s", "residual", "iterations", "peak MiB", "data MiB"):
        table.add_column(col, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"economy-{n}"
            console.print(f"generating n = {n:,} ...")
            make_data(n, args.seed, path)
            results = {}
            for method in args.methods:
                if method == "pymrio" and n > 5_000:
                    results[method] = {"skip": "dense does not fit"}
                    continue
                cmd = [sys.executable, __file__, "--worker", method, str(path), "--repeats", str(args.repeats)]
                try:
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=True)
                    results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
                except subprocess.TimeoutExpired:
                    results[method] = {"skip": f"> {args.timeout:.0f} s"}
                except subprocess.CalledProcessError as exc:
                    results[method] = {"skip": "failed: " + (exc.stderr.strip().splitlines() or ["?"])[-1][:60]}
                console.print(f"  {method}: {results[method]}")
            ref = results.get("glasnost", {}).get("seconds")
            for method, r in results.items():
                if "skip" in r:
                    table.add_row(f"{n:,}", method, r["skip"], "", "", "", "", "", "")
                    continue
                ratio = f"{r['seconds'] / ref:.2f}x" if ref else ""
                table.add_row(
                    f"{n:,}",
                    method,
                    f"{r['seconds']:.3f}",
                    ratio,
                    f"{r['setup']:.2f}",
                    f"{r['residual']:.1e}",
                    str(r["iterations"]),
                    f"{r['peak_mib']:.0f}",
                    f"{r['data_mib']:.0f}",
                )
            table.add_section()
    console.print(table)
    console.print(
        f"glasnost solves to a relative residual of {RTOL:g} and bicgstab to its default rtol of 1e-5, unless "
        "a method is named NAME@RTOL. Iterations: glasnost's matrix products; bicgstab's iterations (2 products each). "
        "'vs glasnost' is the method's time over glasnost's (above 1: glasnost is faster). "
        "Peak MiB is the worker process's maximum RSS including the matrix (data MiB: after loading it)."
    )


if __name__ == "__main__":
    main()
