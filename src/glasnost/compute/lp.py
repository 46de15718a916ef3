"""A thin, honest interface to HiGHS: pass a sparse LP, get primal, dual and a certificate.

Every LP glasnost solves goes through :func:`solve_lp`, which returns the primal and dual
solutions, checks strong duality from the returned duals (not from the solver's own report)
and, for an infeasible problem, a Farkas certificate naming the rows and bounds that conflict.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from glasnost.economy import GlasnostError

INF = float("inf")


class PlanError(GlasnostError):
    """A plan could not be computed; the message says why."""


class InfeasiblePlanError(PlanError):
    """The goals cannot all be met. ``conflicts`` lists the constraints that together conflict,
    the most heavily weighted in the Farkas certificate first."""

    def __init__(self, conflicts: list[str]) -> None:
        self.conflicts = conflicts
        shown = "; ".join(conflicts[:12]) + (f"; ... ({len(conflicts)} in all)" if len(conflicts) > 12 else "")
        super().__init__(f"the plan is infeasible: these constraints conflict: {shown}")


class UnboundedPlanError(PlanError):
    """The objective can grow without limit (some output needs no scarce input)."""


@dataclass
class LPSolution:
    """Primal and dual solution of ``max/min c x  s.t.  row_lower <= M x <= row_upper,
    col_lower <= x <= col_upper``.

    ``row_duals`` and ``col_duals`` follow the convention d(objective)/d(bound): for a
    maximisation a binding ``>=`` row has a non-positive dual. ``dual_objective`` is a bound
    recomputed from the row duals by weak duality (:func:`lagrangian_bound`) and ``violation``
    the largest relative constraint violation of ``x`` (:func:`primal_violation`), so ``gap``
    certifies optimality independently of the solver. ``status`` is HiGHS's, except
    ``"inexact"`` where HiGHS said optimal but the answer does not check out.
    """

    status: str
    x: np.ndarray
    objective: float
    row_activity: np.ndarray
    row_duals: np.ndarray
    col_duals: np.ndarray
    dual_objective: float
    violation: float
    method: str
    iterations: int
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return abs(self.objective - self.dual_objective) / max(1.0, abs(self.objective))


def new_highs():
    """A silent HiGHS instance; its copyright banner would otherwise go to standard output
    (and break ``--json`` output), so the constructor runs with file descriptor 1 redirected."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


REDUCED_COST_TOL = 1e-9
"""Reduced costs this small (relative to the cost scale) are read as zero in the dual bound."""

FEASIBILITY_RTOL = 1e-6
"""Largest relative constraint violation of a solution still reported as ``optimal``."""


def lagrangian_bound(
    c: np.ndarray,
    M: sp.csc_array,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    y: np.ndarray,
) -> float:
    """A bound on ``min c x`` over the LP's feasible set from any row multipliers ``y``.

    Weak duality through the Lagrangian: with ``y_i >= 0`` only on rows with a finite lower
    bound and ``y_i <= 0`` only on rows with a finite upper bound (other signs are set to 0),
    ``min c x >= sum_i (y_i+ l_i + y_i- u_i) + sum_j min over [lo_j, up_j] of (c - M^T y)_j x_j``.
    It does not trust the solver's duals to be feasible: a bad dual gives a weak (or -inf)
    bound, never a false one (up to reduced costs below ``REDUCED_COST_TOL``, read as zero).
    """
    y = np.where((y > 0) & np.isfinite(row_lower), y, 0.0) + np.where((y < 0) & np.isfinite(row_upper), y, 0.0)
    value = float(np.sum(np.where(y > 0, y * np.where(np.isfinite(row_lower), row_lower, 0.0), 0.0)))
    value += float(np.sum(np.where(y < 0, y * np.where(np.isfinite(row_upper), row_upper, 0.0), 0.0)))
    reduced = c - M.T @ y
    scale = np.abs(c) + np.abs(M).T @ np.abs(y)
    reduced = np.where(np.abs(reduced) <= REDUCED_COST_TOL * np.maximum(scale, 1.0), 0.0, reduced)
    at = np.where(reduced > 0, col_lower, np.where(reduced < 0, col_upper, 0.0))
    if not np.isfinite(at[reduced != 0]).all():
        return -INF
    return value + float(reduced @ np.where(reduced != 0, at, 0.0))


def primal_violation(
    M: sp.csc_array,
    x: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
) -> float:
    """Largest violation of any row or bound by ``x``, relative to max(1, |bound|)."""
    act = M @ x
    with np.errstate(invalid="ignore", divide="ignore"):
        parts = [
            (row_lower - act) / np.maximum(1.0, np.abs(row_lower)),
            (act - row_upper) / np.maximum(1.0, np.abs(row_upper)),
            (col_lower - x) / np.maximum(1.0, np.abs(col_lower)),
            (x - col_upper) / np.maximum(1.0, np.abs(col_upper)),
        ]
        return float(max((np.nanmax(np.where(np.isfinite(p), p, np.nan), initial=0.0) for p in parts), default=0.0))


