"""Implementation reports as arrays: what each workplace says it made, used, held, shipped and got.

A report line is one figure. The columns (a CSV file has a header naming them, in any order):

=============  ==========================================================================================
``kind``       ``output`` (made), ``input`` (used up in production), ``opening`` / ``closing`` (stock at
               the start / end of the period), ``loss`` (spoilt, lost), ``capacity`` (the most it could
               have made in the period with what it had: Beer's capability), ``potential`` (what it
               could make with the means it could have, e.g. its planned capacity once its investment is
               installed: Beer's potentiality), ``delivery`` (shipped to the
               receiver named in ``counterparty``), ``receipt`` (a receiver confirms what it got from
               the supplier named in ``counterparty``), ``rating`` (a consumer rates the quality of what it
               got from ``counterparty``)
``period``     whole number (0, 1, 2, ...)
``workplace``  the reporting workplace's id (for ``receipt`` and ``rating``: the receiver)
``product``    commodity id
``variant``    optional: the product's variant (model, size)
``grade``      optional: quality grade as declared by the maker
``quantity``   number >= 0, in the product's unit; optional for ``rating`` (the quantity rated)
``counterparty`` required for ``delivery`` (the receiver), ``receipt`` and ``rating`` (the supplier);
               empty otherwise
``rating``     required for ``rating`` lines only: the use value one unit delivered, as a share of what
               was planned (0 = useless, 1 = as planned; at most 1.5)
=============  ==========================================================================================

Every bad value is reported with its line number and column, all of them at once
(:class:`glasnost.control.errors.ReportError`); nothing is kept from a file with any bad line.
Validation is vectorised over the lines (pyarrow compute), so 100,000 lines take well under a second.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from glasnost.control.errors import LineProblem, ReportError

__all__ = [
    "COLUMNS",
    "FLOWS",
    "KINDS",
    "MAX_RATING",
    "REQUIRED",
    "SCHEMA",
    "Reports",
    "read_reports_csv",
    "reports_from_simulation",
    "reports_from_table",
    "validate_table",
]

KINDS = ("output", "input", "opening", "closing", "loss", "capacity", "potential", "delivery", "receipt", "rating")
FLOWS = ("delivery", "receipt", "rating")  # kinds that name a counterparty
COLUMNS = ("kind", "period", "workplace", "product", "variant", "grade", "quantity", "counterparty", "rating")
REQUIRED = ("kind", "period", "workplace", "product", "quantity")
KEY = ("kind", "period", "workplace", "product", "variant", "grade", "counterparty")
MAX_RATING = 1.5
MAX_PERIOD = 10**9
MAX_LENGTH = {"workplace": 200, "product": 200, "variant": 200, "grade": 64, "counterparty": 200}
"""The longest text each column takes (the database's column widths), in characters."""
SCHEMA = pa.schema(
    [
        ("line", pa.int64()),
        ("kind", pa.string()),
        ("period", pa.int64()),
        ("workplace", pa.string()),
        ("product", pa.string()),
        ("variant", pa.string()),
        ("grade", pa.string()),
        ("quantity", pa.float64()),
        ("counterparty", pa.string()),
        ("rating", pa.float64()),
    ]
)
_NUMBER = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"
_WHOLE = r"^\s*\+?\d+\s*$"


@dataclass(frozen=True)
class Reports:
    """Report lines, one row each, as a pyarrow table with :data:`SCHEMA` (checked).

    ``line`` is where the row came from (a file's line number, or the row's position + 1).
    Empty optional text is ``""``; a missing rating or rated quantity is null.
    """

    table: pa.Table

    def __len__(self) -> int:
        return self.table.num_rows

    def of_kind(self, *kinds: str) -> pa.Table:
        """The rows of the given kinds."""
        return self.table.filter(pc.is_in(self.table["kind"], pa.array(kinds)))

    @property
    def periods(self) -> np.ndarray:
        """The distinct periods, sorted."""
        return np.unique(self.table["period"].to_numpy())

    @property
    def workplaces(self) -> np.ndarray:
        """The distinct reporting workplaces, sorted."""
        return np.unique(self.table["workplace"].to_numpy(zero_copy_only=False).astype(str))


# ---- reading a CSV file -----------------------------------------------------------------------


def header_names(first_line: str) -> list[str]:
    """Column names of a CSV header line (quoted or not), as the CSV reader will see them."""
    return next(csv.reader([first_line]), [])



def _nonempty_line_numbers(data: bytes) -> np.ndarray:
    """1-based numbers of the lines that are not empty (what a CSV reader counts as records)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if buf.size and buf[-1] != 10:
        ends = np.append(ends, buf.size)
    starts = np.concatenate(([0], ends[:-1] + 1))
    length = ends - starts
    cr = np.zeros(ends.size, bool)
    has = length > 0
    cr[has] = buf[ends[has] - 1] == 13
    return np.flatnonzero(length - cr > 0) + 1


def _place(data: bytes, pos: int, header: list[str] | None) -> tuple[int, str, int]:
    """Line number, column name (by the commas before it; ``*`` if unknown) and column of byte ``pos``."""
    line = data.count(b"\n", 0, pos) + 1
    start = data.rfind(b"\n", 0, pos) + 1
    field = data.count(b",", start, pos)
    name = header[field] if header is not None and line > 1 and field < len(header) else "*"
    return line, name, pos - start + 1


def _scan_bytes(data: bytes, where: str) -> None:
    """Refuse what the CSV reader would misread, naming line and column: bytes that are not UTF-8,
    and carriage returns that end no line (a file with old Mac line endings)."""
    first = data.split(b"\n", 1)[0]
    try:
        header = header_names(first.decode("utf-8"))
    except (UnicodeDecodeError, csv.Error):
        header = None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, name, col = _place(data, exc.start, header)
        raise ReportError([LineProblem(line, name, "", f"byte {col} of the line is not UTF-8 text "
                                                       f"(0x{data[exc.start]:02x}); save the file as UTF-8")],
                          where=where) from None
    buf = np.frombuffer(data, dtype=np.uint8)
    lone = np.flatnonzero((buf == 13) & np.append(buf[1:] != 10, True))
    if lone.size:
        line, name, col = _place(data, int(lone[0]), header)
        raise ReportError([LineProblem(line, name, "", f"a carriage return without a line feed at character {col} "
                                                       f"({lone.size} in the file): the file has old Mac (CR) line "
                                                       "endings; save it with LF or CRLF line endings")], where=where)


def _spanning_records(text: str, header: list[str]) -> list[LineProblem]:
    """Records whose quoted values run over a line break, each named by its first line and column."""
    problems: list[LineProblem] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for row in reader:
        for j, value in enumerate(row):
            if "\n" in value or "\r" in value:
                name = header[j] if j < len(header) else "*"
                problems.append(LineProblem(start, name, value.replace("\n", " ").replace("\r", " "),
                                            "holds a line break inside quotes; ids, names and numbers are one line"))
        start = reader.line_num + 1
    return problems


def read_reports_csv(path: str | Path) -> Reports:
    """Read and check a CSV file of report lines (see the module for its columns).

    Parameters
    ----------
    path
        The file: UTF-8, comma-separated, a header line naming the columns.

    Raises
    ------
    ReportError
        Listing every bad line by line number and column; nothing is returned then.
    FileNotFoundError
        If there is no such file.
    """
    path = Path(path)
    data = path.read_bytes()
    where = str(path)
    _scan_bytes(data, where)
    text_head = data[: data.find(b"\n") if b"\n" in data else len(data)].decode("utf-8")
    lines = _nonempty_line_numbers(data)
    if lines.size == 0:
        raise ReportError([LineProblem(1, "*", "", "the file is empty (no header)")], where=where)
    try:
        header = header_names(text_head) if lines[0] == 1 else None
    except csv.Error as exc:
        problem = LineProblem(1, "*", text_head, f"the header is not a CSV line ({exc})")
        raise ReportError([problem], where=where) from None
    names = [n.strip() for n in header or []]
    twice = [n for n in dict.fromkeys(names) if names.count(n) > 1]
    if twice:
        raise ReportError([LineProblem(int(lines[0]), n, n, "is named twice in the header (columns "
                                       + " and ".join(str(i + 1) for i, m in enumerate(names) if m == n) + ")")
                           for n in twice], where=where)
    problems: list[LineProblem] = []
    skipped: list[int] = []

    def bad_row(row: pcsv.InvalidRow) -> str:
        skipped.append(row.number)
        line = int(lines[row.number - 1]) if row.number is not None and row.number <= lines.size else -1
        problems.append(
            LineProblem(line, "*", row.text, f"has {row.actual_columns} columns; the header has {row.expected_columns}")
        )
        return "skip"

    try:
        table = pcsv.read_csv(
            pa.py_buffer(data),
            read_options=pcsv.ReadOptions(use_threads=False, block_size=1 << 26),
            parse_options=pcsv.ParseOptions(invalid_row_handler=bad_row),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in header or []},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise ReportError([LineProblem(1, "*", "", f"not a readable CSV file ({exc})")], where=where) from None
    record = np.arange(2, lines.size + 1)
    if skipped:
        record = np.setdiff1d(record, np.asarray(skipped, dtype=np.int64))
    if record.size != table.num_rows:  # a quoted value ran over a line break: name it
        spanning = _spanning_records(data.decode("utf-8"), names)
        raise ReportError(spanning or [LineProblem(1, "*", "", "the lines and the records do not match")],
                          where=where)
    line_numbers = lines[record - 1]
    table = table.rename_columns([c.strip() for c in table.column_names])
    table = table.append_column("line", pa.array(line_numbers, pa.int64()))
    return validate_table(table, where=where, problems=problems, header_line=int(lines[0]))


# ---- checking a table of strings --------------------------------------------------------------


def _strip(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(col)


def _flag(
    problems: list[LineProblem],
    mask: pa.Array | np.ndarray,
    lines: np.ndarray,
    raw: pa.Array,
    column: str,
    message: str,
) -> None:
    """Add one problem per row where ``mask`` is true."""
    m = np.asarray(mask.to_numpy(zero_copy_only=False) if hasattr(mask, "to_numpy") else mask, dtype=bool)
    idx = np.flatnonzero(m)
    if idx.size == 0:
        return
    values = raw.take(pa.array(idx)).to_pylist() if hasattr(raw, "take") else [raw[i] for i in idx]
    problems.extend(LineProblem(int(lines[i]), column, str(v), message) for i, v in zip(idx, values, strict=True))


def _as_strings(table: pa.Table, name: str, n: int) -> pa.Array:
    if name not in table.column_names:
        return pa.array([""] * n, pa.string())
    col = table[name].combine_chunks() if isinstance(table[name], pa.ChunkedArray) else table[name]
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        col = pc.cast(col, pa.string())
    return pc.fill_null(col, "")


def validate_table(
    table: pa.Table, *, where: str = "reports", problems: list[LineProblem] | None = None, header_line: int = 1
) -> Reports:
    """Check a table of report lines given as text (a CSV file as read) and convert it.

    Parameters
    ----------
    table
        Columns named as in :data:`COLUMNS` (text; optional ones may be absent), and optionally
        ``line`` (line numbers; otherwise the row's position + 1).
    where
        The source, for messages.
    problems
        Problems found earlier (malformed lines), reported together with these.
    header_line
        The header's line number, for problems with the header.

    Raises
    ------
    ReportError
        Listing every bad value by line and column.
    """
    problems = [] if problems is None else problems
    n = table.num_rows
    names = [c for c in table.column_names if c != "line"]
    unknown = [c for c in names if c not in COLUMNS]
    missing = [c for c in REQUIRED if c not in names]
    for c in unknown:
        problems.append(LineProblem(header_line, c, c, f"unknown column (the columns are {', '.join(COLUMNS)})"))
    for c in missing:
        problems.append(LineProblem(header_line, c, "", "required column is missing from the header"))
    if missing or unknown:
        raise ReportError(problems, where=where)
    lines = table["line"].to_numpy() if "line" in table.column_names else np.arange(1, n + 1)
    raw = {c: _as_strings(table, c, n) for c in COLUMNS}
    s = {c: _strip(raw[c]) for c in COLUMNS}

    kind_ok = pc.is_in(s["kind"], pa.array(KINDS))
    _flag(problems, pc.invert(kind_ok), lines, raw["kind"], "kind", f"unknown kind (one of {', '.join(KINDS)})")
    for c in ("workplace", "product"):
        _flag(problems, pc.equal(s[c], ""), lines, raw[c], c, "is empty")
    period_ok = pc.match_substring_regex(raw["period"], _WHOLE)
    digits = pc.utf8_ltrim(pc.utf8_ltrim(s["period"], "+"), "0")
    too_big = pc.and_(period_ok, pc.greater(pc.utf8_length(digits), len(str(MAX_PERIOD))))
    period = pc.if_else(pc.and_(period_ok, pc.invert(too_big)), s["period"], "0")
    period = pc.cast(pc.utf8_ltrim(period, "+"), pa.int64())
    _flag(problems, pc.invert(period_ok), lines, raw["period"], "period", "is not a whole number >= 0")
    _flag(problems, pc.or_(too_big, pc.greater(period, MAX_PERIOD)), lines, raw["period"], "period",
          f"is above {MAX_PERIOD}")
    for c in COLUMNS:  # what a database would refuse, or store on one and refuse on another: refused here
        _flag(problems, pc.match_substring(raw[c], "\x00"), lines, raw[c], c, "holds a NUL character")
    for c, most in MAX_LENGTH.items():
        _flag(problems, pc.greater(pc.utf8_length(s[c]), most), lines, raw[c], c,
              f"is longer than {most} characters")

    is_rating = pc.equal(s["kind"], "rating")
    qty_blank = pc.equal(s["quantity"], "")
    qty_num = pc.match_substring_regex(raw["quantity"], _NUMBER)
    quantity = pc.cast(pc.if_else(qty_num, s["quantity"], None), pa.float64())
    _flag(problems, pc.and_(qty_blank, pc.invert(is_rating)), lines, raw["quantity"], "quantity", "is missing")
    _flag(problems, pc.and_(pc.invert(qty_blank), pc.invert(qty_num)), lines, raw["quantity"], "quantity",
          "is not a number")
    q = quantity.to_numpy(zero_copy_only=False)
    _flag(problems, np.nan_to_num(q, nan=0.0) < 0, lines, raw["quantity"], "quantity", "is negative")
    _flag(problems, np.isinf(q), lines, raw["quantity"], "quantity", "is not finite")

    flow = pc.is_in(s["kind"], pa.array(FLOWS))
    cp_blank = pc.equal(s["counterparty"], "")
    _flag(problems, pc.and_(flow, cp_blank), lines, raw["counterparty"], "counterparty",
          "is required for delivery, receipt and rating lines")
    _flag(problems, pc.and_(pc.and_(kind_ok, pc.invert(flow)), pc.invert(cp_blank)), lines, raw["counterparty"],
          "counterparty", "must be empty for this kind")
    _flag(problems, pc.and_(pc.invert(cp_blank), pc.equal(s["counterparty"], s["workplace"])), lines,
          raw["counterparty"], "counterparty", "is the reporting workplace itself")

    r_blank = pc.equal(s["rating"], "")
    r_num = pc.match_substring_regex(raw["rating"], _NUMBER)
    rating = pc.cast(pc.if_else(r_num, s["rating"], None), pa.float64())
    _flag(problems, pc.and_(is_rating, r_blank), lines, raw["rating"], "rating", "is required for rating lines")
    _flag(problems, pc.and_(pc.invert(r_blank), pc.invert(r_num)), lines, raw["rating"], "rating", "is not a number")
    _flag(problems, pc.and_(pc.and_(kind_ok, pc.invert(is_rating)), pc.invert(r_blank)), lines, raw["rating"],
          "rating", "must be empty except on rating lines")
    r = rating.to_numpy(zero_copy_only=False)
    _flag(problems, (np.nan_to_num(r, nan=0.0) < 0) | (np.nan_to_num(r, nan=0.0) > MAX_RATING), lines, raw["rating"],
          "rating", f"is outside 0..{MAX_RATING}")

    out = pa.table(
        {
            "line": pa.array(lines, pa.int64()),
            "kind": s["kind"],
            "period": period,
            "workplace": s["workplace"],
            "product": s["product"],
            "variant": s["variant"],
            "grade": s["grade"],
            "quantity": quantity,
            "counterparty": s["counterparty"],
            "rating": rating,
        },
        schema=SCHEMA,
    )
    _flag_duplicates(out, problems)
    if problems:
        raise ReportError(problems, where=where)
    return Reports(out)


def _flag_duplicates(table: pa.Table, problems: list[LineProblem]) -> None:
    """A figure given twice (same kind, period, workplace, product, variant, grade, counterparty)."""
    if table.num_rows < 2:
        return
    codes = np.stack([_codes(table[c]) for c in KEY], axis=1)
    order = np.lexsort(codes.T[::-1])
    ordered = codes[order]
    same = np.all(ordered[1:] == ordered[:-1], axis=1)
    if not same.any():
        return
    first_of_run = np.concatenate(([0], np.flatnonzero(~same) + 1))
    run_start = first_of_run[np.searchsorted(first_of_run, np.arange(len(order)), side="right") - 1]
    lines = table["line"].to_numpy()
    dup = np.flatnonzero(np.concatenate(([False], same)))
    for k in dup:
        row, first = order[k], order[run_start[k]]
        problems.append(
            LineProblem(int(lines[row]), "*", "", f"the same figure was already given on line {int(lines[first])}")
        )


def _codes(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Integer codes of a column's values (equal values, equal codes)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_integer(arr.type):
        return arr.to_numpy(zero_copy_only=False).astype(np.int64)
    enc = pc.dictionary_encode(arr)
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def reports_from_table(table: pa.Table, *, where: str = "reports") -> Reports:
    """Check report lines given as a table of typed or text columns (e.g. built in code or from a form)."""
    text = pa.table(
        {c: pc.cast(table[c], pa.string()) for c in table.column_names if c != "line"}
        | ({"line": table["line"]} if "line" in table.column_names else {})
    )
    return validate_table(text, where=where)


def reports_from_simulation(table: pa.Table) -> Reports:
    """Report lines from a simulated table (:func:`glasnost.simulate.reports.workplace_reports`).

    Per period and workplace: an ``output`` and a ``capacity`` line (reported figures), and per
    receiver a ``delivery`` line (what the workplace claims it shipped) and the receiver's ``receipt``
    line (what it confirms). Truth columns are not carried over.
    """
    keys = table.group_by(["period", "workplace", "product"], use_threads=False).aggregate(
        [("output_reported", "mean"), ("capacity_reported", "mean")]
    )

    def block(kind: str, src: pa.Table, workplace: str, counterparty: str | None, quantity: str) -> pa.Table:
        k = src.num_rows
        return pa.table(
            {
                "kind": pa.array([kind] * k, pa.string()),
                "period": pc.cast(src["period"], pa.int64()),
                "workplace": src[workplace],
                "product": src["product"],
                "variant": pa.array([""] * k, pa.string()),
                "grade": pa.array([""] * k, pa.string()),
                "quantity": pc.cast(src[quantity], pa.float64()),
                "counterparty": src[counterparty] if counterparty else pa.array([""] * k, pa.string()),
                "rating": pa.nulls(k, pa.float64()),
            }
        )

    parts = [
        block("output", keys, "workplace", None, "output_reported_mean"),
        block("capacity", keys, "workplace", None, "capacity_reported_mean"),
        block("delivery", table, "workplace", "receiver", "shipped_reported"),
        block("receipt", table, "receiver", "workplace", "received_reported"),
    ]
    out = pa.concat_tables(parts)
    # a receiver may get the same product from one supplier on several rows: sum them into one figure
    out = out.group_by(["kind", "period", "workplace", "product", "variant", "grade", "counterparty"],
                       use_threads=False).aggregate([("quantity", "sum")])
    out = out.rename_columns([c.removesuffix("_sum") for c in out.column_names])
    total = out.num_rows
    out = out.append_column("rating", pa.nulls(total, pa.float64()))
    out = out.append_column("line", pa.array(np.arange(1, total + 1), pa.int64()))
    return Reports(out.select(SCHEMA.names).cast(SCHEMA))
