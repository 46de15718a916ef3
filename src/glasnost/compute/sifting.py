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

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from glasnost.compute import linear
from glasnost.compute.linear import _kernels
from glasnost.compute.lp import INF, LPSolution, PlanError
from glasnost.economy import native

SIFT_COLUMNS = 250_000
"""Reduced LPs with more columns than this are sifted. Below, HiGHS takes about a second and
returns a vertex; sifted answers are optimal too, but at 10^5 products (seed 1 of
``bench/bench_plan.py``) their different round-off sent the pivoting rounds on another path
(a reference of capacity 0 at an activity of 1e-44 scaled the repaired plan to nothing) that
did not close the gap in 60 s, where HiGHS's closed it in two rounds."""

MAX_FREE = 5_000
"""Near-tie columns kept free in the first restricted LP."""

MAX_ADD = 5_000
"""Most wrongly fixed columns freed per pass (those that move the bound most)."""

_SLACK = 1e-11
"""The wrongly fixed columns left fixed may move the bound by this much of the objective in
all (the caller's check allows 1e-9)."""

IPM_ITERATIONS = 80
"""Most interior-point iterations (near-optimal prices suffice: the passes correct them)."""


@linear._one_blas_thread()  # BLAS on one thread meanwhile (see there)
def interior_prices(
    matrix: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_upper: np.ndarray,
    cost: np.ndarray,
    *,
    tol: float = 1e-9,
    max_iter: int = IPM_ITERATIONS,
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
    A = np.ascontiguousarray(A)
    upper_finite = np.isfinite(row_upper)
    if not (upper_finite | np.isfinite(row_lower)).all():
        raise ValueError("interior_prices: a row without any finite bound")
    sign = np.where(upper_finite, 1.0, -1.0)
    b = np.where(upper_finite, row_upper, row_lower) / rho
    # columns x in [0, 1] (t = 1 - x), duals zl, zu; slacks r in [0, r_upper] (t_r = r_upper - r
    # where finite), duals rl, ru; row prices y
    r_upper = np.where(upper_finite, row_upper - row_lower, INF) / rho
    # an equality row (an explicit row of a reference with capacity 0) gets a hair of room:
    # the interior point needs slacks strictly inside their bounds, its prices are only a guide
    r_upper = np.maximum(r_upper, 1e-9 * (1.0 + np.abs(b)))
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

    columns = _Columns(A, c, x, t, zl, zu)

    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - reported
        tr = np.where(bounded, r_up0 - r, 0.0)
        inv_tr = np.where(bounded, 1.0 / np.where(bounded, tr, 1.0), 0.0)
        normal, ax, comp_x, rd_max = columns.prepare(y)
        rp = b - ax - sign * r
        rd_r = -sign * y - rl + ru
        comp = comp_x + float(r @ rl + tr @ ru)
        mu = comp / count
        if (
            max(np.abs(rp).max(initial=0.0) / b_norm, rd_max / c_norm) <= tol
            and np.abs(rd_r).max(initial=0.0) <= tol * c_norm
            and comp <= tol * (1.0 + abs(float(c @ x)))
        ):
            break
        theta_r = 1.0 / (rl / r + ru * inv_tr)
        normal = normal + np.diag(theta_r)
        normal += np.eye(rows) * (1e-14 * float(np.trace(normal)) / rows)
        factor = scipy.linalg.cho_factor(normal)

        slacks = _Slacks(sign, bounded, rd_r, r, tr, inv_tr, theta_r, rl, ru)

        def direction(
            sm: float, affine: tuple[np.ndarray, ...] | None, s1: np.ndarray, s2: np.ndarray
        ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], float, float]:
            return _direction(columns, factor, rp, slacks, sm, affine, s1, s2)  # noqa: B023 - this iteration's

        rrl, trru = r * rl, tr * ru
        (dx, dzl, dzu), (dr, _, drl, dru), ap, ad = direction(0.0, None, -rrl, -trru)
        comp_a = float(
            (x + ap * dx) @ (zl + ad * dzl)
            + (t - ap * dx) @ (zu + ad * dzu)
            + (r + ap * dr) @ (rl + ad * drl)
            + np.where(bounded, tr - ap * dr, 0.0) @ (ru + ad * dru)
        )
        sm = min(1.0, (comp_a / comp) ** 3) * mu  # Mehrotra's centring
        affine = (dx.copy(), dzl.copy(), dzu.copy())
        (dx, dzl, dzu), (dr, dy, drl, dru), ap, ad = direction(
            sm, affine, sm - rrl - dr * drl, np.where(bounded, sm - trru + dr * dru, 0.0)
        )
        ap, ad = 0.995 * ap, 0.995 * ad
        x += ap * dx
        t -= ap * dx
        zl += ad * dzl
        zu += ad * dzu
        r += ap * dr
        y += ad * dy
        rl += ad * drl
        ru = np.where(bounded, ru + ad * dru, 0.0)
    # y prices the minimisation of -cost with A x + sign r = b (d(-objective)/d(b)), per
    # scaled row: d(objective)/d(original bound) = -y / rho
    return -y / rho, iterations



