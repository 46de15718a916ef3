"""Helpers shared by the economy directory readers and writers of every schema version:
atomic replacement of a directory, typed Parquet reads and checks whose errors name the file,
the row and the id."""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp

from glasnost.economy import native
from glasnost.economy.arrow import fits_fixed_width
from glasnost.economy.errors import EconomyError

FORMAT = "glasnost-economy"


@contextmanager
def atomic_directory(directory: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``directory`` which replaces it when the block ends
    without an error; on an error it is removed and ``directory`` is left as it was."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_manifest(root: Path) -> dict:
    """The directory's manifest, checked for the format; raises naming the file."""
    manifest_path = root / "manifest.json"
    if not manifest_path.exists():
        raise EconomyError("not an economy directory (no manifest.json)", where=str(root))
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise EconomyError(f"manifest is not valid JSON ({exc})", where=str(manifest_path)) from None
    if manifest.get("format") != FORMAT:
        raise EconomyError(f"format is {manifest.get('format')!r}, expected {FORMAT!r}", where=str(manifest_path))
    return manifest


def parquet_file(path: Path) -> pq.ParquetFile:
    """Open ``path`` for reading row groups; raises naming the file when missing or unreadable."""
    if not path.exists():
        raise EconomyError("file is missing", where=str(path))
    try:
        # mapped rather than read into a buffer first: reading a directory of 10^6 products
        # 0.44-0.56 -> 0.20 s (Arrow decodes into buffers of its own either way)
        return pq.ParquetFile(path, memory_map=True)
    except (pa.ArrowInvalid, OSError) as exc:
        raise EconomyError(f"not a readable Parquet file ({exc})", where=str(path)) from None


def typed_columns(
    table: pa.Table, path: Path, columns: dict[str, pa.DataType], optional: tuple[str, ...] = ()
) -> pa.Table:
    """``table``'s ``columns`` cast to their types; raises naming a missing or mistyped column."""
    missing = [c for c in columns if c not in table.column_names and c not in optional]
    if missing:
        raise EconomyError(f"missing column(s) {', '.join(missing)}", where=str(path))
    out = {}
    for name, dtype in columns.items():
        if name not in table.column_names:
            continue
        col = table.column(name)
        if pa.types.is_dictionary(col.type) and not pa.types.is_dictionary(dtype):
            col = col.cast(col.type.value_type)
        try:
            out[name] = col.cast(dtype)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise EconomyError(f"column {name} cannot be read as {dtype} ({exc})", where=str(path)) from None
    return pa.table(out)


def read_parquet(
    path: Path,
    columns: dict[str, pa.DataType],
    *,
    optional: tuple[str, ...] = (),
    row_groups: list[int] | None = None,
) -> pa.Table:
    """Read ``columns`` of ``path`` (optionally only some row groups), typed as given.

    Through :class:`pyarrow.parquet.ParquetFile`, not ``read_table``: the latter imports
    ``pyarrow.dataset`` on its first call (0.2-0.3 s of a command's start)."""
    pf = parquet_file(path)
    try:
        if row_groups is None:
            table = pf.read()
        else:
            wanted = [c for c in columns if c in pf.schema_arrow.names]
            table = pf.read_row_groups(row_groups, columns=wanted)
    except (pa.ArrowInvalid, OSError) as exc:
        raise EconomyError(f"not a readable Parquet file ({exc})", where=str(path)) from None
    return typed_columns(table, path, columns, optional)


_NUMPY_TYPES = {
    pa.int8(): np.dtype(np.int8),
    pa.int16(): np.dtype(np.int16),
    pa.int32(): np.dtype(np.int32),
    pa.int64(): np.dtype(np.int64),
    pa.uint8(): np.dtype(np.uint8),
    pa.uint16(): np.dtype(np.uint16),
    pa.uint32(): np.dtype(np.uint32),
    pa.uint64(): np.dtype(np.uint64),
    pa.float32(): np.dtype(np.float32),
    pa.float64(): np.dtype(np.float64),
}


def one_array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column as one Arrow array: its chunk where it has one (``combine_chunks`` copies even
    then: 10^6 workplaces 0.02-0.07 s), else the chunks joined."""
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def valid_mask(arr: pa.Array) -> np.ndarray:
    """Where an Arrow array holds a value (not null), from its validity bitmap."""
    bitmap = arr.buffers()[0]
    if bitmap is None or arr.null_count == 0:
        return np.ones(len(arr), bool)
    bits = np.unpackbits(np.frombuffer(bitmap, np.uint8), count=arr.offset + len(arr), bitorder="little")
    return bits[arr.offset :].view(bool)


def _chunk_numbers(arr: pa.Array, dtype: np.dtype, fill: float | None) -> np.ndarray:
    if len(arr) == 0:
        return np.empty(0, dtype)
    values = np.frombuffer(arr.buffers()[1], dtype, count=len(arr), offset=arr.offset * dtype.itemsize)
    if arr.null_count == 0:
        return values
    if fill is None:
        raise ValueError("a column with nulls needs a fill value")
    values = values.copy()
    values[~valid_mask(arr)] = fill
    return values


def numbers(column: pa.ChunkedArray | pa.Array, fill: float | None = None) -> np.ndarray:
    """A column of numbers as numpy, nulls set to ``fill``: a read-only view of the Arrow
    buffer where it is one chunk without nulls, else a copy. Arrow's own conversion imports
    pandas the first time (0.14 s of reading an economy); booleans and other types still take it."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    dtype = _NUMPY_TYPES.get(column.type)
    if dtype is None:
        filled = column.fill_null(fill) if fill is not None and column.null_count else column
        return filled.to_numpy() if isinstance(filled, pa.ChunkedArray) else filled.to_numpy(zero_copy_only=False)
    parts = [_chunk_numbers(arr, dtype, fill) for arr in chunks]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype)


