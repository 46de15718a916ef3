"""Sifting for reduced LPs (glasnost.compute.sifting), against HiGHS on the whole LP."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from glasnost.compute import optimal_plan, reduced_lp, sifting
from glasnost.compute.largeplan import large_plan
from glasnost.compute.lp import solve_lp
from glasnost.data.synthetic import generate


def reduced_like(seed: int, columns: int, explicit: bool, equality: bool = False) -> tuple[np.ndarray, ...]:
    """A reduced LP of the shape large_plan builds: three limited inputs (``<=`` rows), where
    each column saves some inputs and costs others, an optional two-sided explicit row, bounds
    spread over orders of magnitude (a tenth of them 0), and z last."""
    rng = np.random.default_rng(seed)
    rows = 4 if explicit else 3
    M = rng.normal(size=(rows, columns)) * rng.lognormal(-3, 2, size=columns) + 0.02 * rng.lognormal(-3, 2, columns)
    M[:, -1] = np.abs(rng.normal(size=rows)) + 0.5
    lower = np.r_[np.full(3, -np.inf), [0.0] * explicit]
    upper = np.r_[[50.0, 100.0, 150.0], [0.0 if equality else 25.0] * explicit]
    bound = rng.lognormal(0, 2, size=columns)
    bound[rng.random(columns) < 0.1] = 0.0
    bound[-1] = 1e6
    return M, lower, upper, bound


def highs_optimum(M: np.ndarray, lower: np.ndarray, upper: np.ndarray, bound: np.ndarray) -> float:
    cost = np.zeros(M.shape[1])
    cost[-1] = 1.0
    sol = solve_lp(
        cost, sp.csc_array(M), lower, upper, np.zeros(M.shape[1]), bound,
        maximize=True, method="simplex", tolerance=1e-10, explain=False,
    )  # fmt: skip
    assert sol.status == "optimal"
    return float(sol.x[-1])


@pytest.mark.parametrize(("seed", "explicit", "equality"), [(1, False, False), (2, True, False), (3, True, True)])
def test_sifting_agrees_with_highs(seed: int, explicit: bool, equality: bool) -> None:
    """``equality``: the explicit row of a reference process with capacity 0 (``0 <= . <= 0``),
    which left the interior point no room for its slack (it divided by zero)."""
    M, lower, upper, bound = reduced_like(seed, 6000, explicit, equality)
    # few free columns, so that most are fixed, aggregated and some corrected in later passes
    sol = sifting.sift(M, lower, upper, bound, reduced_lp._solve_restricted, max_free=300)
    assert sol is not None
    assert sol.x[-1] == pytest.approx(highs_optimum(M, lower, upper, bound), rel=1e-8)
    assert reduced_lp._reduced_error(M, lower, upper, bound, sol) <= 1e-9
    assert (sol.x >= 0).all() and (sol.x <= bound).all()


def test_interior_prices_are_near_the_optimal_duals() -> None:
    M, lower, upper, bound = reduced_like(4, 3000, True)
    cost = np.zeros(M.shape[1])
    cost[-1] = 1.0
    exact = solve_lp(
        cost, sp.csc_array(M), lower, upper, np.zeros(M.shape[1]), bound,
        maximize=True, method="simplex", tolerance=1e-10, explain=False,
    )  # fmt: skip
    y, iterations = sifting.interior_prices(M, lower, upper, bound, cost)
    assert iterations < 80
    np.testing.assert_allclose(y, exact.row_duals, rtol=1e-5, atol=1e-9 * np.abs(exact.row_duals).max())


def test_a_warm_start_from_a_neighbouring_lp() -> None:
    """Prices of a perturbed LP (as the previous round's are) start the passes; the answer is
    the new LP's optimum, without an interior point."""
    M, lower, upper, bound = reduced_like(5, 6000, False)
    old = sifting.sift(M * 1.01, lower, upper, bound, reduced_lp._solve_restricted)
    assert old is not None
    sol = sifting.sift(M, lower, upper, bound, reduced_lp._solve_restricted, prices=old.row_duals)
    assert sol is not None and "0 interior-point iterations" in sol.method
    assert sol.x[-1] == pytest.approx(highs_optimum(M, lower, upper, bound), rel=1e-8)
    assert reduced_lp._reduced_error(M, lower, upper, bound, sol) <= 1e-9


@pytest.mark.parametrize(("n", "seed", "rounds"), [(400, 7, 1), (300, 23, 2), (500, 1, 2)])
def test_large_plan_with_sifted_reduced_lps(monkeypatch: pytest.MonkeyPatch, n: int, seed: int, rounds: int) -> None:
    """Every reduced LP sifted (threshold lowered from 250,000 columns), the second round's
    from the first round's prices: the optimum is HiGHS's on the whole plan LP."""
    monkeypatch.setattr(reduced_lp, "SIFT_COLUMNS", 50)
    methods: list[str] = []
    sift = reduced_lp.sift

    def watched(*args: object, **kwargs: object) -> object:
        answer = sift(*args, **kwargs)  # type: ignore[arg-type]
        methods.append("none" if answer is None else answer.method)
        return answer

    monkeypatch.setattr(reduced_lp, "sift", watched)
    economy = generate(n, processes_per_product=2, capacity_slack=1.5, labour_slack=1.0, seed=seed)
    exact = optimal_plan(economy, method="simplex")
    plan = large_plan(economy)
    assert plan.extra["status"] == "optimal"
    assert plan.extra["rounds"] == rounds == len(methods)
    assert all(m.startswith("sifting") for m in methods)
    assert all("(0 interior-point iterations)" in m for m in methods[1:])  # warm started
    assert plan.objective == pytest.approx(exact.objective, rel=1e-8)
    assert plan.dual_bound >= exact.objective - 1e-9


def test_compiled_and_numpy_interior_points_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused C passes (where built) and the numpy ones take the same iterations to the same
    prices, and those are HiGHS's duals."""
    if sifting._kernels is None or not hasattr(sifting._kernels, "ipm_rhs"):
        pytest.skip("glasnost was installed without its C kernel")
    M, lower, upper, bound = reduced_like(6, 4000, True)
    cost = np.zeros(M.shape[1])
    cost[-1] = 1.0
    compiled = sifting.interior_prices(M, lower, upper, bound, cost)
    monkeypatch.setattr(sifting, "_kernels", None)
    plain = sifting.interior_prices(M, lower, upper, bound, cost)
    assert compiled[1] == plain[1]
    np.testing.assert_allclose(compiled[0], plain[0], rtol=1e-9, atol=1e-15)
    exact = solve_lp(
        cost, sp.csc_array(M), lower, upper, np.zeros(M.shape[1]), bound,
        maximize=True, method="simplex", tolerance=1e-10, explain=False,
    )  # fmt: skip
    np.testing.assert_allclose(plain[0], exact.row_duals, rtol=1e-5, atol=1e-9 * np.abs(exact.row_duals).max())
