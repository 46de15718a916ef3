"""Array state of one simulated economy: sectors with input-output technology, enterprises,
households (as the workforce of each enterprise plus the unemployed).

Units: every quantity of a sector's product is in base-price units, the base price being the
product's labour value ``v = v A + l`` (hours), so quantities of different sectors add up to
hours of labour embodied ("value at base prices"). Labour is in workers (one worker = one
household); wages in hours of value per worker-year at base prices.

The sector technology comes from an :class:`~glasnost.economy.Economy` (default: the demo
economy, 20 sectors): its square technique gives ``A`` (sector x sector) and the labour per unit
``l``; its targets give the households' needs ``d`` (the composition of final demand).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from glasnost.economy import Economy
from glasnost.simulate.params import Params, SimulationError

__all__ = [
    "Sectors",
    "State",
    "base_wage",
    "initial_state",
    "price_revision_due",
    "products_now",
    "revise_fixed_prices",
    "sectors_of",
    "unit_cost",
]


@dataclass(frozen=True)
class Sectors:
    """The economy's technology at sector level (S sectors)."""

    names: np.ndarray  # (S,) str
    A: np.ndarray  # (S, S) input per unit of output (base-price units)
    labour: np.ndarray  # (S,) hours per unit of output (all labour types)
    values: np.ndarray  # (S,) labour values, the base prices (hours per unit)
    needs: np.ndarray  # (S,) households' final demand composition (units), year 0
    leontief: np.ndarray  # (S, S) (I - A)^-1
    economy: Economy | None = field(default=None, compare=False, repr=False)  # its councils plan it

    @property
    def size(self) -> int:
        return int(self.names.size)

    @property
    def material_value(self) -> np.ndarray:
        """Value of material inputs per unit of each sector's output: (v A)_s."""
        return self.values @ self.A


def sectors_of(economy: Economy) -> Sectors:
    """Sector technology of ``economy`` from its default technique."""
    t = economy.technique
    A = t.A.toarray()
    labour = np.asarray(t.primary.sum(axis=0)).ravel()
    n = A.shape[0]
    leontief = np.linalg.inv(np.eye(n) - A)
    values = labour @ leontief
    targets = economy.commodities.targets[t.produced].astype(float)
    if not np.isfinite(leontief).all() or targets.sum() <= 0:
        raise SimulationError(f"economy {economy.name}: needs a productive technique and positive targets")
    names = np.array([str(x) for x in economy.commodities.ids[t.produced]], dtype=object)
    return Sectors(names=names, A=A, labour=labour, values=values, needs=targets, leontief=leontief, economy=economy)


@dataclass
class State:
    """Everything that changes from year to year, arrays over enterprises (E) or sectors (S)."""

    sector: np.ndarray  # (E,) int
    tfp: np.ndarray  # (E,) productivity: capacity per unit of capital relative to the mean
    capital: np.ndarray  # (E,) base-price units
    workers: np.ndarray  # (E,) workers employed
    beta: np.ndarray  # (E,) manager discount factor
    has_variant: np.ndarray  # (E,) bool: product comes in a heavy and a lighter, better variant
    light: np.ndarray  # (E,) share of output in the light variant (0 or 1)
    quality: np.ndarray  # (E,) 0..1
    target: np.ndarray  # (E,) plan target, units
    price: np.ndarray  # (E,) price relative to the fixed price of its sector
    loss_years: np.ndarray  # (E,) consecutive loss years
    open: np.ndarray  # (E,) bool
    output_prev: np.ndarray  # (E,) last year's output
    unemployed: float
    labour_force: float
    investment_rate: float
    wage: float  # base wage per worker-year
    fixed_price: np.ndarray  # (S,) fixed prices, base-price units (1 + profit rate) x average cost
    gdp0: float  # true net output of year 0 (for the complexity index)
    closed_total: int = 0
    year: int = 0  # years since the start, across regimes (technical progress counts from it)

    @property
    def n(self) -> int:
        return int(self.sector.size)


def unit_cost(sectors: Sectors, state: State, params: Params, wage: float | None = None) -> np.ndarray:
    """Cost per unit of output at base prices in year ``state.year``: materials (the lighter
    variant uses less), wages for the labour a unit needs that year (technical progress
    included), capital charge (depreciation)."""
    w = state.wage if wage is None else wage
    s = state.sector
    material = sectors.material_value[s] * (1.0 - params.lightness * state.light * state.has_variant)
    labour = labour_per_unit(sectors, state, params, state.year) * w
    capital = params.depreciation / (params.output_capital_ratio * state.tfp) * sectors.values[s]
    return material + labour + capital