@functools.cache
def _bytes_cast_keeps_utf8() -> bool:
    """Whether numpy casts bytes to StringDType by copying them (so UTF-8 stays UTF-8); some
    versions may decode them as ASCII instead, or refuse."""
    from glasnost.economy.model import STRING

    probe = "é€𝄞"
    try:
        return bool(np.array([probe.encode()]).astype(STRING)[0] == probe)
    except (UnicodeDecodeError, ValueError, TypeError):
        return False


def _string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """(offsets, data bytes) of an Arrow string array; None for other types."""
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    offset_type = np.dtype(np.int64 if pa.types.is_large_string(arr.type) else np.int32)
    _, offsets, data = arr.buffers()
    offsets = np.frombuffer(offsets, offset_type, count=len(arr) + 1, offset=arr.offset * offset_type.itemsize)
    return offsets, (np.frombuffer(data, np.uint8) if data is not None else np.empty(0, np.uint8))


Layout = tuple[np.ndarray, np.ndarray, int]


def _layout(arr: pa.Array) -> Layout | None:
    """(offsets, data bytes, width: the longest string's bytes) of an Arrow string array whose
    strings numpy's fixed-width bytes can carry; None where they cannot: non-ASCII bytes
    where numpy does not copy them as they are, or strings of so different lengths that
    fixed width would take far more memory than the strings. (A string ending in a zero
    byte, which ``S`` drops, is found while laying them out.) A null's slot holds whatever
    bytes Arrow has there, mostly none."""
    buffers = _string_buffers(arr)
    if buffers is None:
        return None
    offsets, data = buffers
    n = len(arr)
    width = int(np.diff(offsets).max()) if n else 0
    used = data[int(offsets[0]) : int(offsets[-1])] if n else data[:0]
    if width and not fits_fixed_width(n, width, used.size):
        return None
    if not _bytes_cast_keeps_utf8() and used.size and used.max() >= 0x80:
        return None
    return offsets, data, width


