"""Derive the compact published tables in this directory from the published output files.

Usage: ``python tests/data/pequod/derive.py DIR`` where DIR holds ``dep1ex01.csv.gz`` ...
``dep1ex05.csv.gz`` (gzip of ``src/clj/pequod_cljs/dep1exNN.csv`` in msszczep/pequod-cljs, see
README.md). Every cell written is a cell of the published file, copied as text (no number is
re-printed); only rows and columns are selected. The gzip headers carry no name or time, so the
same input gives byte-identical files.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path

EXPERIMENTS = ["01", "02", "03", "04", "05"]
ALL_COUNCILS_IN = {"01"}  # every worker council's output and effort; the others keep every 10th
SAMPLE_EVERY = 10


def _write(path: Path, rows: list[list[str]]) -> None:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as fh:
        fh.write(text.getvalue().encode())


def derive(source: Path, target: Path, ex: str) -> None:
    with gzip.open(source / f"dep1ex{ex}.csv.gz", "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    ends = [i for i, r in enumerate(body) if r[0] == "exponent-sum"]
    assert len(ends) == 2, "each file holds two years"
    years = {"1": body[: ends[0]], "2": body[ends[0] + 1 : ends[1]]}
    board = [i for i, name in enumerate(header) if not name.startswith("wc_")]
    rounds = [[year] + [r[i] for i in board] for year, part in years.items() for r in part]
    _write(target / f"dep1ex{ex}-rounds.csv.gz", [["year"] + [header[i] for i in board], *rounds])
    n_councils = sum(1 for name in header if name.endswith("_output"))
    step = 1 if ex in ALL_COUNCILS_IN else SAMPLE_EVERY
    kept = [header.index(f"wc_{k}_{what}") for k in range(1, n_councils + 1, step) for what in ("output", "effort")]
    _write(
        target / f"dep1ex{ex}-councils.csv.gz",
        [[header[0]] + [header[i] for i in kept]] + [[r[0]] + [r[i] for i in kept] for r in years["1"]],
    )
    sums = [[body[end][header.index(f"wc_{k}_output")] for end in ends] for k in range(1, n_councils + 1)]
    _write(
        target / f"dep1ex{ex}-exponent-sums.csv.gz",
        [["council", "year-1", "year-2"]] + [[f"wc_{k}", *s] for k, s in enumerate(sums, start=1)],
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for ex in EXPERIMENTS:
        derive(Path(sys.argv[1]), Path(__file__).resolve().parent, ex)
