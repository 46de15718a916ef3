"""The US Bureau of Economic Analysis' make and use tables (before redefinitions).

Where to get the files
----------------------
* BEA's own spreadsheets: https://www.bea.gov/industry/input-output-accounts-data ("Supply-Use
  and Make-Use Tables", "Make-Use, Before Redefinitions, Producer's Value"), e.g.
  ``IOMake_Before_Redefinitions_2017_Detail.xlsx`` and ``IOUse_Before_Redefinitions_PRO_2017_Detail.xlsx``
  (summary level: ``..._Summary.xlsx``, one sheet per year).
* The same tables as R data files, as the US EPA's ``useeior`` model stores them
  (https://github.com/USEPA/useeior, ``data/Detail_Make_2017_BeforeRedef_17sch.rda`` and
  ``data/Detail_Use_2017_PRO_BeforeRedef_17sch.rda``), read with the ``rdata`` package
  (``pip install 'glasnost[data]'``).

Layout (both forms): the make table has industries as rows and commodities as columns with a
total row ``T007`` and total column ``T008``; the use table has commodities as rows, then the
value-added rows ``V00100`` (compensation of employees; ``V001`` at the summary level),
``V00200``, ``V00300`` and totals ``T005``, ``T006``, ``T008`` (``Total ...`` at the summary
level); columns are industries, ``T001`` (total intermediate), the final demand columns
``F...`` and the totals ``T004`` (total final uses) and ``T007`` (total commodity output;
``useeior`` stores these two as ``NA`` and ``NA.1``). All values are millions of US dollars of
the year at producer prices.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from glasnost.data.supply_use import SupplyUse
from glasnost.economy import EconomyError

COMPENSATION = ("V00100", "V001")
"""Compensation of employees: the detail and the summary code."""
TOTAL = re.compile(r"^(T0\d\d|NA(\.\d+)?|Total\b.*)$", re.IGNORECASE)
VALUE_ADDED = re.compile(r"^V\d{3,5}$")
FINAL = re.compile(r"^F[0-9A-Z]{3,5}$")


def _is_total(code: str) -> bool:
    return bool(TOTAL.match(code))


def _read_rda(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, str]]:
    try:
        import rdata
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EconomyError(
            "reading .rda files needs the 'rdata' package: pip install 'glasnost[data]'", where=str(path)
        ) from exc
    try:
        contents = rdata.read_rda(str(path))
    except Exception as exc:
        raise EconomyError(f"not a readable R data file ({exc})", where=str(path)) from None
    frames = [v for v in contents.values() if hasattr(v, "columns")]
    if len(frames) != 1:
        raise EconomyError(f"expected one data frame, found {len(frames)}", where=str(path))
    frame = frames[0]
    rows, cols = [str(r) for r in frame.index], [str(c) for c in frame.columns]
    _refuse_duplicates(rows, [f"row {i + 1}" for i in range(len(rows))], "row", str(path))
    _refuse_duplicates(cols, [f"column {j + 1}" for j in range(len(cols))], "column", str(path))
    values = np.asarray(frame.to_numpy(dtype=np.float64, na_value=np.nan))
    return np.array([str(r) for r in frame.index]), np.array([str(c) for c in frame.columns]), values, {}


def _refuse_duplicates(codes: list[str], places: list[str], what: str, where: str) -> None:
    """A code that labels two rows (or columns) is refused, naming both: keeping either would be a guess."""
    first: dict[str, str] = {}
    for code, place in zip(codes, places, strict=True):
        if code in first:
            raise EconomyError(f"{what} code {code} appears twice ({first[code]} and {place})", where=where)
        first[code] = place


def _cell_number(value: object, path: Path, sheet: str, row: int, col: int) -> float:
    if value is None or (isinstance(value, str) and value.strip() in ("", "...", "---")):
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        from openpyxl.utils import get_column_letter

        raise EconomyError(
            f"cell {get_column_letter(col + 1)}{row + 1} holds {value!r}, not a number", where=f"{path} sheet {sheet}"
        ) from None


def _read_xlsx(path: Path, sheet: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, str]]:
    """BEA's spreadsheet layout: title rows, a header row whose first cell is ``Code`` with the
    column codes, a row of column names, then one row per code (code, name, values)."""
    try:
        import openpyxl
    except ImportError as exc:  # pragma: no cover
        raise EconomyError("reading BEA spreadsheets needs openpyxl: pip install openpyxl", where=str(path)) from exc
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise EconomyError(f"not a readable spreadsheet ({exc})", where=str(path)) from None
    names = book.sheetnames
    if sheet is None:
        years = [s for s in names if s.strip().isdigit()]
        sheet = years[-1] if years else names[0]
    if sheet not in names:
        raise EconomyError(f"no sheet {sheet!r} (sheets: {', '.join(names)})", where=str(path))
    rows = [list(r) for r in book[sheet].iter_rows(values_only=True)]
    header = next((i for i, r in enumerate(rows) if r and str(r[0]).strip().lower() == "code"), None)
    if header is None:
        raise EconomyError("no header row starting with 'Code'", where=f"{path} sheet {sheet}")
    head = rows[header]
    col_codes, col_idx = [], []
    for j, v in enumerate(head[2:], start=2):
        if v is not None and str(v).strip():
            col_codes.append(str(v).strip())
            col_idx.append(j)
    from openpyxl.utils import get_column_letter

    _refuse_duplicates(col_codes, [f"column {get_column_letter(j + 1)}" for j in col_idx], "column",
                       f"{path} sheet {sheet}")
    row_codes, row_places, data, names_map = [], [], [], {}
    for i in range(header + 1, len(rows)):
        r = rows[i]
        if not r or r[0] is None or not str(r[0]).strip():
            continue
        code = str(r[0]).strip()
        if code.lower().startswith(("legend", "note", "source")):
            break
        if len(col_codes) and all((j >= len(r) or r[j] is None) for j in col_idx):
            # a row of column names, or a footnote
            continue
        row_codes.append(code)
        row_places.append(f"row {i + 1}")
        names_map[code] = "" if len(r) < 2 or r[1] is None else str(r[1]).strip()
        data.append([_cell_number(r[j] if j < len(r) else None, path, sheet, i, j) for j in col_idx])
    if not row_codes:
        raise EconomyError("no data rows below the header", where=f"{path} sheet {sheet}")
    _refuse_duplicates(row_codes, row_places, "row", f"{path} sheet {sheet}")
    return np.array(row_codes), np.array(col_codes), np.array(data, dtype=np.float64), names_map


def _read(path: Path, sheet: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, str]]:
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".rda", ".rdata"):
        return _read_rda(path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, sheet)
    raise EconomyError("unknown table format (expected .rda or BEA's .xlsx)", where=str(path))


def _position(codes: np.ndarray, wanted: np.ndarray, what: str, where: str) -> np.ndarray:
    lookup = {str(c): i for i, c in enumerate(codes)}
    missing = [str(w) for w in wanted if str(w) not in lookup]
    if missing:
        raise EconomyError(f"{what} {', '.join(missing[:5])} missing{' ...' if len(missing) > 5 else ''}", where=where)
    return np.array([lookup[str(w)] for w in wanted], dtype=np.int64)


def load_bea(make: str | Path, use: str | Path, *, sheet: str | None = None) -> SupplyUse:
    """Read a BEA make and use table pair (``.rda`` or BEA's ``.xlsx``) into a :class:`SupplyUse`.

    Parameters
    ----------
    make, use : paths of the make table (industries x commodities) and the use table at
        producer prices (commodities x industries, with value added and final demand).
    sheet : spreadsheet sheet (a year); default the latest year's sheet.

    Returns
    -------
    SupplyUse
        In millions of US dollars; labour is compensation of employees (row ``V00100``) in
        millions of dollars, NaN for an industry whose column lacks it.

    Raises
    ------
    EconomyError
        Naming the file, and the row or column, where the tables do not fit together.
    """
    make_p, use_p = Path(make), Path(use)
    m_rows, m_cols, M, m_names = _read(make_p, sheet)
    u_rows, u_cols, U, u_names = _read(use_p, sheet)
    industries = np.array([r for r in m_rows if not _is_total(r)])
    commodities = np.array([c for c in m_cols if not _is_total(c)])
    make_tab = M[
        np.ix_(
            _position(m_rows, industries, "industry", str(make_p)),
            _position(m_cols, commodities, "commodity", str(make_p)),
        )
    ]
    u_commodities = [r for r in u_rows if not _is_total(r) and not VALUE_ADDED.match(r)]
    extra = sorted(set(u_commodities) - set(commodities.tolist()))
    if extra:
        raise EconomyError(
            f"use table rows {', '.join(extra[:5])} are not commodities of the make table", where=str(use_p)
        )
    use_tab = U[
        np.ix_(
            _position(u_rows, commodities, "commodity row", str(use_p)),
            _position(u_cols, industries, "industry column", str(use_p)),
        )
    ]
    final_cols = np.flatnonzero([bool(FINAL.match(c)) for c in u_cols])
    final = U[np.ix_(_position(u_rows, commodities, "commodity row", str(use_p)), final_cols)].sum(axis=1)
    comp = [c for c in COMPENSATION if c in set(u_rows.tolist())]
    if comp:
        r = int(np.flatnonzero(u_rows == comp[0])[0])
        labour = U[r, _position(u_cols, industries, "industry column", str(use_p))]
    else:
        labour = np.full(industries.size, np.nan)
    names = {**m_names, **u_names}
    return SupplyUse(
        commodities=commodities,
        industries=industries,
        make=make_tab,
        use=use_tab,
        final_demand=final,
        labour=labour,
        commodity_names=np.array([names.get(c, c) or c for c in commodities]),
        industry_names=np.array([names.get(i, i) or i for i in industries]),
        unit="USD million",
        labour_unit="USD million of compensation",
        labour_name="compensation of employees",
        source=f"BEA make {make_p.name}, use {use_p.name}",
    )


def load_bea_dir(directory: str | Path, level: str = "detail", *, sheet: str | None = None) -> SupplyUse:
    """Find and read the make/use pair of ``level`` (``detail`` or ``summary``) in a directory:
    ``{Level}_Make_*.rda`` and ``{Level}_Use_*PRO*.rda``, or BEA's ``IOMake_*{Level}.xlsx`` and
    ``IOUse_*{Level}.xlsx``."""
    d = Path(directory)
    lvl = level.capitalize()
    if level not in ("detail", "summary"):
        raise ValueError(f"level must be 'detail' or 'summary', got {level!r}")
    pairs = [
        (sorted(d.glob(f"{lvl}_Make_*.rda")), sorted(d.glob(f"{lvl}_Use_*PRO*.rda"))),
        (sorted(d.glob(f"IOMake_*{lvl}.xlsx")), sorted(d.glob(f"IOUse_*{lvl}.xlsx"))),
    ]
    for makes, uses in pairs:
        if makes and uses:
            return load_bea(makes[0], uses[0], sheet=sheet)
    raise FileNotFoundError(f"no BEA {level} make and use tables in {d} (see glasnost.data.bea for where to get them)")
