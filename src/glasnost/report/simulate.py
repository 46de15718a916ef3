"""HTML reports of regime simulations: one band per regime across seeds, the parameters used,
the calibration, and the named experiments."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pyarrow as pa
from matplotlib.figure import Figure

from glasnost.report.html import HtmlReport, new_figure
from glasnost.simulate.params import Params, parameter_table

COLOURS = {"command": "#b3261e", "market": "#1f5fa8", "democratic": "#2e7d32"}

USE_UNIT = "use-weighted base-price hours of consumer goods per member of the labour force per year"
PLOTTED = (
    ("output_true", "true net output (base-price value, hours a year)"),
    ("report_gap", "reported / true output - 1"),
    ("growth_trend", "growth from the common start, compound (1/yr)"),
    ("growth_true", "true growth, year on year (1/yr)"),
    ("use_value", f"use value delivered ({USE_UNIT})"),
    ("shortage", "share of households' demand (base-price value) unmet"),
    ("concealment", "capacity kept off reports (share)"),
    ("unused_capacity", "unused capacity (share)"),
    ("quality", "quality (0..1)"),
    ("effort", "effort (output per worker-hour, year 0 = 1)"),
    ("hoarding", "inputs hoarded above need (share of inputs)"),
    ("input_shortfall", "inputs not delivered as planned or ordered (share)"),
    ("unemployment", "unemployment rate"),
    ("gini", "Gini of household income"),
    ("wage_spread", "P90/P10 wage between enterprises"),
    ("closed", "enterprises closed (cumulative)"),
    ("meeting_hours", "planning meetings (hours per worker a year)"),
    ("hours_worked", "hours at work per member of the labour force"),
    ("investment_rate", "investment rate"),
)
SUMMARY = ("output_true", "growth_trend", "report_gap", "use_value", "shortage", "concealment", "unemployment",
           "gini", "wage_spread", "closed", "quality", "effort", "hoarding", "meeting_hours")
UNITS = {m: label for m, label in PLOTTED}


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
    """Median across seeds of the headline measures in ``year`` (default: the last), with units."""
    rows = []
    for measure in SUMMARY:
        bands = _bands(table, measure)
        row: list[object] = [measure]
        for _regime, (ys, med, _lo, _hi) in bands.items():
            i = -1 if year is None else int(np.searchsorted(ys, year))
            row.append(float(med[i]))
        row.append(UNITS.get(measure, ""))
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
    report.table(["measure", *regimes, "unit"], summary_rows(table), caption="median across seeds, last year")
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


def _seed_band(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x values, median, 10th, 90th percentile of y across the rows sharing each x)."""
    xs = np.unique(x[np.isfinite(x)])
    stats = np.array([np.nanpercentile(y[x == v], [50, 10, 90]) if np.isfinite(y[x == v]).any()
                      else [np.nan] * 3 for v in xs]).reshape(-1, 3)
    return xs, stats[:, 0], stats[:, 1], stats[:, 2]


def _band_plot(ax, x: np.ndarray, y: np.ndarray, label: str, colour: str | None = None, style: str = "-",
               marker: str | None = "o") -> None:
    xs, med, lo, hi = _seed_band(x, y)
    line = ax.plot(xs, med, style, marker=marker, label=label, color=colour)[0]
    ax.fill_between(xs, lo, hi, alpha=0.18, color=line.get_color())


def _column(frame: pa.Table, name: str) -> np.ndarray:
    return frame.column(name).to_numpy(zero_copy_only=False)


def experiment_report(
    name: str, table: pa.Table, params: Params, headline: tuple[str, pa.Table] | None = None
) -> HtmlReport:
    """Report of a named experiment (:mod:`glasnost.simulate.experiments`): the ``headline``
    table first (a caption and a table, e.g. the pipe plant's exact numbers), the figures (the
    median across seeds and the 10-90% band), the experiment's whole table and the parameters
    used."""
    if name == "sensitivity":
        return sensitivity_report(table, params)
    report = HtmlReport(f"glasnost simulate: the {name} experiment")
    if headline is not None:
        caption, small = headline
        report.table(small.column_names, [list(r.values()) for r in small.to_pylist()], caption=caption)
    seeds = len(set(table.column("seed").to_pylist())) if "seed" in table.column_names else 1
    report.paragraph(f"{seeds} seeds; lines are medians across seeds, bands the 10th to 90th percentile.")
    for fig, file, caption in _experiment_figures(name, table):
        report.figure(fig, file, caption)
    report.table(table.column_names, [list(r.values()) for r in table.to_pylist()], caption=f"the {name} runs")
    parameters_section(report, params)
    return report


