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
indicator), **supplier only** (its reported output against its reported capacity, Beer's
productivity; or its output history alone), **receivers only** (what receivers confirm).

    python bench/bench_detection.py [--workplaces 2000] [--periods 16] [--seeds 3] [--noise 0.01] [--report DIR]
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
    args = ap.parse_args()
    console = Console()
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


if __name__ == "__main__":
    main()
