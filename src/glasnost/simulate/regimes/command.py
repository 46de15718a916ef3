"""Bureaucratic command planning, one year a step.

Rules (each from :mod:`glasnost.simulate.params`, sources there):

1. *Complexity*: the bureau can coordinate ``balances`` material balances, the same number in
   each sector; the economy has ``products x (K / K0)^product_elasticity`` products (K: capital
   stock), spread over sectors unevenly (lognormal shares, ``product_dispersion``). In each
   sector the uncoordinated share ``1 - min(1, balances_s / products_s)`` loses
   ``mismatch_loss`` of its capacity (inputs that do not arrive) and of its investment
   (unfinished construction).
2. *Managers* (:mod:`glasnost.simulate.managers`): the bonus for over-fulfilment against the
   ratchet decides who conceals; concealers aim ``safety_margin`` above target, report the
   capacity they use; short-fallers pad reports by up to ``padding_limit``.
3. *Gross indicator*: the variant with the larger value per unit of capacity under
   ``indicator`` is made (tonnes and roubles both favour the heavy one).
4. *Official statistics*: a chain index of reported net output, raised by ``hidden_inflation``
   under the rouble indicator (new products priced cost-plus) and by ``hierarchy_inflation`` at
   each of ``hierarchy_levels`` levels.
5. *Soft budget* and *hoarding* (Kornai): losses at fixed prices are covered (with
   ``soft_budget=False`` loss-makers close after ``closure_years``); inputs hoarded above need
   (``hoarding``) are lost to final use; enterprises keep workers for their full capacity.
6. *Households*: the wage fund is planned on reported output; goods at fixed prices; what is
   not there is queued for (``shortage``, ``queue_hours``); goods that are not the ones wanted
   are taken as substitutes worth ``substitution_use`` of their use.
7. *Investment*: ``investment_rate`` of true net output, allocated by reported capacity; the
   bureau raises the rate by ``investment_response`` per point of growth below
   ``growth_target`` (up to ``investment_rate_max``). Targets follow the ratchet and the
   capital the bureau has allocated.
"""

from __future__ import annotations

import numpy as np

from glasnost.simulate.managers import conceals, next_target, pads
from glasnost.simulate.measures import sector_sum
from glasnost.simulate.params import Params
from glasnost.simulate.regimes.common import (
    choose_variant,
    delivered_use,
    growth,
    income_measures,
    loss_making_share,
    net_output,
    ratio,
    shortage,
    use_per_unit,
    variant_indicator,
)
from glasnost.simulate.state import Sectors, State, capacity_of, labour_per_unit, unit_cost


