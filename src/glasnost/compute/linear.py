"""Solving Leontief systems (I - A) x = d and v (I - A) = l at any size.

Small systems go to a sparse direct solver (SuperLU). Large ones are iterated. For a productive
A the Perron root rho(A) is typically a lone outlier: the rest of A's spectrum lies in a much
smaller disk (radius 0.24 against rho = 0.49 in the generated economies of 10^5 and 10^6
products). The default iteration, ``'deflated'``, removes the Perron direction with a rank-one
preconditioner built from A's right and left Perron vectors (found once per system by power
iteration), after which the plain Neumann (Richardson) iteration contracts at the rate of the
bulk of the spectrum, the best any polynomial method can do on a disk, with no inner products
to orthogonalise. When the bulk is not small (the contraction stalls), the solve continues
with restarted GMRES (``'gmres'``), which needs no such structure. Products are reordered by
how many others use them (the heavily used core first) so that the vector entries most read
by the matrix-vector product share cache lines. Several right-hand sides (labour values of each
labour type) are iterated together, their vectors side by side in one (n, k) block, each column
stopping when it is solved. Each sweep is one pass of a compiled kernel
(``glasnost.compute._kernels``, built by setup.py where a C compiler is found) that forms the
residuals of the block and their sums on all cores with OpenMP, reading the matrix once for all
columns; without it, scipy's product runs over row blocks on a thread pool.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from glasnost.compute import peel
from glasnost.compute.sparse_add import csr_matvec as _csr_matvec
from glasnost.compute.sparse_add import csr_matvecs as _csr_matvecs
from glasnost.economy import NotProductiveError, native
from glasnost.economy.model import sorted_rows

if TYPE_CHECKING:
    import scipy.sparse.linalg as spla

try:  # the optional compiled kernel (setup.py); scipy's kernels do the same work without it
    from glasnost.compute import _kernels
except ImportError:  # pragma: no cover - installed without a C compiler
    _kernels = None

COMPILED_KERNELS = _kernels is not None
"""Whether the fused OpenMP kernel of ``glasnost.compute._kernels`` is in use."""




@cache
def _blas_threads() -> ThreadpoolController:
    return ThreadpoolController()


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while the iteration's own threads run.

    The few BLAS calls of an iteration (norms, dot products) otherwise wake OpenBLAS's
    threads, which then wait busily for work and take the cores from the sparse kernel's
    threads: on the 2-core benchmark machine, the four solves of 10^5 products took 35 ms with
    BLAS on one thread and 57-190 ms without (10^6: 0.46 s against 0.69 s).
    """
    with _blas_threads().limit(limits=1, user_api="blas"):
        yield


