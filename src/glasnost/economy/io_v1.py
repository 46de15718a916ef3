"""Schema version 1 of the economy directory (read, and written for migration tests).

Layout::

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
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from glasnost.economy.errors import EconomyError, NotProductiveError
from glasnost.economy.files import (
    FORMAT,
    atomic_directory,
    check_numbers,
    coo_matrix,
    lookup_ids,
    null_rows,
    read_parquet,
)
from glasnost.economy.model import Commodities, Councils, Economy, Kind, Processes, as_ids

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


def save_v1(economy: Economy, directory: str | os.PathLike[str]) -> Path:
    """Write ``economy`` in schema version 1 (string ids in every table); kept so that tests
    and ``glasnost migrate`` can make and read the old layout."""
    with atomic_directory(directory) as tmp:
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
    return Path(directory)


# ---- loading -------------------------------------------------------------------------------


def load_v1(root: Path, manifest: dict, *, check_productive: bool = True) -> Economy:
    """Read a schema version 1 directory (its manifest already read); every error names the
    file and row."""
    files = manifest.get("files", {})

    path = root / files.get("commodities", FILES["commodities"])
    t = read_parquet(
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
    null_rows(t, path, ("id", "kind"))
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
    check_numbers(supply, path, "supply", t.column("id"), allow_inf=True)
    check_numbers(target, path, "target", t.column("id"))
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
    t = read_parquet(
        path,
        {"id": pa.string(), "workplace": pa.string(), "capacity": pa.float64()},
        optional=("workplace", "capacity"),
    )
    null_rows(t, path, ("id",))
    proc_ids = as_ids(t.column("id").to_numpy())
    check_unique(proc_ids, "process", str(path))
    capacity = column(t, "capacity", np.inf)
    check_numbers(capacity, path, "capacity", t.column("id"), allow_inf=True)
    workplaces = (
        as_ids(t.column("workplace").fill_null("").to_numpy(zero_copy_only=False))
        if "workplace" in t.column_names
        else proc_ids.copy()
    )

    path = root / files.get("coefficients", FILES["coefficients"])
    t = read_parquet(
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
    null_rows(t, path, ("process", "commodity", "role", "value"))
    prow = lookup_ids(t.column("process"), proc_ids, "process", path, "process")
    ccol = lookup_ids(t.column("commodity"), ids, "commodity", path, "commodity")
    role = lookup_ids(t.column("role"), np.array(ROLES), "role", path, "role")
    values = t.column("value").to_numpy()
    check_numbers(values, path, "value", t.column("process"))
    shape = (proc_ids.size, ids.size)
    mats = {}
    for code, name in enumerate(ROLES):
        sel = role == code
        mats[name] = (
            coo_matrix(prow[sel], ccol[sel], values[sel], shape, path, proc_ids, ids)
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
        depreciation = coo_matrix(prow[sel], ccol[sel], dep, shape, path, proc_ids, ids)
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
        t = read_parquet(path, {"id": pa.string(), "members": pa.float64(), "income": pa.float64()})
        null_rows(t, path, ("id", "members", "income"))
        council_ids = as_ids(t.column("id").to_numpy())
        check_unique(council_ids, "council", str(path))
        members, income = t.column("members").to_numpy(), t.column("income").to_numpy()
        check_numbers(members, path, "members", t.column("id"))
        check_numbers(income, path, "income", t.column("id"))
        path = root / files.get("preferences", FILES["preferences"])
        t = read_parquet(path, {"council": pa.string(), "commodity": pa.string(), "weight": pa.float64()})
        null_rows(t, path, ("council", "commodity", "weight"))
        rows = lookup_ids(t.column("council"), council_ids, "council", path, "council")
        cols = lookup_ids(t.column("commodity"), ids, "commodity", path, "commodity")
        weights = t.column("weight").to_numpy()
        check_numbers(weights, path, "weight", t.column("council"))
        prefs = coo_matrix(rows, cols, weights, (council_ids.size, ids.size), path, council_ids, ids)
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
