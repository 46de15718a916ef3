"""Plan variants for a vote: the same economy planned for different mixes of final output.

After a participatory procedure has converged, its consumer demand gives the mix people asked
for. A :class:`VariantSpec` reweights that mix (public goods against private consumption) and
sets aside a share of every primary input (labour, natural resources) for investment; each variant
is then an optimal ``scale`` plan (:func:`glasnost.compute.optimal_plan`): the largest multiple
``z`` of the reweighted mix the economy can make from the inputs left, so every variant is
feasible by construction and comes with its shadow prices and dual bound.

Units: net output in each commodity's unit per year; ``z`` is the number of complete sets of the
mix; ``reserved`` is the amount of each primary input set aside for investment (its unit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from glasnost.compute.lp import PlanError
from glasnost.compute.plan import Plan, optimal_plan
from glasnost.economy import Economy, Kind

__all__ = ["DEFAULT_VARIANTS", "PlanVariant", "VariantSpec", "plan_variants"]


@dataclass(frozen=True)
class VariantSpec:
    """How one variant reweights the mix.

    Attributes
    ----------
    key, title, description : str
        Short id, heading and a sentence for the voters.
    private : float
        Weight of private goods in the mix (1 = as asked for).
    public : float
        Weight of public goods in the mix.
    investment : float
        Share (0 to <1) of every primary input set aside for investment rather than current output.
    """

    key: str
    title: str
    description: str
    private: float = 1.0
    public: float = 1.0
    investment: float = 0.0


DEFAULT_VARIANTS: tuple[VariantSpec, ...] = (
    VariantSpec("as-asked", "As asked", "The mix the councils asked for in the last round, with nothing set aside."),
    VariantSpec(
        "public", "More public goods", "Public goods weighted 1.5 against private consumption.", public=1.5
    ),
    VariantSpec(
        "private", "More private consumption", "Private goods weighted 1.25, public goods 0.75.", 1.25, 0.75
    ),
    VariantSpec(
        "invest",
        "Invest a tenth",
        "The mix as asked, with 10% of every labour type and resource set aside for investment.",
        investment=0.1,
    ),
)


@dataclass(frozen=True, eq=False)
class PlanVariant:
    """One variant: its spec, the mix it plans for, the inputs set aside and the optimal plan."""

    spec: VariantSpec
    mix: np.ndarray
    reserved: np.ndarray
    plan: Plan
    extra: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Plain data for publishing: scale, net output, reserved inputs and shadow prices by id."""
        ids = [str(i) for i in self.plan.commodity_ids]
        nz = [i for i, v in enumerate(self.plan.net_output) if abs(v) > 1e-12]
        return {
            "key": self.spec.key,
            "title": self.spec.title,
            "weights": {"private": self.spec.private, "public": self.spec.public, "investment": self.spec.investment},
            "scale": float(self.plan.objective),
            "dual_bound": float(self.plan.dual_bound),
            "status": str(self.plan.extra.get("status", "")),
            "net_output": {ids[i]: float(self.plan.net_output[i]) for i in nz},
            "reserved": {ids[i]: float(v) for i, v in enumerate(self.reserved) if v > 0},
            "prices": {ids[i]: float(v) for i, v in enumerate(self.plan.prices)},
        }


def _mix(economy: Economy, demand: np.ndarray, spec: VariantSpec) -> np.ndarray:
    kinds = economy.commodities.kinds
    public = kinds == Kind.PUBLIC_GOOD
    private = kinds == Kind.GOOD
    base = np.where(private | public, demand, 0.0)
    if not (base[public] > 0).any():  # nobody asked for public goods: the economy's own targets for them
        base = np.where(public, economy.commodities.targets, base)
    return np.where(public, spec.public * base, spec.private * base)


def plan_variants(
    economy: Economy,
    demand: np.ndarray,
    *,
    supply: np.ndarray | None = None,
    specs: Sequence[VariantSpec] = DEFAULT_VARIANTS,
) -> list[PlanVariant]:
    """Plan every variant in ``specs`` for the consumer ``demand`` (commodities,) of a converged round.

    ``supply`` is the available amount of each primary input (default the economy's). Raises
    :class:`PlanError` naming the variant for a bad weight, or when the mix has no positive entry.
    """
    demand = np.asarray(demand, dtype=np.float64)
    n = economy.n_commodities
    if demand.shape != (n,):
        raise PlanError(f"demand has shape {demand.shape}, expected ({n},) (one per commodity)")
    if not np.isfinite(demand).all() or (demand < 0).any():
        raise PlanError("demand must be finite and 0 or above for every commodity")
    available = np.asarray(economy.commodities.supply if supply is None else supply, dtype=np.float64)
    out = []
    for spec in specs:
        if spec.private < 0 or spec.public < 0 or not 0 <= spec.investment < 1:
            raise PlanError(f"variant {spec.key!r}: weights must be 0 or above and investment in [0, 1)")
        mix = _mix(economy, demand, spec)
        if not (mix > 0).any():
            raise PlanError(f"variant {spec.key!r}: the mix asks for nothing")
        reserved = spec.investment * available
        plan = optimal_plan(economy, "scale", targets=mix, supply=available - reserved)
        out.append(PlanVariant(spec, mix, reserved, plan))
    return out
