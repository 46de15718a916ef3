"""Imports that never crash: every malformed input is refused with its file, line and column, the same
on SQLite and PostgreSQL, and nothing is stored. A corpus of the known cases, then hypothesis
mutating valid files for ``control import``, ``import --format bea`` and ``participate``."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ledger_store import PG_URL, _postgres_available
from typer.testing import CliRunner

from glasnost.cli import app

runner = CliRunner()
GOOD = (b"kind,period,workplace,product,variant,grade,quantity,counterparty,rating\r\n"
        b"output,1,mill,flour,,A,120,,\r\n"
        b"delivery,1,mill,flour,,,120,bakery,\r\n"
        b"receipt,1,bakery,flour,,,60,mill,\r\n"
        b"rating,1,bakery,flour,,,,mill,0.5\r\n")
HEAD = b"kind,period,workplace,product,quantity\n"
POSITION = re.compile(r"^.+: line \d+, column [^:]+: .+$")

CORPUS = {
    "cr_only_line_endings": (HEAD.replace(b"\n", b"\r") + b"output,1,mill,flour,3\r", "carriage return"),
    "a_column_named_twice": (b"kind,period,workplace,product,quantity,period\noutput,1,mill,flour,3,2\n",
                             "column period: is named twice"),
    "period_99999999999": (HEAD + b"output,99999999999,mill,flour,3\n", "line 2, column period: is above"),
    "a_quoted_newline": (HEAD + b"output,1,mill,flour,3\noutput,1,\"mi\nll\",flour,3\n",
                         "line 3, column workplace: holds a line break"),
    "bad_utf8_on_line_3": (HEAD + b"output,1,mill,flour,3\noutput,1,m\xffill,flour,3\n",
                           "line 3, column workplace: byte 11 of the line is not UTF-8"),
    "a_nul_byte": (HEAD + b"output,1,mi\x00ll,flour,3\n", "line 2, column workplace: holds a NUL character"),
    "an_id_over_200_characters": (HEAD + b"output,1," + b"w" * 201 + b",flour,3\n",
                                  "line 2, column workplace: is longer than 200 characters"),
    "a_grade_over_64_characters": (b"kind,period,workplace,product,grade,quantity\noutput,1,mill,flour,"
                                   + b"g" * 65 + b",3\n", "line 2, column grade: is longer than 64"),
    "a_row_with_too_many_columns": (HEAD + b"output,1,mill,flour,3,9\n", "line 2, column *: has 6 columns"),
    "a_header_column_with_no_name": (b"," + HEAD + b",output,1,mill,flour,3\n",
                                     "line 1, column (no name): unknown column"),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """``control`` options for a fresh SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield ["-d", str(tmp_path / "p.sqlite")]
        return
    reason = _postgres_available()
    if reason:  # pragma: no cover
        pytest.skip(reason)
    import psycopg

    schema = f"glasnost_fuzz_{uuid.uuid4().hex[:12]}"
    yield ["-d", PG_URL, "--schema", schema]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _stored_lines(database: list[str]) -> int:
    r = runner.invoke(app, ["control", "check", *database, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)["lines"]


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_each_malformed_file_is_named_and_nothing_is_stored(case: str, database: list[str], tmp_path: Path) -> None:
    data, expected = CORPUS[case]
    path = tmp_path / f"{case}.csv"
    path.write_bytes(data)
    r = runner.invoke(app, ["control", "import", str(path), *database])
    assert r.exit_code == 1, r.output
    assert (r.exception is None or isinstance(r.exception, SystemExit)) and "Traceback" not in r.output
    assert expected in r.output, r.output
    assert any(POSITION.match(line) and line.startswith(str(path)) for line in r.output.splitlines()), r.output
    assert "nothing was imported" in r.output
    assert _stored_lines(database) == 0


# ---- hypothesis: mutations of valid files --------------------------------------------------------

NASTY = [b"\r", b"\n", b"\r\n", b"\x00", b"\xff", b"\xc3", b",", b'"', b"\t", b" ", b"-", b"+", b"e", b"9" * 12,
         b"1e999", b"nan", b"w" * 230, b"\xe2\x80\x94", b"output", b"period", b"", b"0.5", b"1.6", b"\xef\xbb\xbf"]


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 3))
        data[at : at + cut] = draw(st.sampled_from(NASTY))
    return bytes(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated(GOOD))
