"""Helpers shared by the economy directory readers and writers of every schema version:
atomic replacement of a directory, typed Parquet reads and checks whose errors name the file,
the row and the id."""

from __future__ import annotations

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
        return pq.ParquetFile(path)
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


def string_array(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A string column as a numpy StringDType array (through one buffer, not Python objects
    per row where pyarrow allows)."""
    from glasnost.economy.model import STRING

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
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
