"""Market socialism after the 1987 Law on the State Enterprise, one year a step.

Rules (parameters and sources in :mod:`glasnost.simulate.params`):

1. *Demand*: households spend last year's wages actually paid, the budget's share of profit
   and benefits (``unemployment_benefit`` x the mean wage paid), enterprises last year's
   investment funds, in the composition of the needs; consumer prices rise as subsidies on
   food, transport and housing (``subsidy_share`` of household spending) are phased out over
   ``subsidy_phase_years``. Sector demand for gross output follows from the input-output
   technology; each enterprise's share of its sector falls with its price relative to the fixed
   price (elasticity ``demand_elasticity``) and rises with the use value it offers.
2. *Prices*: each enterprise moves its price (speed ``price_adjustment``) towards ``markup``
   over unit cost, raised when it sells out and cut when stocks pile up. Year 0 sells at the
   fixed prices of the command economy (where ``loss_making`` is the reform's starting figure).
   State orders (``goszakaz``): in the first ``goszakaz_years`` the budget buys what the market
   leaves of ``goszakaz_share`` (falling linearly to 0) of each enterprise's last output.
3. *Self-financing*: inputs are bought at the prices their makers charge (the sector's mean
   price, by last year's sales), so what buyers pay is what sellers receive; profit = revenue -
   materials - base wages - depreciation; a share
   ``retained_share`` of profit is paid as wage bonus, ``market_investment_share`` of the rest
   invested in the enterprise itself; losses are no longer covered. The bank lends
   ``credit_share`` of value added (new money) to solvent enterprises for investment, by capital
   and utilisation: without it, spending last year's income could never buy more than last
   year's output. The state budget keeps nominal spending at ``spending_floor`` of last year's
   at least (deficit spending).
4. *Closures*: with ``closures`` on, an enterprise with ``closure_years`` loss years in a row
   closes; its workers become unemployed.
5. *Lay-offs and hiring*: workers beyond the need for what is sold (plus
   ``layoff_tolerance``) are laid off, at most ``layoff_rate`` of a workforce a year;
   ``hiring_rate`` of vacancies are filled from the unemployed. Under ``ward_vanek`` (Ward 1958,
   Vanek 1970) members are not laid off, but a labour-managed firm fills only
   ``ward_vanek_hiring`` of those vacancies (hiring dilutes income per worker). The labour
   force grows by ``labour_force_growth``.
6. *Variants*: buyers pay for use, so the lighter, better variant is made.
"""

from __future__ import annotations

import numpy as np

from glasnost.simulate.institutions import institutions
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
    use_per_unit,
)
from glasnost.simulate.state import Sectors, State, base_wage, capacity_of, labour_per_unit, products_now


