"""Measures every regime reports each year, and the vectorised helpers that compute them.

Per year and regime (names of the columns of :func:`glasnost.simulate.simulate`'s table):

- ``output_true``: net output (value added at base prices, hours) actually produced;
  ``output_reported``: what the reports add up to (official statistics for command planning:
  a chain index of reported output, with hidden inflation and hierarchy padding);
  ``report_gap``: reported / true - 1.
- ``growth_true``, ``growth_reported``: year-on-year growth of the two (NaN after a year with
  nothing produced); ``growth_trend``: compound yearly growth of true output from the common
  starting economy (net output of the initial state at full capacity, the same for every
  regime) to this year, ``(output_t / base)^(1 / (t + 1)) - 1``: the measure to compare regimes
  and settings by, since a dip in the first year does not count as growth afterwards.
- ``use_value``: use value delivered to households, base-price hours of consumer goods per
  member of the labour force per year, each weighted by use per unit (variant x quality);
  the same function for every regime (:func:`glasnost.simulate.regimes.common.households`).
- ``fulfilment_true``, ``fulfilment_reported``: output / target summed over enterprises.
- ``shortage``: share of households' demand (base-price value, in the needs' composition) that
  finds no goods, the same function for every regime; ``queue_hours``: hours a week
  a household spends queueing (proportional to shortage, ``queue_hours`` at 10%).
- ``unused_capacity``: 1 - output / true capacity; ``concealment``: 1 - reported capacity /
  true capacity.
- ``quality``: output-weighted mean quality (0..1); ``light_share``: output share of the lighter,
  better variants among enterprises that have one.
- ``unemployment``: unemployed / labour force; ``hours_worked``: hours per member of the labour
  force (working hours plus planning meetings).
- ``gini``: Gini of household income (employed at their enterprise's wage, unemployed at the
  benefit); ``wage_spread``: P90/P10 of wages between enterprises (employment-weighted).
- ``closed``: enterprises closed so far; ``closure_layoffs``: workers laid off by closures so
  far, as a share of the labour force; ``loss_making``: share of open enterprises with a loss
  at the prices in force; ``investment_rate``; ``products``: products to coordinate;
  ``meeting_hours``: hours per worker spent in planning meetings; ``rounds``: planning rounds;
  ``efficiency``: share of capacity usable given coordination; ``staffed``: share of the
  labour capacity needs that the labour force covers; ``effort``: output per worker-hour
  relative to full pay-for-result; ``hoarding``: inputs hoarded above need, share of inputs;
  ``input_shortfall``: share of inputs (by material cost) not delivered as planned or ordered;
  ``capital``: capital in place at the end of the year (base-price value, hours).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MEASURES", "gini", "gini_sorted", "income_distribution", "sector_sum", "weighted_quantile"]

MEASURES = (
    "output_true",
    "output_reported",
    "report_gap",
    "growth_true",
    "growth_reported",
    "growth_trend",
    "use_value",
    "fulfilment_true",
    "fulfilment_reported",
    "shortage",
    "queue_hours",
    "unused_capacity",
    "concealment",
    "quality",
    "light_share",
    "unemployment",
    "hours_worked",
    "gini",
    "wage_spread",
    "closed",
    "closure_layoffs",
    "loss_making",
    "investment_rate",
    "products",
    "meeting_hours",
    "rounds",
    "efficiency",
    "staffed",
    "effort",
    "hoarding",
    "input_shortfall",
    "capital",
)


def sector_sum(sector: np.ndarray, values: np.ndarray, n_sectors: int) -> np.ndarray:
    """Sum of ``values`` per sector (vectorised with ``bincount``)."""
    return np.bincount(sector, weights=values, minlength=n_sectors)


def gini(values: np.ndarray, weights: np.ndarray) -> float:
    """Gini coefficient of ``values`` held by ``weights`` people each (0 equal, 1 one has all)."""
    order = np.argsort(values, kind="stable")
    return gini_sorted(values[order], weights[order])


def gini_sorted(x: np.ndarray, w: np.ndarray) -> float:
    """Gini of values ``x`` (sorted ascending) held by ``w`` people each."""
    keep = w > 0
    x, w = x[keep], w[keep]
    cxw = np.cumsum(x * w)
    if x.size == 0 or cxw[-1] <= 0:
        return 0.0
    lorenz = cxw / cxw[-1]
    prev = np.concatenate(([0.0], lorenz[:-1]))
    return float(1.0 - np.sum(w / w.sum() * (lorenz + prev)))


def income_distribution(
    wages: np.ndarray, workers: np.ndarray, benefit: float, unemployed: float
) -> tuple[float, float, float]:
    """(Gini of household income, P10 and P90 of wages between enterprises), one sort.

    Employed households earn their enterprise's wage (``workers`` each), ``unemployed`` ones
    the ``benefit``; the wage quantiles are over the employed, weighted by workers.
    """
    order = np.argsort(wages, kind="stable")
    x, w = wages[order], workers[order]
    cw = np.cumsum(w)
    if cw.size == 0 or cw[-1] <= 0:
        return 0.0, float("nan"), float("nan")
    p10 = float(x[min(np.searchsorted(cw, 0.10 * cw[-1]), x.size - 1)])
    p90 = float(x[min(np.searchsorted(cw, 0.90 * cw[-1]), x.size - 1)])
    k = int(np.searchsorted(x, benefit))
    return gini_sorted(np.insert(x, k, benefit), np.insert(w, k, max(unemployed, 0.0))), p10, p90


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` weighted by ``weights``."""
    keep = weights > 0
    x, w = values[keep], weights[keep]
    if x.size == 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, q * cw[-1])])
