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
by the matrix-vector product share cache lines. Each sweep is one pass of a compiled kernel
(``glasnost.compute._kernels``, built by setup.py where a C compiler is found) that forms the
residual and its two sums on all cores with OpenMP; without it, scipy's product runs over row
blocks on a thread pool.
"""

from __future__ import annotations

import copy
import os
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

try:  # y += A x into a given vector; scipy's public product always allocates the result
    from scipy.sparse._sparsetools import csc_matvec as _csc_matvec
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover - a future scipy without them

    def _csr_matvec(n_row: int, n_col: int, indptr, indices, data, x, y) -> None:  # type: ignore[no-untyped-def]
        y += sp.csr_array((data, indices, indptr), shape=(n_row, n_col)) @ x

    def _csc_matvec(n_row: int, n_col: int, indptr, indices, data, x, y) -> None:  # type: ignore[no-untyped-def]
        y += sp.csc_array((data, indices, indptr), shape=(n_row, n_col)) @ x


from glasnost.compute import peel
from glasnost.economy import NotProductiveError

if TYPE_CHECKING:
    import scipy.sparse.linalg as spla

try:  # the optional compiled kernel (setup.py); scipy's kernels do the same work without it
    from glasnost.compute import _kernels
except ImportError:  # pragma: no cover - installed without a C compiler
    _kernels = None

COMPILED_KERNELS = _kernels is not None
"""Whether the fused OpenMP kernel of ``glasnost.compute._kernels`` is in use."""


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under taskset or an MPI binding)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


_kernel_threads_cap = _usable_cpus()


def _one_kernel_thread_after_fork() -> None:
    # GNU OpenMP cannot start threads in a child forked after the parent ran a parallel
    # region (the child hangs); a one-thread region never starts any
    global _kernel_threads_cap
    _kernel_threads_cap = 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_one_kernel_thread_after_fork)


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
    _kernels.product(M.indptr, M.indices, M.data, x, out, _kernel_threads_cap)
    return out


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

    def _map(self, work: Callable[[int], tuple[float, float]]) -> tuple[float, float]:
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
            threads = min(self.threads, _kernel_threads_cap)
            _kernels.residual(M.indptr, M.indices, M.data, x, r, w, out, sums, threads)
            return float(sums[0]), float(sums[1])

        def work(i: int) -> tuple[float, float]:
            a, b = self.bounds[i], self.bounds[i + 1]
            block, part = self.blocks[i], out[a:b]
            np.subtract(r[a:b], x[a:b], out=part)
            _csr_matvec(block.shape[0], block.shape[1], block.indptr, block.indices, block.data, x, part)
            return float(np.dot(part, part)), float(np.dot(w[a:b], part)) if w.size else 0.0

        return self._map(work)

    def __call__(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out = M @ x`` (the residual of ``x`` against itself: ``x - x`` is exactly 0)."""
        self.residual_into(x, x, out, np.empty(0, self.dtype))
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

    Each level keeps its products' rows of A's transpose without the diagonal (their inputs):
    the transposed solve reads them as rows, the forward solve scatters each solved level's
    use of its inputs through them, so that A itself is never built.
    """

    core: np.ndarray
    peeled: np.ndarray
    levels: list[tuple[np.ndarray, sp.csr_array, np.ndarray]]  # (products, their inputs, 1 - A_ii)

    MAX_LEVELS = 64

    @classmethod
    def of(cls, A_t: sp.csr_array) -> _Split:
        """The split of A, from ``A_t``, A's transpose (CSR)."""
        n = A_t.shape[0]
        diag = A_t.diagonal()
        off_t = peel.off_diagonal(A_t)
        users = np.bincount(off_t.indices, minlength=n)
        level_sets = peel.peel_levels(users, off_t, max_levels=cls.MAX_LEVELS)
        peeled = np.concatenate(level_sets) if level_sets else np.zeros(0, np.int64)
        inputs = peel.rows_of(off_t, peeled)  # every level's rows in one gather, then cut
        bounds = np.cumsum([0, *(S.size for S in level_sets)])
        levels = [
            (S, peel.row_block(inputs, int(a), int(b)), 1.0 - diag[S])
            for S, a, b in zip(level_sets, bounds[:-1], bounds[1:], strict=True)
        ]
        is_peeled = np.zeros(n, bool)
        is_peeled[peeled] = True
        return cls(core=np.flatnonzero(~is_peeled), peeled=np.flatnonzero(is_peeled), levels=levels)

    def solve_peeled(self, x: np.ndarray, d: np.ndarray, *, transpose: bool) -> np.ndarray | None:
        """Fill ``x`` on the peeled products. With ``transpose`` the core part of ``x`` must be
        known; without, it is ignored and the result is, per product (zero on the peeled ones
        where it is spent), what the peeled products' gross output uses of it: the core's
        inflow."""
        if transpose:
            for S, inputs, one_minus_diag in reversed(self.levels):
                x[S] = (d[S] + inputs @ x) / one_minus_diag
            return None
        inflow = np.zeros(x.shape[0])
        for S, inputs, one_minus_diag in self.levels:
            x[S] = (d[S] + inflow[S]) / one_minus_diag  # every user of S is in an earlier level
            _scatter_uses(inputs, x[S], inflow)
        return inflow

    def add_peeled_uses(self, x: np.ndarray, Mx: np.ndarray, *, transpose: bool) -> None:
        """``Mx += A x`` (or ``x A``) over what the core's operator leaves out: the peeled
        products' rows of the transposed product, their columns of the forward one."""
        for S, inputs, one_minus_diag in self.levels:
            if transpose:
                Mx[S] += inputs @ x
            else:
                _scatter_uses(inputs, x[S], Mx)
            Mx[S] += (1.0 - one_minus_diag) * x[S]


