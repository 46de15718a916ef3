"""Row-partitioned solver over MPI against serial scipy, in one run.

    python bench/bench_mpi.py prepare --sizes 1000000 10000000     # write the matrices once
    python bench/bench_mpi.py run --sizes 1000000 10000000         # the tables
    python bench/bench_mpi.py ordering --n 1000000                 # halo and time per ordering

The matrix is the technology of glasnost's generated economies
(:func:`glasnost.data.synthetic.random_technology`, seed 0: 10 inputs per product drawn from a
Zipf distribution over suppliers, column sums 0.3-0.7), written once by ``prepare`` as CSR
arrays (``indptr.npy``, ``indices.npy``, ``data.npy``) under ``--dir``. Every rank memory-maps
them and reads only its row block (rows cut so that every block holds about the same
nonzeros), so two ranks at n = 10^7 fit in the memory one serial process needs.

``run`` measures, for each n, in separate processes started one after the other:

- serial scipy (one process): ``A @ x`` in float64, a Jacobi step ``x <- d + A x``, and the
  serial solver's whole solve of ``(I - A) x = d`` (:class:`glasnost.compute.LeontiefSystem`,
  deflated Neumann with peeling and the threaded product), rtol 1e-10;
- :class:`glasnost.compute.mpi.DistributedMatrix` on 1 and 2 ranks: the halo exchange alone,
  the product (exchange + local product) in float32 and float64, one sweep of the solver (the
  float32 product, the residual update and its one ``Allreduce``), and the product with the
  whole-vector ``Allgatherv`` (float64, the previous engine) for comparison; the whole solve
  (:class:`~glasnost.compute.mpi.DistributedPerron` + :func:`~glasnost.compute.mpi.deflated_solve`,
  rtol 1e-10); peak memory (max RSS) per rank;

each time the median of ``--reps``. The weak-scaling table sets 1 rank at n beside 2 ranks at
2n for every pair of prepared sizes. ``ordering`` compares product orders at one n: the
generated matrix as generated, with its most used products first (``uses``) and in reverse
Cuthill-McKee order (``--rcm``; slow on this structure), and, as a contrast, a matrix with a
local (banded) structure scrambled by a random permutation and restored by reverse
Cuthill-McKee: entries received per product and the 2-rank product and sweep times.
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

DEFAULT_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "glasnost-bench-mpi"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def median_ms(fn, reps: int, barrier=None) -> float:
    times = []
    for _ in range(reps):
        if barrier is not None:
            barrier()
        t = time.perf_counter()
        fn()
        if barrier is not None:
            barrier()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


# ---- matrices -----------------------------------------------------------------------------


def write_csr(M: sp.csr_array, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    M.sort_indices()
    for name in ("indptr", "indices", "data"):
        np.save(directory / f"{name}.npy", getattr(M, name))


def read_csr(directory: Path) -> sp.csr_array:
    arrays = [np.load(directory / f"{name}.npy") for name in ("data", "indices", "indptr")]
    n = arrays[2].size - 1
    return sp.csr_array(tuple(arrays), shape=(n, n))


def read_block(directory: Path, lo: int, hi: int) -> sp.csr_array:
    """Rows [lo, hi) from the memory-mapped arrays: only this block is read from the file."""
    indptr = np.load(directory / "indptr.npy", mmap_mode="r")
    n = indptr.size - 1
    a, b = int(indptr[lo]), int(indptr[hi])
    indices = np.array(np.load(directory / "indices.npy", mmap_mode="r")[a:b])
    data = np.array(np.load(directory / "data.npy", mmap_mode="r")[a:b])
    return sp.csr_array((data, indices, np.asarray(indptr[lo : hi + 1], dtype=np.int64) - a), shape=(hi - lo, n))


def nnz_cuts(directory: Path, parts: int) -> np.ndarray:
    indptr = np.load(directory / "indptr.npy", mmap_mode="r")
    n, nnz = indptr.size - 1, int(indptr[-1])
    inner = np.searchsorted(indptr, np.linspace(0, nnz, parts + 1)[1:-1])
    return np.concatenate([[0], np.clip(inner, 0, n), [n]]).astype(np.int64)


def matrix_dir(root: Path, n: int, order: str = "natural") -> Path:
    return root / f"n{n}-{order}"


def banded(n: int, seed: int = 0) -> sp.csr_array:
    """A local structure for contrast: 10 inputs within 50 products of each product, column
    sums 0.3-0.7."""
    rng = np.random.default_rng(seed)
    cols = np.repeat(np.arange(n), 10)
    rows = (cols + rng.integers(-50, 51, cols.size)) % n
    A = sp.csc_array((rng.lognormal(0.0, 1.0, cols.size), (rows, cols)), shape=(n, n))
    A.sum_duplicates()
    share = rng.uniform(0.3, 0.7, n)
    return sp.csr_array(A @ sp.diags_array(share / np.asarray(A.sum(axis=0)).ravel()))


def permuted(M: sp.csr_array, p: np.ndarray) -> sp.csr_array:
    out = sp.csr_array(M[p][:, p])
    out.sort_indices()
    return out


def prepare(root: Path, sizes: list[int]) -> None:
    from glasnost.data.synthetic import random_technology

    for n in sizes:
        target = matrix_dir(root, n)
        if (target / "data.npy").exists():
            print(f"{target} exists")
            continue
        t = time.perf_counter()
        A = random_technology(n, seed=0)
        write_csr(A, target)
        print(f"n={n:,}: {A.nnz:,} nonzeros written to {target} in {time.perf_counter() - t:.1f} s")
        del A


# ---- the timed parts ----------------------------------------------------------------------


def _allgather_ms(G: object, x64: np.ndarray, reps: int) -> float:
    """The product with the whole-vector exchange (the engine is dropped on return)."""
    return median_ms(lambda: G.matvec(x64), reps, G.comm.Barrier)  # type: ignore[attr-defined]


def _float32_ms(A: sp.csr_array, x: np.ndarray, reps: int) -> float:
    A32 = sp.csr_array((A.data.astype(np.float32), A.indices, A.indptr), shape=A.shape)
    x32 = x.astype(np.float32)
    return median_ms(lambda: A32 @ x32, reps)


def worker(directory: Path, reps: int, solve: bool) -> None:
    """Under mpiexec: this rank's block, the timings, one whole solve; rank 0 prints JSON."""
    from mpi4py import MPI

    from glasnost.compute.mpi import DistributedMatrix, DistributedPerron, deflated_solve

    comm = MPI.COMM_WORLD
    size, rank = comm.Get_size(), comm.Get_rank()
    cuts = nnz_cuts(directory, size)
    t = time.perf_counter()
    block = read_block(directory, int(cuts[rank]), int(cuts[rank + 1]))
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    D = DistributedMatrix(block, cuts, comm, exchange="halo")
    setup_s = time.perf_counter() - t
    del block
    rng = np.random.default_rng(rank)
    x64 = rng.random(D.nl)
    x32 = x64.astype(np.float32)
    r32, s32 = x32.copy(), np.empty_like(x32)
    w32 = rng.random(D.nl).astype(np.float32)

    def sweep() -> None:  # the solver's sweep: exchange, residual, one Allreduce of its sums
        D.residual_into(r32, x32, s32, w32)

    bar = comm.Barrier
    out = {
        "ranks": size,
        "n": D.n,
        "load_s": load_s,
        "setup_s": setup_s,
        "halo_entries": comm.allreduce(D.halo),
        "exchange32_ms": median_ms(lambda: D.fill(x32), reps, bar),
        "product32_ms": median_ms(lambda: D.matvec(x32), reps, bar),
        "product64_ms": median_ms(lambda: D.matvec(x64), reps, bar),
        "sweep_ms": median_ms(sweep, reps, bar),
    }
    if solve:
        d = np.ones(D.nl)
        bar()
        t = time.perf_counter()
        perron = DistributedPerron.of(D)
        x, sweeps, stalled = deflated_solve(D, d, perron, rtol=1e-10)
        out["solve_s"] = time.perf_counter() - t
        out["sweeps"], out["power_steps"], out["stalled"] = sweeps, perron.steps, bool(stalled)
        out["residual"] = D.norm(d - (x - D.matvec(x))) / D.norm(d)
    out["peak_mb_per_rank"] = comm.gather(peak_mb(), root=0)  # before the allgather engine is built
    D.local.clear()
    block = read_block(directory, int(cuts[rank]), int(cuts[rank + 1]))
    out["allgather64_ms"] = _allgather_ms(DistributedMatrix(block, cuts, comm, exchange="allgather"), x64, reps)
    if rank == 0:
        print(json.dumps(out))


