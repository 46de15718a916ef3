"""The BEA 2017 detail tables: both technology assumptions, values and gross output on the result.

Published results: these tests never skip. Reading ``.rda`` files needs the ``data`` extra (in the
``test`` extra); without it they fail with the loader's message that says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from glasnost.cli import app
from glasnost.compute import gross_output, labour_values
from glasnost.data.bea import load_bea, load_bea_dir
from glasnost.data.supply_use import symmetric
from glasnost.economy import EconomyError, NotProductiveError, load


@pytest.fixture(scope="module")
def detail(data_dir: Path):
    return load_bea_dir(data_dir / "bea", "detail")


def test_detail_tables_read(detail) -> None:
    assert detail.industries.size == 402 and detail.commodities.size == 402
    # the make table's own totals: industry output T008, and the use table's compensation row
    assert detail.industry_output.sum() == pytest.approx(detail.commodity_output.sum())
    assert np.isfinite(detail.labour).all() and detail.labour.sum() > 1e7  # about $10.4 trillion


def test_industry_technology_on_detail(detail) -> None:
    s = symmetric(detail, "industry")
    summary = s.summary()
    # two commodities have no domestic output (non-comparable imports, used goods)
    assert s.size == 400 and sorted(summary["not_produced"]) == ["S00300", "S00402"]
    assert 0.53 < summary["nonzero_share"] < 0.55
    assert summary["negative_coefficients"] == 30  # from negative entries of the use table
    assert summary["spectral_radius"] == pytest.approx(0.4887, abs=1e-3)
    # the commodity balance q = A q + f holds for the unclipped table (BEA rounds to $1 million)
    x = np.linalg.solve(np.eye(s.size) - s.A, s.final_demand)
    np.testing.assert_allclose(x, s.output, rtol=2e-3, atol=20.0)
    # the total compensation is embodied in final demand: v f = sum of wages
    v = np.linalg.solve((np.eye(s.size) - s.A).T, s.labour)
    assert v @ s.final_demand == pytest.approx(detail.labour.sum(), rel=1e-3)


def test_economy_values_and_gross_output(detail) -> None:
    s = symmetric(detail, "industry")
    with pytest.raises(EconomyError, match="negative coefficients under the industry-technology"):
        s.to_economy()
    economy = s.to_economy(negatives="zero")
    assert len(economy._meta["import"]["negatives"]) == 30
    A = np.where(s.A < 0, 0.0, s.A)
    vals = labour_values(economy, method="gmres", rtol=1e-13)
    expected = np.linalg.solve((np.eye(s.size) - A).T, s.labour)
    np.testing.assert_allclose(vals.labour, expected, rtol=1e-10)
    g = gross_output(economy, method="direct")
    f = np.maximum(s.final_demand, 0.0)
    np.testing.assert_allclose(g.gross, np.linalg.solve(np.eye(s.size) - A, f), rtol=1e-10)


def test_commodity_technology_on_detail_is_reported(detail) -> None:
    s = symmetric(detail, "commodity")
    summary = s.summary()
    # two commodities made only by one industry (S00600) cannot be told apart
    assert summary["rank_deficient_commodities"] == ["S00600", "S00900"]
    assert summary["least_squares_residual"] > 0
    assert summary["negative_coefficients"] > 10_000 and summary["spectral_radius"] > 1
    with pytest.raises(NotProductiveError):
        s.to_economy(negatives="zero")


def test_spreadsheet_layout_reads_the_same(detail, tmp_path: Path, data_dir: Path) -> None:
    import openpyxl
    import rdata

    def write(frame, path: Path, title: str) -> None:
        book = openpyxl.Workbook()
        ws = book.active
        ws.title = "2017"
        ws.append([title])
        ws.append(["[Millions of dollars]"])
        ws.append([])
        ws.append(["Code", "Commodity Description", *[str(c) for c in frame.columns]])
        ws.append(["", "", *[f"name of {c}" for c in frame.columns]])
        for code, row in zip(frame.index, frame.to_numpy(), strict=True):
            ws.append([str(code), f"name of {code}", *[None if v == 0 else float(v) for v in row]])
        ws.append(["Legend / Footnotes:"])
        book.save(path)

    bea = data_dir / "bea"
    for kind, name in (("Make", "Make_2017_BeforeRedef_17sch"), ("Use", "Use_2017_PRO_BeforeRedef_17sch")):
        frame = next(iter(rdata.read_rda(str(bea / f"Detail_{name}.rda")).values()))
        write(frame, tmp_path / f"IO{kind}_Before_Redefinitions_2017_Detail.xlsx", f"The {kind} Table")
    su = load_bea(
        tmp_path / "IOMake_Before_Redefinitions_2017_Detail.xlsx",
        tmp_path / "IOUse_Before_Redefinitions_2017_Detail.xlsx",
    )
    np.testing.assert_array_equal(su.make, detail.make)
    np.testing.assert_array_equal(su.use, detail.use)
    np.testing.assert_array_equal(su.labour, detail.labour)
    assert su.commodity_names[0] == "name of 1111A0"


def test_import_command_writes_an_economy(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bea"
    result = CliRunner().invoke(app, ["import", str(data_dir / "bea"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    economy = load(out)
    assert economy.technique.size == 400
    report = json.loads((out / "import-report.json").read_text())
    assert report["negative_coefficients"] == 30 and report["assumption"] == "industry"
    bad = CliRunner().invoke(app, ["import", str(tmp_path), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "no BEA detail make and use tables" in bad.output
