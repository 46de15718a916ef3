"""Schema version 2 of the economy directory: integer positions, fixed-width columns.

Layout::

    manifest.json            format, schema_version 2, name, counts, file names, row-group size,
                             digests of the id tables and cached checks (see below)
    commodities.parquet      kind (uint8 code), supply, target      one row per commodity position
    commodity_ids.parquet    id, name (null: same as id), unit      one row per commodity position
    processes.parquet        capacity                               one row per process position
    process_ids.parquet      id, workplace (null: same as id)       one row per process position
    coefficients.parquet     process (int32), commodity (int32), role (int8: 0 output, 1 input,
                             2 capital), value, depreciation (capital rows only)
    councils.parquet         id, members, income                    (optional)
    preferences.parquet      council (int32), commodity (int32), weight   (optional)

Coefficients are sorted by process, then role, then commodity, and written in row groups whose
process range the Parquet statistics record, so a reader that wants the rows of some processes
(an MPI rank's block) reads only the row groups that hold them (:func:`read_process_block`).
String ids live once, in the two id tables; nothing on the load path joins strings.

What the writer checked is cached in the manifest under the content it was checked on: the
SHA-256 of each id table (its ids were unique) and of the default technique's input matrix (its
transpose, as the technique is built) with the productiveness bound found for it. A reader
recomputes a check only when the content no longer matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp

from glasnost.economy import native
from glasnost.economy.arrow import arrow_numbers, arrow_strings
from glasnost.economy.errors import EconomyError, NotProductiveError
from glasnost.economy.files import (
    FORMAT,
    atomic_directory,
    coo_matrix,
    file_digest,
    first_bad_row,
    number_problem,
    numbers,
    one_array,
    parquet_file,
    read_manifest,
    read_parquet,
    string_array,
    valid_mask,
)
from glasnost.economy.model import Commodities, Councils, Economy, Kind, Processes, sorted_rows
from glasnost.economy.validate import check_unique

SCHEMA_VERSION = 2
ROLES = ("output", "input", "capital")
ROW_GROUP_ROWS = 1 << 18
FILES = {
    "commodities": "commodities.parquet",
    "commodity_ids": "commodity_ids.parquet",
    "processes": "processes.parquet",
    "process_ids": "process_ids.parquet",
    "coefficients": "coefficients.parquet",
    "councils": "councils.parquet",
    "preferences": "preferences.parquet",
}
COEFFICIENT_COLUMNS = {
    "process": pa.int32(),
    "commodity": pa.int32(),
    "role": pa.int8(),
    "value": pa.float64(),
    "depreciation": pa.float64(),
}


def matrix_digest(matrix: sp.csr_array) -> str:
    """SHA-256 of a CSR matrix's shape and arrays (the key of a cached check)."""
    h = hashlib.sha256(repr(matrix.shape).encode())
    for part in (matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64), matrix.data):
        h.update(np.ascontiguousarray(part).data)
    return h.hexdigest()


# ---- writing ---------------------------------------------------------------------------------


COMPRESSION = "lz4"  # reads at several times snappy's speed on these columns, as small


def _required(table: pa.Table) -> pa.Table:
    """``table`` with its columns that hold no null marked so: Parquet stores them without a
    definition level per value (reading the coefficients of 10^6 products 0.12 -> 0.08 s)."""
    fields = [f.with_nullable(table.column(f.name).null_count > 0) for f in table.schema]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def _write(table: pa.Table, path: Path, **options: object) -> None:
    pq.write_table(_required(table), path, **{"use_dictionary": False, "compression": COMPRESSION, **options})


def _same_as(values: np.ndarray, ids: np.ndarray) -> pa.Array:
    """``values`` with nulls where they equal ``ids`` (the default, not stored twice)."""
    same = values == ids
    if same.all():
        return pa.nulls(values.size, pa.string())
    return arrow_strings(values, same)


def coefficients_table(processes: Processes) -> pa.Table:
    """The coefficient rows of every role, sorted by process, role, commodity: each role's
    entries are sent straight to their place (its rows' starts plus the earlier roles' counts),
    so no sort of the 10^7 rows is needed."""
    roles = [(0, sorted_rows(processes.outputs)), (1, sorted_rows(processes.inputs))]
    if processes.capital is not None:
        roles.append((2, sorted_rows(processes.capital)))
    m = processes.outputs.shape[0]
    counts = [np.diff(mat.indptr) for _, mat in roles]
    indptr = np.zeros(m + 1, np.int64)
    np.cumsum(np.sum(counts, axis=0), out=indptr[1:])
    total = int(indptr[-1])
    commodity = np.empty(total, np.int32)
    role = np.empty(total, np.int8)
    value = np.empty(total)
    kernels = _compiled_kernels(total, [mat for _, mat in roles])
    if kernels is not None:
        process = _compiled_rows(kernels, indptr, roles, commodity, role, value)
    else:
        process = _rows(indptr, roles, counts, commodity, role, value)
    columns = {
        "process": arrow_numbers(process, pa.int32()),
        "commodity": arrow_numbers(commodity, pa.int32()),
        "role": arrow_numbers(role, pa.int8()),
        "value": arrow_numbers(value, pa.float64()),
    }
    if processes.capital is not None and processes.depreciation is not None:
        capital = roles[2][1]
        before = indptr[:-1] + counts[0] + counts[1]  # the capital rows follow outputs and inputs
        dest = np.arange(capital.nnz) + np.repeat(before - capital.indptr[:-1], counts[2])
        dep = np.full(total, np.nan)
        dep[dest] = sorted_rows(processes.depreciation).data  # validation: capital's exact pattern
        columns["depreciation"] = pa.array(dep, pa.float64(), mask=np.isnan(dep))
    return pa.table(columns)


