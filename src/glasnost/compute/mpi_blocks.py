"""Labour values and gross output under MPI with each rank reading only its own rows.

``mpiexec -n N glasnost values DIR --mpi`` on a schema version 2 directory: rank r reads the
coefficient row groups of processes ``[m r / N, m (r + 1) / N)`` (:func:`read_process_block`)
and nothing else of the coefficients; the commodity kinds and targets (one byte and one
float per commodity) are read by every rank, the string ids by rank 0 alone, for the answer.

From its processes a rank finds which of them the default technique uses (the first
single-output process of each product: one ``Allreduce(MIN)`` over the products) and turns
their input rows into entries of ``A^T`` (row: the product the process makes) and of the
primary-input matrix. One ``Alltoallv`` sends each entry of ``A^T`` to the rank that owns
its row (labour values solve ``(I - A^T) v = l``) and one more each entry of ``A`` to the
owner of its row (gross output solves ``(I - A) x = d``); the blocks then feed
:class:`glasnost.compute.mpi.DistributedMatrix` and the same deflated iteration as
:func:`glasnost.compute.mpi.labour_values_mpi`. Memory per rank: its share of the
coefficients (read, then as the two blocks), the halo, and a few vectors of one entry per
product (the technique's maker table, the solution gathered for the answer).

Productiveness is not checked up front here (it would need the whole matrix on one rank):
an unproductive technology shows as an iteration that does not converge, which raises
:class:`~glasnost.economy.NotProductiveError` as in the serial solver.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from glasnost.compute.linear import SolveReport
from glasnost.compute.mpi import DistributedLeontief, DistributedMatrix, _comm, _one_blas_thread
from glasnost.compute.values import GrossOutput, Values
from glasnost.economy import EconomyError, Kind
from glasnost.economy.files import parquet_file, read_manifest, read_parquet, string_array
from glasnost.economy.io_v2 import SCHEMA_VERSION, ProcessBlock, _matrices, read_process_block, read_row_range
from glasnost.economy.io_v2 import _path as file_path


@dataclass
class BlockStats:
    """What this rank read and held: coefficient rows read, its process range, its rows of
    ``A^T`` and of ``A``."""

    rows_read: int = 0
    total_rows: int = 0
    processes: tuple[int, int] = (0, 0)
    products: tuple[int, int] = (0, 0)
    nnz: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
    """The commodities as every rank reads them: one byte and two floats per commodity."""

    produced: np.ndarray  # commodity positions of produced commodities
    primary: np.ndarray  # commodity positions of primary inputs
    kinds: np.ndarray
    supply: np.ndarray
    targets: np.ndarray
    product_of: np.ndarray  # commodity position -> product index, -1 if not produced
    primary_of: np.ndarray  # commodity position -> primary index, -1 if not primary

    @property
    def n_commodities(self) -> int:
        return int(self.kinds.size)


def _layout(root: Path, manifest: dict) -> Layout:
    path = file_path(root, manifest, "commodities")
    t = read_parquet(path, {"kind": pa.uint8(), "supply": pa.float64(), "target": pa.float64()})
    kinds = t.column("kind").to_numpy()
    targets = t.column("target").fill_null(0.0).to_numpy()
    supply = t.column("supply").fill_null(0.0).to_numpy()
    for values, what in ((targets, "target"), (supply, "supply")):
        bad = np.isnan(values) | (values < 0) | (np.isinf(values) & (what == "target"))
        if bad.any():
            raise EconomyError(f"row {int(np.argmax(bad))}: bad {what} {values[np.argmax(bad)]!r}", where=str(path))
    produced = np.flatnonzero(np.isin(kinds, [Kind.GOOD, Kind.PUBLIC_GOOD]))
    primary = np.flatnonzero(np.isin(kinds, [Kind.RESOURCE, Kind.LABOUR]))
    product_of = np.full(kinds.size, -1, np.int64)
    product_of[produced] = np.arange(produced.size)
    primary_of = np.full(kinds.size, -1, np.int64)
    primary_of[primary] = np.arange(primary.size)
    return Layout(produced, primary, kinds, supply, targets, product_of, primary_of)


def _check_block(block: ProcessBlock, n_commodities: int, path: Path) -> None:
    rows = block.rows
    for mask, what in (
        ((rows.commodity < 0) | (rows.commodity >= n_commodities), "commodity position"),
        ((rows.role < 0) | (rows.role > 2), "role code"),
        (~np.isfinite(rows.value) | (rows.value < 0), "value"),
    ):
        if mask.any():
            r = int(np.argmax(mask))
            raise EconomyError(
                f"row {rows.first_row + r} (process position {rows.process[r]}): bad {what}", where=str(path)
            )


@dataclass
class RankBlock:
    """One rank's share of a version 2 directory: processes ``[first, last)`` of ``total`` as
    CSR rows over all commodities (``outputs``, ``inputs``; local row ``i`` is process
    ``first + i``), the commodity :class:`Layout`, and what was read."""

    root: Path
    manifest: dict
    layout: Layout
    first: int
    last: int
    total: int
    outputs: sp.csr_array
    inputs: sp.csr_array
    stats: BlockStats

    @property
    def size(self) -> int:
        return self.last - self.first

    def capacity(self) -> np.ndarray:
        """This block's process capacities (``inf`` where unlimited), read from the file."""
        path = file_path(self.root, self.manifest, "processes")
        t = read_row_range(path, {"capacity": pa.float64()}, self.first, self.last, optional=("capacity",))
        if "capacity" not in t.column_names:
            return np.full(self.size, np.inf)
        cap = t.column("capacity").fill_null(np.inf).to_numpy()
        bad = np.isnan(cap) | (cap < 0)
        if bad.any():
            raise EconomyError(f"row {self.first + int(np.argmax(bad))}: bad capacity", where=str(path))
        return cap

    def process_ids(self) -> np.ndarray:
        """This block's process ids."""
        path = file_path(self.root, self.manifest, "process_ids")
        return string_array(read_row_range(path, {"id": pa.string()}, self.first, self.last).column("id"))

    def commodity_ids(self) -> np.ndarray:
        return _commodity_ids(self.root, self.manifest)