def serial(directory: Path, reps: int, solve: bool) -> None:
    """One process: serial scipy products and the serial solver; prints JSON."""
    from glasnost.compute import LeontiefSystem

    t = time.perf_counter()
    A = read_csr(directory)
    load_s = time.perf_counter() - t
    n = A.shape[0]
    x = np.random.default_rng(0).random(n)
    d = np.ones(n)
    out = {
        "n": n,
        "load_s": load_s,
        "product_ms": median_ms(lambda: A @ x, reps),
        "jacobi_ms": median_ms(lambda: d + A @ x, reps),
        "product32_ms": _float32_ms(A, x, reps),
    }
    if solve:
        t = time.perf_counter()
        system = LeontiefSystem(A)
        _, report = system.solve(d, rtol=1e-10)
        out["solve_s"] = time.perf_counter() - t
        out["solve_method"], out["iterations"], out["residual"] = report.method, report.iterations, report.residual
        out["threads"] = system.threads
    out["peak_mb"] = peak_mb()
    print(json.dumps(out))


def mpiexec() -> str:
    found = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    if not found:
        sys.exit("no mpiexec: pip install mpi4py mpich")
    return found


def _json(cmd: list[str]) -> dict:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_ranks(ranks: int, directory: Path, reps: int, solve: bool) -> dict:
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, __file__, "_worker", str(directory), "--reps", str(reps)]
    return _json(cmd + ([] if solve else ["--no-solve"]))


