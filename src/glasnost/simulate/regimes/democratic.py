"""Democratic planning with open books, one year a step.

Rules (parameters and sources in :mod:`glasnost.simulate.params`):

1. *The annual plan* is drawn up by the participatory procedure (``procedure``, Hahnel's by
   default, :func:`glasnost.procedures.participate`) on the sector economy, with at most
   ``round_cap`` rounds. ``plan_samples`` consecutive planning years are run (the first plan,
   then yearly replans, each with one published year-to-year change of the councils' exponents
   and starting from last year's prices, :func:`planning_years`); the regime's first year uses
   the first plan, each later year draws one of the replans. Every round costs
   each worker ``meeting_hours_per_round`` hours, taken from production; the demand the last
   round leaves unmet is the year's shortage.
2. *Coordination*: the calculator balances every product, so the complexity loss of command
   planning is absent (assumption ``democratic_coverage``: set it below 1 to test it).
3. *Open books*: reports are public and cross-checked. Plans build on reports with a ratchet
   (``democratic_ratchet``), so a council may still wish to hide capacity; it hides only when
   ``(1 - p) (ratchet cost - 1) > p audit_penalty``, with ``p = audit_probability`` (a hidden
   reserve found is fined and the plan resets to the truth). A short-falling council pads its
   report (by up to ``padding_limit``) only if ``1 - q > q audit_penalty``, ``q =
   cross_check_probability``: the chance that receivers' reports contradict it; caught pads are
   corrected.
4. *Use value*: quality and use, not tonnage, are measured, so the lighter, better variant is
   made; consumers' ratings enter the next plan (quality rises by ``quality_feedback``).
5. *Labour* is reallocated by the plan: the plan retires the worst-equipped
   ``plan_closure_share`` of capacity each year and moves its workers; between jobs
   ``frictional_unemployment`` of the labour force. Wages are equal per hour.
6. *Investment*: ``democratic_investment_rate`` of net output, by capital in place.
"""

from __future__ import annotations

import numpy as np

from glasnost.simulate.managers import conceals, next_target, pads, ratchet_cost
from glasnost.simulate.measures import sector_sum
from glasnost.simulate.params import Params, SimulationError
from glasnost.simulate.regimes.common import (
    choose_variant,
    delivered_use,
    growth,
    income_measures,
    loss_making_share,
    net_output,
    ratio,
    use_per_unit,
    variant_indicator,
)
from glasnost.simulate.state import Sectors, State, capacity_of, labour_per_unit, unit_cost

_PLANS: dict[tuple[str, int, int, int, float], list[tuple[int, float]]] = {}


def planning_years(
    procedure: str, round_cap: int, samples: int, seed: int, council_returns: float = 0.80
) -> list[tuple[int, float]]:
    """(rounds, unmet share of demand) for ``samples`` consecutive planning years of the demo
    economy: the first plan, then yearly replans.

    Runs the real participatory procedure over ``samples`` years, as the published experiments
    ran their second year: each year perturbs the councils' exponents (one published
    year-to-year change) and starts from the previous year's final prices and board state. The
    first year starts every price at the consumers' total income over the hours of labour
    available (the price of an hour if all income were wages), on this economy's scale; the
    published start of 700 is the experiments' scale, about 80 times this economy's prices, and
    the price rule needs some 30 rounds just to walk the price level down from it. Worker
    councils have decreasing returns ``council_returns``. Cached per arguments.
    """
    key = (procedure, round_cap, samples, seed, council_returns)
    if key in _PLANS:
        return _PLANS[key]
    from glasnost.data.demo import demo_economy
    from glasnost.procedures import participate
    from glasnost.procedures.hahnel import HahnelEconomy, run_hahnel

    if procedure not in ("hahnel", "labour-time"):
        raise SimulationError(f"parameter procedure: {procedure!r} is not hahnel or labour-time")
    he = HahnelEconomy.from_economy(demo_economy(), returns=council_returns)
    years = max(samples, 1)
    if procedure == "hahnel":
        start = float(he.consumers.income.sum() / he.fixed_supply.sum())
        histories = run_hahnel(
            he, years=years, seed=seed, prices=start, max_rounds=round_cap, keep_proposals=False
        ).years
    else:
        histories = participate(
            he, procedure=procedure, years=years, seed=seed, max_rounds=round_cap, keep_proposals=False
        ).years
    out: list[tuple[int, float]] = []
    for history in histories:
        last = history.last
        watched = history.watched
        demand, supply = last.demand[watched], last.supply[watched]
        unmet = float(np.maximum(demand - supply, 0.0).sum() / max(float(demand.sum()), 1e-12))
        out.append((history.n_rounds, unmet))
    _PLANS[key] = out
    return out


