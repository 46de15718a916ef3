"""Run regimes on one economy for some years and seeds; one row per (regime, seed, year)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa

from glasnost.economy import Economy
from glasnost.simulate.measures import MEASURES
from glasnost.simulate.params import Params, SimulationError
from glasnost.simulate.regimes.common import net_output
from glasnost.simulate.state import Sectors, State, capacity_of, initial_state, sectors_of

__all__ = ["REGIMES", "default_sectors", "run_regime", "simulate", "sweep"]

REGIMES = ("command", "market", "democratic")

_SECTORS: dict[str, Sectors] = {}


def default_sectors() -> Sectors:
    """Sector technology of the demo economy (cached)."""
    if "demo" not in _SECTORS:
        from glasnost.data.demo import demo_economy

        _SECTORS["demo"] = sectors_of(demo_economy())
    return _SECTORS["demo"]


def _regime_class(name: str) -> Any:
    if name == "command":
        from glasnost.simulate.regimes.command import CommandRegime

        return CommandRegime
    if name == "market":
        from glasnost.simulate.regimes.market import MarketRegime

        return MarketRegime
    if name == "democratic":
        from glasnost.simulate.regimes.democratic import DemocraticRegime

        return DemocraticRegime
    raise SimulationError(f"unknown regime {name!r} (choose from {', '.join(REGIMES)})")


def run_regime(
    regime: str,
    years: int,
    seed: int = 0,
    params: Params | None = None,
    *,
    enterprises: int | None = None,
    sectors: Sectors | None = None,
) -> dict[str, np.ndarray]:
    """One regime, one seed: ``{measure: array over years}``.

    The initial state depends only on the seed (not on the regime), so every regime starts
    from the same economy; the regime's own random draws come from a second stream.
    """
    return run_phases([(regime, years)], seed, params, enterprises=enterprises, sectors=sectors)


def run_phases(
    phases: Sequence[tuple[str, int]],
    seed: int = 0,
    params: Params | None = None,
    *,
    enterprises: int | None = None,
    sectors: Sectors | None = None,
) -> dict[str, np.ndarray]:
    """Regimes one after another on the same state, e.g. ``[("command", 37), ("market", 20)]``
    (the 1987 reform starting from the command economy of 1987): measures over all years."""
    if not phases or any(years < 1 for _, years in phases):
        raise SimulationError(f"years must be at least 1 in every phase, got {list(phases)}")
    params = params or Params()
    sectors = sectors or default_sectors()
    state = initial_state(sectors, params, np.random.default_rng([seed, 0]), enterprises)
    base = base_output(sectors, state, params)
    rows: list[dict[str, float]] = []
    for k, (regime, years) in enumerate(phases):
        rng = np.random.default_rng([seed, 1 + REGIMES.index(regime) if regime in REGIMES else 0, k])
        model = _regime_class(regime)(sectors, state, params, rng)
        for t in range(years):
            rows.append(model.step(t))
            state.year += 1
    out = {key: np.array([r[key] for r in rows], dtype=float) for key in rows[0]}
    out["report_gap"] = _safe_ratio(out["output_reported"], out["output_true"]) - 1.0
    out["growth_trend"] = trend_growth(out["output_true"], base)
    out["queue_hours"] = params.queue_hours * out["shortage"] / 0.10
    return {key: out[key] for key in MEASURES}


def base_output(sectors: Sectors, state: State, params: Params) -> float:
    """True net output of the initial state at full capacity (base-price value, hours a year):
    the economy every regime starts from, the same for all of them given the seed."""
    full = capacity_of(sectors, state, params)
    return float(net_output(sectors, state, full, params, 0.0) @ sectors.values)


def trend_growth(output: np.ndarray, base: float) -> np.ndarray:
    """Compound yearly growth from the common starting economy to each year:
    ``(output_t / base)^(1 / (t + 1)) - 1``.

    Measured from the same base for every regime and setting, so a regime whose first year
    dips (the first plan's meetings, a reform's lay-offs) does not show the recovery from the
    dip as fast growth, as a mean of year-on-year rates would.
    """
    years = np.arange(1, output.size + 1)
    if base <= 0:
        return np.full(output.size, np.nan)
    return (np.maximum(output, 0.0) / base) ** (1.0 / years) - 1.0


def _safe_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.full(a.shape, np.nan), where=b > 0)


def _one(task: tuple[str, int, int, Params, int | None]) -> dict[str, np.ndarray]:
    regime, years, seed, params, enterprises = task
    return run_regime(regime, years, seed, params, enterprises=enterprises)


def simulate(
    regimes: Sequence[str] = REGIMES,
    years: int = 40,
    seeds: Sequence[int] | int = 5,
    params: Params | None = None,
    *,
    enterprises: int | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    economy: Economy | None = None,
) -> pa.Table:
    """Every regime for every seed: a table with ``regime``, ``seed``, ``year`` and the measures.

    ``workers > 1`` runs the (regime, seed) pairs in that many processes; the table is the same.
    ``economy`` replaces the demo economy's sector technology (its default technique and
    targets; run in this process). The democratic regime's planning rounds still come from the
    participatory procedure on the demo economy.
    """
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    for r in regimes:
        _regime_class(r)
    params = params or Params()
    tasks = [(r, years, s, params, enterprises) for r in regimes for s in seed_list]
    results: list[dict[str, np.ndarray]] = []
    if economy is not None:
        sectors = sectors_of(economy)
        for i, (r, y, s, p, e) in enumerate(tasks):
            results.append(run_regime(r, y, s, p, enterprises=e, sectors=sectors))
            if progress:
                progress(i + 1, len(tasks))
    elif workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, os.cpu_count() or 1)) as pool:
            for i, res in enumerate(pool.map(_one, tasks)):
                results.append(res)
                if progress:
                    progress(i + 1, len(tasks))
    else:
        for i, task in enumerate(tasks):
            results.append(_one(task))
            if progress:
                progress(i + 1, len(tasks))
    return _table(tasks, results)


def _table(tasks: list[tuple[str, int, int, Params, int | None]], results: list[dict[str, np.ndarray]]) -> pa.Table:
    columns: dict[str, list[np.ndarray]] = {"regime": [], "seed": [], "year": []}
    for (regime, years, seed, _, _), res in zip(tasks, results, strict=True):
        columns["regime"].append(np.full(years, regime, dtype=object))
        columns["seed"].append(np.full(years, seed, dtype=np.int32))
        columns["year"].append(np.arange(years, dtype=np.int32))
        for k, v in res.items():
            columns.setdefault(k, []).append(v)
    # NaN (growth in year 0, fulfilment without a plan) becomes null, which means skip
    return pa.table({k: pa.array(np.concatenate(v), from_pandas=True) for k, v in columns.items()})


def sweep(
    name: str,
    values: Sequence[Any],
    regime: str,
    years: int,
    seeds: Sequence[int],
    params: Params | None = None,
    *,
    enterprises: int | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pa.Table:
    """Sensitivity sweep of one parameter: every value x seed as a separate process task (all
    cores by default); the table adds a ``value`` column (as text)."""
    base = params or Params()
    tasks = [(regime, years, int(s), base.with_(**{name: v}), enterprises) for v in values for s in seeds]
    labels = [str(v) for v in values for _ in seeds]
    n_workers = workers or os.cpu_count() or 1
    results: list[dict[str, np.ndarray]] = []
    with ProcessPoolExecutor(max_workers=n_workers) as pool:
        for i, res in enumerate(pool.map(_one, tasks)):
            results.append(res)
            if progress:
                progress(i + 1, len(tasks))
    table = _table(tasks, results)
    value_col = np.concatenate([np.full(years, lab, dtype=object) for lab in labels])
    return table.append_column("parameter", pa.array(np.full(value_col.size, name, dtype=object))).append_column(
        "value", pa.array(value_col)
    )


def demo_comparison(years: int = 20, seed: int = 0, enterprises: int = 400) -> pa.Table:
    """The demo's short regime comparison: the three regimes, calibrated defaults, one seed,
    ``enterprises`` enterprises on the demo economy (well under two seconds)."""
    return simulate(REGIMES, years, [seed], Params(), enterprises=enterprises)
