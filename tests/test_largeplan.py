"""large_plan against HiGHS on small generated economies, and its certificates checked from
first principles (the checks here do not call the module's own checkers)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glasnost.compute import PlanError, UnboundedPlanError, optimal_plan
from glasnost.compute.largeplan import large_plan, scale_bound, scale_lp
from glasnost.data.synthetic import generate
from glasnost.economy import Commodities, Economy, Kind, Processes

FAST = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def economy_for(n: int, seed: int, **kwargs: object) -> Economy:
    options = {"processes_per_product": 2, "capacity_slack": 1.5, "labour_slack": 1.0} | kwargs
    return generate(n, seed=seed, **options)  # type: ignore[arg-type]


def independent_check(economy: Economy, activity: np.ndarray, z: float, rtol: float = 1e-9) -> None:
    """Every constraint of the scale LP, from the economy's own tables."""
    c, p = economy.commodities, economy.processes
    net = (p.outputs - p.inputs).T @ activity
    produced = c.produced
    primary = c.primary
    gross = p.outputs.T @ activity
    assert (activity >= 0).all()
    finite = np.isfinite(p.capacity)
    assert (activity[finite] <= p.capacity[finite] * (1 + rtol)).all()
    shortfall = z * c.targets[produced] - net[produced]
    assert (shortfall <= rtol * np.maximum(gross[produced], 1e-12)).all()
    limited = primary[np.isfinite(c.supply[primary])]
    assert (-net[limited] <= c.supply[limited] * (1 + rtol)).all()


def certified_bound(economy: Economy, prices: np.ndarray) -> float:
    """Weak duality written out: z <= [s.w + sum_p cap_p max(0, profit_p)] / (t.pi)."""
    c, p = economy.commodities, economy.processes
    prices = np.maximum(prices, 0.0)
    limited = np.isfinite(c.supply) & np.isin(c.kinds, [int(Kind.LABOUR), int(Kind.RESOURCE)])
    produced = np.isin(c.kinds, [int(Kind.GOOD), int(Kind.PUBLIC_GOOD)])
    value = np.where(produced | limited, prices, 0.0)
    profit = (p.outputs - p.inputs) @ value  # labour enters with its price as a cost
    rents = np.where(profit > 0, p.capacity * profit, 0.0)
    return float((c.supply[limited] @ prices[limited] + rents.sum()) / (c.targets @ np.where(produced, prices, 0.0)))


@FAST
@given(n=st.integers(50, 300), seed=st.integers(0, 10_000))
def test_agrees_with_highs_simplex(n: int, seed: int) -> None:
    economy = economy_for(n, seed)
    exact = optimal_plan(economy, method="simplex")
    plan = large_plan(economy, rtol=1e-7)
    # strong duality for both LPs
    assert abs(exact.objective - exact.dual_bound) <= 1e-7 * max(1.0, exact.objective)
    assert plan.extra["status"] == "optimal"
    assert plan.gap <= 1e-7
    assert plan.objective <= plan.dual_bound
    # the same optimum, and the certificate brackets HiGHS's
    assert plan.objective == pytest.approx(exact.objective, rel=1e-6)
    assert plan.dual_bound >= exact.objective - 1e-9
    independent_check(economy, plan.activity, plan.objective)


@FAST
@given(n=st.integers(50, 200), seed=st.integers(0, 10_000))
def test_dual_bound_is_a_certificate(n: int, seed: int) -> None:
    economy = economy_for(n, seed)
    plan = large_plan(economy)
    recomputed = certified_bound(economy, plan.prices)
    assert recomputed == pytest.approx(plan.dual_bound, rel=1e-9)
    assert recomputed >= optimal_plan(economy, method="simplex").objective - 1e-9


@FAST
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 10.0))
def test_any_nonnegative_prices_bound_the_optimum(seed: int, scale: float) -> None:
    economy = economy_for(80, seed)
    optimum = optimal_plan(economy, method="simplex").objective
    lp = scale_lp(economy)
    rng = np.random.default_rng(seed)
    prices = rng.random(lp.n_goods) * scale
    input_prices = rng.random(lp.supply.size) * scale / lp.supply
    assert scale_bound(lp, prices, input_prices) >= optimum - 1e-9
    assert certified_bound_from_lp(economy, lp, prices, input_prices) == pytest.approx(
        scale_bound(lp, prices, input_prices), rel=1e-12
    )


def certified_bound_from_lp(economy: Economy, lp: object, prices: np.ndarray, input_prices: np.ndarray) -> float:
    full = np.zeros(economy.n_commodities)
    full[lp.produced] = prices  # type: ignore[attr-defined]
    full[lp.limited] = input_prices  # type: ignore[attr-defined]
    return certified_bound(economy, full)


