"""Synthetic economies of any size with a realistic input-output structure.

Real input-output tables have a core of industries that almost every other industry buys from
(energy, transport, trade, finance) and a long tail of specialised products used by few. The
generator draws each product's suppliers from a Zipf distribution over products (rank r chosen
with probability proportional to r^-zipf), so a few products are inputs everywhere and most are
inputs almost nowhere. Every column of A (the inputs per unit of a product, valued at base
prices) sums to a share drawn from ``input_share``, below 1, so A is productive by construction
(its spectral radius is at most the largest column sum).

Quantities are in "base-price units" (the amount of a product worth one unit at base prices);
labour is in hours.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from glasnost.economy import Commodities, Councils, Economy, Kind, Processes, check_productive, native
from glasnost.economy.model import STRING

try:  # the optional compiled kernels (setup.py); numpy and scipy give the same economy without them
    from glasnost.compute import _kernels
except ImportError:  # pragma: no cover - installed without a C compiler
    _kernels = None


def zipf_suppliers(rng: np.random.Generator, n: int, size: int, zipf: float) -> np.ndarray:
    """Draw ``size`` supplier indices in [0, n) with P(rank r) proportional to (r+1)^-zipf.

    Products are shuffled so the heavily used core is spread over the id range. The indices
    are int32 (int64 where n does not fit).
    """
    weights = np.arange(1, n + 1, dtype=np.float64) ** -zipf
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    buckets = 1 << min(22, max(10, int(np.ceil(np.log2(4 * n)))))  # a table of about 4 per product
    u = rng.random(size)
    perm = rng.permutation(n)
    if _compiled(size) and n < 2**31:
        rows = np.empty(size, np.int32)
        _kernels.zipf_rows(cdf, _bucket_starts(cdf, buckets), u, perm, rows, _threads())
        return rows
    ranks = np.minimum(_search_right(cdf, u, buckets), n - 1)
    return perm[ranks].astype(np.int32 if n < 2**31 else np.int64, copy=False)


def _bucket_starts(cdf: np.ndarray, buckets: int) -> np.ndarray:
    """start[b] = #{i: cdf[i] <= b / buckets} for b < buckets, exactly (int32)."""
    # = #{i: ceil(cdf[i] * buckets) <= b}: the scaling by a power of two is exact, so one count
    # instead of a binary search per bucket
    lowest_bucket = np.ceil(cdf * buckets).astype(np.int64)
    return np.cumsum(np.bincount(lowest_bucket, minlength=buckets + 1)[:buckets]).astype(np.int32)


def _search_right(cdf: np.ndarray, u: np.ndarray, buckets: int = 1 << 22) -> np.ndarray:
    """``np.searchsorted(cdf, u, side="right")`` for u in [0, 1), exactly, without a binary
    search per draw: a table gives the answer at the start of u's bucket (buckets is a power of
    two, so bucket starts are exact floats at or below u), and a few vectorised steps move
    the draws that lie past further entries of the cdf."""
    found = _bucket_starts(cdf, buckets)[(u * buckets).astype(np.int32 if buckets < 2**31 else np.int64)]
    n = cdf.size
    moving = np.flatnonzero((found < n) & (cdf[np.minimum(found, n - 1)] <= u))
    while moving.size:
        found[moving] += 1
        moving = moving[found[moving] < n]
        moving = moving[cdf[found[moving]] <= u[moving]]
    return found


def random_technology(
    n: int,
    inputs_per_product: int = 10,
    *,
    zipf: float = 1.0,
    input_share: tuple[float, float] = (0.3, 0.7),
    seed: int | np.random.Generator = 0,
) -> sp.csr_array:
    """A productive (n x n) input-output matrix A with about ``inputs_per_product`` inputs per
    column and column sums drawn uniformly from ``input_share``."""
    A, _ = _technology_columns(np.random.default_rng(seed), n, inputs_per_product, zipf, input_share)
    return sp.csr_array(A)


