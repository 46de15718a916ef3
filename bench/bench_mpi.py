"""Row-partitioned solver over MPI against serial scipy, in one run.

    python bench/bench_mpi.py                    # n = 10^6 and 10^7, 1 and 2 ranks
    python bench/bench_mpi.py --sizes 1000000    # smaller

Measures, for each n: one iteration (y = A x, the Allgatherv included) of the serial scipy
product and of :class:`glasnost.compute.mpi.RowBlockSystem` on 1 and 2 ranks (median of
``--reps``); a whole GMRES solve of (I - A) x = d; peak memory (max RSS) per rank; a
weak-scaling table (n per rank fixed, ranks 1 -> 2); and the ordering gain: the serial product
and the halo (entries a block reads from the other block) with products in a locality order
versus scrambled. The test matrix has 10 inputs per product, drawn near the product's own
index (a local, banded structure) and then optionally scrambled by a random permutation; each
rank builds its own rows from per-row-chunk seeds, so every run sees the same matrix.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

K = 10
CHUNK = 100_000


def rows(n: int, lo: int, hi: int, *, seed: int = 0) -> sp.csr_array:
    """Rows [lo, hi) of the test matrix: columns within 50 of the row, row sums below 0.7."""
    parts = []
    for c0 in range(lo - lo % CHUNK, hi, CHUNK):
        rng = np.random.default_rng([seed, c0])
        c1 = min(c0 + CHUNK, n)
        r = np.arange(c0, c1)
        cols = (r[:, None] + rng.integers(-50, 51, size=(r.size, K))) % n
        vals = rng.uniform(0.3, 0.7, size=(r.size, 1)) / K * np.ones((1, K))
        a, b = max(lo, c0) - c0, min(hi, c1) - c0
        parts.append((cols[a:b], vals[a:b]))
    cols = np.concatenate([p[0] for p in parts])
    vals = np.concatenate([p[1] for p in parts])
    m = hi - lo
    return sp.csr_array((vals.ravel(), cols.ravel(), np.arange(0, m * K + 1, K)), shape=(m, n))


def scrambled_full(n: int, seed: int = 0) -> tuple[sp.csr_array, sp.csr_array]:
    local = rows(n, 0, n, seed=seed)
    p = np.random.default_rng(seed + 1).permutation(n)
    scr = sp.csr_array(local[p][:, p])
    scr.sort_indices()
    return local, scr


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(n: int, reps: int) -> None:
    """Under mpiexec: build this rank's rows, time products and one solve; rank 0 prints JSON."""
    from mpi4py import MPI

    from glasnost.compute.mpi import RowBlockSystem, _one_blas_thread

    comm = MPI.COMM_WORLD
    size, rank = comm.Get_size(), comm.Get_rank()
    cuts = np.linspace(0, n, size + 1).astype(np.int64)
    block = rows(n, int(cuts[rank]), int(cuts[rank + 1]))
    system = RowBlockSystem.__new__(RowBlockSystem)
    system.comm, system.n, system.cuts = comm, n, cuts
    system.lo, system.hi, system.block = int(cuts[rank]), int(cuts[rank + 1]), block
    system.counts, system.x_global, system.gathers = np.diff(cuts), np.empty(n), 0
    x = np.random.default_rng(rank).random(system.hi - system.lo)
    times, gather_times = [], []
    with _one_blas_thread(size):
        for _ in range(reps):
            comm.Barrier()
            t = time.perf_counter()
            xg = system.gather(x)
            t1 = time.perf_counter()
            y = block @ xg
            comm.Barrier()
            times.append(time.perf_counter() - t)
            gather_times.append(t1 - t)
    del y
    d = np.ones(system.hi - system.lo)
    comm.Barrier()
    t = time.perf_counter()
    _, iters, resid = system.solve(d, rtol=1e-10)
    solve = time.perf_counter() - t
    mem = comm.gather(peak_mb(), root=0)
    if rank == 0:
        print(
            json.dumps(
                {
                    "ranks": size,
                    "n": n,
                    "iter_ms": 1e3 * float(np.median(times)),
                    "gather_ms": 1e3 * float(np.median(gather_times)),
                    "solve_s": solve,
                    "iterations": iters,
                    "residual": resid,
                    "peak_mb_per_rank": mem,
                }
            )
        )