@pytest.mark.parametrize(
    ("n", "options"),
    [
        (120, {"processes_per_product": 3}),
        (120, {"capacity_slack": None}),
        (120, {"capacity_slack": 0.8, "labour_slack": 1.2}),
        (100, {"processes_per_product": 1, "capacity_slack": 1.1}),
        (100, {"labour_types": 1}),
    ],
)
def test_other_shapes(n: int, options: dict) -> None:
    economy = economy_for(n, 7, **options)
    exact = optimal_plan(economy, method="simplex")
    plan = large_plan(economy)
    assert plan.gap <= 1e-6
    assert plan.objective == pytest.approx(exact.objective, rel=1e-6)
    assert plan.dual_bound >= exact.objective - 1e-9
    independent_check(economy, plan.activity, plan.objective)


def test_prices_and_rents_are_consistent() -> None:
    economy = economy_for(150, 3)
    plan = large_plan(economy)
    c = economy.commodities
    produced = c.produced
    assert c.targets[produced] @ plan.prices[produced] == pytest.approx(1.0)
    assert (plan.prices >= 0).all() and (plan.capacity_rents >= 0).all()
    # a process with a rent runs at capacity (complementary slackness, up to round-off)
    rented = plan.capacity_rents > 1e-9
    assert np.allclose(plan.activity[rented], economy.processes.capacity[rented], rtol=1e-6)


def test_time_limit_still_returns_a_certified_plan() -> None:
    economy = economy_for(200, 11, capacity_slack=0.8)
    plan = large_plan(economy, time_limit=0.0, rtol=0.0)
    assert plan.extra["status"] in {"time limit", "optimal"}
    assert plan.objective <= plan.dual_bound
    independent_check(economy, plan.activity, plan.objective)


def test_unbounded_without_scarce_inputs() -> None:
    economy = economy_for(60, 1, capacity_slack=None, labour_slack=None)
    with pytest.raises(UnboundedPlanError):
        large_plan(economy)


def test_joint_production_is_refused() -> None:
    commodities = Commodities.build(
        ["a", "b", "labour"], kinds=["good", "good", "labour"], supply=[0, 0, 10], targets=[1, 1, 0]
    )
    outputs = sp.csr_array(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]))
    inputs = sp.csr_array(np.array([[0.1, 0.0, 1.0], [0.2, 0.0, 1.0]]))
    processes = Processes(
        ids=np.array(["joint", "b-only"]),
        workplaces=np.array(["w1", "w2"]),
        capacity=np.array([np.inf, np.inf]),
        outputs=outputs,
        inputs=inputs,
    )
    economy = Economy.build(commodities, processes, check_productive=False)
    with pytest.raises(PlanError, match="exactly one output"):
        large_plan(economy)


@pytest.mark.parametrize("seed", [1, 4])
def test_an_inexact_reduced_solve_is_retried(seed: int) -> None:
    """On these economies HiGHS's scaled interior-point solve of the first reduced LP comes back
    "inexact" (it says optimal; its point does not check out). That must send the solver on to
    the next HiGHS variant (it used to raise PlanError), and the answer must still be HiGHS's."""
    economy = economy_for(300, seed, capacity_slack=0.8, labour_slack=1.2)
    exact = optimal_plan(economy, method="simplex")
    plan = large_plan(economy)
    assert plan.extra["status"] == "optimal"
    assert plan.objective == pytest.approx(exact.objective, rel=1e-9)
    assert plan.dual_bound >= exact.objective - 1e-9
    independent_check(economy, plan.activity, plan.objective)


def test_a_tiny_good_over_its_capacity_is_pivoted_not_scaled_away() -> None:
    """Good b is a 1e-14 share of good a's inputs. Its first process can make only half of
    what the plan needs: 5e-14 units against 1e-13, an excess far below the rounds' usual
    tolerance (1e-9 of a thousandth of the largest good). The rounds used to stop there
    ("stalled") and the repair scaled the whole plan by cap / activity = 0.5. Checked again
    strictly, b's second process (twice the labour per unit) takes over the rest, and the
    optimum is the closed form: labour 10 over 1 hour per set plus 1e-14 sets' worth of b."""
    tiny = 1e-14
    commodities = Commodities.build(
        ["a", "b", "labour"], kinds=["good", "good", "labour"], supply=[0, 0, 10], targets=[1, 0, 0]
    )
    processes = Processes(
        ids=np.array(["a1", "b1", "b2"]),
        workplaces=np.array(["wa", "wb1", "wb2"]),
        capacity=np.array([np.inf, tiny * 10 / 2, np.inf]),
        outputs=sp.csr_array(np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0]])),
        inputs=sp.csr_array(np.array([[0, tiny, 1.0], [0, 0, 1.0], [0, 0, 2.0]])),
    )
    economy = Economy.build(commodities, processes)
    plan = large_plan(economy)
    assert plan.extra["status"] == "optimal"
    # z sets use z hours in a1, z * tiny units of b: cap of b1 at 1 hour each, the rest at 2
    b_cap = tiny * 10 / 2
    z = (10 + b_cap) / (1 + 2 * tiny)
    assert plan.objective == pytest.approx(z, rel=1e-12)
    assert plan.gap <= 1e-9
    independent_check(economy, plan.activity, plan.objective)