def run_serial(directory: Path, reps: int, solve: bool) -> dict:
    cmd = [sys.executable, __file__, "_serial", str(directory), "--reps", str(reps)]
    return _json(cmd + ([] if solve else ["--no-solve"]))


# ---- tables -------------------------------------------------------------------------------


def _solve_cells(r: dict) -> str:
    if "solve_s" not in r:
        return "- | - | -"
    steps = r.get("sweeps", r.get("iterations"))
    return f"{r['solve_s']:.2f} | {steps} | {r['residual']:.1e}"


def _seconds(r: dict) -> str:
    return f"{r['solve_s']:.2f}" if "solve_s" in r else "-"


def _threads(s: dict) -> str:
    return f" (solve: glasnost serial, {s['threads']} threads)" if "threads" in s else ""


def run(root: Path, sizes: list[int], reps: int, solve: bool, solve_sizes: list[int] | None = None) -> None:
    print(f"load average before: {loadavg()}")
    print(
        "\n| n | engine | A @ x f64 (ms) | Jacobi step (ms) | product f32 (ms) | of which exchange (ms) "
        "| one sweep (ms) | allgather product f64 (ms) | received/product (MB) | whole solve (s) | sweeps "
        "| residual | peak MB/rank |"
    )
    print("|" + "---|" * 13)
    results: dict[tuple[int, int], dict] = {}
    for n in sizes:
        directory = matrix_dir(root, n)
        solve_n = solve and (solve_sizes is None or n in solve_sizes)
        s = run_serial(directory, reps, solve_n)
        results[(n, 0)] = s
        print(
            f"| {n:,} | serial scipy{_threads(s)} | {s['product_ms']:.1f} | "
            f"{s['jacobi_ms']:.1f} | {s['product32_ms']:.1f} | - | - | - | - | {_solve_cells(s)} | {s['peak_mb']:.0f} |"
        )
        for ranks in (1, 2):
            r = run_ranks(ranks, directory, reps, solve_n)
            results[(n, ranks)] = r
            mem = "/".join(f"{m:.0f}" for m in r["peak_mb_per_rank"])
            print(
                f"| {n:,} | mpi4py {ranks} rank(s), halo | {r['product64_ms']:.1f} | - | {r['product32_ms']:.1f} | "
                f"{r['exchange32_ms']:.1f} | {r['sweep_ms']:.1f} | {r['allgather64_ms']:.1f} | "
                f"{4 * r['halo_entries'] / 1e6:.1f} | {_solve_cells(r)} | {mem} |"
            )
    print()
    for n in sizes:
        s, r2 = results[(n, 0)], results[(n, 2)]
        line = (
            f"n={n:,}, 2 ranks: one sweep {r2['sweep_ms']:.1f} ms against serial scipy A @ x "
            f"{s['product_ms']:.1f} ms ({s['product_ms'] / r2['sweep_ms']:.2f}x) and a Jacobi step "
            f"{s['jacobi_ms']:.1f} ms ({s['jacobi_ms'] / r2['sweep_ms']:.2f}x)"
        )
        if "solve_s" in s and "solve_s" in r2:
            line += f"; whole solve {s['solve_s'] / r2['solve_s']:.2f}x the serial solver's speed"
        print(line)
    pairs = [(a, b) for a in sizes for b in sizes if b == 2 * a]
    if pairs:
        print("\nWeak scaling (products per rank fixed):\n")
        print("| ranks | n | one sweep (ms) | efficiency | whole solve (s) |\n|---|---|---|---|---|")
        for a, b in pairs:
            one, two = results[(a, 1)], results[(b, 2)]
            print(f"| 1 | {a:,} | {one['sweep_ms']:.1f} | 1.00 | {_seconds(one)} |")
            print(f"| 2 | {b:,} | {two['sweep_ms']:.1f} | {one['sweep_ms'] / two['sweep_ms']:.2f} | {_seconds(two)} |")
    print(f"\nload average after: {loadavg()}")


