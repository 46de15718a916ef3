"""``glasnost control``: import, plan, check and alerts from the command line, on real files and databases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pytest
from typer.testing import CliRunner

from glasnost.cli import app
from glasnost.control.alerts import find_anomalies
from glasnost.control.errors import ReportError
from glasnost.control.planfiles import read_coefficients_csv, read_targets_csv
from glasnost.control.reconcile import reconcile
from glasnost.control.reports import COLUMNS, reports_from_simulation
from glasnost.ledger import generate_signing_key, verify_log, write_keypair
from glasnost.simulate.reports import workplace_reports

runner = CliRunner()
REPORTS = """kind,period,workplace,product,variant,grade,quantity,counterparty,rating
output,1,mill,flour,,A,120,,
delivery,1,mill,flour,,,120,bakery,
receipt,1,bakery,flour,,,60,mill,
rating,1,bakery,flour,,,,mill,0.5
input,1,mill,grain,,,160,,
"""


def test_import_check_and_verify(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text(REPORTS)
    (tmp_path / "t.csv").write_text("period,workplace,product,quantity,price\n1,mill,flour,100,2\n")
    (tmp_path / "c.csv").write_text("workplace,product,input,per_unit\nmill,flour,grain,1.25\n")
    db = str(tmp_path / "p.sqlite")
    key, _pub = write_keypair(generate_signing_key(), tmp_path / "log-key")
    r = runner.invoke(app, ["control", "import", str(tmp_path / "r.csv"), "-d", db, "--json",
                            "--receipts", str(tmp_path / "receipts.jsonl"), "--key", str(key)])
    assert r.exit_code == 0, r.output
    kept = [json.loads(x) for x in (tmp_path / "receipts.jsonl").read_text().splitlines()]
    assert [(k["workplace"], k["period"], k["index"]) for k in kept] == [("bakery", 1, 0), ("mill", 1, 1)]
    summary = json.loads(r.output)
    assert summary["lines"] == 5 and summary["reports"] == 2 and summary["log_entries"] == [0, 2]
    assert summary["checkpoint"] == 3
    r = runner.invoke(app, ["control", "plan", "--targets", str(tmp_path / "t.csv"), "--coefficients",
                            str(tmp_path / "c.csv"), "-d", db])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["control", "check", "-d", db, "--json", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    # mill shipped 120 flour, the bakery confirms 60; the mill used 160 grain where 1.25 x 120 = 150 was planned
    assert json.loads(r.output)["mismatches"] == {"shipments": 1, "balances": 2, "coefficients": 1}
    assert (tmp_path / "out" / "fulfilment_by_product.parquet").exists()
    r = runner.invoke(app, ["control", "check", "-d", db, "--report", str(tmp_path / "rep"), "--json"])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "fulfilment.png" in page and "benford.png" not in page  # five figures are too few for Benford
    assert (tmp_path / "rep" / "fulfilment.png").stat().st_size > 1000
    r = runner.invoke(app, ["control", "check", "-d", db])
    assert r.exit_code == 0 and "use" in r.output and "fulfilment by workplace" in r.output
    report = verify_log(tmp_path / "p-log.sqlite", public_key=_pub, receipts=[k["leaf_hash"] for k in kept])
    assert report.ok and report.receipts == 2 and report.checkpoints == 1


def test_a_bad_file_prints_every_problem_and_stores_nothing(tmp_path: Path) -> None:
    bad = REPORTS + "output,1,mill,bran,,,lots,,\nreceipt,1,mill,grain,,,3,,\n"
    (tmp_path / "bad.csv").write_text(bad)
    db = str(tmp_path / "p.sqlite")
    r = runner.invoke(app, ["control", "import", str(tmp_path / "bad.csv"), "-d", db])
    assert r.exit_code == 1
    assert "line 7, column quantity: is not a number (got 'lots')" in r.output
    assert "line 8, column counterparty: is required for delivery, receipt and rating lines" in r.output
    assert "2 problems" in r.output and "nothing was imported" in r.output
    r = runner.invoke(app, ["control", "check", "-d", db, "--json"])
    assert json.loads(r.output)["lines"] == 0


def test_plan_files_name_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("period,workplace,product,quantity\n1,mill,flour,100\n1,mill,bran,0\n"
                                    "1,mill,flour,3\nx,,bran,2\n")
    with pytest.raises(ReportError) as info:
        read_targets_csv(tmp_path / "t.csv")
    assert {(p.line, p.column) for p in info.value.problems} == {
        (3, "quantity"), (4, "*"), (5, "period"), (5, "workplace")}
    (tmp_path / "c.csv").write_text("workplace,product,input,per_unit,extra\nmill,flour,grain,1,2\n")
    with pytest.raises(ReportError, match="unknown column"):
        read_coefficients_csv(tmp_path / "c.csv")


def test_simulated_reports_reconcile_and_raise_alerts(tmp_path: Path) -> None:
    table = workplace_reports("command", 300, 10, seed=5, noise=0.0)
    reports = reports_from_simulation(table)
    # without measurement noise, only padded shipments differ from what receivers confirm
    rec = reconcile(reports)
    padders = {w for w, c in zip(table["workplace"].to_pylist(), table["cheat"].to_pylist(), strict=True)
               if c == "inflate"}
    suppliers = set(rec.shipments["supplier"].to_pylist())
    assert suppliers and suppliers <= padders
    assert np.allclose(rec.shipments["relative"].to_numpy(), 0.1 / 1.1)
    # as a CSV through the command line, and alerts from it
    path = tmp_path / "sim.csv"
    pcsv.write_csv(reports.table.select(list(COLUMNS)), path)
    db = str(tmp_path / "p.sqlite")
    assert runner.invoke(app, ["control", "import", str(path), "-d", db]).exit_code == 0
    r = runner.invoke(app, ["control", "alerts", "-d", db, "--window-days", "0"])
    assert r.exit_code == 0, r.output
    found = find_anomalies(reports)
    assert f"{len(found)} anomalies, {len(found)} new alerts" in r.output
    assert all(f.workplace in padders for f in found if f.indicator == "gap")
    assert f"{len(found)} published to the log" in r.output