COMPILED_ROWS = 1 << 20
"""Tables of at least this many rows are laid out by the compiled kernel, where it is built."""


def _compiled_kernels(total: int, matrices: list[sp.csr_array]) -> ModuleType | None:
    """The compiled kernels where they can lay out this table (int32 positions), else None."""
    if native.kernels is None or total < COMPILED_ROWS or total >= 2**31 or matrices[0].shape[0] >= 2**31:
        return None
    ok = all(mat.indptr.dtype == mat.indices.dtype == np.int32 and mat.data.dtype == np.float64 for mat in matrices)
    return native.kernels if ok else None


def _compiled_rows(
    kernels: ModuleType,
    indptr: np.ndarray,
    roles: list[tuple[int, sp.csr_array]],
    commodity: np.ndarray,
    role: np.ndarray,
    value: np.ndarray,
) -> np.ndarray:
    """Fill the table's columns with the compiled kernel, on all cores; returns the process column."""
    threads = native.kernel_threads()
    before = np.zeros(indptr.size - 1, np.int64)
    for code, mat in roles:
        kernels.role_entries(indptr, before, mat.indptr, mat.indices, mat.data, code, commodity, role, value, threads)
    process = np.empty(commodity.size, np.int32)
    kernels.process_column(indptr, process, threads)
    return process


def _rows(
    indptr: np.ndarray,
    roles: list[tuple[int, sp.csr_array]],
    counts: list[np.ndarray],
    commodity: np.ndarray,
    role: np.ndarray,
    value: np.ndarray,
) -> np.ndarray:
    """Fill the table's columns with numpy; returns the process column."""
    before = np.zeros(indptr.size - 1, np.int64)  # entries of earlier roles in each row
    for (code, mat), count in zip(roles, counts, strict=True):
        dest = np.arange(mat.nnz) + np.repeat(indptr[:-1] + before - mat.indptr[:-1], count)
        commodity[dest], role[dest], value[dest] = mat.indices, code, mat.data
        before += count
    return np.repeat(np.arange(indptr.size - 1, dtype=np.int32), np.diff(indptr))


def _productive_cache(economy: Economy) -> dict | None:
    """The cached productiveness check, where loading would need it: none where A's column
    sums settle it (the loader tries them first), which spares hashing the matrix."""
    radius = economy._meta.get("productive_radius")
    if radius is None or economy._meta.get("column_sum_bound", np.inf) < 1.0:
        return None  # no check to cache, or one the column sums settle (a generated economy's)
    technique = economy.technique
    if technique.column_sums.max(initial=0.0) < 1.0:
        return None
    return {"technique_transpose_sha256": matrix_digest(technique.A_t), "radius": radius}


