"""The Leontief solver's set-up in one pass each over the matrix's entries.

Peeling (which products no cycle of use passes through) counts each product's users once and
takes a newly peeled level's users off the count, instead of a product with the whole matrix
per level; the reordered core is cut from the entry arrays by relabelling, instead of scipy's
row and then column fancy indexing. :class:`Split` holds the peeled levels and solves them by
substitution. :func:`peel_levels_by_products` and :func:`permuted_by_indexing` are the plain
formulations, kept to test the fast ones against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from glasnost.compute.sparse_add import csc_matvec as _csc_matvec
from glasnost.compute.sparse_add import csc_matvecs as _csc_matvecs
from glasnost.economy import native

try:  # the optional compiled kernels (setup.py); numpy does the same work without them
    from glasnost.compute import _kernels
except ImportError:  # pragma: no cover - installed without a C compiler
    _kernels = None

PART_ROWS = 50_000
"""Fewest rows a thread of the compiled counting transpose takes (fewer are not worth one)."""


def entry_rows(M: sp.csr_array) -> np.ndarray:
    """The row of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(M.shape[0], dtype=M.indices.dtype), np.diff(M.indptr))


def row_entries(M: sp.csr_array, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions in ``M.data`` of the entries of ``rows``, in that row order; entries per row)."""
    starts = M.indptr[rows].astype(np.int64)
    counts = M.indptr[rows + 1].astype(np.int64) - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64), counts
    shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return shift + np.arange(total, dtype=np.int64), counts


def csr_from_rows(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
    """CSR from entries already in row order (no sorting: the row pointer is a count)."""
    indptr = np.zeros(shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    index_type = np.int32 if max(shape) < 2**31 and data.size < 2**31 else np.int64
    return sp.csr_array((data, cols.astype(index_type, copy=False), indptr.astype(index_type)), shape=shape)


def off_diagonal(A: sp.csr_array, *, compiled: bool = True) -> sp.csr_array:
    """A without its diagonal and without stored zeros (square A), entries in their stored
    order: by one compiled pass where it is built (and ``compiled``), else by numpy."""
    if (
        compiled
        and _kernels is not None
        and A.shape[0] == A.shape[1]
        and A.indptr.dtype == A.indices.dtype == np.int32
        and A.data.dtype == np.float64
    ):
        indptr = np.empty_like(A.indptr)
        indices, data = np.empty_like(A.indices), np.empty_like(A.data)
        kept = _kernels.off_diagonal(A.indptr, A.indices, A.data, indptr, indices, data)
        off = sp.csr_array((data[:kept], indices[:kept], indptr), shape=A.shape)
        off.has_sorted_indices = A.has_sorted_indices
        return off
    rows = entry_rows(A)
    keep = (A.indices != rows) & (A.data != 0)
    return csr_from_rows(rows[keep], A.indices[keep], A.data[keep], A.shape)


def peel_levels(users: np.ndarray, off_t: sp.csr_array, *, max_levels: int) -> list[np.ndarray]:
    """Levels of products no cycle of use passes through: level 0 has no users (``users``: the
    entries in each product's row of the off-diagonal input matrix, whose transpose is
    ``off_t``), each next level only users in earlier levels. Stops after ``max_levels``
    levels or at a level smaller than n / 10,000. By one compiled pass over the peeled
    products' entries where it is built, else by numpy a level at a time."""
    n = off_t.shape[0]
    users_left = np.asarray(users, dtype=np.int64).copy()
    if _kernels is not None and off_t.indptr.dtype == off_t.indices.dtype == np.int32:
        order = np.empty(n, np.int32)
        starts = np.zeros(max_levels + 1, np.int64)
        found = _kernels.peel(off_t.indptr, off_t.indices, users_left, order, starts, max(1, n // 10_000))
        return [order[starts[k] : starts[k + 1]].astype(np.int64) for k in range(found)]
    peeled = np.zeros(n, bool)
    levels = []
    new = np.flatnonzero(users_left == 0)
    for _ in range(max_levels):
        if new.size == 0:
            break
        peeled[new] = True
        levels.append(new)
        if new.size < max(1, n // 10_000):  # the rest is not worth a pass each
            break
        entries, _ = row_entries(off_t, new)  # the inputs of the new level lose these users
        users_left -= np.bincount(off_t.indices[entries], minlength=n)
        new = np.flatnonzero((users_left == 0) & ~peeled)
    return levels


def peel_levels_by_products(off: sp.csr_array, *, max_levels: int) -> list[np.ndarray]:
    """:func:`peel_levels` by one product with the pattern per level (the reference)."""
    n = off.shape[0]
    pattern = sp.csr_array((np.ones(off.nnz), off.indices, off.indptr), shape=off.shape)
    peeled = np.zeros(n, bool)
    levels = []
    for _ in range(max_levels):
        users_left = pattern @ (~peeled).astype(np.float64)
        new = np.flatnonzero((users_left == 0) & ~peeled)
        if new.size == 0:
            break
        peeled[new] = True
        levels.append(new)
        if new.size < max(1, n // 10_000):
            break
    return levels


def rows_of(M: sp.csr_array, rows: np.ndarray) -> sp.csr_array:
    """``M[rows]`` (all columns)."""
    entries, counts = row_entries(M, rows)
    indptr = np.zeros(rows.size + 1, M.indices.dtype)
    np.cumsum(counts, out=indptr[1:])
    return sp.csr_array((M.data[entries], M.indices[entries], indptr), shape=(rows.size, M.shape[1]))


def row_block(M: sp.csr_array, first: int, last: int) -> sp.csr_array:
    """Rows ``first`` to ``last - 1`` of a CSR matrix, sharing its entry arrays (no copy)."""
    a, b = int(M.indptr[first]), int(M.indptr[last])
    indptr = M.indptr[first : last + 1] - a
    block = sp.csr_array((M.data[a:b], M.indices[a:b], indptr), shape=(last - first, M.shape[1]))
    block.has_sorted_indices = M.has_sorted_indices
    return block


def submatrix(M: sp.csr_array, rows: np.ndarray, cols: np.ndarray) -> sp.csr_array:
    """``M[rows][:, cols]`` with the columns relabelled 0.. in the order of ``cols``; rows keep
    their entries' order, so where ``cols`` is increasing the result's columns stay sorted."""
    position = np.full(M.shape[1], -1, np.int64)
    position[cols] = np.arange(cols.size)
    entries, counts = row_entries(M, rows)
    new_cols = position[M.indices[entries]]
    keep = new_cols >= 0
    new_rows = np.repeat(np.arange(rows.size), counts)[keep]
    return csr_from_rows(new_rows, new_cols[keep], M.data[entries][keep], (rows.size, cols.size))


def submatrix_t(M: sp.csr_array, rows: np.ndarray, cols: np.ndarray, *, compiled: bool = True) -> sp.csr_array:
    """The transpose of :func:`submatrix`, as CSR with sorted indices: by the compiled
    counting pass where it is built (and ``compiled``), else by numpy and scipy."""
    usable = compiled and _kernels is not None and M.nnz < 2**31 and M.data.dtype == np.float64
    indptr32 = M.indptr.astype(np.int32, copy=False)
    indices32 = M.indices.astype(np.int32, copy=False)
    if not usable:
        T = sp.csr_array(submatrix(M, rows, cols).T.tocsr())
        T.has_sorted_indices = True
        return T
    position = np.full(M.shape[1], -1, np.int64)
    position[cols] = np.arange(cols.size)
    rows64 = np.ascontiguousarray(rows, dtype=np.int64)
    parts = max(1, min(native.kernel_threads(), rows.size // PART_ROWS))
    counts = np.zeros((parts, cols.size), np.int64)
    _kernels.submatrix_t_count(indptr32, indices32, rows64, position, counts, parts)
    indptr = np.zeros(cols.size + 1, np.int64)
    np.cumsum(counts.sum(axis=0), out=indptr[1:])
    total = int(indptr[-1])
    # part q's entries of a column follow those of the parts before it
    next_free = np.cumsum(counts, axis=0)
    next_free -= counts
    next_free += indptr[:-1]
    out_indices = np.empty(total, np.int32)
    out_data = np.empty(total, np.float64)
    _kernels.submatrix_t_fill(
        indptr32, indices32, M.data, rows64, position, next_free, out_indices, out_data, parts
    )  # fmt: skip
    index_type = np.int32 if total < 2**31 else np.int64
    T = sp.csr_array((out_data, out_indices, indptr.astype(index_type)), shape=(cols.size, rows.size))
    T.has_sorted_indices = True
    return T


def transpose(M: sp.csr_array) -> sp.csr_array:
    """``M``'s transpose as CSR with sorted indices: by the compiled counting pass on all
    cores where it is built, else by scipy."""
    if _kernels is None or M.nnz >= 2**31 or M.data.dtype != np.float64:
        T = sp.csr_array(M.T.tocsr())
        T.sort_indices()
        return T
    return submatrix_t(M, np.arange(M.shape[0]), np.arange(M.shape[1]))


def gathered_submatrix(M: sp.csr_array, rows: np.ndarray, cols: np.ndarray, *, sort: bool = True) -> sp.csr_array:
    """:func:`submatrix`, with sorted indices where ``sort``: the selected rows gathered and
    relabelled (and each sorted) by one compiled pass on all cores where it is built, else
    by numpy."""
    usable = _kernels is not None and M.nnz < 2**31 and M.data.dtype == np.float64
    if not usable:
        return submatrix_fast(M, rows, cols) if sort else submatrix(M, rows, cols)
    position = np.full(M.shape[1], -1, np.int32)
    position[cols] = np.arange(cols.size, dtype=np.int32)
    rows64 = np.ascontiguousarray(rows, dtype=np.int64)
    indptr32 = M.indptr.astype(np.int32, copy=False)
    indptr = np.zeros(rows.size + 1, np.int32)  # room for every entry of each row, to begin with
    np.cumsum(indptr32[rows64 + 1] - indptr32[rows64], out=indptr[1:])
    indices, data = np.empty(indptr[-1], np.int32), np.empty(indptr[-1])
    kept = _kernels.submatrix_rows(
        indptr32, M.indices.astype(np.int32, copy=False), M.data, rows64, position, indptr, indices, data,
        sort, native.kernel_threads(),
    )  # fmt: skip
    S = sp.csr_array((data[:kept], indices[:kept], indptr), shape=(rows.size, cols.size))
    S.has_sorted_indices = sort
    return S


def submatrix_fast(M: sp.csr_array, rows: np.ndarray, cols: np.ndarray) -> sp.csr_array:
    """:func:`submatrix` with sorted indices, through the compiled transposed submatrix."""
    S = sp.csr_array(submatrix_t(M, rows, cols).T.tocsr())
    S.has_sorted_indices = True
    return S


def permuted_pair(A_t: sp.csr_array, order: np.ndarray) -> tuple[sp.csr_array, sp.csr_array]:
    """``A[order][:, order]`` (CSR with sorted indices) and its transpose (CSR, each row's
    entries in ``A_t``'s order), from ``A_t``, A's transpose: the transpose's rows gathered
    from ``A_t`` (each read once, written in order), the other by one counting transpose of
    that. A product needs no particular order within a row, and sorting the gathered rows
    (relabelled columns come in a random order) cost twice the gather."""
    M_t = gathered_submatrix(A_t, order, order, sort=False)
    M = transpose(M_t)
    M.has_sorted_indices = M_t.has_sorted_indices = True
    return M, M_t


def permuted_by_indexing(A: sp.csr_array, order: np.ndarray, *, transpose: bool) -> sp.csr_array:
    """:func:`permuted` by scipy's fancy indexing (the reference)."""
    M = sp.csr_array(A[order][:, order])
    if transpose:
        M = sp.csr_array(M.T)
    M.sort_indices()
    return M


@dataclass
class Split:
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
    def of(cls, A_t: sp.csr_array) -> Split:
        """The split of A, from ``A_t``, A's transpose (CSR)."""
        n = A_t.shape[0]
        diag = A_t.diagonal()
        off_t = off_diagonal(A_t)
        users = np.bincount(off_t.indices, minlength=n)
        level_sets = peel_levels(users, off_t, max_levels=cls.MAX_LEVELS)
        peeled = np.concatenate(level_sets) if level_sets else np.zeros(0, np.int64)
        inputs = rows_of(off_t, peeled)  # every level's rows in one gather, then cut
        bounds = np.cumsum([0, *(S.size for S in level_sets)])
        levels = [
            (S, row_block(inputs, int(a), int(b)), 1.0 - diag[S])
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

    def solve_peeled_block(self, X: np.ndarray, D: np.ndarray, *, transpose: bool) -> np.ndarray | None:
        """:meth:`solve_peeled` for (n, k) blocks ``X`` and ``D`` (C-contiguous): each level's
        rows of the matrix are read once for all columns. Without ``transpose``, returns the
        core's inflow, per product and column."""
        if transpose:
            for S, inputs, one_minus_diag in reversed(self.levels):
                X[S] = (D[S] + inputs @ X) / one_minus_diag[:, None]
            return None
        inflow = np.zeros(X.shape)
        for S, inputs, one_minus_diag in self.levels:
            XS = (D[S] + inflow[S]) / one_minus_diag[:, None]  # every user of S is in an earlier level
            X[S] = XS
            # inflow += inputs.T @ XS in place, the rows of inputs read as columns
            n, m = inputs.shape[1], inputs.shape[0]
            _csc_matvecs(n, m, X.shape[1], inputs.indptr, inputs.indices, inputs.data, XS.ravel(), inflow.ravel())
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
