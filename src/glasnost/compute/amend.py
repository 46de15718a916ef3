"""A member's amendment to a plan variant, checked by the calculator.

A plan variant is an optimal ``scale`` plan (:mod:`glasnost.compute.variants`): the largest number
``z`` of complete sets of a mix of final products the economy can make from the labour and
resources left after the investment reserve. An amendment changes one thing:

``target``
    the yearly amount ``A`` of one product (raise or lower it; a public good nobody planned for is
    "added" by giving it an amount). The amended plan keeps the proportions of every other product
    and makes exactly ``A`` of the amended one: its mix entry ``m`` is chosen so that the optimal
    plan for the amended mix makes ``z(m) * m = A``. ``z(m) * m`` grows with ``m`` (at ``m' > m``
    the scale ``z(m) m / m'`` is feasible), so ``m`` is found by bisection; the result is an
    ordinary scale plan on the amended mix, what ``glasnost plan`` computes for an economy whose
    targets are that mix and whose supply is what is left after the reserve.
``investment``
    the share of every labour type and resource set aside for investment.

The amendment is infeasible when the economy cannot make ``A`` even if it made nothing else (the
LP of "make A of this product and nothing else" is infeasible: its message names the limiting
supplies), or when the amended plan leaves nothing for the rest of the mix.

What it costs is told twice: first from the base plan's shadow prices (sets per unit: raising
the amount of a product by ``D`` units lowers the scale by about ``price * D``; an hour of labour
is worth the use-weighted mean shadow price of the labour types that bind, so the product's cost
in hours is ``price * D / hour price``), then exactly, from the recomputed plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from glasnost.compute.lp import PlanError
from glasnost.compute.plan import Plan, optimal_plan
from glasnost.economy import Economy, Kind

__all__ = ["AmendmentVerdict", "check_investment", "check_target"]

NOTHING_LEFT = 1e-9
"""An amended scale below this share of the base scale leaves nothing for the rest: infeasible."""
BISECTION_STEPS = 200
RELATIVE_TOLERANCE = 1e-10


@dataclass(frozen=True)
class AmendmentVerdict:
    """What the calculator says about an amendment.

    ``feasible`` and, when not, ``why``. ``mix`` and ``reserved`` (per commodity) define the amended
    plan ``plan``; ``base_scale``/``scale`` are the scales before and after. ``hours_estimate``: the
    labour hours a year the change takes from (positive) or frees for (negative) the rest of the
    plan, from the shadow prices; ``scale_estimate``: the scale the shadow prices predict.
    ``before``/``after``: the plan's amount of every product with a target (base and amended)."""

    feasible: bool
    why: str = ""
    mix: np.ndarray | None = None
    reserved: np.ndarray | None = None
    plan: Plan | None = None
    base_scale: float = 0.0
    scale: float = 0.0
    scale_estimate: float = 0.0
    hours_estimate: float | None = None
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)


def _amounts(economy: Economy, mix: np.ndarray, scale: float) -> dict[str, float]:
    ids = economy.commodities.ids
    return {str(ids[j]): float(scale * mix[j]) for j in np.flatnonzero(mix > 0)}


def _hour_price(economy: Economy, plan: Plan) -> float:
    """The use-weighted mean shadow price of an hour over the labour types that bind (0 if none)."""
    labour = np.flatnonzero(economy.commodities.kinds == Kind.LABOUR)
    used = np.maximum(-plan.net_output[labour], 0.0)
    priced = plan.prices[labour] > 0
    if not (priced & (used > 0)).any():
        return 0.0
    return float((plan.prices[labour] * used)[priced].sum() / used[priced].sum())


def _scale_plan(economy: Economy, mix: np.ndarray, supply: np.ndarray) -> Plan:
    return optimal_plan(economy, "scale", targets=mix, supply=supply)


def _infeasible(why: str, base: Plan, economy: Economy, mix: np.ndarray) -> AmendmentVerdict:
    z = float(base.objective)
    return AmendmentVerdict(False, why, base_scale=z, before=_amounts(economy, mix, z))