class _Columns:
    """The columns' part of each interior-point iteration, in the compiled kernels of
    :mod:`glasnost.compute._kernels` where built (two fused passes over the columns per
    direction), else in numpy.

    Columns ``x`` in ``[0, 1]`` with ``t = 1 - x`` and bound duals ``zl``, ``zu`` (updated in
    place by the caller); ``r1 = sm - x zl - dxa dzla`` and ``r2 = sm - t zu + dxa dzua`` are
    the complementarity targets of a direction (``affine = (dxa, dzla, dzua)``, or none: the
    predictor).
    """

    def __init__(self, A: np.ndarray, c: np.ndarray, x: np.ndarray, t: np.ndarray, zl: np.ndarray, zu: np.ndarray):
        self.A, self.c, self.x, self.t, self.zl, self.zu = A, c, x, t, zl, zu
        n = x.size
        self.theta, self.h = np.empty(n), np.empty(n)
        self.d = (np.empty(n), np.empty(n), np.empty(n))
        self.compiled = _kernels is not None and hasattr(_kernels, "ipm_rhs")

    def prepare(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(normal matrix ``A theta A^T``, ``A x``, ``x zl + t zu``, max dual residual); keeps
        ``theta`` and the predictor's ``h``."""
        rows = y.size
        self.y = y.copy()
        if self.compiled:
            normal, out = np.empty((rows, rows)), np.empty(2 * rows + 2)
            empty = np.empty(0)
            _kernels.ipm_rhs(
                self.A, self.c, y, self.x, self.t, self.zl, self.zu, 0.0, empty, empty, empty,
                self.theta, self.h, normal, out, _threads(),
            )  # fmt: skip
            self.pred_rhs = out[:rows].copy()
            return normal, out[rows : 2 * rows].copy(), float(out[2 * rows]), float(out[2 * rows + 1])
        A, x, t, zl, zu = self.A, self.x, self.t, self.zl, self.zu
        rd = self.c - A.T @ y - zl + zu
        self.rd = rd
        self.theta = 1.0 / (zl / x + zu / t)
        self.pred_rhs = None
        normal = (A * self.theta) @ A.T
        return normal, A @ x, float(x @ zl + t @ zu), float(np.abs(rd).max(initial=0.0))

    def _targets(self, sm: float, affine: tuple[np.ndarray, ...] | None) -> tuple[np.ndarray, np.ndarray]:
        r1 = sm - self.x * self.zl
        r2 = sm - self.t * self.zu
        if affine is not None:
            r1 -= affine[0] * affine[1]
            r2 += affine[0] * affine[2]
        return r1, r2

    def rhs(self, sm: float, affine: tuple[np.ndarray, ...] | None) -> np.ndarray:
        """``A theta h`` with ``h = rd - r1 / x + r2 / t``; keeps ``h``."""
        if self.compiled:
            if affine is None and self.pred_rhs is not None:
                return self.pred_rhs  # the predictor's, from prepare
            out = np.empty(2 * self.A.shape[0] + 2)
            _kernels.ipm_rhs(
                self.A, self.c, self.y, self.x, self.t, self.zl, self.zu, sm,
                *affine, self.theta, self.h, np.empty(0), out, _threads(),
            )  # fmt: skip
            return out[: self.A.shape[0]].copy()
        r1, r2 = self._targets(sm, affine)
        self.h = self.rd - r1 / self.x + r2 / self.t
        return self.A @ (self.theta * self.h)

    def step(
        self, dy: np.ndarray, sm: float, affine: tuple[np.ndarray, ...] | None
    ) -> tuple[tuple[np.ndarray, ...], list[float]]:
        """((dx, dzl, dzu), [max -dx/x, max dx/t, max -dzl/zl, max -dzu/zu], each at least 1)."""
        if self.compiled:
            out = np.empty(4)
            empty = np.empty(0)
            _kernels.ipm_step(
                self.A, dy, self.theta, self.h, self.x, self.t, self.zl, self.zu, sm,
                *(affine if affine is not None else (empty, empty, empty)), *self.d, out, _threads(),
            )  # fmt: skip
            return self.d, [max(1.0, float(v)) for v in out]
        r1, r2 = self._targets(sm, affine)
        dx = self.theta * (self.A.T @ dy - self.h)
        dzl = (r1 - self.zl * dx) / self.x
        dzu = (r2 + self.zu * dx) / self.t
        ratios = [
            float(np.max(-dx / self.x, initial=1.0)),
            float(np.max(dx / self.t, initial=1.0)),
            float(np.max(-dzl / self.zl, initial=1.0)),
            float(np.max(-dzu / self.zu, initial=1.0)),
        ]
        return (dx, dzl, dzu), ratios


def _ratio(v: np.ndarray, dv: np.ndarray) -> float:
    """max(-dv / v), at least 1 (v > 0): the largest step keeping v + step dv >= 0 is its inverse."""
    return max(1.0, float(np.max(-dv / v, initial=0.0)))


@dataclass
class _Slacks:
    """The row slacks' part of an interior-point iteration (a few entries)."""

    sign: np.ndarray
    bounded: np.ndarray
    rd: np.ndarray
    r: np.ndarray
    tr: np.ndarray
    inv_tr: np.ndarray
    theta: np.ndarray
    rl: np.ndarray
    ru: np.ndarray


def _direction(
    columns: _Columns,
    factor: tuple[np.ndarray, bool],
    rp: np.ndarray,
    sl: _Slacks,
    sm: float,
    affine: tuple[np.ndarray, ...] | None,
    s1: np.ndarray,
    s2: np.ndarray,
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], float, float]:
    """((dx, dzl, dzu), (dr, dy, drl, dru), primal step, dual step) of one Newton direction."""
    h_r = sl.rd - s1 / sl.r + s2 * sl.inv_tr
    dy = scipy.linalg.cho_solve(factor, rp + columns.rhs(sm, affine) + sl.sign * (sl.theta * h_r))
    d, ratios = columns.step(dy, sm, affine)
    dr = sl.theta * (sl.sign * dy - h_r)
    drl = (s1 - sl.rl * dr) / sl.r
    dru = (s2 + sl.ru * dr) * sl.inv_tr
    b = sl.bounded
    ap = 1.0 / max(*ratios[:2], _ratio(sl.r, dr), _ratio(sl.tr[b], -dr[b]))
    ad = 1.0 / max(*ratios[2:], _ratio(sl.rl, drl), _ratio(sl.ru[b], dru[b]))
    return d, (dr, dy, drl, dru), ap, ad


