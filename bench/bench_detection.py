"""Detecting a 10% inflation of reported output: Cyberstride (Harrison-Stevens) against a z-score and a CUSUM.

Reports come from the regime simulator (:func:`glasnost.simulate.reports.workplace_reports`,
command regime: managers who pad output by 10% once they fall short of a ratcheted target,
managers who hide capacity, honest workplaces; 1% measurement noise on every reported figure,
4% capacity shocks per period). Every detector sees reported figures only.

Protocol: each detector's threshold is set on a calibration run (its own seed) so that at most
``--target`` of honest workplace-periods alarm (default 0.75%, a margin under the 1% aimed at);
the detection rate and false alarms are then measured on fresh runs (other seeds) and the
median over them is shown. Detection: an ``inflate`` workplace alarmed in the period its padding
starts or the two after (within 3 periods). False alarms: the share of honest workplace-periods
alarmed (periods 3 on), and the share of honest workplaces alarmed at least once over the run.

Sides: **both** (what suppliers say they shipped against what receivers confirm: the ``gap``
indicator, and ``gap2`` over the period and the one before), **supplier only** (its reported
output against its reported capacity, Beer's productivity; or its output history alone),
**receivers only** (what receivers confirm).

    python bench/bench_detection.py [--workplaces 2000] [--periods 16] [--seeds 3] [--noise 0.01] [--report DIR]

What the table rests on, as curves (``--curves DIR``): detection and false alarms against
measurement noise and padding size, and against what honest reports look like besides noise
(utilisation below capacity that varies per period, transit losses, part of a delivery booked a
period late, receivers colluding with a padding supplier; see :func:`workplace_reports`). Each point is
calibrated on its own conditions (a calibration run with the same settings, as a control body
that knows its workplaces' usual variation would); beside it, the false alarms of the threshold
set under the baseline assumptions (1% noise, nothing else), i.e. of a control body that assumed
the textbook case. Writes ``DIR/detection-*.png`` and ``DIR/detection-curves.csv``.

    python bench/bench_detection.py --curves docs [--workplaces 2000] [--periods 16] [--seeds 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from glasnost.control.detect import (
    Panel,
    cusum_scores,
    evaluate,
    hs_scores,
    indicator_panel,
    threshold_for,
    zscore_scores,
)
from glasnost.simulate.reports import workplace_reports

DETECTORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Cyberstride (Harrison-Stevens)": hs_scores,
    "z-score (own last 6)": zscore_scores,
    "CUSUM (Page)": cusum_scores,
}
SIDES = (
    ("both: shipped vs confirmed", "gap"),
    ("both, over two periods", "gap2"),
    ("supplier only: output / capacity", "productivity"),
    ("supplier only: output history", "output"),
    ("receivers only: confirmed", "received"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workplaces", type=int, default=2000)
    ap.add_argument("--periods", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=3, help="test runs (each a fresh simulation)")
    ap.add_argument("--target", type=float, default=0.0075, help="false alarm share the thresholds are set to")
    ap.add_argument("--regime", default="command")
    ap.add_argument("--noise", type=float, default=0.01, help="s.d. of relative measurement noise on every report")
    ap.add_argument("--report", type=Path, default=None, help="write an HTML report with the curves here")
    ap.add_argument("--curves", type=Path, default=None, help="sweep noise, padding and honest variation; write "
                    "PNG curves and a CSV here (instead of the table)")
    args = ap.parse_args()
    console = Console()
    if args.curves is not None:
        curves(args, Console(width=200))
        return
    t0 = time.perf_counter()
    calibration = indicator_panel(
        workplace_reports(args.regime, args.workplaces, args.periods, seed=1000, noise=args.noise)
    )
    tests = [indicator_panel(workplace_reports(args.regime, args.workplaces, args.periods, seed=s, noise=args.noise))
             for s in range(1, args.seeds + 1)]
    gen_s = time.perf_counter() - t0
    n_inflate = [int(((p.cheat == "inflate") & (p.cheat_start >= 3)).sum()) for p in tests]
    n_honest = [int((p.cheat == "honest").sum()) for p in tests]
    table = Table(
        title=(
            f"Detection of a 10% output inflation within 3 periods, {args.regime} regime, "
            f"{args.workplaces} workplaces x {args.periods} periods, {args.noise:.0%} noise, median of {args.seeds} "
            "test runs "
            f"({n_inflate} inflating, {n_honest} honest workplaces per run)"
        )
    )
    for col in ("reports available", "detector", "detection", "false alarms / period", "honest ever alarmed",
                "threshold", "time / run (s)"):
        table.add_column(col, justify="left" if col in ("reports available", "detector") else "right")
    honest_cal = calibration.cheat == "honest"
    rows: list[list[object]] = []
    for side, indicator in SIDES:
        for name, score in DETECTORS.items():  # interleaved: every detector on the same panels
            th = threshold_for(score(calibration.values[indicator]), honest_cal, args.target)
            results, times = [], []
            for panel in tests:
                t = time.perf_counter()
                s = score(panel.values[indicator])
                times.append(time.perf_counter() - t)
                results.append(evaluate(s, panel, th))
            det = np.median([r.detection for r in results])
            fa = np.median([r.false_alarm_periods for r in results])
            ever = np.median([r.false_alarm_workplaces for r in results])
            table.add_row(side, name, f"{det:.1%}", f"{fa:.2%}", f"{ever:.1%}", f"{th:.4g}",
                          f"{np.median(times):.3f}")
            rows.append([side, name, f"{det:.1%}", f"{fa:.2%}", f"{ever:.1%}", f"{np.median(times):.3f}"])
        table.add_section()
    console.print(table)
    if args.report is not None:
        write_report(args.report, calibration, tests[0], rows, args)
        console.print(f"Report written to {args.report / 'index.html'}")
    console.print(
        f"Simulation {gen_s:.1f} s. Thresholds set on a separate calibration run (seed 1000) at {args.target:.2%} "
        "false alarms per honest workplace-period. Machine shared with other sessions (2 cores); times are medians."
    )


def write_report(directory: Path, calibration: Panel, test: Panel, rows: list[list[object]],
                 args: argparse.Namespace) -> None:
    """The table, and detection against false alarms over thresholds (one panel per side of the reports)."""
    from glasnost.report.html import HtmlReport, new_figure

    report = HtmlReport("Detecting a 10% inflation of reported output")
    report.paragraph(
        f"Regime simulator, {args.regime} regime, {args.workplaces} workplaces x {args.periods} periods; "
        "thresholds set "
        f"on a calibration run at {args.target:.2%} false alarms per honest workplace-period, measured on fresh runs "
        "(medians). Detection: an inflating workplace alarmed within 3 periods of starting."
    )
    report.table(["reports available", "detector", "detection", "false alarms / period", "honest ever alarmed",
                  "time / run (s)"], rows)
    levels = np.geomspace(0.0005, 0.1, 16)
    honest_cal = calibration.cheat == "honest"
    for side, indicator in SIDES:
        fig, ax = new_figure(6.0, 4.0)
        for name, score in DETECTORS.items():
            cal_s, test_s = score(calibration.values[indicator]), score(test.values[indicator])
            pts = [evaluate(test_s, test, threshold_for(cal_s, honest_cal, lv)) for lv in levels]
            ax.plot([p.false_alarm_periods for p in pts], [p.detection for p in pts], marker="o", ms=3, label=name)
        ax.axvline(0.01, color="grey", ls=":", lw=1)
        ax.axhline(0.95, color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("false alarms per honest workplace-period")
        ax.set_ylabel("inflators detected within 3 periods")
        ax.set_title(side)
        ax.legend(fontsize=8)
        report.figure(fig, indicator, f"{side}: detection against false alarms as the threshold moves (test run 1)")
    report.write(directory)


# ---- what the figures rest on: sweeps --------------------------------------------------------------

CURVE_SIDES = (("both: shipped vs confirmed", "gap"), ("both, over two periods", "gap2"),
               ("supplier only: output / capacity", "productivity"))
CURVE_DETECTORS = ("Cyberstride (Harrison-Stevens)", "CUSUM (Page)", "z-score (own last 6)")
BASELINE = {"noise": 0.01, "inflation": 0.10}
SWEEPS: dict[str, tuple[str, str, tuple[float, ...]]] = {
    # name: (parameter, axis label, values); every other setting as in BASELINE
    "noise": ("noise", "measurement noise (s.d., share of each figure)", (0.005, 0.01, 0.02, 0.03, 0.05)),
    "padding": ("inflation", "padding (share added to output and claimed shipments; tolerance min(2%, half))",
                (0.02, 0.03, 0.05, 0.10, 0.20)),
    "utilisation": ("utilisation_sd", "honest utilisation varying per period (s.d. of the shortfall)",
                    (0.0, 0.01, 0.02, 0.05)),
    "transit": ("transit_loss", "transit losses (mean share of a delivery)", (0.0, 0.01, 0.02, 0.05)),
    "timing": ("timing_mismatch", "share of a delivery booked a period late (mean)", (0.0, 0.02, 0.05, 0.1)),
    "collusion": ("collusion", "receivers colluding with a padding supplier (probability)", (0.0, 0.25, 0.5, 1.0)),
}


def _panels(args: argparse.Namespace, params: dict[str, float]) -> tuple[Panel, list[Panel]]:
    def run(seed: int) -> Panel:
        return indicator_panel(workplace_reports(args.regime, args.workplaces, args.periods, seed=seed, **params))

    return run(1000), [run(s) for s in range(1, args.seeds + 1)]


def curves(args: argparse.Namespace, console: Console) -> None:
    """Every sweep point: detection and false alarms per side and detector (median over the test runs)."""
    import csv

    args.curves.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cache: dict[tuple[tuple[str, float], ...], dict[tuple[str, str], dict[str, float]]] = {}
    baseline_thresholds: dict[tuple[str, str], float] = {}
    rows: list[dict[str, object]] = []
    points = [(name, param, v) for name, (param, _, values) in SWEEPS.items() for v in values]
    cache[tuple(sorted(BASELINE.items()))] = _measure(args, BASELINE, baseline_thresholds)  # sets their thresholds
    for i, (name, param, value) in enumerate(points, 1):
        params = {**BASELINE, param: value}
        if param == "inflation" and value / 2 < 0.02:  # a manager pads a shortfall above the tolerance (2%)
            params["tolerance"] = value / 2  # and up to the padding: for small paddings, a smaller tolerance
        key = tuple(sorted(params.items()))
        if key not in cache:
            cache[key] = _measure(args, params, baseline_thresholds)
        for (side, detector), m in cache[key].items():
            rows.append({"sweep": name, "parameter": param, "value": value, "side": side, "detector": detector, **m})
        cyber = cache[key][(CURVE_SIDES[0][0], CURVE_DETECTORS[0])]
        console.print(f"[{i}/{len(points)}] {param} = {value:g}: both sides, Cyberstride {cyber['detection']:.1%} "
                      f"detected, {cyber['false_alarms']:.2%} false alarms  ({time.perf_counter() - t0:.0f} s)",
                      highlight=False)
    with (args.curves / "detection-curves.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    _print_curves(console, rows)
    _plot_curves(args, rows)
    console.print(f"{len(cache)} settings x {args.seeds + 1} runs of {args.workplaces} workplaces x {args.periods} "
                  f"periods in {time.perf_counter() - t0:.0f} s; written to {args.curves}")


def _measure(args: argparse.Namespace, params: dict[str, float],
             baseline_thresholds: dict[tuple[str, str], float]) -> dict[tuple[str, str], dict[str, float]]:
    calibration, tests = _panels(args, params)
    honest = calibration.cheat == "honest"
    out: dict[tuple[str, str], dict[str, float]] = {}
    for side, indicator in CURVE_SIDES:
        for name in CURVE_DETECTORS:
            score = DETECTORS[name]
            th = threshold_for(score(calibration.values[indicator]), honest, args.target)
            baseline_thresholds.setdefault((side, name), th)  # the first call is the baseline's
            scores = [score(p.values[indicator]) for p in tests]
            own = [evaluate(s, p, th) for s, p in zip(scores, tests, strict=True)]
            naive = [evaluate(s, p, baseline_thresholds[(side, name)]) for s, p in zip(scores, tests, strict=True)]
            out[(side, name)] = {
                "detection": float(np.median([r.detection for r in own])),
                "false_alarms": float(np.median([r.false_alarm_periods for r in own])),
                "honest_ever_alarmed": float(np.median([r.false_alarm_workplaces for r in own])),
                "detection_baseline_threshold": float(np.median([r.detection for r in naive])),
                "false_alarms_baseline_threshold": float(np.median([r.false_alarm_periods for r in naive])),
                "inflating": float(np.median([r.cheaters for r in own])),
                "honest": float(np.median([r.honest for r in own])),
            }
    return out


def _print_curves(console: Console, rows: list[dict[str, object]]) -> None:
    """One line per setting and side: detection / false alarms per period of each detector, and of
    Cyberstride's threshold set under the baseline assumptions."""
    table = Table(title="What detection rests on: padders caught within 3 periods / false alarms per honest "
                        "workplace-period (median of the test runs; each setting calibrated on a run of its own; "
                        "last column: Cyberstride with the threshold set at 1% noise and nothing else)")
    table.add_column("setting")
    table.add_column("reports available")
    for name in CURVE_DETECTORS:
        table.add_column(name.split(" (")[0], justify="right")
    table.add_column("baseline threshold", justify="right")
    last = None
    for sweep in SWEEPS:
        for value in SWEEPS[sweep][2]:
            for side, _ in CURVE_SIDES:
                at = {r["detector"]: r for r in rows if r["sweep"] == sweep and r["value"] == value
                      and r["side"] == side}
                if last is not None and sweep != last:
                    table.add_section()
                last = sweep
                cyber = at[CURVE_DETECTORS[0]]
                table.add_row(f"{SWEEPS[sweep][0]} {value:g}", side,
                              *(f"{at[d]['detection']:.1%} / {at[d]['false_alarms']:.2%}" for d in CURVE_DETECTORS),
                              f"{cyber['detection_baseline_threshold']:.1%} / "
                              f"{cyber['false_alarms_baseline_threshold']:.2%}")
    console.print(table)


