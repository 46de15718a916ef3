"""Optimal plans in the manner of Kantorovich: choice of technique under scarce inputs.

The plan chooses an activity level y_p >= 0 for every process p. Net output of commodity c is
``sum_p (outputs - inputs)[p, c] * y_p``. Constraints: produced commodities meet their
targets (or a common multiple z of them), natural resources and labour types are used no more
than their supply, and each process runs at most at its capacity. Objectives:

``"scale"``
    maximise z, the number of complete "sets" of the target mix (Kantorovich 1939);
``"weighted"``
    maximise ``sum_c weights_c * net_c`` with net outputs at least the targets;
``"min_labour"``
    minimise total labour (hours, optionally weighted by type) to meet the targets.

The shadow prices (``prices``) are the dual values of the commodity balances, in units of the
objective per unit of the commodity: for ``"scale"``, sets per unit; for ``"min_labour"``,
hours per unit (labour values under the optimal technique).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from glasnost.compute.lp import INF, LPSolution, PlanError, solve_lp
from glasnost.compute.result import Plan
from glasnost.economy import Economy, Kind

__all__ = ["Objective", "Plan", "optimal_plan"]

Objective = Literal["scale", "weighted", "min_labour"]


def _vector(economy: Economy, values: object, default: np.ndarray, what: str) -> np.ndarray:
    """A per-commodity vector from None, a mapping id -> value, or an array over commodities."""
    if values is None:
        return default.copy()
    if isinstance(values, dict):
        out = np.zeros(economy.n_commodities)
        if values:
            idx = economy.commodities.index(list(values.keys()))
            out[idx] = np.asarray(list(values.values()), dtype=np.float64)
        return out
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (economy.n_commodities,):
        raise PlanError(f"{what} has shape {arr.shape}, expected ({economy.n_commodities},) (one per commodity)")
    return arr


def optimal_plan(
    economy: Economy,
    objective: Objective = "scale",
    *,
    targets: object = None,
    weights: object = None,
    supply: object = None,
    labour_weights: object = None,
    method: str = "choose",
    time_limit: float | None = None,
    tolerance: float | None = None,
) -> Plan:
    """Compute an optimal plan with HiGHS; see the module docstring for the model.

    Parameters
    ----------
    economy : the economy (technology, capacities, supplies, targets).
    objective : ``"scale"``, ``"weighted"`` or ``"min_labour"``.
    targets : final-output targets per commodity (array or ``{id: amount}``); default the
        economy's targets. For ``"scale"`` they define the mix; otherwise they are minima.
    weights : for ``"weighted"``, the value of a unit of each commodity's net output.
    supply : availability of resources and labour types (default the economy's supply).
    labour_weights : for ``"min_labour"``, weight of an hour of each labour type (default 1).
    method : HiGHS method: ``choose``, ``simplex``, ``ipm`` or ``pdlp``; or ``large`` for
        :func:`glasnost.compute.largeplan.large_plan` (the ``scale`` objective on single-output
        processes, exploiting the Leontief structure: the method for large economies).

    Raises
    ------
    InfeasiblePlanError : the targets cannot be met; names the conflicting constraints.
    UnboundedPlanError : the objective is unbounded.
    """
    if method == "large":
        if objective != "scale":
            raise PlanError("method 'large' solves the scale objective only")
        from glasnost.compute.largeplan import large_plan

        return large_plan(economy, targets=targets, supply=supply, time_limit=time_limit or 300.0)
    c = economy.commodities
    n, P = economy.n_commodities, economy.n_processes
    tgt = _vector(economy, targets, c.targets, "targets")
    sup = _vector(economy, supply, c.supply, "supply")
    kinds = c.kinds
    primary = (kinds == Kind.RESOURCE) | (kinds == Kind.LABOUR)
    N_T = sp.csc_array(economy.net_output.T)  # (commodities x processes)

    row_lower = np.where(primary, -sup, 0.0)
    row_upper = np.full(n, INF)
    col_lower = np.zeros(P)
    col_upper = np.asarray(economy.processes.capacity, dtype=np.float64)

    if objective == "scale":
        if not (tgt[~primary] > 0).any():
            raise PlanError("the scale objective needs a positive target for at least one product")
        z_col = sp.csc_array(-np.where(primary, 0.0, tgt).reshape(-1, 1))
        M = sp.hstack([N_T, z_col], format="csc")
        cost = np.zeros(P + 1)
        cost[P] = 1.0
        col_lower = np.append(col_lower, 0.0)
        col_upper = np.append(col_upper, INF)
        maximize = True
    elif objective == "weighted":
        w = _vector(economy, weights, np.where(primary, 0.0, 1.0), "weights")
        M = N_T
        cost = np.asarray(economy.net_output @ w).ravel()
        row_lower = np.where(primary, -sup, tgt)
        maximize = True
    elif objective == "min_labour":
        lw = _vector(economy, labour_weights, (kinds == Kind.LABOUR).astype(float), "labour_weights")
        M = N_T
        cost = -np.asarray(economy.net_output @ lw).ravel()  # hours used per unit of activity
        row_lower = np.where(primary, -sup, tgt)
        maximize = False
    else:
        raise PlanError(f"unknown objective {objective!r} (scale, weighted, min_labour)")

    def describe_row(i: int) -> str:
        cid = str(c.ids[i])
        if primary[i]:
            return f"supply of {cid} ({sup[i]:g} {c.units[i]!s})"
        if objective == "scale":
            return f"balance of {cid} (the target mix)"
        return f"target for {cid} ({row_lower[i]:g} {c.units[i]!s})"

    def describe_col(j: int) -> str:
        if j >= P:
            return ""
        return f"capacity of process {economy.processes.ids[j]!s} ({col_upper[j]:g})"

    sol = solve_lp(
        cost,
        M,
        row_lower,
        row_upper,
        col_lower,
        col_upper,
        maximize=maximize,
        method=method,
        time_limit=time_limit,
        tolerance=tolerance,
        describe_row=describe_row,
        describe_col=describe_col,
    )
    return _plan_from_solution(economy, objective, sol, maximize)


def _plan_from_solution(economy: Economy, objective: str, sol: LPSolution, maximize: bool) -> Plan:
    P = economy.n_processes
    activity = sol.x[:P]
    net = np.asarray(economy.net_output.T @ activity).ravel()
    sign = -1.0 if maximize else 1.0
    prices = np.maximum(sign * sol.row_duals, 0.0)
    rents = np.maximum(-sign * sol.col_duals[:P], 0.0)
    return Plan(
        objective_kind=objective,
        objective=sol.objective,
        activity=activity,
        net_output=net,
        prices=prices,
        capacity_rents=rents,
        scale=float(sol.x[P]) if objective == "scale" else None,
        dual_bound=sol.dual_objective,
        gap=sol.gap,
        method=sol.method,
        iterations=sol.iterations,
        seconds=sol.seconds,
        commodity_ids=economy.commodities.ids,
        process_ids=economy.processes.ids,
        extra={"status": sol.status, "violation": sol.violation},
    )
