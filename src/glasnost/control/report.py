"""An HTML report of implementation control: fulfilment in use value against gross, mismatches, first digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glasnost.control.benford import BenfordTest
from glasnost.control.fulfilment import Fulfilment
from glasnost.control.reconcile import Reconciliation

__all__ = ["control_report"]


def control_report(
    directory: str | Path,
    *,
    lines: int,
    reconciliation: Reconciliation,
    fulfilment: Fulfilment | None,
    benford: BenfordTest | None,
) -> Path:
    """Write ``index.html`` and its figures to ``directory``; returns the page's path."""
    from glasnost.report.html import HtmlReport, new_figure

    report = HtmlReport("Implementation control")
    report.paragraph(f"{lines} report lines. {reconciliation.summary()}.")
    if fulfilment is not None and fulfilment.by_workplace.num_rows:
        bw = fulfilment.by_workplace
        gross = bw["gross_weight"].to_numpy(zero_copy_only=False).astype(float)
        value = bw["gross_value"].to_numpy(zero_copy_only=False).astype(float)
        use = bw["use"].to_numpy(zero_copy_only=False).astype(float)
        fig, ax = new_figure(6.0, 5.0)
        ax.scatter(gross, use, s=12, alpha=0.6, label="gross weight")
        ax.scatter(value, use, s=12, alpha=0.6, marker="x", label="gross value")
        both = np.concatenate([gross, value, use, [1.0]])
        lo, top = float(np.nanmin(both)), float(np.nanmax(both))
        ax.plot([lo, top], [lo, top], color="grey", lw=1, ls=":")
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xlabel("fulfilment by the gross indicator (1 = plan)")
        ax.set_ylabel("fulfilment in use value (1 = plan)")
        ax.legend()
        report.figure(fig, "fulfilment", "Each workplace and period: below the diagonal, the gross indicator claims "
                      "more than receivers confirm at the quality they rate")
        worst = np.argsort(use - gross)[:20]
        report.table(["workplace", "period", "gross weight", "gross value", "use value"],
                     [[bw["workplace"][i].as_py(), bw["period"][i].as_py(), gross[i], value[i], use[i]] for i in worst],
                     caption="Largest shortfall of use value against gross weight")
    ship = reconciliation.shipments
    if ship.num_rows:
        rel = ship["relative"].to_numpy()
        rel = rel[np.isfinite(rel)]
        fig, ax = new_figure(6.0, 3.5)
        ax.hist(rel, bins=50)
        ax.set_xlabel("(shipped - confirmed) / larger side")
        ax.set_ylabel("shipments")
        report.figure(fig, "shipments", "Shipments claimed against receipts confirmed (a claim nobody confirms is +1)")
        report.table(["period", "supplier", "receiver", "product", "shipped", "received", "difference"],
                     [list(r.values())[:7] for r in ship.slice(0, 20).to_pylist()], caption="Largest mismatches")
    if benford is not None:
        fig, ax = new_figure(6.0, 3.5)
        digits = np.arange(1, 10)
        ax.bar(digits - 0.2, benford.observed, width=0.4, label="reported")
        ax.bar(digits + 0.2, benford.expected, width=0.4, label="Benford")
        ax.set_xticks(digits)
        ax.set_xlabel("first digit")
        ax.set_ylabel("share")
        ax.legend()
        report.figure(fig, "benford", benford.summary())
    return report.write(directory)
