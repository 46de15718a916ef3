"""The rules every regime runs, the same functions with the same parameters; a regime enters
only through its :class:`~glasnost.simulate.institutions.Institutions`.

Each mechanism has a switch (a parameter at which it does nothing), and
``tests/test_simulate_rules.py`` checks that its effect vanishes there and that giving one
regime another's institutions gives it the other's effect.

- :func:`concealing`: who hides capacity (the ratchet against the audit's expected sanction).
- :func:`report`: padding of short-falls (pripiski) against the chance of a cross-check.
- :func:`effort`: effort as pay moves with the workplace's result or not.
- :func:`quality_signal`, :func:`next_quality`: quality rises with what users can say or do
  about it and drifts down without.
- :func:`hoard_share`: inputs hoarded as insurance against last year's delivery failures.
- :func:`realise`: forecast errors against the plan (or schedule) and the input shortfall they
  pass to customers, softened by hoards.
- :func:`time_left`: working time left after planning meetings and audits.
- :func:`official_chain`: what reports add to growth on the way up.
- :func:`closing`: closures of persistent loss-makers under a hard budget.
"""

from __future__ import annotations

import numpy as np

from glasnost.simulate.institutions import Institutions
from glasnost.simulate.managers import ratchet_cost
from glasnost.simulate.measures import sector_sum
from glasnost.simulate.params import Params
from glasnost.simulate.state import Sectors, State

__all__ = [
    "closing",
    "concealing",
    "detection",
    "effort",
    "hoard_share",
    "next_quality",
    "official_chain",
    "profit",
    "quality_signal",
    "realise",
    "report",
    "time_left",
]


def detection(probability: float, p: Params) -> float:
    """Chance that a check finds what it looks for and says so: ``probability`` times the
    chance that the auditor is not bought off (``auditor_collusion``)."""
    return probability * (1.0 - p.auditor_collusion)


def concealing(beta: np.ndarray, inst: Institutions, p: Params) -> np.ndarray:
    """Who hides capacity: the ratchet makes one more unit produced cost
    ``ratchet beta / (1 - beta)`` bonuses in later targets (Weitzman 1980); hiding pays if
    ``(1 - d)(cost - 1) > d x audit_penalty``, ``d`` the chance an audit finds it.

    Under Weitzman's (1976) new incentive model (``new_incentive``) the truthful proposal is
    optimal while ``alpha < b < gamma``, so nobody hides; where the inequality breaks, all do.
    """
    if inst.ratchet <= 0.0:
        return np.zeros(beta.shape, bool)
    if p.new_incentive:
        return np.full(beta.shape, not p.nsim_alpha < p.nsim_b < p.nsim_gamma)
    d = detection(inst.audit, p)
    return (1.0 - d) * (ratchet_cost(beta, inst.ratchet) - 1.0) > d * p.audit_penalty


def report(output: np.ndarray, target: np.ndarray, inst: Institutions, p: Params,
           rng: np.random.Generator) -> np.ndarray:
    """Reported output. A short-falling producer pads its report up to the target (by
    ``padding_limit`` at most) if ``1 - q > q x audit_penalty``, ``q`` the chance its receivers'
    reports contradict it; contradicted reports are corrected. No targets, nothing to pad."""
    if inst.ratchet <= 0.0:
        return output
    q = detection(inst.cross_check, p)
    if not (1.0 - q) > q * p.audit_penalty:
        return output
    padded = np.where(output < target, np.minimum(target, output * (1.0 + p.padding_limit)), output)
    caught = rng.random(output.size) < q
    return np.where(caught, output, padded)


def effort(pay_link: float, p: Params) -> float:
    """Effort: output per worker-hour relative to the starting economy, whose labour
    coefficients were observed under the pay link ``observed_pay_link``:
    ``(1 - effort_gap (1 - pay_link)) / (1 - effort_gap (1 - observed_pay_link))``."""

    def level(link: float) -> float:
        return 1.0 - p.effort_gap * (1.0 - min(max(link, 0.0), 1.0))

    return level(pay_link) / level(p.observed_pay_link)


def quality_signal(inst: Institutions, shortage: float) -> float:
    """Share of a producer's reward or plan that moves with quality: users' ratings that reach
    it, plus buyers who can go elsewhere, of whom only those whose demand is met can choose (in a
    seller's market there is nowhere to go, Kornai 1980)."""
    return float(min(1.0, inst.ratings + inst.buyer_choice * (1.0 - min(max(shortage, 0.0), 1.0))))


def next_quality(quality: np.ndarray, signal: float, p: Params) -> np.ndarray:
    """Quality rises towards 1 at ``quality_response x signal`` and drifts down towards
    ``quality_floor`` at ``quality_decay``."""
    up = p.quality_response * signal * (1.0 - quality)
    down = p.quality_decay * (quality - p.quality_floor)
    return np.clip(quality + up - down, 0.0, 1.0)