def save_v2(economy: Economy, directory: str | os.PathLike[str]) -> Path:
    """Write ``economy`` in schema version 2 to ``directory`` (created or atomically replaced)."""
    c, p = economy.commodities, economy.processes
    with atomic_directory(directory) as tmp, ThreadPoolExecutor(max_workers=1) as writer:
        # the coefficients, most of the bytes, are laid out and written beside the other
        # tables (Arrow encodes and writes without the GIL)
        coefficients = writer.submit(_write_coefficients, p, tmp / FILES["coefficients"])
        amounts = {"kind": arrow_numbers(c.kinds, pa.uint8())}
        amounts.update(supply=arrow_numbers(c.supply), target=arrow_numbers(c.targets))
        _write(pa.table(amounts), tmp / FILES["commodities"])
        units = arrow_strings(c.units).dictionary_encode()
        pq.write_table(
            _required(pa.table({"id": arrow_strings(c.ids), "name": _same_as(c.names, c.ids), "unit": units})),
            tmp / FILES["commodity_ids"],
            use_dictionary=["unit"],
            compression=COMPRESSION,
        )
        _write(pa.table({"capacity": arrow_numbers(p.capacity)}), tmp / FILES["processes"])
        process_ids = {"id": arrow_strings(p.ids), "workplace": _same_as(p.workplaces, p.ids)}
        _write(pa.table(process_ids), tmp / FILES["process_ids"])
        files = ["commodities", "commodity_ids", "processes", "process_ids", "coefficients"]
        if economy.councils is not None:
            k = economy.councils
            members = {"id": arrow_strings(k.ids), "members": arrow_numbers(k.members)}
            pq.write_table(pa.table({**members, "income": arrow_numbers(k.income)}), tmp / FILES["councils"])
            prefs = sp.coo_array(k.preferences)
            _write(
                pa.table(
                    {
                        "council": arrow_numbers(prefs.row, pa.int32()),
                        "commodity": arrow_numbers(prefs.col, pa.int32()),
                        "weight": arrow_numbers(prefs.data, pa.float64()),
                    }
                ),
                tmp / FILES["preferences"],
            )
            files += ["councils", "preferences"]
        checks: dict[str, object] = {
            "unique_ids_sha256": {
                "commodity_ids": file_digest(tmp / FILES["commodity_ids"]),
                "process_ids": file_digest(tmp / FILES["process_ids"]),
            }
        }
        productive = _productive_cache(economy)
        if productive is not None:
            checks["productive"] = productive
        manifest = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "name": economy.name,
            "counts": economy.describe(),
            "files": {f: FILES[f] for f in files},
            "row_group_rows": ROW_GROUP_ROWS,
            "checks": checks,
        }
        coefficients.result()
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return Path(directory)


def _write_coefficients(processes: Processes, path: Path) -> None:
    coefficients = coefficients_table(processes)
    _write(
        coefficients,
        path,
        row_group_size=ROW_GROUP_ROWS,
        # the values are random doubles that lz4 barely shrinks (4%) but costs time to
        # write and read; only the process range of a row group is ever looked up
        compression={c: "none" if c == "value" else COMPRESSION for c in coefficients.column_names},
        write_statistics=["process"],
    )


# ---- reading ---------------------------------------------------------------------------------


def _path(root: Path, manifest: dict, name: str) -> Path:
    return root / manifest.get("files", {}).get(name, FILES[name])


def _bad(path: Path, row: int, who: str, message: str) -> EconomyError:
    return EconomyError(f"row {row}{f' ({who})' if who else ''}: {message}", where=str(path))


def _no_nulls(table: pa.Table, path: Path, columns: tuple[str, ...], row_offset: int = 0) -> None:
    for name in columns:
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise _bad(path, row + row_offset, "", f"empty {name}")


def _check_amounts(values: np.ndarray, path: Path, column: str, ids: np.ndarray, *, allow_inf: bool) -> None:
    # a NaN makes min() NaN, failing the test: the mask is built only when a value is bad
    if not values.size or (values.min() >= 0 and (allow_inf or values.max() < np.inf)):
        return
    bad = np.isnan(values) | (values < 0) | (np.isinf(values) & ~allow_inf)
    row = first_bad_row(bad)
    if row is not None:
        v = values[row]
        raise _bad(path, row, str(ids[row]), f"{number_problem(v)} {column} {float(v)!r}")


def _check_unique(column: pa.ChunkedArray, ids: np.ndarray, what: str, path: Path) -> None:
    """:func:`check_unique` of ids read from ``column``, its count of distinct ids taken from the
    Arrow column itself (an Arrow array made from numpy's strings imports pandas, 0.14 s, the
    first time); the full check, which names them, only where an id repeats or is empty."""
    if pc.count_distinct(column).as_py() != ids.size or (np.strings.str_len(ids) == 0).any():
        check_unique(ids, what, str(path))


def _ids_table(
    root: Path, manifest: dict, name: str, extra: str, rows: int, what: str, more: dict[str, pa.DataType] | None = None
) -> tuple[np.ndarray, np.ndarray, pa.Table]:
    """(ids, ``extra`` column with nulls meaning "same as id", the table with the ``more``
    columns) of an id table, its ids checked unique unless the manifest's digest shows the
    writer checked this very file."""
    path = _path(root, manifest, name)
    more = more or {}
    t = read_parquet(path, {"id": pa.string(), extra: pa.string(), **more}, optional=(extra, *more))
    if t.num_rows != rows:
        raise EconomyError(f"has {t.num_rows} rows, but its numbers table has {rows}", where=str(path))
    _no_nulls(t, path, ("id",))
    ids = string_array(t.column("id"))
    digest = manifest.get("checks", {}).get("unique_ids_sha256", {}).get(name)
    if digest is None or digest != file_digest(path):
        _check_unique(t.column("id"), ids, what, path)
    if extra not in t.column_names or t.column(extra).null_count == t.num_rows:
        return ids, ids.view(), t  # shared, not copied (10^6 ids: 18 ms): both are frozen
    col = one_array(t.column(extra))
    values = string_array(col, fill="")
    if col.null_count:
        nulls = ~valid_mask(col)
        values[nulls] = ids[nulls]
    return ids, values, t


