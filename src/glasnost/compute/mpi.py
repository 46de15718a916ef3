"""Gross output and labour values on many machines: the matrix in row blocks over MPI ranks.

Run with ``mpiexec -n N glasnost values DIR --mpi`` (``pip install 'glasnost[mpi]'``: mpi4py and
the ``mpich`` wheel, whose ``mpiexec`` lands on the environment's PATH). Each rank holds a block
of consecutive rows of ``M`` (``A`` for gross output, ``A^T`` for values), cut so that every
block has about the same number of nonzeros, and the matching slice of every vector.

:class:`DistributedMatrix` is the default engine. Its columns are renumbered into this rank's
own entries followed by its *halo*: the entries owned by other ranks that its rows read. The
send and receive index lists are computed once (one ``Alltoall`` of counts and one
``Alltoallv`` of indices), after which a product ``M x`` costs one ``Neighbor_alltoallv`` on a
distributed graph communicator (each rank receives only its halo) and a local sparse product;
``exchange='allgather'`` gathers the whole vector instead (``Allgatherv``), for comparison. The
solve is the serial solver's deflated Neumann iteration (:mod:`glasnost.compute.linear`): the
Perron direction of ``M`` is removed by a rank-one preconditioner built from the right and left
Perron vectors (found by a distributed power iteration, the left one through the transposed
product, which sends the halo's contributions back to their owners), the sweeps run in float32
(float32 matrix values, float32 halo) and are refined against float64 residuals. One sweep
costs one halo exchange and **one** ``Allreduce`` of two numbers (``s . s`` and ``w . s``).
When the contraction stalls, restarted GMRES (:class:`RowBlockSystem`) finishes the job.

Products are not reordered unless asked (``order='rcm'``: reverse Cuthill-McKee,
:func:`locality_order`); :func:`halo_sizes` counts what a halo exchange moves under an
ordering. mpi4py is imported only when these functions run, so the core imports without it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from glasnost.compute.linear import SolveReport
from glasnost.economy import Economy, Kind, NotProductiveError
from glasnost.economy.model import select

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
    local : ``M`` is already this rank's block (rows ``[lo, hi)``, global columns; needs ``cuts``).
    """

    def __init__(
        self, M: sp.csr_array, comm: Any | None = None, cuts: np.ndarray | None = None, *, local: bool = False
    ) -> None:
        self.comm = _comm(comm)
        size, rank = self.comm.Get_size(), self.comm.Get_rank()
        self.n = M.shape[1]
        self.cuts = row_cuts(M, size) if cuts is None else np.asarray(cuts, np.int64)
        self.lo, self.hi = int(self.cuts[rank]), int(self.cuts[rank + 1])
        self.block = sp.csr_array(M if local else M[self.lo : self.hi])
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


# ---- the halo-exchange engine -------------------------------------------------------------------


def _mpi_type(dtype: np.dtype) -> Any:
    from mpi4py import MPI

    return MPI.FLOAT if np.dtype(dtype) == np.float32 else MPI.DOUBLE