def raise_on_every_rank(error: Exception | None, comm: Any) -> None:
    """Raise the lowest rank's ``error`` on every rank (nothing if no rank has one), so that a
    problem one rank finds in its block stops them all instead of leaving the others waiting."""
    errors = comm.allgather(error)
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first


def read_rank_block(directory: str | Path, comm: Any) -> RankBlock:
    """Processes ``[m r / N, m (r + 1) / N)`` of a version 2 directory for rank ``r`` of ``N``:
    only the coefficient row groups that hold them are read (:func:`read_process_block`), and
    checked, with errors naming the file and row (raised on every rank). Every rank calls it."""
    block, error = None, None
    try:
        block = _read_rank_block(Path(directory), comm)
    except EconomyError as exc:
        error = exc
    raise_on_every_rank(error, comm)
    assert block is not None
    return block


def _read_rank_block(root: Path, comm: Any) -> RankBlock:
    manifest = read_manifest(root)
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise EconomyError("reading row blocks needs schema version 2 (run glasnost migrate)", where=str(root))
    size, rank = comm.Get_size(), comm.Get_rank()
    layout = _layout(root, manifest)
    path = file_path(root, manifest, "coefficients")
    m = parquet_file(file_path(root, manifest, "processes")).metadata.num_rows
    first, last = m * rank // size, m * (rank + 1) // size
    block = read_process_block(root, first, last)
    _check_block(block, layout.n_commodities, path)
    stats = BlockStats(
        rows_read=block.rows_read, total_rows=parquet_file(path).metadata.num_rows, processes=(first, last)
    )
    rows = replace(block.rows, process=block.rows.process - np.int32(first))
    del block
    mats = _matrices(rows, (last - first, layout.n_commodities), path, np.arange(first, last), None)
    outputs, inputs = mats["output"], mats["input"]
    assert outputs is not None and inputs is not None
    return RankBlock(root, manifest, layout, first, last, m, outputs, inputs, stats)