def check_target(
    economy: Economy, mix: np.ndarray, available: np.ndarray, investment: float, commodity: str, amount: float
) -> AmendmentVerdict:
    """Set the yearly amount of ``commodity`` in the variant (mix ``mix``, reserve share ``investment``
    of ``available``) to ``amount``. Raises :class:`PlanError` for a commodity that is not a product."""
    c = economy.commodities
    j = int(c.index([commodity])[0])
    if c.kinds[j] not in (Kind.GOOD, Kind.PUBLIC_GOOD):
        raise PlanError(f"{commodity} is not a good or a public good; only products have yearly amounts")
    if not (math.isfinite(amount) and 0 <= amount <= 1e15):
        raise PlanError(f"the amount {amount!r} must be a finite number between 0 and 10^15")
    supply = available - investment * available
    base = _scale_plan(economy, mix, supply)
    z = float(base.objective)
    delta = amount - z * mix[j]
    try:  # can the economy make this much of it at all, making nothing else?
        optimal_plan(economy, "min_labour", targets={commodity: amount}, supply=supply)
    except PlanError as exc:
        return _infeasible(f"the economy cannot make {amount:g} of {commodity} a year: {exc}", base, economy, mix)
    found = _solve_for_amount(economy, mix, supply, j, amount)
    if found is None:
        return _infeasible(
            f"making {amount:g} of {commodity} a year would leave nothing for anything else in the plan",
            base, economy, mix,
        )
    amended, plan = found
    hour = _hour_price(economy, base)
    cost_sets = float(base.prices[j]) * delta
    return AmendmentVerdict(
        True,
        mix=amended,
        reserved=investment * available,
        plan=plan,
        base_scale=z,
        scale=float(plan.objective),
        scale_estimate=z - cost_sets,
        hours_estimate=cost_sets / hour if hour > 0 else None,
        before=_amounts(economy, mix, z),
        after=_amounts(economy, amended, float(plan.objective)),
    )


def _solve_for_amount(
    economy: Economy, mix: np.ndarray, supply: np.ndarray, j: int, amount: float
) -> tuple[np.ndarray, Plan] | None:
    """The mix with entry ``j`` such that the scale plan makes ``amount`` of it, and that plan
    (None when only a plan with no scale left would)."""

    def made(m: float) -> tuple[float, np.ndarray, Plan]:
        trial = mix.copy()
        trial[j] = m
        plan = _scale_plan(economy, trial, supply)
        return float(plan.objective) * m, trial, plan

    base_scale = float(_scale_plan(economy, mix, supply).objective)
    if amount == 0:
        trial = mix.copy()
        trial[j] = 0.0
        if not (trial > 0).any():
            return None
        plan = _scale_plan(economy, trial, supply)
        return (trial, plan) if plan.objective > NOTHING_LEFT * max(base_scale, 1.0) else None
    lo, hi = 0.0, max(mix[j], amount / max(base_scale, 1e-12), 1e-12)
    for _ in range(BISECTION_STEPS):  # double until the plan makes at least the amount
        got, trial, plan = made(hi)
        if got >= amount:
            break
        lo, hi = hi, 2 * hi
    else:
        return None
    for _ in range(BISECTION_STEPS):
        if abs(got - amount) <= RELATIVE_TOLERANCE * amount:
            break
        mid = 0.5 * (lo + hi)
        got_mid, trial_mid, plan_mid = made(mid)
        if got_mid >= amount:
            hi, got, trial, plan = mid, got_mid, trial_mid, plan_mid
        else:
            lo = mid
    if plan.objective <= NOTHING_LEFT * max(base_scale, 1.0):
        return None
    return trial, plan


def check_investment(economy: Economy, mix: np.ndarray, available: np.ndarray, investment: float,
                     new_investment: float) -> AmendmentVerdict:
    """Set aside the share ``new_investment`` (instead of ``investment``) of every labour type and
    resource for investment. Raises :class:`PlanError` for a share outside [0, 1)."""
    if not (math.isfinite(new_investment) and 0 <= new_investment < 1):
        raise PlanError(f"the investment share {new_investment!r} must be at least 0 and below 1 (0.1 = 10%)")
    base = _scale_plan(economy, mix, available - investment * available)
    z = float(base.objective)
    plan = _scale_plan(economy, mix, available - new_investment * available)
    if plan.objective <= NOTHING_LEFT * max(z, 1.0):
        return _infeasible("setting that much aside leaves nothing to make the plan with", base, economy, mix)
    primary = np.isin(economy.commodities.kinds, (Kind.LABOUR, Kind.RESOURCE)) & np.isfinite(available)
    change = -(new_investment - investment) * np.where(primary, available, 0.0)
    labour = economy.commodities.kinds == Kind.LABOUR
    return AmendmentVerdict(
        True,
        mix=mix.copy(),
        reserved=new_investment * available,
        plan=plan,
        base_scale=z,
        scale=float(plan.objective),
        scale_estimate=z + float(base.prices[primary] @ change[primary]),
        hours_estimate=float(-change[labour & np.isfinite(available)].sum()),
        before=_amounts(economy, mix, z),
        after=_amounts(economy, mix, float(plan.objective)),
    )