def _read_commodities(root: Path, manifest: dict) -> Commodities:
    path = _path(root, manifest, "commodities")
    t = read_parquet(path, {"kind": pa.uint8(), "supply": pa.float64(), "target": pa.float64()})
    _no_nulls(t, path, ("kind",))
    n = t.num_rows
    unit_type = pa.dictionary(pa.int32(), pa.string())  # a few units over many commodities
    ids, names, id_table = _ids_table(root, manifest, "commodity_ids", "name", n, "commodity", {"unit": unit_type})
    units = (
        string_array(id_table.column("unit"), fill="unit")
        if "unit" in id_table.column_names
        else np.full(n, "unit", dtype=ids.dtype)
    )
    kinds = numbers(t.column("kind"))
    row = first_bad_row(kinds > max(Kind))
    if row is not None:
        raise _bad(path, row, str(ids[row]), f"unknown commodity kind code {kinds[row]}")
    supply = numbers(t.column("supply"), fill=0.0)
    target = numbers(t.column("target"), fill=0.0)
    _check_amounts(supply, path, "supply", ids, allow_inf=True)
    _check_amounts(target, path, "target", ids, allow_inf=False)
    return Commodities(ids=ids, names=names, units=units, kinds=kinds, supply=supply, targets=target)


@dataclass(frozen=True)
class CoefficientRows:
    """Coefficient rows read from a version 2 directory, positions as stored."""

    process: np.ndarray
    commodity: np.ndarray
    role: np.ndarray
    value: np.ndarray
    depreciation: np.ndarray
    first_row: int  # file row of the first entry (for messages)

    @property
    def size(self) -> int:
        return int(self.process.size)


def _check_coefficients(rows: CoefficientRows, path: Path, process_ids: np.ndarray, n_commodities: int) -> None:
    m = process_ids.size
    p, c, role, v = rows.process, rows.commodity, rows.role, rows.value

    def outside(x: np.ndarray, size: int) -> np.ndarray | None:  # the mask only where needed
        return None if not x.size or (x.min() >= 0 and x.max() < size) else (x < 0) | (x >= size)

    mask = outside(p, m)
    if mask is not None:
        r = int(np.argmax(mask))
        raise _bad(path, rows.first_row + r, "", f"process position {p[r]} is not between 0 and {m - 1}")
    for mask, problem in (
        (outside(c, n_commodities), f"commodity position {{}} is not between 0 and {n_commodities - 1}"),
        (outside(role, 3), "role code {} is not 0 (output), 1 (input) or 2 (capital)"),
    ):
        r = None if mask is None else first_bad_row(mask)
        if r is not None:
            bad_value = c[r] if "commodity" in problem else role[r]
            raise _bad(path, rows.first_row + r, str(process_ids[p[r]]), problem.format(bad_value))
    # a NaN makes min() NaN, failing the test: the mask is built only when a value is bad
    if v.size and not (v.min() >= 0 and v.max() < np.inf):
        r = first_bad_row(np.isnan(v) | (v < 0) | np.isinf(v))
        assert r is not None
        raise _bad(path, rows.first_row + r, str(process_ids[p[r]]), f"{number_problem(v[r])} value {float(v[r])!r}")
    capital = np.flatnonzero(role == 2)  # depreciation counts on capital rows only
    dep = rows.depreciation[capital]
    r = first_bad_row(np.isnan(dep) | (dep < 0) | (dep > 1))
    if r is not None:
        d, r = float(dep[r]), int(capital[r])  # the value at its place among capital rows
        who = str(process_ids[p[r]])
        raise _bad(path, rows.first_row + r, who, f"depreciation {d!r} is not a share between 0 and 1")


def _rows_of(table: pa.Table, first_row: int) -> CoefficientRows:
    dep = (
        numbers(table.column("depreciation"), fill=np.nan)
        if "depreciation" in table.column_names
        else np.zeros(table.num_rows)
    )
    return CoefficientRows(
        process=numbers(table.column("process")),
        commodity=numbers(table.column("commodity")),
        role=numbers(table.column("role")),
        value=numbers(table.column("value")),
        depreciation=dep,
        first_row=first_row,
    )


def role_matrix(
    process: np.ndarray,
    commodity: np.ndarray,
    values: np.ndarray,
    shape: tuple[int, int],
    path: Path,
    process_ids: np.ndarray,
    commodity_ids: np.ndarray | None,
) -> sp.csr_array:
    """CSR (processes x commodities) from entries; rows sorted by (process, commodity) become
    the CSR arrays directly, anything else goes through COO with a check for duplicates."""
    key = process.astype(np.int64) * shape[1] + commodity
    if key.size < 2 or bool((key[1:] > key[:-1]).all()):
        indptr = np.zeros(shape[0] + 1, np.int64)
        np.cumsum(np.bincount(process, minlength=shape[0]), out=indptr[1:])
        index_type = np.int32 if key.size < 2**31 else np.int64
        return sp.csr_array((values, commodity.astype(index_type, copy=False), indptr.astype(index_type)), shape=shape)
    col_ids = commodity_ids if commodity_ids is not None else np.arange(shape[1]).astype(str)
    return coo_matrix(process, commodity, values, shape, path, process_ids, col_ids)