def _experiment_figures(name: str, table: pa.Table) -> list[tuple[Figure, str, str]]:
    values = np.asarray(table.column("value").to_pylist(), dtype=object)
    out = []
    if name in ("pipe", "closures"):
        return _yearly_figures(name, table, values)
    x = _column(table, "x").astype(float)
    if name == "complexity":
        regimes = np.asarray(table.column("regime").to_pylist(), dtype=object)
        for measure, label in (("growth_trend", "growth from the common start to the last year (1/yr)"),
                               ("efficiency", "share of capacity coordination leaves usable"),
                               ("rounds", "planning rounds a year (mean)")):
            fig, ax = new_figure(7.0, 3.4)
            for regime in dict.fromkeys(regimes):
                mask = regimes == regime
                _band_plot(ax, x[mask], _column(table, measure)[mask].astype(float), regime, COLOURS.get(regime))
            ax.set_xscale("log")
            ax.set_xticks(np.unique(x))
            ax.set_xticklabels([f"{v:,.0f}" for v in np.unique(x)])
            ax.set_xlabel("products to coordinate at the start (log scale)")
            ax.set_ylabel(label)
            ax.legend(frameon=False)
            out.append((fig, f"exp-complexity-{measure}", label))
        return out
    numeric = np.isfinite(x)
    fig, ax = new_figure(7.0, 3.4)
    colour = COLOURS["democratic" if name == "audit" else "command"]
    _band_plot(ax, x[numeric], _column(table, "concealment")[numeric].astype(float),
               "democratic planning" if name == "audit" else "command planning", colour)
    if name == "audit" and (~numeric).any():
        ref = _column(table, "concealment")[~numeric].astype(float)
        ax.axhspan(np.nanpercentile(ref, 10), np.nanpercentile(ref, 90), color=COLOURS["command"], alpha=0.15)
        ax.axhline(np.nanmedian(ref), color=COLOURS["command"], label="command planning (its own audits)")
    ax.set_xlabel({"audit": "audit probability a year", "ratchet": "ratchet lambda"}.get(name, "value"))
    ax.set_ylabel("concealment (share of capacity kept off reports)")
    ax.legend(frameon=False)
    out.append((fig, f"exp-{name}", f"concealment by {name}"))
    return out


def _yearly_figures(name: str, table: pa.Table, values: np.ndarray) -> list[tuple[Figure, str, str]]:
    """Pipe and closures: each measure by year, one panel per starting economy, one line and
    band per setting (solid: indicator use / closures on; dashed: tonnes / closures off)."""
    if name == "pipe":
        measures = (("use_value", f"use value ({USE_UNIT})"), ("light_share", "light variant's share of output"))
    else:
        measures = (("unemployment", "unemployment rate"), ("closed", "enterprises closed (cumulative)"),
                    ("gini", "Gini of household income"))
    year = _column(table, "year").astype(float)
    keys = list(dict.fromkeys(values))
    groups = [("from year 0", [v for v in keys if "after" not in str(v)]),
              ("after the command years (the 1987 reform)", [v for v in keys if "after" in str(v)])]
    panels = [g for g in groups if g[1]]
    out = []
    for measure, label in measures:
        fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 3.4), squeeze=False)
        for ax, (title, group) in zip(axes[0], panels, strict=True):
            for k, key in enumerate(group):
                mask = values == key
                solid = str(key).startswith("True") or key == "use"
                legend = f"closures {str(key).split()[0].lower()}" if name == "closures" else f"indicator {key}"
                _band_plot(ax, year[mask], _column(table, measure)[mask].astype(float), legend,
                           style="-" if solid else "--", marker="o" if k == 0 else "s")
            ax.set_xlabel("year")
            ax.set_ylabel(label)
            ax.set_title(title, fontsize=9)
            ax.legend(frameon=False)
        how = "solid: indicator use, dashed: tonnes" if name == "pipe" else "closures on: solid, off: dashed"
        out.append((fig, f"exp-{name}-{measure}", f"{label} ({how})"))
    return out


