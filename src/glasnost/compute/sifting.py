"""Sifting for reduced LPs of few rows and many columns (:mod:`glasnost.compute.reduced_lp`).

``max x[-1]`` s.t. ``row_lower <= matrix x <= row_upper``, ``0 <= x <= col_upper``, with a
handful of rows and up to millions of columns: HiGHS spends most of its time on the columns,
yet at the optimum nearly all of them sit on a bound that the sign of their reduced cost
decides. So:

1. :func:`interior_prices`: a Mehrotra predictor-corrector interior point on the
   ``rows x rows`` normal equations (one dense Cholesky factorisation per iteration, the rest
   vectorised passes over the columns) gives near-optimal row prices ``y``.
2. Columns whose reduced cost ``d_j = c_j - M_j^T y`` has a clear sign are fixed: at 0 when
   negative, at their bound when positive. Those at their bound are merged into one
   aggregated column (their sum at bound) with bounds ``[0, 1]``, so that the restricted LP
   keeps every point of the whole one that agrees with the fixing. The ``max_free`` columns
   with the smallest ``|d_j| u_j`` (the near-ties) stay free.
3. HiGHS solves the restricted LP (:func:`glasnost.compute.reduced_lp.solve_reduced`: a few
   thousand columns). Its prices are checked against every fixed column; contradicted columns
   are freed and step 3 repeats.

The caller accepts the answer only if the independent check of the whole LP passes
(``_reduced_error``); otherwise it falls back to HiGHS on the whole LP.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from glasnost.compute.lp import INF, LPSolution

SIFT_COLUMNS = 20_000
"""Reduced LPs with more columns than this are sifted."""

MAX_FREE = 5_000
"""Near-tie columns kept free in the restricted LP (and freed per pass)."""

"""Columns the interior point sees."""


def interior_prices(
    matrix: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_upper: np.ndarray,
    cost: np.ndarray,
    *,
    tol: float = 1e-9,
    max_iter: int = 80,
) -> tuple[np.ndarray, int]:
    """Near-optimal row duals of ``max cost.x`` s.t. ``row_lower <= matrix x <= row_upper``,
    ``0 <= x <= col_upper``, by a primal-dual interior point method.

    Columns are scaled to ``[0, 1]`` and rows to a largest coefficient of 1; each row gets a
    slack ``r``, ``matrix x + r = row_upper`` with ``0 <= r <= row_upper - row_lower`` (or
    ``matrix x - r = row_lower``, ``r >= 0`` where only the lower bound is finite). Every
    iteration solves the ``rows x rows`` normal equations by one Cholesky factorisation
    (predictor and Mehrotra corrector share it).

    Parameters
    ----------
    matrix : (rows, columns) dense.
    row_lower, row_upper : (rows,) bounds (``-inf``, ``inf`` allowed, not both).
    col_upper : (columns,) finite, non-negative; columns with bound 0 are left out.
    cost : (columns,) objective (maximised).
    tol : relative primal, dual and complementarity residuals to stop at.
    max_iter : largest number of iterations.

    Returns
    -------
    (y, iterations): row duals in the convention of :class:`LPSolution` (d objective / d bound:
    non-negative on a binding upper bound), and the iterations taken.
    """
    if not np.isfinite(col_upper).all() or (col_upper < 0).any():
        raise ValueError("interior_prices needs finite non-negative column bounds")
    rows = matrix.shape[0]
    keep = col_upper > 0
    A = matrix[:, keep] * col_upper[keep]
    c = -cost[keep] * col_upper[keep]  # minimised
    rho = np.abs(A).max(axis=1, initial=0.0)
    rho = np.where(rho > 0, rho, 1.0)
    A /= rho[:, None]
    upper_finite = np.isfinite(row_upper)
    if not (upper_finite | np.isfinite(row_lower)).all():
        raise ValueError("interior_prices: a row without any finite bound")
    sign = np.where(upper_finite, 1.0, -1.0)
    b = np.where(upper_finite, row_upper, row_lower) / rho
    # columns x in [0, 1] (t = 1 - x), duals zl, zu; slacks r in [0, r_upper] (t_r = r_upper - r
    # where finite), duals rl, ru; row prices y
    r_upper = np.where(upper_finite, row_upper - row_lower, INF) / rho
    bounded = np.isfinite(r_upper)
    r_up0 = np.where(bounded, r_upper, 0.0)
    x = np.full(A.shape[1], 0.5)
    t = np.full(A.shape[1], 0.5)  # 1 - x, kept apart: 1 - x loses its digits near x = 1
    r = np.where(bounded, 0.5 * r_up0, np.maximum(sign * (b - A @ x), 0.0) + 1.0)
    scale = max(1.0, float(np.abs(c).max(initial=0.0)))
    zl = np.full(A.shape[1], scale)
    zu = zl.copy()
    rl = np.full(rows, scale)
    ru = np.where(bounded, scale, 0.0)
    y = np.zeros(rows)
    b_norm = 1.0 + float(np.abs(b).max(initial=0.0))
    c_norm = 1.0 + float(np.abs(c).max(initial=0.0))
    count = 2 * A.shape[1] + rows + int(bounded.sum())

    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - reported
        tr = np.where(bounded, r_up0 - r, 0.0)
        rp = b - A @ x - sign * r
        rd = c - A.T @ y - zl + zu
        rd_r = -sign * y - rl + ru
        comp = float(x @ zl + t @ zu + r @ rl + tr @ ru)
        mu = comp / count
        if (
            max(np.abs(rp).max(initial=0.0) / b_norm, np.abs(rd).max(initial=0.0) / c_norm) <= tol
            and np.abs(rd_r).max(initial=0.0) <= tol * c_norm
            and comp <= tol * (1.0 + abs(float(c @ x)))
        ):
            break
        newton = _Newton(A, sign, bounded, rp, rd, rd_r, x, t, r, tr, zl, zu, rl, ru)
        xzl, tzu, rrl, trru = x * zl, t * zu, r * rl, tr * ru
        affine = newton.direction(-xzl, -tzu, -rrl, -trru)
        ap, ad = newton.steps(affine)
        dx, dr, _, dzl, dzu, drl, dru = affine
        comp_a = float(
            (x + ap * dx) @ (zl + ad * dzl)
            + (t - ap * dx) @ (zu + ad * dzu)
            + (r + ap * dr) @ (rl + ad * drl)
            + np.where(bounded, tr - ap * dr, 0.0) @ (ru + ad * dru)
        )
        sm = min(1.0, (comp_a / comp) ** 3) * mu  # Mehrotra's centring
        d = newton.direction(
            sm - xzl - dx * dzl,
            sm - tzu + dx * dzu,
            sm - rrl - dr * drl,
            np.where(bounded, sm - trru + dr * dru, 0.0),
        )
        ap, ad = newton.steps(d)
        ap, ad = 0.995 * ap, 0.995 * ad
        x += ap * d[0]
        t -= ap * d[0]
        r += ap * d[1]
        y += ad * d[2]
        zl += ad * d[3]
        zu += ad * d[4]
        rl += ad * d[5]
        ru = np.where(bounded, ru + ad * d[6], 0.0)
    # y prices the minimisation of -cost with A x + sign r = b (d(-objective)/d(b)), per
    # scaled row: d(objective)/d(original bound) = -y / rho
    return -y / rho, iterations


def _ratio_step(v: np.ndarray, dv: np.ndarray) -> float:
    """Largest step in (0, 1] keeping v + step dv >= 0 (v > 0): 1 / max(1, max(-dv / v))."""
    if not v.size:
        return 1.0
    worst = float(np.max(-dv / v))
    return 1.0 / worst if worst > 1.0 else 1.0


class _Newton:
    """One interior-point iteration's Newton system, factorised once for both directions.

    Columns ``x`` in ``[0, 1]`` (``t = 1 - x``, bound duals ``zl``, ``zu``), row slacks ``r``
    (``tr`` their room below a finite bound, mask ``bounded``; duals ``rl``, ``ru``);
    residuals ``rp`` (rows), ``rd`` and ``rd_r`` (dual, of the columns and of the slacks).
    """

    def __init__(
        self,
        A: np.ndarray,
        sign: np.ndarray,
        bounded: np.ndarray,
        rp: np.ndarray,
        rd: np.ndarray,
        rd_r: np.ndarray,
        *point: np.ndarray,
    ) -> None:
        self.A, self.sign, self.bounded, self.rp, self.rd, self.rd_r = A, sign, bounded, rp, rd, rd_r
        self.x, self.t, self.r, self.tr, self.zl, self.zu, self.rl, self.ru = point
        self.inv_x, self.inv_t = 1.0 / self.x, 1.0 / self.t
        self.inv_tr = np.where(bounded, 1.0 / np.where(bounded, self.tr, 1.0), 0.0)
        self.theta = 1.0 / (self.zl * self.inv_x + self.zu * self.inv_t)
        self.theta_r = 1.0 / (self.rl / self.r + self.ru * self.inv_tr)
        normal = (A * self.theta) @ A.T + np.diag(self.theta_r)
        rows = normal.shape[0]
        normal += np.eye(rows) * (1e-14 * float(np.trace(normal)) / rows)
        self.factor = scipy.linalg.cho_factor(normal)

    def direction(self, r1: np.ndarray, r2: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, ...]:
        """(dx, dr, dy, dzl, dzu, drl, dru) of ``A dx + sign dr = rp``,
        ``A^T dy + dzl - dzu = rd`` (and the slacks' alike), ``zl dx + x dzl = r1``,
        ``-zu dx + t dzu = r2`` (``s1``, ``s2``: the slacks')."""
        h = self.rd - r1 * self.inv_x + r2 * self.inv_t
        h_r = self.rd_r - s1 / self.r + s2 * self.inv_tr
        rhs = self.rp + self.A @ (self.theta * h) + self.sign * (self.theta_r * h_r)
        dy = scipy.linalg.cho_solve(self.factor, rhs)
        dx = self.theta * (self.A.T @ dy - h)
        dr = self.theta_r * (self.sign * dy - h_r)
        dzl = (r1 - self.zl * dx) * self.inv_x
        dzu = (r2 + self.zu * dx) * self.inv_t
        drl = (s1 - self.rl * dr) / self.r
        dru = (s2 + self.ru * dr) * self.inv_tr
        return dx, dr, dy, dzl, dzu, drl, dru

    def steps(self, d: tuple[np.ndarray, ...]) -> tuple[float, float]:
        """Largest primal and dual steps in (0, 1] that keep every variable non-negative."""
        dx, dr, _, dzl, dzu, drl, dru = d
        b = self.bounded
        primal = min(
            _ratio_step(self.x, dx), _ratio_step(self.t, -dx), _ratio_step(self.r, dr), _ratio_step(self.tr[b], -dr[b])
        )
        dual = min(
            _ratio_step(self.zl, dzl),
            _ratio_step(self.zu, dzu),
            _ratio_step(self.rl, drl),
            _ratio_step(self.ru[b], dru[b]),
        )
        return primal, dual


def sift(
    matrix: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_upper: np.ndarray,
    solve_restricted: object,
    *,
    max_free: int = MAX_FREE,
    max_passes: int = 20,
    prices: np.ndarray | None = None,
) -> LPSolution | None:
    """``max x[-1]`` over the whole LP by sifting (module docstring); ``None`` if it fails.

    ``solve_restricted(matrix, row_lower, row_upper, col_upper)`` solves a restricted LP of
    the same form (its last column is z). The answer is the whole LP's point and duals; the
    caller checks it.
    """
    assert callable(solve_restricted)
    m = matrix.shape[1]
    cost = np.zeros(m)
    cost[-1] = 1.0
    if prices is None:
        prices, ipm_iterations = interior_prices(matrix, row_lower, row_upper, col_upper, cost)
    else:
        ipm_iterations = 0
    y = prices
    free = np.zeros(m, bool)
    free[-1] = True
    weight = np.abs(cost - matrix.T @ y) * col_upper
    weight[col_upper <= 0] = INF  # fixed by their bounds whatever the price
    near = np.argpartition(weight[:-1], min(max_free, m - 2))[:max_free] if m > 1 else np.zeros(0, int)
    free[near[np.isfinite(weight[near])]] = True
    d = cost - matrix.T @ y
    iterations = ipm_iterations
    for _ in range(max_passes):
        at_upper = ~free & (d > 0) & (col_upper > 0)
        columns = np.flatnonzero(free[:-1])
        aggregate = matrix @ np.where(at_upper, col_upper, 0.0)
        restricted = np.column_stack([matrix[:, columns], aggregate, matrix[:, -1]])
        sol = solve_restricted(
            restricted, row_lower, row_upper, np.r_[col_upper[columns], 1.0 if at_upper.any() else 0.0, col_upper[-1]]
        )
        iterations += sol.iterations
        if sol.x.shape != (restricted.shape[1],) or not np.isfinite(sol.row_duals).all():
            return None
        y = sol.row_duals
        d_new = cost - matrix.T @ y
        x = np.zeros(m)
        x[columns] = sol.x[:-2]
        x[at_upper] = sol.x[-2] * col_upper[at_upper]
        x[-1] = sol.x[-1]
        # fixed columns the new prices would move: at 0 with a positive reduced cost, at their
        # bound with a negative one (beyond round-off of the prices)
        size = np.abs(matrix.T) @ np.abs(y) + np.abs(cost)
        wrong = ~free & (col_upper > 0) & (
            (at_upper & (d_new < -1e-12 * size)) | (~at_upper & (d_new > 1e-12 * size))
        )
        answer = LPSolution(
            status=sol.status,
            x=x,
            objective=float(x[-1]),
            row_activity=matrix @ x,
            row_duals=y,
            col_duals=d_new,
            dual_objective=INF,
            violation=0.0,
            method=f"sifting ({ipm_iterations} interior-point iterations) + {sol.method}",
            iterations=iterations,
            seconds=0.0,
        )
        # each wrongly fixed column moves the dual bound by |d_j| u_j: free the largest until
        # what is left is within round-off of the objective
        worst = np.flatnonzero(wrong)
        impact = np.abs(d_new[worst]) * col_upper[worst]
        order = np.argsort(impact)
        left = np.cumsum(impact[order])
        worst = worst[order[left > 1e-12 * max(1.0, abs(float(x[-1])))]]
        if not worst.size:
            return answer
        worst = worst[-max_free:]
        free[worst] = True
        d = d_new
    return answer