def _process_role(rows: CoefficientRows, m: int) -> np.ndarray:
    """``process * 3 + role`` of every row (int32 where it fits: half the memory traffic)."""
    key_type = np.int32 if 3 * m < 2**31 else np.int64
    key = rows.process.astype(key_type, copy=True)
    key *= 3
    key += rows.role
    return key


def _sorted_as_written(rows: CoefficientRows, process_role: np.ndarray) -> bool:
    """Whether the rows are strictly increasing in (process, role, commodity), as written
    (``process_role`` from :func:`_process_role`; positions already checked in range)."""
    if rows.size < 2:
        return True
    step = process_role[1:] - process_role[:-1]
    if (step < 0).any():
        return False
    tied = np.flatnonzero(step == 0)  # the same process and role: commodities must increase
    c = rows.commodity
    return bool((c[tied + 1] > c[tied]).all())


def _matrices(
    rows: CoefficientRows, shape: tuple[int, int], path: Path, process_ids: np.ndarray, commodity_ids: np.ndarray | None
) -> dict[str, sp.csr_array | None]:
    mats: dict[str, sp.csr_array | None] = {}
    process_role = _process_role(rows, shape[0])
    as_written = _sorted_as_written(rows, process_role)
    if as_written:  # each role's row pointer from one count of (process, role) pairs
        counts = np.bincount(process_role, minlength=3 * shape[0]).reshape(shape[0], 3)
    del process_role
    index_type = np.int32 if rows.size < 2**31 and shape[1] < 2**31 else np.int64
    for code, name in enumerate(ROLES):
        sel = rows.role == code
        if name == "capital" and not sel.any():
            mats["capital"] = mats["depreciation"] = None
            continue
        values = {name: rows.value[sel]}
        if name == "capital":
            values["depreciation"] = rows.depreciation[sel]
        if as_written:
            indptr = np.zeros(shape[0] + 1, index_type)
            np.cumsum(counts[:, code], out=indptr[1:])
            indices = rows.commodity[sel].astype(index_type, copy=False)
            for key, data in values.items():
                mats[key] = sp.csr_array((data, indices, indptr), shape=shape)
                mats[key].has_sorted_indices = True  # commodities increase within a process's role
            continue
        args = (rows.process[sel], rows.commodity[sel])
        for key, data in values.items():
            mats[key] = role_matrix(*args, data, shape, path, process_ids, commodity_ids)
    return mats


def _depreciation_buffers(table: pa.Table) -> tuple[np.ndarray, np.ndarray, int]:
    """(values, validity bitmap, its first bit) of the depreciation column for the compiled
    split; empty arrays where there is no column, no row or no null."""
    if "depreciation" not in table.column_names:
        return np.empty(0), np.empty(0, np.uint8), 0
    arr = one_array(table.column("depreciation"))
    if len(arr) == 0:
        return np.empty(0), np.empty(0, np.uint8), 0
    values = np.frombuffer(arr.buffers()[1], np.float64, count=len(arr), offset=8 * arr.offset)
    bitmap = arr.buffers()[0]
    if bitmap is None or arr.null_count == 0:
        return values, np.empty(0, np.uint8), 0
    return values, np.frombuffer(bitmap, np.uint8), arr.offset


SPLIT_THREADS = 1
"""Threads of the compiled split of one row group: one, as the split runs beside the reading
of the id tables (two took 0.3-0.5 s more CPU at 10^6 products: OpenMP's idle thread spun
between row groups on a core that Arrow's decoding needed)."""
STATE = np.array([0, 0, 0, -1, -1, -1, -1, -1, -1], np.int64)
"""The compiled split's state before the first row group: rows of each role, last process of
each role, the last row's process, role and commodity (see :mod:`glasnost.economy._kernels`)."""


def _streamable(pf: pq.ParquetFile) -> list[str] | None:
    """The coefficient columns a file has, where they are stored as they are read (no cast
    that could fail) and few enough rows for int32 indices; else None."""
    schema = pf.schema_arrow
    names = [c for c in COEFFICIENT_COLUMNS if c in schema.names]
    if pf.metadata.num_rows >= 2**31 - 1 or not {"process", "commodity", "role", "value"} <= set(names):
        return None
    return names if all(schema.field(c).type == COEFFICIENT_COLUMNS[c] for c in names) else None


