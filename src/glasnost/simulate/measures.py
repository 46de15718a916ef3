"""Measures every regime reports each year, and the vectorised helpers that compute them.

Per year and regime (names of the columns of :func:`glasnost.simulate.simulate`'s table):

- ``output_true``: net output (value added at base prices, hours) actually produced;
  ``output_reported``: what the reports add up to (official statistics for command planning:
  a chain index of reported output, with hidden inflation and hierarchy padding);
  ``report_gap``: reported / true - 1.
- ``growth_true``, ``growth_reported``: year-on-year growth of the two.
- ``use_value``: use value delivered to households per worker, relative to year 0 of the
  regime (quantity x use per unit of the variant x quality).
- ``fulfilment_true``, ``fulfilment_reported``: output / target summed over enterprises.
- ``shortage``: share of households' demand (value) not met; ``queue_hours``: hours a week
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
  labour capacity needs that the labour force covers.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MEASURES", "gini", "sector_sum", "weighted_quantile"]

MEASURES = (
    "output_true",
    "output_reported",
    "report_gap",
    "growth_true",
    "growth_reported",
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
)


def sector_sum(sector: np.ndarray, values: np.ndarray, n_sectors: int) -> np.ndarray:
    """Sum of ``values`` per sector (vectorised with ``bincount``)."""
    return np.bincount(sector, weights=values, minlength=n_sectors)


def gini(values: np.ndarray, weights: np.ndarray) -> float:
    """Gini coefficient of ``values`` held by ``weights`` people each (0 equal, 1 one has all)."""
    keep = weights > 0
    x, w = values[keep], weights[keep]
    if x.size == 0 or (x * w).sum() <= 0:
        return 0.0
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    cw = np.cumsum(w)
    cxw = np.cumsum(x * w)
    total_w, total_xw = cw[-1], cxw[-1]
    # area under the Lorenz curve by trapezoids
    lorenz = cxw / total_xw
    prev = np.concatenate(([0.0], lorenz[:-1]))
    area = np.sum(w / total_w * (lorenz + prev) / 2.0)
    return float(1.0 - 2.0 * area)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` weighted by ``weights``."""
    keep = weights > 0
    x, w = values[keep], weights[keep]
    if x.size == 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, q * cw[-1])])