def test_control_import_never_crashes(data: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    path = tmp / "reports.csv"
    path.write_bytes(data)
    db = ["-d", str(tmp / "p.sqlite")]
    r = runner.invoke(app, ["control", "import", str(path), *db])
    assert r.exit_code in (0, 1), (data, r.output, r.exception)
    assert r.exception is None or isinstance(r.exception, SystemExit), (data, r.exception)
    if r.exit_code == 1:
        problems = [ln for ln in r.output.splitlines() if ln.startswith(str(path) + ":")]
        assert problems and all(POSITION.match(ln) for ln in problems), (data, r.output)
        assert _stored_lines(db) == 0


EDN = (b"(def wcs [{:industry 0 :product 0 :effort 1 :inputs [1] :input-exponents [0.5] :output-exponent 0.5}])\n"
       b"(def ccs [{:utility-exponents [0.5 0.5] :num-members 1 :income 100}])\n")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated(EDN))
def test_participate_never_crashes(data: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("edn")
    path = tmp / "experiment.edn"
    path.write_bytes(data)
    r = runner.invoke(app, ["participate", str(path), "--years", "1", "--max-rounds", "3", "--out", str(tmp / "o"),
                            "--json"])
    assert r.exception is None or isinstance(r.exception, SystemExit), (data, r.exception)
    if r.exit_code != 0:
        assert r.exit_code == 1 and "experiment.edn" in r.output and "Traceback" not in r.output, (data, r.output)


def _bea_pair(directory: Path, make_rows: list[list[object]], use_rows: list[list[object]]) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    for kind, rows in (("Make", make_rows), ("Use", use_rows)):
        book = openpyxl.Workbook()
        ws = book.active
        ws.title = "2017"
        ws.append([f"The {kind} Table"])
        for row in rows:
            ws.append(row)
        book.save(directory / f"IO{kind}_Before_Redefinitions_2017_Detail.xlsx")


MAKE = [["Code", "Industry", "c1", "c2", "T008"], ["i1", "one", 10.0, 2.0, 12.0], ["i2", "two", 1.0, 20.0, 21.0],
        ["T007", "total", 11.0, 22.0, 33.0]]
USE = [["Code", "Commodity", "i1", "i2", "F01000", "T007"], ["c1", "c one", 1.0, 2.0, 8.0, 11.0],
       ["c2", "c two", 3.0, 4.0, 15.0, 22.0], ["V00100", "wages", 5.0, 9.0, None, None]]


def test_bea_refuses_a_code_given_twice(tmp_path: Path) -> None:
    _bea_pair(tmp_path, MAKE, USE)
    ok = runner.invoke(app, ["import", str(tmp_path), "--out", str(tmp_path / "eco")])
    assert ok.exit_code == 0, ok.output
    twice = [*USE[:3], ["c1", "c one again", 7.0, 7.0, 7.0, 21.0], USE[3]]
    _bea_pair(tmp_path, MAKE, twice)
    r = runner.invoke(app, ["import", str(tmp_path), "--out", str(tmp_path / "eco2")])
    assert r.exit_code == 1
    assert "IOUse_Before_Redefinitions_2017_Detail.xlsx sheet 2017: row code c1 appears twice (row 3 and row 5)" in (
        r.output.replace("\n", ""))
    assert not (tmp_path / "eco2").exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.tuples(st.integers(1, 3), st.integers(0, 5),
                                st.one_of(st.none(), st.sampled_from(["", "x", "c1", "i1", "T007", "1,5", "nan"]),
                                          st.floats(allow_nan=True, allow_infinity=True))), min_size=1, max_size=4))
def test_bea_import_never_crashes(cells: list, tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("bea")
    use = [list(r) for r in USE]
    for i, j, v in cells:
        if j < len(use[i]):
            use[i][j] = v
    _bea_pair(tmp, MAKE, use)
    r = runner.invoke(app, ["import", str(tmp), "--out", str(tmp / "eco")])
    assert r.exception is None or isinstance(r.exception, SystemExit), (cells, r.exception)
    assert r.exit_code in (0, 1) and "Traceback" not in r.output
    if r.exit_code == 1:
        # one line naming what is wrong and where (a file and cell, or the technology as a whole)
        assert re.search(r"error: \S+.*: ", r.output), (cells, r.output)
