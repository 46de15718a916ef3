"""Report lines: every bad line named by line and column, all-or-nothing import into the database and the log."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from glasnost.control.errors import ControlError, ReportError
from glasnost.control.reports import read_reports_csv
from glasnost.control.store import import_reports_csv, load_reports, open_database
from glasnost.control.tables import Batch, Line
from glasnost.ledger import Ledger, verify_log

HEADER = "kind,period,workplace,product,variant,grade,quantity,counterparty,rating\n"
GOOD = [
    "output,1,mill,flour,,A,100,,",
    "delivery,1,mill,flour,,,80,bakery,",
    "receipt,1,bakery,flour,,,75,mill,",
    "rating,1,bakery,flour,,,,mill,0.9",
    "opening,1,mill,flour,,,10,,",
    "closing,1,mill,flour,,,30,,",
]


def write(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "\n".join(lines) + "\n")
    return path


def test_a_good_file_is_read_with_types_and_line_numbers(tmp_path: Path) -> None:
    reports = read_reports_csv(write(tmp_path / "r.csv", GOOD))
    t = reports.table
    assert t["line"].to_pylist() == [2, 3, 4, 5, 6, 7]
    assert t["quantity"].to_pylist() == [100.0, 80.0, 75.0, None, 10.0, 30.0]
    assert t["rating"].to_pylist()[3] == pytest.approx(0.9)
    assert t["period"].to_pylist() == [1] * 6


def test_every_bad_line_is_named_with_its_column(tmp_path: Path) -> None:
    lines = [
        *GOOD,
        "output,x,mill,bran,,,5,,",  # line 8: period
        "output,2,mill,bran,,,-1,,",  # line 9: negative quantity
        "",  # line 10: empty, skipped (line numbers after it still count it)
        "delivery,2,mill,bran,,,3,,",  # line 11: delivery without a receiver
        "rating,2,shop,bran,,,,mill,7",  # line 12: rating out of range
        "output,2,mill",  # line 13: too few columns
        "smuggled,2,mill,bran,,,1,,",  # line 14: unknown kind
        "output,1,mill,flour,,A,100,,",  # line 15: same figure as line 2
        "input,2,mill,grain,,,abc,,",  # line 16: not a number
        "input,2,mill,water,,,4,mill,",  # line 17: counterparty on an input (and itself)
    ]
    with pytest.raises(ReportError) as info:
        read_reports_csv(write(tmp_path / "bad.csv", lines))
    got = {(p.line, p.column) for p in info.value.problems}
    assert got == {
        (8, "period"),
        (9, "quantity"),
        (11, "counterparty"),
        (12, "rating"),
        (13, "*"),
        (14, "kind"),
        (15, "*"),
        (16, "quantity"),
        (17, "counterparty"),
    } | {(17, "counterparty")}
    text = str(info.value)
    assert "nothing was imported" in text
    assert "line 15, column *: the same figure was already given on line 2" in text
    assert "line 13, column *: has 3 columns; the header has 9" in text


def test_header_problems_are_named(tmp_path: Path) -> None:
    with pytest.raises(ReportError) as info:
        read_reports_csv(write(tmp_path / "h.csv", ["output,1,mill,flour,1,x"], "kind,period,workplace,item,qty,x\n"))
    cols = {p.column for p in info.value.problems}
    assert {"item", "qty", "x", "product", "quantity"} <= cols
    assert all(p.line == 1 for p in info.value.problems)


def _big_file(path: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    kinds = np.array(["output", "input", "opening", "closing", "loss", "delivery", "receipt", "rating"])
    i = np.arange(n)
    k = kinds[i % 8]
    wp = (i // 8) % 1250
    flow = np.isin(k, ["delivery", "receipt", "rating"])
    cp = np.where(flow, np.char.add("w", ((wp + 1) % 1250).astype(str)), "")
    rating = np.where(k == "rating", "0.8", "")
    qty = np.char.mod("%.3f", rng.random(n) * 100)
    cols = [k, (i // 10_000).astype(str), np.char.add("w", wp.astype(str)), np.char.add("p", (i % 3).astype(str)),
            np.full(n, ""), np.full(n, "A"), qty, cp, rating]
    body = "\n".join(",".join(r) for r in zip(*cols, strict=True))
    path.write_text(HEADER + body + "\n")
    return path


class Place:
    """Where a test keeps the platform's tables and the public log: SQLite files, or a PostgreSQL schema."""

    def __init__(self, kind: str, tmp_path: Path, schema: str | None = None) -> None:
        self.kind, self.tmp, self.schema = kind, tmp_path, schema

    def database(self):  # -> Database
        if self.kind == "sqlite":
            return open_database(str(self.tmp / "db.sqlite"))
        return open_database(PG, schema=self.schema)

    def ledger(self) -> Ledger:
        if self.kind == "sqlite":
            return Ledger.open(self.tmp / "log.sqlite")
        return Ledger.open(PG, schema=self.schema)

    def log_source(self) -> str | Path:
        return self.tmp / "log.sqlite" if self.kind == "sqlite" else PG


PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    if request.param == "sqlite":
        yield Place("sqlite", tmp_path)
        return
    import psycopg

    try:
        psycopg.connect(PG, connect_timeout=3).close()
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    schema = f"ctl_{uuid.uuid4().hex[:12]}"
    try:
        yield Place("postgresql", tmp_path, schema)
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_import_stores_lines_and_publishes_them(place: Place, tmp_path: Path) -> None:
    db = place.database()
    path = _big_file(tmp_path / "r.csv", 4000)
    with place.ledger() as log:
        result = import_reports_csv(db, path, log)
        entries = list(log.entries())
    assert result.lines == 4000
    # one report per (workplace, period): 4000 lines / 8 kinds = 500 workplaces in period 0
    assert result.reports == 500
    assert [e.kind for e in entries].count("report") == 500 and entries[-1].kind == "report-batch"
    assert sum(len(e.payload["lines"]["line"]) for e in entries if e.kind == "report") == 4000
    loaded = load_reports(db)
    assert len(loaded) == 4000
    original = read_reports_csv(path).table
    for column in ("line", "kind", "workplace", "counterparty"):  # every line back as it was read
        assert loaded.table[column].to_pylist() == original[column].to_pylist()
    np.testing.assert_array_equal(loaded.table["quantity"].to_numpy(zero_copy_only=False),
                                  original["quantity"].to_numpy(zero_copy_only=False))
    assert verify_log(place.log_source(), schema=place.schema).sound  # the library call signs no checkpoint
    with pytest.raises(ControlError, match="already imported as batch 1"), place.ledger() as log:
        import_reports_csv(db, path, log)
    db.dispose()


def test_a_file_with_bad_lines_stores_nothing(place: Place, tmp_path: Path) -> None:
    db = place.database()
    path = _big_file(tmp_path / "r.csv", 3000)
    text = path.read_text().splitlines()
    text[2993] = text[2993].replace("output", "outptu")  # line 2994 (i = 2992, an output line)
    text[1500] = "output,1,w1,p1,,A,NaN,,"
    path.write_text("\n".join(text) + "\n")
    with place.ledger() as log:
        with pytest.raises(ReportError) as info:
            import_reports_csv(db, path, log)
        assert log.size == 0
    assert [(p.line, p.column) for p in info.value.problems] == [(1501, "quantity"), (2994, "kind")]
    with db.read() as s:
        assert s.scalar(select(func.count(Line.id))) == 0
        assert s.scalar(select(func.count(Batch.id))) == 0
    db.dispose()


def test_a_log_that_refuses_the_batch_leaves_the_database_untouched(tmp_path: Path) -> None:
    db = open_database(str(tmp_path / "db.sqlite"))
    path = _big_file(tmp_path / "r.csv", 800)
    log_file = tmp_path / "log.sqlite"
    with Ledger.open(log_file) as log:
        log.append("note", {"first": True})
    # someone holds the log's write lock: the append fails after the lines were written, uncommitted
    holder = sqlite3.connect(log_file, timeout=0.1)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Ledger.open(log_file) as log:
            log._store.conn.execute("PRAGMA busy_timeout=100")
            with pytest.raises(ControlError, match="nothing was stored"):
                import_reports_csv(db, path, log)
    finally:
        holder.rollback()
        holder.close()
    with db.read() as s:
        assert s.scalar(select(func.count(Line.id))) == 0
    with Ledger.open(log_file) as log:
        assert log.size == 1
    db.dispose()


def test_a_later_batch_is_a_correction_referring_to_the_earlier_report(tmp_path: Path) -> None:
    db = open_database(str(tmp_path / "db.sqlite"))
    with Ledger.open(tmp_path / "log.sqlite") as log:
        first = import_reports_csv(db, write(tmp_path / "a.csv", GOOD), log)
        second = import_reports_csv(db, write(tmp_path / "b.csv", ["output,1,mill,flour,,A,90,,"]), log)
        mill_first = dict(zip(first.keys, first.receipts, strict=False))[("mill", 1)]
        (correction,) = second.receipts[:-1]
        entry = log.entry(correction.index)
        assert entry.refers_to == mill_first.index  # the log names the report it corrects
        assert log.entry(mill_first.index).payload["lines"]["quantity"][0] == 100.0  # and keeps it
        bakery = dict(zip(first.keys, first.receipts, strict=False))[("bakery", 1)]
        assert log.entry(bakery.index).refers_to is None
    assert verify_log(tmp_path / "log.sqlite").sound
    t = load_reports(db).table
    assert len(t) == 6
    out = [q for k, q in zip(t["kind"].to_pylist(), t["quantity"].to_pylist(), strict=True) if k == "output"]
    assert out == [90.0]
    db.dispose()


def test_columns_canonicalise_as_item_by_item() -> None:
    """The ledger's one-join path for homogeneous lists gives the bytes of the careful, item-by-item path."""
    from glasnost.ledger.canonical import _write, canonical_json

    rng = np.random.default_rng(9)
    floats = [float(x) for x in rng.normal(0, 1e6, 200)] + [1.0, -0.0, 1e21, 1.5e-7, 5e-324]
    value = {
        "f": floats,
        "s": ["a", "é", "\x00\x1f\u2028", '"\\', "😀", ""],
        "i": [0, -5, 2**70],
        "mixed": [1, 2.5, None, "x", True],
        "gaps": [None, 1.5, None, -0.0, 1e-7],
    }
    careful: list[str] = []
    _write(value, "$", careful)
    assert canonical_json(value) == "".join(careful).encode("utf-8")


def test_quoted_header_crlf_and_spaces(tmp_path: Path) -> None:
    """As spreadsheets and pyarrow write CSV: quoted names and values, CRLF line ends, padded names; and
    values that look like numbers stay text where text is meant (ids with leading zeros)."""
    body = ('"kind","period", workplace ,"product","quantity"\r\n'
            '"output",1,"007","0042",5\r\n\r\n"input",1,"007","x",2\r\n')
    (tmp_path / "q.csv").write_bytes(body.encode())
    t = read_reports_csv(tmp_path / "q.csv").table
    assert t["workplace"].to_pylist() == ["007", "007"] and t["product"].to_pylist() == ["0042", "x"]
    assert t["line"].to_pylist() == [2, 4]