class CommandRegime:
    """Command planning on ``state`` (changed in place, year by year)."""

    name = "command"

    def __init__(self, sectors: Sectors, state: State, params: Params, rng: np.random.Generator) -> None:
        self.sectors, self.state, self.params, self.rng = sectors, state, params, rng
        p = params
        self.concealing = conceals(
            state.beta, p.ratchet, new_incentive=p.new_incentive, alpha=p.nsim_alpha, b=p.nsim_b, gamma=p.nsim_gamma
        )
        # concealing managers keep a reserve off the capacity report the first targets are set from
        state.target = np.where(self.concealing, state.target * (1.0 - p.safety_reserve), state.target)
        self.cap_reported_prev = np.ones(state.n)
        material_share = sectors.material_value[state.sector] / sectors.values[state.sector]
        choose_variant(state, *variant_indicator(p, material_share))
        self.official = 0.0
        self.prev_true = 0.0
        self.prev_reported = 0.0
        self.capital0 = float(state.capital.sum())
        share = rng.lognormal(0.0, p.product_dispersion, sectors.size)
        self.product_share = share / share.sum()
        self.closure_layoffs = 0.0

    def step(self, t: int) -> dict[str, float]:
        sec, st, p = self.sectors, self.state, self.params
        S = sec.size
        products = p.products * max(float(st.capital.sum()) / self.capital0, 1e-9) ** p.product_elasticity
        coverage = np.minimum(1.0, p.balances / sec.size / (products * self.product_share))  # per sector
        efficiency = (1.0 - p.mismatch_loss * (1.0 - coverage))[st.sector]
        full = capacity_of(sec, st, p)
        # labour: enterprises staff their whole capacity (labour hoarding); where the labour
        # force is short of that, every enterprise gets the same share of its need
        per_unit = labour_per_unit(sec, st, p, st.year)
        need = per_unit * full
        # the job guarantee (USSR Constitution 1977, art. 40): labour bureaus place the
        # unemployed (laid off by closures) in enterprises whether or not their capacity needs
        # them, hiring_rate of them a year (the rate at which market enterprises fill vacancies)
        st.unemployed -= p.hiring_rate * st.unemployed
        employed = st.labour_force - st.unemployed
        staffed = min(1.0, employed / max(float(need.sum()), 1e-12))
        st.workers = employed * need / max(float(need.sum()), 1e-12)
        full = full * staffed
        cap = full * efficiency
        # reported capacity: concealers keep safety_reserve off the report; the bureau scales
        # the ratcheted targets with the capacity reported (Weitzman 1980 plus growth)
        cap_reported = np.where(self.concealing, cap * (1.0 - p.safety_reserve), cap)
        if t:
            st.target = st.target * cap_reported / np.maximum(self.cap_reported_prev, 1e-12)
        target = st.target.copy()
        output = np.where(self.concealing, np.minimum(cap, target * (1.0 + p.safety_margin)), cap)
        cap_reported = np.where(self.concealing, np.maximum(cap_reported, output), cap)
        self.cap_reported_prev = cap_reported
        reported = pads(output, target, p.padding_limit)

        values = sec.values
        net = net_output(sec, st, output, p, p.hoarding)
        net_reported = net_output(sec, st, reported, p, p.hoarding)
        y_true = float(net @ values)
        y_rep = float(net_reported @ values)
        hidden = p.hidden_inflation if p.indicator == "roubles" else 0.0
        if t == 0:
            self.official = y_rep
            growth_true = growth_rep = seen = float("nan")
        else:
            growth_true = growth(y_true, self.prev_true)
            real_rep = ratio(y_rep, self.prev_reported)
            seen = real_rep - 1.0  # the bureau's view: reported quantities, no price index
            chain = real_rep * (1.0 + hidden) * (1.0 + p.hierarchy_inflation) ** p.hierarchy_levels
            growth_rep = chain - 1.0
            self.official = self.official * chain if np.isfinite(chain) else y_rep

        s = st.investment_rate
        consumption = (1.0 - s) * np.maximum(net, 0.0) * values
        short = shortage(sec, consumption, (1.0 - s) * y_rep)
        made = np.maximum(sector_sum(st.sector, output, S), 1e-12)
        use_s = sector_sum(st.sector, output * use_per_unit(st, p), S) / made
        use_value = delivered_use(sec, consumption, use_s, p.substitution_use) / st.labour_force

        bonus = 0.1 * np.clip((reported - st.target) / np.maximum(st.target, 1e-12), -0.2, 0.2)
        wages = st.wage * (1.0 + bonus)
        gini_, spread = income_measures(st, wages, p.unemployment_benefit * st.wage)

        cost = unit_cost(sec, st, p)
        prices = st.fixed_price[st.sector]
        losing = st.open & (cost > prices)
        loss_share = loss_making_share(st, cost, prices)
        st.loss_years = np.where(losing, st.loss_years + 1, 0)
        closed_now = 0
        if not p.soft_budget:
            closing = st.open & (st.loss_years >= p.closure_years)
            closed_now = int(closing.sum())
            self.closure_layoffs += float(st.workers[closing].sum())
            st.unemployed += float(st.workers[closing].sum())
            st.open &= ~closing
            st.capital = np.where(closing, 0.0, st.capital)
            st.workers = np.where(closing, 0.0, st.workers)
        st.closed_total += closed_now

        # investment by reported capacity; targets by ratchet and allocated capital
        investment = s * y_true
        # by capital in place, scaled by the capacity the bureau is told of (not by productivity)
        weight = np.where(st.open, st.capital * cap_reported / np.maximum(cap, 1e-12), 0.0)
        alloc = investment * weight / max(weight.sum(), 1e-12)
        st.capital = st.capital * (1.0 - p.depreciation) + alloc * efficiency
        st.target = next_target(st.target, reported, p.ratchet)
        if t:
            rate = s + p.investment_response * (p.growth_target - seen)
            st.investment_rate = float(np.clip(rate, p.investment_rate, p.investment_rate_max))
        st.quality = st.quality - p.quality_decay * (st.quality - 0.2)
        self.prev_true, self.prev_reported = y_true, y_rep
        st.output_prev = output  # what a regime that follows starts from (state orders)
        st.labour_force *= 1.0 + p.labour_force_growth
        open_full = float(full.sum())
        return {
            "output_true": y_true,
            "output_reported": self.official,
            "growth_true": growth_true,
            "growth_reported": growth_rep,
            "use_value": use_value,
            "fulfilment_true": ratio(float(output.sum()), float(target.sum())),
            "fulfilment_reported": ratio(float(reported.sum()), float(target.sum())),
            "shortage": short,
            "unused_capacity": 1.0 - float(output.sum()) / open_full,
            "concealment": 1.0 - float(cap_reported.sum()) / float(cap.sum()),
            "quality": float(np.average(st.quality, weights=np.maximum(output, 1e-12))),
            "light_share": _light_share(st, output),
            "unemployment": st.unemployed / st.labour_force,
            "hours_worked": p.hours_per_year * employed / (st.labour_force / (1.0 + p.labour_force_growth)),
            "gini": gini_,
            "wage_spread": spread,
            "closed": float(st.closed_total),
            "closure_layoffs": self.closure_layoffs / st.labour_force,
            "loss_making": loss_share,
            "investment_rate": s,
            "products": products,
            "meeting_hours": 0.0,
            "rounds": 0.0,
            "efficiency": float(np.average(efficiency, weights=np.maximum(full, 1e-12))),
            "staffed": staffed,
        }


def _light_share(state: State, output: np.ndarray) -> float:
    with_variant = state.has_variant & state.open
    total = float(output[with_variant].sum())
    return float((output * state.light)[with_variant].sum() / total) if total > 0 else 0.0
