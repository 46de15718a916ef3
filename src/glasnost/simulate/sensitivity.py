"""Where each regime wins and loses: global sensitivity analysis of the ranking over every
behavioural parameter's range (:func:`glasnost.simulate.params.behavioural_ranges`).

:func:`sensitivity` draws parameter settings (Sobol' sequence for Saltelli's design, or Morris
trajectories; SALib), runs the three regimes on each setting (the same seeds, the same
starting economy) and records, per setting, each regime's use value delivered per member of the
labour force in the last year, its true net output and its growth from the common start; and
democratic planning's margin over each of the others (``dem_vs_market_use`` =
use value under democratic planning / under the market - 1, and so on).
:func:`indices` turns those runs into Sobol' indices (first-order ``S1`` and total ``ST`` with
95% confidence half-widths; Saltelli 2010 estimators, SALib) or Morris' ``mu_star`` and
``sigma``: how much of the variance of each margin each parameter decides, alone and with the
others. :func:`regions` bins each setting by one parameter and gives the share of settings in
which democratic planning comes first.

Requires SALib (``pip install 'glasnost[sensitivity]'``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pyarrow as pa

from glasnost.simulate.params import Params, SimulationError, behavioural_ranges
from glasnost.simulate.run import REGIMES, run_regime

__all__ = ["MARGINS", "indices", "regions", "sensitivity"]

MARGINS = (
    "dem_vs_market_use",
    "dem_vs_command_use",
    "dem_vs_market_output",
    "dem_vs_command_output",
)
PER_REGIME = ("use", "output", "growth")


def _salib():
    try:
        import SALib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise SimulationError(
            "the sensitivity experiment needs SALib: pip install 'glasnost[sensitivity]'"
        ) from exc


def problem(names: Sequence[str] | None = None) -> dict[str, object]:
    """SALib's problem: every behavioural parameter (or ``names``) with its range."""
    ranges = behavioural_ranges()
    chosen = list(names) if names else sorted(ranges)
    unknown = [n for n in chosen if n not in ranges]
    if unknown:
        raise SimulationError(f"sensitivity: no range for {', '.join(unknown)} (see Params metadata 'range')")
    return {"num_vars": len(chosen), "names": chosen, "bounds": [list(ranges[n]) for n in chosen]}


def _evaluate(task: tuple[Params, tuple[int, ...], int, int]) -> dict[str, float]:
    params, seeds, years, enterprises = task
    out: dict[str, float] = {}
    for regime in REGIMES:
        runs = [run_regime(regime, years, s, params, enterprises=enterprises) for s in seeds]
        out[f"{regime}_use"] = float(np.mean([r["use_value"][-1] for r in runs]))
        out[f"{regime}_output"] = float(np.mean([r["output_true"][-1] for r in runs]))
        out[f"{regime}_growth"] = float(np.mean([r["growth_trend"][-1] for r in runs]))
    for measure in ("use", "output"):
        dem = out[f"democratic_{measure}"]
        for other in ("market", "command"):
            base = out[f"{other}_{measure}"]
            out[f"dem_vs_{other}_{measure}"] = dem / base - 1.0 if base > 0 else float("nan")
    return out


