"""Plans carry certificates computed independently of the solver."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from glasnost.compute import optimal_plan
from glasnost.compute.lp import INF, lagrangian_bound, primal_violation, solve_lp
from glasnost.data.synthetic import generate


def small_lp() -> tuple:
    # min x0 + 2 x1  s.t.  x0 + x1 >= 4,  x0 - x1 <= 1,  0 <= x <= 10 ; optimum 5.5 at (2.5, 1.5)
    c = np.array([1.0, 2.0])
    M = sp.csc_array(np.array([[1.0, 1.0], [1.0, -1.0]]))
    return c, M, np.array([4.0, -INF]), np.array([INF, 1.0]), np.zeros(2), np.full(2, 10.0)


def test_lagrangian_bound_is_exact_at_the_dual_and_valid_anywhere() -> None:
    c, M, rl, ru, cl, cu = small_lp()
    sol = solve_lp(c, M, rl, ru, cl, cu, method="simplex")
    assert sol.objective == pytest.approx(5.5, rel=1e-12)
    assert sol.dual_objective == pytest.approx(5.5, rel=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(200):  # any multipliers give a lower bound on the minimum
        y = rng.normal(size=2) * 3
        assert lagrangian_bound(c, M, rl, ru, cl, cu, y) <= 5.5 + 1e-12


def test_primal_violation_measures_the_worst_constraint() -> None:
    _, M, rl, ru, cl, cu = small_lp()
    assert primal_violation(M, np.array([2.5, 1.5]), rl, ru, cl, cu) <= 1e-15
    # x0 + x1 = 3 falls short of 4 by 1, relative to |4|
    assert primal_violation(M, np.array([1.5, 1.5]), rl, ru, cl, cu) == pytest.approx(0.25)
    assert primal_violation(M, np.array([12.0, 12.0]), rl, ru, cl, cu) == pytest.approx(0.2)


def test_a_loose_first_order_answer_is_not_called_optimal() -> None:
    economy = generate(400, processes_per_product=2, capacity_slack=1.2, labour_slack=1.0, final_share=1.0, seed=5)
    exact = optimal_plan(economy, "scale", method="simplex")
    assert exact.extra["status"] == "optimal" and exact.gap <= 1e-6
    loose = optimal_plan(economy, "scale", method="pdlp", tolerance=1e-2)
    # "optimal" only where the answer checks out; otherwise HiGHS's own word or "inexact"
    checks_out = loose.extra["violation"] <= 1e-6 and loose.gap <= 1e-6
    assert (loose.extra["status"] == "optimal") == checks_out or loose.extra["status"] not in ("optimal", "inexact")
    # whatever it says, its bound is a valid one
    assert loose.dual_bound >= exact.objective * (1 - 1e-9)


def test_method_large_agrees_with_simplex() -> None:
    economy = generate(300, processes_per_product=2, capacity_slack=1.3, labour_slack=1.0, final_share=1.0, seed=9)
    large = optimal_plan(economy, "scale", method="large")
    exact = optimal_plan(economy, "scale", method="simplex")
    assert large.objective == pytest.approx(exact.objective, rel=1e-6)
    assert large.dual_bound >= exact.objective * (1 - 1e-9)
