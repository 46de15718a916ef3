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


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
def test_peel_levels_match_the_product_per_level(
    A: sp.csr_array, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if compiled and not linear.COMPILED_KERNELS:
        pytest.skip("glasnost was installed without its C kernel")
    if not compiled:
        monkeypatch.setattr(peel, "_kernels", None)
    off = peel.off_diagonal(A)
    fast = peel.peel_levels(np.diff(off.indptr), sp.csr_array(off.T.tocsr()), max_levels=64)
    slow = peel.peel_levels_by_products(off, max_levels=64)
    assert len(fast) == len(slow) > 2
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("compiled, threads", [(True, 1), (True, 3), (False, 1)], ids=["compiled", "3 parts", "numpy"])
def test_transposed_submatrix_matches_fancy_indexing(
    A: sp.csr_array, compiled: bool, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glasnost.economy import native

    if compiled and not linear.COMPILED_KERNELS:
        pytest.skip("glasnost was installed without its C kernel")
    # rows cut into parts, each counted and written by a thread of its own
    monkeypatch.setattr(native, "_threads", threads)
    monkeypatch.setattr(peel, "PART_ROWS", 1_000)
    rng = np.random.default_rng(0)
    rows = rng.permutation(A.shape[0])[:15_000]
    cols = np.sort(rng.permutation(A.shape[1])[:12_000])[::-1].copy()
    got = peel.submatrix_t(A, rows, cols, compiled=compiled)
    want = sp.csr_array(A[rows][:, cols].T)
    want.sort_indices()
    assert got.shape == want.shape and got.has_sorted_indices
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)


def test_permuted_pair_matches_fancy_indexing(A: sp.csr_array) -> None:
    order = np.random.default_rng(1).permutation(A.shape[0])[:18_000]
    M, M_t = peel.permuted_pair(sp.csr_array(A.T.tocsr()), order)
    assert M.has_sorted_indices
    for got, transpose in ((M, False), (M_t, True)):
        want = peel.permuted_by_indexing(A, order, transpose=transpose)
        got = got.sorted_indices()  # the transpose keeps each row's entries in the order stored
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.data, want.data)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("sort", [True, False], ids=["sorted", "as stored"])
def test_gathered_submatrix_matches_fancy_indexing(
    A: sp.csr_array, compiled: bool, sort: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if compiled and not linear.COMPILED_KERNELS:
        pytest.skip("glasnost was installed without its C kernel")
    if not compiled:
        monkeypatch.setattr(peel, "_kernels", None)
    rng = np.random.default_rng(8)
    rows = rng.permutation(A.shape[0])[:15_000]
    cols = rng.permutation(A.shape[1])[:12_000]  # columns dropped: the rows are moved together
    got = peel.gathered_submatrix(A, rows, cols, sort=sort)
    want = sp.csr_array(A[rows][:, cols])
    assert got.shape == want.shape and got.nnz == want.nnz and got.has_sorted_indices == sort
    np.testing.assert_array_equal(got.indptr, want.indptr)
    if not sort:  # each row's entries in the order stored: the relabelled columns of A's rows
        stored = peel.submatrix(A, rows, cols)
        np.testing.assert_array_equal(got.indices, stored.indices)
        got = got.sorted_indices()
    want.sort_indices()
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


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
def test_the_technique_is_the_chosen_processes_inputs_divided_by_their_output(
    compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glasnost.data.synthetic import generate
    from glasnost.economy import native

    if compiled and native.kernels is None:
        pytest.skip("glasnost was installed without its C kernels")
    if not compiled:
        monkeypatch.setattr(native, "kernels", None)
    economy = generate(5_000, processes_per_product=2, seed=4)
    c, p = economy.commodities, economy.processes
    technique = economy.technique
    # the reference by scipy's indexing: the chosen rows, each divided by its output
    output = p.outputs[technique.process][:, c.produced].diagonal()
    chosen = sp.diags_array(1.0 / output) @ p.inputs[technique.process]
    for got, want in ((technique.A, chosen[:, c.produced].T), (technique.primary, chosen[:, c.primary].T)):
        want = sp.csr_array(want.tocsr())
        want.sort_indices()
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_allclose(got.data, want.data, rtol=1e-15)
    np.testing.assert_allclose(technique.column_sums, technique.A.sum(axis=0), rtol=1e-13)


def test_the_split_from_the_transpose_solves_like_the_direct_solver() -> None:
    import scipy.sparse.linalg as spla

    from glasnost.data.synthetic import generate

    technique = generate(5_000, processes_per_product=2, seed=4).technique
    split = peel.Split.of(technique.A_t)
    assert len(split.levels) > 1 and 0 < split.core.size < technique.size
    M = sp.csc_array(sp.eye_array(technique.size) - technique.A)
    d = np.random.default_rng(6).random(technique.size)
    for transpose in (False, True):
        system = LeontiefSystem(A_t=technique.A_t)
        x, _ = system.solve(d, transpose=transpose, method="deflated", rtol=1e-13)
        want = spla.spsolve(M.T if transpose else M, d)
        np.testing.assert_allclose(x, want, rtol=1e-10)
        # the residual recomputed through the split (peeled rows and columns) is the true one
        off = x * (1.0 + 1e-3 * np.random.default_rng(7).standard_normal(x.size))
        true = np.linalg.norm((M.T if transpose else M) @ off - d) / np.linalg.norm(d)
        assert system._residual(off, d, transpose) == pytest.approx(true, rel=1e-9)


def test_threaded_product_is_scipys_bit_for_bit(A: sp.csr_array) -> None:
    from glasnost.compute.linear import csr_product

    x = np.random.default_rng(5).lognormal(0.0, 2.0, A.shape[1])
    want = A @ x
    got = csr_product(A, x)
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # exactly: each row summed in the same order
    wide = sp.csr_array(A[:, :15_000])  # not square: the scipy path where shapes differ
    np.testing.assert_array_equal(csr_product(wide, x[:15_000]), wide @ x[:15_000])


def test_select_is_a_view_for_a_run_and_indexing_otherwise() -> None:
    from glasnost.economy.model import select

    values = np.arange(10) * 1.5
    for index in ([2, 3, 4, 5], [5], [2, 3, 5], [3, 2], [0, 0], [], [-1]):
        got = select(values, np.array(index, dtype=np.int64))
        np.testing.assert_array_equal(got, values[np.array(index, dtype=np.int64)])
    assert np.shares_memory(select(values, np.arange(2, 6)), values)
    assert not np.shares_memory(select(values, np.array([2, 3, 5])), values)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("vectors", [False, True], ids=["vector", "block"])
def test_in_place_products_by_scipys_public_product_are_its_compiled_loops(fmt: str, vectors: bool) -> None:
    from glasnost.compute import sparse_add

    M = (sp.random_array((300, 200), density=0.05, random_state=9)).asformat(fmt)
    rng = np.random.default_rng(10)
    k = 3 if vectors else 1
    x = rng.random(200 * k)
    name = f"{fmt}_matvec{'s' if vectors else ''}"
    fallback = sparse_add.added_by_product(sp.csr_array if fmt == "csr" else sp.csc_array, vectors)
    outs = []
    for add in (getattr(sparse_add, name), fallback):
        y = np.ones(300 * k)
        args = (300, 200, *((k,) if vectors else ()), M.indptr, M.indices, M.data, x, y)
        add(*args)
        outs.append(y)
    want = 1.0 + (M @ x.reshape(200, k)).ravel()
    np.testing.assert_allclose(outs[0], want, rtol=1e-14)
    np.testing.assert_allclose(outs[1], want, rtol=1e-14)
