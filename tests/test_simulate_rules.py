"""One set of rules for every regime (issue 16): every mechanism has a switch at which its
effect vanishes, and giving one regime another's institutions gives it the other's effect.
Small sizes (20 enterprises per sector, a few hundred products)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from glasnost.simulate import Params
from glasnost.simulate.institutions import institutions
from glasnost.simulate.regimes import rules
from glasnost.simulate.regimes.command import CommandRegime
from glasnost.simulate.regimes.democratic import DemocraticRegime
from glasnost.simulate.regimes.market import MarketRegime
from glasnost.simulate.run import default_sectors, run_regime
from glasnost.simulate.state import initial_state

E = 400
SMALL = {"products": 300.0}  # the procedure's economy stays small in tests

# the democratic regime's information and incentives, given to command planning
DEMOCRATIC_INSTITUTIONS_FOR_COMMAND = {
    "indicator": "use",
    "ratchet": Params().democratic_ratchet,
    "command_audit": Params().audit_probability,
    "command_cross_check": Params().cross_check_probability,
    "command_ratings": Params().rating_coverage,
    "command_pay_link": Params().democratic_pay_link,
    "soft_budget": Params().democratic_soft_budget,
    "hierarchy_levels": 0,
}


def run(regime: str, years: int = 12, seed: int = 0, **changes: object) -> dict[str, np.ndarray]:
    return run_regime(regime, years, seed, Params().with_(**{**SMALL, **changes}), enterprises=E)


def regime(cls: type, seed: int = 0, **changes: object):  # a regime object on a fresh economy
    p = Params().with_(**{**SMALL, **changes})
    state = initial_state(default_sectors(), p, np.random.default_rng([seed, 0]), E)
    return cls(default_sectors(), state, p, np.random.default_rng([seed, 9]))


# --- symmetry: institutions, not regime names, carry the effects --------------------------------


def test_command_with_democratic_institutions_has_democratic_institutions() -> None:
    p = Params().with_(**DEMOCRATIC_INSTITUTIONS_FOR_COMMAND)
    assert replace(institutions("command", p), name="democratic") == institutions("democratic", Params())


def test_who_conceals_depends_on_the_ratchet_and_audits_not_the_regime() -> None:
    command = regime(CommandRegime)
    democratic = regime(DemocraticRegime)
    swapped = regime(CommandRegime, **DEMOCRATIC_INSTITUTIONS_FOR_COMMAND)
    assert command.concealing.sum() > 3 * democratic.concealing.sum() > 0
    assert np.array_equal(swapped.concealing, democratic.concealing)
    # hand computation: hide iff (1 - d)(lambda beta / (1 - beta) - 1) > d x penalty
    p = Params()
    beta = command.state.beta
    d = p.audit_probability
    assert np.array_equal(democratic.concealing, (1 - d) * (0.5 * beta / (1 - beta) - 1) > d * p.audit_penalty)


def test_quality_follows_the_signal_the_institutions_give_whatever_the_regime() -> None:
    # the same ratings reach command, market (without buyer choice) and democratic producers:
    # the same quality, enterprise by enterprise, while they are open
    rating = 0.6
    regimes = [
        regime(DemocraticRegime, rating_coverage=rating, democratic_soft_budget=True),
        regime(CommandRegime, command_ratings=rating),
        regime(MarketRegime, market_ratings=rating, market_buyer_choice=0.0, closures=False),
    ]
    for t in range(8):
        for r in regimes:
            r.step(t)
            r.state.year += 1
    q = [r.state.quality for r in regimes]
    assert np.allclose(q[0], q[1], rtol=0, atol=1e-12) and np.allclose(q[0], q[2], rtol=0, atol=1e-12)
    default_command = regime(CommandRegime)
    for t in range(8):
        default_command.step(t)
        default_command.state.year += 1
    assert default_command.state.quality.mean() < q[0].mean() - 0.05  # no ratings: quality drifts down


def test_buyer_choice_raises_quality_only_where_demand_is_met() -> None:
    p = Params()
    market = institutions("market", p)
    assert rules.quality_signal(market, 0.0) == pytest.approx(p.market_buyer_choice)
    assert rules.quality_signal(market, 1.0) == 0.0  # a seller's market: nowhere else to go
    assert rules.quality_signal(institutions("command", p), 0.0) == 0.0
    assert rules.quality_signal(institutions("democratic", p), 0.5) == pytest.approx(p.rating_coverage)


def test_effort_follows_the_pay_link_whatever_the_regime() -> None:
    equal = run("command", years=2, command_pay_link=0.0)["effort"]
    assert np.allclose(equal, run("democratic", years=2)["effort"])
    linked = run("democratic", years=2, democratic_pay_link=Params().command_pay_link)["effort"]
    assert np.allclose(linked, 1.0) and np.allclose(run("command", years=2)["effort"], 1.0)
    # hand computation: (1 - gap (1 - link)) / (1 - gap (1 - observed link))
    p = Params()
    assert equal[0] == pytest.approx((1 - p.effort_gap) / (1 - p.effort_gap * (1 - p.observed_pay_link)))


def test_padding_follows_the_cross_checks_whatever_the_regime() -> None:
    put_in = {"hidden_inflation": 0.0, "hierarchy_inflation": 0.0}  # the rates put in, not padding
    assert run("command", years=6, **put_in)["report_gap"][1:].max() > 0.005
    assert np.abs(run("command", years=6, command_cross_check=0.9, **put_in)["report_gap"]).max() < 1e-12
    assert np.abs(run("democratic", years=6)["report_gap"]).max() < 1e-12
    assert run("democratic", years=6, cross_check_probability=0.1)["report_gap"][1:].max() > 0.005


def test_the_use_value_indicator_makes_the_light_pipe_in_any_planned_regime() -> None:
    assert np.all(run("command", years=3)["light_share"] == 0.0)
    assert np.all(run("command", years=3, indicator="use")["light_share"] == 1.0)
    assert np.all(run("democratic", years=3)["light_share"] == 1.0)


# --- switch-offs: each effect vanishes without its mechanism --------------------------------------


def test_no_ratchet_no_concealment_in_either_planned_regime() -> None:
    assert run("command")["concealment"].mean() > 0.02
    assert np.all(run("command", ratchet=0.0)["concealment"] == 0.0)
    assert np.all(run("democratic", democratic_ratchet=0.0, audit_probability=0.0)["concealment"] == 0.0)


def test_bought_auditors_bring_concealment_back() -> None:
    honest = run("democratic")["concealment"].mean()
    bought = run("democratic", auditor_collusion=1.0)["concealment"].mean()
    unaudited = run("democratic", audit_probability=0.0)["concealment"].mean()
    assert bought > 3 * honest
    assert bought == pytest.approx(unaudited, rel=0.25)  # the audits still cost hours, and draws differ


def test_audits_cost_working_time() -> None:
    free = run("democratic", years=5, audit_hours=0.0)["output_true"]
    dear = run("democratic", years=5, audit_hours=180.0)["output_true"]  # a tenth of the year
    assert np.all(dear < free)
    assert dear[0] / free[0] == pytest.approx(1.0 - 0.1 * Params().audit_probability, abs=0.01)


def test_no_forecast_errors_no_input_shortfall() -> None:
    for name in ("command", "market", "democratic"):
        assert run(name, years=4, forecast_error=0.0)["input_shortfall"].max() == 0.0
        assert run(name, years=4)["input_shortfall"].mean() > 0.002


def test_hoarding_follows_delivery_failures_and_budgets() -> None:
    assert np.all(run("command", hoarding_response=0.0)["hoarding"] == 0.0)
    assert np.all(run("command", forecast_error=0.0, balances=1e12)["hoarding"] == 0.0)  # nothing fails
    soft = run("command")["hoarding"][1:].mean()
    assert soft > 0
    hard = run("command", soft_budget=False, hard_budget_hoarding=0.0)["hoarding"]
    assert np.all(hard == 0.0)


def test_hoards_are_lost_to_final_use() -> None:
    from glasnost.simulate.regimes.common import net_output

    sectors = default_sectors()
    p = Params()
    state = initial_state(sectors, p, np.random.default_rng([0, 0]), E)
    output = np.ones(E)
    material = np.bincount(state.sector, weights=output, minlength=sectors.size)  # no light variants yet
    lost = net_output(sectors, state, output, p, 0.0) - net_output(sectors, state, output, p, 0.2)
    assert lost == pytest.approx(0.2 * sectors.A @ material, rel=1e-12)


def test_without_quality_feedback_every_regime_drifts_down() -> None:
    for name in ("command", "market", "democratic"):
        q = run(name, years=10, quality_response=0.0)["quality"]
        assert q[-1] < q[0]


def test_without_quality_decay_or_response_quality_stands_still() -> None:
    p = Params().with_(quality_response=0.0, quality_decay=0.0)
    q = np.linspace(0.1, 0.9, 5)
    assert np.array_equal(rules.next_quality(q, 1.0, p), q)


def test_soft_budgets_close_nothing() -> None:
    assert run("democratic", years=8)["closed"][-1] > 0
    assert np.all(run("democratic", years=8, democratic_soft_budget=True)["closed"] == 0)
    assert np.all(run("command", years=8)["closed"] == 0)
    assert run("command", years=8, soft_budget=False)["closed"][-1] > 0


def test_accounts_are_the_same_function_in_every_regime() -> None:
    revenue, materials = np.array([10.0, 10.0]), np.array([4.0, 6.0])
    assert np.array_equal(rules.profit(revenue, materials, np.array([3.0, 3.0]), np.array([1.0, 2.0])), [2.0, -1.0])


def test_the_realised_output_never_exceeds_the_plan_and_shortfalls_cascade() -> None:
    sectors = default_sectors()
    p = Params()
    rng = np.random.default_rng(3)
    sector = np.arange(400) % sectors.size
    intended = np.ones(400)
    out, lacking = rules.realise(intended, intended, sector, sectors, 0.0, p, rng)
    assert np.all(out <= intended) and 0 < lacking < 0.1
    # a hoard as large as any shortfall keeps the cascade out: only own short-falls remain
    rng = np.random.default_rng(3)
    buffered, _ = rules.realise(intended, intended, sector, sectors, 1.0, p, rng)
    assert np.all(buffered >= out) and buffered.sum() > out.sum()
    # a producer that intended less than its capacity has a buffer against its own error
    rng = np.random.default_rng(3)
    slack, _ = rules.realise(0.5 * intended, intended, sector, sectors, 1.0, p, rng)
    assert np.mean(slack == 0.5) > 0.99


# --- one definition per measure -------------------------------------------------------------------


def test_shortage_and_use_value_are_one_function_of_the_state_in_every_regime(monkeypatch) -> None:
    # every regime reports what common.households computes; checked against a loop over sectors
    from glasnost.simulate.regimes import common, market, planned

    calls: list[tuple[object, ...]] = []
    real = common.households

    def spy(sectors, state, output, consumption, demand, params):
        result = real(sectors, state, output, consumption, demand, params)
        calls.append((sectors, state.sector.copy(), state.light * state.has_variant, state.quality.copy(),
                      state.labour_force, output.copy(), consumption.copy(), demand, params, result))
        return result

    monkeypatch.setattr(planned, "households", spy)
    monkeypatch.setattr(market, "households", spy)
    for name in ("command", "market", "democratic"):
        calls.clear()
        r = run(name, years=2)
        assert len(calls) == 2
        for year, (sectors, sector, light, quality, labour_force, output, consumption, demand, p, result) in \
                enumerate(calls):
            assert (r["shortage"][year], r["use_value"][year]) == result
            weights = sectors.needs * sectors.values
            unmet = sum(max(demand * weights[s] / weights.sum() - max(consumption[s], 0.0), 0.0)
                        for s in range(sectors.size))
            assert result[0] == pytest.approx(unmet / demand, rel=1e-9)
            supply = np.maximum(consumption, 0.0)
            total = 0.0
            for s in range(sectors.size):
                mine = sector == s
                use = np.sum(output[mine] * (1 + p.betterness * light[mine]) * quality[mine]) / output[mine].sum()
                wanted = supply.sum() * weights[s] / weights.sum()
                matched = min(supply[s], wanted)
                total += (matched + p.substitution_use * (supply[s] - matched)) * use
            assert result[1] == pytest.approx(total / labour_force, rel=1e-9)
