"""Infeasible and unbounded plans are explained, never returned as numbers."""

from __future__ import annotations

import numpy as np
import pytest

from glasnost.compute import InfeasiblePlanError, PlanError, UnboundedPlanError, gross_output, optimal_plan
from glasnost.economy import Economy, NotProductiveError


def two_sector(supply: float, targets: list[float]) -> Economy:
    A = [[0.1, 0.3], [0.2, 0.1]]
    return Economy.from_leontief(A, [[1.0, 2.0]], ids=["grain", "steel"], supply=[supply], targets=targets)


def test_infeasible_targets_name_the_conflict() -> None:
    economy = two_sector(supply=5.0, targets=[10.0, 0.0])
    with pytest.raises(InfeasiblePlanError) as info:
        optimal_plan(economy, "min_labour")
    conflicts = " | ".join(info.value.conflicts)
    assert "target for grain" in conflicts
    assert "supply of labour" in conflicts
    assert "steel" not in conflicts.replace("balance of steel", "")  # steel has no target of its own
    # the labour the target needs, computed independently: l (I - A)^-1 d
    A = np.array([[0.1, 0.3], [0.2, 0.1]])
    need = np.array([1.0, 2.0]) @ np.linalg.solve(np.eye(2) - A, [10.0, 0.0])
    assert need > 5.0
    assert optimal_plan(two_sector(supply=need * 1.0001, targets=[10.0, 0.0]), "min_labour").objective == pytest.approx(
        need, rel=1e-9
    )


def test_capacity_conflict_is_named() -> None:
    A = [[0.1, 0.3], [0.2, 0.1]]
    economy = Economy.from_leontief(
        A, [[1.0, 2.0]], ids=["grain", "steel"], targets=[10.0, 0.0], capacity=[5.0, np.inf]
    )
    with pytest.raises(InfeasiblePlanError, match="capacity of process make-grain"):
        optimal_plan(economy, "min_labour")


def test_unbounded_plan_is_reported() -> None:
    economy = two_sector(supply=np.inf, targets=[1.0, 1.0])
    with pytest.raises(UnboundedPlanError, match="unbounded"):
        optimal_plan(economy, "weighted")
    with pytest.raises(UnboundedPlanError):
        optimal_plan(economy, "scale")


def test_scale_needs_a_target() -> None:
    with pytest.raises(PlanError, match="positive target"):
        optimal_plan(two_sector(supply=5.0, targets=[0.0, 0.0]), "scale")


def test_gross_output_refuses_an_unproductive_technique() -> None:
    economy = Economy.from_leontief([[0.5, 0.6], [0.9, 0.5]], ids=["coal", "steel"], check_productive=False)
    with pytest.raises(NotProductiveError, match=r"\[coal, steel\]"):
        gross_output(economy, [1.0, 1.0])


def test_min_labour_prices_are_labour_values_with_one_technique() -> None:
    """With one technique per product and only labour scarce, the LP's shadow prices are the
    labour values v = l (I - A)^-1 (a second, independent method)."""
    economy = two_sector(supply=np.inf, targets=[3.0, 4.0])
    plan = optimal_plan(economy, "min_labour")
    A = np.array([[0.1, 0.3], [0.2, 0.1]])
    v = np.linalg.solve((np.eye(2) - A).T, [1.0, 2.0])
    np.testing.assert_allclose(plan.prices[:2], v, rtol=1e-9)
    assert plan.objective == pytest.approx(v @ [3.0, 4.0], rel=1e-9)
