"""Named experiments, one per claim of the essay. Each returns a pyarrow table.

- :func:`pipe`: a pipe 25% lighter and 10% better, under a tonnage indicator and under use-value
  measurement: one plant (exact numbers) and the whole economy (command regime, by indicator).
- :func:`ratchet`: concealment under command planning as a function of the ratchet lambda.
- :func:`complexity`: growth as the number of products to coordinate rises.
- :func:`closures`: unemployment and the gap between enterprises after the 1987 reform, with
  closures on and off.
- :func:`audit`: concealment under democratic planning as the audit probability falls.

Runs over seeds go through :func:`glasnost.simulate.run.sweep` (one process per core).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from glasnost.simulate.params import Params, SimulationError
from glasnost.simulate.regimes.common import variant_indicator
from glasnost.simulate.run import run_phases, simulate, sweep

__all__ = ["EXPERIMENTS", "audit", "closures", "complexity", "pipe", "pipe_plant", "ratchet", "run_experiment"]

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
    """The whole economy under the command regime with a tonnage and a use-value indicator:
    per year mean ``light_share``, ``use_value`` and ``output_true`` over seeds."""
    p = params or Params()
    table = sweep("indicator", ["tonnes", "use"], "command", years, seeds, p, enterprises=enterprises,
                  progress=progress)
    return _mean_by(table, "value", ("light_share", "use_value", "output_true", "quality"))


def ratchet(
    params: Params | None = None, lambdas: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0), years: int = 20,
    seeds: Sequence[int] = (0, 1, 2), enterprises: int | None = None, progress: Progress = None,
) -> pa.Table:
    """Concealment (share of true capacity kept off reports) and unused capacity, mean over
    years and seeds, for each ratchet lambda (command regime)."""
    table = sweep("ratchet", list(lambdas), "command", years, seeds, params, enterprises=enterprises,
                  progress=progress)
    return _mean_by(table, "value", ("concealment", "unused_capacity", "growth_true"), over_years=True)


def complexity(
    params: Params | None = None, products: Sequence[float] = (1e4, 2e4, 4e4, 8e4), years: int = 40,
    seeds: Sequence[int] = (0, 1, 2), enterprises: int | None = None, progress: Progress = None,
) -> pa.Table:
    """Mean growth over the years, command and democratic regimes, for each starting number
    of products to coordinate."""
    tables = [
        sweep("products", list(products), regime, years, seeds, params, enterprises=enterprises, progress=progress)
        for regime in ("command", "democratic")
    ]
    return pa.concat_tables(
        [_mean_by(t, "value", ("growth_true", "efficiency"), over_years=True, by_regime=True) for t in tables]
    )


def closures(
    params: Params | None = None, years: int = 30, seeds: Sequence[int] = (0, 1, 2), enterprises: int | None = None,
    progress: Progress = None, reform_after: int = 37,
) -> pa.Table:
    """Market regime with closures on and off: per year mean unemployment, closure lay-offs, wage
    spread, Gini, enterprises closed, true net output.

    ``value`` is ``True``/``False`` for the market from year 0 (the economy of year 0), and
    ``True``/``False after N command years`` for the 1987 reform proper: ``reform_after`` years of
    command planning, then ``years`` of the market on the same state (:func:`run_phases`; only
    the market years are kept, numbered from 0). ``reform_after=0`` leaves that part out.
    """
    measures = ("unemployment", "closure_layoffs", "wage_spread", "gini", "closed", "output_true")
    table = sweep("closures", [True, False], "market", years, seeds, params, enterprises=enterprises,
                  progress=progress)
    fresh = _mean_by(table, "value", measures)
    if reform_after < 1:
        return fresh
    base = params or Params()
    parts: list[pa.Table] = [fresh]
    for on in (True, False):
        runs = [
            run_phases([("command", reform_after), ("market", years)], int(seed), base.with_(closures=on),
                       enterprises=enterprises)
            for seed in seeds
        ]
        columns: dict[str, object] = {
            "value": [f"{on} after {reform_after} command years"] * years,
            "year": np.arange(years, dtype=np.int32),
        }
        for m in measures:
            columns[m] = np.mean([r[m][reform_after:] for r in runs], axis=0)
        parts.append(pa.table(columns).cast(fresh.schema))
    return pa.concat_tables(parts)


def audit(
    params: Params | None = None, probabilities: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5), years: int = 20,
    seeds: Sequence[int] = (0, 1, 2), enterprises: int | None = None, progress: Progress = None,
) -> pa.Table:
    """Concealment under democratic planning for each audit probability (mean over years and
    seeds), and command planning's concealment for reference (``value`` = ``command``)."""
    table = sweep("audit_probability", list(probabilities), "democratic", years, seeds, params,
                  enterprises=enterprises, progress=progress)
    dem = _mean_by(table, "value", ("concealment",), over_years=True)
    command = simulate(["command"], years, list(seeds), params, enterprises=enterprises)
    ref = pa.table({"value": ["command"], "concealment": [float(np.mean(command["concealment"].to_numpy()))]})
    return pa.concat_tables([dem, ref])


EXPERIMENTS: dict[str, Callable[..., pa.Table]] = {
    "pipe": pipe,
    "ratchet": ratchet,
    "complexity": complexity,
    "closures": closures,
    "audit": audit,
}


def run_experiment(name: str, **kwargs: object) -> pa.Table:
    """Run the named experiment; unknown names raise :class:`SimulationError`."""
    if name not in EXPERIMENTS:
        raise SimulationError(f"unknown experiment {name!r} (choose from {', '.join(EXPERIMENTS)})")
    return EXPERIMENTS[name](**kwargs)


def _mean_by(
    table: pa.Table, key: str, measures: Sequence[str], *, over_years: bool = False, by_regime: bool = False
) -> pa.Table:
    """Mean of ``measures`` over seeds (and years) for each value of ``key`` (and year)."""
    keys = [key, "regime"] if by_regime else [key]
    if not over_years:
        keys.append("year")
    grouped = table.group_by(keys, use_threads=False).aggregate([(m, "mean") for m in measures])
    return grouped.rename_columns([c.removesuffix("_mean") for c in grouped.column_names])