def _split_group(table: pa.Table, shape: tuple[int, int], state: np.ndarray, out: list[np.ndarray]) -> bool:
    """One row group checked and appended to ``out`` (3 indptr, 3 indices, 3 data, the
    depreciation) by the compiled split; false where a row is null, bad or out of order."""
    if any(table.column(c).null_count for c in ("process", "commodity", "role", "value")):
        return False
    columns = (numbers(table.column(name)) for name in ("process", "commodity", "role", "value"))
    threads = min(SPLIT_THREADS, native.kernel_threads())
    return native.kernels.split_rows(*columns, *_depreciation_buffers(table), *shape, state, *out, threads)


def _csr_by_role(out: list[np.ndarray], state: np.ndarray, shape: tuple[int, int]) -> dict[str, sp.csr_array | None]:
    """The role matrices from the compiled split's arrays, each role's cut to its count."""
    indptr, indices, data, dep = out[0:3], out[3:6], out[6:9], out[9]
    counts, last = state[:3], state[3:6]
    for code in range(len(ROLES)):
        indptr[code][last[code] + 1 :] = counts[code]  # the processes after the role's last row
        indices[code].resize(counts[code], refcheck=False)  # no copy: memory never touched is let go
        data[code].resize(counts[code], refcheck=False)
    dep.resize(counts[2], refcheck=False)
    mats: dict[str, sp.csr_array | None] = {}
    for code, name in enumerate(ROLES):
        values = {name: data[code]} if code < 2 else {name: data[code], "depreciation": dep}
        for key, d in values.items():
            mats[key] = sp.csr_array((d, indices[code], indptr[code]), shape=shape)
            mats[key].has_sorted_indices = True
    if counts[2] == 0:
        mats["capital"] = mats["depreciation"] = None
    return mats


def _streamed_matrices(
    path: Path, shape: tuple[int, int], stop: threading.Event | None = None
) -> dict[str, sp.csr_array | None] | None:
    """The role matrices from the coefficient file read row group by row group, each checked
    and appended to the roles' CSR arrays by the compiled split
    (:mod:`glasnost.economy._kernels`): each group reuses the memory Arrow freed after the
    one before, where reading the whole file touched 17 bytes of fresh memory a row (10^7
    rows: 0.24 -> 0.12 s of reading). Each role's arrays get room for every row and are cut
    to their length after. None where the kernel is not built, the file does not suit
    (:func:`_streamable`), or a row group is unreadable or has a null, bad or out-of-order
    row: the numpy path then reads the whole file and writes the message naming it, or
    sorts the rows. Also None once ``stop`` is set (checked between row groups)."""
    pf = parquet_file(path)
    names = _streamable(pf)
    if native.kernels is None or names is None or shape[1] >= 2**31:
        return None
    total = pf.metadata.num_rows
    out = [np.empty(shape[0] + 1, np.int32) for _ in ROLES]
    out += [np.empty(total, np.int32) for _ in ROLES] + [np.empty(total) for _ in range(len(ROLES) + 1)]
    state = STATE.copy()
    for table in _row_groups(pf, names):
        if table is None or (stop is not None and stop.is_set()) or not _split_group(table, shape, state, out):
            return None
    return _csr_by_role(out, state, shape)


def _row_groups(pf: pq.ParquetFile, names: list[str]) -> Iterator[pa.Table | None]:
    """The file's row groups in order; None for one that cannot be read."""
    for group in range(pf.metadata.num_row_groups):
        try:
            yield pf.read_row_group(group, columns=names)
        except (pa.ArrowInvalid, OSError):
            yield None


def coefficient_matrices(
    path: Path,
    shape: tuple[int, int],
    process_ids: np.ndarray,
    commodity_ids: np.ndarray | None,
    *,
    compiled: bool = True,
) -> dict[str, sp.csr_array | None]:
    """The output, input, capital and depreciation matrices (processes x commodities) of a
    coefficient file: by the compiled split where built and the rows are well formed and
    sorted as written (:func:`_streamed_matrices`); by numpy's checks, whose errors name the
    file, row and id, and numpy's split otherwise, or where ``compiled`` is false. Capital
    and depreciation are None without capital rows."""
    mats = _streamed_matrices(path, shape) if compiled else None
    if mats is None:
        table = read_parquet(path, COEFFICIENT_COLUMNS, optional=("depreciation",))
        _no_nulls(table, path, ("process", "commodity", "role", "value"))
        rows = _rows_of(table, 0)
        _check_coefficients(rows, path, process_ids, shape[1])
        mats = _matrices(rows, shape, path, process_ids, commodity_ids)
    return mats


@dataclass(frozen=True)
class _Ahead:
    """The compiled split of the coefficient file, started on a thread beside (for ``shape``)
    while the tables before it are read; ``stop`` ends it early."""

    shape: tuple[int, int]
    result: Future
    stop: threading.Event


def _split_quietly(path: Path, shape: tuple[int, int], stop: threading.Event) -> dict | None:
    try:
        return _streamed_matrices(path, shape, stop)
    except Exception:  # the reader does it again in its turn, and reports what goes wrong then
        return None


