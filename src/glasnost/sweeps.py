"""Batch experiments: many seeds and parameter values as independent tasks on Dask.

A sweep runs one kind of task (``participate``: a participatory planning run; ``plan``: an
optimal plan; ``values``: labour values and gross output) on one economy for every combination
of parameter values and seeds, each combination a separate Dask task, and gathers one row per
task into a single table (Parquet). It runs on a Dask scheduler (``scheduler="tcp://host:8786"``)
or on a local cluster of worker processes started for the sweep. Workers load the economy from
its directory themselves, so only the path and the parameters travel. Dask is imported only
when a sweep runs (``pip install 'glasnost[dask]'``). Every task is deterministic given its
seed, so a sweep's table does not depend on the number of workers or the order they finish.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from glasnost.economy import GlasnostError


def _participate(directory: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    from glasnost.economy import load
    from glasnost.procedures import participate

    result = participate(load(directory), seed=seed, keep_proposals=False, **params)
    return {
        "rounds": int(result.rounds),
        "converged": bool(result.converged),
        "max_imbalance_percent": float(result.max_imbalance_percent),
    }


def _plan(directory: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    from glasnost.compute import optimal_plan
    from glasnost.economy import load

    plan = optimal_plan(load(directory), params.get("objective", "scale"), method=params.get("method", "choose"))
    return {"objective": float(plan.objective), "gap": float(plan.gap), "method": str(plan.method)}


def _values(directory: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    from glasnost.compute import gross_output, labour_values
    from glasnost.economy import load

    economy = load(directory)
    v = labour_values(economy, method=params.get("method", "auto"))
    g = gross_output(economy, method=params.get("method", "auto"))
    return {
        "total_labour_hours": float(
            g.primary_use[economy.commodities.kinds[economy.technique.primary_index] == 3].sum()
        ),
        "mean_labour_value": float(v.labour.mean()),
        "residual": float(max(v.report.residual, g.report.residual)),
    }


TASKS: dict[str, Callable[[str, dict[str, Any], int], dict[str, Any]]] = {
    "participate": _participate,
    "plan": _plan,
    "values": _values,
}


def run_task(kind: str, directory: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """One task of a sweep: its parameters, seed, results and wall time (seconds) as one row."""
    start = time.perf_counter()
    try:
        results = TASKS[kind](directory, params, seed)
        error = ""
    except GlasnostError as exc:  # a failed run is a result of the experiment, not a crash
        results, error = {}, str(exc)
    return {"task": kind, "seed": seed, **params, **results, "error": error, "seconds": time.perf_counter() - start}


def grid(**values: Sequence[Any]) -> list[dict[str, Any]]:
    """Every combination of the given parameter values, e.g. ``grid(threshold=[0.03, 0.05])``."""
    keys = list(values)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(values[k] for k in keys))]


def sweep(
    kind: str,
    economy_dir: str | Path,
    params: Sequence[dict[str, Any]] = ({},),
    seeds: Sequence[int] = (0,),
    *,
    scheduler: str | None = None,
    workers: int = 2,
    out: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pa.Table:
    """Run ``kind`` for every parameter set x seed as Dask tasks; one row per task.

    Parameters
    ----------
    kind : ``participate``, ``plan`` or ``values``.
    economy_dir : a saved economy directory, readable by every worker.
    params : parameter sets (see :func:`grid`), passed as keyword arguments to the task.
    seeds : seeds; each task gets one.
    scheduler : address of a running Dask scheduler; default a local cluster of ``workers``
        single-threaded worker processes, closed at the end.
    out : write the table to this Parquet file as well.
    progress : called with (tasks done, tasks in all) as results arrive.

    Returns
    -------
    pyarrow.Table
        Sorted by parameter set and seed: ``task``, ``seed``, the parameters, the task's
        results, ``error`` (empty when it ran) and ``seconds``.
    """
    if kind not in TASKS:
        raise ValueError(f"unknown sweep task {kind!r} (choose from {', '.join(TASKS)})")
    directory = str(Path(economy_dir).resolve())
    if not Path(directory).is_dir():
        raise FileNotFoundError(f"no such economy directory: {economy_dir}")
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise ImportError("sweeps need Dask: pip install 'glasnost[dask]'") from exc
    jobs = [(i, p, s) for i, p in enumerate(params) for s in seeds]
    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        futures = {client.submit(run_task, kind, directory, dict(p), int(s), pure=False): (i, s) for i, p, s in jobs}
        rows: dict[tuple[int, int], dict[str, Any]] = {}
        for done, future in enumerate(as_completed(futures), start=1):
            rows[futures[future]] = future.result()
            if progress is not None:
                progress(done, len(jobs))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    table = pa.Table.from_pylist([rows[k] for k in sorted(rows)])
    if out is not None:
        pq.write_table(table, out)
    return table
