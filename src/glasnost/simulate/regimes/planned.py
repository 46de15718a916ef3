"""A planned economy, one year a step: the rules command planning and democratic planning share.

The two differ only in their :class:`~glasnost.simulate.institutions.Institutions` and in how
the plan is coordinated (:meth:`PlannedRegime.coordination`: the bureau's material balances, or
the participatory procedure on the year's products). One year:

1. *Coordination*: a share of products is not coordinated; it loses ``mismatch_loss`` of its
   capacity and of new investment. Planning meetings take working time (democratic planning).
2. *Labour*: jobs are guaranteed: ``hiring_rate`` of the unemployed (entrants, workers of closed
   enterprises) are placed each year. Enterprises are staffed for their whole capacity, each the
   same share of its need where the labour force is short; where it is long, a soft budget keeps
   the surplus on payrolls (labour hoarding, Kornai 1980) and a hard budget leaves it unemployed.
3. *Effort* (:func:`~glasnost.simulate.regimes.rules.effort`) from the pay link; audits
   (probability ``audit``) take ``audit_hours`` from the audited enterprise's workers.
4. *Reports*: who hides capacity (the ratchet against audits), the plan's targets scale with
   reported capacity and follow the ratchet; found hiders' targets reset to the truth;
   short-fallers pad reports unless cross-checks make it a bad bet.
5. *Forecast errors* and the input shortfall they cause, softened by hoards
   (:func:`~glasnost.simulate.regimes.rules.realise`).
6. *Households*: incomes are planned on reported net output; shortage and use value by
   :func:`~glasnost.simulate.regimes.common.households`.
7. *Budgets*: an enterprise's accounts are kept as the market's are (revenue at the prices in
   force less inputs, base wages and depreciation, :func:`~glasnost.simulate.regimes.rules.profit`);
   loss-makers close after ``closure_years`` under a hard budget; fixed prices are set to
   cost-plus on the first year's accounts and revised every ``price_revision_years``.
8. *Investment* of the plan's rate of true net output, allocated to sectors by how far the
   capacity reports admit falls short of the gross output the needs call for (material
   balances), within a sector by capital in place scaled by what reports admit; quality
   follows the quality signal; next year's hoard follows this year's delivery failures.
"""

from __future__ import annotations

import numpy as np

from glasnost.simulate.institutions import Institutions
from glasnost.simulate.managers import next_target
from glasnost.simulate.measures import sector_sum
from glasnost.simulate.params import Params
from glasnost.simulate.regimes import rules
from glasnost.simulate.regimes.common import (
    choose_variant,
    growth,
    households,
    income_measures,
    light_share,
    net_output,
    ratio,
    variant_indicator,
)
from glasnost.simulate.state import (
    Sectors,
    State,
    base_wage,
    capacity_of,
    labour_per_unit,
    price_revision_due,
    products_now,
    revise_fixed_prices,
)