@contextmanager
def _coefficients_ahead(root: Path, manifest: dict) -> Iterator[_Ahead | None]:
    """Start the compiled split of the coefficient file on a thread beside, for the shape the
    process and commodity tables' metadata give, while the reader turns their ids into
    strings (10^6 products: ~0.25 s of either, on two cores at once). Errors keep their
    order: the reader takes the result only where it came to read the file, and redoes it
    in its turn where the split found nothing usable. None where the kernel is not built or
    those tables cannot be opened."""
    shape = _table_rows(root, manifest) if native.kernels is not None else None
    if shape is None:
        yield None
        return
    with ThreadPoolExecutor(1) as pool:
        stop = threading.Event()
        result = pool.submit(_split_quietly, _path(root, manifest, "coefficients"), shape, stop)
        try:
            yield _Ahead(shape, result, stop)
        finally:
            stop.set()  # where the reader failed before taking it: end at the next row group


def _table_rows(root: Path, manifest: dict) -> tuple[int, int] | None:
    """(processes, commodities) from their tables' metadata; None where one cannot be opened."""
    try:
        m = parquet_file(_path(root, manifest, "processes")).metadata.num_rows
        n = parquet_file(_path(root, manifest, "commodities")).metadata.num_rows
    except EconomyError:
        return None
    return m, n


def _role_matrices(
    root: Path, manifest: dict, shape: tuple[int, int], ids: np.ndarray, commodities: Commodities, ahead: _Ahead | None
) -> dict[str, sp.csr_array | None]:
    """The coefficient file's role matrices: the split begun ahead where it was for this
    shape, else (or where it found a bad row) read now."""
    path = _path(root, manifest, "coefficients")
    if ahead is None or ahead.shape != shape:
        return coefficient_matrices(path, shape, ids, commodities.ids)
    mats = ahead.result.result()
    return mats if mats is not None else coefficient_matrices(path, shape, ids, commodities.ids, compiled=False)


def _read_processes(root: Path, manifest: dict, commodities: Commodities, ahead: _Ahead | None = None) -> Processes:
    path = _path(root, manifest, "processes")
    t = read_parquet(path, {"capacity": pa.float64()}, optional=("capacity",))
    m = t.num_rows
    ids, workplaces, _ = _ids_table(root, manifest, "process_ids", "workplace", m, "process")
    capacity = numbers(t.column("capacity"), fill=np.inf) if "capacity" in t.column_names else np.full(m, np.inf)
    _check_amounts(capacity, path, "capacity", ids, allow_inf=True)
    mats = _role_matrices(root, manifest, (m, len(commodities)), ids, commodities, ahead)
    return Processes(
        ids=ids,
        workplaces=workplaces,
        capacity=capacity,
        outputs=mats["output"],
        inputs=mats["input"],
        capital=mats["capital"],
        depreciation=mats["depreciation"],
    )


def _read_councils(root: Path, manifest: dict, commodities: Commodities) -> Councils | None:
    if "councils" not in manifest.get("files", {}):
        return None
    path = _path(root, manifest, "councils")
    t = read_parquet(path, {"id": pa.string(), "members": pa.float64(), "income": pa.float64()})
    _no_nulls(t, path, ("id", "members", "income"))
    ids = string_array(t.column("id"))
    check_unique(ids, "council", str(path))
    members, income = numbers(t.column("members")), numbers(t.column("income"))
    _check_amounts(members, path, "members", ids, allow_inf=False)
    _check_amounts(income, path, "income", ids, allow_inf=False)
    path = _path(root, manifest, "preferences")
    t = read_parquet(path, {"council": pa.int32(), "commodity": pa.int32(), "weight": pa.float64()})
    _no_nulls(t, path, ("council", "commodity", "weight"))
    k, c, w = (numbers(t.column(x)) for x in ("council", "commodity", "weight"))
    for values, size, what in ((k, ids.size, "council"), (c, len(commodities), "commodity")):
        r = first_bad_row((values < 0) | (values >= size))
        if r is not None:
            raise _bad(path, r, "", f"{what} position {values[r]} is not between 0 and {size - 1}")
    r = first_bad_row(np.isnan(w) | (w < 0) | np.isinf(w))
    if r is not None:
        raise _bad(path, r, str(ids[k[r]]), f"{number_problem(w[r])} weight {float(w[r])!r}")
    prefs = coo_matrix(k, c, w, (ids.size, len(commodities)), path, ids, commodities.ids)
    return Councils(ids=ids, members=members, income=income, preferences=prefs)


def _check_productive(economy: Economy, manifest: dict) -> None:
    """The productiveness check, skipped where the manifest caches it for this very matrix
    (A's column sums below 1 settle it at once: no hash then)."""
    from glasnost.economy.model import check_productive

    technique = economy.technique
    cached = manifest.get("checks", {}).get("productive")
    if (
        technique.column_sums.max(initial=0.0) >= 1.0
        and cached is not None
        and cached.get("technique_transpose_sha256") == matrix_digest(technique.A_t)
    ):
        economy._meta["productive_radius"] = float(cached["radius"])
        return
    check_productive(economy)


