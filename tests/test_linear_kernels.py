"""The compiled residual kernel against scipy, the solver with and without it, and its threads
after fork()."""

from __future__ import annotations

import multiprocessing
import shutil
import sysconfig

import numpy as np
import pytest
import scipy.sparse as sp

from glasnost.compute import linear
from glasnost.compute.linear import LeontiefSystem
from glasnost.data.synthetic import random_technology

NO_KERNEL = (
    "glasnost was installed without its C kernel (no C compiler then): install one, such as gcc, and run "
    "python setup.py build_ext --inplace (or pip install -e . again)"
)
needs_kernel = pytest.mark.skipif(not linear.COMPILED_KERNELS, reason=NO_KERNEL)


def test_the_kernel_is_built_where_a_compiler_is() -> None:
    # setup.py builds it optionally; a silent failure would only show as slower benchmarks
    if shutil.which(sysconfig.get_config_var("CC").split()[0] or "cc") is None:
        pytest.skip("no C compiler on this machine (optional: with one, such as gcc, glasnost builds its C kernel)")
    assert linear.COMPILED_KERNELS


def _random_csr(n: int, dtype: type, seed: int) -> sp.csr_array:
    rng = np.random.default_rng(seed)
    M = sp.csr_array(sp.random_array((n, n), density=8 / n, rng=rng, dtype=np.float64) * 0.1)
    M.indices, M.indptr = M.indices.astype(np.int32), M.indptr.astype(np.int32)
    return sp.csr_array((M.data.astype(dtype), M.indices, M.indptr), shape=M.shape)


@needs_kernel
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 1e-5)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_kernel_residual_equals_scipy(dtype: type, rtol: float, threads: int) -> None:
    n = 10_007  # not a multiple of the kernel's row chunks
    M = _random_csr(n, dtype, seed=threads)
    rng = np.random.default_rng(7)
    x, r, w = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    out, sums = np.empty(n, dtype), np.empty(2)
    linear._kernels.residual(M.indptr, M.indices, M.data, x, r, w, out, sums, threads)
    # the same in float64 with scipy's product
    expect = r.astype(np.float64) - x + M.astype(np.float64) @ x.astype(np.float64)
    np.testing.assert_allclose(out, expect, rtol=rtol, atol=rtol * np.abs(expect).max())
    np.testing.assert_allclose(sums, [expect @ expect, w.astype(np.float64) @ expect], rtol=10 * rtol)


@needs_kernel
def test_kernel_refuses_inconsistent_buffers() -> None:
    M = _random_csr(100, np.float64, seed=1)
    x, out, sums = np.ones(100), np.empty(100), np.empty(2)
    with pytest.raises(ValueError, match="inconsistent"):  # a vector one entry short
        linear._kernels.residual(M.indptr, M.indices, M.data, x[:99], x, x, out, sums, 1)
    with pytest.raises(ValueError, match="inconsistent"):  # float32 vectors for float64 values
        x32 = x.astype(np.float32)
        linear._kernels.residual(M.indptr, M.indices, M.data, x32, x32, x32, out.astype(np.float32), sums, 1)


def test_the_same_solution_with_and_without_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    A = random_technology(20_000, 10, seed=5)
    rng = np.random.default_rng(3)
    d, labour = rng.random(20_000), rng.random(20_000)
    with_kernel = LeontiefSystem(A)
    x1, rep1 = with_kernel.solve(d, rtol=1e-10)
    v1, _ = with_kernel.solve(labour, transpose=True, rtol=1e-10)
    monkeypatch.setattr(linear, "_kernels", None)  # scipy's kernels on row blocks instead
    without = LeontiefSystem(A)
    x2, rep2 = without.solve(d, rtol=1e-10)
    v2, _ = without.solve(labour, transpose=True, rtol=1e-10)
    assert not without._op.compiled
    assert rep1.residual <= 1e-10 and rep2.residual <= 1e-10
    np.testing.assert_allclose(x1, x2, rtol=1e-9)
    np.testing.assert_allclose(v1, v2, rtol=1e-9)


def test_repeated_solves_are_identical() -> None:
    # the kernel's threads take row chunks in any order; its sums must not depend on that
    system = LeontiefSystem(random_technology(50_000, 10, seed=2))
    d = np.random.default_rng(1).random(50_000)
    first, _ = system.solve(d, rtol=1e-10)
    for _ in range(3):
        again, _ = system.solve(d, rtol=1e-10)
        assert np.array_equal(first, again)


def _solve_in_child(queue: multiprocessing.Queue) -> None:
    system = LeontiefSystem(random_technology(30_000, 10, seed=4))
    _, report = system.solve(np.ones(30_000), rtol=1e-10)
    queue.put(report.residual)


def test_a_forked_child_can_solve_after_the_parent_did() -> None:
    # GNU OpenMP hangs a child forked after the parent's threads ran, unless it stays on one
    system = LeontiefSystem(random_technology(30_000, 10, seed=4))
    system.solve(np.ones(30_000), rtol=1e-10)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_solve_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung, "the forked child did not finish its solve in 60 s"
    assert queue.get(timeout=5) <= 1e-10
