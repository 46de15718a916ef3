"""Benchmark: a user's commands end to end, at 10^5 and 10^6 products, new code beside old.

For each size, in one run and interleaved (old, new, old, new, ...) so that the machine's load
falls on both alike, with medians over the repeats:

- ``glasnost generate N --out DIR`` (the command, in a fresh process: imports included);
- ``glasnost values DIR --out F.parquet`` (the command, in a fresh process);
- its phases, timed inside one fresh process: ``load`` (the directory to a validated economy,
  productiveness check and default technique included), ``set-up`` (the solver's peeling,
  reordering and both orientations, float64 and float32), ``perron`` (the power iterations
  for the deflation), ``solve`` (labour values for every labour type and gross output for the
  targets, to the solver's default tolerance), ``write`` (the values Parquet file, by the
  command's own writer where the code has one); after its imports the process sets its
  memory as a command does (``glasnost.clitools.command_memory``: numpy's pages, Arrow's
  pool, the heap), where the code has it;
- scipy's ``bicgstab`` (default rtol 1e-5) on the same loaded matrix, for the same solves, with
  the residual it reaches: the end-to-end ratio sets the whole command beside it.

"old" is the code of another checkout (``--old-src``, default /work/main/src, run with that
PYTHONPATH) on a schema version 1 directory it generated itself; "new" is this checkout on a
version 2 directory. With ``--mpi-ranks`` it also runs ``values`` from the directory on 1, 2
and 4 ranks (each reading only its block) and reports every rank's peak memory; with
``--mpi-commands values plan participate`` also ``plan --method large --mpi`` and
``participate --mpi`` (one year, ``--mpi-rounds`` rounds), on an economy generated with two
processes per product, binding capacities and labour, and 50 consumer councils.

Run: python bench/bench_end_to_end.py [--sizes 100000 1000000] [--reps 3] [--mpi-ranks 1 2 4]
     [--mpi-commands values plan participate] [--mpi-size 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NEW_SRC = str(Path(__file__).resolve().parents[1] / "src")

PHASES = r"""
import json, resource, sys, time
import numpy as np
t0 = time.perf_counter()
from glasnost.economy import load
from glasnost.compute.values import leontief_system
from glasnost.compute import labour_values, gross_output
imports = time.perf_counter() - t0
try:  # what the command line does before a command (glasnost.clitools), where the code has it
    from glasnost.clitools import command_memory
    command_memory()
except ImportError:
    pass
out = {"imports": imports}
t = time.perf_counter(); economy = load(sys.argv[1]); out["load"] = time.perf_counter() - t
system = leontief_system(economy)
t = time.perf_counter()
for name in ("_split", "_perm", "_op", "_op_t", "_op32", "_op32_t"):
    getattr(system, name)
out["set-up"] = time.perf_counter() - t
t = time.perf_counter(); system._perron; out["perron"] = time.perf_counter() - t
t = time.perf_counter(); v = labour_values(economy); g = gross_output(economy); out["solve"] = time.perf_counter() - t
out["residual"] = max(v.report.residual, g.report.residual)
import pyarrow as pa, pyarrow.parquet as pq
try:  # the command's own writer, where the code has one
    from glasnost.cli import _write_values
except ImportError:
    def _write_values(v, g, path):
        cols = {"commodity": pa.array(v.ids), "labour_value": v.labour, "gross_output": g.gross}
        for k, pid in enumerate(v.primary_ids):
            cols[f"embodied:{pid}"] = v.by_input[k]
        pq.write_table(pa.table(cols), path)
t = time.perf_counter()
_write_values(v, g, sys.argv[2])
out["write"] = time.perf_counter() - t
if len(sys.argv) > 3:  # scipy's bicgstab on the same matrix, the same solves
    import scipy.sparse as sp, scipy.sparse.linalg as spla
    tech = economy.technique
    A = sp.csr_array(tech.A); n = A.shape[0]
    t = time.perf_counter()
    M, MT = sp.csr_array(sp.eye_array(n) - A), sp.csr_array(sp.eye_array(n) - A.T)
    resid = 0.0
    L = tech.primary.toarray()
    for k in range(L.shape[0]):
        x, _ = spla.bicgstab(MT, L[k]); resid = max(resid, np.linalg.norm(MT @ x - L[k]) / np.linalg.norm(L[k]))
    d = economy.commodities.targets[tech.produced]
    x, _ = spla.bicgstab(M, d); resid = max(resid, np.linalg.norm(M @ x - d) / np.linalg.norm(d))
    out["bicgstab"] = time.perf_counter() - t
    out["bicgstab_residual"] = resid
out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""

