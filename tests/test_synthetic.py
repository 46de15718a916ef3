"""The generator's compiled layout (glasnost.data.synthetic) against scipy's construction of the
same economy, and the writer's coefficient table with and without the compiled kernel: the
same arrays bit for bit."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from glasnost.compute import linear
from glasnost.data import synthetic
from glasnost.data.synthetic import generate, random_technology
from glasnost.economy import io_v2
from glasnost.economy.model import Economy

pytestmark = pytest.mark.skipif(not linear.COMPILED_KERNELS, reason="glasnost was installed without its C kernel")


def scipy_technology(n: int, k: int, zipf: float, seed: int) -> sp.csr_array:
    """The input matrix as scipy builds it: COO to CSC (sorting each column's draws by row and
    adding repeated rows), columns scaled to the drawn shares, then CSR."""
    rng = np.random.default_rng(seed)
    weights = np.arange(1, n + 1, dtype=np.float64) ** -zipf
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    u = rng.random(n * k)
    rows = rng.permutation(n)[np.minimum(np.searchsorted(cdf, u, side="right"), n - 1)]
    raw = rng.lognormal(0.0, 1.0, n * k)
    A = sp.csc_array((raw, (rows, np.repeat(np.arange(n), k))), shape=(n, n))
    share = rng.uniform(0.3, 0.7, n)
    A.data *= np.repeat(share / np.asarray(A.sum(axis=0)).ravel(), np.diff(A.indptr))
    return sp.csr_array(A)


def same_csr(a: sp.sparray, b: sp.sparray) -> None:
    a, b = sp.csr_array(a), sp.csr_array(b)
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.data.tobytes() == b.data.tobytes()


def same_economy(a: Economy, b: Economy) -> None:
    for x, y in ((a.commodities, b.commodities), (a.processes, b.processes)):
        for name in ("ids", "supply", "targets", "capacity", "workplaces", "units"):
            if hasattr(x, name):
                assert np.asarray(getattr(x, name)).tolist() == np.asarray(getattr(y, name)).tolist(), name
    same_csr(a.processes.inputs, b.processes.inputs)
    same_csr(a.processes.outputs, b.processes.outputs)
    assert a._meta["productive_radius"] == b._meta["productive_radius"]


@pytest.mark.parametrize(("n", "k", "zipf", "seed"), [(3000, 10, 1.0, 0), (2000, 12, 2.0, 5), (7, 10, 1.0, 1)])
def test_the_compiled_input_matrix_is_scipys(n: int, k: int, zipf: float, seed: int) -> None:
    # zipf 2: most columns draw the top products several times, so the merge's order of
    # additions shows in the last bits
    same_csr(random_technology(n, k, zipf=zipf, seed=seed), scipy_technology(n, min(k, n), zipf, seed))


@pytest.mark.parametrize(
    "options",
    [
        {"n": 4000},
        {"n": 2500, "inputs_per_product": 12, "zipf": 2.0, "seed": 5},
        {"n": 1500, "processes_per_product": 3, "capacity_slack": 1.5, "seed": 3},
        {"n": 600, "labour_types": 1, "labour_slack": None, "seed": 9},
        {"n": 800, "inputs_per_product": 20, "seed": 2},  # over 16 draws a column: scipy's own way
    ],
)
def test_compiled_and_plain_generators_make_the_same_economy(
    options: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = options.pop("n")
    compiled = generate(n, **options)
    monkeypatch.setattr(synthetic, "_kernels", None)
    same_economy(compiled, generate(n, **options))


def test_gross_output_is_the_csr_iteration_bit_for_bit() -> None:
    A = random_technology(5000, 10, seed=7)
    d = np.random.default_rng(8).random(5000)
    x = d.copy()  # the iteration on A's CSR form, as scipy multiplies
    for _ in range(10_000):
        nxt = d + A @ x
        if np.abs(nxt - x).max() <= 1e-10 * np.abs(nxt).max():
            break
        x = nxt
    got = synthetic._neumann(sp.csc_array(A), d)
    assert got.tobytes() == nxt.tobytes()
    np.testing.assert_allclose(got - A @ got, d, rtol=0, atol=1e-9 * np.abs(got).max())


def test_the_column_sums_bound_the_radius_without_the_technique() -> None:
    economy = generate(3000, seed=2)
    assert "technique" not in economy.__dict__  # the check built no technique
    A = economy.technique.A
    assert economy._meta["productive_radius"] == np.asarray(A.sum(axis=0)).max() < 0.7
    assert io_v2._productive_cache(economy) is None


def table_columns(table: pa.Table) -> dict[str, list]:
    return {name: table.column(name).to_pylist() for name in table.column_names}


def test_the_compiled_coefficient_table_is_numpys(monkeypatch: pytest.MonkeyPatch) -> None:
    from glasnost.data.demo import demo_economy

    for economy in (generate(2000, processes_per_product=2, seed=1), demo_economy()):
        monkeypatch.setattr(io_v2, "COMPILED_ROWS", 0)
        compiled = io_v2.coefficients_table(economy.processes)
        monkeypatch.setattr(io_v2, "COMPILED_ROWS", 2**62)
        assert table_columns(compiled) == table_columns(io_v2.coefficients_table(economy.processes))