def _technology_columns(
    rng: np.random.Generator, n: int, inputs_per_product: int, zipf: float, input_share: tuple[float, float]
) -> tuple[sp.csc_array, np.ndarray]:
    """(A as CSC with sorted rows and no duplicates, A's column sums) of :func:`random_technology`.

    Each column's suppliers are drawn, sorted (equal rows kept in drawn order) and merged by
    adding in that order, as scipy's COO to CSC conversion does; the column sums are added
    from 0 in row order, as scipy sums the columns of A's CSR form. The compiled kernel does
    this in place where it is built (and a column holds at most 16 draws: there scipy's sort is
    an insertion sort, stable, so the order of the additions is known); scipy does it otherwise.
    """
    k = min(inputs_per_product, n)
    rows = zipf_suppliers(rng, n, n * k, zipf)
    raw = rng.lognormal(0.0, 1.0, n * k)
    if _compiled(n * k) and 0 < k <= 16:
        indptr = np.empty(n + 1, np.int32)
        nnz = _kernels.merge_columns(rows, raw, k, indptr, _threads())
        A = sp.csc_array((raw[:nnz], rows[:nnz], indptr), shape=(n, n))
        A.has_canonical_format = True
    else:
        cols = np.repeat(np.arange(n, dtype=np.int32), k)
        A = sp.csc_array((raw, (rows, cols)), shape=(n, n))
        A.sum_duplicates()
    del rows, raw
    share = rng.uniform(*input_share, n)
    # scipy's A.sum(axis=0) of a CSC matrix: numpy's reduction of each column's entries
    col_sum = np.add.reduceat(A.data, A.indptr[:-1]) if A.nnz else np.zeros(n)
    factor = share / col_sum
    if _compiled(A.nnz) and A.indptr.dtype == A.indices.dtype == np.int32:
        sums = np.empty(n)
        _kernels.scale_columns(A.indptr, A.data, factor, sums, _threads())
        return A, sums
    # each column scaled in place (the product with a diagonal matrix, without a sparse product)
    A.data *= np.repeat(factor, np.diff(A.indptr))
    return A, A.T @ np.ones(n)  # A^T's CSR rows: each column summed in row order