def ordering(root: Path, n: int, reps: int, rcm: bool) -> None:
    from glasnost.compute.mpi import locality_order

    variants: list[tuple[str, str]] = []
    gen = matrix_dir(root, n)
    if not (gen / "data.npy").exists():
        prepare(root, [n])
    A = read_csr(gen)
    variants.append(("generated, as generated (core spread over the ids)", "natural"))
    uses = np.argsort(-np.diff(A.indptr), kind="stable")
    write_csr(permuted(A, uses), matrix_dir(root, n, "uses"))
    variants.append(("generated, most used first", "uses"))
    seconds = {}
    if rcm:
        t = time.perf_counter()
        write_csr(permuted(A, locality_order(A)), matrix_dir(root, n, "rcm"))
        seconds["rcm"] = time.perf_counter() - t
        variants.append(("generated, reverse Cuthill-McKee", "rcm"))
    del A
    B = banded(n)
    write_csr(B, matrix_dir(root, n, "banded"))
    scrambled = permuted(B, np.random.default_rng(1).permutation(n))
    del B
    write_csr(scrambled, matrix_dir(root, n, "banded-scrambled"))
    t = time.perf_counter()
    restored = permuted(scrambled, locality_order(scrambled))
    seconds["banded-rcm"] = time.perf_counter() - t
    write_csr(restored, matrix_dir(root, n, "banded-rcm"))
    del scrambled, restored
    variants += [
        ("banded, as built", "banded"),
        ("banded, scrambled", "banded-scrambled"),
        ("banded scrambled, reverse Cuthill-McKee", "banded-rcm"),
    ]
    print(f"\nOrdering at n={n:,}, 2 ranks (load average {loadavg()}):\n")
    print(
        "| matrix and order | received per product, both ranks (entries) | (MB, float32) "
        "| 2-rank product f32 (ms) | 2-rank sweep (ms) | serial A @ x (ms) |\n|---|---|---|---|---|---|"
    )
    for label, order in variants:
        directory = matrix_dir(root, n, order)
        r = run_ranks(2, directory, reps, solve=False)
        s = run_serial(directory, reps, solve=False)
        print(
            f"| {label} | {r['halo_entries']:,} | {4 * r['halo_entries'] / 1e6:.2f} | {r['product32_ms']:.1f} | "
            f"{r['sweep_ms']:.1f} | {s['product_ms']:.1f} |"
        )
    for name, secs in seconds.items():
        print(f"ordering {name} took {secs:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["prepare", "run", "ordering", "_worker", "_serial"])
    ap.add_argument("path", nargs="?", type=Path)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--no-solve", action="store_true")
    ap.add_argument("--solve-sizes", type=int, nargs="+", help="run: whole solves at these sizes only")
    ap.add_argument("--rcm", action="store_true", help="ordering: also reverse Cuthill-McKee on the generated matrix")
    args = ap.parse_args()
    if args.what == "_worker":
        worker(args.path, args.reps, not args.no_solve)
    elif args.what == "_serial":
        serial(args.path, args.reps, not args.no_solve)
    elif args.what == "prepare":
        prepare(args.dir, args.sizes)
    elif args.what == "run":
        prepare(args.dir, args.sizes)
        run(args.dir, args.sizes, args.reps, not args.no_solve, args.solve_sizes)
    else:
        ordering(args.dir, args.n, args.reps, args.rcm)


if __name__ == "__main__":
    main()
