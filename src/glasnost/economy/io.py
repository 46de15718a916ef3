"""Saving and loading an economy: a directory of Parquet files and a JSON manifest.

Layout (schema version 1)::

    manifest.json          format, schema_version, name, counts, file names
    commodities.parquet    id, name, unit, kind, supply, target
    processes.parquet      id, workplace, capacity
    coefficients.parquet   process, commodity, role (output|input|capital), value, depreciation
    councils.parquet       id, members, income                       (optional)
    preferences.parquet    council, commodity, weight                (optional)

Ids are strings; the coefficient tables refer to commodities and processes by id and are
dictionary-encoded, so a large economy costs little more than its numbers. Saving is atomic:
the files are written to a temporary directory which then replaces the target, so a failure
leaves any earlier economy there untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp

from glasnost.economy.errors import EconomyError, NotProductiveError
from glasnost.economy.model import Commodities, Councils, Economy, Kind, Processes, as_ids

FORMAT = "glasnost-economy"
SCHEMA_VERSION = 1
ROLES = ("output", "input", "capital")
FILES = {
    "commodities": "commodities.parquet",
    "processes": "processes.parquet",
    "coefficients": "coefficients.parquet",
    "councils": "councils.parquet",
    "preferences": "preferences.parquet",
}
KIND_NAMES = np.array([k.name.lower() for k in Kind])


def _coo_table(
    matrix: sp.csr_array, row_ids: np.ndarray, col_ids: np.ndarray, row_col: str, col_col: str, value_col: str
) -> pa.Table:
    coo = matrix.tocoo()
    return pa.table(
        {
            row_col: pa.DictionaryArray.from_arrays(pa.array(coo.row.astype(np.int32)), pa.array(row_ids)),
            col_col: pa.DictionaryArray.from_arrays(pa.array(coo.col.astype(np.int32)), pa.array(col_ids)),
            value_col: pa.array(coo.data),
        }
    )


def _coefficients_table(economy: Economy) -> pa.Table:
    p, c = economy.processes, economy.commodities
    parts = []
    for role, matrix in (("output", p.outputs), ("input", p.inputs), ("capital", p.capital)):
        if matrix is None:
            continue
        t = _coo_table(matrix, p.ids, c.ids, "process", "commodity", "value")
        # validation guarantees that depreciation has the capital matrix's exact pattern
        dep = pa.array(p.depreciation.tocoo().data) if role == "capital" and p.depreciation is not None else None
        t = t.append_column(
            "role", pa.DictionaryArray.from_arrays(pa.array(np.zeros(t.num_rows, np.int32)), pa.array([role]))
        )
        t = t.append_column("depreciation", dep if dep is not None else pa.nulls(t.num_rows, pa.float64()))
        parts.append(t.select(["process", "commodity", "role", "value", "depreciation"]))
    return pa.concat_tables(parts, promote_options="permissive").unify_dictionaries().combine_chunks()


def save(economy: Economy, directory: str | os.PathLike[str]) -> Path:
    """Write ``economy`` to ``directory`` (created or atomically replaced). Returns the path."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        c, p = economy.commodities, economy.processes
        pq.write_table(
            pa.table(
                {
                    "id": pa.array(c.ids),
                    "name": pa.array(c.names),
                    "unit": pa.array(c.units),
                    "kind": pa.array(KIND_NAMES[c.kinds]),
                    "supply": pa.array(c.supply),
                    "target": pa.array(c.targets),
                }
            ),
            tmp / FILES["commodities"],
        )
        pq.write_table(
            pa.table({"id": pa.array(p.ids), "workplace": pa.array(p.workplaces), "capacity": pa.array(p.capacity)}),
            tmp / FILES["processes"],
        )
        pq.write_table(_coefficients_table(economy), tmp / FILES["coefficients"])
        files = ["commodities", "processes", "coefficients"]
        if economy.councils is not None:
            k = economy.councils
            pq.write_table(
                pa.table({"id": pa.array(k.ids), "members": pa.array(k.members), "income": pa.array(k.income)}),
                tmp / FILES["councils"],
            )
            pq.write_table(
                _coo_table(k.preferences, k.ids, c.ids, "council", "commodity", "weight"), tmp / FILES["preferences"]
            )
            files += ["councils", "preferences"]
        manifest = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "name": economy.name,
            "counts": economy.describe(),
            "files": {f: FILES[f] for f in files},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


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


# ---- loading -------------------------------------------------------------------------------


