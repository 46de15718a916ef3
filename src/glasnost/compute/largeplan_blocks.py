"""The large-scale plan optimiser under MPI with each rank reading only its own processes.

``mpiexec -n N glasnost plan DIR --method large --mpi`` on a schema version 2 directory: rank
``r`` reads the coefficient rows of processes ``[m r / N, m (r + 1) / N)`` and their
capacities, through the reader of ``values --mpi`` (:func:`glasnost.compute.mpi_blocks.read_rank_block`),
and builds from them its rows of the scale LP (:class:`~glasnost.compute.largeplan.ScaleLP`:
net outputs of produced goods, use of limited inputs). Every rank then runs the pivoting rounds
of :func:`glasnost.compute.largeplan.solve_scale` on its block, with sums over the ranks
(:class:`MpiRanks`), and each reference technique's Leontief system is built from the blocks
(:func:`~glasnost.compute.mpi_blocks.technique_blocks`: one ``Alltoallv`` sends every entry of
``A`` and ``A^T`` to the rank owning its row), so no rank ever holds the whole matrix.

What is not cut in blocks:

* on every rank, vectors of one entry per product or per limited input: targets, prices, the
  reference technique (a process per good) with its outputs and capacities, the solutions of
  the Leontief solves (gathered by the solver), the embodied use of the ``k`` limited inputs
  (``n x k``) and the explicit rows' ``M_B^{-T}`` columns (``n x r``);
* on rank 0 alone, the reduced LP: a dense ``(k + r) x (m - n + 1)`` matrix (one column per
  non-reference process) that HiGHS solves; each rank sends its columns and gets back its
  share of the solution. And the answer: every process's activity and rent and the ids.

So memory per rank is its share of the coefficients and of the Leontief blocks plus vectors
of length ``n``; rank 0 adds ``(k + r + 2) m`` numbers for the reduced LP and the answer.
The time limit is not applied (ranks timing themselves could take different branches).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from glasnost.compute.largeplan import Ranks, ScaleLP, plan_prices, solve_scale
from glasnost.compute.lp import PlanError
from glasnost.compute.mpi import MpiLeontiefSystem, _comm
from glasnost.compute.mpi_blocks import RankBlock, product_cuts, read_rank_block, technique_blocks
from glasnost.compute.result import Plan


class MpiRanks(Ranks):
    """:class:`~glasnost.compute.largeplan.Ranks` over an mpi4py communicator (rank 0 the root)."""

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI

        self.comm, self.mpi = comm, MPI
        self.root = comm.Get_rank() == 0

    def _reduce(self, x: Any, op: Any) -> Any:
        if np.ndim(x) == 0:
            return self.comm.allreduce(x, op=op)
        x = np.ascontiguousarray(x)
        total = np.empty_like(x)
        self.comm.Allreduce(x, total, op=op)
        return total

    def sum(self, x: np.ndarray) -> np.ndarray:
        return self._reduce(x, self.mpi.SUM)

    def max(self, x: Any) -> Any:
        return self._reduce(x, self.mpi.MAX)

    def any(self, flag: bool) -> bool:
        return bool(self.comm.allreduce(bool(flag), op=self.mpi.LOR))

    def concat(self, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        every = self.comm.allgather(arrays)
        return tuple(np.concatenate([part[i] for part in every]) for i in range(len(arrays)))

    def counts(self, size: int) -> np.ndarray:
        return np.asarray(self.comm.allgather(int(size)), dtype=np.int64)

    def gather(self, x: np.ndarray) -> np.ndarray | None:
        rows = 1 if x.ndim == 1 else x.shape[0]
        sizes = self.counts(x.size)
        recv = np.empty(int(sizes.sum())) if self.root else None
        spec = [recv, sizes, np.cumsum(sizes) - sizes, self.mpi.DOUBLE] if self.root else None
        self.comm.Gatherv(np.ascontiguousarray(x.T, dtype=np.float64), spec, root=0)
        if recv is None:
            return None
        return recv if x.ndim == 1 else recv.reshape(-1, rows).T

    def on_root(self, solve: Any) -> Any:
        answer: Any = None
        if self.root:
            try:
                answer = solve()
            except Exception as exc:  # sent to every rank and raised there
                answer = exc
        sent = answer if isinstance(answer, Exception) or not self.root else (None, *answer[1:])
        shared = self.comm.bcast(sent, root=0)
        if isinstance(shared, Exception):
            raise shared
        return (answer[0], *shared[1:]) if self.root else shared

    def scatter(self, x: np.ndarray | None, counts: np.ndarray) -> np.ndarray:
        mine = np.empty(int(counts[self.comm.Get_rank()]))
        spec = [x, counts, np.cumsum(counts) - counts, self.mpi.DOUBLE] if self.root else None
        self.comm.Scatterv(spec, mine, root=0)
        return mine


def _first_bad(mask: np.ndarray, block: RankBlock, ranks: MpiRanks) -> int:
    """The smallest global process position where ``mask`` holds on any rank (-1 if none)."""
    local = int(np.argmax(mask)) + block.first if mask.any() else block.total
    worst = -ranks.max(-local)
    return -1 if worst == block.total else worst


def block_scale_lp(block: RankBlock, comm: Any) -> ScaleLP:
    """This rank's rows of the scale LP (:func:`glasnost.compute.largeplan.scale_lp` for the
    directory's own targets and supplies), its reference techniques built over the ranks."""
    ranks = MpiRanks(comm)
    layout, out_m = block.layout, block.outputs
    bad = _first_bad(np.diff(out_m.indptr) != 1, block, ranks)
    if bad >= 0:
        raise PlanError(
            f"process position {bad} does not have exactly one output; large_plan needs one (use optimal_plan)"
        )
    good = layout.product_of[out_m.indices].astype(np.int64)
    out = np.asarray(out_m.data, dtype=np.float64)
    bad = _first_bad((good < 0) | (out <= 0), block, ranks)
    if bad >= 0:
        raise PlanError(f"process position {bad} does not make a produced good")
    produced, primary = layout.produced, layout.primary
    t = layout.targets[produced]
    if not (t > 0).any():
        raise PlanError("the scale objective needs a positive target for at least one product")
    limited = primary[np.isfinite(layout.supply[primary])]
    N = sp.csr_array(block.outputs - block.inputs)
    cuts = product_cuts(produced.size, comm.Get_size())

    def technique(process: np.ndarray) -> MpiLeontiefSystem:
        At, A, _ = technique_blocks(block, process, comm)
        return MpiLeontiefSystem.from_blocks(At, A, cuts, comm)

    return ScaleLP(
        economy=None,
        produced=produced,
        limited=limited,
        good=good,
        out=out,
        net=sp.csr_array(N[:, produced]),
        use=sp.csr_array(-N[:, limited]),
        cap=block.capacity(),
        target=t,
        supply=layout.supply[limited],
        makers_order=np.argsort(good, kind="stable"),
        first=block.first,
        total=block.total,
        ranks=ranks,
        technique=technique,
    )


