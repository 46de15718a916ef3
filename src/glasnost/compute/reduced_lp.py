"""The reduced LP of :mod:`glasnost.compute.largeplan`, solved by HiGHS and checked.

``max x[-1]`` s.t. ``row_lower <= matrix x <= row_upper``, ``0 <= x <= col_upper``: a few rows
(limited inputs and explicit rows) over up to 10^6 columns (the non-reference processes and
z). :func:`solve_reduced` sifts LPs of more than 250,000 columns (:mod:`glasnost.compute.sifting`),
then, where that fails, tries HiGHS variants until an independent check of the answer
(:func:`_reduced_error`) passes; :func:`_polish` recomputes the vertex from its basis. Under
MPI only rank 0 holds and solves it (:mod:`glasnost.compute.largeplan_blocks`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from glasnost.compute.lp import INF, LPSolution, PlanError, solve_lp
from glasnost.compute.sifting import SIFT_COLUMNS, sift

_MAX_POLISH_ENTRIES = 1_000_000
"""Largest basis block (active rows x basic columns) :func:`_polish` factorises."""


def solve_reduced(
    matrix: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_upper: np.ndarray,
    *,
    sifting: bool = True,
    prices: np.ndarray | None = None,
) -> LPSolution:
    """Solve ``max x[-1]`` s.t. ``row_lower <= matrix x <= row_upper``, ``0 <= x <= col_upper``.

    The reduced LP mixes coefficients over many orders of magnitude (embodied labour of whole
    sectors next to the effect of one process on one good). HiGHS usually solves it as given,
    but now and then reports as optimal a point that is not. So the answer is checked
    independently (:func:`_reduced_error`: duality gap and infeasibility recomputed from the
    returned primal and duals); if the check fails, the LP is solved again with columns
    scaled to ``[0, 1]`` and rows to a largest coefficient of 1, and the better answer is kept.
    Either way the answer is only a guide: plans and bounds are certified separately.

    Beyond ``SIFT_COLUMNS`` columns (and with finite column bounds) sifting comes first, from
    ``prices`` (row duals of a neighbouring LP, e.g. the previous round's) when given and else
    from an interior point; its answer is kept when it passes the same check.
    """
    best, best_error, statuses = None, INF, []
    if sifting and matrix.shape[1] > SIFT_COLUMNS and np.isfinite(col_upper).all():
        # from the given prices (a warm start), and failing that from the interior point's
        for start in [prices, None] if prices is not None else [None]:
            sifted = sift(matrix, row_lower, row_upper, col_upper, _solve_restricted, prices=start)
            error = INF if sifted is None else _reduced_error(matrix, row_lower, row_upper, col_upper, sifted)
            if error <= 1e-9:
                return sifted  # type: ignore[return-value]
            if error < best_error:
                best, best_error = sifted, error
            statuses.append(f"sifting{' (warm)' if start is not None else ''}: error {error:.1e}")
    for scaled, method in ((False, "ipm"), (True, "ipm"), (True, "simplex"), (False, "simplex")):
        sol = _solve_variant(matrix, row_lower, row_upper, col_upper, scaled=scaled, method=method)
        statuses.append(f"{method}{' scaled' if scaled else ''}: {sol.status}")
        error = _reduced_error(matrix, row_lower, row_upper, col_upper, sol) if _has_point(sol, matrix) else INF
        if error < best_error:
            best, best_error = sol, error
        if error <= 1e-9:
            break
    if best is None:
        raise PlanError(f"the reduced LP was not solved ({'; '.join(statuses)})")
    return best


def _solve_restricted(
    matrix: np.ndarray, row_lower: np.ndarray, row_upper: np.ndarray, col_upper: np.ndarray
) -> LPSolution:
    """:func:`solve_reduced` on a restricted LP of the sifting, itself not sifted."""
    return solve_reduced(matrix, row_lower, row_upper, col_upper, sifting=False)


def _has_point(sol: LPSolution, matrix: np.ndarray) -> bool:
    """Whether HiGHS returned a primal and dual point (of any quality) to check."""
    return sol.x.shape == (matrix.shape[1],) and sol.row_duals.shape == (matrix.shape[0],) and bool(
        np.isfinite(sol.x).all() and np.isfinite(sol.row_duals).all()
    )


def _solve_variant(
    matrix: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_upper: np.ndarray,
    *,
    scaled: bool,
    method: str,
) -> LPSolution:
    """One HiGHS solve of the reduced LP (``method``: ``ipm`` with crossover or ``simplex``),
    polished and unscaled."""
    col_scale = np.ones(matrix.shape[1])
    row_scale = np.ones(matrix.shape[0])
    S = matrix
    if scaled:
        col_scale = np.where(np.isfinite(col_upper) & (col_upper > 0), col_upper, 1.0)
        S = matrix * col_scale
        row_scale = np.abs(S).max(axis=1)
        row_scale = np.where(row_scale > 0, row_scale, 1.0)
        S = S / row_scale[:, None]
    cost = np.zeros(matrix.shape[1])
    cost[-1] = col_scale[-1]
    lo, hi, ub = row_lower / row_scale, row_upper / row_scale, col_upper / col_scale
    sol = solve_lp(
        cost, sp.csc_array(S), lo, hi, np.zeros(matrix.shape[1]), ub,
        maximize=True, method=method, tolerance=1e-10, explain=False,
    )  # fmt: skip
    if not _has_point(sol, S):
        return sol  # e.g. a time limit before any point: solve_reduced tries another variant
    # "inexact" (HiGHS said optimal, its point does not check out) or a limit: the point is
    # still polished and judged by _reduced_error, as an optimal one is
    sol.x, sol.row_duals = _polish(S, lo, hi, ub, cost, sol.x, sol.row_duals)
    sol.col_duals = (cost - S.T @ sol.row_duals) / col_scale
    sol.x = sol.x * col_scale
    sol.row_duals = sol.row_duals / row_scale
    sol.objective = float(sol.x[-1])
    return sol


def _reduced_error(
    matrix: np.ndarray, row_lower: np.ndarray, row_upper: np.ndarray, col_upper: np.ndarray, sol: LPSolution
) -> float:
    """max(relative duality gap, relative infeasibility) of a reduced-LP answer, recomputed.

    The bound is weak duality with the row duals ``y`` and the exact reduced costs
    ``d = c - M^T y``: ``sum y_r * (its bound) + sum_j max(d_j, 0) * upper_j``.
    """
    y = sol.row_duals
    d = -(matrix.T @ y)
    d[-1] += 1.0
    if ((y > 0) & ~np.isfinite(row_upper)).any() or ((y < 0) & ~np.isfinite(row_lower)).any():
        return INF
    if ((d > 0) & ~np.isfinite(col_upper)).any():
        return INF
    bound_rows = np.where(y > 0, y * np.where(y > 0, row_upper, 0.0), 0.0)
    bound_rows += np.where(y < 0, y * np.where(y < 0, row_lower, 0.0), 0.0)
    bound = float(np.sum(bound_rows) + np.sum(np.where(d > 0, d * np.where(d > 0, col_upper, 0.0), 0.0)))
    z = float(sol.x[-1])
    gap = abs(bound - z) / max(1.0, abs(z))
    size = np.abs(matrix) @ np.abs(sol.x) + np.abs(np.where(np.isfinite(row_upper), row_upper, 0.0))
    activity = matrix @ sol.x
    over = np.maximum(activity - row_upper, 0.0) + np.maximum(row_lower - activity, 0.0)
    return max(gap, float(np.max(over / np.maximum(size, 1e-300), initial=0.0)))


def _polish(
    S: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_upper: np.ndarray,
    cost: np.ndarray,
    x: np.ndarray,
    duals: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Recompute the vertex HiGHS found from its basis, to full floating-point accuracy.

    Columns strictly inside their bounds are basic, the others are snapped onto their bound;
    the basic values then solve the active rows exactly (minimum-norm least squares), and the
    row duals solve ``S_active,basic^T y = cost_basic``. Each part is kept only if it is at
    least as feasible as HiGHS's own (tolerances 1e-10 leave relative errors of 1e-9 in
    the plan otherwise).
    """
    tol = 1e-7 * np.where(np.isfinite(col_upper) & (col_upper > 0), col_upper, np.maximum(np.abs(x), 1.0))
    lower_bound = x <= tol
    upper_bound = np.isfinite(col_upper) & (x >= col_upper - tol)
    basic = ~lower_bound & ~upper_bound
    snapped = np.where(lower_bound, 0.0, np.where(upper_bound, col_upper, x))
    activity = S @ snapped
    scale = 1.0 + np.abs(activity)
    at_upper = np.isfinite(row_upper) & (np.abs(activity - row_upper) <= 1e-6 * scale)
    at_lower = np.isfinite(row_lower) & (np.abs(activity - row_lower) <= 1e-6 * scale) & ~at_upper
    active = at_upper | at_lower
    if not basic.any() or not active.any() or basic.sum() * active.sum() > _MAX_POLISH_ENTRIES:
        return x, duals
    block = S[np.ix_(active, basic)]
    target = np.where(at_upper, row_upper, row_lower)[active]
    step, *_ = np.linalg.lstsq(block, target - activity[active], rcond=None)
    polished = snapped.copy()
    polished[basic] += step
    if _infeasibility(S, row_lower, row_upper, col_upper, polished) <= _infeasibility(
        S, row_lower, row_upper, col_upper, x
    ) and polished[-1] >= x[-1] - 1e-9 * max(1.0, abs(x[-1])):
        x = polished
    y_active, *_ = np.linalg.lstsq(block.T, cost[basic], rcond=None)
    new_duals = np.zeros_like(duals)
    new_duals[active] = y_active
    signs_ok = (new_duals[at_upper] >= -1e-12).all() and (new_duals[at_lower] <= 1e-12).all()
    if signs_ok and np.abs(block.T @ y_active - cost[basic]).max(initial=0.0) <= 1e-12:
        duals = new_duals
    return x, duals


def _infeasibility(
    S: np.ndarray, row_lower: np.ndarray, row_upper: np.ndarray, col_upper: np.ndarray, x: np.ndarray
) -> float:
    activity = S @ x
    return float(
        max(
            np.max(np.maximum(row_lower - activity, 0.0), initial=0.0),
            np.max(np.maximum(activity - row_upper, 0.0), initial=0.0),
            np.max(np.maximum(-x, 0.0), initial=0.0),
            np.max(np.maximum(x - col_upper, 0.0), initial=0.0),
        )
    )