def _read(path: Path, columns: dict[str, pa.DataType], *, optional: tuple[str, ...] = ()) -> pa.Table:
    if not path.exists():
        raise EconomyError("file is missing", where=str(path))
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise EconomyError(f"not a readable Parquet file ({exc})", where=str(path)) from None
    missing = [c for c in columns if c not in table.column_names and c not in optional]
    if missing:
        raise EconomyError(f"missing column(s) {', '.join(missing)}", where=str(path))
    out = {}
    for name, dtype in columns.items():
        if name not in table.column_names:
            continue
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        try:
            out[name] = col.cast(dtype)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise EconomyError(f"column {name} cannot be read as {dtype} ({exc})", where=str(path)) from None
    return pa.table(out)


def _null_rows(table: pa.Table, path: Path, columns: tuple[str, ...]) -> None:
    for name in columns:
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise EconomyError(f"row {row}: empty {name}", where=str(path))


def _lookup(values: pa.ChunkedArray, table_ids: np.ndarray, what: str, path: Path, column: str) -> np.ndarray:
    found = pc.index_in(values, value_set=pa.array(table_ids))
    if found.null_count:
        mask = found.is_null().to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(mask)
        vals = values.take(pa.array(rows[:5])).to_pylist()
        shown = ", ".join(f"{v!r} (row {r})" for v, r in zip(vals, rows[:5], strict=True))
        more = f" and {rows.size - 5} more" if rows.size > 5 else ""
        raise EconomyError(f"unknown {what} id in column {column}: {shown}{more}", where=str(path))
    return found.to_numpy(zero_copy_only=False).astype(np.int64)


def _check_numbers(
    values: np.ndarray, path: Path, column: str, ids: pa.ChunkedArray | None = None, *, allow_inf: bool = False
) -> None:
    bad = np.isnan(values) | (values < 0) | (np.isinf(values) & ~allow_inf)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        v = values[row]
        problem = "NaN" if np.isnan(v) else ("infinite" if np.isinf(v) else "negative")
        who = f" ({ids[row].as_py()})" if ids is not None else ""
        raise EconomyError(f"row {row}{who}: {problem} {column} {float(v)!r}", where=str(path))