def _fixed_width(arr: pa.Array, layout: Layout | None = None) -> np.ndarray | None:
    """An Arrow string array as numpy fixed-width bytes (``S``), which numpy casts to its
    StringDType in one pass; None where that would not give the same strings (see
    :func:`_layout`, and a string ending in a zero byte)."""
    layout = layout or _layout(arr)
    if layout is None:
        return None
    offsets, data, width = layout
    n = len(arr)
    if width == 0:
        return np.zeros(n, "S1")
    if native.kernels is not None:
        out = np.empty(n, f"S{width}")
        return out if native.kernels.fixed_width(offsets, data, out.view(np.uint8), width) else None
    lengths = np.diff(offsets)
    if (data[offsets[1:][lengths > 0] - 1] == 0).any():  # a string ending in a zero byte
        return None
    # each string read through a window of ``width`` bytes from its start, the bytes past its
    # end (the next strings') then zeroed
    used = data[int(offsets[0]) : int(offsets[-1])]
    padded = np.zeros(used.size + width, np.uint8)
    padded[: used.size] = used
    windows = np.ndarray((used.size + 1,), dtype=f"S{width}", buffer=padded, strides=(1,))
    out = windows[offsets[:-1] - offsets[0]]
    out.view(np.uint8).reshape(n, width)[np.arange(width) >= lengths[:, None]] = 0
    return out


BLOCK_BYTES = 1 << 18
"""The compiled layout of strings goes a block of this many bytes at a time (:func:`_fixed_width_strings`)."""


