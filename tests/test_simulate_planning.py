"""Democratic planning pays for itself (issue 16): the participatory procedure runs on the
simulated economy's products, so its rounds, meeting hours and final imbalance follow the number
of products; what it leaves unmet costs output as command planning's uncoordinated products do."""

from __future__ import annotations

import numpy as np
import pytest

from glasnost.procedures.hahnel import CobbDouglasConsumers, CobbDouglasWorkers, HahnelEconomy
from glasnost.simulate import Params, SimulationError
from glasnost.simulate.regimes.planning import grid_products, planning_years, product_economy
from glasnost.simulate.run import run_regime

E = 400


@pytest.fixture(scope="module")
def sector_councils() -> HahnelEconomy:
    from glasnost.data.demo import demo_economy

    return HahnelEconomy.from_economy(demo_economy(), returns=0.8)


def test_splitting_into_products_keeps_what_each_sector_makes_and_uses(sector_councils: HahnelEconomy) -> None:
    # second method: the closed-form councils of the sector economy at equal prices; the split
    # economy's products of a sector must add up to the same supply and demand (no heterogeneity)
    he = sector_councils
    split = product_economy(he, 2000, np.random.default_rng(0), heterogeneity=0.0, dispersion=1.0)
    assert 1900 < len(split.commodities) - 3 < 2100
    parent = np.array([str(i).rsplit("#", 1)[0] for i in split.commodities.ids])
    sectors = [str(i) for i in he.commodities.ids]
    index = np.array([sectors.index(p) for p in parent])

    def totals(economy: HahnelEconomy) -> tuple[np.ndarray, np.ndarray]:
        n = len(economy.commodities)
        prices = np.ones(n)
        workers = CobbDouglasWorkers(economy.workers, n)
        q, value = workers.outputs(prices)
        demand = np.asarray(economy.workers.exponents.T @ value).ravel() / prices
        demand = demand + CobbDouglasConsumers(economy.consumers, economy.public).spending / prices
        return workers.supply(q), demand

    supply, demand = totals(he)
    s_split, d_split = totals(split)
    made = he.public | (he.commodities.kinds == 0)
    assert np.allclose(np.bincount(index, weights=s_split, minlength=len(sectors))[made], supply[made], rtol=1e-9)
    # private goods: the sum of the products' demands is the sector's (public goods are asked for
    # as levels, so each product of a public good is asked for at the sector's level)
    private = he.commodities.kinds == 0
    assert np.allclose(np.bincount(index, weights=d_split, minlength=len(sectors))[private], demand[private],
                       rtol=1e-9)


def test_rounds_grow_with_the_number_of_products() -> None:
    p = Params()
    few = [np.mean([r for r, _ in planning_years(20, s, p)[1:]]) for s in (0, 1)]
    many = [np.mean([r for r, _ in planning_years(1e4, s, p)[1:]]) for s in (0, 1)]
    assert np.mean(many) > np.mean(few) + 1.0


def test_what_the_last_round_leaves_unmatched_costs_output() -> None:
    # two rounds a year cannot balance anything: the unmatched share is the uncoordinated share
    p = Params().with_(products=300.0, round_cap=2)
    r = run_regime("democratic", 3, 0, p, enterprises=E)
    firsts = [planning_years(300.0, seed, p)[0][1] for seed in range(p.plan_seeds)]  # the regime draws one
    assert min(firsts) > 0.1
    assert min(abs(r["efficiency"][0] - (1.0 - p.mismatch_loss * m)) for m in firsts) < 1e-12
    full = run_regime("democratic", 3, 0, Params().with_(products=300.0), enterprises=E)
    assert np.all(r["output_true"] < full["output_true"])


def test_meeting_hours_can_grow_with_the_products_weighed() -> None:
    p = Params().with_(products=1000.0, meeting_product_elasticity=0.5)
    r = run_regime("democratic", 3, 0, p, enterprises=E)
    assert r["meeting_hours"] == pytest.approx(r["rounds"] * (r["products"] / 1e4) ** 0.5, rel=1e-12)


def test_effort_under_equal_pay_costs_output_and_a_pay_link_restores_it() -> None:
    equal = run_regime("democratic", 4, 0, Params().with_(products=300.0), enterprises=E)
    linked = run_regime("democratic", 4, 0, Params().with_(products=300.0, democratic_pay_link=0.5), enterprises=E)
    none = run_regime("democratic", 4, 0, Params().with_(products=300.0, effort_gap=0.0), enterprises=E)
    assert equal["effort"][0] < 1.0 < linked["effort"][0] and none["effort"][0] == 1.0
    assert equal["output_true"][0] < none["output_true"][0] < linked["output_true"][0]


def test_the_labour_time_procedure_plans_the_products_too() -> None:
    plans = planning_years(300, 0, Params().with_(procedure="labour-time"))
    assert len(plans) == Params().plan_samples and all(r >= 1 for r, _ in plans)


def test_grid_of_product_counts() -> None:
    assert [grid_products(n) for n in (1, 10, 1e4, 1.5e4, 2.5e4, 1e5)] == [1, 10, 10000, 17783, 31623, 100000]
    assert grid_products(0) == 1


def test_bad_procedure_and_economy_without_councils_are_named() -> None:
    with pytest.raises(SimulationError, match="procedure"):
        planning_years(100, 0, Params().with_(procedure="tatonnement"))
    from glasnost.data.synthetic import generate
    from glasnost.simulate.run import simulate

    economy = generate(30, seed=1)  # technology only, no consumer councils to plan with
    assert economy.councils is None
    with pytest.raises(SimulationError, match="councils"):
        simulate(["democratic"], years=2, seeds=[0], enterprises=300, economy=economy)