def csr_product(M: sp.csr_array, x: np.ndarray) -> np.ndarray:
    """``M @ x`` for a float64 CSR matrix and vector, equal to scipy's bit for bit (each row
    summed in its stored order), on all usable cores where the compiled kernel is built and
    the indices are int32; scipy's single-threaded product otherwise."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    usable = (
        _kernels is not None
        and M.indptr.dtype == M.indices.dtype == np.int32
        and M.data.dtype == np.float64
        and x.shape == (M.shape[1],)
    )
    if not usable:
        return M @ x
    out = np.empty(M.shape[0])
    _kernels.product(M.indptr, M.indices, M.data, x, out, native.kernel_threads())
    return out


DIRECT_MAX = 3000
"""Largest system solved by the sparse direct method in ``method='auto'``."""


@dataclass(frozen=True)
class SolveReport:
    """How a linear system was solved.

    ``residual`` is ||(I - A) x - d||_2 / ||d||_2 (or its transpose), computed after the solve;
    for several right-hand sides, the largest of their columns'. ``iterations`` counts sweeps
    over the matrix: a block of right-hand sides iterated together sweeps once for all of them.
    """

    method: str
    iterations: int
    residual: float
    seconds: float


BLOCK_MAX = 16
"""Most right-hand sides one block sweep of the compiled kernel takes (its ``KMAX``); wider
blocks are solved in groups of this many columns."""

_Sum = float | np.ndarray  # one sum, or one per column of a block


def _kernel_threads(op: _BlockOperator) -> int:
    return min(op.threads, native.kernel_threads())


class _BlockOperator:
    """Products with a sparse matrix M for the iterations below.

    With glasnost's compiled kernel (:data:`COMPILED_KERNELS`) the whole matrix is one block
    whose rows the kernel spreads over ``threads`` OpenMP threads. Without it, the rows are cut
    into blocks of about equal nonzeros, the first done by the calling thread and the others
    by pool threads through scipy's kernel, each block with at least :attr:`MIN_BLOCK_NNZ`
    nonzeros: on the 2-core machine the benchmarks ran on, handing a smaller block to a Python
    thread cost more than it saved.
    """

    MIN_BLOCK_NNZ = 1_000_000

    def __init__(self, M: sp.csr_array, threads: int) -> None:
        n = M.shape[0]
        self.threads = max(1, threads)
        self.compiled = _kernels is not None and M.indices.dtype == M.indptr.dtype == np.int32
        threads = 1 if self.compiled else min(threads, M.nnz // self.MIN_BLOCK_NNZ)
        if threads <= 1:
            self.blocks = [M]
        else:
            # split rows so each block holds about the same number of nonzeros
            cuts = np.searchsorted(M.indptr, np.linspace(0, M.nnz, threads + 1)[1:-1])
            bounds = [0, *cuts.tolist(), n]
            self.blocks = [sp.csr_array(M[a:b]) for a, b in pairwise(bounds) if b > a]
        self.bounds = np.cumsum([0] + [b.shape[0] for b in self.blocks])
        self.pool = ThreadPoolExecutor(len(self.blocks) - 1) if len(self.blocks) > 1 else None
        self.dtype = self.blocks[0].dtype

    def as_float32(self) -> _BlockOperator:
        """The same operator with float32 values (index arrays shared, not copied)."""
        twin = copy.copy(self)
        twin.blocks = [
            sp.csr_array((b.data.astype(np.float32), b.indices, b.indptr), shape=b.shape) for b in self.blocks
        ]
        twin.dtype = np.dtype(np.float32)
        return twin

    def _map(self, work: Callable[[int], tuple[_Sum, _Sum]]) -> tuple[_Sum, _Sum]:
        if self.pool is None:
            return work(0)
        # the calling thread takes the first block itself: one hand-over less per product
        others = [self.pool.submit(work, i) for i in range(1, len(self.blocks))]
        parts = [work(0), *(f.result() for f in others)]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)

    def residual_into(self, r: np.ndarray, x: np.ndarray, out: np.ndarray, w: np.ndarray) -> tuple[float, float]:
        """``out = r - (I - M) x`` in one pass over M, with ``||out||^2`` and ``w @ out``
        (0 when ``w`` is empty). All vectors are of the operator's dtype."""
        if self.compiled:
            M, sums = self.blocks[0], np.empty(2)
            if not (
                x.dtype == r.dtype == out.dtype == w.dtype == self.dtype and x.size == r.size == out.size == M.shape[0]
            ):
                raise ValueError(f"operator of {M.shape} {self.dtype}: vector {x.shape} {x.dtype}")
            _kernels.residual(M.indptr, M.indices, M.data, x, r, w, out, sums, _kernel_threads(self))
            return float(sums[0]), float(sums[1])

        def work(i: int) -> tuple[float, float]:
            a, b = self.bounds[i], self.bounds[i + 1]
            block, part = self.blocks[i], out[a:b]
            np.subtract(r[a:b], x[a:b], out=part)
            _csr_matvec(block.shape[0], block.shape[1], block.indptr, block.indices, block.data, x, part)
            return float(np.dot(part, part)), float(np.dot(w[a:b], part)) if w.size else 0.0

        return self._map(work)

    def block_residual_into(
        self, r: np.ndarray, x: np.ndarray, out: np.ndarray, w: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`residual_into` for blocks of k vectors, in one pass over M: ``r``, ``x`` and
        ``out`` are C-contiguous (n, k) arrays, ``w`` one vector (or empty) for all columns.
        Returns the k squared norms of ``out``'s columns and their k products with ``w``. The
        compiled kernel takes at most :data:`BLOCK_MAX` columns."""
        n, k = x.shape
        if not (
            x.shape == r.shape == out.shape
            and x.dtype == r.dtype == out.dtype == w.dtype == self.dtype
            and n == self.bounds[-1]
            and all(a.flags.c_contiguous for a in (x, r, out))
        ):
            raise ValueError(f"operator of {n} rows {self.dtype}: block {x.shape} {x.dtype}")
        if self.compiled and k <= BLOCK_MAX:
            M, sums = self.blocks[0], np.empty(2 * k)
            _kernels.residual_block(M.indptr, M.indices, M.data, x, r, w, out, sums, k, _kernel_threads(self))
            return sums[:k], sums[k:]

        def work(i: int) -> tuple[np.ndarray, np.ndarray]:
            a, b = self.bounds[i], self.bounds[i + 1]
            block, part = self.blocks[i], out[a:b]
            np.subtract(r[a:b], x[a:b], out=part)
            m, cols = block.shape
            _csr_matvecs(m, cols, k, block.indptr, block.indices, block.data, x.ravel(), part.ravel())
            wo = w[a:b] @ part if w.size else np.zeros(k)
            return np.einsum("ij,ij->j", part, part, dtype=np.float64), wo.astype(np.float64)

        return self._map(work)

    def __call__(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out = M @ x`` (the residual of ``x`` against itself: ``x - x`` is exactly 0)."""
        self.residual_into(x, x, out, np.empty(0, self.dtype))
        return out


class LeontiefSystem:
    """A productive input-output matrix prepared for repeated solves.

    Parameters
    ----------
    A : (n, n) sparse matrix, ``A[i, j]`` = input of i per unit of j; or None where ``A_t``
        is given (A is then made from it only if asked for: the set-up needs only ``A_t``).
    threads : threads for the matrix-vector product (default: the CPUs this process may use).
    reorder : reorder products by use count for cache locality (large systems only).
    A_t : A's transpose as CSR with float64 values, where the caller has it
        (:attr:`glasnost.economy.Technique.A_t`): the set-up then transposes nothing itself.

    Examples
    --------
    >>> import numpy as np
    >>> sys = LeontiefSystem(np.array([[0.15, 0.25], [0.20, 0.05]]))
    >>> x, report = sys.solve(np.array([600.0, 1500.0]))
    >>> np.round(x, 3)
    array([1247.525, 1841.584])
    """

    def __init__(
        self,
        A: object | None = None,
        *,
        threads: int | None = None,
        reorder: bool = True,
        A_t: sp.csr_array | None = None,
    ) -> None:
        if A is not None:
            self.A = sp.csr_array(A, dtype=np.float64)
        usable = A_t is not None and A_t.dtype == np.float64 and (A is None or A_t.shape == self.A.shape[::-1])
        if usable:
            self._transpose = sorted_rows(A_t)
        elif A is None:
            raise ValueError("a Leontief system needs A or its transpose A_t (CSR, float64)")
        self._transpose_given = usable
        self.n = (self.A if A is not None else self._transpose).shape[0]
        self.threads = threads or native.usable_cpus()
        self.reorder = reorder and self.n > DIRECT_MAX

    @cached_property
    def A(self) -> sp.csr_array:  # noqa: N802 - the matrix's name in the docs
        """The input matrix (made from its transpose where only that was given)."""
        return peel.transpose(self._transpose)

    @cached_property
    def _transpose(self) -> sp.csr_array:
        """A's transpose, CSR with sorted indices: the set-up reads only this."""
        return peel.transpose(self.A)

    @cached_property
    def _split(self) -> peel.Split:
        return peel.Split.of(self._transpose)

    @cached_property
    def _perm(self) -> np.ndarray:
        """Core products in the order the iterative solver stores them: most used first."""
        core = self._split.core
        if not self.reorder:
            return core
        if "A" in self.__dict__:
            uses = np.diff(self.A.indptr)
        else:  # A's stored entries per row, counted in its transpose's columns
            uses = np.bincount(self._transpose.indices, minlength=self.n)
        return core[np.argsort(-uses[core], kind="stable")]

    @cached_property
    def _permuted_pair(self) -> tuple[sp.csr_array, sp.csr_array]:
        pair = peel.permuted_pair(self._transpose, self._perm)
        if not self._transpose_given:  # made for the set-up only: not kept beside the solver's matrices
            del self._transpose
        return pair

    def _permuted(self, transpose: bool) -> sp.csr_array:
        return self._permuted_pair[1 if transpose else 0]

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

    @cached_property
    def _perron(self) -> _Perron:
        with _one_blas_thread():
            return _Perron.of(self._op32, self._op32_t)

    def _core_problem(self, D: np.ndarray, transpose: bool) -> tuple[np.ndarray, np.ndarray]:
        """The core's right-hand sides (in the iterative order) for the columns of ``D``, and
        the solution block with the peeled products that come first already filled in."""
        split, p = self._split, self._perm
        X = np.zeros(D.shape)
        if transpose or not split.levels:
            return np.ascontiguousarray(D[p]), X
        inflow = split.solve_peeled_block(X, D, transpose=False)
        return np.ascontiguousarray(D[p] + inflow[p]), X

    def _iterative(
        self, d: np.ndarray, transpose: bool, method: str, mixed: bool, **options: float
    ) -> tuple[np.ndarray, int]:
        """GMRES or Jacobi on one right-hand side: peeled products by substitution, the core
        by the iteration (see :class:`glasnost.compute.peel.Split`). Returns the solution and the iterations."""
        split, p = self._split, self._perm
        x = np.zeros(self.n)
        inflow = split.solve_peeled(x, d, transpose=False) if not transpose and split.levels else None
        rhs = d[p] if inflow is None else d[p] + inflow[p]
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

    def _deflated_block(
        self, D: np.ndarray, transpose: bool, mixed: bool, rtol: float, max_iter: int, restart: int
    ) -> tuple[np.ndarray, int, list[str], np.ndarray]:
        """The deflated iteration (:func:`_deflated`) on the columns of ``D`` (n, k) together,
        peeled products by substitution (see :class:`glasnost.compute.peel.Split`).

        Returns the solutions, the iterations (sweeps over the block, plus the
        GMRES steps of columns that stalled), each column's method and each column's relative
        residual: the core's float64 residual over ||d|| (the peeled rows hold by substitution,
        so it is the whole system's up to rounding), NaN where GMRES finished.
        """
        split, p = self._split, self._perm
        rhs, X = self._core_problem(D, transpose)
        # the residual that counts is the whole system's, relative to ||d||
        rhs_norm, d_norm = _column_norms(rhs), _column_norms(D)
        col_rtol = rtol * d_norm / np.where(rhs_norm > 0, rhs_norm, 1.0)
        col_rtol[rhs_norm == 0] = rtol
        op = self._op_t if transpose else self._op
        inner = (self._op32_t if transpose else self._op32) if mixed else None
        xp, iterations, stalled, core_residual = _deflated(
            op, rhs, self._perron, transpose=transpose, inner=inner, rtol=col_rtol, max_iter=max_iter
        )
        methods = ["deflated"] * D.shape[1]
        sweeps = iterations
        for c in np.flatnonzero(stalled):  # the bulk of the spectrum is not small: GMRES from here
            xp[:, c], extra = _gmres(
                op,
                rhs[:, c].copy(),
                inner=inner,
                x0=xp[:, c],
                rtol=float(col_rtol[c]),
                max_iter=max_iter - sweeps,
                restart=restart,
            )
            iterations += extra
            methods[c], core_residual[c] = "deflated+gmres", np.nan
        X[p] = xp
        if transpose:
            split.solve_peeled_block(X, D, transpose=True)
        return X, iterations, methods, core_residual / np.where(d_norm > 0, d_norm, 1.0)

    def _solve_deflated(
        self, d: np.ndarray, transpose: bool, mixed: bool, rtol: float, max_iter: int, restart: int
    ) -> tuple[np.ndarray, int, str, float]:
        """:meth:`_deflated_block` on ``d``'s columns (or ``d``) in blocks of at most
        :data:`BLOCK_MAX`; returns the solution, the iterations, the method and the largest
        relative residual of a column."""
        D = d.reshape(self.n, -1)
        groups = [slice(a, a + BLOCK_MAX) for a in range(0, D.shape[1], BLOCK_MAX)]
        parts = [self._deflated_block(D[:, g], transpose, mixed, rtol, max_iter, restart) for g in groups]
        if len(parts) == 1:
            X = parts[0][0]
        else:
            X = np.zeros(D.shape)
            for g, part in zip(groups, parts, strict=True):
                X[:, g] = part[0]
        iterations = sum(part[1] for part in parts)
        methods = [m for part in parts for m in part[2]]
        residuals = np.concatenate([part[3] for part in parts]) if parts else np.zeros(0)
        for c in np.flatnonzero(np.isnan(residuals)):  # finished by GMRES: recomputed
            residuals[c] = self._residual(X[:, c], D[:, c], transpose)
        used = "+".join(dict.fromkeys(methods)) or "deflated"
        return X.reshape(d.shape), iterations, used, float(residuals.max(initial=0.0))

    def _residual(self, x: np.ndarray, d: np.ndarray, transpose: bool) -> float:
        """||(I - A) x - d|| / ||d|| (or the transpose), recomputed from the matrix.

        Large systems use the core's threaded operator and the peeled rows (every entry of A
        is in exactly one of them), so the check costs one parallel matrix-vector product.
        """
        if self.n <= DIRECT_MAX or "_op" not in self.__dict__:
            return _relative_residual(x, (self.A.T if transpose else self.A) @ x, d)
        p = self._perm
        Mx = np.zeros_like(x)
        Mx[p] = (self._op_t if transpose else self._op)(x[p], np.empty(p.size))
        self._split.add_peeled_uses(x, Mx, transpose=transpose)
        return _relative_residual(x, Mx, d)

    @cached_property
    def _lu(self) -> spla.SuperLU:
        import scipy.sparse.linalg as spla  # small systems only: scipy.linalg is 0.15 s to import

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

        ``d`` may be a vector or an (n, k) matrix of right-hand sides (``'deflated'`` iterates
        them together, in blocks of up to :data:`BLOCK_MAX`; other methods one by one). ``method`` is
        ``'auto'`` (``'direct'`` up to :data:`DIRECT_MAX` products, ``'deflated'`` above),
        ``'direct'``, ``'deflated'`` (the Neumann iteration with the Perron direction removed,
        finishing with GMRES if it stalls; the report then says ``'deflated+gmres'``),
        ``'gmres'`` or ``'jacobi'`` (the plain Neumann series x <- d + A x). ``precision``
        (iterations other than Jacobi): ``'double'``, or ``'mixed'`` (the iteration in float32,
        refined against float64 residuals; the result is float64-accurate); ``'auto'`` mixes
        above the direct-solver size. BLAS runs on one thread meanwhile (see
        :func:`_one_blas_thread`). Raises :class:`NotProductiveError` when the iteration
        diverges or a solution has negative entries for a non-negative ``d``.
        """
        with _one_blas_thread():
            return self._solve(d, transpose, method, rtol, max_iter, restart, precision)

    def _solve(
        self,
        d: np.ndarray,
        transpose: bool,
        method: str,
        rtol: float,
        max_iter: int,
        restart: int,
        precision: str,
    ) -> tuple[np.ndarray, SolveReport]:
        start = time.perf_counter()
        d = np.asarray(d, dtype=np.float64)
        if d.shape[0] != self.n:
            raise ValueError(f"right-hand side has {d.shape[0]} rows for a system of {self.n}")
        if method == "auto":
            method = "direct" if self.n <= DIRECT_MAX else "deflated"
        mixed = precision == "mixed" or (precision == "auto" and self.n > DIRECT_MAX)
        if method == "deflated":  # a block of right-hand sides together, one pass over A per sweep
            x, iterations, method, residual = self._solve_deflated(d, transpose, mixed, rtol, max_iter, restart)
        elif d.ndim == 2:
            cols = [
                self._solve(d[:, j], transpose, method, rtol, max_iter, restart, precision) for j in range(d.shape[1])
            ]
            x = np.column_stack([c[0] for c in cols]) if cols else np.zeros_like(d)
            iters = sum(c[1].iterations for c in cols)
            resid = max((c[1].residual for c in cols), default=0.0)
            used = "+".join(dict.fromkeys(c[1].method for c in cols)) or method
            return x, SolveReport(used, iters, resid, time.perf_counter() - start)
        elif method == "direct":
            x = self._lu.solve(d, trans="T" if transpose else "N")
            iterations, residual = 0, self._residual(x, d, transpose)
        elif method in ("gmres", "jacobi"):
            x, iterations = self._iterative(
                d, transpose, method, mixed, rtol=rtol, max_iter=max_iter, restart=restart
            )
            residual = self._residual(x, d, transpose)
        else:
            raise ValueError(f"unknown method {method!r} (auto, direct, deflated, gmres, jacobi)")
        if not _finite_and_non_negative(x, d):
            raise NotProductiveError([], float("nan"), where="technology")
        return x, SolveReport(method, iterations, residual, time.perf_counter() - start)


def _finite_and_non_negative(x: np.ndarray, d: np.ndarray) -> bool:
    """Whether every entry of the solution ``x`` is finite and, in each column where ``d`` is
    non-negative, none is below -1e-9 times the column's largest magnitude (or -1e-9)."""
    # min and max carry any NaN or infinity, and give the largest magnitude without |x|; over
    # the whole array first (one contiguous pass each), by column only where an entry is negative
    lowest, highest = float(x.min(initial=0.0)), float(x.max(initial=0.0))
    if not (np.isfinite(lowest) and np.isfinite(highest)):
        return False
    if lowest >= -1e-9:
        return True
    X, D = x.reshape(x.shape[0], -1), d.reshape(d.shape[0], -1)
    lo, hi = X.min(axis=0, initial=0.0), X.max(axis=0, initial=0.0)
    scale = np.maximum(np.maximum(hi, -lo), 1.0)
    return not ((D >= 0).all(axis=0) & (lo < -1e-9 * scale)).any()


def _relative_residual(x: np.ndarray, Mx: np.ndarray, d: np.ndarray) -> float:
    """||x - M x - d|| / ||d|| (the plain norm when d = 0)."""
    r = x - Mx - d
    norm = float(np.linalg.norm(d))
    return float(np.linalg.norm(r)) / norm if norm > 0 else float(np.linalg.norm(r))


@dataclass(frozen=True)
class _Perron:
    """The Perron root of the core matrix and its right and left vectors, ``A u = rho u``,
    ``w A = rho w``, scaled so that ``w @ u = 1`` (float32, in the iterative order).

    They need not be accurate: they build a preconditioner, and an error of e in them leaves
    an outlier of about rho * e in the iteration, far inside the bulk of the spectrum. So the
    power iterations stop once the root moves by less than :attr:`SETTLE` in a step: at 10^6
    products they take 5 steps each way instead of 16 at 1e-6, and the solves as many sweeps.
    The root is the Rayleigh quotient of the two vectors, whose error is the product of theirs.
    """

    rho: float
    u: np.ndarray
    w: np.ndarray

    POWER_STEPS = 40
    SETTLE = 1e-2

    @classmethod
    def of(cls, op: _BlockOperator, op_t: _BlockOperator) -> _Perron:
        v, av = _power_iteration(op, cls.POWER_STEPS, cls.SETTLE)
        _, aw = _power_iteration(op_t, cls.POWER_STEPS, cls.SETTLE)
        u, w = _unit(av), _unit(aw)
        overlap, w_v = float(w @ u), float(w @ v)
        rho = float(np.linalg.norm(av)) * overlap / w_v if w_v > 0 else 0.0  # (w A v) / (w v)
        if not (0.0 < rho < 1.0) or overlap <= 1e-12:
            return cls(rho=0.0, u=np.zeros_like(u), w=np.zeros_like(w))  # no deflation
        return cls(rho=rho, u=u, w=(w / overlap).astype(np.float32))


def _unit(v: np.ndarray) -> np.ndarray:
    """``v / ||v||`` in float32 (zeros where that is not finite)."""
    norm = float(np.linalg.norm(v))
    if norm == 0.0 or not np.isfinite(norm):
        return np.zeros(v.size, np.float32)
    return (v / norm).astype(np.float32)


def _power_iteration(op: _BlockOperator, steps: int, settle: float) -> tuple[np.ndarray, np.ndarray]:
    """The power method for the dominant eigenvector of a non-negative operator, from the
    all-ones vector, stopped when the eigenvalue estimate ``||A v||`` moves by less than
    ``settle`` (relative) in a step. Returns the last unit iterate ``v`` and ``A v``."""
    v = np.full(op.bounds[-1], 1.0 / np.sqrt(op.bounds[-1]), dtype=op.dtype)
    av = np.empty_like(v)
    rho = 0.0
    for _ in range(steps):
        op(v, av)
        norm = float(np.linalg.norm(av))
        if norm == 0.0 or not np.isfinite(norm) or abs(norm - rho) <= settle * norm:
            break
        rho = norm
        np.divide(av, norm, out=v)
    return v, av


def _column_norms(M: np.ndarray) -> np.ndarray:
    """The 2-norm of each column of ``M`` (n, k), in float64, without an (n, k) temporary."""
    return np.sqrt(np.einsum("ij,ij->j", M, M, dtype=np.float64))


class _Columns:
    """The columns of a block still iterating in :func:`_deflated`: their numbers in the block
    and their float64 work arrays, (n, k) and C-contiguous, so the kernel takes them as a block."""

    def __init__(self, D: np.ndarray, rtol: np.ndarray) -> None:
        self.index = np.arange(D.shape[1])
        self.d, self.x, self.r = D, np.zeros(D.shape), D.copy()
        self.rtol = rtol
        self.beta = _column_norms(D)
        self.dnorm = np.where(self.beta > 0, self.beta, 1.0)

    def drop(self, gone: np.ndarray, X: np.ndarray) -> None:
        """Write the columns marked ``gone`` into the block's solution ``X`` and stop iterating them."""
        if not gone.any():
            return
        X[:, self.index[gone]] = self.x[:, gone]
        keep = ~gone
        self.index, self.rtol = self.index[keep], self.rtol[keep]
        self.dnorm, self.beta = self.dnorm[keep], self.beta[keep]
        self.d, self.x, self.r = (np.ascontiguousarray(a[:, keep]) for a in (self.d, self.x, self.r))


def _deflated(
    op: _BlockOperator,
    D: np.ndarray,
    perron: _Perron,
    *,
    transpose: bool,
    rtol: np.ndarray,
    max_iter: int,
    inner: _BlockOperator | None = None,
    stall_rate: float = 0.5,
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """The preconditioned Neumann (Richardson) iteration ``e <- e + M^-1 (r - (I - A) e)``
    with the Perron direction deflated by ``M`` (:class:`_Perron`), as iterative refinement:
    each sweep solves for a correction from the true float64 residual, in float32 when
    ``inner`` is given.

    It runs on the k columns of ``D`` (n, k, C-contiguous) together: each sweep is one pass of
    the kernel over the matrix for all of them (:meth:`_BlockOperator.block_residual_into`).
    Column c stops when its float64 residual is at most ``rtol[c]`` times its ``||d||``; the
    others go on without it. Returns ``(X, sweeps, stalled, residual)``: ``stalled[c]`` means
    column c's residual shrank by less than ``stall_rate`` per step on average (or the
    sweeps ran out), so another method should finish it; ``residual[c]`` is
    ``||d - (I - A) x||`` of column c computed in float64 from its final ``x`` (NaN where stalled).
    """
    inner_op = inner or op
    dtype = inner_op.dtype
    floor = 2e-6 if dtype == np.float32 else 1e-14  # what one sweep in this precision can reach
    n, k = D.shape
    X, residual, stalled = np.zeros((n, k)), np.full(k, np.nan), np.zeros(k, bool)
    u, w = (perron.w, perron.u) if transpose else (perron.u, perron.w)
    u, w = u.astype(dtype, copy=False), w.astype(dtype, copy=False)
    gain = perron.rho / (1.0 - perron.rho)  # M^-1 s = s + gain * u (w @ s)
    cols = _Columns(D, rtol)
    done = cols.beta <= cols.rtol * cols.dnorm  # zero right-hand sides
    residual[cols.index[done]] = cols.beta[done]
    cols.drop(done, X)
    sweeps = 0
    while cols.index.size and sweeps < max_iter:
        r_in = np.empty(cols.r.shape, dtype)
        np.divide(cols.r, cols.beta, out=r_in, casting="same_kind")  # unit columns
        goal = np.maximum(cols.rtol * cols.dnorm / cols.beta, floor)
        e, s, scratch = np.zeros_like(r_in), np.empty_like(r_in), np.empty_like(r_in)
        _add_correction(e, r_in, u, (gain * (w @ r_in)).astype(dtype), scratch, _kernel_threads(inner_op))  # M^-1 r
        for step in range(1, max_iter - sweeps + 1):
            sumsq, w_s = inner_op.block_residual_into(r_in, e, s, w)  # s = r_in - (I - A) e
            res = np.sqrt(sumsq)
            sweeps += 1
            _add_correction(e, s, u, (gain * w_s).astype(dtype), scratch, _kernel_threads(inner_op))  # e += M^-1 s
            if np.all(res <= goal):
                break
            slow = ~np.isfinite(res) | ((res > goal) & (step >= 4) & (res > stall_rate**step))
            if slow.any():  # stalled or diverging: these columns leave for another method
                kept = slow & np.isfinite(res)
                cols.x[:, kept] += cols.beta[kept] * e[:, kept].astype(np.float64)
                stalled[cols.index[slow]] = True
                r_in, e, s, scratch = (np.ascontiguousarray(a[:, ~slow]) for a in (r_in, e, s, scratch))
                goal = goal[~slow]
                cols.drop(slow, X)
                if not cols.index.size:
                    return X, sweeps, stalled, residual
        cols.x += np.multiply(e, cols.beta, dtype=np.float64)
        sumsq, _ = op.block_residual_into(cols.d, cols.x, cols.r, np.empty(0))  # r = d - (I - A) x, in float64
        cols.beta = np.sqrt(sumsq)
        done = cols.beta <= cols.rtol * cols.dnorm
        residual[cols.index[done]] = cols.beta[done]
        lost = ~done & (~np.isfinite(cols.beta) | (cols.beta > 1e12 * cols.dnorm))
        stalled[cols.index[lost]] = True
        cols.drop(done | lost, X)
    stalled[cols.index] = True  # out of sweeps
    cols.drop(np.ones(cols.index.size, bool), X)
    return X, sweeps, stalled, residual


def _add_correction(
    e: np.ndarray, s: np.ndarray, u: np.ndarray, coef: np.ndarray, scratch: np.ndarray, threads: int
) -> None:
    """``e += s + u coef`` for (n, k) blocks ``e`` and ``s`` (the deflated sweep's
    ``e += M^-1 s``, ``coef`` holding ``gain * (w @ s)`` per column), in one compiled pass
    where the kernel is built; numpy's three passes, the same bit for bit, use ``scratch``."""
    if _kernels is not None:
        _kernels.deflated_update(e, s, u, coef, threads)
        return
    e += s
    np.multiply(u[:, None], coef, out=scratch)
    e += scratch


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
    x0: np.ndarray | None = None,
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
    V = np.empty((m + 1, n), dtype=dtype)
    w = np.empty(n, dtype=dtype)
    ax = np.empty(n)
    dnorm = float(np.linalg.norm(d)) or 1.0
    if x0 is None:
        x, r = np.zeros(n), d.copy()
    else:
        x = x0.copy()
        r = d - (x - op(x, ax))
    beta = float(np.linalg.norm(r))
    if beta <= rtol * dnorm:
        return x, 0
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