def _scatter_uses(inputs: sp.csr_array, x: np.ndarray, out: np.ndarray) -> None:
    """``out += inputs.T @ x`` in place (the rows of ``inputs`` read as columns)."""
    _csc_matvec(inputs.shape[1], inputs.shape[0], inputs.indptr, inputs.indices, inputs.data, x, out)


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
            self._transpose = _sorted(sp.csr_array(A_t))
        elif A is None:
            raise ValueError("a Leontief system needs A or its transpose A_t (CSR, float64)")
        self._transpose_given = usable
        self.n = (self.A if A is not None else self._transpose).shape[0]
        self.threads = threads or _usable_cpus()
        self.reorder = reorder and self.n > DIRECT_MAX

    @cached_property
    def A(self) -> sp.csr_array:  # noqa: N802 - the matrix's name in the docs
        """The input matrix (made from its transpose where only that was given)."""
        return _sorted(sp.csr_array(self._transpose.T.tocsr()))

    @cached_property
    def _transpose(self) -> sp.csr_array:
        """A's transpose, CSR with sorted indices: the set-up reads only this."""
        return _sorted(sp.csr_array(self.A.T.tocsr()))

    @cached_property
    def _split(self) -> _Split:
        return _Split.of(self._transpose)

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

    def _iterative(
        self, d: np.ndarray, transpose: bool, method: str, mixed: bool, **options: float
    ) -> tuple[np.ndarray, int, str, float | None]:
        """Peeled products by substitution, the core by an iteration (see :class:`_Split`).

        Returns the solution, the iterations, the method used and, when the iteration ended on
        a float64 residual of the core (``'deflated'``), its norm: the peeled rows hold by
        substitution, so it is the whole system's residual up to rounding.
        """
        split, p = self._split, self._perm
        x = np.zeros(self.n)
        inflow = split.solve_peeled(x, d, transpose=False) if not transpose and split.levels else None
        rhs = d[p] if inflow is None else d[p] + inflow[p]
        # the residual that counts is the whole system's, relative to ||d||
        rhs_norm = float(np.linalg.norm(rhs))
        if rhs_norm > 0:
            options["rtol"] = options["rtol"] * float(np.linalg.norm(d)) / rhs_norm
        op = self._op_t if transpose else self._op
        inner = (self._op32_t if transpose else self._op32) if mixed else None
        used, core_residual = method, None
        if method == "deflated":
            xp, iterations, stalled, core_residual = _deflated(
                op,
                rhs,
                self._perron,
                transpose=transpose,
                inner=inner,
                rtol=options["rtol"],
                max_iter=int(options["max_iter"]),
            )
            if stalled:  # the bulk of the spectrum is not small: finish with GMRES from here
                more = dict(options, max_iter=options["max_iter"] - iterations)
                xp, extra = _gmres(op, rhs, inner=inner, x0=xp, **more)  # type: ignore[arg-type]
                iterations += extra
                used, core_residual = "deflated+gmres", None
        elif method == "gmres":
            xp, iterations = _gmres(op, rhs, inner=inner, **options)  # type: ignore[arg-type]
        else:
            xp, iterations = _jacobi(op, rhs, rtol=options["rtol"], max_iter=int(options["max_iter"]))
        x[p] = xp
        if transpose:
            split.solve_peeled(x, d, transpose=True)
        return x, iterations, used, core_residual

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

        ``d`` may be a vector or an (n, k) matrix of right-hand sides. ``method`` is
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
        if d.ndim == 2:
            cols = [
                self._solve(d[:, j], transpose, method, rtol, max_iter, restart, precision) for j in range(d.shape[1])
            ]
            x = np.column_stack([c[0] for c in cols]) if cols else np.zeros_like(d)
            iters = sum(c[1].iterations for c in cols)
            resid = max((c[1].residual for c in cols), default=0.0)
            used = "+".join(dict.fromkeys(c[1].method for c in cols)) or method
            return x, SolveReport(used, iters, resid, time.perf_counter() - start)
        if method == "direct":
            x = self._lu.solve(d, trans="T" if transpose else "N")
            iterations = 0
        elif method in ("deflated", "gmres", "jacobi"):
            mixed = precision == "mixed" or (precision == "auto" and self.n > DIRECT_MAX)
            x, iterations, method, core_residual = self._iterative(
                d, transpose, method, mixed, rtol=rtol, max_iter=max_iter, restart=restart
            )
        else:
            raise ValueError(f"unknown method {method!r} (auto, direct, deflated, gmres, jacobi)")
        if method != "direct" and core_residual is not None:
            dnorm = float(np.linalg.norm(d))
            residual = core_residual / dnorm if dnorm > 0 else core_residual
        else:
            residual = self._residual(x, d, transpose)
        if not np.all(np.isfinite(x)) or (
            np.all(d >= 0) and x.min(initial=0.0) < -1e-9 * max(np.abs(x).max(initial=0.0), 1.0)
        ):
            raise NotProductiveError([], float("nan"), where="technology")
        return x, SolveReport(method, iterations, residual, time.perf_counter() - start)


