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

import numpy as np
import scipy.sparse as sp

from glasnost.economy import Commodities, Councils, Economy, Kind, Processes, check_productive
from glasnost.economy.model import STRING


def zipf_suppliers(rng: np.random.Generator, n: int, size: int, zipf: float) -> np.ndarray:
    """Draw ``size`` supplier indices in [0, n) with P(rank r) proportional to (r+1)^-zipf.

    Products are shuffled so the heavily used core is spread over the id range.
    """
    weights = np.arange(1, n + 1, dtype=np.float64) ** -zipf
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    buckets = 1 << min(22, max(10, int(np.ceil(np.log2(4 * n)))))  # a table of about 4 per product
    ranks = np.minimum(_search_right(cdf, rng.random(size), buckets), n - 1)
    return rng.permutation(n)[ranks]


def _search_right(cdf: np.ndarray, u: np.ndarray, buckets: int = 1 << 22) -> np.ndarray:
    """``np.searchsorted(cdf, u, side="right")`` for u in [0, 1), exactly, without a binary
    search per draw: a table gives the answer at the start of u's bucket (buckets is a power of
    two, so bucket starts are exact floats at or below u), and a few vectorised steps move
    the draws that lie past further entries of the cdf."""
    # start[b] = #{i: cdf[i] <= b / buckets} = #{i: ceil(cdf[i] * buckets) <= b}, exactly (the
    # scaling by a power of two is exact): one count instead of a binary search per bucket
    lowest_bucket = np.ceil(cdf * buckets).astype(np.int64)
    start = np.cumsum(np.bincount(lowest_bucket, minlength=buckets + 1)[:buckets]).astype(np.int32)
    found = start[(u * buckets).astype(np.int32 if buckets < 2**31 else np.int64)]
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
    rng = np.random.default_rng(seed)
    k = min(inputs_per_product, n)
    cols = np.repeat(np.arange(n, dtype=np.int32), k)
    rows = zipf_suppliers(rng, n, n * k, zipf).astype(np.int32)
    raw = rng.lognormal(0.0, 1.0, n * k)
    A = sp.csc_array((raw, (rows, cols)), shape=(n, n))
    A.sum_duplicates()
    share = rng.uniform(*input_share, n)
    col_sum = np.asarray(A.sum(axis=0)).ravel()
    # each column scaled in place (the product with a diagonal matrix, without a sparse product)
    A.data *= np.repeat(share / col_sum, np.diff(A.indptr))
    return sp.csr_array(A)


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
    A = random_technology(n, inputs_per_product, zipf=zipf, input_share=input_share, seed=rng)
    value_added = 1.0 - np.asarray(A.sum(axis=0)).ravel()
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
        units=np.concatenate(
            [np.full(n, "base-price unit", dtype=STRING), np.full(labour_types, "hour", dtype=STRING)]
        ),
        supply=np.concatenate([np.zeros(n), supply]),
        targets=np.concatenate([targets, np.zeros(labour_types)]),
    )
    first_inputs = _inputs_by_process(A, L)
    blocks_in, blocks_out, caps = [first_inputs], [sp.eye_array(n, n + labour_types, format="csr")], []
    base_cap = np.full(n, np.inf) if capacity_slack is None else capacity_slack * gross
    caps.append(base_cap)
    for _ in range(processes_per_product - 1):
        # an alternative technique: inputs scaled by a factor, labour shifted to another type
        factor = rng.uniform(0.7, 1.3, n)
        A_alt = sp.csr_array((A.data * factor[A.indices], A.indices, A.indptr), shape=A.shape)  # A diag(factor)
        alt_type = (main + rng.integers(1, max(labour_types, 2), n)) % labour_types
        hours_alt = hours * rng.uniform(0.6, 1.4, n) * np.maximum(0.2, (2.0 - factor))
        L_alt = sp.csr_array((hours_alt, (alt_type, np.arange(n))), shape=(labour_types, n))
        blocks_in.append(_inputs_by_process(A_alt, L_alt))
        blocks_out.append(sp.eye_array(n, n + labour_types, format="csr"))
        caps.append(base_cap * 0.5)
    m = n * processes_per_product
    proc_num = np.arange(m) // n
    proc_ids = np.strings.add(
        np.strings.add("make-", np.tile(prod_ids, processes_per_product)), np.strings.add("-", proc_num.astype(STRING))
    )
    processes = Processes(
        ids=proc_ids,
        workplaces=np.strings.add("workplace-", proc_ids),
        capacity=np.concatenate(caps),
        outputs=sp.csr_array(sp.vstack(blocks_out, format="csr")),
        inputs=sp.csr_array(sp.vstack(blocks_in, format="csr")),
    )
    neighbourhoods = _random_councils(rng, councils, n, len(commodities)) if councils else None
    if names is not None or labour_names is not None:
        return Economy.build(commodities, processes, neighbourhoods, name=name, check_productive=True)
    # "p<i>", "labour-<k>" and "make-p<i>-<k>" are distinct by construction: no sort of 10^6 ids
    economy = Economy(commodities, processes, neighbourhoods, name=name, _meta={"ids_checked": True})
    check_productive(economy)
    return economy


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
    a_count, l_count = np.diff(a.indptr), np.diff(lab.indptr)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(a_count + l_count, out=indptr[1:])
    total = int(indptr[-1])
    indices = np.empty(total, np.int32)
    data = np.empty(total)
    a_dest = np.arange(a.nnz) + np.repeat(indptr[:-1] - a.indptr[:-1], a_count)
    l_dest = np.arange(lab.nnz) + np.repeat(indptr[:-1] + a_count - lab.indptr[:-1], l_count)
    indices[a_dest], data[a_dest] = a.indices, a.data
    indices[l_dest], data[l_dest] = lab.indices + n, lab.data
    index_type = np.int32 if total < 2**31 else np.int64
    return sp.csr_array((data, indices, indptr.astype(index_type)), shape=(n, n + labour_types))


def _neumann(A: sp.csr_array, d: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Solve x = A x + d by Neumann iteration (A productive by construction). The products
    run on all cores, each equal to scipy's bit for bit, so the economy is the same."""
    from glasnost.compute.linear import csr_product

    x = d.copy()
    for _ in range(10_000):
        nxt = d + csr_product(A, x)
        if np.abs(nxt - x).max() <= rtol * max(np.abs(nxt).max(), 1e-300):
            return nxt
        x = nxt
    return x
