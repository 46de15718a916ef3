"""Validation of an economy: every error names the table, the id and the problem."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from glasnost.economy.errors import EconomyError, NotProductiveError

if TYPE_CHECKING:
    from glasnost.economy.model import Economy

_MAX_SHOWN = 5


def _shown(items: list[str], total: int) -> str:
    text = ", ".join(items[:_MAX_SHOWN])
    return text + (f" and {total - _MAX_SHOWN} more" if total > _MAX_SHOWN else "")


def check_unique(ids: np.ndarray, what: str, where: str | None = None) -> None:
    """Raise naming the duplicated ids (and their rows) when ``ids`` has repeats."""
    if ids.size == 0:
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
    if (np.strings.str_len(ids) == 0).any():
        row = int(np.flatnonzero(np.strings.str_len(ids) == 0)[0])
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


def validate_structure(economy: Economy) -> None:
    """Cheap, vectorised checks of shapes, ids and coefficients (not productivity)."""
    c, p = economy.commodities, economy.processes
    n, m = len(c), len(p)
    check_unique(c.ids, "commodity", "commodities")
    check_unique(p.ids, "process", "processes")
    for arr, name in (
        (c.names, "names"),
        (c.units, "units"),
        (c.kinds, "kinds"),
        (c.supply, "supply"),
        (c.targets, "targets"),
    ):
        if arr.shape != (n,):
            raise EconomyError(f"commodity {name} has {arr.size} entries for {n} commodities", where="commodities")
    if c.kinds.size and c.kinds.max() > 3:
        row = int(np.argmax(c.kinds > 3))
        raise EconomyError(f"commodity {c.ids[row]!s} has unknown kind code {c.kinds[row]}", where="commodities")
    check_values(c.supply, "supply", c.ids, allow_inf=True, where="commodities")
    check_values(c.targets, "target", c.ids, where="commodities")
    for arr, name in ((p.workplaces, "workplaces"), (p.capacity, "capacity")):
        if arr.shape != (m,):
            raise EconomyError(f"process {name} has {arr.size} entries for {m} processes", where="processes")
    check_values(p.capacity, "capacity", p.ids, allow_inf=True, where="processes")
    for matrix, name in (
        (p.outputs, "output"),
        (p.inputs, "input"),
        (p.capital, "capital"),
        (p.depreciation, "depreciation"),
    ):
        if matrix is None:
            continue
        if matrix.shape != (m, n):
            raise EconomyError(f"{name} matrix has shape {matrix.shape}, expected ({m}, {n})", where="processes")
        check_matrix(
            matrix, name, p.ids, c.ids, upper=1.0 if name == "depreciation" else None, where=f"process {name}s"
        )
    if (p.capital is None) != (p.depreciation is None):
        raise EconomyError("capital and depreciation must be given together", where="processes")
    if p.capital is not None and p.depreciation is not None:
        p.capital.sort_indices()
        p.depreciation.sort_indices()
        if not (
            np.array_equal(p.capital.indptr, p.depreciation.indptr)
            and np.array_equal(p.capital.indices, p.depreciation.indices)
        ):
            raise EconomyError("depreciation must have an entry for exactly each capital stock", where="processes")
    _check_every_product_made(economy)
    if economy.councils is not None:
        _check_councils(economy)


def _check_every_product_made(economy: Economy) -> None:
    c, p = economy.commodities, economy.processes
    made = np.zeros(len(c), bool)
    out = p.outputs
    made[out.indices[out.data > 0]] = True
    unmade = c.produced[~made[c.produced]]
    if unmade.size:
        raise EconomyError(
            f"no process makes the produced commodity {_shown([str(c.ids[i]) for i in unmade], unmade.size)}",
            where="processes",
        )


def _check_councils(economy: Economy) -> None:
    k = economy.councils
    assert k is not None
    check_unique(k.ids, "council", "councils")
    check_values(np.asarray(k.income, float), "income", k.ids, where="councils")
    check_values(np.asarray(k.members, float), "members", k.ids, where="councils")
    if k.preferences.shape != (len(k), len(economy.commodities)):
        raise EconomyError(f"preferences have shape {k.preferences.shape}", where="councils")
    check_matrix(k.preferences, "preference", k.ids, economy.commodities.ids, where="council preferences")


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


def check_productive(economy: Economy, technique: object | None = None) -> float:
    """Raise :class:`NotProductiveError` when the default technique cannot yield a surplus.

    The spectral radius of A is the largest over its strongly connected blocks, so the check
    looks at each block alone and names the first block whose radius is at least 1. Returns an
    upper bound on the spectral radius (the largest column sum when that is below 1).
    """
    tech = economy.technique if technique is None else technique
    A = tech.A  # type: ignore[attr-defined]
    ids = economy.commodities.ids[tech.produced]  # type: ignore[attr-defined]
    if A.nnz == 0:
        return 0.0
    col_sums = np.asarray(A.sum(axis=0)).ravel()
    if col_sums.max() < 1.0:
        return float(col_sums.max())
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
