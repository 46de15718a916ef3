"""HTML reports of regime simulations: one band per regime across seeds, the parameters used,
the calibration, and the named experiments."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
from matplotlib.figure import Figure

from glasnost.report.html import HtmlReport, new_figure
from glasnost.simulate.params import Params, parameter_table

COLOURS = {"command": "#b3261e", "market": "#1f5fa8", "democratic": "#2e7d32"}

PLOTTED = (
    ("output_true", "true net output (value at base prices, hours)"),
    ("report_gap", "reported / true output - 1"),
    ("growth_true", "true growth (1/yr)"),
    ("use_value", "use value delivered to households per worker"),
    ("shortage", "share of demand unmet"),
    ("concealment", "capacity kept off reports (share)"),
    ("unused_capacity", "unused capacity (share)"),
    ("quality", "quality (0..1)"),
    ("unemployment", "unemployment rate"),
    ("gini", "Gini of household income"),
    ("wage_spread", "P90/P10 wage between enterprises"),
    ("closed", "enterprises closed (cumulative)"),
    ("hours_worked", "hours per member of the labour force (incl. meetings)"),
    ("investment_rate", "investment rate"),
)
SUMMARY = ("output_true", "growth_true", "report_gap", "use_value", "shortage", "concealment", "unemployment",
           "gini", "wage_spread", "closed", "quality", "meeting_hours")


def _bands(table: pa.Table, measure: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per regime: years, median, 10th and 90th percentile across seeds."""
    out = {}
    regimes = table.column("regime").to_numpy(zero_copy_only=False)
    years = table.column("year").to_numpy()
    values = table.column(measure).to_numpy(zero_copy_only=False).astype(float)
    for regime in dict.fromkeys(regimes):
        mask = regimes == regime
        ys = np.unique(years[mask])
        grid = np.full((ys.size, int(mask.sum() // ys.size)), np.nan)
        for i, y in enumerate(ys):
            v = values[mask & (years == y)]
            grid[i, : v.size] = v
        with warnings.catch_warnings():  # all-NaN years (growth in year 0) stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            out[str(regime)] = (
                ys,
                np.nanmedian(grid, axis=1),
                np.nanpercentile(grid, 10, axis=1),
                np.nanpercentile(grid, 90, axis=1),
            )
    return out


def band_figure(table: pa.Table, measure: str, label: str, width: float = 7.0, height: float = 3.2) -> Figure:
    """A figure: median line and 10-90% band across seeds, one per regime."""
    fig, ax = new_figure(width, height)
    for regime, (ys, med, lo, hi) in _bands(table, measure).items():
        colour = COLOURS.get(regime)
        ax.plot(ys, med, label=regime, color=colour)
        ax.fill_between(ys, lo, hi, alpha=0.2, color=colour)
    ax.set_xlabel("year")
    ax.set_ylabel(label)
    ax.legend(frameon=False)
    return fig


def summary_rows(table: pa.Table, year: int | None = None) -> list[list[object]]:
    """Median across seeds of the headline measures in ``year`` (default: the last)."""
    rows = []
    for measure in SUMMARY:
        bands = _bands(table, measure)
        row: list[object] = [measure]
        for _regime, (ys, med, _lo, _hi) in bands.items():
            i = -1 if year is None else int(np.searchsorted(ys, year))
            row.append(float(med[i]))
        rows.append(row)
    return rows


def simulation_report(
    table: pa.Table,
    params: Params,
    *,
    title: str = "glasnost simulate: three regimes on one economy",
    calibration: list[list[object]] | None = None,
    note: str | None = None,
) -> HtmlReport:
    """Report of a :func:`glasnost.simulate.simulate` table."""
    report = HtmlReport(title)
    regimes = list(dict.fromkeys(table.column("regime").to_pylist()))
    seeds = len(set(table.column("seed").to_pylist()))
    years = len(set(table.column("year").to_pylist()))
    report.paragraph(
        f"Regimes {', '.join(regimes)}; {years} years; {seeds} seeds. Every regime starts from the same "
        "economy for a given seed. Lines are medians across seeds, bands the 10th to 90th percentile. "
        "Quantities are at base prices (labour values, hours)."
    )
    if note:
        report.paragraph(note, css="note")
    report.heading("At the end")
    report.table(["measure", *regimes], summary_rows(table), caption="median across seeds, last year")
    report.heading("Over time")
    for measure, label in PLOTTED:
        report.figure(band_figure(table, measure, label), f"sim-{measure}", label)
    if calibration is not None:
        report.heading("Calibration")
        report.table(["target", "figure", "tolerance", "model", "within"], calibration,
                     caption="calibrated defaults against published figures (glasnost.simulate.calibrate)")
    parameters_section(report, params)
    return report


def parameters_section(report: HtmlReport, params: Params) -> None:
    report.heading("Parameters used")
    report.table(["parameter", "value", "default", "unit", "meaning", "source"], parameter_table(params))


def experiment_report(
    name: str, table: pa.Table, params: Params, headline: tuple[str, pa.Table] | None = None
) -> HtmlReport:
    """Report of a named experiment (:mod:`glasnost.simulate.experiments`): the ``headline``
    table first (a caption and a table, e.g. the pipe plant's exact numbers), the figure, the
    experiment's whole table and the parameters used."""
    report = HtmlReport(f"glasnost simulate: the {name} experiment")
    if headline is not None:
        caption, small = headline
        head = small.to_pandas()
        report.table(list(head.columns), [list(r) for r in head.itertuples(index=False)], caption=caption)
    frame = table.to_pandas()
    fig, ax = new_figure(7.0, 3.4)
    if "year" in frame.columns:
        measure = {"pipe": "use_value", "closures": "unemployment"}.get(name, frame.columns[-1])
        for value, part in frame.groupby("value"):
            part = part.sort_values("year")
            ax.plot(part["year"], part[measure], label=f"{value}")
        ax.set_xlabel("year")
        ax.set_ylabel(measure)
        ax.legend(frameon=False, title={"pipe": "indicator", "closures": "closures"}.get(name))
    elif name == "complexity":
        for regime, part in frame.groupby("regime"):
            ax.plot(part["value"], part["growth_true"], marker="o", label=regime, color=COLOURS.get(regime))
        ax.set_xscale("log")
        ax.set_xlabel("products to coordinate at the start")
        ax.set_ylabel("mean true growth (1/yr)")
        ax.legend(frameon=False)
    else:
        part = frame[frame["value"] != "command"] if name == "audit" else frame
        x = part["value"].astype(float)
        ax.plot(x, part["concealment"], marker="o", color=COLOURS["democratic" if name == "audit" else "command"])
        ax.set_xlabel({"audit": "audit probability", "ratchet": "ratchet lambda"}.get(name, "value"))
        ax.set_ylabel("concealment (share of capacity)")
    report.figure(fig, f"exp-{name}", f"the {name} experiment")
    report.table(list(frame.columns), [list(r) for r in frame.itertuples(index=False)], caption=f"the {name} runs")
    parameters_section(report, params)
    return report


def comparison_section(report: HtmlReport, table: pa.Table) -> None:
    """The demo's regime comparison: a summary table and three plots."""
    regimes = list(dict.fromkeys(table.column("regime").to_pylist()))
    years = len(set(table.column("year").to_pylist()))
    report.heading("Three regimes on one economy")
    report.paragraph(
        f"The demo economy's technology run for {years} years under command planning, market socialism "
        "(the 1987 law) and democratic planning with open books, calibrated defaults, one seed "
        "(glasnost simulate runs more years, seeds and named experiments)."
    )
    report.table(["measure", *regimes], summary_rows(table), caption="last year")
    for measure in ("use_value", "concealment", "unemployment"):
        label = dict(PLOTTED)[measure]
        report.figure(band_figure(table, measure, label), f"regimes-{measure}", label)