def _matrix(
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


def load(directory: str | os.PathLike[str], *, check_productive: bool = True) -> Economy:
    """Read an economy written by :func:`save`; every error names the file and row."""
    root = Path(directory)
    manifest_path = root / "manifest.json"
    if not manifest_path.exists():
        raise EconomyError("not an economy directory (no manifest.json)", where=str(root))
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise EconomyError(f"manifest is not valid JSON ({exc})", where=str(manifest_path)) from None
    if manifest.get("format") != FORMAT:
        raise EconomyError(f"format is {manifest.get('format')!r}, expected {FORMAT!r}", where=str(manifest_path))
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise EconomyError(
            f"schema version {version!r} is not supported (this glasnost reads {SCHEMA_VERSION})",
            where=str(manifest_path),
        )
    files = manifest.get("files", {})

    path = root / files.get("commodities", FILES["commodities"])
    t = _read(
        path,
        {
            "id": pa.string(),
            "name": pa.string(),
            "unit": pa.string(),
            "kind": pa.string(),
            "supply": pa.float64(),
            "target": pa.float64(),
        },
        optional=("name", "unit", "supply", "target"),
    )
    _null_rows(t, path, ("id", "kind"))
    ids = as_ids(t.column("id").to_numpy())
    kinds_raw = t.column("kind").to_numpy(zero_copy_only=False)
    names_idx = {name: i for i, name in enumerate(KIND_NAMES)}
    kind_codes = np.empty(len(kinds_raw), np.uint8)
    for value in np.unique(kinds_raw):
        rows = np.flatnonzero(kinds_raw == value)
        code = names_idx.get(str(value).strip().lower())
        if code is None:
            code = int(Kind.parse(str(value), where=f"{path}: row {rows[0]} ({ids[rows[0]]})"))
        kind_codes[rows] = code

    def column(table: pa.Table, name: str, default: float) -> np.ndarray:
        if name not in table.column_names:
            return np.full(table.num_rows, default)
        return table.column(name).fill_null(default).to_numpy()

    supply, target = column(t, "supply", 0.0), column(t, "target", 0.0)
    _check_numbers(supply, path, "supply", t.column("id"), allow_inf=True)
    _check_numbers(target, path, "target", t.column("id"))
    commodities = Commodities.build(
        ids,
        kinds=kind_codes,
        names=t.column("name").fill_null("").to_numpy(zero_copy_only=False) if "name" in t.column_names else None,
        units=t.column("unit").fill_null("unit").to_numpy(zero_copy_only=False) if "unit" in t.column_names else None,
        supply=supply,
        targets=target,
    )
    from glasnost.economy.validate import check_unique

    check_unique(commodities.ids, "commodity", str(path))

    path = root / files.get("processes", FILES["processes"])
    t = _read(
        path,
        {"id": pa.string(), "workplace": pa.string(), "capacity": pa.float64()},
        optional=("workplace", "capacity"),
    )
    _null_rows(t, path, ("id",))
    proc_ids = as_ids(t.column("id").to_numpy())
    check_unique(proc_ids, "process", str(path))
    capacity = column(t, "capacity", np.inf)
    _check_numbers(capacity, path, "capacity", t.column("id"), allow_inf=True)
    workplaces = (
        as_ids(t.column("workplace").fill_null("").to_numpy(zero_copy_only=False))
        if "workplace" in t.column_names
        else proc_ids.copy()
    )

    path = root / files.get("coefficients", FILES["coefficients"])
    t = _read(
        path,
        {
            "process": pa.string(),
            "commodity": pa.string(),
            "role": pa.string(),
            "value": pa.float64(),
            "depreciation": pa.float64(),
        },
        optional=("depreciation",),
    )
    _null_rows(t, path, ("process", "commodity", "role", "value"))
    prow = _lookup(t.column("process"), proc_ids, "process", path, "process")
    ccol = _lookup(t.column("commodity"), ids, "commodity", path, "commodity")
    role = _lookup(t.column("role"), np.array(ROLES), "role", path, "role")
    values = t.column("value").to_numpy()
    _check_numbers(values, path, "value", t.column("process"))
    shape = (proc_ids.size, ids.size)
    mats = {}
    for code, name in enumerate(ROLES):
        sel = role == code
        mats[name] = (
            _matrix(prow[sel], ccol[sel], values[sel], shape, path, proc_ids, ids)
            if sel.any() or name != "capital"
            else None
        )
    depreciation = None
    if mats["capital"] is not None:
        sel = role == ROLES.index("capital")
        dep_col = (
            t.column("depreciation").fill_null(0.0).to_numpy()
            if "depreciation" in t.column_names
            else np.zeros(int(sel.sum()))
        )
        dep = dep_col[sel] if dep_col.size == values.size else dep_col
        bad = np.isnan(dep) | (dep < 0) | (dep > 1)
        if bad.any():
            row = int(np.flatnonzero(sel)[np.flatnonzero(bad)[0]])
            raise EconomyError(
                f"row {row}: depreciation {dep[bad][0]!r} is not a share between 0 and 1", where=str(path)
            )
        depreciation = _matrix(prow[sel], ccol[sel], dep, shape, path, proc_ids, ids)
    processes = Processes(
        ids=proc_ids,
        workplaces=workplaces,
        capacity=capacity,
        outputs=mats["output"],
        inputs=mats["input"],
        capital=mats["capital"],
        depreciation=depreciation,
    )

    councils = None
    if "councils" in files:
        path = root / files["councils"]
        t = _read(path, {"id": pa.string(), "members": pa.float64(), "income": pa.float64()})
        _null_rows(t, path, ("id", "members", "income"))
        council_ids = as_ids(t.column("id").to_numpy())
        check_unique(council_ids, "council", str(path))
        members, income = t.column("members").to_numpy(), t.column("income").to_numpy()
        _check_numbers(members, path, "members", t.column("id"))
        _check_numbers(income, path, "income", t.column("id"))
        path = root / files.get("preferences", FILES["preferences"])
        t = _read(path, {"council": pa.string(), "commodity": pa.string(), "weight": pa.float64()})
        _null_rows(t, path, ("council", "commodity", "weight"))
        rows = _lookup(t.column("council"), council_ids, "council", path, "council")
        cols = _lookup(t.column("commodity"), ids, "commodity", path, "commodity")
        weights = t.column("weight").to_numpy()
        _check_numbers(weights, path, "weight", t.column("council"))
        prefs = _matrix(rows, cols, weights, (council_ids.size, ids.size), path, council_ids, ids)
        councils = Councils(ids=council_ids, members=members, income=income, preferences=prefs)

    try:
        return Economy.build(
            commodities,
            processes,
            councils,
            name=str(manifest.get("name", root.name)),
            check_productive=check_productive,
        )
    except NotProductiveError as exc:
        raise NotProductiveError(exc.culprits, exc.spectral_radius, where=str(root)) from exc
    except EconomyError as exc:
        raise EconomyError(str(exc), where=str(root)) from exc
