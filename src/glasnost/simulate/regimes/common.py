"""What every regime measures the same way: the variant choice a reward induces, net output
and its use to households, shortage against demand, income distribution.

Shortage and use value are computed by :func:`households` for every regime, from the same
quantities of the same state:

- *shortage* (a share, no unit): the part of households' demand, valued at base prices (hours of
  embodied labour) in the composition of their needs, that finds no consumer goods; demand is
  what households can spend (command and democratic planning: incomes planned on reported net
  output; market: nominal income over the price level);
- *use value* (base-price hours of consumer goods per member of the labour force per year, each
  hour weighted by the use per unit of what was made: variant x quality, 0..1.1): consumer goods
  matching the needs count in full, the rest as forced substitutes at ``substitution_use``.
"""

from __future__ import annotations

import numpy as np

from glasnost.simulate.measures import income_distribution, sector_sum
from glasnost.simulate.params import Params, SimulationError
from glasnost.simulate.state import Sectors, State

INDICATORS = ("tonnes", "roubles", "use")


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN where the denominator is 0 (e.g. growth from a year in
    which nothing was produced: undefined, not an error)."""
    return numerator / denominator if denominator > 0 else float("nan")


def growth(now: float, before: float) -> float:
    """Year-on-year growth ``now / before - 1``; NaN where ``before`` is 0."""
    return ratio(now, before) - 1.0


def variant_indicator(params: Params, material_share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(heavy, light) value of one unit of capacity under each indicator, per enterprise.

    ``tonnes``: weight (heavy 1, light ``1 - lightness``); ``roubles``: cost-plus price, which
    falls with the material saved (``1 - lightness x material share``); ``use``: use value
    (heavy 1, light ``1 + betterness``).
    """
    heavy = np.ones_like(material_share)
    if params.indicator == "tonnes":
        return heavy, heavy * (1.0 - params.lightness)
    if params.indicator == "roubles":
        return heavy, 1.0 - params.lightness * material_share
    if params.indicator == "use":
        return heavy, heavy * (1.0 + params.betterness)
    raise SimulationError(f"parameter indicator: {params.indicator!r} is not one of {', '.join(INDICATORS)}")


def light_share(state: State, output: np.ndarray) -> float:
    """Output share of the lighter, better variant among open enterprises that have one."""
    with_variant = state.has_variant & state.open
    total = float(output[with_variant].sum())
    return float((output * state.light)[with_variant].sum() / total) if total > 0 else 0.0


def choose_variant(state: State, heavy: np.ndarray, light: np.ndarray) -> None:
    """Managers with a variant make the one their indicator values more (ties: heavy)."""
    state.light = np.where(state.has_variant & (light > heavy), 1.0, 0.0)


def use_per_unit(state: State, params: Params) -> np.ndarray:
    """Use value per unit of output: the variant's use times quality."""
    return (1.0 + params.betterness * state.light * state.has_variant) * state.quality


def net_output(sectors: Sectors, state: State, output: np.ndarray, params: Params, hoarding: float) -> np.ndarray:
    """Net output by sector (units): gross output less inputs used and inputs hoarded.

    The lighter variant uses ``1 - lightness`` of the heavier one's materials.
    """
    S = sectors.size
    gross = sector_sum(state.sector, output, S)
    material = sector_sum(state.sector, output * (1.0 - params.lightness * state.light * state.has_variant), S)
    return gross - (1.0 + hoarding) * (sectors.A @ material)


def households(sectors: Sectors, state: State, output: np.ndarray, consumption_value: np.ndarray,
               demand_value: float, params: Params) -> tuple[float, float]:
    """(shortage, use value per member of the labour force), the same definition for every
    regime (see the module): ``output`` what enterprises made (for use per unit),
    ``consumption_value`` the consumer goods households get by sector (base-price value),
    ``demand_value`` what they can spend (base-price value)."""
    S = sectors.size
    made = np.maximum(sector_sum(state.sector, output, S), 1e-300)
    use_s = sector_sum(state.sector, output * use_per_unit(state, params), S) / made
    use = delivered_use(sectors, consumption_value, use_s, params.substitution_use)
    return shortage(sectors, consumption_value, demand_value), use / state.labour_force


def shortage(sectors: Sectors, supply_value: np.ndarray, demand_total: float) -> float:
    """Share of households' demand (value) not met, demand in the composition of the needs."""
    composition = sectors.needs * sectors.values
    demand = demand_total * composition / composition.sum()
    total = demand.sum()
    if total <= 0:
        return 0.0
    return float(np.maximum(demand - np.maximum(supply_value, 0.0), 0.0).sum() / total)


def income_measures(state: State, wages: np.ndarray, benefit: float) -> tuple[float, float]:
    """(Gini of household income, P90/P10 wage spread between enterprises)."""
    weights = np.where(state.open, state.workers, 0.0)
    g, p10, p90 = income_distribution(wages, weights, benefit, state.unemployed)
    return g, (p90 / p10 if p10 > 0 else float("nan"))


def loss_making_share(state: State, unit_cost: np.ndarray, prices: np.ndarray) -> float:
    """Share of open enterprises whose unit cost exceeds the price they get."""
    open_ = state.open
    if not open_.any():
        return 0.0
    return float(np.mean(unit_cost[open_] > prices[open_]))


def delivered_use(sectors: Sectors, consumption_value: np.ndarray, use: np.ndarray, substitution: float) -> float:
    """Use value households get from ``consumption_value`` (value by sector, use per unit ``use``).

    Households want the total in the composition of their needs; what matches counts in full,
    the rest is taken as a forced substitute worth ``substitution`` of its use (Kornai 1980).
    """
    composition = sectors.needs * sectors.values
    supply = np.maximum(consumption_value, 0.0)
    wanted = supply.sum() * composition / composition.sum()
    matched = np.minimum(supply, wanted)
    return float(((matched + substitution * (supply - matched)) * use).sum())
