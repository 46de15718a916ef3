"""Property tests on generated economies: residuals, signs, the value equation, duality."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glasnost.compute import LeontiefSystem, gross_output, labour_values, optimal_plan
from glasnost.data.synthetic import generate, random_technology

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
METHODS = st.sampled_from(["direct", "gmres", "jacobi"])


@SETTINGS
@given(
    n=st.integers(2, 400),
    k=st.integers(1, 12),
    seed=st.integers(0, 2**31),
    share=st.floats(0.05, 0.95),
    method=METHODS,
)
def test_gross_output_residual_and_sign(n: int, k: int, seed: int, share: float, method: str) -> None:
    A = random_technology(n, k, input_share=(share * 0.5, share), seed=seed)
    d = np.random.default_rng(seed).lognormal(size=n) * (np.random.default_rng(seed + 1).random(n) < 0.7)
    x, report = LeontiefSystem(A).solve(d, method=method)
    residual = np.linalg.norm(x - A @ x - d) / max(np.linalg.norm(d), 1e-300)
    assert residual <= 1e-10
    assert report.residual <= 1e-10
    assert (x >= 0).all()
    assert (x >= d - 1e-12 * np.abs(x).max(initial=1.0)).all()  # gross covers final demand


@SETTINGS
@given(n=st.integers(2, 300), labour_types=st.integers(1, 4), seed=st.integers(0, 2**31), method=METHODS)
def test_labour_values_satisfy_value_equation(n: int, labour_types: int, seed: int, method: str) -> None:
    economy = generate(n, inputs_per_product=6, labour_types=labour_types, seed=seed, labour_slack=None)
    values = labour_values(economy, method=method)
    tech = economy.technique
    L = tech.primary.toarray()
    for k in range(labour_types):
        v = values.by_input[k]
        assert np.linalg.norm(v - (v @ tech.A + L[k])) <= 1e-10 * np.linalg.norm(L[k])
    assert (values.labour >= 0).all()
    # total labour embodied in final demand equals direct labour of the gross output
    gross = gross_output(economy, method=method)
    assert values.labour @ gross.final_demand == pytest.approx(gross.primary_use.sum(), rel=1e-9)


@SETTINGS
@given(
    n=st.integers(3, 60),
    processes=st.integers(1, 3),
    seed=st.integers(0, 2**31),
    objective=st.sampled_from(["scale", "weighted", "min_labour"]),
    method=st.sampled_from(["simplex", "ipm"]),
)
def test_strong_duality_of_every_plan(n: int, processes: int, seed: int, objective: str, method: str) -> None:
    economy = generate(
        n,
        inputs_per_product=4,
        labour_types=3,
        processes_per_product=processes,
        capacity_slack=1.5,
        labour_slack=1.3,
        final_share=1.0,
        seed=seed,
    )
    if objective == "weighted":
        plan = optimal_plan(
            economy, "weighted", weights=np.where(economy.commodities.kinds < 2, 1.0, 0.0), method=method
        )
    else:
        plan = optimal_plan(economy, objective, method=method)  # type: ignore[arg-type]
    assert plan.gap <= 1e-7
    # the plan is feasible
    c = economy.commodities
    primary = c.primary
    used = -plan.net_output[primary]
    tol = 1e-7 * max(1.0, float(np.abs(plan.net_output).max()))
    assert (used <= c.supply[primary] + tol).all()
    assert (plan.activity <= economy.processes.capacity + tol).all()
    assert (plan.activity >= -tol).all()
    # the dual values price a unit of each scarce input at most its contribution
    assert (plan.prices >= 0).all()


def test_the_dual_bound_is_the_value_of_scarce_inputs() -> None:
    economy = generate(
        40, inputs_per_product=5, labour_types=3, processes_per_product=2, capacity_slack=1.2, labour_slack=1.0, seed=7
    )
    plan = optimal_plan(economy, "scale")
    c = economy.commodities
    finite = np.isfinite(economy.processes.capacity)
    bound = float(plan.prices[c.primary] @ c.supply[c.primary]) + float(
        plan.capacity_rents[finite] @ economy.processes.capacity[finite]
    )
    assert bound == pytest.approx(plan.objective, rel=1e-8)


@pytest.mark.parametrize("transpose", [False, True])
def test_large_system_uses_an_iterative_method(transpose: bool) -> None:
    n = 20_000
    A = random_technology(n, 10, seed=3)
    d = np.random.default_rng(3).lognormal(size=n)
    system = LeontiefSystem(A)
    x, report = system.solve(d, transpose=transpose)
    assert report.method == "deflated" and report.iterations > 0
    M = A.T if transpose else A
    assert np.linalg.norm(x - M @ x - d) / np.linalg.norm(d) <= 1e-10
    # products outside every cycle of use were solved by substitution, not iteration
    split = system._split
    assert split.levels and 0 < split.core.size < n
    # the same answer as scipy's own GMRES on I - A, a second method
    np.testing.assert_allclose(x, _scipy_reference(M, d), rtol=1e-9)


@SETTINGS
@given(seed=st.integers(0, 2**31), shape=st.tuples(st.integers(1, 40), st.integers(1, 40)))
def test_entries_at_reads_a_sparse_matrix_like_a_dense_one(seed: int, shape: tuple[int, int]) -> None:
    from glasnost.economy.model import entries_at

    rng = np.random.default_rng(seed)
    dense = rng.random(shape) * (rng.random(shape) < 0.3)
    rows, cols = rng.integers(0, shape[0], 50), rng.integers(0, shape[1], 50)
    np.testing.assert_array_equal(entries_at(sp.csr_array(dense), rows, cols), dense[rows, cols])


def test_deflation_uses_the_perron_root_and_beats_the_plain_neumann_series() -> None:
    n = 20_000
    A = random_technology(n, 10, seed=5)
    d = np.random.default_rng(5).lognormal(size=n)
    system = LeontiefSystem(A)
    x, report = system.solve(d)
    # the Perron root of the core is A's spectral radius (the peeled part is triangular, radius of
    # its diagonal), computed here by ARPACK, a second method
    from scipy.sparse.linalg import eigs

    rho = float(np.abs(eigs(sp.csr_array(A, dtype=np.float64), k=1, which="LM", return_eigenvectors=False))[0])
    assert system._perron.rho == pytest.approx(rho, rel=1e-4)
    _, plain = system.solve(d, method="jacobi", rtol=1e-10)
    assert report.iterations < plain.iterations / 1.5  # rate 0.24 instead of rho = 0.5
    assert np.linalg.norm(x - A @ x - d) / np.linalg.norm(d) <= 1e-10


@pytest.mark.parametrize("transpose", [False, True])
def test_deflation_stalls_on_two_equal_blocks_and_gmres_finishes(transpose: bool) -> None:
    # two disjoint copies of one technology: the Perron root is double, so removing one
    # direction leaves a second eigenvalue of 0.9 and the Neumann iteration would crawl
    block = sp.csr_array(random_technology(5_000, 10, seed=7))
    from scipy.sparse.linalg import eigs

    rho = float(np.abs(eigs(block, k=1, return_eigenvectors=False))[0])
    A = sp.csr_array(sp.block_diag([block * (0.9 / rho), block * (0.9 / rho)], format="csr"))
    d = np.random.default_rng(7).lognormal(size=A.shape[0])
    x, report = LeontiefSystem(A).solve(d, transpose=transpose)
    assert report.method == "deflated+gmres"
    M = A.T if transpose else A
    np.testing.assert_allclose(x, _scipy_reference(M, d), rtol=1e-9)


def _scipy_reference(M: sp.csr_array, d: np.ndarray) -> np.ndarray:
    """(I - M)^-1 d by scipy's GMRES without restarts cut short, to 1e-14: an independent solver
    (SuperLU's fill-in on these random matrices takes minutes on a busy 2-core machine)."""
    from scipy.sparse.linalg import gmres

    x, info = gmres(sp.csr_array(sp.eye_array(M.shape[0]) - M), d, rtol=1e-14, atol=0.0, restart=60, maxiter=50)
    assert info == 0
    return x
