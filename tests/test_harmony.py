"""The harmony planner: the harmony function, feasibility of its plans, z <= the LP optimum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glasnost.compute import optimal_plan
from glasnost.compute.harmony import harmony, harmony_plan, harmony_slope
from glasnost.data.synthetic import generate
from glasnost.economy import Economy

FAST = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def economy_for(n: int, seed: int) -> Economy:
    return generate(n, processes_per_product=2, capacity_slack=1.5, labour_slack=1.0, seed=seed)


def assert_feasible(economy: Economy, activity: np.ndarray, z: float, rtol: float = 1e-9) -> None:
    """Every constraint of the plan, from the economy's own tables."""
    c, p = economy.commodities, economy.processes
    net = (p.outputs - p.inputs).T @ activity
    gross = p.outputs.T @ activity
    assert (activity >= 0).all()
    finite = np.isfinite(p.capacity)
    assert (activity[finite] <= p.capacity[finite] * (1 + rtol)).all()
    produced = c.produced
    assert (z * c.targets[produced] - net[produced] <= rtol * np.maximum(gross[produced], 1e-12)).all()
    labour = c.labour
    assert (-net[labour] <= c.supply[labour] * (1 + rtol)).all()
    assert z >= 0


def test_harmony_function() -> None:
    s = np.linspace(-3, 3, 601)
    h = harmony(s)
    assert harmony(np.array([0.0]))[0] == 0.0
    assert np.allclose(harmony(np.array([-0.5, 1.0])), [-0.5 - 0.125, np.log(2.0)])
    # shortfalls hurt more than surpluses help, and the function is concave
    assert (-harmony(-np.abs(s)) >= harmony(np.abs(s)) - 1e-15).all()
    assert (np.diff(h, 2) <= 1e-12).all()
    # slope continuous at 0 and equal to the numerical derivative
    assert harmony_slope(np.array([-1e-12, 0.0, 1e-12])) == pytest.approx([1.0, 1.0, 1.0])
    numeric = (harmony(s + 1e-6) - harmony(s - 1e-6)) / 2e-6
    assert np.allclose(numeric, harmony_slope(s), atol=1e-6)


@FAST
@given(n=st.integers(50, 300), seed=st.integers(0, 10_000))
def test_plan_is_feasible_and_below_the_lp_optimum(n: int, seed: int) -> None:
    economy = economy_for(n, seed)
    plan = harmony_plan(economy, iterations=150)
    optimum = optimal_plan(economy, method="simplex")
    assert abs(optimum.objective - optimum.dual_bound) <= 1e-7 * max(1.0, optimum.objective)
    assert plan.violation <= 1e-9
    assert_feasible(economy, plan.activity, plan.scale)
    assert plan.scale <= optimum.objective + 1e-9
    assert plan.shortfall(optimum.objective) >= -1e-9
    # z really is the worst ratio of net output to target
    targeted = economy.commodities.targets > 0
    ratios = plan.net_output[targeted] / economy.commodities.targets[targeted]
    assert plan.scale == pytest.approx(ratios.min(), abs=1e-12)


def test_harmony_improves_on_the_lp_plan_and_is_deterministic() -> None:
    economy = economy_for(200, 5)
    c = economy.commodities
    targeted = c.targets > 0

    def total(net: np.ndarray) -> float:
        return float(harmony((net[targeted] - c.targets[targeted]) / c.targets[targeted]).sum())

    plan = harmony_plan(economy, iterations=300, seed=3)
    again = harmony_plan(economy, iterations=300, seed=3)
    assert np.array_equal(plan.activity, again.activity)
    assert plan.harmony == pytest.approx(total(plan.net_output))
    # the LP plan is feasible for the harmony problem too: the harmony planner must beat it
    lp_plan = optimal_plan(economy, method="simplex")
    assert plan.harmony > total(lp_plan.net_output)
    assert plan.iterations == 300 and plan.seconds > 0
