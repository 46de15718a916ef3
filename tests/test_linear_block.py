"""Block solves: the compiled block kernel against numpy, and the deflated iteration on several
right-hand sides at once against per-column solves and SuperLU."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from glasnost.compute import linear
from glasnost.compute.linear import BLOCK_MAX, DIRECT_MAX, LeontiefSystem
from glasnost.data.synthetic import random_technology

needs_kernel = pytest.mark.skipif(not linear.COMPILED_KERNELS, reason="glasnost's C kernel is not built")


def _skewed_csr(n: int, dtype: type, seed: int) -> sp.csr_array:
    """Rows ordered by length as the solver orders products: at n = 20 011 the first row holds
    4.5% of the entries and the first 2048 rows 57%, as in the generated economy of 10^6
    products (int32 indices, as the kernel takes)."""
    rng = np.random.default_rng(seed)
    lengths = np.minimum(n, (n // 5) / np.arange(1, n + 1) ** 0.9 + rng.integers(0, 4, n)).astype(np.int64)
    rows = np.repeat(np.arange(n), lengths)
    cols = np.concatenate([rng.choice(n, size=m, replace=False) for m in lengths])
    M = sp.csr_array((rng.random(rows.size) * 0.1, (rows, cols)), shape=(n, n))
    M.indices, M.indptr = M.indices.astype(np.int32), M.indptr.astype(np.int32)
    return sp.csr_array((M.data.astype(dtype), M.indices, M.indptr), shape=M.shape)


@needs_kernel
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 1e-5)])
@pytest.mark.parametrize("k", [1, 2, 3, 5, BLOCK_MAX])
def test_block_kernel_equals_numpy(dtype: type, rtol: float, k: int) -> None:
    n = 20_011  # not a multiple of the kernel's row chunks
    M = _skewed_csr(n, dtype, seed=k)
    rng = np.random.default_rng(k)
    x, r = (rng.standard_normal((n, k)).astype(dtype) for _ in range(2))
    w = rng.standard_normal(n).astype(dtype)
    out, sums = np.empty((n, k), dtype), np.empty(2 * k)
    linear._kernels.residual_block(M.indptr, M.indices, M.data, x, r, w, out, sums, k, 2)
    expect = r.astype(np.float64) - x + M.astype(np.float64) @ x.astype(np.float64)
    np.testing.assert_allclose(out, expect, rtol=rtol, atol=rtol * np.abs(expect).max())
    np.testing.assert_allclose(sums[:k], (expect * expect).sum(axis=0), rtol=10 * rtol)
    np.testing.assert_allclose(sums[k:], w.astype(np.float64) @ expect, rtol=10 * rtol, atol=10 * rtol * n)


@needs_kernel
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_block_column_is_the_vector_kernel_bit_for_bit_on_any_threads(dtype: type) -> None:
    n, k = 30_001, 3
    M = _skewed_csr(n, dtype, seed=9)
    rng = np.random.default_rng(9)
    x, r = (rng.random((n, k)).astype(dtype) for _ in range(2))
    w = rng.random(n).astype(dtype)
    block, block_sums = np.empty((n, k), dtype), np.empty(2 * k)
    linear._kernels.residual_block(M.indptr, M.indices, M.data, x, r, w, block, block_sums, k, 1)
    for threads in (1, 2, 3):
        again, again_sums = np.empty((n, k), dtype), np.empty(2 * k)
        linear._kernels.residual_block(M.indptr, M.indices, M.data, x, r, w, again, again_sums, k, threads)
        assert np.array_equal(block, again) and np.array_equal(block_sums, again_sums)
        for c in range(k):
            out, sums = np.empty(n, dtype), np.empty(2)
            xc, rc = np.ascontiguousarray(x[:, c]), np.ascontiguousarray(r[:, c])
            linear._kernels.residual(M.indptr, M.indices, M.data, xc, rc, w, out, sums, threads)
            assert np.array_equal(out, block[:, c])
            assert np.array_equal(sums, block_sums[[c, k + c]])


@needs_kernel
def test_block_kernel_refuses_inconsistent_buffers() -> None:
    M = _skewed_csr(100, np.float64, seed=1)
    x, out, sums = np.ones((100, 3)), np.empty((100, 3)), np.empty(6)
    w = np.ones(100)
    with pytest.raises(ValueError, match="inconsistent"):  # k not the blocks' width
        linear._kernels.residual_block(M.indptr, M.indices, M.data, x, x, w, out, sums, 2, 1)
    with pytest.raises(ValueError, match="inconsistent"):  # sums too short
        linear._kernels.residual_block(M.indptr, M.indices, M.data, x, x, w, out, sums[:5], 3, 1)
    wide = np.ones((100, BLOCK_MAX + 1))
    with pytest.raises(ValueError, match="inconsistent"):  # wider than the kernel takes
        linear._kernels.residual_block(
            M.indptr, M.indices, M.data, wide, wide, w, wide.copy(), np.empty(2 * wide.shape[1]), wide.shape[1], 1
        )


def test_block_residual_without_the_kernel_equals_the_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    M = sp.csr_array(_skewed_csr(5_000, np.float64, seed=4))
    rng = np.random.default_rng(4)
    x, r = rng.random((5_000, 3)), rng.random((5_000, 3))
    w = rng.random(5_000)
    compiled = linear._BlockOperator(M, threads=2)
    out1 = np.empty_like(x)
    sums1 = compiled.block_residual_into(r, x, out1, w)
    monkeypatch.setattr(linear, "_kernels", None)
    monkeypatch.setattr(linear._BlockOperator, "MIN_BLOCK_NNZ", 1_000)  # several row blocks on the pool
    scipy_blocks = linear._BlockOperator(M, threads=3)
    assert not scipy_blocks.compiled and len(scipy_blocks.blocks) == 3
    out2 = np.empty_like(x)
    sums2 = scipy_blocks.block_residual_into(r, x, out2, w)
    expect = r - x + M @ x
    np.testing.assert_allclose(out2, expect, rtol=1e-13, atol=1e-13 * np.abs(expect).max())
    np.testing.assert_allclose(out1, out2, rtol=1e-13, atol=1e-13 * np.abs(expect).max())
    for got, expect in zip(sums2, ((out2 * out2).sum(axis=0), w @ out2), strict=True):
        np.testing.assert_allclose(got, expect, rtol=1e-12)
    if linear.COMPILED_KERNELS:
        for a, b in zip(sums1, sums2, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def _columnwise_error(X: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """||X_c - exact_c|| / ||exact_c|| per column (the absolute error where exact_c = 0)."""
    norms = np.linalg.norm(exact, axis=0)
    return np.linalg.norm(X - exact, axis=0) / np.where(norms > 0, norms, 1.0)


@pytest.mark.parametrize("transpose", [False, True])
def test_block_solve_equals_superlu_and_per_column_solves(transpose: bool) -> None:
    n = 2 * DIRECT_MAX  # above DIRECT_MAX: the iteration, not SuperLU, solves it
    A = random_technology(n, 4, seed=11)
    rng = np.random.default_rng(11)
    D = np.column_stack([rng.lognormal(size=n), rng.random(n), np.zeros(n), rng.random(n) * (rng.random(n) < 0.01)])
    system = LeontiefSystem(A)
    X, report = system.solve(D, transpose=transpose)
    assert report.method == "deflated" and report.residual <= 1e-11
    M = A.T if transpose else A
    exact = spsolve(sp.csc_array(sp.eye_array(n) - M), D)
    assert _columnwise_error(X, exact).max() <= 1e-10
    assert not X[:, 2].any()  # no demand, no output
    sweeps = 0
    for c in range(D.shape[1]):
        x, one = system.solve(D[:, c], transpose=transpose)
        assert one.residual <= 1e-11
        assert _columnwise_error(X[:, [c]], x[:, None])[0] <= 1e-10
        sweeps = max(sweeps, one.iterations)
        residual = np.linalg.norm(X[:, c] - M @ X[:, c] - D[:, c]) / (np.linalg.norm(D[:, c]) or 1.0)
        assert residual <= 1.01 * report.residual + 1e-15
    # one sweep moves all columns: the block takes about as many as its slowest column
    assert report.iterations <= sweeps + 2


def test_blocks_wider_than_the_kernel_go_in_groups() -> None:
    n = 1_500
    A = random_technology(n, 6, seed=2)
    D = np.random.default_rng(2).random((n, BLOCK_MAX + 3))
    X, report = LeontiefSystem(A).solve(D, method="deflated", transpose=True)
    exact = spsolve(sp.csc_array(sp.eye_array(n) - A.T), D)
    assert _columnwise_error(X, exact).max() <= 1e-10 and report.residual <= 1e-11


def test_block_solve_without_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 20_000
    A = random_technology(n, 10, seed=6)
    D = np.random.default_rng(6).random((n, 3))
    X1, rep1 = LeontiefSystem(A).solve(D, transpose=True)
    monkeypatch.setattr(linear, "_kernels", None)
    without = LeontiefSystem(A)
    X2, rep2 = without.solve(D, transpose=True)
    assert not without._op.compiled
    assert rep1.residual <= 1e-11 and rep2.residual <= 1e-11
    assert _columnwise_error(X2, X1).max() <= 1e-10


def test_stalled_columns_of_a_block_finish_with_gmres() -> None:
    # two disjoint copies of one technology: a double Perron root, so deflating one direction
    # leaves an eigenvalue of 0.9 and the Neumann sweeps crawl for every column
    block = sp.csr_array(random_technology(4_000, 6, seed=7))
    from scipy.sparse.linalg import eigs

    rho = float(np.abs(eigs(block, k=1, return_eigenvectors=False))[0])
    A = sp.csr_array(sp.block_diag([block * (0.9 / rho), block * (0.9 / rho)], format="csr"))
    D = np.random.default_rng(7).lognormal(size=(A.shape[0], 2))
    X, report = LeontiefSystem(A).solve(D)
    assert report.method == "deflated+gmres" and report.residual <= 1e-11
    assert _columnwise_error(X, spsolve(sp.csc_array(sp.eye_array(A.shape[0]) - A), D)).max() <= 1e-10


@needs_kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 3])
def test_deflated_update_is_numpys_bit_for_bit(dtype: type, k: int) -> None:
    rng = np.random.default_rng(k)
    e, s = (rng.standard_normal((10_007, k)).astype(dtype) for _ in range(2))
    u, coef = rng.random(10_007).astype(dtype), rng.standard_normal(k).astype(dtype)
    expect = e.copy()
    expect += s
    expect += u[:, None] * coef
    linear._kernels.deflated_update(e, s, u, coef, 2)
    assert np.array_equal(e, expect)
    with pytest.raises(ValueError, match="inconsistent"):  # one coefficient too many
        linear._kernels.deflated_update(e, s, u, np.ones(k + 1, dtype), 1)


@pytest.mark.parametrize("transpose", [False, True])
def test_the_loosely_settled_perron_pair_costs_no_sweeps(monkeypatch: pytest.MonkeyPatch, transpose: bool) -> None:
    n = 20_000
    A = random_technology(n, 10, seed=8)
    D = np.random.default_rng(8).lognormal(size=(n, 2))
    loose = LeontiefSystem(A)
    X, report = loose.solve(D, transpose=transpose)
    monkeypatch.setattr(linear._Perron, "SETTLE", 1e-9)  # power iterations to convergence
    tight = LeontiefSystem(A)
    X_tight, tight_report = tight.solve(D, transpose=transpose)
    assert report.iterations <= tight_report.iterations + 1
    assert loose._perron.rho == pytest.approx(tight._perron.rho, rel=1e-4)  # a Rayleigh quotient
    assert _columnwise_error(X, X_tight).max() <= 1e-10


def test_the_solution_check_is_the_entrywise_one() -> None:
    rng = np.random.default_rng(12)
    for _ in range(300):
        shape = (int(rng.integers(1, 6)), int(rng.integers(1, 4)))
        x = rng.standard_normal(shape) * 10.0 ** rng.integers(-12, 3, shape)
        d = rng.standard_normal(shape) + float(rng.integers(0, 3))
        if rng.random() < 0.2:
            x.flat[rng.integers(x.size)] = rng.choice([np.nan, np.inf, -np.inf])
        entrywise = np.isfinite(x).all() and not any(
            (d[:, c] >= 0).all() and (x[:, c] < -1e-9 * max(np.abs(x[:, c]).max(), 1.0)).any()
            for c in range(shape[1])
        )
        assert linear._finite_and_non_negative(x, d) == entrywise
        assert linear._finite_and_non_negative(x[:, 0], d[:, 0]) == linear._finite_and_non_negative(
            x[:, :1], d[:, :1]
        )