def solve_lp(
    c: np.ndarray,
    M: sp.spmatrix | sp.sparray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    *,
    maximize: bool = False,
    method: str = "choose",
    time_limit: float | None = None,
    tolerance: float | None = None,
    row_names: list[str] | None = None,
    col_names: list[str] | None = None,
    describe_row: object = None,
    describe_col: object = None,
    explain: bool = True,
) -> LPSolution:
    """Solve an LP with HiGHS (``method``: ``choose``, ``simplex``, ``ipm`` or ``pdlp``).

    Raises :class:`InfeasiblePlanError` (with the conflicting constraints, named by
    ``describe_row(i)`` and ``describe_col(j)``) or :class:`UnboundedPlanError`.
    """
    import highspy

    start = time.perf_counter()
    M = sp.csc_array(M, dtype=np.float64)
    M.sort_indices()
    n_rows, n_cols = M.shape
    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("solver", method)
    h.setOptionValue("random_seed", 0)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    if tolerance is not None:
        for opt in (
            "primal_feasibility_tolerance",
            "dual_feasibility_tolerance",
            "ipm_optimality_tolerance",
            "pdlp_optimality_tolerance",
        ):
            h.setOptionValue(opt, float(tolerance))
    lp = highspy.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = n_rows
    lp.col_cost_ = np.asarray(c, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_upper, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = M.indptr.astype(np.int32)
    lp.a_matrix_.index_ = M.indices.astype(np.int32)
    lp.a_matrix_.value_ = M.data
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus()).lower()
    info = h.getInfo()
    iterations = int(
        info.simplex_iteration_count + max(info.ipm_iteration_count, 0) + max(info.pdlp_iteration_count, 0)
    )
    if status in ("infeasible", "unbounded or infeasible") and explain:
        conflicts = _explain_infeasible(h, M, row_lower, row_upper, col_lower, col_upper, describe_row, describe_col)
        if conflicts is not None:
            raise InfeasiblePlanError(conflicts)
    if status == "infeasible":
        raise InfeasiblePlanError([])
    if status in ("unbounded", "unbounded or infeasible"):
        raise UnboundedPlanError("the objective is unbounded: some goal needs nothing that is scarce")
    sol = h.getSolution()
    x = np.asarray(sol.col_value)
    row_act = np.asarray(sol.row_value)
    row_duals = np.asarray(sol.row_dual)
    col_duals = np.asarray(sol.col_dual)
    # HiGHS reports duals as d(objective)/d(rhs) for minimisation; for maximisation too
    sign = -1.0 if maximize else 1.0  # as a minimisation of sign * c
    bounds = (
        np.asarray(row_lower, float),
        np.asarray(row_upper, float),
        np.asarray(col_lower, float),
        np.asarray(col_upper, float),
    )
    dual_obj = sign * lagrangian_bound(sign * np.asarray(c, float), M, *bounds, sign * row_duals)
    violation = primal_violation(M, x, *bounds)
    objective = float(np.asarray(c, float) @ x)  # recomputed, as the bound is
    gap = abs(objective - dual_obj) / max(1.0, abs(objective))
    if status == "optimal" and not (violation <= FEASIBILITY_RTOL and gap <= FEASIBILITY_RTOL):
        status = "inexact"  # the solver said optimal; its answer does not check out
    return LPSolution(
        status=status,
        violation=violation,
        x=x,
        objective=objective,
        row_activity=row_act,
        row_duals=row_duals,
        col_duals=col_duals,
        dual_objective=dual_obj,
        method=f"highs-{method}",
        iterations=iterations,
        seconds=time.perf_counter() - start,
    )


def _explain_infeasible(
    h, M, row_lower, row_upper, col_lower, col_upper, describe_row, describe_col
) -> list[str] | None:
    """Names of the constraints in a Farkas certificate of infeasibility (None if none found)."""
    h.setOptionValue("presolve", "off")
    h.setOptionValue("solver", "simplex")
    h.run()
    _, has_ray, ray = h.getDualRay()
    if not has_ray:
        return None
    ray = np.asarray(ray)
    scale = np.abs(ray).max() or 1.0
    rows = np.flatnonzero(np.abs(ray) > 1e-9 * scale)
    rows = rows[np.argsort(-np.abs(ray[rows]))]
    names = [describe_row(int(i)) if describe_row else f"row {i}" for i in rows]
    # bounds on columns that the certificate leans on
    reduced = sp.csc_array(M).T @ ray
    # a positive entry leans on the column's upper bound (a capacity), a negative one on its lower
    # bound; the lower bound 0 (activity cannot be negative) goes without saying
    tol = 1e-9 * scale
    upper = (reduced > tol) & np.isfinite(col_upper)
    lower = (reduced < -tol) & np.isfinite(col_lower) & (np.asarray(col_lower) != 0)
    cols = np.flatnonzero(upper | lower)
    cols = cols[np.argsort(-np.abs(reduced[cols]))]
    names += [describe_col(int(j)) if describe_col else f"bound of column {j}" for j in cols]
    return [n for n in names if n]