def load_v2(root: Path, manifest: dict, *, check_productive: bool = True) -> Economy:
    """Read a schema version 2 directory (its manifest already read)."""
    try:
        with _coefficients_ahead(root, manifest) as ahead:
            commodities = _read_commodities(root, manifest)
            processes = _read_processes(root, manifest, commodities, ahead)
        councils = _read_councils(root, manifest, commodities)
        # the id tables were checked above: against the writer's digest, or sorted afresh
        meta = {"ids_checked": True}
        economy = Economy(commodities, processes, councils, str(manifest.get("name", root.name)), meta)
        if check_productive:
            _check_productive(economy, manifest)
        return economy
    except NotProductiveError as exc:
        raise NotProductiveError(exc.culprits, exc.spectral_radius, where=str(root)) from exc
    except EconomyError as exc:
        if exc.where is not None and exc.where.startswith(str(root)):
            raise
        raise EconomyError(str(exc), where=str(root)) from exc


# ---- one rank's block ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessBlock:
    """The coefficient rows of processes [first, last) and how many file rows were read."""

    first: int
    last: int
    rows: CoefficientRows
    rows_read: int
    row_groups: list[int]


def _process_ranges(pf: pq.ParquetFile, path: Path) -> list[tuple[int, int]]:
    """(smallest, largest) process position of every row group, from the statistics where
    the writer recorded them, else from the process column."""
    index = pf.schema_arrow.get_field_index("process")
    if index < 0:
        raise EconomyError("missing column(s) process", where=str(path))
    ranges = []
    for g in range(pf.metadata.num_row_groups):
        stats = pf.metadata.row_group(g).column(index).statistics
        if stats is not None and stats.has_min_max:
            ranges.append((int(stats.min), int(stats.max)))
        else:
            col = numbers(pf.read_row_group(g, columns=["process"]).column(0))
            ranges.append((int(col.min()), int(col.max())) if col.size else (0, -1))
    return ranges


def read_process_block(
    directory: str | os.PathLike[str], first: int, last: int, process_ids: np.ndarray | None = None
) -> ProcessBlock:
    """The coefficient rows of processes ``first`` to ``last - 1`` of a version 2 directory,
    reading only the row groups that hold them. Rows must be sorted by process (as the writer
    leaves them); an unsorted row group is an error naming the file and row."""
    root = Path(directory)
    manifest = read_manifest(root)
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise EconomyError("reading one block needs schema version 2 (run glasnost migrate)", where=str(root))
    path = _path(root, manifest, "coefficients")
    pf = parquet_file(path)
    ranges = _process_ranges(pf, path)
    starts = np.concatenate([[0], np.cumsum([pf.metadata.row_group(g).num_rows for g in range(len(ranges))])])
    groups = [g for g, (lo, hi) in enumerate(ranges) if hi >= first and lo < last]
    parts = []
    for g in groups:
        t = read_parquet(path, COEFFICIENT_COLUMNS, optional=("depreciation",), row_groups=[g])
        _no_nulls(t, path, ("process", "commodity", "role", "value"), int(starts[g]))
        parts.append((g, t))
    rows_read = sum(t.num_rows for _, t in parts)
    table = (
        pa.concat_tables([t for _, t in parts])
        if parts
        else read_parquet(path, COEFFICIENT_COLUMNS, optional=("depreciation",), row_groups=[])
    )
    first_row = int(starts[groups[0]]) if groups else 0
    proc = numbers(table.column("process"))
    r = first_bad_row(proc[1:] < proc[:-1])
    if r is not None:
        raise _bad(
            path, first_row + r + 1, "", "coefficients are not sorted by process (rewrite with glasnost migrate)"
        )
    lo, hi = np.searchsorted(proc, [first, last])
    rows = _rows_of(table.slice(int(lo), int(hi - lo)), first_row + int(lo))
    return ProcessBlock(first=first, last=last, rows=rows, rows_read=rows_read, row_groups=groups)


def read_row_range(
    path: Path, columns: dict[str, pa.DataType], first: int, last: int, *, optional: tuple[str, ...] = ()
) -> pa.Table:
    """Rows ``first`` to ``last - 1`` of a Parquet file, reading only the row groups that hold
    them (an MPI rank's share of the process table or of the process ids)."""
    pf = parquet_file(path)
    sizes = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
    if last > starts[-1]:
        raise EconomyError(f"has {int(starts[-1])} rows, fewer than {last}", where=str(path))
    groups = [g for g in range(len(sizes)) if starts[g + 1] > first and starts[g] < last]
    table = read_parquet(path, columns, optional=optional, row_groups=groups)
    offset = int(starts[groups[0]]) if groups else first
    return table.slice(first - offset, last - first)
