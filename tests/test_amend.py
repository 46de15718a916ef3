"""The calculator's check of a member's amendment (:mod:`glasnost.compute.amend`), against a second
method: the amended plan is the largest scale of the other products with the amended product held
at its new amount, an LP written out here and solved with SciPy's ``linprog``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from glasnost.compute.amend import check_investment, check_target
from glasnost.data.demo import demo_economy
from glasnost.economy import Kind


def _floor_scale(economy, mix: np.ndarray, supply: np.ndarray, j: int, amount: float) -> float:  # type: ignore[no-untyped-def]
    """max z: net_j >= amount, net_k >= z mix_k (k != j produced), primary use <= supply, capacity."""
    net = np.asarray(economy.net_output.T.todense())  # commodities x processes
    n, P = net.shape
    primary = np.isin(economy.commodities.kinds, (Kind.LABOUR, Kind.RESOURCE))
    rows, rhs = [], []
    for k in range(n):
        if primary[k]:
            rows.append(np.append(-net[k], 0.0))
            rhs.append(supply[k])
        elif k == j:
            rows.append(np.append(-net[k], 0.0))
            rhs.append(-amount)
        else:
            rows.append(np.append(-net[k], mix[k]))
            rhs.append(0.0)
    bounds = [(0, c) for c in economy.processes.capacity] + [(0, None)]
    cost = np.zeros(P + 1)
    cost[P] = -1.0
    res = linprog(cost, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
    assert res.status == 0, res.message
    return float(-res.fun)


@pytest.fixture(scope="module")
def economy():  # type: ignore[no-untyped-def]
    return demo_economy()


@pytest.mark.parametrize("factor", [0.8, 1.05, 1.5])
def test_a_changed_amount_is_met_exactly_and_the_rest_scaled_as_the_second_method_says(economy, factor) -> None:  # type: ignore[no-untyped-def]
    c = economy.commodities
    mix, supply = c.targets.astype(float), c.supply.astype(float)
    j = int(np.flatnonzero(mix > 0)[0])
    cid = str(c.ids[j])
    base = check_investment(economy, mix, supply, 0.0, 0.0).base_scale
    amount = factor * base * mix[j]
    v = check_target(economy, mix, supply, 0.0, cid, amount)
    assert v.feasible
    assert v.plan.net_output[j] == pytest.approx(amount, rel=1e-7)
    assert v.scale == pytest.approx(_floor_scale(economy, mix, supply, j, amount), rel=1e-7)
    for k in np.flatnonzero(mix > 0):
        if k != j:  # every other product at the new scale of the same mix
            assert v.after[str(c.ids[k])] == pytest.approx(v.scale * mix[k], rel=1e-12)
    if factor == 1.05:  # a small change: the shadow prices predict the new scale to first order
        assert abs(v.scale_estimate - v.scale) <= 0.1 * abs(v.base_scale - v.scale)
    assert (v.scale < v.base_scale) == (factor > 1)


def test_an_impossible_amount_is_refused_with_the_limiting_supplies(economy) -> None:  # type: ignore[no-untyped-def]
    c = economy.commodities
    mix, supply = c.targets.astype(float), c.supply.astype(float)
    j = int(np.flatnonzero(mix > 0)[0])
    v = check_target(economy, mix, supply, 0.0, str(c.ids[j]), 1e9)
    assert not v.feasible and v.plan is None
    assert "cannot make" in v.why and "constraints conflict" in v.why and "capacity of process" in v.why


def test_the_investment_reserve_sets_aside_exactly_its_share_of_labour(economy) -> None:  # type: ignore[no-untyped-def]
    c = economy.commodities
    mix, supply = c.targets.astype(float), c.supply.astype(float)
    v = check_investment(economy, mix, supply, 0.0, 0.1)
    labour = c.kinds == Kind.LABOUR
    assert v.hours_estimate == pytest.approx(0.1 * supply[labour].sum())
    assert v.reserved[labour] == pytest.approx(0.1 * supply[labour])
    # the scale plan is homogeneous in the inputs when every input is scarce in proportion: here at most
    assert v.scale <= v.base_scale
