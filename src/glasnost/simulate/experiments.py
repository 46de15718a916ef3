"""Named experiments, one per claim of the essay. Each returns a pyarrow table.

- :func:`pipe`: a pipe 25% lighter and 10% better, under a tonnage indicator and under use-value
  measurement: one plant (exact numbers) and the whole economy (command regime, by indicator).
- :func:`ratchet`: concealment under command planning as a function of the ratchet lambda.
- :func:`complexity`: growth as the number of products to coordinate rises.
- :func:`closures`: unemployment and the gap between enterprises after the 1987 reform, with
  closures on and off.
- :func:`audit`: concealment under democratic planning as the audit probability falls.
- :func:`sensitivity`: which behavioural parameters decide the ranking of the regimes (Sobol
  indices, :mod:`glasnost.simulate.sensitivity`).

Every experiment keeps one row per seed (the report draws the median and the 10-90% band across
seeds). Runs over seeds go through :func:`glasnost.simulate.run.sweep` (one process per core).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from glasnost.simulate.params import Params, SimulationError
from glasnost.simulate.regimes.common import variant_indicator
from glasnost.simulate.run import run_phases, simulate, sweep

__all__ = [
    "EXPERIMENTS",
    "audit",
    "closures",
    "complexity",
    "per_seed",
    "pipe",
    "pipe_plant",
    "ratchet",
    "run_experiment",
    "sensitivity",
]

Progress = Callable[[int, int], None] | None


def pipe_plant(params: Params | None = None, metres: float = 1000.0, workers: float = 100.0) -> pa.Table:
    """One pipe plant with capacity ``metres`` of pipe a year and ``workers`` workers.

    The heavy pipe weighs 1 tonne per metre and gives 1 unit of use per metre; the light one
    weighs ``1 - lightness`` tonnes and gives ``1 + betterness`` units of use. For each indicator
    the plant makes the variant its indicator values more (the simulator's own rule,
    :func:`~glasnost.simulate.regimes.common.variant_indicator`); a second row per indicator
    shows what the other variant would have scored. Columns: ``indicator``, ``variant``,
    ``chosen``, ``tonnes``, ``tonnes_per_worker``, ``use_value``, ``steel_tonnes`` (steel used,
    1 t per tonne of pipe).
    """
    p = params or Params()
    rows: dict[str, list[object]] = {k: [] for k in
                                     ("indicator", "variant", "chosen", "tonnes", "tonnes_per_worker", "use_value",
                                      "steel_tonnes")}
    for indicator in ("tonnes", "use"):
        heavy, light = variant_indicator(p.with_(indicator=indicator), np.array([1.0]))
        choose_light = bool(light[0] > heavy[0])
        for variant, weight, use in (("heavy", 1.0, 1.0), ("light", 1.0 - p.lightness, 1.0 + p.betterness)):
            rows["indicator"].append(indicator)
            rows["variant"].append(variant)
            rows["chosen"].append(choose_light == (variant == "light"))
            rows["tonnes"].append(metres * weight)
            rows["tonnes_per_worker"].append(metres * weight / workers)
            rows["use_value"].append(metres * use)
            rows["steel_tonnes"].append(metres * weight)
    return pa.table(rows)


def pipe(
    params: Params | None = None, years: int = 30, seeds: Sequence[int] = (0, 1, 2), enterprises: int | None = None,
    progress: Progress = None,
) -> pa.Table:
    """The whole economy under the command regime with a tonnage and a use-value indicator: per
    indicator (``value``), seed and year: ``light_share``, ``use_value``, ``output_true``,
    ``quality``."""
    p = params or Params()
    table = sweep("indicator", ["tonnes", "use"], "command", years, seeds, p, enterprises=enterprises,
                  progress=progress)
    return table.select(["value", "seed", "year", "light_share", "use_value", "output_true", "quality"])


def ratchet(
    params: Params | None = None, lambdas: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0), years: int = 20,
    seeds: Sequence[int] = (0, 1, 2), enterprises: int | None = None, progress: Progress = None,
) -> pa.Table:
    """Concealment (share of true capacity kept off reports) and unused capacity, mean over the
    years, and growth from the common start to the last year (``growth_trend``), per ratchet
    lambda (``value``) and seed (command regime)."""
    table = sweep("ratchet", list(lambdas), "command", years, seeds, params, enterprises=enterprises,
                  progress=progress)
    return per_seed(table, ("concealment", "unused_capacity", "growth_trend"))


def complexity(
    params: Params | None = None, products: Sequence[float] = (1e3, 3e3, 1e4, 3e4), years: int = 25,
    seeds: Sequence[int] = (0, 1, 2), enterprises: int | None = None, progress: Progress = None,
) -> pa.Table:
    """Per regime (command, democratic), starting number of products (``value``) and seed:
    growth from the common start to the last year (``growth_trend``), the share of capacity
    coordination leaves usable, planning rounds and meeting hours a year (means over the
    years)."""
    tables = [
        sweep("products", list(products), regime, years, seeds, params, enterprises=enterprises, progress=progress)
        for regime in ("command", "democratic")
    ]
    measures = ("growth_trend", "efficiency", "rounds", "meeting_hours", "use_value")
    return pa.concat_tables([per_seed(t, measures, by_regime=True) for t in tables])


def closures(
    params: Params | None = None, years: int = 30, seeds: Sequence[int] = (0, 1, 2), enterprises: int | None = None,
    progress: Progress = None, reform_after: int = 37,
) -> pa.Table:
    """Market regime with closures on and off, per seed and year: unemployment, closure
    lay-offs, wage spread, Gini, enterprises closed, true net output.

    ``value`` is ``True``/``False`` for the market from year 0 (the economy of year 0), and
    ``True``/``False after N command years`` for the 1987 reform proper: ``reform_after`` years of
    command planning, then ``years`` of the market on the same state (:func:`run_phases`; only
    the market years are kept, numbered from 0). ``reform_after=0`` leaves that part out.
    """
    measures = ["unemployment", "closure_layoffs", "wage_spread", "gini", "closed", "output_true"]
    table = sweep("closures", [True, False], "market", years, seeds, params, enterprises=enterprises,
                  progress=progress)
    fresh = table.select(["value", "seed", "year", *measures])
    if reform_after < 1:
        return fresh
    base = params or Params()
    parts: list[pa.Table] = [fresh]
    for on in (True, False):
        for seed in seeds:
            run = run_phases([("command", reform_after), ("market", years)], int(seed), base.with_(closures=on),
                             enterprises=enterprises)
            columns: dict[str, object] = {
                "value": [f"{on} after {reform_after} command years"] * years,
                "seed": np.full(years, int(seed), dtype=np.int32),
                "year": np.arange(years, dtype=np.int32),
            }
            columns.update({m: run[m][reform_after:] for m in measures})
            parts.append(pa.table(columns).cast(fresh.schema))
    return pa.concat_tables(parts)


def audit(
    params: Params | None = None, probabilities: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5), years: int = 20,
    seeds: Sequence[int] = (0, 1, 2), enterprises: int | None = None, progress: Progress = None,
) -> pa.Table:
    """Concealment under democratic planning for each audit probability (``value``; mean over
    years, per seed), and command planning's concealment for reference (``value`` =
    ``command``)."""
    table = sweep("audit_probability", list(probabilities), "democratic", years, seeds, params,
                  enterprises=enterprises, progress=progress)
    dem = per_seed(table, ("concealment",))
    command = simulate(["command"], years, list(seeds), params, enterprises=enterprises)
    ref = per_seed(command.append_column("value", pa.array(["command"] * command.num_rows)), ("concealment",))
    return pa.concat_tables([dem, ref.cast(dem.schema)])


def sensitivity(params: Params | None = None, seeds: Sequence[int] = (0,), enterprises: int | None = None,
                progress: Progress = None, **options: object) -> pa.Table:
    """Global sensitivity of the regimes' ranking (:func:`glasnost.simulate.sensitivity.sensitivity`)."""
    from glasnost.simulate.sensitivity import sensitivity as run_sensitivity

    return run_sensitivity(params, seeds=seeds, enterprises=enterprises or 200, progress=progress, **options)


