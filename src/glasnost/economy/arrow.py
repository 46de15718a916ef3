"""numpy arrays as Arrow arrays without pyarrow's conversion of numpy arrays, which imports
pandas the first time (0.1 s of a command) and turns numpy's strings into Python objects.
Imports nothing of glasnost: the economy's validation and its files both use it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

MAX_WIDENING = 4
"""Fixed-width strings take at most this many times the bytes of the strings themselves (or
16 MiB): ids of very different lengths take the way through Python objects."""


def fits_fixed_width(size: int, width: int, string_bytes: int) -> bool:
    """Whether ``size`` strings of fixed ``width`` take few enough bytes next to theirs."""
    return size * width <= max(MAX_WIDENING * string_bytes, 1 << 24)


def arrow_numbers(values: np.ndarray, arrow_type: pa.DataType | None = None) -> pa.Array:
    """A 1-d numpy array of numbers as an Arrow array of ``arrow_type`` (default: the array's
    own), sharing its memory where the types agree: through the buffer, because pyarrow's
    conversion of a numpy array imports pandas the first time (0.1 s of a command). Booleans
    and other dtypes take pyarrow's conversion."""
    values = np.asarray(values)
    if values.dtype.kind not in "iuf" or values.ndim != 1:
        return pa.array(values, arrow_type)
    arrow_type = arrow_type or pa.from_numpy_dtype(values.dtype)
    if not (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)):
        return pa.array(values, arrow_type)
    values = np.ascontiguousarray(values, dtype=arrow_type.to_pandas_dtype())
    return pa.Array.from_buffers(arrow_type, values.size, [None, pa.py_buffer(values)])


def arrow_strings(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """A numpy string array as an Arrow string array, nulls where ``mask`` is true. StringDType
    holding only ASCII goes through fixed-width bytes laid out into Arrow's buffers (10^6 ids:
    0.06 s; Arrow's own conversion takes 0.15 s and imports pandas the first time), anything
    else through Arrow's conversion (other dtypes as Python objects)."""
    if values.dtype.kind == "T" and values.ndim == 1:
        laid_out = _ascii_buffers(values, mask)
        if laid_out is not None:
            offsets, data = laid_out
            buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
            nulls = 0 if mask is None else int(np.count_nonzero(mask))
            if nulls:
                buffers[0] = pa.py_buffer(np.packbits(~mask, bitorder="little"))
            return pa.StringArray.from_buffers(values.size, buffers[1], buffers[2], buffers[0], nulls)
    if values.dtype.kind != "T":
        values = values.astype(object)
    arr = pa.array(values, type=pa.string(), mask=mask)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _ascii_buffers(values: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(int32 offsets, bytes) of ASCII strings as Arrow lays them out, empty where ``mask``
    is true; None where a string is not ASCII (numpy refuses the cast), ends in a zero
    character (``S`` drops it: the lengths differ) or the strings are of so different lengths
    that fixed width would take far more memory than they do."""
    chars = np.strings.str_len(values)
    total = int(chars.sum(dtype=np.int64))
    width = int(chars.max(initial=0))
    if width == 0 or total >= 2**31 or not fits_fixed_width(values.size, width, total):
        return None
    try:
        fixed = values.astype(f"S{width}")
    except (UnicodeEncodeError, ValueError, TypeError):
        return None
    if not np.array_equal(np.strings.str_len(fixed), chars):
        return None
    if mask is not None:
        chars[mask] = 0
    data = fixed.view(np.uint8).reshape(values.size, width)[np.arange(width) < chars[:, None]]
    offsets = np.zeros(values.size + 1, np.int32)
    np.cumsum(chars, out=offsets[1:])
    return offsets, data
