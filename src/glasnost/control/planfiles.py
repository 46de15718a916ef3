"""The plan that reports are checked against, from CSV files: targets and technical coefficients.

* targets: ``period, workplace, product, quantity`` and optionally ``quality`` (planned use value
  per unit, default 1) and ``price`` (plan price per unit, default 1);
* coefficients: ``workplace, product, input, per_unit`` (units of input per unit of product).

As with report lines, every bad value is reported with its line and column, all at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from glasnost.control.errors import LineProblem, ReportError
from glasnost.control.reports import _NUMBER, _WHOLE, _nonempty_line_numbers, header_names

__all__ = ["plan_for_control", "read_coefficients_csv", "read_targets_csv"]


def _read_text_csv(path: Path) -> tuple[pa.Table, np.ndarray, list[LineProblem]]:
    data = path.read_bytes()
    lines = _nonempty_line_numbers(data)
    if lines.size == 0:
        raise ReportError([LineProblem(1, "*", "", "the file is empty (no header)")], where=str(path))
    header = header_names(data.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r"))
    problems: list[LineProblem] = []
    skipped: list[int] = []

    def bad_row(row: pcsv.InvalidRow) -> str:
        skipped.append(row.number)
        problems.append(LineProblem(int(lines[row.number - 1]), "*", row.text,
                                    f"has {row.actual_columns} columns; the header has {row.expected_columns}"))
        return "skip"

    try:
        table = pcsv.read_csv(
            pa.py_buffer(data),
            read_options=pcsv.ReadOptions(use_threads=False),
            parse_options=pcsv.ParseOptions(invalid_row_handler=bad_row),
            convert_options=pcsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise ReportError([LineProblem(1, "*", "", f"not a readable CSV file ({exc})")], where=str(path)) from None
    record = np.setdiff1d(np.arange(2, lines.size + 1), np.asarray(skipped, dtype=np.int64))
    if record.size != table.num_rows:
        problems.append(LineProblem(1, "*", "", "a quoted value spans lines; line numbers cannot be given"))
        raise ReportError(problems, where=str(path))
    table = table.rename_columns([c.strip() for c in table.column_names])
    return table, lines[record - 1], problems


def _checked(
    path: str | Path, text: tuple[str, ...], numbers: dict[str, float | None], *, whole: tuple[str, ...] = (),
    positive: tuple[str, ...] = (), key: tuple[str, ...] = (),
) -> pa.Table:
    path = Path(path)
    table, lines, problems = _read_text_csv(path)
    names = set(table.column_names)
    allowed = set(text) | set(numbers) | set(whole)
    for c in sorted(names - allowed):
        known = ", ".join([*whole, *text, *numbers])
        problems.append(LineProblem(1, c, c, f"unknown column (the columns are {known})"))
    required = [*whole, *text, *(c for c, d in numbers.items() if d is None)]
    for c in required:
        if c not in names:
            problems.append(LineProblem(1, c, "", "required column is missing from the header"))
    if problems and any(p.line == 1 for p in problems):
        raise ReportError(problems, where=str(path))
    out: dict[str, pa.Array] = {}

    def flag(mask: np.ndarray, col: str, message: str) -> None:
        raw = table[col].to_pylist()
        problems.extend(LineProblem(int(lines[i]), col, raw[i], message) for i in np.flatnonzero(mask))

    for c in whole:
        ok = pc.match_substring_regex(table[c], _WHOLE).to_numpy(zero_copy_only=False)
        flag(~ok, c, "is not a whole number >= 0")
        out[c] = pc.cast(pc.if_else(pa.array(ok), pc.utf8_trim_whitespace(table[c]), "0"), pa.int64())
    for c in text:
        s = pc.utf8_trim_whitespace(table[c])
        flag(pc.equal(s, "").to_numpy(zero_copy_only=False), c, "is empty")
        out[c] = s
    for c, default in numbers.items():
        if c not in names:
            out[c] = pa.array(np.full(table.num_rows, default, dtype=float))
            continue
        ok = pc.match_substring_regex(table[c], _NUMBER).to_numpy(zero_copy_only=False)
        blank = pc.equal(pc.utf8_trim_whitespace(table[c]), "").to_numpy(zero_copy_only=False)
        if default is not None:
            ok_or_blank = ok | blank
            flag(~ok_or_blank, c, "is not a number")
            values = pc.cast(pc.if_else(pa.array(ok), table[c], None), pa.float64()).to_numpy(zero_copy_only=False)
            values = np.where(blank, default, values)
        else:
            flag(~ok, c, "is not a number")
            values = pc.cast(pc.if_else(pa.array(ok), table[c], None), pa.float64()).to_numpy(zero_copy_only=False)
        bad = np.nan_to_num(values, nan=1.0) <= 0 if c in positive else np.nan_to_num(values, nan=0.0) < 0
        flag(bad, c, "must be > 0" if c in positive else "is negative")
        out[c] = pa.array(values)
    result = pa.table(out)
    if key and result.num_rows > 1:
        codes = np.stack([_codes(result[k]) for k in key], 1)
        _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
        dup = np.flatnonzero(first[inverse.ravel()] != np.arange(result.num_rows))
        problems.extend(
            LineProblem(int(lines[i]), "*", "", f"given twice (first on line {int(lines[first[inverse.ravel()[i]]])})")
            for i in dup
        )
    if problems:
        raise ReportError(problems, where=str(path))
    return result


def _codes(col: pa.ChunkedArray) -> np.ndarray:
    arr = pc.cast(col, pa.string()).combine_chunks()
    return pc.dictionary_encode(arr).indices.to_numpy(zero_copy_only=False).astype(np.int64)


def read_targets_csv(path: str | Path) -> pa.Table:
    """Targets: period, workplace, product, quantity (> 0), quality (default 1), price (default 1)."""
    return _checked(path, ("workplace", "product"), {"quantity": None, "quality": 1.0, "price": 1.0},
                    whole=("period",), positive=("quantity",), key=("period", "workplace", "product"))


def read_coefficients_csv(path: str | Path) -> pa.Table:
    """Technical coefficients: workplace, product, input, per_unit (>= 0)."""
    return _checked(path, ("workplace", "product", "input"), {"per_unit": None}, key=("workplace", "product", "input"))


def plan_for_control(economy: Any, activity: np.ndarray | None = None, *, period: int = 0,
                     prices: np.ndarray | None = None) -> tuple[pa.Table, pa.Table]:
    """Targets and technical coefficients per workplace from an economy and a plan's activity levels.

    Parameters
    ----------
    economy
        A :class:`glasnost.economy.Economy` (processes carry the workplace that runs them).
    activity
        Activity level of each process (e.g. ``optimal_plan(economy).activity``); default 1 each.
    period
        The period the targets are for.
    prices
        Plan price per commodity (e.g. the plan's shadow prices); default 1.

    Returns
    -------
    (targets, coefficients)
        Targets: period, workplace, product, quantity (activity x output coefficient, summed over the
        workplace's processes), quality 1, price. Coefficients: workplace, product, input, per_unit
        (input per unit of output, activity-weighted over the workplace's processes that make the
        product alone; processes with joint outputs give no coefficient). Produced inputs and labour alike.
    """
    import scipy.sparse as sp

    proc = economy.processes
    n_p = len(proc)
    act = np.ones(n_p) if activity is None else np.asarray(activity, float)
    ids = np.array([str(x) for x in economy.commodities.ids], dtype=object)
    wp_names, wp_index = np.unique(np.array([str(x) for x in proc.workplaces], dtype=object), return_inverse=True)
    W = sp.csr_array((np.ones(n_p), (wp_index, np.arange(n_p))), shape=(wp_names.size, n_p))
    made = (W @ sp.diags_array(act) @ sp.csr_array(proc.outputs)).tocoo()  # workplace x commodity
    keep = made.data > 0
    r, c, q = made.row[keep], made.col[keep], made.data[keep]
    price = np.ones(ids.size) if prices is None else np.asarray(prices, float)
    targets = pa.table({
        "period": pa.array(np.full(r.size, period, np.int64)),
        "workplace": pa.array(wp_names[r]), "product": pa.array(ids[c]), "quantity": pa.array(q),
        "quality": pa.array(np.ones(r.size)), "price": pa.array(price[c]),
    })
    outputs = sp.csr_array(proc.outputs)
    single = np.diff(outputs.indptr) == 1
    single_idx = np.flatnonzero(single)
    product = outputs.indices[outputs.indptr[single_idx]]
    per = outputs.data[outputs.indptr[single_idx]]
    # rows: (workplace, product) pairs of single-output processes; weighted input and output per pair
    pair, pair_index = np.unique(np.stack([wp_index[single_idx], product], 1), axis=0, return_inverse=True)
    pair_index = pair_index.ravel()
    P = sp.csr_array((act[single_idx], (pair_index, single_idx)), shape=(pair.shape[0], n_p))
    used = (P @ sp.csr_array(proc.inputs)).tocoo()
    out_units = np.bincount(pair_index, weights=act[single_idx] * per, minlength=pair.shape[0])
    ok = out_units[used.row] > 0
    coefficients = pa.table({
        "workplace": pa.array(wp_names[pair[used.row[ok], 0]]),
        "product": pa.array(ids[pair[used.row[ok], 1]]),
        "input": pa.array(ids[used.col[ok]]),
        "per_unit": pa.array(used.data[ok] / out_units[used.row[ok]]),
    })
    return targets, coefficients
