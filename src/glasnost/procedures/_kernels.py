"""Sparse matrix-vector products with little overhead, for rounds over small and huge groups.

A round of a 3,000-council experiment takes tens of microseconds, so the dispatch overhead of
``csr_array @ x`` (type checks, format conversions) matters. :class:`SparseProducts` calls
scipy's compiled kernels directly with the arrays of one CSR matrix, for ``A @ x`` and, reading
the same arrays as the CSC form of the transpose, ``A.T @ x`` (no transposed copy is stored).
Where the kernels are not importable (another scipy layout) it falls back to the public API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import cache

import numpy as np
import scipy.sparse as sp


def canonical_csr(matrix: sp.sparray | sp.spmatrix) -> sp.csr_array:
    """``matrix`` as a float64 csr_array with sorted indices and no duplicates (no copy if it is one)."""
    if isinstance(matrix, sp.csr_array) and matrix.dtype == np.float64 and matrix.has_canonical_format:
        return matrix
    out = sp.csr_array(matrix, dtype=np.float64, copy=True)
    out.sum_duplicates()
    out.sort_indices()
    return out


def row_sums(matrix: sp.csr_array, values: np.ndarray | None = None) -> np.ndarray:
    """Sum of each row's stored entries (or of ``values`` laid out like ``matrix.data``)."""
    m = matrix.shape[0]
    data = matrix.data if values is None else values
    counts = np.diff(matrix.indptr)
    if m and counts.all():  # no empty rows: one segmented sum
        return np.add.reduceat(data, matrix.indptr[:-1]).astype(np.float64, copy=False)
    rows = np.repeat(np.arange(m), counts)
    return np.bincount(rows, weights=data, minlength=m)


@cache
def _kernels() -> tuple[Callable, Callable] | None:
    try:
        from scipy.sparse._sparsetools import csc_matvec, csr_matvec  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - other scipy layouts
        return None
    A = sp.csr_array(np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0]]))
    x, z = np.array([1.0, 10.0, 100.0]), np.array([1.0, 10.0])
    y, w = np.zeros(2), np.zeros(3)
    try:
        csr_matvec(2, 3, A.indptr, A.indices, A.data, x, y)
        csc_matvec(3, 2, A.indptr, A.indices, A.data, z, w)
    except Exception:  # pragma: no cover - a changed signature
        return None
    if not (np.array_equal(y, A @ x) and np.array_equal(w, A.T @ z)):  # pragma: no cover
        return None
    return csr_matvec, csc_matvec


class SparseProducts:
    """``A @ x`` and ``A.T @ x`` for one csr matrix ``A`` (float64 vectors in, new arrays out)."""

    def __init__(self, matrix: sp.csr_array) -> None:
        self.matrix = matrix
        self.shape = matrix.shape
        self._kernels = _kernels()

    def dot(self, x: np.ndarray) -> np.ndarray:
        """``A @ x``."""
        if self._kernels is None:
            return self.matrix @ x
        m, n = self.shape
        y = np.zeros(m)
        self._kernels[0](m, n, self.matrix.indptr, self.matrix.indices, self.matrix.data, x, y)
        return y

    def tdot(self, x: np.ndarray) -> np.ndarray:
        """``A.T @ x``."""
        if self._kernels is None:
            return self.matrix.T @ x
        m, n = self.shape
        y = np.zeros(n)
        self._kernels[1](n, m, self.matrix.indptr, self.matrix.indices, self.matrix.data, x, y)
        return y


class LazyColumns(Mapping[str, np.ndarray]):
    """Per-council columns, some computed only when first read (then kept)."""

    def __init__(self, ready: dict[str, np.ndarray], lazy: dict[str, Callable[[], np.ndarray]]) -> None:
        self._ready = ready
        self._lazy = lazy

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._ready:
            if key not in self._lazy:
                raise KeyError(key)
            self._ready[key] = self._lazy.pop(key)()
        return self._ready[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._ready
        yield from list(self._lazy)

    def __len__(self) -> int:
        return len(self._ready) + len(self._lazy)
