"""Report pages for plans: plan against targets, valuations, labour use."""

from __future__ import annotations

import numpy as np

from glasnost.compute import GrossOutput, Plan, Values
from glasnost.economy import Economy, Kind
from glasnost.report.html import HtmlReport, new_figure


def plan_against_targets(report: HtmlReport, economy: Economy, plan: Plan) -> None:
    c = economy.commodities
    produced = c.produced
    names = [str(x) for x in c.names[produced]]
    fig, ax = new_figure(9, 4.2)
    pos = np.arange(produced.size)
    ax.bar(pos - 0.2, c.targets[produced], 0.4, label="target (final use wanted)", color="#9aa5b1")
    ax.bar(pos + 0.2, plan.net_output[produced], 0.4, label="planned net output", color="#b3261e")
    ax.set_xticks(pos, names, rotation=60, ha="right")
    ax.set_ylabel("units of each product")
    ax.legend()
    caption = "Planned net output of each product against its target"
    if plan.scale is not None:
        caption += f" (the plan delivers {plan.scale:.4g} complete sets of the target mix)"
    report.figure(fig, "plan-vs-targets", caption)


def valuations(report: HtmlReport, economy: Economy, plan: Plan, values: Values) -> None:
    c = economy.commodities
    produced = c.produced
    prices = plan.prices[produced]
    targets = c.targets[produced]
    # shadow prices are in sets per unit; rescale so that the target basket costs the same
    # number of hours under both valuations, which makes the two comparable
    denom = float(prices @ targets)
    scaled = prices * (float(values.labour @ targets) / denom) if denom > 0 else prices
    fig, ax = new_figure(9, 4.2)
    pos = np.arange(produced.size)
    ax.bar(pos - 0.2, values.labour, 0.4, label="labour value (hours per unit)", color="#3d5a80")
    ax.bar(pos + 0.2, scaled, 0.4, label="optimal-plan valuation (rescaled to hours)", color="#ee964b")
    ax.set_xticks(pos, [str(x) for x in c.names[produced]], rotation=60, ha="right")
    ax.set_ylabel("hours per unit")
    ax.legend()
    report.figure(
        fig,
        "valuations",
        "Labour values (default technique) and the optimal plan's shadow prices, rescaled so that "
        "the target basket is worth the same number of hours under both",
    )


def labour_use(report: HtmlReport, economy: Economy, plan: Plan) -> None:
    c = economy.commodities
    lab = c.labour
    used = -plan.net_output[lab]
    supply = c.supply[lab]
    fig, ax = new_figure(6, 3.5)
    pos = np.arange(lab.size)
    ax.bar(pos - 0.2, np.where(np.isfinite(supply), supply, 0.0), 0.4, label="available", color="#9aa5b1")
    ax.bar(pos + 0.2, used, 0.4, label="used by the plan", color="#b3261e")
    ax.set_xticks(pos, [str(x) for x in c.names[lab]])
    ax.set_ylabel(str(c.units[lab[0]]) if lab.size else "hours")
    ax.legend()
    report.figure(fig, "labour-use", "Labour of each type: available and used by the optimal plan")


def plan_report(
    economy: Economy,
    plan: Plan,
    values: Values,
    gross: GrossOutput,
    *,
    harmony: object | None = None,
    title: str = "glasnost plan report",
) -> HtmlReport:
    """A report on one economy's plan: summary tables and the three standard plots."""
    c = economy.commodities
    report = HtmlReport(title)
    d = economy.describe()
    report.paragraph(
        f"Economy '{economy.name}': {d['produced']} products, {d['labour_types']} labour types, "
        f"{d['processes']} production processes, {d['councils']} consumer councils."
    )
    report.heading("The optimal plan")
    report.paragraph(
        f"Objective: {plan.objective_kind}. Optimum {plan.objective:.6g}, certified by a dual bound "
        f"of {plan.dual_bound:.6g} (relative gap {plan.gap:.1e}); solved by {plan.method} in "
        f"{plan.seconds:.3f} s."
    )
    if harmony is not None:
        z = getattr(harmony, "scale", None)
        if z is not None and plan.scale:
            report.paragraph(
                f"Cockshott's harmony algorithm reaches {z:.6g} sets, {100 * z / plan.scale:.2f}% of the optimum."
            )
    plan_against_targets(report, economy, plan)
    labour_use(report, economy, plan)
    report.heading("Valuations")
    report.paragraph(
        f"Labour values solve v = vA + l for the default technique ({values.report.method}, "
        f"residual {values.report.residual:.1e}). Gross output for the targets needs "
        + ", ".join(
            f"{u:.4g} {c.units[i]!s} of {c.names[i]!s}"
            for u, i in zip(gross.primary_use, economy.technique.primary_index, strict=True)
        )
        + "."
    )
    valuations(report, economy, plan, values)
    produced = c.produced
    rows = [
        [
            str(c.names[j]),
            float(c.targets[j]),
            float(plan.net_output[j]),
            float(values.labour[k]),
            float(plan.prices[j]),
        ]
        for k, j in enumerate(produced)
    ]
    report.table(
        ["product", "target", "planned net output", "labour value (h/unit)", "shadow price (sets/unit)"],
        rows,
    )
    prim = np.flatnonzero((c.kinds == Kind.LABOUR) | (c.kinds == Kind.RESOURCE))
    report.table(
        ["primary input", "available", "used", "shadow price (sets/unit)"],
        [[str(c.names[i]), float(c.supply[i]), float(-plan.net_output[i]), float(plan.prices[i])] for i in prim],
    )
    return report