def sensitivity_report(table: pa.Table, params: Params, top: int = 12) -> HtmlReport:
    """Which behavioural parameters decide the ranking of the regimes, and where each wins and
    loses (:mod:`glasnost.simulate.sensitivity`)."""
    from glasnost.simulate.sensitivity import MARGINS, indices, regions

    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    report = HtmlReport("glasnost simulate: where each regime wins and loses")
    uses = np.column_stack([_column(table, f"{r}_use").astype(float) for r in ("command", "market", "democratic")])
    first = np.argmax(np.nan_to_num(uses, nan=-np.inf), axis=1)
    shares = [float(np.mean(first == k)) for k in range(3)]
    report.paragraph(
        f"{table.num_rows} parameter settings ({meta.get('method', '?')} design, base sample {meta.get('samples')}), "
        f"each running the three regimes for {meta.get('years')} years on {meta.get('enterprises')} enterprises "
        f"(seeds {meta.get('seeds')}, {float(meta.get('products', 'nan')):,.0f} products at the start), every "
        "behavioural parameter drawn uniformly over its range (the Params table's 'range'). Use value is "
        f"{USE_UNIT}, in the last year."
    )
    report.table(["regime", "share of settings where it delivers the most use value"],
                 [["command", shares[0]], ["market", shares[1]], ["democratic", shares[2]]])
    rows = []
    for margin in MARGINS:
        v = _column(table, margin).astype(float)
        rows.append([margin, float(np.nanmedian(v)), float(np.nanpercentile(v, 10)), float(np.nanpercentile(v, 90)),
                     float(np.mean(v < 0))])
    report.table(["democratic margin (democratic / other - 1)", "median", "10th pct", "90th pct",
                  "share of settings where democratic planning loses"], rows)
    idx = indices(table)
    method = meta.get("method", "sobol")
    key = "ST" if method == "sobol" else "mu_star"
    for margin in MARGINS:
        part = [r for r in idx.to_pylist() if r["output"] == margin]
        part.sort(key=lambda r: -np.nan_to_num(r[key]))
        report.heading(f"{margin}: which parameters decide it")
        shown = part[:top]
        fig, ax = new_figure(7.0, 0.3 * len(shown) + 1.2)
        names = [r["parameter"] for r in shown][::-1]
        if method == "sobol":
            ax.barh(names, [r["ST"] for r in shown][::-1], xerr=[r["ST_conf"] for r in shown][::-1], color="#888",
                    label="total (with interactions)")
            ax.barh(names, [r["S1"] for r in shown][::-1], color="#2e7d32", alpha=0.8, label="first order (alone)")
            ax.set_xlabel("Sobol' index: share of the margin's variance")
        else:
            ax.barh(names, [r["mu_star"] for r in shown][::-1], color="#888")
            ax.set_xlabel("Morris mu* (mean absolute elementary effect)")
        ax.legend(frameon=False, fontsize=8)
        report.figure(fig, f"sens-{margin}", f"{margin}: the {len(shown)} most influential parameters")
        cols = [c for c in idx.column_names if c != "output"]
        report.table(cols, [[r[c] for c in cols] for r in part], caption=f"{margin}: all parameters")
    report.heading("Where democratic planning wins and loses")
    ranked = [r for r in idx.to_pylist() if r["output"] == "dem_vs_market_use"]
    ranked.sort(key=lambda r: -np.nan_to_num(r[key]))
    for r in ranked[:4]:
        reg = regions(table, r["parameter"])
        fig, ax = new_figure(7.0, 3.2)
        centre = _column(reg, "centre")
        ax.plot(centre, _column(reg, "dem_vs_market_use"), "o-", color=COLOURS["market"],
                label="democratic / market - 1 (use value, median)")
        ax.plot(centre, _column(reg, "dem_vs_command_use"), "s--", color=COLOURS["command"],
                label="democratic / command - 1 (use value, median)")
        ax.plot(centre, _column(reg, "democratic_first"), "^:", color=COLOURS["democratic"],
                label="share of settings where democratic planning is first")
        ax.axhline(0.0, color="#444", lw=0.8)
        ax.set_xlabel(r["parameter"])
        ax.legend(frameon=False, fontsize=8)
        report.figure(fig, f"region-{r['parameter']}", f"democratic planning's margins by {r['parameter']}")
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
    report.table(["measure", *regimes, "unit"], summary_rows(table), caption="last year")
    for measure in ("use_value", "concealment", "unemployment"):
        label = dict(PLOTTED)[measure]
        report.figure(band_figure(table, measure, label), f"regimes-{measure}", label)
