"""Democratic planning with open books: the planned economy's rules (:mod:`.planned`) under the
democratic institutions (:func:`glasnost.simulate.institutions.institutions`).

What is democratic planning's own:

1. *The annual plan* is drawn up by the participatory procedure (``procedure``, Hahnel's by
   default) on the year's products (:mod:`.planning`: the economy's sectors split into as many
   products as the economy has that year), with at most ``round_cap`` rounds. The regime's
   first year draws up a first plan; later years draw one of the yearly replans at that
   product count. Every round costs each worker ``meeting_hours_per_round`` hours (times
   ``(products / 10^4)^meeting_product_elasticity``), taken from production.
2. *Coordination*: the share of demand the procedure's last round leaves unmet is the share of
   products not coordinated; it loses ``mismatch_loss`` of capacity, as command planning's
   products beyond its balances do. Nothing is assumed about coverage: it is what the
   procedure achieves.
3. *Open books*: use value is what is measured (the lighter, better variant is made); books are
   audited (``audit_probability``) and reports cross-checked (``cross_check_probability``);
   consumers' ratings of ``rating_coverage`` of output enter the next plan; pay is equal per
   hour (``democratic_pay_link`` 0); budgets are hard.
4. *Investment*: the plan's rate ``democratic_investment_rate``.
"""

from __future__ import annotations

import numpy as np

from glasnost.simulate.institutions import institutions
from glasnost.simulate.params import Params
from glasnost.simulate.regimes.planned import PlannedRegime
from glasnost.simulate.regimes.planning import planning_years
from glasnost.simulate.state import Sectors, State


class DemocraticRegime(PlannedRegime):
    """Democratic planning on ``state`` (changed in place)."""

    name = "democratic"

    def __init__(self, sectors: Sectors, state: State, params: Params, rng: np.random.Generator) -> None:
        self.plan_seed = int(rng.integers(0, 2**31))
        super().__init__(sectors, state, params, rng, institutions("democratic", params))

    def coordination(self, products: float, t: int) -> tuple[np.ndarray, int]:
        plans = planning_years(products, self.plan_seed, self.params, self.sectors.economy)
        # the first year draws up the first plan; later years replan from last year's prices
        k = 0 if t == 0 or len(plans) == 1 else 1 + int(self.rng.integers(0, len(plans) - 1))
        rounds, unmet = plans[k]
        return np.full(self.sectors.size, unmet), rounds

    def planned_rate(self, t: int, seen_growth: float) -> float:
        return self.params.democratic_investment_rate
