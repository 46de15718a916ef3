"""Loader for the table format of Paul Cockshott's ``5yearplan`` planning programs.

A directory holds four CSV files, each with a ``headings`` column naming the rows and one
column per product:

- ``flows.csv``: input-output flows (rows: inputs, then ``labour`` and ``output``, the
  base-year gross output);
- ``cap.csv``: capital stock of each product used by each industry at base-year output;
- ``dep.csv``: the share of each such stock that wears out per year;
- ``labtarg.csv``: per plan year, the target final consumption of each product and the
  ``labour`` available.

Each industry becomes one process (output 1 per unit of activity) with the flows, labour and
capital divided by its base-year output; the year-1 stocks are the capital table itself.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from glasnost.economy import Commodities, Economy, EconomyError, Kind, Processes
from glasnost.economy.model import entries_at


@dataclass(frozen=True)
class FiveYearTables:
    """An economy and its plan goals read from the 5yearplan tables."""

    economy: Economy
    targets: np.ndarray  # (years x commodities)
    supply: np.ndarray  # (years x commodities)
    initial_activity: np.ndarray  # (processes,) base-year output
    years: list[str]


def _read_table(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    if not path.exists():
        raise EconomyError("file is missing", where=str(path))
    with path.open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if any(cell.strip() for cell in r)]
    if not rows:
        raise EconomyError("file is empty", where=str(path))
    header = [h.strip() for h in rows[0]]
    names, values = [], []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise EconomyError(f"line {number} has {len(row)} cells, the header {len(header)}", where=str(path))
        names.append(row[0].strip())
        try:
            values.append([float(v) for v in row[1:]])
        except ValueError:
            raise EconomyError(f"line {number} ({row[0].strip()}): a cell is not a number", where=str(path)) from None
    return header[1:], names, np.array(values, dtype=np.float64)


def load_fiveyear(directory: str | Path) -> FiveYearTables:
    """Read ``flows.csv``, ``cap.csv``, ``dep.csv`` and ``labtarg.csv`` from ``directory``."""
    root = Path(directory)
    products, flow_rows, flows = _read_table(root / "flows.csv")
    for required in ("labour", "output"):
        if required not in flow_rows:
            raise EconomyError(f"no {required!r} row", where=str(root / "flows.csv"))
    n = len(products)
    output = flows[flow_rows.index("output")]
    if (output <= 0).any():
        bad = products[int(np.argmax(output <= 0))]
        raise EconomyError(f"base-year output of {bad} must be positive", where=str(root / "flows.csv"))
    labour = flows[flow_rows.index("labour")]
    F = _square(products, flow_rows, flows, root / "flows.csv")
    _, cap_rows, cap = _read_table(root / "cap.csv")
    K = _square(products, cap_rows, cap, root / "cap.csv")
    _, dep_rows, dep = _read_table(root / "dep.csv")
    D = _square(products, dep_rows, dep, root / "dep.csv")
    years_header, years, labtarg = _read_table(root / "labtarg.csv")
    col = {name: i for i, name in enumerate(years_header)}
    missing = [p for p in [*products, "labour"] if p not in col]
    if missing:
        raise EconomyError(f"no column for {', '.join(missing)}", where=str(root / "labtarg.csv"))

    ids = [*products, "labour"]
    kinds = [Kind.GOOD] * n + [Kind.LABOUR]
    commodities = Commodities.build(ids, kinds=np.array(kinds, np.uint8), units=["unit"] * n + ["labour unit"])
    scale = sp.diags_array(1.0 / output)
    inputs = sp.hstack([sp.csr_array(F.T), sp.csr_array(labour.reshape(-1, 1))])  # (industries x commodities)
    inputs = sp.csr_array(scale @ inputs)
    capital = sp.csr_array(scale @ sp.hstack([sp.csr_array(K.T), sp.csr_array((n, 1))]))
    capital.eliminate_zeros()
    capital.sort_indices()
    dep_full = sp.csr_array(np.hstack([D.T, np.zeros((n, 1))]))
    depreciation = sp.csr_array(
        (entries_at(dep_full, *capital.nonzero()), capital.indices.copy(), capital.indptr.copy()), shape=capital.shape
    )
    processes = Processes(
        ids=np.array([f"make-{p}" for p in products]),
        workplaces=np.array(products),
        capacity=np.full(n, np.inf),
        outputs=sp.eye_array(n, n + 1, format="csr"),
        inputs=inputs,
        capital=capital,
        depreciation=depreciation,
    )
    economy = Economy.build(commodities, processes, name=root.name)
    targets = np.zeros((len(years), n + 1))
    supply = np.zeros((len(years), n + 1))
    targets[:, :n] = labtarg[:, [col[p] for p in products]]
    supply[:, n] = labtarg[:, col["labour"]]
    return FiveYearTables(economy, targets, supply, output, years)


def _square(products: list[str], row_names: list[str], values: np.ndarray, path: Path) -> np.ndarray:
    """The product-by-product block of a table, rows in product order."""
    out = np.zeros((len(products), len(products)))
    for i, p in enumerate(products):
        if p not in row_names:
            raise EconomyError(f"no row for product {p!r}", where=str(path))
        row = values[row_names.index(p)]
        if row.size != len(products):
            raise EconomyError(f"row {p!r} has {row.size} values for {len(products)} products", where=str(path))
        out[i] = row
    bad = ~np.isfinite(out) | (out < 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise EconomyError(
            f"row {products[i]!r}, column {products[j]!r}: {out[i, j]!r} is not a non-negative number", where=str(path)
        )
    return out
