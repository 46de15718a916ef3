"""Validation of an economy's tables: every error names the table, the id and the problem.

The checks take the tables' arrays (ids, vectors, sparse matrices), not the
:class:`~glasnost.economy.Economy` that calls them, so this module imports nothing of the model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from glasnost.economy.errors import EconomyError, NotProductiveError

_MAX_SHOWN = 5


def _shown(items: list[str], total: int) -> str:
    text = ", ".join(items[:_MAX_SHOWN])
    return text + (f" and {total - _MAX_SHOWN} more" if total > _MAX_SHOWN else "")


def check_unique(ids: np.ndarray, what: str, where: str | None = None) -> None:
    """Raise naming the duplicated ids (and their rows) when ``ids`` has repeats."""
    if ids.size == 0:
        return
    if _distinct(ids) == ids.size:
        _check_not_empty(ids, what, where)
        return
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if dup.size:
        names = list(dict.fromkeys(str(sorted_ids[i]) for i in dup))
        first = names[0]
        rows = np.flatnonzero(ids == first)
        raise EconomyError(
            f"duplicate {what} id {first!r} (rows {', '.join(map(str, rows[:5]))})"
            + (f"; also duplicated: {_shown(names[1:], len(names) - 1)}" if len(names) > 1 else ""),
            where=where,
        )
    _check_not_empty(ids, what, where)


def _distinct(ids: np.ndarray) -> int:
    """How many different ids there are (hashing in Arrow, not sorting strings in numpy)."""
    import pyarrow.compute as pc

    from glasnost.economy.arrow import arrow_strings

    return int(pc.count_distinct(arrow_strings(ids)).as_py())


def _check_not_empty(ids: np.ndarray, what: str, where: str | None) -> None:
    empty = np.strings.str_len(ids) == 0
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise EconomyError(f"empty {what} id at row {row}", where=where)


def check_values(
    values: np.ndarray,
    what: str,
    names: np.ndarray,
    *,
    allow_inf: bool = False,
    upper: float | None = None,
    where: str | None = None,
) -> None:
    """Raise naming the entry where ``values`` is NaN, infinite (unless allowed) or negative."""
    bad_nan = np.isnan(values)
    bad_inf = np.isinf(values) & ~allow_inf
    bad_neg = values < 0
    bad_up = values > upper if upper is not None else np.zeros(values.shape, bool)
    for mask, problem in ((bad_nan, "NaN"), (bad_inf, "infinite"), (bad_neg, "negative"), (bad_up, f"above {upper}")):
        if mask.any():
            idx = np.flatnonzero(mask)
            items = [f"{names[i]!s} = {float(values[i])!r}" for i in idx[:_MAX_SHOWN]]
            raise EconomyError(f"{problem} {what}: {_shown(items, idx.size)}", where=where)


def check_matrix(
    matrix: sp.csr_array,
    what: str,
    row_ids: np.ndarray,
    col_ids: np.ndarray,
    *,
    upper: float | None = None,
    where: str | None = None,
) -> None:
    """Raise naming (row id, column id) of the first NaN, infinite or negative coefficient."""
    data = matrix.data
    bad = ~np.isfinite(data) | (data < 0)
    if upper is not None:
        bad |= data > upper
    if not bad.any():
        return
    idx = np.flatnonzero(bad)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))[idx]
    cols = matrix.indices[idx]
    values = data[idx]

    def describe(v: float) -> str:
        if np.isnan(v):
            return "NaN"
        if np.isinf(v):
            return "infinite"
        return "negative" if v < 0 else f"above {upper}"

    items = [
        f"{row_ids[r]!s} / {col_ids[c]!s} = {float(v)!r}"
        for r, c, v in zip(rows[:5], cols[:5], values[:5], strict=False)
    ]
    raise EconomyError(f"{describe(values[0])} {what} coefficient: {_shown(items, idx.size)}", where=where)


def validate_commodities(
    ids: np.ndarray,
    names: np.ndarray,
    units: np.ndarray,
    kinds: np.ndarray,
    supply: np.ndarray,
    targets: np.ndarray,
    *,
    largest_kind: int,
    check_ids: bool = True,
) -> None:
    """Cheap, vectorised checks of the commodity table: ids (unless the caller checked them),
    lengths, kind codes (0 to ``largest_kind``), supply, targets."""
    n = len(ids)
    if check_ids:
        check_unique(ids, "commodity", "commodities")
    for arr, name in ((names, "names"), (units, "units"), (kinds, "kinds"), (supply, "supply"), (targets, "targets")):
        if arr.shape != (n,):
            raise EconomyError(f"commodity {name} has {arr.size} entries for {n} commodities", where="commodities")
    if kinds.size and kinds.max() > largest_kind:
        row = int(np.argmax(kinds > largest_kind))
        raise EconomyError(f"commodity {ids[row]!s} has unknown kind code {kinds[row]}", where="commodities")
    check_values(supply, "supply", ids, allow_inf=True, where="commodities")
    check_values(targets, "target", ids, where="commodities")


def validate_processes(
    ids: np.ndarray,
    workplaces: np.ndarray,
    capacity: np.ndarray,
    matrices: Mapping[str, sp.csr_array | None],
    commodity_ids: np.ndarray,
    produced: np.ndarray,
    *,
    check_ids: bool = True,
) -> None:
    """Cheap, vectorised checks of the process table against the commodities (not productivity).

    Parameters
    ----------
    ids, workplaces, capacity : the process table's columns, one entry per process.
    matrices : ``output``, ``input``, ``capital`` and ``depreciation`` coefficients, each
        (processes x commodities) or ``None`` (capital and depreciation only).
    commodity_ids : the commodities' ids, in column order.
    produced : indices of the produced commodities, each of which some process must make.
    check_ids : False where the caller has checked the ids already (a loader, against a digest).
    """
    n, m = len(commodity_ids), len(ids)
    if check_ids:
        check_unique(ids, "process", "processes")
    for arr, name in ((workplaces, "workplaces"), (capacity, "capacity")):
        if arr.shape != (m,):
            raise EconomyError(f"process {name} has {arr.size} entries for {m} processes", where="processes")
    check_values(capacity, "capacity", ids, allow_inf=True, where="processes")
    for name, matrix in matrices.items():
        if matrix is None:
            continue
        if matrix.shape != (m, n):
            raise EconomyError(f"{name} matrix has shape {matrix.shape}, expected ({m}, {n})", where="processes")
        upper = 1.0 if name == "depreciation" else None
        check_matrix(matrix, name, ids, commodity_ids, upper=upper, where=f"process {name}s")
    capital, depreciation = matrices.get("capital"), matrices.get("depreciation")
    if (capital is None) != (depreciation is None):
        raise EconomyError("capital and depreciation must be given together", where="processes")
    if capital is not None and depreciation is not None:
        capital.sort_indices()
        depreciation.sort_indices()
        if not (
            np.array_equal(capital.indptr, depreciation.indptr)
            and np.array_equal(capital.indices, depreciation.indices)
        ):
            raise EconomyError("depreciation must have an entry for exactly each capital stock", where="processes")
    _check_every_product_made(matrices["output"], commodity_ids, produced)


def _check_every_product_made(outputs: sp.csr_array, commodity_ids: np.ndarray, produced: np.ndarray) -> None:
    made = np.zeros(len(commodity_ids), bool)
    made[outputs.indices[outputs.data > 0]] = True
    unmade = produced[~made[produced]]
    if unmade.size:
        raise EconomyError(
            f"no process makes the produced commodity {_shown([str(commodity_ids[i]) for i in unmade], unmade.size)}",
            where="processes",
        )


def validate_councils(
    ids: np.ndarray,
    income: np.ndarray,
    members: np.ndarray,
    preferences: sp.csr_array,
    commodity_ids: np.ndarray,
) -> None:
    """Checks of the consumer councils: unique ids, income and members, one preference per commodity."""
    check_unique(ids, "council", "councils")
    check_values(np.asarray(income, float), "income", ids, where="councils")
    check_values(np.asarray(members, float), "members", ids, where="councils")
    if preferences.shape != (len(ids), len(commodity_ids)):
        raise EconomyError(f"preferences have shape {preferences.shape}", where="councils")
    check_matrix(preferences, "preference", ids, commodity_ids, where="council preferences")


def spectral_radius_bounds(block: sp.csr_array, *, max_iter: int = 5000, rtol: float = 1e-12) -> tuple[float, float]:
    """Lower and upper bounds on the spectral radius of an irreducible non-negative matrix.

    Collatz-Wielandt: for any x > 0, min (Bx)/x <= rho(B) <= max (Bx)/x. The power iteration
    runs on B + I (primitive, same Perron vector) so the bounds meet.
    """
    n = block.shape[0]
    x = np.ones(n)
    lo, hi = 0.0, np.inf
    for k in range(max_iter):
        bx = block @ x
        ratio = bx / x
        lo, hi = max(lo, float(ratio.min())), min(hi, float(ratio.max()))
        decided = lo >= 1.0 or hi < 1.0
        # once 1 is outside the bounds the answer is known; refine a little for the message
        if hi - lo <= rtol * max(hi, 1e-300) or (decided and k >= 200):
            break
        x = bx + x
        x /= x.max()
        x = np.maximum(x, 1e-300)
    return lo, hi


def productive_radius(A: sp.csr_array, ids: np.ndarray) -> float:
    """Raise :class:`NotProductiveError` when the square input matrix ``A`` cannot yield a surplus.

    The spectral radius of A is the largest over its strongly connected blocks, so the check
    looks at each block alone and names (by ``ids``, one per row of A) the first block whose
    radius is at least 1. Returns an upper bound on the spectral radius (the largest column sum
    when that is below 1).
    """
    if A.nnz == 0:
        return 0.0
    col_sums = np.asarray(A.sum(axis=0)).ravel()
    if col_sums.max() < 1.0:
        return float(col_sums.max())
    from scipy.sparse.csgraph import connected_components  # only past the column-sum bound: 50 ms to import

    _, labels = connected_components(A, directed=True, connection="strong")
    sizes = np.bincount(labels)
    diag = A.diagonal()
    # singleton blocks: their radius is the diagonal entry
    single = sizes[labels] == 1
    bad_single = np.flatnonzero(single & (diag >= 1.0))
    if bad_single.size:
        j = int(bad_single[0])
        raise NotProductiveError([str(ids[j])], float(diag[j]), where="technology")
    radius = float(diag[single].max()) if single.any() else 0.0
    for comp in np.flatnonzero(sizes > 1):
        members = np.flatnonzero(labels == comp)
        block = sp.csr_array(A[members][:, members])
        inner_sums = np.asarray(block.sum(axis=0)).ravel()
        if inner_sums.max() < 1.0:
            radius = max(radius, float(inner_sums.max()))
            continue
        lo, hi = spectral_radius_bounds(block)
        if lo >= 1.0 or (hi >= 1.0 and 0.5 * (lo + hi) >= 1.0 - 1e-12):
            raise NotProductiveError([str(ids[j]) for j in members], 0.5 * (lo + hi), where="technology")
        radius = max(radius, hi)
    return radius
