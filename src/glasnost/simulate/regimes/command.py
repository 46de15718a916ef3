"""Bureaucratic command planning: the planned economy's rules (:mod:`.planned`) under the
command institutions (:func:`glasnost.simulate.institutions.institutions`).

What is the bureau's own:

1. *Complexity*: the bureau can coordinate ``balances`` material balances, the same number in
   each sector; the economy has ``products x (K / K0)^product_elasticity`` products (K: capital
   stock), spread over sectors unevenly (lognormal shares, ``product_dispersion``). In each
   sector the uncoordinated share ``1 - min(1, balances_s / products_s)`` loses
   ``mismatch_loss`` of its capacity (inputs that do not arrive) and of its investment
   (unfinished construction).
2. *The gross indicator* (``indicator``) chooses the variant: tonnes and roubles both favour the
   heavy one; managers are paid for fulfilment (``command_pay_link``), audited by the People's
   Control (``command_audit``), their reports rarely cross-checked (``command_cross_check``);
   users' complaints hardly reach them (``command_ratings``); budgets are soft (``soft_budget``).
3. *Official statistics* pass ``hierarchy_levels`` levels; rouble indicators add the fitted
   ``hidden_inflation``.
4. *Investment*: the bureau raises the investment rate by ``investment_response`` per point of
   reported growth below ``growth_target`` (up to ``investment_rate_max``).
"""

from __future__ import annotations

import numpy as np

from glasnost.simulate.institutions import institutions
from glasnost.simulate.params import Params
from glasnost.simulate.regimes.planned import PlannedRegime
from glasnost.simulate.state import Sectors, State


class CommandRegime(PlannedRegime):
    """Command planning on ``state`` (changed in place, year by year)."""

    name = "command"

    def __init__(self, sectors: Sectors, state: State, params: Params, rng: np.random.Generator) -> None:
        share = rng.lognormal(0.0, params.product_dispersion, sectors.size)
        self.product_share = share / share.sum()
        super().__init__(sectors, state, params, rng, institutions("command", params))

    def coordination(self, products: float, t: int) -> tuple[np.ndarray, int]:
        per_sector = products * self.product_share
        coverage = np.minimum(1.0, self.params.balances / self.sectors.size / np.maximum(per_sector, 1e-300))
        return 1.0 - coverage, 0

    def planned_rate(self, t: int, seen_growth: float) -> float:
        st, p = self.state, self.params
        s = st.investment_rate
        if t and np.isfinite(seen_growth):
            rate = s + p.investment_response * (p.growth_target - seen_growth)
            st.investment_rate = float(np.clip(rate, p.investment_rate, p.investment_rate_max))
        return s