def generate(
    n: int,
    *,
    inputs_per_product: int = 10,
    labour_types: int = 3,
    processes_per_product: int = 1,
    zipf: float = 1.0,
    input_share: tuple[float, float] = (0.3, 0.7),
    final_share: float = 0.6,
    labour_slack: float | None = 1.2,
    capacity_slack: float | None = None,
    seed: int = 0,
    names: list[str] | None = None,
    labour_names: list[str] | None = None,
    name: str = "synthetic",
    councils: int = 0,
) -> Economy:
    """Generate an economy of ``n`` products and ``labour_types`` labour types.

    Parameters
    ----------
    n : number of produced goods.
    inputs_per_product : inputs per process (before duplicates merge).
    labour_types : number of labour types; each product uses one or two of them.
    processes_per_product : 1 (a square Leontief system) or more: alternative processes with a
        different input and labour mix (choice of technique).
    zipf : exponent of the supplier distribution (larger: a smaller, more dominant core).
    input_share : range of each column sum of A (inputs per unit of output, at base prices).
    final_share : share of products with a final-demand target (the others are intermediate).
    labour_slack : labour supply = slack x the labour the targets need with the first
        technique; ``None`` for unlimited labour.
    capacity_slack : when set, every process's capacity = slack x the gross output of its product
        under the first technique (alternative processes get half that).
    seed : random seed; the same seed gives the same economy.
    names, labour_names : optional names of the products and labour types.
    councils : consumer councils (for Hahnel's procedure), each with Cobb-Douglas preferences
        over up to 50 products drawn at random; drawn after everything else, so the rest of the
        economy is the same with or without them.
    """
    rng = np.random.default_rng(seed)
    A, col_sums = _technology_columns(rng, n, inputs_per_product, zipf, input_share)
    value_added = 1.0 - col_sums
    # each product uses a main labour type and, for half the products, a second one
    main = rng.integers(0, labour_types, n)
    second = rng.integers(0, labour_types, n)
    share_main = np.where(rng.random(n) < 0.5, 1.0, rng.uniform(0.5, 0.9, n))
    hours = value_added * rng.lognormal(0.0, 0.3, n)
    L = sp.csr_array((hours * share_main, (main, np.arange(n))), shape=(labour_types, n)) + sp.csr_array(
        (hours * (1.0 - share_main), (second, np.arange(n))), shape=(labour_types, n)
    )
    L.eliminate_zeros()
    targets = rng.lognormal(0.0, 1.0, n) * (rng.random(n) < final_share)

    gross = None
    if labour_slack is not None or capacity_slack is not None:
        gross = _neumann(A, targets)
    supply = np.full(labour_types, np.inf)
    if labour_slack is not None:
        assert gross is not None
        supply = labour_slack * (L @ gross)

    prod_ids = np.strings.add("p", np.arange(n).astype(STRING)) if names is None else np.asarray(names, dtype=STRING)
    lab_ids = (
        np.strings.add("labour-", np.arange(labour_types).astype(STRING))
        if labour_names is None
        else np.asarray(labour_names, dtype=STRING)
    )
    commodities = Commodities.build(
        np.concatenate([prod_ids, lab_ids]),
        kinds=np.concatenate([np.full(n, Kind.GOOD, np.uint8), np.full(labour_types, Kind.LABOUR, np.uint8)]),
        units=np.concatenate([_repeated("base-price unit", n), _repeated("hour", labour_types)]),
        supply=np.concatenate([np.zeros(n), supply]),
        targets=np.concatenate([targets, np.zeros(labour_types)]),
    )
    blocks_in, caps = [_inputs_by_process(A, L)], []
    base_cap = np.full(n, np.inf) if capacity_slack is None else capacity_slack * gross
    caps.append(base_cap)
    for _ in range(processes_per_product - 1):
        # an alternative technique: inputs scaled by a factor, labour shifted to another type
        factor = rng.uniform(0.7, 1.3, n)
        A_alt = sp.csc_array((A.data * np.repeat(factor, np.diff(A.indptr)), A.indices, A.indptr), shape=A.shape)
        alt_type = (main + rng.integers(1, max(labour_types, 2), n)) % labour_types
        hours_alt = hours * rng.uniform(0.6, 1.4, n) * np.maximum(0.2, (2.0 - factor))
        L_alt = sp.csr_array((hours_alt, (alt_type, np.arange(n))), shape=(labour_types, n))
        blocks_in.append(_inputs_by_process(A_alt, L_alt))
        caps.append(base_cap * 0.5)
    del A
    proc_ids = np.concatenate(
        [np.strings.add(np.strings.add("make-", prod_ids), f"-{k}") for k in range(processes_per_product)]
    )
    processes = Processes(
        ids=proc_ids,
        workplaces=np.strings.add("workplace-", proc_ids),
        capacity=np.concatenate(caps),
        outputs=_stacked([sp.eye_array(n, n + labour_types, format="csr")] * processes_per_product),
        inputs=_stacked(blocks_in),
    )
    neighbourhoods = _random_councils(rng, councils, n, len(commodities)) if councils else None
    if names is not None or labour_names is not None:
        economy = Economy.build(commodities, processes, neighbourhoods, name=name, check_productive=False)
    else:
        # "p<i>", "labour-<k>" and "make-p<i>-<k>" are distinct by construction: no sort of 10^6 ids
        economy = Economy(commodities, processes, neighbourhoods, name=name, _meta={"ids_checked": True})
    _check_productive(economy, col_sums)
    return economy


def _repeated(text: str, count: int) -> np.ndarray:
    """``count`` copies of ``text`` (a copy of one string, not ``count`` conversions as np.full makes)."""
    return np.broadcast_to(np.array(text, dtype=STRING), (count,)).copy()


def _stacked(blocks: list[sp.csr_array]) -> sp.csr_array:
    """The blocks one below the other (the one block itself: no copy of 10^7 entries)."""
    return blocks[0] if len(blocks) == 1 else sp.csr_array(sp.vstack(blocks, format="csr"))


def _check_productive(economy: Economy, col_sums: np.ndarray) -> None:
    """The productiveness check of the default technique, whose input matrix is the generated A
    with the column sums ``col_sums``: below 1 they bound its spectral radius (what
    :func:`check_productive` finds first, without building the technique's matrices)."""
    bound = float(col_sums.max()) if col_sums.size else 0.0
    if bound < 1.0:
        economy._meta["productive_radius"] = bound
        economy._meta["column_sum_bound"] = bound
    else:
        check_productive(economy)


def _random_councils(rng: np.random.Generator, k: int, n: int, n_commodities: int) -> Councils:
    """``k`` consumer councils, each preferring up to 50 of the ``n`` products (weights summing to 1)."""
    per = min(50, n)
    goods = rng.integers(0, n, (k, per))  # a product drawn twice gets both weights
    weights = rng.dirichlet(np.ones(per), k)
    prefs = sp.csr_array((weights.ravel(), (np.repeat(np.arange(k), per), goods.ravel())), shape=(k, n_commodities))
    prefs.sum_duplicates()
    return Councils(
        ids=np.strings.add("council-", np.arange(k).astype(STRING)),
        members=rng.integers(200, 2000, k).astype(np.float64),
        income=rng.uniform(50.0, 150.0, k),
        preferences=prefs,
    )