class MarketRegime:
    """Market socialism on ``state`` (changed in place)."""

    name = "market"

    def __init__(self, sectors: Sectors, state: State, params: Params, rng: np.random.Generator) -> None:
        self.sectors, self.state, self.params, self.rng = sectors, state, params, rng
        self.inst = institutions("market", params)
        state.price = state.fixed_price[state.sector].copy()
        state.loss_years = np.zeros_like(state.loss_years)  # the law's closure clock starts with it
        # profit per unit of capacity: the light variant sells for (1 + betterness) of the use
        # and saves lightness of the materials; make it where it earns more
        s = state.sector
        material = _material_cost(sectors, state)
        heavy = state.price - material
        light = state.price * (1.0 + params.betterness) - material * (1.0 - params.lightness)
        choose_variant(state, heavy, light)
        full = capacity_of(sectors, state, params)
        # year 0 spends the value added at capacity at the fixed prices, investment_rate of it
        # on investment
        added = float(((state.price - material) * full).sum())
        self.investment = params.investment_rate * added
        self.income = added - self.investment
        self.price_level = float((state.price * full).sum() / (sectors.values[s] * full).sum())
        self.prev_true = 0.0
        self.need_prev = state.workers.copy()
        self.closure_layoffs = 0.0
        self.capital0 = float(state.capital.sum())
        # last year's output (the state orders a share of it) and the mean wage paid (benefits)
        self.made_prev = np.minimum(state.output_prev, full)
        self.mean_wage = state.wage
        # the pay link: last year's bonuses over the wage bill; before the first year, what the
        # profit bonus would be at the fixed prices and full capacity
        base_wages = state.wage * state.workers
        profit = (state.price - material) * full - base_wages - params.depreciation * state.capital
        bonus = params.retained_share * float(np.maximum(profit, 0.0).sum())
        self.pay_link = bonus / max(float(base_wages.sum()) + bonus, 1e-300)
        self.hoard = 0.0
        self.shortage_prev = 0.0

    def step(self, t: int) -> dict[str, float]:
        sec, st, p, inst = self.sectors, self.state, self.params, self.inst
        st.wage = base_wage(p, st.year)
        S = sec.size
        s = st.sector
        capacity = capacity_of(sec, st, p)
        per_unit = labour_per_unit(sec, st, p, st.year)
        work = rules.effort(self.pay_link, p)
        full = np.minimum(capacity, st.workers / per_unit) * work  # no more than its workers make
        composition = sec.needs * sec.values / (sec.needs @ sec.values)
        subsidy_cut = p.subsidy_share * min(1.0, (t + 1) / max(p.subsidy_phase_years, 1)) if t else 0.0
        household_real = self.income / (self.price_level * (1.0 + subsidy_cut))
        final_value = household_real + self.investment / self.price_level
        final_units = final_value * composition / sec.values
        gross_units = sec.leontief @ final_units

        use = use_per_unit(st, p)
        relative_price = st.price / st.fixed_price[s]
        weight = np.where(st.open, capacity * relative_price ** (-p.demand_elasticity) * use, 0.0)
        sales = _allocate(s, S, gross_units, weight, full)
        wanted = _allocate(s, S, gross_units, weight, capacity * work)  # what it could sell, fully staffed
        # state orders: the budget buys what the market leaves of the ordered share of last
        # year's output (a guaranteed sale, for state use)
        ordered = _state_orders(p, t) * self.made_prev
        state_bought = np.where(st.open, np.maximum(np.minimum(ordered, full) - sales, 0.0), 0.0)
        sales = sales + state_bought
        wanted = np.maximum(wanted, np.minimum(ordered, capacity))
        # production is scheduled for the orders; forecast errors and suppliers' short-falls
        # leave some of it unmade (the same rule as the plans')
        sales, lacking = rules.realise(sales, full, s, sec, self.hoard, p, self.rng)

        # inputs are bought at the prices their makers charge, so what buyers pay is what
        # sellers receive (at base prices, money would vanish whenever prices fell below values);
        # hoarded inputs are bought too
        material = _material_cost(sec, st) * (1.0 - p.lightness * st.light * st.has_variant) * (1.0 + self.hoard)
        revenue = st.price * sales * (1.0 + p.betterness * st.light * st.has_variant)
        depreciation = p.depreciation * st.capital
        base_wages = st.wage * st.workers
        profit = np.where(st.open, rules.profit(revenue, material * sales, base_wages, depreciation), 0.0)
        losing = st.open & (profit < 0)
        loss_share = float(losing.sum() / max(st.open.sum(), 1))
        bonus = p.retained_share * np.maximum(profit, 0.0)
        # a loss-maker without subsidies pays what revenue leaves for wages
        shortfall = np.where(losing, np.minimum(-profit, base_wages), 0.0)
        wage_bill = base_wages + bonus - shortfall
        wages = np.where(st.workers > 0, wage_bill / np.maximum(st.workers, 1e-12), st.wage)
        # depreciation funds replace capital; of the profit left after bonuses, the enterprise
        # invests market_investment_share and pays the rest to the budget (public spending)
        kept = (1.0 - p.retained_share) * np.maximum(profit, 0.0)
        invest = depreciation + p.market_investment_share * kept
        public = float(((1.0 - p.market_investment_share) * kept).sum())
        # bank credit (new money) for solvent enterprises, by capital and how fully they sell
        added = float((revenue - material * sales).sum())
        solvent = np.where(st.open & (profit >= 0), st.capital * sales / np.maximum(full, 1e-12), 0.0)
        if solvent.sum() > 0:
            invest = invest + p.credit_share * added * solvent / solvent.sum()
        benefit = p.unemployment_benefit * self.mean_wage
        gini_, spread = income_measures(st, wages, benefit)

        net = net_output(sec, st, sales, p, self.hoard)
        y_true = float(net @ sec.values)
        consumption = np.maximum(net, 0.0) * sec.values * household_real / max(final_value, 1e-12)
        short, use_value = households(sec, st, sales, consumption, household_real, p)
        growth_true = growth(y_true, self.prev_true) if t else float("nan")

        # wages of this year are paid by every enterprise open during it, closing ones included
        paid = float(np.where(st.open, wage_bill, 0.0).sum())
        working = float(np.where(st.open, st.workers, 0.0).sum())
        mean_wage = paid / working if working > 0 else self.mean_wage
        bonuses = float(np.where(st.open, bonus, 0.0).sum())
        # closures (hard budget), lay-offs, hiring
        closing_now = rules.closing(st, losing, inst, p)
        public += float(invest[closing_now].sum())  # a closed enterprise's funds go to the budget
        invest = np.where(closing_now, 0.0, invest)
        laid_off, freed = rules.shut(st, closing_now, p)
        self.closure_layoffs += laid_off
        if freed > 0 and solvent.sum() > 0:  # its machines are bought by those that sell well
            st.capital = st.capital + freed * np.where(st.open, solvent, 0.0) / solvent.sum()
        need = np.where(st.open, per_unit * wanted / work, 0.0)
        if not p.ward_vanek:
            excess = np.minimum(
                np.maximum(st.workers - need * (1.0 + p.layoff_tolerance), 0.0), p.layoff_rate * st.workers
            )
            st.workers = st.workers - excess
            st.unemployed += float(excess.sum())
        vacancies = np.maximum(need - st.workers, 0.0)
        if p.ward_vanek:  # a labour-managed firm hires for this year's expansion only
            vacancies = np.minimum(vacancies, np.maximum(need - self.need_prev, 0.0))
        self.need_prev = need
        fill = p.hiring_rate * (p.ward_vanek_hiring if p.ward_vanek else 1.0)
        hires = min(st.unemployed, fill * float(vacancies.sum()))
        if vacancies.sum() > 0:
            st.workers = st.workers + hires * vacancies / vacancies.sum()
        st.unemployed -= hires
        growth_lf = p.labour_force_growth * st.labour_force
        st.labour_force += growth_lf
        st.unemployed += growth_lf
        unemployment = st.unemployed / st.labour_force

        # prices towards mark-up over unit cost, pushed by sell-out or stocks
        # normal-cost pricing: fixed costs spread over at least normal_utilisation of capacity,
        # not over an empty order book (where they would drive the price, and a near-empty
        # enterprise's bonus per worker, without bound)
        unit = (material * sales + base_wages + depreciation) / np.maximum(sales, p.normal_utilisation * full + 1e-12)
        utilisation = sales / np.maximum(full, 1e-12)
        aim = (1.0 + p.markup) * unit * (1.0 + 0.5 * (utilisation - 0.9))
        st.price = np.where(st.open, st.price + p.price_adjustment * (aim - st.price), st.price)
        sold_value = float((st.price * sales).sum())
        base_value = float((sec.values[s] * sales).sum())
        self.price_level = sold_value / max(base_value, 1e-12)
        st.capital = np.where(st.open, st.capital * (1.0 - p.depreciation) + invest, 0.0)
        signal = rules.quality_signal(inst, self.shortage_prev)
        st.quality = np.where(st.open, rules.next_quality(st.quality, signal, p), st.quality)
        self.mean_wage = mean_wage
        benefits = p.unemployment_benefit * self.mean_wage * st.unemployed
        income = paid + benefits + public
        # the state budget keeps nominal spending from falling more than spending_floor allows
        floor = p.spending_floor * (self.income + self.investment)
        self.income = max(income, floor - float(invest.sum()))
        self.investment = float(invest.sum())
        self.prev_true = y_true
        self.made_prev = np.where(st.open, sales, 0.0)
        st.output_prev = self.made_prev
        hoarded = self.hoard
        self.hoard = rules.hoard_share(inst, lacking, p)
        self.shortage_prev = short
        effort_now = work
        self.pay_link = bonuses / max(paid, 1e-300) if paid > 0 else 0.0
        open_full = max(float(capacity.sum()), 1e-12)
        return {
            "output_true": y_true,
            "output_reported": y_true,
            "growth_true": growth_true,
            "growth_reported": growth_true,
            "use_value": use_value,
            "fulfilment_true": float("nan"),
            "fulfilment_reported": float("nan"),
            "shortage": short,
            "unused_capacity": 1.0 - float(sales.sum()) / open_full,
            "concealment": 0.0,
            "quality": float(np.average(st.quality, weights=np.maximum(sales, 1e-300))) if sales.sum() > 0
            else float(st.quality.mean()),
            "light_share": light_share(st, sales),
            "unemployment": unemployment,
            "hours_worked": p.hours_per_year * (st.labour_force - st.unemployed) / st.labour_force,
            "gini": gini_,
            "wage_spread": spread,
            "closed": float(st.closed_total),
            "closure_layoffs": self.closure_layoffs / st.labour_force,
            "loss_making": loss_share,
            "investment_rate": float(invest.sum()) / max(float((net * sec.values).sum()) * self.price_level, 1e-12),
            "products": products_now(st, self.capital0, p),
            "meeting_hours": 0.0,
            "rounds": 0.0,
            "efficiency": 1.0,
            "staffed": float(np.minimum(st.workers, need).sum() / max(float(need.sum()), 1e-12)),
            "effort": effort_now,
            "hoarding": hoarded,
            "input_shortfall": lacking,
            "capital": float(st.capital.sum()),
        }


