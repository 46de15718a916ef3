"""In-place sparse products ``y += M x`` (x a vector, or a block of vectors row by row), M given
by its CSR or CSC parts: scipy's compiled loops, whose public product always allocates the
result; where a scipy lacks them, the same through its public product (:func:`added_by_product`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp


def added_by_product(array_type: type, vectors: bool) -> Callable[..., None]:
    """``y += M x`` through scipy's public product, with the compiled loops' arguments:
    ``(n_row, n_col, [n_vecs,] indptr, indices, data, x, y)``."""

    def add(n_row: int, n_col: int, *parts: object) -> None:
        n_vecs, (indptr, indices, data, x, y) = (parts[0], parts[1:]) if vectors else (None, parts)
        M = array_type((data, indices, indptr), shape=(n_row, n_col))
        if vectors:
            y += np.ravel(M @ np.reshape(x, (n_col, n_vecs)))  # type: ignore[operator]
        else:
            y += M @ x  # type: ignore[operator]

    return add


try:
    from scipy.sparse._sparsetools import csc_matvec, csc_matvecs, csr_matvec, csr_matvecs
except ImportError:  # pragma: no cover - a future scipy without them
    csr_matvec, csr_matvecs = added_by_product(sp.csr_array, False), added_by_product(sp.csr_array, True)
    csc_matvec, csc_matvecs = added_by_product(sp.csc_array, False), added_by_product(sp.csc_array, True)

__all__ = ["added_by_product", "csc_matvec", "csc_matvecs", "csr_matvec", "csr_matvecs"]