def _inputs_by_process(A: sp.sparray, L: sp.sparray) -> sp.csr_array:
    """The input rows of one process per product, ``[A^T | L^T]`` (products, then labour types):
    each row j is column j of A followed by column j of L, laid out by counting, not stacking."""
    n, labour_types = A.shape[1], L.shape[0]
    a, lab = sp.csc_array(A), sp.csc_array(L)
    a.sort_indices()
    lab.sort_indices()
    total = a.nnz + lab.nnz
    index_type = np.int32 if total < 2**31 else np.int64
    if _compiled(total) and n + labour_types < 2**31 and a.data.dtype == lab.data.dtype == np.float64:
        indptr, indices, data = np.empty(n + 1, np.int32), np.empty(total, np.int32), np.empty(total)
        # positions as int32 (those of L come as int64 from its COO construction)
        a_parts, l_parts = ([x.astype(np.int32, copy=False) for x in (m.indptr, m.indices)] for m in (a, lab))
        _kernels.append_columns(*a_parts, a.data, *l_parts, lab.data, n, indptr, indices, data, _threads())
    else:
        a_count, l_count = np.diff(a.indptr), np.diff(lab.indptr)
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(a_count + l_count, out=indptr[1:])
        indices = np.empty(total, np.int32)
        data = np.empty(total)
        a_dest = np.arange(a.nnz) + np.repeat(indptr[:-1] - a.indptr[:-1], a_count)
        l_dest = np.arange(lab.nnz) + np.repeat(indptr[:-1] + a_count - lab.indptr[:-1], l_count)
        indices[a_dest], data[a_dest] = a.indices, a.data
        indices[l_dest], data[l_dest] = lab.indices + n, lab.data
    inputs = sp.csr_array((data, indices, indptr.astype(index_type, copy=False)), shape=(n, n + labour_types))
    inputs.has_sorted_indices = True
    return inputs


def _neumann(A: sp.csc_array, d: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Solve x = A x + d by Neumann iteration (A productive by construction; CSC with sorted
    rows). Each product ``A x`` equals scipy's product with A's CSR form bit for bit (each row
    summed over its columns in order), so the economy does not depend on the layout; the
    compiled kernel forms it on all cores, over the columns."""
    x = d.copy()
    step = _neumann_step(A, d)
    for _ in range(10_000):
        nxt, diff, size = step(x)
        if diff <= rtol * max(size, 1e-300):
            return nxt
        x = nxt
    return x


def _neumann_step(A: sp.csc_array, d: np.ndarray) -> Callable[[np.ndarray], tuple[np.ndarray, float, float]]:
    """x -> (d + A x, max |d + A x - x|, max |d + A x|)."""
    n = d.size
    if not (_compiled(A.nnz) and A.indptr.dtype == A.indices.dtype == np.int32 and A.data.dtype == np.float64):

        def plain(x: np.ndarray) -> tuple[np.ndarray, float, float]:
            nxt = d + A @ x  # scipy's csc_matvec: each row summed over the columns in order
            return nxt, float(np.abs(nxt - x).max(initial=0.0)), float(np.abs(nxt).max(initial=0.0))

        return plain
    bands = max(1, min(_threads(), n))
    starts = np.empty((bands + 1) * n, np.int32)
    _kernels.band_starts(A.indptr, A.indices, bands, starts)
    d = np.ascontiguousarray(d, dtype=np.float64)

    def compiled(x: np.ndarray) -> tuple[np.ndarray, float, float]:
        nxt = np.empty(n)
        diff, size = _kernels.csc_step(starts, A.indices, A.data, x, d, nxt, bands)
        return nxt, diff, size

    return compiled


def _compiled(entries: int) -> bool:
    """Whether the compiled kernels can take arrays of ``entries`` entries (int32 positions)."""
    return _kernels is not None and entries < 2**31


def _threads() -> int:
    """The compiled kernels' threads: every usable core (one in a forked child, as OpenMP needs)."""
    return native.kernel_threads()