def _state_orders(params: Params, t: int) -> float:
    """Share of last year's output the state orders in reform year ``t`` (0 when switched off):
    ``goszakaz_share`` in the first year, falling linearly to 0 after ``goszakaz_years``."""
    if not params.goszakaz or params.goszakaz_years < 1 or t >= params.goszakaz_years:
        return 0.0
    return params.goszakaz_share * (1.0 - t / params.goszakaz_years)


def _material_cost(sectors: Sectors, state: State) -> np.ndarray:
    """Cost of the inputs per unit of each enterprise's (heavy) product at the sector prices in
    force: ``(P A)_s``, ``P_i`` the mean price of the open enterprises of ``i`` weighted by what
    they sold last year (so one that sells nothing sets no one's input prices); the fixed price
    where a sector sold nothing."""
    S = sectors.size
    weight = np.where(state.open, state.output_prev, 0.0)
    paid = sector_sum(state.sector, weight * state.price, S)
    total = sector_sum(state.sector, weight, S)
    index = np.where(total > 0, paid / np.maximum(total, 1e-300), state.fixed_price)
    return (index @ sectors.A)[state.sector]


def _allocate(
    sector: np.ndarray, n_sectors: int, demand: np.ndarray, weight: np.ndarray, capacity: np.ndarray, passes: int = 4
) -> np.ndarray:
    """Sector demand shared by ``weight``; what capacity-bound enterprises cannot sell passes to
    those with room, in a few passes (vectorised over enterprises)."""
    sales = np.zeros_like(capacity)
    remaining = demand.astype(float).copy()
    for _ in range(passes):
        room = capacity - sales
        w = np.where(room > 1e-12, weight, 0.0)
        total = sector_sum(sector, w, n_sectors)
        offer = remaining[sector] * w / np.maximum(total[sector], 1e-300)
        take = np.minimum(offer, room)
        sales += take
        remaining = np.maximum(remaining - sector_sum(sector, take, n_sectors), 0.0)
    return sales
