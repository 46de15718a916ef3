"""Gross output and labour values on many machines: the matrix in row blocks over MPI ranks.

Run with ``mpiexec -n N glasnost values DIR --mpi`` (``pip install 'glasnost[mpi]'``: mpi4py and
the ``mpich`` wheel, whose ``mpiexec`` lands on the environment's PATH). Each rank holds a block
of consecutive rows of ``I - A`` (or of its transpose, for values), cut so that every block
has about the same number of nonzeros, and the matching slice of every vector. One iteration
of restarted GMRES costs one ``Allgatherv`` of the iterate (8 bytes per product in all, each
rank receiving what the others own) for the matrix-vector product, and two ``Allreduce`` of
at most ``restart + 1`` numbers for the Gram-Schmidt step and the norm.

The allgather moves the whole vector whatever the ordering; with a halo exchange only the
entries a block reads from other blocks would travel, which is where an ordering for locality
(reverse Cuthill-McKee, :func:`locality_order`) pays: :func:`halo_sizes` counts them. mpi4py is
imported only when these functions run, so the core imports without it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from glasnost.compute.linear import SolveReport
from glasnost.economy import Economy, Kind, NotProductiveError

if TYPE_CHECKING:
    from glasnost.compute.values import GrossOutput, Values


def _comm(comm: Any | None) -> Any:
    if comm is not None:
        return comm
    try:
        from mpi4py import MPI
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the MPI backend needs mpi4py: pip install 'glasnost[mpi]'") from exc
    return MPI.COMM_WORLD


@contextmanager
def _one_blas_thread(ranks: int) -> Iterator[None]:
    """Several ranks on one machine each running a multi-threaded BLAS oversubscribe the cores
    (measured: 13 s instead of 3 s for a 20,000-product economy on 2 ranks of 2 cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    if ranks <= 1:
        yield
        return
    with threadpool_limits(1):
        yield


def row_cuts(M: sp.csr_array, parts: int) -> np.ndarray:
    """Row boundaries (``parts + 1`` of them) giving each part about the same nonzeros."""
    n = M.shape[0]
    if parts <= 1:
        return np.array([0, n])
    cuts = np.searchsorted(M.indptr, np.linspace(0, M.nnz, parts + 1)[1:-1])
    return np.concatenate([[0], np.clip(cuts, 0, n), [n]]).astype(np.int64)


class RowBlockSystem:
    """``(I - M) y`` for a row block of ``M`` on this rank; vectors are this rank's slices.

    Parameters
    ----------
    M : (n, n) CSR matrix (``A`` or ``A.T``); only rows ``[lo, hi)`` are kept.
    comm : an mpi4py communicator (default ``COMM_WORLD``).
    cuts : row boundaries of all ranks (default: balanced by nonzeros).
    """

    def __init__(self, M: sp.csr_array, comm: Any | None = None, cuts: np.ndarray | None = None) -> None:
        self.comm = _comm(comm)
        size, rank = self.comm.Get_size(), self.comm.Get_rank()
        self.n = M.shape[0]
        self.cuts = row_cuts(M, size) if cuts is None else np.asarray(cuts, np.int64)
        self.lo, self.hi = int(self.cuts[rank]), int(self.cuts[rank + 1])
        self.block = sp.csr_array(M[self.lo : self.hi])
        self.block.sort_indices()
        self.counts = np.diff(self.cuts).astype(np.int64)
        self.x_global = np.empty(self.n)
        self.gathers = 0

    def gather(self, x_local: np.ndarray) -> np.ndarray:
        """The whole vector from every rank's slice (``Allgatherv``)."""
        from mpi4py import MPI

        self.comm.Allgatherv(np.ascontiguousarray(x_local), [self.x_global, self.counts, self.cuts[:-1], MPI.DOUBLE])
        self.gathers += 1
        return self.x_global

    def apply(self, x_local: np.ndarray) -> np.ndarray:
        """This rank's rows of ``(I - M) x``."""
        return x_local - self.block @ self.gather(x_local)

    def dot(self, a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
        from mpi4py import MPI

        local = np.atleast_1d(np.asarray(a @ b, dtype=np.float64))
        total = np.empty_like(local)
        self.comm.Allreduce(local, total, op=MPI.SUM)
        return total if np.ndim(a @ b) else float(total[0])

    def norm(self, a: np.ndarray) -> float:
        return float(np.sqrt(self.dot(a, a)))

    def solve(
        self, d_local: np.ndarray, *, rtol: float = 1e-13, restart: int = 30, max_iter: int = 5000
    ) -> tuple[np.ndarray, int, float]:
        """Restarted GMRES on ``(I - M) x = d`` (classical Gram-Schmidt, reorthogonalised).

        Returns this rank's slice of x, the iterations, and the relative residual
        ||(I - M) x - d|| / ||d|| computed afresh at the end.
        """
        with _one_blas_thread(self.comm.Get_size()):
            return self._solve(d_local, rtol=rtol, restart=restart, max_iter=max_iter)

    def _solve(self, d_local: np.ndarray, *, rtol: float, restart: int, max_iter: int) -> tuple[np.ndarray, int, float]:
        m = restart
        nl = d_local.size
        x = np.zeros(nl)
        V = np.empty((m + 1, nl))
        dnorm = self.norm(d_local) or 1.0
        r = d_local.copy()
        beta = dnorm
        total = 0
        while total < max_iter and beta > rtol * dnorm:
            V[0] = r / beta
            H = np.zeros((m + 1, m))
            k_done, y = 0, np.zeros(0)
            for k in range(m):
                w = self.apply(V[k])
                before = self.norm(w)
                h = self.dot(V[: k + 1], w)
                w -= h @ V[: k + 1]
                after = self.norm(w)
                if after < 0.5 * before:
                    h2 = self.dot(V[: k + 1], w)
                    w -= h2 @ V[: k + 1]
                    h = h + h2
                    after = self.norm(w)
                H[: k + 1, k] = h
                H[k + 1, k] = after
                total += 1
                k_done = k + 1
                e1 = np.zeros(k + 2)
                e1[0] = beta
                y, *_ = np.linalg.lstsq(H[: k + 2, : k + 1], e1, rcond=None)
                est = np.linalg.norm(e1 - H[: k + 2, : k + 1] @ y)
                if est <= 0.1 * rtol * dnorm or after <= 1e-300:
                    break
                V[k + 1] = w / after
            x += y @ V[:k_done]
            r = d_local - self.apply(x)
            beta = self.norm(r)
            if not np.isfinite(beta) or beta > 1e12 * dnorm:
                raise NotProductiveError([], float("nan"), where="MPI GMRES diverged")
        if beta > 1e-6 * dnorm:
            raise NotProductiveError([], float("nan"), where=f"MPI GMRES did not converge in {max_iter} steps")
        return x, total, beta / dnorm


def _system(economy: Economy, transpose: bool, comm: Any) -> RowBlockSystem:
    key = ("mpi-system", transpose, id(comm))
    system = economy._meta.get(key)
    if system is None:
        A = sp.csr_array(economy.technique.A, dtype=np.float64)
        system = RowBlockSystem(sp.csr_array(A.T) if transpose else A, comm)
        economy._meta[key] = system
    return system


def gross_output_mpi(
    economy: Economy, final_demand: object = None, *, comm: Any | None = None, rtol: float = 1e-13
) -> GrossOutput:
    """:func:`glasnost.compute.gross_output` with the matrix in row blocks over the MPI ranks.

    Every rank calls it with the same economy and demand; every rank gets the whole result.
    Units as in :class:`~glasnost.compute.GrossOutput`.
    """
    from glasnost.compute.values import _final_demand, gross_output_result

    comm = _comm(comm)
    start = time.perf_counter()
    tech = economy.technique
    d = _final_demand(economy, final_demand, tech.produced)
    system = _system(economy, False, comm)
    x_local, iters, resid = system.solve(d[system.lo : system.hi], rtol=rtol)
    x = system.gather(x_local).copy()
    report = SolveReport(f"mpi-gmres ({comm.Get_size()} ranks)", iters, resid, time.perf_counter() - start)
    return gross_output_result(economy, tech, d, x, report)


def labour_values_mpi(economy: Economy, *, comm: Any | None = None, rtol: float = 1e-13) -> Values:
    """:func:`glasnost.compute.labour_values` with ``A^T`` in row blocks over the MPI ranks.

    Hours (or resource units) per unit of each product; every rank gets the whole result.
    """
    from glasnost.compute.values import Values

    comm = _comm(comm)
    start = time.perf_counter()
    tech = economy.technique
    system = _system(economy, True, comm)
    L = sp.csr_array(tech.primary)
    by_input = np.zeros((L.shape[0], tech.size))
    iters, resid = 0, 0.0
    for k in range(L.shape[0]):
        lk = L[[k]].toarray().ravel()
        if not lk.any():
            continue
        v_local, it, res = system.solve(lk[system.lo : system.hi], rtol=rtol)
        by_input[k] = system.gather(v_local)
        iters, resid = iters + it, max(resid, res)
    kinds = economy.commodities.kinds[tech.primary_index]
    return Values(
        ids=economy.commodities.ids[tech.produced],
        primary_ids=economy.commodities.ids[tech.primary_index],
        primary_kinds=kinds,
        by_input=by_input,
        labour=by_input[kinds == Kind.LABOUR].sum(axis=0),
        report=SolveReport(f"mpi-gmres ({comm.Get_size()} ranks)", iters, resid, time.perf_counter() - start),
    )


def locality_order(A: sp.csr_array) -> np.ndarray:
    """A product order that keeps each product's inputs near it: reverse Cuthill-McKee on the
    symmetrised pattern of ``A``. ``A[p][:, p]`` is the reordered matrix."""
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    S = sp.csr_array(abs(A) + abs(A).T)
    return np.asarray(reverse_cuthill_mckee(sp.csr_matrix(S), symmetric_mode=True), dtype=np.int64)


def halo_sizes(M: sp.csr_array, parts: int) -> np.ndarray:
    """For each of ``parts`` row blocks of ``M``: how many vector entries owned by other blocks
    its rows read (what a halo exchange would receive per iteration, in products)."""
    cuts = row_cuts(M, parts)
    out = np.zeros(parts, dtype=np.int64)
    for p in range(parts):
        cols = np.unique(M.indices[M.indptr[cuts[p]] : M.indptr[cuts[p + 1]]])
        out[p] = int(((cols < cuts[p]) | (cols >= cuts[p + 1])).sum())
    return out


def mpi_rank() -> int:
    """This process's rank in ``COMM_WORLD`` (0 without MPI)."""
    return int(_comm(None).Get_rank())