def chosen_makers(block: RankBlock, comm: Any) -> np.ndarray:
    """For each product, the first single-output process that makes it, over all ranks."""
    from mpi4py import MPI

    layout, out = block.layout, block.outputs
    single = np.flatnonzero(np.diff(out.indptr) == 1)
    product = layout.product_of[out.indices[out.indptr[single]]]
    candidates = single[product >= 0] + block.first
    product = product[product >= 0]
    sentinel = np.iinfo(np.int64).max
    local = np.full(layout.produced.size, sentinel, np.int64)
    np.minimum.at(local, product, candidates)
    maker = np.empty_like(local)
    comm.Allreduce(local, maker, op=MPI.MIN)
    if (maker == sentinel).any():
        j = int(np.argmax(maker == sentinel))
        raise EconomyError(f"no single-output process makes produced commodity position {layout.produced[j]}")
    return maker


Entries = tuple[np.ndarray, np.ndarray, np.ndarray]


def technique_entries(block: RankBlock, maker: np.ndarray) -> tuple[Entries, Entries]:
    """(entries of A^T as (product j, product i, a_ij)), (primary entries (j, k, l_kj)) of the
    technique ``maker`` (process of each product) held in this block, per unit of output."""
    layout, out = block.layout, block.outputs
    local = maker - block.first
    mine = np.flatnonzero((local >= 0) & (local < block.size))
    product_of_process = np.full(block.size, -1, np.int64)
    output_of_process = np.ones(block.size)
    product_of_process[local[mine]] = mine
    output_of_process[local[mine]] = out.data[out.indptr[local[mine]]]
    inputs = block.inputs
    process = np.repeat(np.arange(block.size), np.diff(inputs.indptr))
    j = product_of_process[process]
    use = j >= 0
    j, c = j[use], inputs.indices[use]
    v = inputs.data[use] / output_of_process[process[use]]
    i, k = layout.product_of[c], layout.primary_of[c]
    return (j[i >= 0], i[i >= 0], v[i >= 0]), (j[k >= 0], k[k >= 0], v[k >= 0])


def product_cuts(n: int, size: int) -> np.ndarray:
    """Rank boundaries of ``n`` products in equal shares."""
    return (n * np.arange(size + 1, dtype=np.int64)) // size


def technique_blocks(block: RankBlock, maker: np.ndarray, comm: Any) -> tuple[sp.csr_array, sp.csr_array, Entries]:
    """This rank's rows of ``A^T`` and of ``A`` for the technique ``maker`` (products cut in
    equal shares, :func:`product_cuts`), and the primary-input entries (j, k, l_kj) whose
    product j it owns: every entry travels once to the rank that owns its row."""
    (aj, ai, av), (pj, pk, pv) = technique_entries(block, maker)
    n, size, rank = block.layout.produced.size, comm.Get_size(), comm.Get_rank()
    cuts = product_cuts(n, size)
    lo, hi = int(cuts[rank]), int(cuts[rank + 1])
    At = _block_matrix(*_send_to_owners(aj, ai, av, cuts, comm), lo, hi, n)
    A = _block_matrix(*_send_to_owners(ai, aj, av, cuts, comm), lo, hi, n)
    return At, A, _send_to_owners(pj, pk, pv, cuts, comm)