def _fixed_width_strings(arr: pa.Array) -> np.ndarray | None:
    """An Arrow string array as StringDType through fixed-width bytes (:func:`_fixed_width`);
    where the kernel is built, a block of :data:`BLOCK_BYTES` at a time, each cast into its
    place: one small buffer, still in cache when numpy reads it (10^6 workplaces 0.090 ->
    0.074 s, and 24 MB less memory)."""
    from glasnost.economy.model import STRING

    layout = _layout(arr)
    if layout is None:
        return None
    offsets, data, width = layout
    if native.kernels is None or width == 0:
        fixed = _fixed_width(arr, layout)
        return None if fixed is None else fixed.astype(STRING)
    n = len(arr)
    out = np.empty(n, STRING)
    rows = max(1, BLOCK_BYTES // width)
    buffer = np.empty(min(n, rows) * width, np.uint8)
    for first in range(0, n, rows):
        last = min(n, first + rows)
        block = buffer[: (last - first) * width]
        if not native.kernels.fixed_width(offsets[first : last + 1], data, block, width):
            return None
        out[first:last] = block.view(f"S{width}")
    return out


FEW_WORDS = 16
"""A dictionary of at most this many strings is written word by word (:func:`_spread`)."""


def _spread(words: np.ndarray, codes: np.ndarray) -> np.ndarray | None:
    """``words[codes]`` for a few StringDType words: the commonest written into every place
    at once, each other one where its code is (10^6 units: 0.04-0.09 s through fixed-width
    bytes, 0.015 s so; a gather of StringDType items allocates each). None for a code that
    is not a word's."""
    from glasnost.economy.model import STRING

    if codes.size == 0:
        return np.zeros(0, STRING)
    counts = np.bincount(codes, minlength=words.size)
    if counts.size > words.size:
        return None
    commonest = int(np.argmax(counts))
    out = np.empty(codes.size, STRING)
    out[...] = words[commonest : commonest + 1]
    for code in np.flatnonzero(counts):
        if code != commonest:
            out[codes == code] = words[code]
    return out


def _dictionary_strings(arr: pa.DictionaryArray, fill: str | None) -> np.ndarray | None:
    """A dictionary-encoded string array as StringDType, nulls as ``fill``: a few words spread
    (:func:`_spread`), more through the dictionary in fixed-width bytes (a gather of those,
    then one cast); None where neither way applies."""
    from glasnost.economy.model import STRING

    indices = arr.indices
    if indices.null_count and fill is None:
        return None
    codes = numbers(indices, fill=len(arr.dictionary))  # a null: one past the dictionary
    if len(arr.dictionary) <= FEW_WORDS and arr.dictionary.null_count == 0:
        words = string_array(arr.dictionary)
        if indices.null_count:
            words = np.concatenate([words, np.array([fill], STRING)])
        return _spread(words, codes)
    dictionary = _fixed_width(arr.dictionary)
    if dictionary is None:
        return None
    if indices.null_count:  # the fill as one more dictionary entry
        if fill.endswith("\0") or not (fill.isascii() or _bytes_cast_keeps_utf8()):
            return None
        dictionary = np.concatenate([dictionary, np.array([fill.encode()])])  # the wider width
    if not fits_fixed_width(len(arr), dictionary.itemsize, 8 * len(arr)):
        return None
    return dictionary[codes].astype(STRING)


def string_array(column: pa.ChunkedArray | pa.Array, fill: str | None = None) -> np.ndarray:
    """A string column (plain or dictionary-encoded) as a numpy StringDType array, nulls as
    ``fill`` (None: the column should have none). Through fixed-width bytes laid out from
    Arrow's buffers where the strings allow (:func:`_fixed_width_strings`, :func:`_layout`),
    a few dictionary words spread (:func:`_spread`): 10^6 ids through Python objects took
    0.1-0.2 s, and Arrow's conversion imports pandas (0.14 s) the first time."""
    from glasnost.economy.model import STRING

    arr = one_array(column)
    if pa.types.is_dictionary(arr.type):
        out = _dictionary_strings(arr, fill)
        if out is not None:
            return out
    elif arr.null_count == 0 or fill is not None:
        out = _fixed_width_strings(arr)
        if out is not None:
            if arr.null_count:
                out[~valid_mask(arr)] = fill
            return out
    if arr.null_count and fill is not None:
        # Arrow fills a dictionary array's nulls only with a value its dictionary holds
        arr = (arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr).fill_null(fill)
    if pa.types.is_dictionary(arr.type):
        dictionary = np.asarray(arr.dictionary.to_numpy(zero_copy_only=False), dtype=STRING)
        return dictionary[arr.indices.to_numpy(zero_copy_only=False)]
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=STRING)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (the key of what the directory caches about its content)."""
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


def first_bad_row(mask: np.ndarray) -> int | None:
    """The first row where ``mask`` is true, or None."""
    return int(np.argmax(mask)) if mask.any() else None


def number_problem(v: float) -> str:
    return "NaN" if np.isnan(v) else ("infinite" if np.isinf(v) else "negative")


def _replace_dir(new: Path, target: Path) -> None:
    if target.exists():
        if not (target / "manifest.json").exists() and any(target.iterdir()):
            raise EconomyError("refusing to overwrite a non-empty directory that is not an economy", where=str(target))
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(target)


def null_rows(table: pa.Table, path: Path, columns: tuple[str, ...]) -> None:
    for name in columns:
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise EconomyError(f"row {row}: empty {name}", where=str(path))


def lookup_ids(values: pa.ChunkedArray, table_ids: np.ndarray, what: str, path: Path, column: str) -> np.ndarray:
    found = pc.index_in(values, value_set=pa.array(table_ids))
    if found.null_count:
        mask = found.is_null().to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(mask)
        vals = values.take(pa.array(rows[:5])).to_pylist()
        shown = ", ".join(f"{v!r} (row {r})" for v, r in zip(vals, rows[:5], strict=True))
        more = f" and {rows.size - 5} more" if rows.size > 5 else ""
        raise EconomyError(f"unknown {what} id in column {column}: {shown}{more}", where=str(path))
    return found.to_numpy(zero_copy_only=False).astype(np.int64)


def check_numbers(
    values: np.ndarray, path: Path, column: str, ids: pa.ChunkedArray | None = None, *, allow_inf: bool = False
) -> None:
    bad = np.isnan(values) | (values < 0) | (np.isinf(values) & ~allow_inf)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        v = values[row]
        problem = "NaN" if np.isnan(v) else ("infinite" if np.isinf(v) else "negative")
        who = f" ({ids[row].as_py()})" if ids is not None else ""
        raise EconomyError(f"row {row}{who}: {problem} {column} {float(v)!r}", where=str(path))


def coo_matrix(
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    shape: tuple[int, int],
    path: Path,
    row_ids: np.ndarray,
    col_ids: np.ndarray,
) -> sp.csr_array:
    m = sp.csr_array(sp.coo_array((values, (rows, cols)), shape=shape))
    if m.nnz < values.size:
        m.sum_duplicates()
        key = rows.astype(np.int64) * shape[1] + cols
        uniq, first, counts = np.unique(key, return_index=True, return_counts=True)
        if (counts > 1).any():
            k = int(np.flatnonzero(counts > 1)[0])
            dup_rows = np.flatnonzero(key == uniq[k])
            raise EconomyError(
                f"rows {', '.join(map(str, dup_rows[:5]))}: duplicate coefficient for "
                f"{row_ids[rows[first[k]]]!s} / {col_ids[cols[first[k]]]!s}",
                where=str(path),
            )
    return m