def serial(n: int, reps: int) -> dict[str, float]:
    import scipy.sparse.linalg as spla

    A = rows(n, 0, n)
    x = np.random.default_rng(0).random(n)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        A @ x
        times.append(time.perf_counter() - t)
    M = spla.LinearOperator((n, n), matvec=lambda v: v - A @ v, dtype=np.float64)
    t = time.perf_counter()
    spla.gmres(M, np.ones(n), rtol=1e-10, restart=30)
    solve = time.perf_counter() - t
    return {"n": n, "iter_ms": 1e3 * float(np.median(times)), "solve_s": solve, "peak_mb": peak_mb()}


def ordering(n: int, reps: int) -> dict[str, float]:
    from glasnost.compute.mpi import halo_sizes, locality_order

    local, scr = scrambled_full(n)
    x = np.random.default_rng(0).random(n)
    t = time.perf_counter()
    p = locality_order(scr)
    rcm_s = time.perf_counter() - t
    rcm = sp.csr_array(scr[p][:, p])
    rcm.sort_indices()
    out = {"n": n, "rcm_seconds": rcm_s}
    for name, M in (("scrambled", scr), ("rcm", rcm), ("natural", local)):
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            M @ x
            ts.append(time.perf_counter() - t)
        out[f"{name}_ms"] = 1e3 * float(np.median(ts))
        out[f"{name}_halo"] = int(halo_sizes(M, 2).sum())
    return out


def mpiexec() -> str:
    found = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    if not found:
        sys.exit("no mpiexec: pip install mpi4py mpich")
    return found


def run_ranks(ranks: int, n: int, reps: int) -> dict:
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, __file__, "--worker", "--sizes", str(n), "--reps", str(reps)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--worker", action="store_true")
    args = ap.parse_args()
    if args.worker:
        worker(args.sizes[0], args.reps)
        return
    print("| n | engine | one iteration (ms) | of which allgather (ms) | whole solve (s) | iterations | peak MB/rank |")
    print("|---|---|---|---|---|---|---|")
    results = {}
    for n in args.sizes:
        s = serial(n, args.reps)
        print(f"| {n:,} | serial scipy | {s['iter_ms']:.1f} | - | {s['solve_s']:.2f} | - | {s['peak_mb']:.0f} |")
        for ranks in (1, 2):
            r = run_ranks(ranks, n, args.reps)
            results[(n, ranks)] = r
            mem = "/".join(f"{m:.0f}" for m in r["peak_mb_per_rank"])
            print(
                f"| {n:,} | mpi4py {ranks} rank(s) | {r['iter_ms']:.1f} | {r['gather_ms']:.1f} | "
                f"{r['solve_s']:.2f} | {r['iterations']} | {mem} |"
            )
        print(f"speed-up per iteration at n={n:,}, 2 ranks vs serial: {s['iter_ms'] / results[(n, 2)]['iter_ms']:.2f}x")
    n0 = args.sizes[0]
    weak = run_ranks(2, 2 * n0, args.reps)
    print("\nWeak scaling (n per rank fixed):\n\n| ranks | n | one iteration (ms) | efficiency |\n|---|---|---|---|")
    print(f"| 1 | {n0:,} | {results[(n0, 1)]['iter_ms']:.1f} | 1.00 |")
    print(f"| 2 | {2 * n0:,} | {weak['iter_ms']:.1f} | {results[(n0, 1)]['iter_ms'] / weak['iter_ms']:.2f} |")
    o = ordering(n0, args.reps)
    print(f"\nOrdering at n={n0:,} (serial product; halo = entries two row blocks read from each other):\n")
    print("| order | one product (ms) | halo entries |\n|---|---|---|")
    for name in ("scrambled", "rcm", "natural"):
        print(f"| {name} | {o[f'{name}_ms']:.1f} | {o[f'{name}_halo']:,} |")
    print(
        f"reverse Cuthill-McKee took {o['rcm_seconds']:.1f} s; gain {o['scrambled_ms'] / o['rcm_ms']:.2f}x per product"
    )


if __name__ == "__main__":
    main()