@dataclass(frozen=True)
class HaloPlan:
    """Which vector entries one rank receives from and sends to every other rank per product.

    Attributes
    ----------
    recv_global : (halo,) int64, sorted
        Global indices of the entries this rank's rows read from other ranks (grouped by owner,
        since owners hold consecutive ranges).
    recv_counts : (ranks,) int64
        How many of them each rank owns.
    send_local : (sent,) int64
        This rank's entries (local indices) that other ranks read, grouped by destination rank.
    send_counts : (ranks,) int64
        How many go to each rank.
    """

    recv_global: np.ndarray
    recv_counts: np.ndarray
    send_local: np.ndarray
    send_counts: np.ndarray

    @staticmethod
    def receive_lists(columns: np.ndarray, cuts: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
        """The halo of a row block reading ``columns`` (global indices) and its count per owner
        (one pass over the columns and a flag per product: no sort)."""
        lo, hi = int(cuts[rank]), int(cuts[rank + 1])
        read = np.zeros(int(cuts[-1]), dtype=bool)
        read[columns] = True
        read[lo:hi] = False
        halo = np.flatnonzero(read)
        counts = np.diff(np.searchsorted(halo, cuts)).astype(np.int64)
        return halo, counts

    @classmethod
    def build(cls, columns: np.ndarray, cuts: np.ndarray, comm: Any) -> HaloPlan:
        """Every rank's lists, by one ``Alltoall`` of counts and one ``Alltoallv`` of indices."""
        from mpi4py import MPI

        rank = comm.Get_rank()
        halo, recv_counts = cls.receive_lists(columns, cuts, rank)
        send_counts = np.empty_like(recv_counts)
        comm.Alltoall(recv_counts, send_counts)
        wanted = np.empty(int(send_counts.sum()), dtype=np.int64)
        comm.Alltoallv(
            [halo, recv_counts, _displacements(recv_counts), MPI.INT64_T],
            [wanted, send_counts, _displacements(send_counts), MPI.INT64_T],
        )
        return cls(halo, recv_counts, wanted - int(cuts[rank]), send_counts)


def _displacements(counts: np.ndarray) -> np.ndarray:
    return (np.cumsum(counts) - counts).astype(np.int64)


COLUMN_BLOCK = 2_500_000
"""Columns per block of a rank's local product: the vector entries one block reads (10 MB in
float32) stay in cache while its nonzeros stream by. Measured on a 10^7-product row block
(4.9 x 10^7 nonzeros, 10^7 columns): 854 ms unblocked, 586 ms in 4 blocks, 646 ms in 16."""


class _ColumnBlocks:
    """A rank's local matrix as CSR blocks of consecutive columns, in float64 or float32.

    ``y = M x`` adds the blocks' products (each reading one slice of ``x``); ``M^T x`` puts the
    blocks' transposed products side by side. One block when the matrix is narrow.
    """

    def __init__(self, parts: list[tuple[int, int, sp.csr_array]], shape: tuple[int, int]) -> None:
        self.parts, self.shape = parts, shape
        self.dtype = parts[0][2].dtype

    @classmethod
    def pair(
        cls, data: np.ndarray, index: np.ndarray, indptr: np.ndarray, shape: tuple[int, int], column_block: int
    ) -> tuple[_ColumnBlocks, _ColumnBlocks]:
        """The float64 and float32 forms (sharing their index arrays)."""
        rows, width = shape
        k = max(1, -(-width // max(1, column_block)))
        edges = np.linspace(0, width, k + 1).astype(np.int64)
        p64, p32 = [], []
        for a, b in pairwise(edges.tolist()):
            if k == 1:
                d, i, ptr = data, index, indptr
            else:
                keep = (index >= a) & (index < b)
                ptr = np.concatenate([np.zeros(1, indptr.dtype), np.cumsum(keep, dtype=indptr.dtype)])[indptr]
                d, i = data[keep], (index[keep] - a).astype(index.dtype, copy=False)
                del keep
            p64.append((a, b, sp.csr_array((d, i, ptr), shape=(rows, b - a))))
            p32.append((a, b, sp.csr_array((d.astype(np.float32), i, ptr), shape=(rows, b - a))))
        return cls(p64, shape), cls(p32, shape)

    def matvec(self, x: np.ndarray) -> np.ndarray:
        a, b, first = self.parts[0]
        y = first @ x[a:b]
        for a, b, part in self.parts[1:]:
            y += part @ x[a:b]
        return y

    def rmatvec(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(self.shape[1], dtype=np.result_type(self.dtype, x.dtype))
        for a, b, part in self.parts:
            out[a:b] = part.T @ x
        return out

    def whole(self) -> sp.csr_array:
        if len(self.parts) == 1:
            return self.parts[0][2]
        return sp.csr_array(sp.hstack([part for _, _, part in self.parts], format="csr"))


class DistributedMatrix:
    """Rows ``[lo, hi)`` of an (n x n) matrix ``M`` on this rank, for ``y = M x`` and ``y = M^T x``
    with vectors distributed like the rows.

    Parameters
    ----------
    block : (hi - lo, n) CSR matrix
        This rank's rows, global column indices.
    cuts : (ranks + 1,) int64
        Row boundaries of all ranks.
    comm : an mpi4py communicator.
    exchange : ``'halo'`` (default: each rank receives only the entries its rows read, by
        ``Neighbor_alltoallv``) or ``'allgather'`` (the whole vector, by ``Allgatherv``).
    column_block : columns per block of the local product (:data:`COLUMN_BLOCK`).

    Vectors passed to :meth:`matvec` are this rank's slices (float64 or float32; the product
    uses the matrix values of the same precision, float32 values are kept beside float64 ones).
    """

    def __init__(
        self,
        block: sp.csr_array,
        cuts: np.ndarray,
        comm: Any,
        *,
        exchange: str = "halo",
        column_block: int = COLUMN_BLOCK,
    ) -> None:
        if exchange not in ("halo", "allgather"):
            raise ValueError(f"unknown exchange {exchange!r} (halo or allgather)")
        self.comm, self.exchange = comm, exchange
        self.size, self.rank = comm.Get_size(), comm.Get_rank()
        self.cuts = np.asarray(cuts, dtype=np.int64)
        self.n = int(self.cuts[-1])
        self.lo, self.hi = int(self.cuts[self.rank]), int(self.cuts[self.rank + 1])
        self.nl = self.hi - self.lo
        block = sp.csr_array(block)
        if block.shape != (self.nl, self.n):
            raise ValueError(f"rank {self.rank}: block has shape {block.shape}, expected ({self.nl}, {self.n})")
        self.plan = HaloPlan.build(block.indices, self.cuts, comm) if exchange == "halo" else None
        if self.plan is not None:
            width = self.nl + self.plan.recv_global.size
            # global column -> position in [own | halo] (int32 where it fits: this map and the
            # renumbered indices are the only arrays of the block's size made here)
            dt = np.int32 if width < 2**31 else np.int64
            position = np.zeros(self.n, dtype=dt)
            position[self.lo : self.hi] = np.arange(self.nl, dtype=dt)
            position[self.plan.recv_global] = np.arange(self.nl, width, dtype=dt)
            local = position[block.indices]
            del position
            self.neighbours = self._graphs()
        else:
            local, width = block.indices, self.n
        index = local.astype(np.int32 if width < 2**31 else np.int64, copy=False)
        indptr = block.indptr.astype(index.dtype)
        data = np.asarray(block.data, dtype=np.float64)
        self.width = width
        blocks = _ColumnBlocks.pair(data, index, indptr, (self.nl, width), column_block)
        self.local = {np.dtype(np.float64): blocks[0], np.dtype(np.float32): blocks[1]}
        self.ext = {dt: np.zeros(width, dtype=dt) for dt in self.local}
        self.exchanges = 0

    @classmethod
    def from_matrix(
        cls,
        M: sp.csr_array,
        comm: Any,
        *,
        cuts: np.ndarray | None = None,
        exchange: str = "halo",
        column_block: int = COLUMN_BLOCK,
    ) -> DistributedMatrix:
        """This rank's block of a matrix every rank holds (rows balanced by nonzeros by default)."""
        M = sp.csr_array(M)
        cuts = row_cuts(M, comm.Get_size()) if cuts is None else np.asarray(cuts, np.int64)
        rank = comm.Get_rank()
        block = sp.csr_array(M[int(cuts[rank]) : int(cuts[rank + 1])])
        block.sort_indices()
        return cls(block, cuts, comm, exchange=exchange, column_block=column_block)

    def _graphs(self) -> tuple[Any, Any]:
        """Graph communicators for the forward exchange (owners send to readers) and the reverse."""
        plan = self.plan
        sources = np.flatnonzero(plan.recv_counts).tolist()  # type: ignore[union-attr]
        destinations = np.flatnonzero(plan.send_counts).tolist()  # type: ignore[union-attr]
        forward = self.comm.Create_dist_graph_adjacent(sources, destinations, reorder=False)
        reverse = self.comm.Create_dist_graph_adjacent(destinations, sources, reorder=False)
        p = plan
        self._fwd = (
            p.send_counts[destinations],
            _displacements(p.send_counts[destinations]),  # type: ignore[union-attr]
            p.recv_counts[sources],
            _displacements(p.recv_counts[sources]),  # type: ignore[union-attr]
        )
        self._send = {dt: np.empty(p.send_local.size, dtype=dt) for dt in (np.float32, np.float64)}  # type: ignore[union-attr]
        self._back = {dt: np.empty(p.send_local.size, dtype=dt) for dt in (np.float32, np.float64)}  # type: ignore[union-attr]
        return forward, reverse

    def global_block(self) -> sp.csr_array:
        """This rank's rows with global column indices (float64), as they came in."""
        local = self.local[np.dtype(np.float64)].whole()
        if self.plan is None:
            return local
        columns = np.concatenate([np.arange(self.lo, self.hi), self.plan.recv_global])
        return sp.csr_array((local.data, columns[local.indices], local.indptr), shape=(self.nl, self.n))

    @property
    def halo(self) -> int:
        """Entries this rank receives per product (``n - rows`` with the allgather)."""
        return self.width - self.nl

    def fill(self, x: np.ndarray) -> np.ndarray:
        """The extended vector ``[own | halo]`` (or the whole vector) this rank's rows read."""
        dt = np.dtype(x.dtype)
        ext = self.ext[dt]
        if self.exchange == "allgather":
            if self.size == 1:
                ext[:] = x
            else:
                self.comm.Allgatherv(np.ascontiguousarray(x), [ext, np.diff(self.cuts), self.cuts[:-1], _mpi_type(dt)])
        else:
            ext[: self.nl] = x
            if self.size > 1:
                forward = self.neighbours[0]
                sendbuf = np.take(x, self.plan.send_local, out=self._send[dt.type])  # type: ignore[union-attr]
                sc, sd, rc, rd = self._fwd
                t = _mpi_type(dt)
                forward.Neighbor_alltoallv([sendbuf, sc, sd, t], [ext[self.nl :], rc, rd, t])
        self.exchanges += 1
        return ext

    def matvec(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """This rank's rows of ``M x`` (in ``x``'s precision)."""
        ext = self.fill(x)
        y = self.local[np.dtype(x.dtype)].matvec(ext)
        if out is None:
            return y
        out[:] = y
        return out

    def rmatvec(self, x: np.ndarray) -> np.ndarray:
        """This rank's slice of ``M^T x``: the local transposed product, whose entries for other
        ranks' products are sent back to their owners and added there (the halo reversed)."""
        dt = np.dtype(x.dtype)
        y = self.local[dt].rmatvec(x)
        if self.size == 1:
            return np.asarray(y[: self.nl], dtype=dt)
        if self.exchange == "allgather":
            out = np.empty(self.nl, dtype=dt)
            self.comm.Reduce_scatter(np.ascontiguousarray(y, dtype=dt), out, recvcounts=np.diff(self.cuts).tolist())
            return out
        own = np.asarray(y[: self.nl], dtype=dt)
        back = self._back[dt.type]
        sc, sd, rc, rd = self._fwd
        t = _mpi_type(dt)
        halo = np.ascontiguousarray(y[self.nl :], dtype=dt)
        self.neighbours[1].Neighbor_alltoallv([halo, rc, rd, t], [back, sc, sd, t])
        own += np.bincount(self.plan.send_local, weights=back, minlength=self.nl).astype(dt)  # type: ignore[union-attr]
        return own

    def residual_into(self, r: np.ndarray, x: np.ndarray, out: np.ndarray, w: np.ndarray) -> tuple[float, float]:
        """This rank's rows of ``out = r - (I - M) x`` (in ``x``'s precision), with the sums
        over ranks of ``out . out`` and ``w . out`` (one ``Allreduce``): a solver's sweep.

        The serial solver's compiled kernel is not used here: on one thread per rank it was
        slower than scipy's product (22.5 against 17.2 ms for a 10^6-row block), and summed
        over column blocks in float32 it lost the small residual of a converging sweep.
        """
        np.subtract(r, x, out=out)
        out += self.local[np.dtype(x.dtype)].matvec(self.fill(x))
        total = self.sum(float(np.dot(out, out)), float(np.dot(w, out)))
        return float(total[0]), float(total[1])

    def sum(self, *values: float) -> np.ndarray:
        """The sums over ranks of a few numbers, in one ``Allreduce``."""
        from mpi4py import MPI

        local = np.array(values, dtype=np.float64)
        if self.size == 1:
            return local
        total = np.empty_like(local)
        self.comm.Allreduce(local, total, op=MPI.SUM)
        return total

    def norm(self, x: np.ndarray) -> float:
        return float(np.sqrt(self.sum(float(np.dot(x, x)))[0]))

    def gather(self, x: np.ndarray) -> np.ndarray:
        """The whole vector on every rank (``Allgatherv``, float64)."""
        from mpi4py import MPI

        whole = np.empty(self.n)
        if self.size == 1:
            whole[:] = x
            return whole
        counts = np.diff(self.cuts)
        self.comm.Allgatherv(np.ascontiguousarray(x, dtype=np.float64), [whole, counts, self.cuts[:-1], MPI.DOUBLE])
        return whole


@dataclass(frozen=True)
class DistributedPerron:
    """The Perron root of ``M`` and this rank's slices of its right and left vectors (float32),
    scaled so that ``w . u = 1`` over all ranks; ``rho = 0`` means no deflation.

    Like :class:`glasnost.compute.linear._Perron` they only build a preconditioner, so a
    settled power iteration (40 steps at most) is accurate enough.
    """

    rho: float
    u: np.ndarray
    w: np.ndarray
    steps: int

    POWER_STEPS = 40

    @classmethod
    def of(cls, M: DistributedMatrix) -> DistributedPerron:
        rho, u, su = _distributed_power(M, M.matvec)
        _, w, sw = _distributed_power(M, M.rmatvec)
        overlap = float(M.sum(float(np.dot(w.astype(np.float64), u)))[0])
        if not (0.0 < rho < 1.0) or overlap <= 1e-12:
            return cls(0.0, np.zeros_like(u), np.zeros_like(w), su + sw)
        return cls(rho, u, (w / overlap).astype(np.float32), su + sw)


def _distributed_power(M: DistributedMatrix, product: Any) -> tuple[float, np.ndarray, int]:
    """Dominant eigenvalue and a unit eigenvector of a non-negative operator (float32), by the
    power method from the all-ones vector, stopped when the eigenvalue settles to 1e-6."""
    v = np.full(M.nl, 1.0 / np.sqrt(M.n), dtype=np.float32)
    rho, steps = 0.0, 0
    for steps in range(1, DistributedPerron.POWER_STEPS + 1):
        av = product(v)
        norm = M.norm(av)
        if norm == 0.0 or not np.isfinite(norm):
            return 0.0, v, steps
        v = (av / np.float32(norm)).astype(np.float32)
        settled = abs(norm - rho) <= 1e-6 * norm
        rho = norm
        if settled:
            break
    return rho, v, steps


def deflated_solve(
    M: DistributedMatrix,
    d: np.ndarray,
    perron: DistributedPerron,
    *,
    rtol: float = 1e-13,
    max_iter: int = 2000,
    mixed: bool = True,
    stall_rate: float = 0.5,
) -> tuple[np.ndarray, int, bool]:
    """``(I - M) x = d`` over the ranks by the deflated Neumann iteration of the serial solver
    (:func:`glasnost.compute.linear._deflated`): sweeps ``e <- e + P^-1 (r - (I - M) e)`` with
    ``P^-1 s = s + rho / (1 - rho) u (w . s)``, in float32 when ``mixed``, each solving for a
    correction from the true float64 residual. One sweep: one halo exchange and one
    ``Allreduce`` of ``[s . s, w . s]``. Returns this rank's slice of x, the sweeps, and
    whether the contraction stalled (another method should finish)."""
    dtype = np.dtype(np.float32 if mixed else np.float64)
    floor = 2e-6 if mixed else 1e-14
    gain = np.float64(perron.rho / (1.0 - perron.rho)) if perron.rho > 0 else 0.0
    u, w = perron.u.astype(dtype), perron.w.astype(dtype)
    x = np.zeros(M.nl)
    dnorm = M.norm(d) or 1.0
    r, beta = d.copy(), dnorm
    total = 0
    while total < max_iter:
        r_in = (r / beta).astype(dtype)
        goal = max(rtol * dnorm / beta, floor)
        e = r_in.copy()
        if gain:
            e += dtype.type(gain * M.sum(float(np.dot(w, r_in)))[0]) * u
        s = np.empty_like(e)
        first = 1.0
        for step in range(1, max_iter - total + 1):
            ss, ws = M.residual_into(r_in, e, s, w)  # s = r_in - (I - M) e
            res = float(np.sqrt(ss))
            total += 1
            e += s
            if gain:
                e += dtype.type(gain * ws) * u
            if res <= goal:
                break
            first = res if step == 1 else first
            # stalled: the residual shrank by less than stall_rate per sweep since the first
            # (the first sweep may grow it: M is not normal, and nothing is peeled off here)
            if not np.isfinite(res) or (step >= 4 and res > first * stall_rate ** (step - 1)):
                if np.isfinite(res):
                    x += beta * e.astype(np.float64)
                return x, total, True
        x += beta * e.astype(np.float64)
        r = d - (x - M.matvec(x))
        beta = M.norm(r)
        if beta <= rtol * dnorm:
            return x, total, False
        if not np.isfinite(beta) or beta > 1e12 * dnorm:
            break
    return x, total, True


class DistributedLeontief:
    """``(I - M) x = d`` over the MPI ranks for a matrix ``M`` every rank holds (``A``, or
    ``A^T`` for values), prepared once for repeated solves.

    Parameters
    ----------
    M : (n, n) sparse matrix.
    comm : an mpi4py communicator (default ``COMM_WORLD``).
    exchange : ``'halo'`` or ``'allgather'`` (see :class:`DistributedMatrix`).
    order : ``'natural'`` (as given) or ``'rcm'`` (reverse Cuthill-McKee, :func:`locality_order`,
        so that row blocks read fewer entries of other blocks).
    """

    def __init__(self, M: object, comm: Any | None = None, *, exchange: str = "halo", order: str = "natural") -> None:
        if order not in ("natural", "rcm"):
            raise ValueError(f"unknown order {order!r} (natural or rcm)")
        self.comm = _comm(comm)
        M = sp.csr_array(M, dtype=np.float64)
        self.perm = locality_order(M) if order == "rcm" else None
        if self.perm is not None:
            M = sp.csr_array(M[self.perm][:, self.perm])
        M.sort_indices()
        self.matrix = DistributedMatrix.from_matrix(M, self.comm, exchange=exchange)
        self._perron: DistributedPerron | None = None

    @classmethod
    def from_distributed(cls, matrix: DistributedMatrix) -> DistributedLeontief:
        """A system over row blocks the ranks built themselves (natural order)."""
        system = cls.__new__(cls)
        system.comm, system.perm, system.matrix, system._perron = matrix.comm, None, matrix, None
        return system

    def solve_local(
        self, d_local: np.ndarray, *, rtol: float = 1e-13, max_iter: int = 2000
    ) -> tuple[np.ndarray, int, float, str]:
        """:meth:`solve` from this rank's slice of the right-hand side (natural order only)."""
        d = np.zeros(self.matrix.n)
        d[self.matrix.lo : self.matrix.hi] = d_local
        return self.solve(d, rtol=rtol, max_iter=max_iter)

    @property
    def perron(self) -> DistributedPerron:
        if self._perron is None:
            self._perron = DistributedPerron.of(self.matrix)
        return self._perron

    def solve(self, d: np.ndarray, *, rtol: float = 1e-13, max_iter: int = 2000) -> tuple[np.ndarray, int, float, str]:
        """The whole solution on every rank, the sweeps, the relative residual
        ``||(I - M) x - d|| / ||d||`` (recomputed in float64) and the method used."""
        d = np.asarray(d, dtype=np.float64)
        dp = d if self.perm is None else d[self.perm]
        m = self.matrix
        d_local = dp[m.lo : m.hi]
        with _one_blas_thread(m.size):
            x, iters, stalled = deflated_solve(m, d_local, self.perron, rtol=rtol, max_iter=max_iter)
            method = "deflated"
            if stalled:  # finish with GMRES on the correction
                r = d_local - (x - m.matvec(x))
                gmres = RowBlockSystem(m.global_block(), self.comm, m.cuts, local=True)
                e, extra, _ = gmres.solve(r, rtol=rtol * (m.norm(d_local) or 1.0) / (m.norm(r) or 1.0))
                x, iters, method = x + e, iters + extra, "deflated+gmres"
            r = d_local - (x - m.matvec(x))
            residual = m.norm(r) / (m.norm(d_local) or 1.0)
        whole = m.gather(x)
        if self.perm is not None:
            out = np.empty_like(whole)
            out[self.perm] = whole
            whole = out
        if not np.all(np.isfinite(whole)) or residual > 1e-6:
            raise NotProductiveError([], float("nan"), where=f"MPI {method} iteration did not converge")
        return whole, iters, residual, method


class MpiLeontiefSystem:
    """:class:`glasnost.compute.linear.LeontiefSystem`'s ``solve`` over the MPI ranks, for code
    written against the serial solver (the large-scale plan optimiser, :func:`large_plan_mpi`).

    Every rank holds ``A`` and calls :meth:`solve` with the same right-hand side in the same
    order; every rank gets the whole solution. The row blocks of ``A`` and of ``A^T`` are
    prepared on first use. ``exchange`` and ``order`` as in :class:`DistributedLeontief`.
    """

    def __init__(self, A: object, comm: Any | None = None, *, exchange: str = "halo", order: str = "natural") -> None:
        self.A = sp.csr_array(A, dtype=np.float64)
        self.n = self.A.shape[0]
        self.comm = _comm(comm)
        self.exchange, self.order = exchange, order
        self._systems: dict[bool, DistributedLeontief] = {}

    @classmethod
    def from_blocks(
        cls, At: sp.csr_array, A: sp.csr_array, cuts: np.ndarray, comm: Any, *, exchange: str = "halo"
    ) -> MpiLeontiefSystem:
        """A system over row blocks of ``A^T`` and ``A`` the ranks built themselves (rows
        ``cuts[r]`` to ``cuts[r + 1] - 1`` on rank ``r``, natural order): no rank holds ``A``."""
        system = cls.__new__(cls)
        system.A, system.n, system.comm = None, int(cuts[-1]), comm  # type: ignore[assignment]
        system.exchange, system.order = exchange, "natural"
        system._systems = {
            t: DistributedLeontief.from_distributed(DistributedMatrix(M, cuts, comm, exchange=exchange))
            for t, M in ((True, At), (False, A))
        }
        return system

    def _system(self, transpose: bool) -> DistributedLeontief:
        if transpose not in self._systems:
            M = sp.csr_array(self.A.T) if transpose else self.A
            self._systems[transpose] = DistributedLeontief(M, self.comm, exchange=self.exchange, order=self.order)
        return self._systems[transpose]

    def solve(
        self, d: np.ndarray, *, transpose: bool = False, rtol: float = 1e-11, max_iter: int = 2000, **_: object
    ) -> tuple[np.ndarray, SolveReport]:
        """``(I - A) x = d`` (or ``x (I - A) = d``) for a vector or an (n, k) matrix of
        right-hand sides; other keywords of the serial ``solve`` are accepted and ignored."""
        start = time.perf_counter()
        d = np.asarray(d, dtype=np.float64)
        if d.shape[0] != self.n:
            raise ValueError(f"right-hand side has {d.shape[0]} rows for a system of {self.n}")
        columns = d[:, None] if d.ndim == 1 else d
        system = self._system(transpose)
        x = np.zeros_like(columns)
        iters, resid, used = 0, 0.0, "deflated"
        for j in range(columns.shape[1]):
            if not columns[:, j].any():
                continue
            x[:, j], it, res, used = system.solve(columns[:, j], rtol=rtol, max_iter=max_iter)
            iters, resid = iters + it, max(resid, res)
        if np.all(d >= 0) and x.min(initial=0.0) < -1e-9 * max(np.abs(x).max(initial=0.0), 1.0):
            raise NotProductiveError([], float("nan"), where="technology")
        out = x[:, 0] if d.ndim == 1 else x
        return out, SolveReport(_method(system, used), iters, resid, time.perf_counter() - start)


def large_plan_mpi(economy: Economy, *, comm: Any | None = None, **options: Any) -> Any:
    """:func:`glasnost.compute.largeplan.large_plan` with its Leontief solves over the MPI ranks
    (:class:`MpiLeontiefSystem`). Every rank runs the pivoting rounds and the small reduced LP
    itself (they are the same on every rank, being computed from the same solves) and gets the
    same plan. The time limit is not applied (``time_limit=None``): ranks timing themselves could
    take different branches and wait on each other for ever."""
    from glasnost.compute.largeplan import large_plan

    comm = _comm(comm)
    options["time_limit"] = None
    return large_plan(economy, leontief=lambda A: MpiLeontiefSystem(A, comm), **options)


def _system(economy: Economy, transpose: bool, comm: Any, exchange: str, order: str) -> DistributedLeontief:
    key = ("mpi-system", transpose, id(comm), exchange, order)
    system = economy._meta.get(key)
    if system is None:
        A = sp.csr_array(economy.technique.A, dtype=np.float64)
        system = DistributedLeontief(sp.csr_array(A.T) if transpose else A, comm, exchange=exchange, order=order)
        economy._meta[key] = system
    return system


def _method(system: DistributedLeontief, used: str) -> str:
    m = system.matrix
    return f"mpi-{used} ({m.size} ranks, {m.exchange})"


def gross_output_mpi(
    economy: Economy,
    final_demand: object = None,
    *,
    comm: Any | None = None,
    rtol: float = 1e-13,
    exchange: str = "halo",
    order: str = "natural",
) -> GrossOutput:
    """:func:`glasnost.compute.gross_output` with ``A`` in row blocks over the MPI ranks
    (:class:`DistributedLeontief`; ``exchange`` and ``order`` as there).

    Every rank calls it with the same economy and demand; every rank gets the whole result.
    Units as in :class:`~glasnost.compute.GrossOutput`.
    """
    from glasnost.compute.values import _final_demand, gross_output_result

    comm = _comm(comm)
    start = time.perf_counter()
    tech = economy.technique
    d = _final_demand(economy, final_demand, tech.produced)
    system = _system(economy, False, comm, exchange, order)
    x, iters, resid, used = system.solve(d, rtol=rtol)
    report = SolveReport(_method(system, used), iters, resid, time.perf_counter() - start)
    return gross_output_result(economy, tech, d, x, report)


def labour_values_mpi(
    economy: Economy, *, comm: Any | None = None, rtol: float = 1e-13, exchange: str = "halo", order: str = "natural"
) -> Values:
    """:func:`glasnost.compute.labour_values` with ``A^T`` in row blocks over the MPI ranks.

    Hours (or resource units) per unit of each product; every rank gets the whole result.
    """
    from glasnost.compute.values import Values

    comm = _comm(comm)
    start = time.perf_counter()
    tech = economy.technique
    system = _system(economy, True, comm, exchange, order)
    L = sp.csr_array(tech.primary)
    by_input = np.zeros((L.shape[0], tech.size))
    iters, resid, methods = 0, 0.0, []
    for k in range(L.shape[0]):
        lk = L[[k]].toarray().ravel()
        if not lk.any():
            continue
        by_input[k], it, res, used = system.solve(lk, rtol=rtol)
        iters, resid = iters + it, max(resid, res)
        methods.append(used)
    kinds = economy.commodities.kinds[tech.primary_index]
    used = "+".join(dict.fromkeys(methods)) or "deflated"
    return Values(
        ids=select(economy.commodities.ids, tech.produced),
        primary_ids=economy.commodities.ids[tech.primary_index],
        primary_kinds=kinds,
        by_input=by_input,
        labour=by_input[kinds == Kind.LABOUR].sum(axis=0),
        report=SolveReport(_method(system, used), iters, resid, time.perf_counter() - start),
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