def hoard_share(inst: Institutions, supply_risk: float, p: Params) -> float:
    """Inputs hoarded above need, as a share of inputs: ``hoarding_response`` x last year's share
    of inputs not delivered, scaled by ``hard_budget_hoarding`` where stocks cost the enterprise,
    less what audits find and release."""
    budget = 1.0 if inst.soft_budget else p.hard_budget_hoarding
    share = p.hoarding_response * max(supply_risk, 0.0) * budget * (1.0 - detection(inst.audit, p))
    return float(min(share, 0.5))


def realise(intended: np.ndarray, capacity: np.ndarray, sector: np.ndarray, sectors: Sectors, hoard: float,
            p: Params, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Output after forecast errors and the input shortfall they cause; and the share of inputs
    not delivered (before hoards), weighted by material cost.

    Each producer's ``capacity`` turns out ``exp(e - sd^2 / 2)`` times its forecast, ``e ~ N(0,
    forecast_error)``; it makes ``min(intended, what it turns out able to make)``: inputs were
    allocated (or bought) for what was intended, so a good surprise finds none, and a producer
    that intended less than its capacity (a hidden reserve, slack demand) has a buffer. Sector ``i``
    delivers ``d_i`` of what was intended; a sector's customers lack ``sum_i w_i (1 - d_i)`` of
    their inputs (``w_i`` the input's share of material cost), less the hoard they hold, and
    lose that share of output (one round of the cascade).
    """
    sd = p.forecast_error
    if sd <= 0.0 or intended.size == 0:
        return intended, 0.0
    S = sectors.size
    turns_out = capacity * np.exp(rng.normal(-0.5 * sd * sd, sd, intended.size))
    own = np.minimum(intended, turns_out)
    planned = sector_sum(sector, intended, S)
    made = sector_sum(sector, own, S)
    missing = np.where(planned > 0, 1.0 - made / np.maximum(planned, 1e-300), 0.0)
    weights = sectors.A * sectors.values[:, None]  # input i's cost in a unit of s
    weights = weights / np.maximum(weights.sum(axis=0, keepdims=True), 1e-300)
    lacking = missing @ weights  # (S,) share of each sector's inputs not delivered
    loss = np.clip(lacking - hoard, 0.0, 1.0)
    out = own * (1.0 - loss[sector])
    share = float(np.average(lacking, weights=np.maximum(made, 1e-300))) if made.sum() > 0 else 0.0
    return out, share


def time_left(meeting_hours: float, audited: np.ndarray, p: Params) -> np.ndarray:
    """Share of working time left for production in each enterprise after planning meetings
    (hours per worker) and audits (``audit_hours`` per worker where audited)."""
    used = meeting_hours + p.audit_hours * audited
    return np.clip(1.0 - used / p.hours_per_year, 0.0, 1.0)


def official_chain(real_growth: float, inst: Institutions, p: Params) -> float:
    """Official index of one year: reported real growth, times ``1 + hidden_inflation`` where
    the reward is in roubles (new cost-plus products priced up), times ``1 +
    hierarchy_inflation`` at each level reports pass. The last two are rates put in (fitted or
    assumed), not mechanisms: see ``docs/simulate.md``."""
    hidden = p.hidden_inflation if inst.reward == "roubles" else 0.0
    return real_growth * (1.0 + hidden) * (1.0 + p.hierarchy_inflation) ** inst.hierarchy_levels


def profit(revenue: np.ndarray, materials: np.ndarray, wages: np.ndarray, depreciation: np.ndarray) -> np.ndarray:
    """An enterprise's accounts, the same in every regime: revenue at the prices in force less
    what its inputs cost, its base wage bill and depreciation (all in money of the year)."""
    return revenue - materials - wages - depreciation


def closing(state: State, losing: np.ndarray, inst: Institutions, p: Params) -> np.ndarray:
    """Count loss years; under a hard budget the open enterprises with ``closure_years`` losses
    in a row close (returned mask). Under a soft budget losses are covered and nobody closes."""
    state.loss_years = np.where(losing, state.loss_years + 1, 0)
    if inst.soft_budget:
        return np.zeros(state.n, bool)
    return state.open & (state.loss_years >= p.closure_years)


def shut(state: State, closing_now: np.ndarray, p: Params) -> tuple[float, float]:
    """Close ``closing_now``: its workers become unemployed, ``salvage_share`` of its capital is
    freed for investment elsewhere. Returns (workers laid off, capital freed)."""
    laid_off = float(state.workers[closing_now].sum())
    freed = p.salvage_share * float(state.capital[closing_now].sum())
    state.unemployed += laid_off
    state.open &= ~closing_now
    state.workers = np.where(closing_now, 0.0, state.workers)
    state.capital = np.where(closing_now, 0.0, state.capital)
    state.closed_total += int(closing_now.sum())
    return laid_off, freed