def _send_to_owners(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, cuts: np.ndarray, comm: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every entry to the rank whose row block holds ``rows`` (one ``Alltoallv`` per array)."""
    from mpi4py import MPI

    owner = np.searchsorted(cuts, rows, side="right") - 1
    order = np.argsort(owner, kind="stable")
    rows, cols, vals = rows[order], cols[order], vals[order]
    send_counts = np.bincount(owner, minlength=comm.Get_size()).astype(np.int64)
    recv_counts = np.empty_like(send_counts)
    comm.Alltoall(send_counts, recv_counts)
    sd = np.concatenate([[0], np.cumsum(send_counts)[:-1]])
    rd = np.concatenate([[0], np.cumsum(recv_counts)[:-1]])
    total = int(recv_counts.sum())
    out = []
    for arr, mpi_type, dtype in (
        (rows, MPI.INT64_T, np.int64),
        (cols, MPI.INT64_T, np.int64),
        (vals, MPI.DOUBLE, np.float64),
    ):
        got = np.empty(total, dtype)
        comm.Alltoallv([np.ascontiguousarray(arr, dtype), send_counts, sd, mpi_type], [got, recv_counts, rd, mpi_type])
        out.append(got)
    return out[0], out[1], out[2]


def _block_matrix(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, lo: int, hi: int, n: int) -> sp.csr_array:
    m = sp.csr_array(sp.coo_array((vals, (rows - lo, cols)), shape=(hi - lo, n)))
    m.sum_duplicates()
    m.sort_indices()
    return m


@dataclass
class BlockSolution:
    """The answer on rank 0 (``None`` elsewhere) and what this rank read."""

    values: Values | None
    gross: GrossOutput | None
    stats: BlockStats


def _solve(matrix: DistributedMatrix, d_local: np.ndarray, rtol: float) -> tuple[np.ndarray, int, float, str]:
    system = DistributedLeontief.from_distributed(matrix)
    x, iters, residual, method = system.solve_local(d_local, rtol=rtol)
    return x, iters, residual, method


def values_from_directory(
    directory: str | Path, *, comm: Any | None = None, rtol: float = 1e-13, exchange: str = "halo"
) -> BlockSolution:
    """Labour values and gross output (for the targets) of a version 2 economy directory, each
    rank reading only its block of processes. Every rank calls it; rank 0 gets the answer."""
    comm = _comm(comm)
    start = time.perf_counter()
    size, rank = comm.Get_size(), comm.Get_rank()
    block = read_rank_block(directory, comm)
    layout, stats = block.layout, block.stats
    At, A, (pj, pk, pv) = technique_blocks(block, chosen_makers(block, comm), comm)
    root, manifest = block.root, block.manifest
    del block
    n = layout.produced.size
    cuts = product_cuts(n, size)
    lo, hi = int(cuts[rank]), int(cuts[rank + 1])
    stats.products = (lo, hi)
    primary_local = np.zeros((layout.primary.size, hi - lo))
    np.add.at(primary_local, (pk, pj - lo), pv)
    stats.nnz = {"A^T": int(At.nnz), "A": int(A.nnz)}
    with _one_blas_thread(size):
        mat_t = DistributedMatrix(At, cuts, comm, exchange=exchange)
        by_input = np.zeros((layout.primary.size, n))
        iters, resid, methods = 0, 0.0, []
        for k in range(layout.primary.size):
            if comm.allreduce(bool(primary_local[k].any())):
                by_input[k], it, res, used = _solve(mat_t, primary_local[k], rtol)
                iters, resid = iters + it, max(resid, res)
                methods.append(used)
        del mat_t, At
        mat = DistributedMatrix(A, cuts, comm, exchange=exchange)
        d = layout.targets[layout.produced]
        gross, g_iters, g_resid, g_used = _solve(mat, d[lo:hi], rtol)
        primary_use = comm.allreduce(primary_local @ gross[lo:hi])
    if rank != 0:
        return BlockSolution(None, None, stats)
    seconds = time.perf_counter() - start
    ids = _commodity_ids(root, manifest)
    kinds = layout.kinds[layout.primary]
    method = (
        f"mpi-{'+'.join(dict.fromkeys(methods)) or 'deflated'} ({size} ranks, {exchange}, row blocks read per rank)"
    )
    values = Values(
        ids=ids[layout.produced],
        primary_ids=ids[layout.primary],
        primary_kinds=kinds,
        by_input=by_input,
        labour=by_input[kinds == Kind.LABOUR].sum(axis=0),
        report=SolveReport(method, iters, resid, seconds),
    )
    gross_output = GrossOutput(
        ids=ids[layout.produced],
        gross=gross,
        final_demand=d,
        primary_ids=ids[layout.primary],
        primary_use=np.asarray(primary_use),
        report=SolveReport(
            f"mpi-{g_used} ({size} ranks, {exchange}, row blocks read per rank)", g_iters, g_resid, seconds
        ),
    )
    return BlockSolution(values, gross_output, stats)


def _commodity_ids(root: Path, manifest: dict) -> np.ndarray:
    t = read_parquet(file_path(root, manifest, "commodity_ids"), {"id": pa.string()})
    return string_array(t.column("id"))
