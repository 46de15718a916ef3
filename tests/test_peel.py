"""The solver's set-up in one pass (glasnost.compute.peel) against the plain formulations, with
and without the compiled kernel."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from glasnost.compute import linear, peel
from glasnost.compute.linear import LeontiefSystem
from glasnost.data.synthetic import random_technology


@pytest.fixture(scope="module")
def A() -> sp.csr_array:  # noqa: N802 - the matrix's name in the docs
    return random_technology(20_000, 6, seed=3)


def test_peel_levels_match_the_product_per_level(A: sp.csr_array) -> None:
    off = peel.off_diagonal(A)
    fast = peel.peel_levels(off, sp.csr_array(off.T.tocsr()), max_levels=64)
    slow = peel.peel_levels_by_products(off, max_levels=64)
    assert len(fast) == len(slow) > 2
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("compiled", [True, False])
def test_transposed_submatrix_matches_fancy_indexing(A: sp.csr_array, compiled: bool) -> None:
    if compiled and not linear.COMPILED_KERNELS:
        pytest.skip("glasnost was installed without its C kernel")
    rng = np.random.default_rng(0)
    rows = rng.permutation(A.shape[0])[:15_000]
    cols = np.sort(rng.permutation(A.shape[1])[:12_000])[::-1].copy()
    got = peel.submatrix_t(A, rows, cols, compiled=compiled)
    want = sp.csr_array(A[rows][:, cols].T)
    want.sort_indices()
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)


def test_permuted_pair_matches_fancy_indexing(A: sp.csr_array) -> None:
    order = np.random.default_rng(1).permutation(A.shape[0])[:18_000]
    M, M_t = peel.permuted_pair(A, order)
    for got, transpose in ((M, False), (M_t, True)):
        want = peel.permuted_by_indexing(A, order, transpose=transpose)
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.data, want.data)


def test_solutions_are_unchanged(A: sp.csr_array) -> None:
    d = np.random.default_rng(2).random(A.shape[0])
    x, _ = LeontiefSystem(A).solve(d, rtol=1e-13)
    np.testing.assert_allclose(x - A @ x, d, rtol=1e-10, atol=1e-10)
    v, _ = LeontiefSystem(A).solve(d, transpose=True, rtol=1e-13)
    np.testing.assert_allclose(v - A.T @ v, d, rtol=1e-10, atol=1e-10)


def test_generator_layout_matches_stacking_and_binary_search() -> None:
    from glasnost.data import synthetic

    rng = np.random.default_rng(7)
    A = random_technology(3000, 5, seed=rng)
    L = sp.csr_array(sp.random_array((3, 3000), density=0.5, rng=rng))
    got = synthetic._inputs_by_process(A, L)
    want = sp.csr_array(sp.hstack([A.T, L.T], format="csr"))
    want.sort_indices()
    assert (got != want).nnz == 0 and got.has_sorted_indices
    weights = np.arange(1, 50_001, dtype=np.float64) ** -1.1
    cdf = np.cumsum(weights) / weights.sum()
    u = np.concatenate([rng.random(200_000), cdf[:1000], np.nextafter(cdf[:1000], 0)])
    u = u[u < 1.0]
    np.testing.assert_array_equal(
        synthetic._search_right(cdf, u, buckets=1 << 12), np.searchsorted(cdf, u, side="right")
    )


@pytest.mark.parametrize("compiled", [True, False])
def test_off_diagonal_matches_scipy(A: sp.csr_array, compiled: bool) -> None:
    if compiled and not linear.COMPILED_KERNELS:
        pytest.skip("glasnost was installed without its C kernel")
    # a diagonal and some stored zeros, which both drop
    M = sp.csr_array(A + sp.diags_array(np.linspace(0.0, 0.3, A.shape[0])))
    M.data[::97] = 0.0
    got = peel.off_diagonal(M, compiled=compiled)
    want = sp.csr_array(M - sp.diags_array(M.diagonal()))
    want.eliminate_zeros()
    want.sort_indices()
    assert got.nnz == want.nnz < M.nnz - A.shape[0]
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)


def test_the_techniques_transpose_is_a_transpose_and_saves_the_solver_one() -> None:
    from glasnost.compute.linear import _Split
    from glasnost.data.synthetic import generate

    technique = generate(5_000, processes_per_product=2, seed=4).technique
    A_t = technique.take_transpose()
    assert A_t is not None and technique.take_transpose() is None  # handed over once
    want = sp.csr_array(technique.A.T.tocsr())
    np.testing.assert_array_equal(A_t.indptr, want.indptr)
    np.testing.assert_array_equal(A_t.indices, want.indices)
    np.testing.assert_array_equal(A_t.data, want.data)
    # the split built with it is the split built by transposing
    a, b = _Split.of(technique.A, A_t), _Split.of(technique.A)
    np.testing.assert_array_equal(a.core, b.core)
    assert len(a.levels) == len(b.levels) > 1
    pairs = [(p[2], q[2]) for p, q in zip(a.levels, b.levels, strict=True)]
    for x, y in [(a.core_from_peeled, b.core_from_peeled), *pairs]:
        np.testing.assert_array_equal(x.indptr, y.indptr)
        np.testing.assert_array_equal(x.indices, y.indices)
        np.testing.assert_array_equal(x.data, y.data)


def test_threaded_product_is_scipys_bit_for_bit(A: sp.csr_array) -> None:
    from glasnost.compute.linear import csr_product

    x = np.random.default_rng(5).lognormal(0.0, 2.0, A.shape[1])
    want = A @ x
    got = csr_product(A, x)
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # exactly: each row summed in the same order
    wide = sp.csr_array(A[:, :15_000])  # not square: the scipy path where shapes differ
    np.testing.assert_array_equal(csr_product(wide, x[:15_000]), wide @ x[:15_000])