def _sorted(M: sp.csr_array) -> sp.csr_array:
    """``M`` with sorted indices (sorted in place where they were not)."""
    if not M.has_sorted_indices:
        M.sort_indices()
    return M


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
    an outlier of about rho * e in the iteration, far inside the bulk of the spectrum.
    """

    rho: float
    u: np.ndarray
    w: np.ndarray

    POWER_STEPS = 40

    @classmethod
    def of(cls, op: _BlockOperator, op_t: _BlockOperator) -> _Perron:
        rho_u, u = _power_iteration(op, cls.POWER_STEPS)
        _, w = _power_iteration(op_t, cls.POWER_STEPS)
        overlap = float(w @ u)
        if not (0.0 < rho_u < 1.0) or overlap <= 1e-12:
            return cls(rho=0.0, u=np.zeros_like(u), w=np.zeros_like(w))  # no deflation
        return cls(rho=rho_u, u=u, w=(w / overlap).astype(np.float32))

    def precondition(self, r: np.ndarray, *, transpose: bool) -> np.ndarray:
        """``M^-1 r`` in place: ``r + rho / (1 - rho) * u (w @ r)``, the exact inverse of
        ``I - A`` on the Perron direction and the identity on the rest."""
        u, w = (self.w, self.u) if transpose else (self.u, self.w)
        if self.rho > 0.0:
            r += np.float32(self.rho / (1.0 - self.rho) * float(w @ r)) * u
        return r


def _power_iteration(op: _BlockOperator, steps: int) -> tuple[float, np.ndarray]:
    """The dominant eigenvalue and a unit eigenvector of a non-negative operator, by the
    power method from the all-ones vector, stopped when the eigenvalue settles to 1e-6."""
    v = np.full(op.bounds[-1], 1.0 / np.sqrt(op.bounds[-1]), dtype=op.dtype)
    av = np.empty_like(v)
    rho = 0.0
    for _ in range(steps):
        op(v, av)
        norm = float(np.linalg.norm(av))
        if norm == 0.0 or not np.isfinite(norm):
            return 0.0, v
        v, av = av / norm, v
        settled = abs(norm - rho) <= 1e-6 * norm
        rho = norm
        if settled:
            break
    return rho, v.astype(np.float32)


def _deflated(
    op: _BlockOperator,
    d: np.ndarray,
    perron: _Perron,
    *,
    transpose: bool,
    rtol: float,
    max_iter: int,
    inner: _BlockOperator | None = None,
    stall_rate: float = 0.5,
) -> tuple[np.ndarray, int, bool]:
    """The preconditioned Neumann (Richardson) iteration ``e <- e + M^-1 (r - (I - A) e)``
    with the Perron direction deflated by ``M`` (:class:`_Perron`), as iterative refinement:
    each sweep solves for a correction from the true float64 residual, in float32 when
    ``inner`` is given. Returns ``(x, iterations, stalled, residual)``: ``stalled`` means the
    residual shrank by less than ``stall_rate`` per step on average, so another method should
    finish; ``residual`` is ``||d - (I - A) x||`` computed in float64 from the final ``x``.
    """
    inner_op = inner or op
    dtype = inner_op.dtype
    floor = 2e-6 if dtype == np.float32 else 1e-14  # what one sweep in this precision can reach
    n = d.size
    x = np.zeros(n)
    e, s, scratch = (np.empty(n, dtype=dtype) for _ in range(3))
    u, w = (perron.w, perron.u) if transpose else (perron.u, perron.w)
    u, w = u.astype(dtype, copy=False), w.astype(dtype, copy=False)
    gain = perron.rho / (1.0 - perron.rho)  # M^-1 s = s + gain * u (w @ s)
    dnorm = float(np.linalg.norm(d)) or 1.0
    r, beta = d.copy(), dnorm
    total = 0
    while total < max_iter:
        r_in = (r / beta).astype(dtype)  # unit norm
        goal = max(rtol * dnorm / beta, floor)
        np.copyto(e, r_in)
        perron.precondition(e, transpose=transpose)
        for step in range(1, max_iter - total + 1):
            sumsq, w_s = inner_op.residual_into(r_in, e, s, w)  # s = r_in - (I - A) e
            res = float(np.sqrt(sumsq))
            total += 1
            e += s  # e += M^-1 s
            if gain:
                np.multiply(u, dtype.type(gain * w_s), out=scratch)
                e += scratch
            if res <= goal:
                break
            if not np.isfinite(res) or (step >= 4 and res > stall_rate**step):
                x += beta * e.astype(np.float64) if np.isfinite(res) else 0.0
                return x, total, True, float("nan")
        x += beta * e.astype(np.float64)
        sumsq, _ = op.residual_into(d, x, r, np.empty(0))  # r = d - (I - A) x, in float64
        beta = float(np.sqrt(sumsq))
        if beta <= rtol * dnorm:
            return x, total, False, beta
        if not np.isfinite(beta) or beta > 1e12 * dnorm:
            break
    return x, total, True, beta


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
