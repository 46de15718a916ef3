"""Bulk import of report lines: glasnost's checked, all-or-nothing, published import against pandas ``to_sql``.

The file: 100,000 report lines (outputs, capacities, deliveries and receipts) made from the regime
simulator's reports (1,250 workplaces x 10 periods, seed 0), written as CSV. Three ways in:

* ``glasnost (SQLite)`` / ``glasnost (PostgreSQL)``: :func:`glasnost.control.store.import_reports_csv`:
  every value checked (each bad line named), one transaction, the batch appended to the public log
  (one entry per workplace and period), then committed; the time includes migrating a fresh database;
* ``pandas read_csv + to_sql (SQLite)``: the common shortcut, which checks nothing and publishes nothing;
* ``glasnost, 1% bad lines``: the same file with 1,000 lines broken: time until every bad line is
  reported (nothing is stored).

Runs are interleaved (each round runs every way once) and the table shows medians.

    python bench/bench_import.py [--lines 100000] [--rounds 3] [--no-postgres]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
from rich.console import Console
from rich.table import Table

from glasnost.control.errors import ReportError
from glasnost.control.reports import COLUMNS, reports_from_simulation
from glasnost.control.store import import_reports_csv, open_database
from glasnost.ledger import Ledger
from glasnost.simulate.reports import workplace_reports

PG = "postgresql://postgres@127.0.0.1:5432/test"


def make_file(path: Path, lines: int) -> int:
    workplaces = max(2, lines // 70)  # about 8 lines per workplace and period, 10 periods
    table = reports_from_simulation(workplace_reports("command", workplaces, 10, seed=0)).table
    table = table.slice(0, lines).select(list(COLUMNS))
    pcsv.write_csv(table, path)
    return table.num_rows


def break_lines(src: Path, dst: Path, share: float, seed: int = 0) -> int:
    text = src.read_text().splitlines()
    rng = np.random.default_rng(seed)
    bad = rng.choice(np.arange(1, len(text)), int(share * (len(text) - 1)), replace=False)
    for i in bad:
        text[i] = text[i].replace('"output"', '"outptu"', 1).replace('"delivery"', '"deliver"', 1)
        text[i] = text[i].replace('"receipt"', '"recpt"', 1).replace('"capacity"', '"cap"', 1)
    dst.write_text("\n".join(text) + "\n")
    return bad.size


def glasnost_sqlite(path: Path, work: Path, n: int) -> float:
    t = time.perf_counter()
    db = open_database(str(work / f"db{n}.sqlite"))
    with Ledger.open(work / f"log{n}.sqlite") as log:
        import_reports_csv(db, path, log)
    db.dispose()
    return time.perf_counter() - t


def glasnost_postgres(path: Path, work: Path, n: int) -> float:
    import psycopg

    schema = f"bench_import_{n}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    t = time.perf_counter()
    db = open_database(PG, schema=schema)
    with Ledger.open(PG, schema=schema) as log:
        import_reports_csv(db, path, log)
    db.dispose()
    took = time.perf_counter() - t
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return took


def pandas_to_sql(path: Path, work: Path, n: int) -> float:
    import sqlite3

    import pandas as pd

    t = time.perf_counter()
    frame = pd.read_csv(path)
    with sqlite3.connect(work / f"pandas{n}.sqlite") as conn:
        frame.to_sql("lines", conn, index=False)
    return time.perf_counter() - t


def glasnost_bad(path: Path, work: Path, n: int) -> tuple[float, int]:
    t = time.perf_counter()
    db = open_database(str(work / f"bad{n}.sqlite"))
    problems = 0
    with Ledger.open(work / f"badlog{n}.sqlite") as log:
        try:
            import_reports_csv(db, path, log)
        except ReportError as exc:
            problems = len(exc.problems)
    db.dispose()
    return time.perf_counter() - t, problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        good = work / "reports.csv"
        n_lines = make_file(good, args.lines)
        bad = work / "bad.csv"
        n_bad = break_lines(good, bad, 0.01)
        ways = {"glasnost (SQLite)": glasnost_sqlite, "pandas read_csv + to_sql (SQLite)": pandas_to_sql}
        if not args.no_postgres:
            ways["glasnost (PostgreSQL)"] = glasnost_postgres
        times: dict[str, list[float]] = {k: [] for k in ways}
        times["glasnost, 1% bad lines (SQLite)"] = []
        found = 0
        for r in range(args.rounds):  # interleaved
            for name, way in ways.items():
                times[name].append(way(good, work, r))
            took, found = glasnost_bad(bad, work, r)
            times["glasnost, 1% bad lines (SQLite)"].append(took)
        table = Table(title=f"Importing {n_lines} report lines (median of {args.rounds} interleaved rounds)")
        for col in ("way", "checks", "all or nothing", "public log", "median s", "lines / s", "vs pandas"):
            table.add_column(col, justify="left" if col == "way" else "right")
        ref = float(np.median(times["pandas read_csv + to_sql (SQLite)"]))
        for name, ts in times.items():
            med = float(np.median(ts))
            glas = name.startswith("glasnost")
            table.add_row(name, "every value" if glas else "none", "yes" if glas else "no",
                          "no (refused)" if "bad" in name else ("yes" if glas else "no"),
                          f"{med:.2f}", f"{n_lines / med:,.0f}", f"{med / ref:.2f}x")
        console.print(table)
        console.print(f"The bad file: {n_bad} lines broken, {found} problems reported (each by line and column). "
                      "Times include opening and migrating a fresh database. Machine shared with other sessions.")


if __name__ == "__main__":
    main()