class DemocraticRegime:
    """Democratic planning on ``state`` (changed in place)."""

    name = "democratic"

    def __init__(self, sectors: Sectors, state: State, params: Params, rng: np.random.Generator) -> None:
        self.sectors, self.state, self.params, self.rng = sectors, state, params, rng
        p = params
        cost = ratchet_cost(state.beta, p.democratic_ratchet)
        wish = conceals(state.beta, p.democratic_ratchet)
        q = p.audit_probability
        self.concealing = wish & ((1.0 - q) * (cost - 1.0) > q * p.audit_penalty)
        material_share = sectors.material_value[state.sector] / sectors.values[state.sector]
        choose_variant(state, *variant_indicator(p.with_(indicator="use"), material_share))
        state.target = np.where(self.concealing, state.target * (1.0 - p.safety_reserve), state.target)
        self.cap_reported_prev = np.ones(state.n)
        self.plans = planning_years(
            p.procedure, p.round_cap, p.plan_samples, int(rng.integers(0, 2**31)), p.council_returns
        )
        self.prev_true = 0.0
        self.prev_reported = 0.0
        self.capital0 = float(state.capital.sum())

    def step(self, t: int) -> dict[str, float]:
        sec, st, p = self.sectors, self.state, self.params
        S = sec.size
        # the regime's first year draws up the first plan; later years replan from last year's
        # prices (one of the yearly replans, drawn)
        k = 0 if t == 0 or len(self.plans) == 1 else 1 + int(self.rng.integers(0, len(self.plans) - 1))
        rounds, unmet = self.plans[k]
        meeting = rounds * p.meeting_hours_per_round
        time_left = max(0.0, 1.0 - meeting / p.hours_per_year)

        full = capacity_of(sec, st, p)
        per_unit = labour_per_unit(sec, st, p, st.year)
        need = per_unit * full
        employed = st.labour_force * (1.0 - p.frictional_unemployment)
        st.unemployed = st.labour_force - employed
        staffed = min(1.0, employed / max(float(need.sum()), 1e-12))
        st.workers = employed * need / max(float(need.sum()), 1e-12)
        cap = full * staffed * time_left * p.democratic_coverage

        audited = self.rng.random(st.n) < p.audit_probability
        hiding = self.concealing & ~audited
        cap_reported = np.where(hiding, cap * (1.0 - p.safety_reserve), cap)
        if t:
            st.target = st.target * cap_reported / np.maximum(self.cap_reported_prev, 1e-12)
        st.target = np.where(self.concealing & audited, cap, st.target)  # found: the plan resets
        target = st.target.copy()
        output = np.where(hiding, np.minimum(cap, target * (1.0 + p.safety_margin)), cap)
        cap_reported = np.where(hiding, np.maximum(cap_reported, output), cap)
        self.cap_reported_prev = cap_reported
        # padding a short-fall pays only if receivers' reports miss it (reconciliation)
        q = p.cross_check_probability
        if (1.0 - q) > q * p.audit_penalty:
            padded = pads(output, target, p.padding_limit)
            caught = self.rng.random(st.n) < q
            reported = np.where(caught, output, padded)
        else:
            reported = output

        net = net_output(sec, st, output, p, 0.0)
        y_true = float(net @ sec.values)
        y_rep = float(net_output(sec, st, reported, p, 0.0) @ sec.values)
        growth_rep = growth(y_rep, self.prev_reported) if t else float("nan")
        s = p.democratic_investment_rate
        consumption = (1.0 - s) * np.maximum(net, 0.0) * sec.values
        made = np.maximum(sector_sum(st.sector, output, S), 1e-12)
        use_s = sector_sum(st.sector, output * use_per_unit(st, p), S) / made
        delivered = delivered_use(sec, consumption, use_s, p.substitution_use)
        use_value = delivered * (1.0 - unmet * (1.0 - p.substitution_use)) / st.labour_force
        growth_true = growth(y_true, self.prev_true) if t else float("nan")

        wages = st.wage * np.ones(st.n)
        gini_, spread = income_measures(st, wages, p.unemployment_benefit * st.wage)
        cost = unit_cost(sec, st, p)
        loss_share = loss_making_share(st, cost, st.fixed_price[st.sector])

        # the plan retires the worst-equipped capacity; its capital is reinvested elsewhere
        retire = _worst(st, p.plan_closure_share)
        st.closed_total += int(retire.sum())
        freed = float(st.capital[retire].sum())
        st.open &= ~retire
        st.capital = np.where(retire, 0.0, st.capital)
        investment = s * y_true
        weight = np.where(st.open, st.capital, 0.0)
        funds = investment + 0.5 * freed  # half the retired capital's value is salvaged
        st.capital = st.capital * (1.0 - p.depreciation) + funds * weight / max(weight.sum(), 1e-12)
        st.target = next_target(st.target, output, p.democratic_ratchet)
        st.quality = st.quality + p.quality_feedback * (1.0 - st.quality)
        self.prev_true, self.prev_reported = y_true, y_rep
        st.output_prev = output  # what a regime that follows starts from (state orders)
        st.labour_force *= 1.0 + p.labour_force_growth
        return {
            "output_true": y_true,
            "output_reported": y_rep,
            "growth_true": growth_true,
            "growth_reported": growth_rep,
            "use_value": use_value,
            "fulfilment_true": ratio(float(output.sum()), float(target.sum())),
            "fulfilment_reported": ratio(float(reported.sum()), float(target.sum())),
            "shortage": unmet,
            "unused_capacity": 1.0 - float(output.sum()) / max(float((full * staffed).sum()), 1e-12),
            "concealment": 1.0 - float(cap_reported.sum()) / max(float(cap.sum()), 1e-12),
            "quality": float(np.average(st.quality, weights=np.maximum(output, 1e-12))),
            "light_share": _light_share(st, output),
            "unemployment": p.frictional_unemployment,
            "hours_worked": (p.hours_per_year * time_left + meeting) * (1.0 - p.frictional_unemployment),
            "gini": gini_,
            "wage_spread": spread,
            "closed": float(st.closed_total),
            "closure_layoffs": 0.0,  # the plan moves the workers of what it retires
            "loss_making": loss_share,
            "investment_rate": s,
            "products": p.products * max(float(st.capital.sum()) / self.capital0, 1e-9) ** p.product_elasticity,
            "meeting_hours": meeting,
            "rounds": float(rounds),
            "efficiency": p.democratic_coverage,
            "staffed": staffed,
        }


def _worst(state: State, share: float) -> np.ndarray:
    """The open enterprises with the lowest productivity, ``share`` of the open ones."""
    open_idx = np.flatnonzero(state.open)
    k = int(share * open_idx.size)
    out = np.zeros(state.n, bool)
    if k > 0:
        worst = open_idx[np.argpartition(state.tfp[open_idx], k - 1)[:k]]
        out[worst] = True
    return out


def _light_share(state: State, output: np.ndarray) -> float:
    with_variant = state.has_variant & state.open
    total = float(output[with_variant].sum())
    return float((output * state.light)[with_variant].sum() / total) if total > 0 else 0.0