def large_plan_from_directory(
    directory: str | Path, *, comm: Any | None = None, rtol: float = 1e-6, max_rounds: int = 60
) -> Plan | None:
    """The certified scale plan of a version 2 economy directory, each rank reading only its
    block of processes. Every rank calls it; rank 0 gets the plan, the others ``None``."""
    comm = _comm(comm)
    start = time.perf_counter()
    block = read_rank_block(directory, comm)
    lp = block_scale_lp(block, comm)
    best, status, rounds, solves, iterations = solve_scale(
        lp, rtol=rtol, time_limit=None, max_rounds=max_rounds, start=start
    )
    prices, rents = plan_prices(lp, best, block.layout.n_commodities, status)
    assert best.activity is not None
    net_output = lp.ranks.sum(np.asarray((block.outputs - block.inputs).T @ best.activity).ravel())
    activity, rents = lp.ranks.gather(best.activity), lp.ranks.gather(rents)
    process_ids = comm.gather(block.process_ids(), root=0)
    if activity is None or rents is None:
        return None
    return Plan(
        objective_kind="scale",
        objective=best.z,
        activity=activity,
        net_output=net_output,
        prices=prices,
        capacity_rents=rents,
        scale=best.z,
        dual_bound=best.bound,
        gap=best.gap,
        method="glasnost-large",
        iterations=iterations,
        seconds=time.perf_counter() - start,
        commodity_ids=block.commodity_ids(),
        process_ids=np.concatenate(process_ids),
        extra={
            "status": status, "rounds": rounds, "solves": solves, "violation": best.violation,
            "ranks": comm.Get_size(), "rows_read": block.stats.rows_read,
        },
    )  # fmt: skip
