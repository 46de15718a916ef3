"""Where each regime wins and loses (issue 16): the sensitivity experiment's design, its indices
against a closed form, and the reports' axes and bands."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from glasnost.simulate import Params, SimulationError
from glasnost.simulate.params import behavioural_ranges
from glasnost.simulate.sensitivity import MARGINS, indices, problem, regions, sensitivity

pytest.importorskip("SALib")


def test_every_behavioural_parameter_has_a_range_inside_its_valid_values() -> None:
    from dataclasses import fields

    ranges = behavioural_ranges()
    assert len(ranges) >= 30
    meta = {f.name: f.metadata for f in fields(Params)}
    for name, (low, high) in ranges.items():
        assert low < high, name
        valid = meta[name].get("valid", (-np.inf, np.inf))
        assert valid[0] <= low and high <= valid[1], name
        assert meta[name]["source"], name


def test_sobol_indices_of_a_linear_margin_match_the_closed_form() -> None:
    # y = sum a_i x_i with independent uniform x_i: S1_i = ST_i = a_i^2 var_i / sum_j a_j^2 var_j
    from SALib.sample import sobol as sobol_sample

    names = ["effort_gap", "hiring_rate", "rating_coverage"]
    prob = problem(names)
    x = sobol_sample.sample(prob, 1024, calc_second_order=False, seed=1)
    a = np.array([3.0, 1.0, 0.5])
    y = x @ a
    width = np.array([hi - lo for lo, hi in prob["bounds"]])
    share = a**2 * width**2 / np.sum(a**2 * width**2)
    columns = {n: x[:, j] for j, n in enumerate(names)} | {m: y for m in MARGINS}
    meta = {"method": "sobol", "names": ",".join(names),
            "bounds": ";".join(f"{lo!r},{hi!r}" for lo, hi in prob["bounds"])}
    table = pa.table(columns).replace_schema_metadata(meta)
    got = [r for r in indices(table, outputs=["dem_vs_market_use"]).to_pylist()]
    assert [r["parameter"] for r in got] == names
    assert [r["S1"] for r in got] == pytest.approx(share, abs=0.03)
    assert [r["ST"] for r in got] == pytest.approx(share, abs=0.03)


def test_a_small_sensitivity_run_ranks_the_regimes_and_bins_the_settings() -> None:
    table = sensitivity(samples=2, years=4, enterprises=100, products=200.0, workers=1,
                        names=["effort_gap", "rating_coverage", "forecast_error"])
    assert table.num_rows == 2 * (3 + 2)
    for regime in ("command", "market", "democratic"):
        assert np.isfinite(table.column(f"{regime}_use").to_numpy()).all()
    dem = table.column("democratic_use").to_numpy()
    market = table.column("market_use").to_numpy()
    assert table.column("dem_vs_market_use").to_numpy() == pytest.approx(dem / market - 1)
    idx = indices(table)
    assert set(idx.column("output").to_pylist()) == set(MARGINS) and idx.num_rows == 3 * len(MARGINS)
    reg = regions(table, "effort_gap", bins=2)
    assert sum(reg.column("settings").to_pylist()) == table.num_rows
    morris = sensitivity(samples=2, years=3, enterprises=100, products=200.0, workers=1, method="morris",
                         names=["effort_gap", "rating_coverage"])
    assert morris.num_rows == 2 * 3 and "mu_star" in indices(morris).column_names


def test_bad_sensitivity_input_is_named() -> None:
    with pytest.raises(SimulationError, match="no range for ratchett"):
        problem(["ratchett"])
    with pytest.raises(SimulationError, match="method"):
        sensitivity(samples=2, method="fast", names=["effort_gap"], workers=1)


# --- reports: bands across seeds, numeric axes, units ---------------------------------------------


def test_experiment_plots_keep_the_seeds_and_draw_numeric_axes() -> None:
    from glasnost.report.simulate import _experiment_figures
    from glasnost.simulate.experiments import closures, complexity

    cx = complexity(products=(1e3, 1e4), years=3, seeds=(0, 1), enterprises=100)
    assert sorted(set(cx.column("seed").to_pylist())) == [0, 1]
    figures = _experiment_figures("complexity", cx)
    ax = figures[0][0].axes[0]
    assert ax.get_xscale() == "log"
    assert 1e4 in list(ax.get_xticks()) and "10,000" in [t.get_text() for t in ax.get_xticklabels()]
    assert len(ax.collections) == 2  # a band per regime
    cl = closures(years=3, seeds=(0, 1), enterprises=100, reform_after=2)
    fig = _experiment_figures("closures", cl)[0][0]
    for panel in fig.axes:
        styles = {line.get_linestyle() for line in panel.get_lines()}
        assert styles == {"-", "--"}  # on and off can be told apart where they coincide


def test_use_value_is_labelled_with_its_unit() -> None:
    from glasnost.report.simulate import PLOTTED, USE_UNIT, summary_rows
    from glasnost.simulate.run import simulate

    assert "per member of the labour force per year" in USE_UNIT
    assert USE_UNIT in dict(PLOTTED)["use_value"]
    rows = summary_rows(simulate(["market"], years=2, seeds=[0], enterprises=100))
    assert {r[0]: r[-1] for r in rows}["use_value"].endswith(f"({USE_UNIT})")
