"""Solving Leontief systems (I - A) x = d and v (I - A) = l at any size.

Small systems go to a sparse direct solver (SuperLU). Large ones go to restarted GMRES on
I - A, whose spectrum for a productive A lies in the disk of radius rho(A) around 1: the Perron
root is a lone outlier that GMRES removes in one step, and the rest converges at the rate of
the bulk of A's spectrum, far faster than the Neumann (Jacobi) series. Products are reordered
by how many others use them (the heavily used core first) so that the vector entries most read
by the matrix-vector product share cache lines, and the product runs on all cores through
row blocks (scipy's sparse kernels release the GIL).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from glasnost.economy import NotProductiveError

DIRECT_MAX = 3000
"""Largest system solved by the sparse direct method in ``method='auto'``."""


@dataclass(frozen=True)
class SolveReport:
    """How a linear system was solved.

    ``residual`` is ||(I - A) x - d||_2 / ||d||_2 (or its transpose), computed after the solve.
    """

    method: str
    iterations: int
    residual: float
    seconds: float


class _BlockOperator:
    """y = M @ x computed over row blocks on a thread pool."""

    def __init__(self, M: sp.csr_array, threads: int) -> None:
        n = M.shape[0]
        if threads <= 1 or M.nnz < 200_000:
            self.blocks = [M]
        else:
            # split rows so each block holds about the same number of nonzeros
            cuts = np.searchsorted(M.indptr, np.linspace(0, M.nnz, threads + 1)[1:-1])
            bounds = [0, *cuts.tolist(), n]
            self.blocks = [sp.csr_array(M[a:b]) for a, b in pairwise(bounds) if b > a]
        self.bounds = np.cumsum([0] + [b.shape[0] for b in self.blocks])
        self.pool = ThreadPoolExecutor(len(self.blocks)) if len(self.blocks) > 1 else None
        self.dtype = self.blocks[0].dtype

    def as_float32(self) -> _BlockOperator:
        """The same operator with float32 values (index arrays shared, not copied)."""
        twin = object.__new__(_BlockOperator)
        twin.blocks = [
            sp.csr_array((b.data.astype(np.float32), b.indices, b.indptr), shape=b.shape) for b in self.blocks
        ]
        twin.bounds, twin.pool, twin.dtype = self.bounds, self.pool, np.dtype(np.float32)
        return twin

    def __call__(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        if self.pool is None:
            out[:] = self.blocks[0] @ x
            return out

        def work(i: int) -> None:
            out[self.bounds[i] : self.bounds[i + 1]] = self.blocks[i] @ x

        list(self.pool.map(work, range(len(self.blocks))))
        return out


@dataclass
class _Split:
    """Products that no cycle of use passes through, peeled off for exact substitution.

    A product that nobody uses (level 0), or that only products of lower levels use, has a
    gross output fixed by its users' gross outputs: ``x_i = (d_i + sum_j A_ij x_j) / (1 - A_ii)``
    over users j, level by level, before the rest (the core) is solved. Since every user of a
    peeled product is peeled, core products have only core inputs, so labour values of the
    core come first and the peeled products' values follow, highest level first. In the
    generated economies (Zipf-distributed suppliers) about a third of products and nonzeros
    leave the iterative solve this way, and on real input-output tables the triangular part
    of the table does.
    """

    core: np.ndarray
    peeled: np.ndarray
    levels: list[tuple[np.ndarray, sp.csr_array, sp.csr_array, np.ndarray]]
    core_from_peeled: sp.csr_array  # A[core, peeled]: core products used by peeled ones

    MAX_LEVELS = 64

    @classmethod
    def of(cls, A: sp.csr_array) -> _Split:
        n = A.shape[0]
        diag = A.diagonal()
        pattern = sp.csr_array(A, copy=True)
        pattern.setdiag(0.0)
        pattern.eliminate_zeros()
        off = pattern.copy()
        pattern.data[:] = 1.0
        peeled = np.zeros(n, bool)
        level_sets = []
        for _ in range(cls.MAX_LEVELS):
            users_left = pattern @ (~peeled).astype(np.float64)
            new = np.flatnonzero((users_left == 0) & ~peeled)
            if new.size == 0:
                break
            peeled[new] = True
            level_sets.append(new)
            if new.size < max(1, n // 10_000):  # the rest is not worth a pass each
                break
        off_t = sp.csr_array(off.T)
        levels = [(S, sp.csr_array(off[S]), sp.csr_array(off_t[S]), 1.0 - diag[S]) for S in level_sets]
        core, peeled_idx = np.flatnonzero(~peeled), np.flatnonzero(peeled)
        core_from_peeled = sp.csr_array(off[core][:, peeled_idx])
        return cls(core=core, peeled=peeled_idx, levels=levels, core_from_peeled=core_from_peeled)

    def inflow_to_core(self, x: np.ndarray) -> np.ndarray:
        """Per product (zero outside the core): what the peeled products' gross output ``x``
        uses of each core product."""
        out = np.zeros(x.shape[0])
        out[self.core] = self.core_from_peeled @ x[self.peeled]
        return out

    def solve_peeled(self, x: np.ndarray, d: np.ndarray, *, transpose: bool) -> None:
        """Fill ``x`` on the peeled products (the core part of ``x`` must be known when
        ``transpose``, and is ignored otherwise)."""
        order = reversed(self.levels) if transpose else self.levels
        for S, users, inputs, one_minus_diag in order:
            x[S] = (d[S] + (inputs if transpose else users) @ x) / one_minus_diag


class LeontiefSystem:
    """A productive input-output matrix prepared for repeated solves.

    Parameters
    ----------
    A : (n, n) sparse matrix, ``A[i, j]`` = input of i per unit of j.
    threads : threads for the matrix-vector product (default: the machine's cores).
    reorder : reorder products by use count for cache locality (large systems only).

    Examples
    --------
    >>> import numpy as np
    >>> sys = LeontiefSystem(np.array([[0.15, 0.25], [0.20, 0.05]]))
    >>> x, report = sys.solve(np.array([600.0, 1500.0]))
    >>> np.round(x, 3)
    array([1247.525, 1841.584])
    """

    def __init__(self, A: object, *, threads: int | None = None, reorder: bool = True) -> None:
        self.A = sp.csr_array(A, dtype=np.float64)
        self.n = self.A.shape[0]
        self.threads = threads or os.cpu_count() or 1
        self.reorder = reorder and self.n > DIRECT_MAX

    @cached_property
    def _split(self) -> _Split:
        return _Split.of(self.A)

    @cached_property
    def _perm(self) -> np.ndarray:
        """Core products in the order the iterative solver stores them."""
        core = self._split.core
        if not self.reorder:
            return core
        uses = np.diff(self.A.indptr)[core]
        return core[np.argsort(-uses, kind="stable")]

    def _permuted(self, transpose: bool) -> sp.csr_array:
        p = self._perm
        M = sp.csr_array(self.A[p][:, p])
        if transpose:
            M = sp.csr_array(M.T)
        M.sort_indices()
        return M

    @cached_property
    def _op(self) -> _BlockOperator:
        return _BlockOperator(self._permuted(False), self.threads)

    @cached_property
    def _op_t(self) -> _BlockOperator:
        return _BlockOperator(self._permuted(True), self.threads)

    @cached_property
    def _op32(self) -> _BlockOperator:
        return self._op.as_float32()

    @cached_property
    def _op32_t(self) -> _BlockOperator:
        return self._op_t.as_float32()

    def _iterative(
        self, d: np.ndarray, transpose: bool, method: str, mixed: bool, **options: float
    ) -> tuple[np.ndarray, int]:
        """Peeled products by substitution, the core by GMRES or Jacobi (see :class:`_Split`)."""
        split, p = self._split, self._perm
        x = np.zeros(self.n)
        if not transpose:
            split.solve_peeled(x, d, transpose=False)
            rhs = d[p] + split.inflow_to_core(x)[p] if split.levels else d[p]
        else:
            rhs = d[p]
        # the residual that counts is the whole system's, relative to ||d||
        rhs_norm = float(np.linalg.norm(rhs))
        if rhs_norm > 0:
            options["rtol"] = options["rtol"] * float(np.linalg.norm(d)) / rhs_norm
        op = self._op_t if transpose else self._op
        if method == "gmres":
            inner = (self._op32_t if transpose else self._op32) if mixed else None
            xp, iterations = _gmres(op, rhs, inner=inner, **options)  # type: ignore[arg-type]
        else:
            xp, iterations = _jacobi(op, rhs, rtol=options["rtol"], max_iter=int(options["max_iter"]))
        x[p] = xp
        if transpose:
            split.solve_peeled(x, d, transpose=True)
        return x, iterations

    @cached_property
    def _lu(self) -> spla.SuperLU:
        M = sp.csc_array(sp.eye_array(self.n, format="csc") - self.A)
        try:
            return spla.splu(M)
        except RuntimeError as exc:  # exactly singular
            raise NotProductiveError([], 1.0, where="technology") from exc

    def solve(
        self,
        d: np.ndarray,
        *,
        transpose: bool = False,
        method: str = "auto",
        rtol: float = 1e-11,
        max_iter: int = 2000,
        restart: int = 8,
        precision: str = "auto",
    ) -> tuple[np.ndarray, SolveReport]:
        """Solve (I - A) x = d, or x (I - A) = d when ``transpose``.

        ``d`` may be a vector or an (n, k) matrix of right-hand sides. ``method`` is
        ``'auto'``, ``'direct'``, ``'gmres'`` or ``'jacobi'`` (the Neumann series
        x <- d + A x). ``precision`` (GMRES only): ``'double'``, or ``'mixed'`` (restart cycles
        in float32 refined against float64 residuals; the result is float64-accurate);
        ``'auto'`` mixes above the direct-solver size. Raises :class:`NotProductiveError` when
        the iteration diverges or a solution has negative entries for a non-negative ``d``.
        """
        start = time.perf_counter()
        d = np.asarray(d, dtype=np.float64)
        if d.shape[0] != self.n:
            raise ValueError(f"right-hand side has {d.shape[0]} rows for a system of {self.n}")
        if method == "auto":
            method = "direct" if self.n <= DIRECT_MAX else "gmres"
        if d.ndim == 2:
            cols = [
                self.solve(
                    d[:, j],
                    transpose=transpose,
                    method=method,
                    rtol=rtol,
                    max_iter=max_iter,
                    restart=restart,
                    precision=precision,
                )
                for j in range(d.shape[1])
            ]
            x = np.column_stack([c[0] for c in cols]) if cols else np.zeros_like(d)
            iters = sum(c[1].iterations for c in cols)
            resid = max((c[1].residual for c in cols), default=0.0)
            return x, SolveReport(method, iters, resid, time.perf_counter() - start)
        if method == "direct":
            x = self._lu.solve(d, trans="T" if transpose else "N")
            iterations = 0
        elif method in ("gmres", "jacobi"):
            mixed = precision == "mixed" or (precision == "auto" and self.n > DIRECT_MAX)
            x, iterations = self._iterative(d, transpose, method, mixed, rtol=rtol, max_iter=max_iter, restart=restart)
        else:
            raise ValueError(f"unknown method {method!r} (auto, direct, gmres, jacobi)")
        M = self.A.T if transpose else self.A
        residual = _relative_residual(M, x, d)
        if not np.all(np.isfinite(x)) or (
            np.all(d >= 0) and x.min(initial=0.0) < -1e-9 * max(np.abs(x).max(initial=0.0), 1.0)
        ):
            raise NotProductiveError([], float("nan"), where="technology")
        return x, SolveReport(method, iterations, residual, time.perf_counter() - start)


def _relative_residual(M: sp.csr_array, x: np.ndarray, d: np.ndarray) -> float:
    r = x - M @ x - d
    norm = float(np.linalg.norm(d))
    return float(np.linalg.norm(r)) / norm if norm > 0 else float(np.linalg.norm(r))


def _jacobi(op: _BlockOperator, d: np.ndarray, *, rtol: float, max_iter: int) -> tuple[np.ndarray, int]:
    x = d.copy()
    ax = np.empty_like(d)
    dnorm = np.linalg.norm(d) or 1.0
    for k in range(1, max_iter + 1):
        op(x, ax)
        nxt = d + ax
        step = np.linalg.norm(nxt - x)
        x = nxt
        if step <= rtol * dnorm:
            return x, k
        if not np.isfinite(step) or step > 1e12 * dnorm:
            break
    raise NotProductiveError([], float("nan"), where=f"Jacobi iteration did not converge in {max_iter} steps")


def _gmres(
    op: _BlockOperator,
    d: np.ndarray,
    *,
    rtol: float,
    max_iter: int,
    restart: int,
    inner: _BlockOperator | None = None,
) -> tuple[np.ndarray, int]:
    """Restarted GMRES on (I - A) x = d with classical Gram-Schmidt, reorthogonalised when needed.

    Each restart cycle solves for a correction to x from the true float64 residual. With
    ``inner`` (the same operator in float32) the cycles run in single precision, which halves
    the memory traffic of the matrix-vector products and of the Gram-Schmidt steps; the float64
    residual between cycles makes this iterative refinement, so the final accuracy is float64's.
    """
    inner_op = inner or op
    dtype = inner_op.dtype
    # a single-precision cycle cannot shrink its residual much below its own rounding error
    cycle_floor = 2e-6 if dtype == np.float32 else 0.0
    n = d.size
    m = restart
    x = np.zeros(n)
    V = np.empty((m + 1, n), dtype=dtype)
    w = np.empty(n, dtype=dtype)
    ax = np.empty(n)
    dnorm = float(np.linalg.norm(d)) or 1.0
    r = d.copy()
    beta = dnorm
    total = 0
    while total < max_iter:
        V[0] = r / beta
        H = np.zeros((m + 1, m))
        k_done = 0
        goal = max(rtol * dnorm / beta, cycle_floor)  # relative to this cycle's residual
        for k in range(m):
            inner_op(V[k], w)
            np.subtract(V[k], w, out=w)  # w = (I - A) v_k
            before = np.linalg.norm(w)
            h = V[: k + 1] @ w
            w -= h @ V[: k + 1]
            after = np.linalg.norm(w)
            if after < 0.5 * before:  # cancellation: orthogonalise once more ("twice is enough")
                h2 = V[: k + 1] @ w
                w -= h2 @ V[: k + 1]
                h = h + h2
                after = np.linalg.norm(w)
            H[: k + 1, k] = h
            H[k + 1, k] = after
            total += 1
            k_done = k + 1
            e1 = np.zeros(k + 2)
            e1[0] = 1.0
            y, *_ = np.linalg.lstsq(H[: k + 2, : k + 1], e1, rcond=None)
            est = np.linalg.norm(e1 - H[: k + 2, : k + 1] @ y)
            if est <= goal or H[k + 1, k] <= 1e-30:
                break
            V[k + 1] = w / H[k + 1, k]
        x += beta * (y.astype(dtype) @ V[:k_done])
        # true residual in float64 for the restart and the stopping test
        op(x, ax)
        r = d - (x - ax)
        beta = float(np.linalg.norm(r))
        if beta <= rtol * dnorm:
            return x, total
        if not np.isfinite(beta) or beta > 1e12 * dnorm:
            break
    if beta <= 1e-6 * dnorm:
        return x, total
    raise NotProductiveError([], float("nan"), where=f"GMRES did not converge in {max_iter} steps")
