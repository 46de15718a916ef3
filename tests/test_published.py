"""Published answers, reproduced from the raw tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from glasnost.compute import LeontiefSystem, gross_output, multi_year_plan, optimal_plan
from glasnost.data.fiveyear import load_fiveyear
from glasnost.economy import Commodities, Economy, Processes

RTOL = 1e-6


def miller_blair() -> tuple[np.ndarray, np.ndarray]:
    Z = np.array([[150.0, 500.0], [200.0, 100.0]])
    x = np.array([1000.0, 2000.0])
    return Z, x


def test_miller_blair_coefficients_and_inverse() -> None:
    Z, x = miller_blair()
    A = Z / x  # column j divided by x_j
    np.testing.assert_allclose(A, [[0.15, 0.25], [0.20, 0.05]], rtol=RTOL)
    system = LeontiefSystem(A)
    published_inverse = np.array([[1.254125, 0.330033], [0.264026, 1.122112]])
    for method in ("direct", "gmres", "jacobi"):
        inverse = np.column_stack([system.solve(e, method=method, rtol=1e-14)[0] for e in np.eye(2)])
        # the book prints six decimals: the solution rounds to exactly those figures
        np.testing.assert_array_equal(np.round(inverse, 6), published_inverse)
        np.testing.assert_allclose(inverse, published_inverse, rtol=2e-6)
        # and agrees with a dense inverse, a second method, to machine precision
        np.testing.assert_allclose(inverse, np.linalg.inv(np.eye(2) - A), rtol=1e-12)


@pytest.mark.parametrize("method", ["direct", "gmres", "jacobi"])
def test_miller_blair_gross_output(method: str) -> None:
    Z, x = miller_blair()
    economy = Economy.from_leontief(Z / x, ids=["sector-1", "sector-2"])
    result = gross_output(economy, {"sector-1": 600.0, "sector-2": 1500.0}, method=method, rtol=1e-13)
    np.testing.assert_allclose(result.gross, [1247.525, 1841.584], rtol=RTOL)
    assert result.report.residual < 1e-12


def excavator_economy() -> Economy:
    """Kantorovich (1939): output per unit of machine time of products A, B, C on M1..M3."""
    rates = {"A": (105, 107, 64), "B": (56, 66, 38), "C": (56, 83, 53)}
    ids = ["A", "B", "C", "M1", "M2", "M3"]
    commodities = Commodities.build(
        ids, kinds=["good"] * 3 + ["resource"] * 3, supply=[0, 0, 0, 1, 1, 1], targets=[1, 1, 1, 0, 0, 0]
    )
    process_ids, outputs, inputs = [], [], []
    for product, (name, per_machine) in enumerate(rates.items()):
        for machine, rate in enumerate(per_machine):
            process_ids.append(f"{name}-on-M{machine + 1}")
            outputs.append(np.eye(6)[product] * rate)
            inputs.append(np.eye(6)[3 + machine])
    processes = Processes(
        ids=np.array(process_ids),
        workplaces=np.array(process_ids),
        capacity=np.full(9, np.inf),
        outputs=sp.csr_array(np.array(outputs)),
        inputs=sp.csr_array(np.array(inputs)),
    )
    return Economy.build(commodities, processes)


@pytest.mark.parametrize("method", ["choose", "simplex", "ipm"])
def test_kantorovich_excavators(method: str) -> None:
    plan = optimal_plan(excavator_economy(), "scale", method=method)
    assert plan.objective == pytest.approx(15720 / 223, rel=RTOL)
    assert plan.objective == pytest.approx(70.49327, rel=RTOL)
    # valuations are published to five significant figures
    for machine, published in zip(("M1", "M2", "M3"), (24.050, 28.344, 18.099), strict=True):
        assert round(plan.price_of(machine), 3) == pytest.approx(published, abs=1e-9)
    assert plan.dual_bound == pytest.approx(plan.objective, rel=1e-9)
    # every machine is fully used and every product is made in complete sets
    for machine in ("M1", "M2", "M3"):
        assert plan.net_of(machine) == pytest.approx(-1.0, rel=1e-9)
    for product in "ABC":
        assert plan.net_of(product) == pytest.approx(plan.objective, rel=1e-7)


PUBLISHED_FULFILMENT = [0.159221, 1.75043, 1.75259, 1.71516, 1.95906]
PUBLISHED_BREAD = [0.318443, 3.51837, 3.54022, 3.60183, 4.11402]


def six_figures(value: float) -> float:
    return float(f"{value:.6g}")


def test_five_year_plan_from_csv_tables(data_dir: Path) -> None:
    tables = load_fiveyear(data_dir / "cockshott-5yearplan")
    plan = multi_year_plan(tables.economy, tables.targets, tables.supply, initial_activity=tables.initial_activity)
    assert plan.objective == pytest.approx(7.33645, rel=RTOL)
    # the README gives six significant figures
    assert [six_figures(z) for z in plan.fulfilment] == PUBLISHED_FULFILMENT
    bread = list(plan.produced_ids).index("bread")
    assert [six_figures(b) for b in plan.final[:, bread]] == PUBLISHED_BREAD
    assert plan.gap < 1e-9
    # only the nonzero capital entries get stock variables (13 of 16 here), per year
    assert plan.stock.shape == (5, int((tables.economy.processes.capital.toarray() > 0).sum()))


def test_five_year_plan_matches_reference_lp(data_dir: Path) -> None:
    """The .lp file (Cockshott's own formulation, lp_solve syntax) solved directly with HiGHS
    is a second, independent method."""
    from lp_solve_format import solve_lp_solve_file

    objective, values = solve_lp_solve_file(data_dir / "cockshott-5yearplan" / "reference-plan.lp")
    tables = load_fiveyear(data_dir / "cockshott-5yearplan")
    plan = multi_year_plan(tables.economy, tables.targets, tables.supply, initial_activity=tables.initial_activity)
    assert plan.objective == pytest.approx(objective, rel=1e-9)
    reference = [values[f"targetFulfillmentForYear{t}"] for t in range(1, 6)]
    np.testing.assert_allclose(plan.fulfilment, reference, rtol=RTOL)
    bread = list(plan.produced_ids).index("bread")
    np.testing.assert_allclose(plan.final[:, bread], [values[f"outputOfbread{t}"] for t in range(1, 6)], rtol=RTOL)