def revise_fixed_prices(sectors: Sectors, state: State, params: Params, cost: np.ndarray, output: np.ndarray) -> None:
    """Fixed prices become ``(1 + planned_profit_rate)`` x the sector's average cost (``cost``
    of each enterprise's ``output`` over its output, open enterprises); sectors that made
    nothing keep theirs."""
    S = sectors.size
    made = np.bincount(state.sector, weights=np.where(state.open, output, 0.0), minlength=S)
    spent = np.bincount(state.sector, weights=np.where(state.open, cost, 0.0), minlength=S)
    mean = np.divide(spent, made, out=state.fixed_price / (1.0 + params.planned_profit_rate), where=made > 0)
    state.fixed_price = (1.0 + params.planned_profit_rate) * mean


def price_revision_due(year: int, params: Params) -> bool:
    """Planned regimes revise fixed prices in year 2 and every ``price_revision_years`` after
    (years 17 and 32 are 1967 and 1982 on the axis year 0 = 1950)."""
    return year >= 2 and (year - 2) % params.price_revision_years == 0


def base_wage(params: Params, year: int) -> float:
    """Base wage per worker-year in year ``year``: it rises with labour productivity (technical
    progress, ``labour_saving``), so the wage cost of a unit of output stays what it was in year
    0, in every regime (the 1987 law tied the wage fund to the enterprise's output by
    normatives; planned wages rose with productivity too)."""
    return (1.0 - params.labour_saving) ** (-year)


def products_now(state: State, capital0: float, params: Params) -> float:
    """Distinct products to coordinate: ``products x (K / K0)^product_elasticity`` (K: capital
    in place, K0: at the regime's start); a property of the economy, the same in every regime."""
    grown = max(float(state.capital.sum()) / max(capital0, 1e-300), 1e-9)
    return params.products * grown**params.product_elasticity


def initial_state(sectors: Sectors, params: Params, rng: np.random.Generator, enterprises: int | None = None) -> State:
    """Year 0: enterprises spread over sectors, sized to make the gross output the needs call for.

    ``enterprises`` (default ``enterprises_per_sector x S``) are dealt to sectors in turn. Size
    within a sector is lognormal (``size_dispersion``), productivity ``tfp`` lognormal with mean 1
    (``tfp_dispersion``); capacity = ``capacity_slack`` x the sector's gross output for the needs,
    split by size; capital = capacity / (output_capital_ratio x tfp x value); workers = labour
    per unit / tfp x capacity. Fixed prices are ``(1 + planned_profit_rate)`` x the sector's
    output-weighted mean unit cost.
    """
    S = sectors.size
    E = int(enterprises if enterprises is not None else params.enterprises_per_sector * S)
    if E < S:
        raise SimulationError(f"need at least one enterprise per sector ({S}), got {E}")
    sector = np.arange(E) % S
    size = rng.lognormal(0.0, params.size_dispersion, E)
    size_sum = np.bincount(sector, weights=size, minlength=S)
    gross = sectors.leontief @ sectors.needs
    capacity = params.capacity_slack * gross[sector] * size / size_sum[sector]
    sd = params.tfp_dispersion
    tfp = rng.lognormal(-0.5 * sd * sd, sd, E)
    capital = capacity * sectors.values[sector] / (params.output_capital_ratio * tfp)
    workers = sectors.labour[sector] / tfp * capacity
    beta = np.clip(rng.normal(params.discount_mean, params.discount_sd, E), 0.5, 0.99)
    has_variant = rng.random(E) < params.variant_share
    quality = rng.beta(8.0, 2.0, E)
    state = State(
        sector=sector,
        tfp=tfp,
        capital=capital,
        workers=workers,
        beta=beta,
        has_variant=has_variant,
        light=np.zeros(E),
        quality=quality,
        target=capacity * params.tautness,  # concealers' targets: see CommandRegime
        price=np.ones(E),
        loss_years=np.zeros(E, np.int32),
        open=np.ones(E, bool),
        output_prev=capacity.copy(),
        unemployed=0.0,
        labour_force=0.0,
        investment_rate=params.investment_rate,
        wage=1.0,
        fixed_price=np.zeros(S),
        gdp0=float(sectors.values @ sectors.needs),
    )
    cost = unit_cost(sectors, state, params)
    weighted = np.bincount(sector, weights=cost * capacity, minlength=S) / np.bincount(
        sector, weights=capacity, minlength=S
    )
    state.fixed_price = (1.0 + params.planned_profit_rate) * weighted
    employed = float(workers.sum())
    state.labour_force = employed / (1.0 - params.initial_unemployment)
    state.unemployed = state.labour_force - employed
    return state


def labour_per_unit(sectors: Sectors, state: State, params: Params, t: int) -> np.ndarray:
    """Labour per unit of output in year ``t``: the sector's, over productivity, less progress."""
    return sectors.labour[state.sector] / state.tfp * (1.0 - params.labour_saving) ** t


def capacity_of(sectors: Sectors, state: State, params: Params) -> np.ndarray:
    """True capacity (units a year) of each enterprise; 0 where closed."""
    cap = params.output_capital_ratio * state.tfp * state.capital / sectors.values[state.sector]
    return np.where(state.open, cap, 0.0)