MPI_SCRIPT = r"""
import json, resource, sys, time
from pathlib import Path
t = time.perf_counter()
from mpi4py import MPI
command, answer, row = sys.argv[2], {}, {}
if command == "values":
    from glasnost.compute.mpi_blocks import values_from_directory
    sol = values_from_directory(sys.argv[1])
    row = {"rows_read": sol.stats.rows_read, "total_rows": sol.stats.total_rows}
    if sol.values is not None:
        answer = {"residual": max(sol.values.report.residual, sol.gross.report.residual)}
elif command == "plan":
    from glasnost.compute.largeplan_blocks import large_plan_from_directory
    plan = large_plan_from_directory(sys.argv[1])
    if plan is not None:
        answer = {"objective": plan.objective, "gap": plan.gap,
                  **{k: plan.extra[k] for k in ("status", "rounds", "solves")}}
else:
    from glasnost.procedures.mpi import participate_mpi
    result = participate_mpi(Path(sys.argv[1]), years=1, max_rounds=int(sys.argv[3]))
    answer = {"rounds": len(result.years[-1].rounds)}
row.update(seconds=time.perf_counter() - t, peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
rows = MPI.COMM_WORLD.gather(row, root=0)
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps({"ranks": rows, **answer}))
"""


PLAN_ECONOMY = ["--processes", "2", "--capacity-slack", "1.5", "--labour-slack", "1.0", "--councils", "50"]
"""Options of ``glasnost generate`` for the plan and participate runs: choice of technique,
binding capacities and labour (the optimiser pivots), consumer councils (Hahnel's procedure)."""


def _env(src: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": src}


def _cli(src: str, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from glasnost.cli import app; app()", *args],
        env=_env(src),
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start


def _phases(src: str, directory: Path, out: Path, bicgstab: bool) -> dict[str, float]:
    args = [sys.executable, "-c", PHASES, str(directory), str(out)] + (["bicgstab"] if bicgstab else [])
    result = subprocess.run(args, env=_env(src), check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _mpi(src: str, directory: Path, ranks: int, command: str = "values", rounds: int = 20) -> dict:
    mpiexec = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    if mpiexec is None:
        raise SystemExit("mpiexec not found (pip install mpich)")
    result = subprocess.run(
        [mpiexec, "-n", str(ranks), sys.executable, "-c", MPI_SCRIPT, str(directory), command, str(rounds)],
        env=_env(src),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def run_size(n: int, reps: int, old_src: str, work: Path, bicgstab: bool) -> dict[str, dict[str, float]]:
    runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    for rep in range(reps):
        for label, src in (("old", old_src), ("new", NEW_SRC)):
            directory = work / f"{label}-{n}"
            row: dict[str, float] = {}
            if rep == 0 or not directory.exists():
                shutil.rmtree(directory, ignore_errors=True)
                row["generate"] = _cli(src, "generate", str(n), "--out", str(directory))
            row["values (command)"] = _cli(src, "values", str(directory), "--out", str(work / f"{label}.parquet"))
            row.update(_phases(src, directory, work / f"{label}-phases.parquet", bicgstab and rep == 0))
            runs[label].append(row)
            print(f"  n={n:,} rep {rep + 1} {label}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()), flush=True)
    summary = {}
    for label, rows in runs.items():
        keys = dict.fromkeys(k for r in rows for k in r)
        summary[label] = {k: statistics.median(r[k] for r in rows if k in r) for k in keys}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--old-src", default="/work/main/src")
    parser.add_argument("--mpi-ranks", type=int, nargs="*", default=[])
    parser.add_argument("--mpi-size", type=int, default=1_000_000)
    parser.add_argument("--mpi-commands", nargs="+", default=["values"], choices=["values", "plan", "participate"])
    parser.add_argument("--mpi-rounds", type=int, default=20, help="participate: rounds of the one year")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="glasnost-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    results["load_before"] = os.getloadavg()
    for n in args.sizes:
        results[str(n)] = run_size(n, args.reps, args.old_src, work, bicgstab=True)
    if args.mpi_ranks:
        results["mpi"] = {}
        for command in args.mpi_commands:
            values = command == "values"
            directory = work / f"{'new' if values else 'plan'}-{args.mpi_size}"
            if not directory.exists():
                options = [] if values else PLAN_ECONOMY
                _cli(NEW_SRC, "generate", str(args.mpi_size), "--out", str(directory), *options)
            results["mpi"][command] = {}
            for r in args.mpi_ranks:
                row = _mpi(NEW_SRC, directory, r, command, args.mpi_rounds)
                peaks = [f"{x['peak_mib']:.0f}" for x in row["ranks"]]
                print(f"  {command} on {r} ranks: peak MiB per rank {' / '.join(peaks)}", flush=True)
                results["mpi"][command][str(r)] = row
    results["load_after"] = os.getloadavg()
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