def sensitivity(
    params: Params | None = None,
    *,
    samples: int = 64,
    years: int = 25,
    enterprises: int = 200,
    seeds: Sequence[int] = (0,),
    products: float = 1.0e3,
    method: str = "sobol",
    names: Sequence[str] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    sample_seed: int = 0,
) -> pa.Table:
    """Run the three regimes on ``samples`` x (parameters + 2) settings (Sobol', first and total
    order) or ``samples`` Morris trajectories; one row per setting, in the design's order: the
    parameters' values, each regime's ``*_use``, ``*_output``, ``*_growth`` and the
    :data:`MARGINS`. The table's metadata keeps the method and the problem for :func:`indices`.

    Small economies keep it affordable: ``enterprises`` (200), ``years`` (25), ``products`` at the
    start (10^3; the procedure's rounds grow only slowly with it, see ``docs/simulate.md``).
    Settings run on ``workers`` processes (default: all cores).
    """
    _salib()
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    if samples < 2:
        raise SimulationError(f"sensitivity: samples must be at least 2, got {samples}")
    prob = problem(names)
    if method == "sobol":
        design = sobol_sample.sample(prob, samples, calc_second_order=False, seed=sample_seed)
    elif method == "morris":
        design = morris_sample.sample(prob, samples, num_levels=4, seed=sample_seed)
    else:
        raise SimulationError(f"sensitivity: method {method!r} is not sobol or morris")
    base = (params or Params()).with_(products=products)
    tasks = [(base.with_(**dict(zip(prob["names"], map(float, row), strict=True))), tuple(int(s) for s in seeds),
              years, enterprises) for row in design]
    n_workers = workers or os.cpu_count() or 1
    results: list[dict[str, float]] = []
    if n_workers > 1:
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            for i, res in enumerate(pool.map(_evaluate, tasks, chunksize=4)):
                results.append(res)
                if progress:
                    progress(i + 1, len(tasks))
    else:
        for i, task in enumerate(tasks):
            results.append(_evaluate(task))
            if progress:
                progress(i + 1, len(tasks))
    columns: dict[str, object] = {name: design[:, j] for j, name in enumerate(prob["names"])}
    for key in results[0]:
        columns[key] = np.array([r[key] for r in results])
    metadata = {
        "method": method,
        "names": ",".join(prob["names"]),
        "bounds": ";".join(f"{lo!r},{hi!r}" for lo, hi in prob["bounds"]),
        "samples": str(samples),
        "years": str(years),
        "enterprises": str(enterprises),
        "seeds": ",".join(str(s) for s in seeds),
        "products": str(products),
    }
    return pa.table(columns).replace_schema_metadata(metadata)


def _problem_of(table: pa.Table) -> tuple[str, dict[str, object]]:
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    if "method" not in meta:
        raise SimulationError("sensitivity: the table has no design metadata (was it made by sensitivity()?)")
    names = meta["names"].split(",")
    bounds = [[float(x) for x in pair.split(",")] for pair in meta["bounds"].split(";")]
    return meta["method"], {"num_vars": len(names), "names": names, "bounds": bounds}


def indices(table: pa.Table, outputs: Sequence[str] = MARGINS) -> pa.Table:
    """Sensitivity indices of each output: one row per (output, parameter). Sobol':
    ``S1``, ``S1_conf``, ``ST``, ``ST_conf``; Morris: ``mu_star``, ``mu_star_conf``, ``sigma``.
    Settings where an output is undefined (a regime produced nothing) count as no margin (0)."""
    _salib()
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze

    method, prob = _problem_of(table)
    rows: dict[str, list[object]] = {"output": [], "parameter": []}
    for output in outputs:
        y = np.nan_to_num(table.column(output).to_numpy().astype(float), nan=0.0, posinf=0.0, neginf=0.0)
        if method == "sobol":
            res = sobol_analyze.analyze(prob, y, calc_second_order=False, seed=0)
            keys = ("S1", "S1_conf", "ST", "ST_conf")
        else:
            x = np.column_stack([table.column(n).to_numpy() for n in prob["names"]])
            res = morris_analyze.analyze(prob, x, y, num_levels=4, seed=0)
            keys = ("mu_star", "mu_star_conf", "sigma")
        for j, name in enumerate(prob["names"]):
            rows["output"].append(output)
            rows["parameter"].append(name)
            for k in keys:
                rows.setdefault(k, []).append(float(res[k][j]))
    return pa.table(rows)


def regions(table: pa.Table, parameter: str, bins: int = 5) -> pa.Table:
    """Settings binned by ``parameter`` (equal widths over its range): per bin, its centre, the
    settings in it, the share in which democratic planning delivers the most use value of the
    three, and the median of each margin."""
    x = table.column(parameter).to_numpy()
    uses = np.column_stack([table.column(f"{r}_use").to_numpy() for r in REGIMES])
    first = np.argmax(np.nan_to_num(uses, nan=-np.inf), axis=1) == REGIMES.index("democratic")
    edges = np.linspace(x.min(), x.max(), bins + 1)
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    out: dict[str, list[float]] = {"centre": [], "settings": [], "democratic_first": []}
    for margin in MARGINS:
        out[margin] = []
    for b in range(bins):
        mask = which == b
        out["centre"].append(0.5 * (edges[b] + edges[b + 1]))
        out["settings"].append(float(mask.sum()))
        out["democratic_first"].append(float(first[mask].mean()) if mask.any() else float("nan"))
        for margin in MARGINS:
            values = table.column(margin).to_numpy()[mask]
            out[margin].append(float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan"))
    return pa.table(out)