EXPERIMENTS: dict[str, Callable[..., pa.Table]] = {
    "pipe": pipe,
    "ratchet": ratchet,
    "complexity": complexity,
    "closures": closures,
    "audit": audit,
    "sensitivity": sensitivity,
}


def run_experiment(name: str, **kwargs: object) -> pa.Table:
    """Run the named experiment; unknown names raise :class:`SimulationError`."""
    if name not in EXPERIMENTS:
        raise SimulationError(f"unknown experiment {name!r} (choose from {', '.join(EXPERIMENTS)})")
    return EXPERIMENTS[name](**kwargs)


LAST_YEAR = ("growth_trend", "use_value")  # read in the last year; the rest are means over the years


def per_seed(table: pa.Table, measures: Sequence[str], *, by_regime: bool = False) -> pa.Table:
    """One row per ``value`` (and ``regime``) and ``seed``: the mean of each measure over the
    years, or its last year's value for :data:`LAST_YEAR` measures (growth from the common
    start to the end; use value at the end). ``value`` stays text; ``x`` is it as a number where
    it is one (NaN otherwise)."""
    values = np.asarray(table.column("value").to_pylist(), dtype=object)
    seeds = table.column("seed").to_numpy()
    years = table.column("year").to_numpy()
    regimes = np.asarray(table.column("regime").to_pylist(), dtype=object) if by_regime else None
    keys = list(dict.fromkeys(zip(values, regimes if by_regime else [None] * len(values), seeds, strict=True)))
    data = {m: table.column(m).to_numpy(zero_copy_only=False).astype(float) for m in measures}
    rows: dict[str, list[object]] = {"value": [], "x": [], "seed": [], **({"regime": []} if by_regime else {}),
                                     **{m: [] for m in measures}}
    for value, regime, seed in keys:
        mask = (values == value) & (seeds == seed)
        if by_regime:
            mask &= regimes == regime
            rows["regime"].append(regime)
        last = mask & (years == years[mask].max())
        rows["value"].append(value)
        rows["x"].append(_number(value))
        rows["seed"].append(int(seed))
        for m in measures:
            picked = data[m][last] if m in LAST_YEAR else data[m][mask]
            rows[m].append(float(np.nanmean(picked)) if np.isfinite(picked).any() else float("nan"))
    return pa.table(rows)


def _number(text: object) -> float:
    try:
        return float(str(text))
    except ValueError:
        return float("nan")