def _threads() -> int:
    return native.kernel_threads()


def sift(
    matrix: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_upper: np.ndarray,
    solve_restricted: object,
    *,
    max_free: int = MAX_FREE,
    max_add: int = MAX_ADD,
    max_passes: int = 20,
    max_iter: int = IPM_ITERATIONS,
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
        try:
            prices, ipm_iterations = interior_prices(
                matrix, row_lower, row_upper, col_upper, cost, max_iter=max_iter
            )
        except (ValueError, np.linalg.LinAlgError):  # e.g. a singular normal matrix: HiGHS then
            return None
    else:
        ipm_iterations = 0
    magnitude = np.abs(matrix)
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
        try:
            sol = solve_restricted(
                restricted, row_lower, row_upper,
                np.r_[col_upper[columns], 1.0 if at_upper.any() else 0.0, col_upper[-1]],
            )  # fmt: skip
        except PlanError:  # HiGHS found no point of the restricted LP: the caller falls back
            return None
        iterations += sol.iterations
        if sol.x.shape != (restricted.shape[1],) or not np.isfinite(sol.row_duals).all():
            return None
        y = sol.row_duals
        d_new = cost - matrix.T @ y
        x = np.zeros(m)
        x[columns] = sol.x[:-2]
        share = float(sol.x[-2])
        x[at_upper] = share * col_upper[at_upper]
        x[-1] = sol.x[-1]
        # fixed columns the new prices would move: at 0 with a positive reduced cost, at their
        # bound with a negative one (beyond round-off of the prices)
        size = magnitude.T @ np.abs(y) + np.abs(cost)
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
        worst = worst[order[left > _SLACK * max(1.0, abs(float(x[-1])))]]
        if not worst.size:
            return answer
        worst = worst[-max_add:]
        free[worst] = True
        d = d_new
    return answer