def _plot_curves(args: argparse.Namespace, rows: list[dict[str, object]]) -> None:
    """Per sweep one figure: detection (left) and false alarms per honest workplace-period (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {CURVE_DETECTORS[0]: "-", CURVE_DETECTORS[1]: "--", CURVE_DETECTORS[2]: ":"}
    colours = dict(zip([side for side, _ in CURVE_SIDES], ("tab:blue", "tab:green", "tab:orange"), strict=True))
    groups = {"noise-padding": ("noise", "padding"), "honest": ("utilisation", "transit", "timing", "collusion")}
    for file, sweeps in groups.items():
        fig, axes = plt.subplots(len(sweeps), 2, figsize=(10, 3.2 * len(sweeps)), squeeze=False)
        for (det_ax, fa_ax), sweep in zip(axes, sweeps, strict=True):
            _, label, _ = SWEEPS[sweep]
            for side, _indicator in CURVE_SIDES:
                for detector in CURVE_DETECTORS[:2]:
                    pts = [r for r in rows if r["sweep"] == sweep and r["side"] == side and r["detector"] == detector]
                    x = [float(r["value"]) for r in pts]  # type: ignore[arg-type]
                    kw = {"color": colours[side], "ls": styles[detector], "marker": "o", "ms": 3}
                    det_ax.plot(x, [r["detection"] for r in pts], label=f"{side}, {detector.split(' ')[0]}", **kw)
                    fa_ax.plot(x, [r["false_alarms"] for r in pts], **kw)
                    fa_ax.plot(x, [r["false_alarms_baseline_threshold"] for r in pts], **{**kw, "alpha": 0.35})
            det_ax.set_ylim(-0.02, 1.02)
            det_ax.set_ylabel("padders caught within 3 periods")
            det_ax.set_xlabel(label, fontsize=8)
            fa_ax.set_yscale("log")
            fa_ax.axhline(args.target, color="grey", ls=":", lw=1)
            fa_ax.set_ylabel("false alarms / honest workplace-period")
            fa_ax.set_xlabel(label, fontsize=8)
            det_ax.grid(alpha=0.3)
            fa_ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=7, loc="lower left")
        axes[0][1].set_title("faint: threshold set under the baseline assumptions", fontsize=8)
        fig.suptitle(f"Detection of padding and false alarms ({args.regime} regime, {args.workplaces} workplaces x "
                     f"{args.periods} periods, median of {args.seeds} runs; baseline: 1% noise, 10% padding)",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(args.curves / f"detection-{file}.png", dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    main()