class PlannedRegime:
    """A planned economy on ``state`` (changed in place) under institutions ``inst``."""

    name = "planned"

    def __init__(self, sectors: Sectors, state: State, params: Params, rng: np.random.Generator,
                 inst: Institutions) -> None:
        self.sectors, self.state, self.params, self.rng, self.inst = sectors, state, params, rng, inst
        p = params
        self.concealing = rules.concealing(state.beta, inst, p)
        state.loss_years = np.zeros_like(state.loss_years)  # a budget rule counts from its start
        material_share = sectors.material_value[state.sector] / sectors.values[state.sector]
        choose_variant(state, *variant_indicator(p.with_(indicator=inst.reward), material_share))
        # concealing managers keep a reserve off the capacity report the first targets are set from
        state.target = np.where(self.concealing, state.target * (1.0 - p.safety_reserve), state.target)
        self.cap_reported_prev = np.ones(state.n)
        self.official = 0.0
        self.prev_true = 0.0
        self.prev_reported = 0.0
        self.capital0 = float(state.capital.sum())
        self.closure_layoffs = 0.0
        self.hoard = 0.0
        self.shortage_prev = 0.0
        self.gross_needs = sectors.leontief @ sectors.needs  # gross output the needs' composition calls for

    # --- what the two planned regimes do differently ------------------------------------------

    def _material(self, output: np.ndarray) -> np.ndarray:
        """What the inputs of ``output`` (and the hoard on top) cost at the fixed prices."""
        st, p = self.state, self.params
        per_unit = (self.state.fixed_price @ self.sectors.A)[st.sector]
        return per_unit * (1.0 - p.lightness * st.light * st.has_variant) * (1.0 + self.hoard) * output

    def coordination(self, products: float, t: int) -> tuple[np.ndarray, int]:
        """(uncoordinated share of products in each sector, planning rounds this year)."""
        raise NotImplementedError

    def planned_rate(self, t: int, seen_growth: float) -> float:
        """This year's investment rate."""
        raise NotImplementedError

    # --- the year -------------------------------------------------------------------------------

    def step(self, t: int) -> dict[str, float]:
        sec, st, p, inst, rng = self.sectors, self.state, self.params, self.inst, self.rng
        st.wage = base_wage(p, st.year)
        products = products_now(st, self.capital0, p)
        uncoordinated, rounds = self.coordination(products, t)
        efficiency = (1.0 - p.mismatch_loss * uncoordinated)[st.sector]
        meeting = rounds * p.meeting_hours_per_round * (products / 1e4) ** p.meeting_product_elasticity

        full = capacity_of(sec, st, p)
        need = labour_per_unit(sec, st, p, st.year) * full
        need_total = max(float(need.sum()), 1e-300)
        if inst.job_guarantee:  # hiring_rate of the unemployed placed; under a hard budget only into vacancies
            room = np.inf if inst.soft_budget else max(need_total - (st.labour_force - st.unemployed), 0.0)
            st.unemployed -= min(p.hiring_rate * st.unemployed, room)
        employed = st.labour_force - st.unemployed
        staffed = min(1.0, employed / need_total)
        if inst.soft_budget:  # labour hoarding: wages are covered, so every worker stays on a payroll
            st.workers = employed * need / need_total
        else:  # a hard budget keeps no one it does not need
            st.workers = need * staffed
            st.unemployed += employed - float(st.workers.sum())
            employed = st.labour_force - st.unemployed
        audited = rng.random(st.n) < inst.audit
        work = rules.effort(inst.pay_link or 0.0, p) * rules.time_left(meeting, audited, p)
        cap = full * staffed * efficiency * work

        found = audited & (rng.random(st.n) >= p.auditor_collusion)
        hiding = self.concealing & ~found
        cap_reported = np.where(hiding, cap * (1.0 - p.safety_reserve), cap)
        if t:
            st.target = st.target * cap_reported / np.maximum(self.cap_reported_prev, 1e-12)
        st.target = np.where(self.concealing & found, cap, st.target)  # found: the plan resets
        target = st.target.copy()
        intended = np.where(hiding, np.minimum(cap, target * (1.0 + p.safety_margin)), cap)
        output, lacking = rules.realise(intended, cap, st.sector, sec, self.hoard, p, rng)
        cap_reported = np.where(hiding, np.maximum(cap_reported, intended), cap)
        self.cap_reported_prev = cap_reported
        reported = rules.report(output, target, inst, p, rng)

        values = sec.values
        net = net_output(sec, st, output, p, self.hoard)
        y_true = float(net @ values)
        y_rep = float(net_output(sec, st, reported, p, self.hoard) @ values)
        if t == 0:
            self.official = y_rep
            growth_true = growth_rep = seen = float("nan")
        else:
            growth_true = growth(y_true, self.prev_true)
            real = ratio(y_rep, self.prev_reported)
            seen = real - 1.0  # the planners' view: reported quantities, no price index
            chain = rules.official_chain(real, inst, p)
            growth_rep = chain - 1.0
            self.official = self.official * chain if np.isfinite(chain) else y_rep

        s = self.planned_rate(t, seen)
        consumption = (1.0 - s) * np.maximum(net, 0.0) * values
        short, use_value = households(sec, st, output, consumption, (1.0 - s) * y_rep, p)

        performance = np.clip((reported - target) / np.maximum(target, 1e-12), -1.0, 1.0)
        wages = st.wage * (1.0 + (inst.pay_link or 0.0) * performance)
        gini_, spread = income_measures(st, wages, p.unemployment_benefit * st.wage)

        profit = rules.profit(st.fixed_price[st.sector] * output, self._material(output), st.wage * st.workers,
                              p.depreciation * st.capital)
        losing = st.open & (profit < 0.0)
        loss_share = float(losing.sum() / max(int(st.open.sum()), 1))
        if t == 0 or price_revision_due(st.year, p):  # a plan's first prices, then periodic reforms
            cost = st.fixed_price[st.sector] * output - profit
            revise_fixed_prices(sec, st, p, cost, output)
        laid_off, freed = rules.shut(st, rules.closing(st, losing, inst, p), p)
        self.closure_layoffs += laid_off

        investment = s * max(y_true, 0.0) + freed
        # planners put investment where reported capacity falls shortest of what the needs call
        # for (material balances), within a sector by capital in place scaled by what reports admit
        seen = sector_sum(st.sector, np.where(st.open, cap_reported, 0.0), sec.size)
        pressure = np.ones(sec.size)
        if (seen > 0).any():
            pressure = self.gross_needs / np.maximum(seen, 1e-300)
            pressure = np.where(seen > 0, pressure / max(float(np.median(pressure[seen > 0])), 1e-300), 0.0)
        weight = np.where(st.open, st.capital * cap_reported / np.maximum(cap, 1e-12), 0.0) * pressure[st.sector]
        alloc = investment * weight / max(float(weight.sum()), 1e-300)
        st.capital = st.capital * (1.0 - p.depreciation) + alloc * efficiency
        st.target = next_target(st.target, reported, inst.ratchet)
        st.quality = rules.next_quality(st.quality, rules.quality_signal(inst, self.shortage_prev), p)
        coordinated = float(np.average(efficiency, weights=np.maximum(full, 1e-300))) if full.sum() > 0 else 1.0
        hoarded = self.hoard
        self.hoard = rules.hoard_share(inst, 1.0 - coordinated * (1.0 - lacking), p)
        self.shortage_prev = short
        self.prev_true, self.prev_reported = y_true, y_rep
        st.output_prev = output  # what a regime that follows starts from (state orders)
        entrants = p.labour_force_growth * st.labour_force
        st.labour_force += entrants
        st.unemployed += entrants
        working_share = employed / (st.labour_force - entrants)
        return {
            "output_true": y_true,
            "output_reported": self.official,
            "growth_true": growth_true,
            "growth_reported": growth_rep,
            "use_value": use_value,
            "fulfilment_true": ratio(float(output.sum()), float(target.sum())),
            "fulfilment_reported": ratio(float(reported.sum()), float(target.sum())),
            "shortage": short,
            "unused_capacity": 1.0 - ratio(float(output.sum()), float((full * staffed).sum())),
            "concealment": 1.0 - ratio(float(cap_reported.sum()), float(cap.sum())),
            "quality": float(np.average(st.quality, weights=np.maximum(output, 1e-300))),
            "light_share": light_share(st, output),
            "unemployment": st.unemployed / st.labour_force,
            "hours_worked": working_share * p.hours_per_year,
            "gini": gini_,
            "wage_spread": spread,
            "closed": float(st.closed_total),
            "closure_layoffs": self.closure_layoffs / st.labour_force,
            "loss_making": loss_share,
            "investment_rate": s,
            "products": products,
            "meeting_hours": meeting,
            "rounds": float(rounds),
            "efficiency": coordinated,
            "staffed": staffed,
            "effort": rules.effort(inst.pay_link or 0.0, p),
            "hoarding": hoarded,
            "input_shortfall": lacking,
            "capital": float(st.capital.sum()),
        }
