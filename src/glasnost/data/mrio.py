"""Multi-regional input-output tables through pymrio (EXIOBASE 3, WIOD, OECD ICIO, Eora26).

pymrio (GPL-3.0) is an optional extra: ``pip install 'glasnost[mrio]'``. These tables are
already symmetric (product-by-product or industry-by-industry, per region), so no technology
assumption is needed: ``A = Z diag(x)^-1`` with ``x`` the total output (intermediate plus final
use). Each product is ``region/sector``.

Where to get the files (download them yourself; glasnost never fetches them)
------------------------------------------------------------------------------
* EXIOBASE 3: https://zenodo.org/doi/10.5281/zenodo.3583070 (``IOT_2019_pxp.zip``;
  ``pymrio.download_exiobase3`` does the same). Format ``exiobase3``.
* WIOD 2016 release: https://www.rug.nl/ggdc/valuechain/wiod/ (``WIOT2014_Nov16_ROW.xlsb``
  etc.; ``pymrio.download_wiod2013`` for the 2013 release). Format ``wiod``.
* OECD ICIO: https://www.oecd.org/sti/ind/inter-country-input-output-tables.htm
  (``ICIO2021_2018.csv`` etc.). Format ``oecd``.
* Eora26: https://worldmrio.com/eora26/ (free registration; ``Eora26_2015_bp.zip``).
  Format ``eora26``.
* pymrio's bundled test system (six regions, eight sectors): format ``test``, no file.

Labour input is the extension row (satellite account) whose name matches ``labour`` (a regular
expression; default: compensation of employees or employment, as EXIOBASE, WIOD's
socio-economic accounts and Eora carry them); where none matches, every product is marked as
having no labour figure, never given zero silently.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from glasnost.data.supply_use import Symmetric
from glasnost.economy import EconomyError

FORMATS = ("exiobase3", "wiod", "oecd", "eora26", "test")
DEFAULT_LABOUR = r"compensation of employees|^employment|employment$|employed persons|^COMP$|^EMP$"


def _pymrio() -> Any:
    try:
        import pymrio
    except ImportError as exc:
        raise EconomyError(
            "multi-regional tables need pymrio: pip install 'glasnost[mrio]' (pymrio is GPL-3.0)"
        ) from exc
    return pymrio


def read_mrio(source: str | Path | None, format: str = "test", *, year: int | None = None) -> Any:
    """Parse a downloaded MRIO file or folder with pymrio; returns a ``pymrio.IOSystem``."""
    pymrio = _pymrio()
    if format not in FORMATS:
        raise ValueError(f"unknown MRIO format {format!r} (choose from {', '.join(FORMATS)})")
    if format == "test":
        return pymrio.load_test()
    if source is None or not Path(source).exists():
        raise FileNotFoundError(f"no such file or directory: {source}")
    path = str(source)
    try:
        if format == "exiobase3":
            return pymrio.parse_exiobase3(path)
        if format == "wiod":
            return pymrio.parse_wiod(path, year=year)
        if format == "oecd":
            return pymrio.parse_oecd(path, year=year)
        return pymrio.parse_eora26(path, year=year)
    except (OSError, ValueError, KeyError) as exc:
        raise EconomyError(f"pymrio could not parse it as {format} ({exc})", where=path) from None


def symmetric_from_mrio(io: Any, *, labour: str | None = None, source: str = "mrio") -> Symmetric:
    """The commodity-by-commodity table of a pymrio ``IOSystem``.

    Parameters
    ----------
    io : a pymrio IOSystem with ``Z`` and ``Y`` (money, the table's unit, e.g. ``M.EUR``).
    labour : regular expression (case-insensitive) naming the extension rows summed as labour
        input; default :data:`DEFAULT_LABOUR`. Units: whatever the table gives (people,
        hours, money), per unit of output.
    source : label for reports.

    Returns
    -------
    Symmetric
        With ``assumption="as published"`` and products ``region/sector``; zero-output products
        are left out and their use becomes a primary input (``not_produced``).
    """
    Z = io.Z.to_numpy(dtype=np.float64)
    Y = io.Y.to_numpy(dtype=np.float64)
    ids = np.array([f"{r}/{s}" for r, s in io.Z.index])
    x = Z.sum(axis=1) + Y.sum(axis=1)
    produced = x > 0
    xs = np.where(produced, x, 1.0)
    A_all = Z / xs
    pattern = re.compile(labour or DEFAULT_LABOUR, re.IGNORECASE)
    rows, names, units = [], [], set()
    for ext in io.get_extensions(data=True):
        F = ext.F
        for k, key in enumerate(F.index):
            label = " ".join(map(str, key)) if isinstance(key, tuple) else str(key)
            if pattern.search(label):
                rows.append(F.to_numpy(dtype=np.float64)[k])
                names.append(f"{ext.name}: {label}")
                if getattr(ext, "unit", None) is not None:
                    units.add(str(ext.unit.iloc[k, 0]))
    if rows:
        F_lab = np.vstack(rows)
        known = ~np.isnan(F_lab).any(axis=0)
        lab = np.where(known, np.nan_to_num(F_lab).sum(axis=0) / xs, np.nan)
    else:
        known = np.zeros(ids.size, bool)
        lab = np.full(ids.size, np.nan)
    unit = str(io.unit.iloc[0, 0]) if getattr(io, "unit", None) is not None else "money"
    A = A_all[np.ix_(produced, produced)]
    p_ids = ids[produced]
    r, c = np.nonzero(A < 0)
    negatives = [(str(p_ids[i]), str(p_ids[j]), float(A[i, j])) for i, j in zip(r, c, strict=True)]
    return Symmetric(
        ids=p_ids,
        names=p_ids.copy(),
        A=A,
        labour=lab[produced],
        labour_known=known[produced],
        output=x[produced],
        final_demand=Y.sum(axis=1)[produced],
        not_produced=ids[~produced],
        not_produced_use=A_all[np.ix_(~produced, produced)],
        negatives=negatives,
        assumption="as published",
        residual=0.0,
        unit=unit,
        labour_unit=" + ".join(sorted(units)) or "unknown",
        labour_name=", ".join(names) or "none found",
        source=source,
        extra={"labour_rows": names},
    )


def load_mrio(
    source: str | Path | None, format: str = "test", *, labour: str | None = None, year: int | None = None
) -> Symmetric:
    """Read a multi-regional table (see the module docstring for where to get the files) and
    return its :class:`~glasnost.data.supply_use.Symmetric` table."""
    io = read_mrio(source, format, year=year)
    return symmetric_from_mrio(io, labour=labour, source=f"{format}:{source or 'pymrio test system'}")
