"""The result of an optimal plan, shared by every planner.

:func:`glasnost.compute.plan.optimal_plan` and :func:`glasnost.compute.largeplan.large_plan`
both return a :class:`Plan`; it lives here so that neither planner imports the other to name it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Plan:
    """An optimal plan and its valuations.

    Attributes
    ----------
    objective_kind : the objective solved.
    objective : its optimal value (sets for ``scale``, weighted output, or hours).
    activity : (processes,) activity level of each process.
    net_output : (commodities,) net output of each commodity (negative for inputs used).
    prices : (commodities,) shadow price of each commodity balance, >= 0.
    capacity_rents : (processes,) shadow price of each process's capacity, >= 0.
    scale : z for the ``scale`` objective, else ``None``.
    dual_bound : a bound on the optimum by weak duality from the plan's prices, recomputed
        independently of the solver (a certificate of optimality).
    gap : |objective - dual_bound| / max(1, |objective|).
    extra : ``status`` (``optimal``, or ``inexact`` when the solver's answer does not check
        out) and ``violation`` (largest relative constraint violation of ``activity``).
    method, iterations, seconds : how it was solved.
    """

    objective_kind: str
    objective: float
    activity: np.ndarray
    net_output: np.ndarray
    prices: np.ndarray
    capacity_rents: np.ndarray
    scale: float | None
    dual_bound: float
    gap: float
    method: str
    iterations: int
    seconds: float
    commodity_ids: np.ndarray
    process_ids: np.ndarray
    extra: dict = field(default_factory=dict)

    def price_of(self, commodity_id: str) -> float:
        return float(self.prices[_position(self.commodity_ids, commodity_id)])

    def net_of(self, commodity_id: str) -> float:
        return float(self.net_output[_position(self.commodity_ids, commodity_id)])

    def to_table(self):
        """Commodity table of the plan (pyarrow.Table): id, net output, price."""
        import pyarrow as pa

        return pa.table(
            {"commodity": pa.array(self.commodity_ids), "net_output": self.net_output, "price": self.prices}
        )


def _position(ids: np.ndarray, key: str) -> int:
    hits = np.flatnonzero(ids == key)
    if hits.size == 0:
        raise KeyError(key)
    return int(hits[0])
