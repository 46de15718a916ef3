"""The democratic regime's annual plan: the participatory procedure run on the simulated
economy's products, so that its rounds and the demand it leaves unmet follow the number of
products to coordinate.

:func:`product_economy` turns the economy's sectors (their worker councils and consumer
councils, :meth:`HahnelEconomy.from_economy`) into an economy of ``n`` products: every sector is
split into products in proportion to lognormal shares (``product_dispersion``, as the command
regime spreads its products); every worker council is copied once per product of its sector;
each copy draws its inputs of a sector from two of that sector's products (more where needed so
that every product has a user), and consumer councils spread their taste for a sector over all
its products. Products of one sector differ: every input exponent and taste is multiplied by a
lognormal factor (``product_heterogeneity``), a council's exponents rescaled to its sector's
returns. The copies' scale is set so that, at equal prices, the products of a sector together
make and use what the sector did: the split changes what must be coordinated, not the economy.

:func:`planning_years` runs the procedure on it for ``plan_samples`` consecutive years: the
first plan from one price for everything (the consumers' income over the hours available), then
yearly replans from last year's prices and board state after every exponent drifts by a
lognormal factor (``product_drift``, the published year-to-year change in proportion).
Results are kept per (product count rounded to four steps a decade, ``seed % plan_seeds``, the
parameters that matter), so every simulated year, seed and regime run in a process shares them.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from glasnost.economy import Commodities, Economy, EconomyError, Kind
from glasnost.simulate.params import Params, SimulationError

__all__ = ["grid_products", "mismatch", "plan_cache_clear", "planning_years", "product_economy"]

_PLANS: dict[tuple[object, ...], list[tuple[int, float]]] = {}
_BASE: dict[str, object] = {}
STEPS_PER_DECADE = 4


def grid_products(n: float) -> int:
    """``n`` rounded to the grid of product counts the plans are run at (four steps a decade:
    1, 1.8, 3.2, 5.6 x a power of ten)."""
    if not n >= 1:
        return 1
    return max(1, round(10 ** (round(STEPS_PER_DECADE * math.log10(n)) / STEPS_PER_DECADE)))


def plan_cache_clear() -> None:
    """Forget every plan run so far (tests, benchmarks)."""
    _PLANS.clear()


def _sector_councils(economy: Economy | None, returns: float):  # -> HahnelEconomy
    from glasnost.procedures.hahnel import HahnelEconomy

    if economy is None:
        from glasnost.data.demo import demo_economy

        economy = demo_economy()
    key = f"{economy.name}:{id(economy)}:{returns}"
    if key not in _BASE:
        try:
            _BASE[key] = HahnelEconomy.from_economy(economy, returns=returns)
        except EconomyError as exc:
            raise SimulationError(
                f"democratic planning needs worker and consumer councils on economy {economy.name!r}: {exc}"
            ) from exc
    return _BASE[key]


def product_economy(he, n_products: int, rng: np.random.Generator, heterogeneity: float,
                    dispersion: float, links: int = 2):  # -> HahnelEconomy
    """``he`` (sector councils) split into about ``n_products`` products (see the module)."""
    from glasnost.procedures.hahnel import HahnelEconomy, WorkerCouncils

    c = he.commodities
    made = np.isin(c.kinds, [int(Kind.GOOD), int(Kind.PUBLIC_GOOD)])
    produced = np.flatnonzero(made)
    share = rng.lognormal(0.0, dispersion, produced.size)
    count = np.ones(c.ids.size, np.int64)
    count[produced] = np.maximum(1, np.round(n_products * share / share.sum())).astype(np.int64)
    start = np.r_[0, np.cumsum(count)[:-1]]
    N = int(count.sum())
    parent = np.repeat(np.arange(c.ids.size), count)
    variant = np.arange(N) - start[parent]
    ids = np.strings.add(np.strings.add(c.ids[parent], "#"), variant.astype(c.ids.dtype))
    supply = np.where(made[parent], 0.0, c.supply[parent] / count[parent])
    commodities = Commodities.build(ids, kinds=c.kinds[parent], supply=supply)

    w = he.workers
    B = sp.coo_array(w.exponents)
    copies = count[w.product]  # every council once per product of its sector
    first = np.r_[0, np.cumsum(copies)[:-1]]
    of_council = np.repeat(np.arange(len(w)), copies)
    copy_no = np.arange(of_council.size) - first[of_council]
    m = of_council.size
    ratio = w.effort_exponent / w.disutility_exponent
    returns = np.bincount(B.row, weights=B.data, minlength=len(w))
    # at equal prices each copy makes 1/count of its council's output: q ~ a^(1 / (1 - c/k - B))
    log_scale = np.log(w.scale[of_council]) - (1.0 - ratio - returns)[of_council] * np.log(copies[of_council])
    rows, cols, vals = [], [], []
    for j in np.unique(B.col):  # one pass per input commodity (a few dozen), vectorised over copies
        entries = np.flatnonzero(B.col == j)
        users = np.concatenate([first[x] + np.arange(copies[x]) for x in B.row[entries]])
        b = np.repeat(B.data[entries], copies[B.row[entries]])
        if not made[j]:
            rows.append(users), cols.append(np.full(users.size, start[j])), vals.append(b)
            continue
        n_j = int(count[j])
        k = min(n_j, max(links, math.ceil(n_j / users.size)))
        slots = users.size * k
        picks = np.concatenate([rng.permutation(n_j) for _ in range(math.ceil(slots / n_j))])[:slots]
        e = np.full((users.size, k), 1.0 / k) * rng.lognormal(0.0, heterogeneity, (users.size, k))
        e = e / e.sum(axis=1, keepdims=True) * b[:, None]
        rows.append(np.repeat(users, k)), cols.append(start[j] + picks), vals.append(e.ravel())
    exponents = sp.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, N)
    )
    exponents.sum_duplicates()
    # an input spread over several products changes sum b ln b (the closed form's constant);
    # the copy's scale gives it back, so at equal prices it makes 1 / count of its council's output
    copy_rows = np.repeat(np.arange(m), np.diff(exponents.indptr))
    spread = np.bincount(copy_rows, weights=exponents.data * np.log(exponents.data), minlength=m)
    whole = np.bincount(B.row, weights=B.data * np.log(B.data), minlength=len(w))[of_council]
    log_scale += whole - spread
    workers = WorkerCouncils(
        ids=np.strings.add("council-", np.arange(m).astype(c.ids.dtype)),
        product=(start[w.product][of_council] + copy_no).astype(np.int64),
        scale=np.exp(log_scale),
        effort_exponent=w.effort_exponent[of_council],
        disutility_exponent=w.disutility_exponent[of_council],
        disutility_coefficient=w.disutility_coefficient[of_council],
        exponents=exponents,
    )
    U = sp.coo_array(he.consumers.preferences)
    per = count[U.col]
    entry = np.repeat(np.arange(U.nnz), per)
    col = start[U.col][entry] + (np.arange(entry.size) - np.repeat(np.r_[0, np.cumsum(per)[:-1]], per))
    taste = rng.lognormal(0.0, heterogeneity, entry.size)
    taste = U.data[entry] * taste / np.bincount(entry, weights=taste)[entry]
    consumers = replace(he.consumers, preferences=sp.csr_array((taste, (U.row[entry], col)), shape=(U.shape[0], N)))
    return HahnelEconomy(commodities, workers, consumers, name=f"{he.name}-{N}")


def drift(he, rng: np.random.Generator, sd: float):  # -> HahnelEconomy
    """Every worker-council exponent and consumer taste times a lognormal factor (sd ``sd``);
    each council's exponents are rescaled to their old sum, so its returns to scale stay (the
    mix of inputs and tastes drifts, not the councils' returns)."""
    B = he.workers.exponents
    b = B.data
    rows = np.repeat(np.arange(B.shape[0]), np.diff(B.indptr))
    new_b = b * rng.lognormal(0.0, sd, b.size)
    new_b *= (np.bincount(rows, weights=b, minlength=B.shape[0]) / np.bincount(rows, weights=new_b,
                                                                                minlength=B.shape[0]))[rows]
    u = he.consumers.preferences.data
    return he.with_exponents(new_b, u * rng.lognormal(0.0, sd, u.size))


def planning_years(n_products: float, seed: int, p: Params, economy: Economy | None = None) -> list[tuple[int, float]]:
    """(rounds, share of the plan not matched, :func:`mismatch`) for ``p.plan_samples`` consecutive planning years
    of the economy split into ``n_products`` products (rounded to the grid): the first plan,
    then yearly replans (see the module). Shared by every caller with the same key."""
    if p.procedure not in ("hahnel", "labour-time"):
        raise SimulationError(f"parameter procedure: {p.procedure!r} is not hahnel or labour-time")
    n = grid_products(n_products)
    plan_seed = int(seed) % p.plan_seeds
    key = (n, plan_seed, p.procedure, p.round_cap, p.plan_samples, p.council_returns, p.product_heterogeneity,
           p.product_drift, p.product_dispersion, None if economy is None else (economy.name, id(economy)))
    if key not in _PLANS:
        _PLANS[key] = _run(n, plan_seed, p, economy)
    return _PLANS[key]


def _run(n: int, seed: int, p: Params, economy: Economy | None) -> list[tuple[int, float]]:
    from glasnost.procedures.hahnel import hahnel_board

    rng = np.random.default_rng([seed, n])
    he = product_economy(_sector_councils(economy, p.council_returns), n, rng, p.product_heterogeneity,
                         p.product_dispersion)
    years = max(p.plan_samples, 1)
    if p.procedure == "labour-time":
        from glasnost.procedures.labour_time import run_labour_time

        state = {"he": he}

        def next_year(_economy: Economy, g: np.random.Generator) -> Economy:
            state["he"] = drift(state["he"], g, p.product_drift)
            return state["he"].economy

        histories = run_labour_time(he.economy, years=years, seed=rng, max_rounds=p.round_cap,
                                    keep_proposals=False, next_year=next_year).years
    else:
        histories = []
        prices: float | np.ndarray = float(he.consumers.income.sum() / he.fixed_supply.sum())
        state_ = None
        for year in range(years):
            if year:
                he = drift(he, rng, p.product_drift)
            history = hahnel_board(he, prices=prices, state=state_, max_rounds=p.round_cap,
                                   keep_proposals=False).run()
            prices, state_ = history.final_prices, history.final_state
            histories.append(history)
    return [(history.n_rounds, mismatch(history)) for history in histories]


def mismatch(history) -> float:  # history: glasnost.procedures.History
    """Share of the plan not matched when the procedure stops: ``sum p |S - D| / sum p max(S,
    D)`` over the watched commodities at the last round's prices (value-weighted): supply
    without a user is wasted, demand without supply unmet; either way inputs and outputs do not
    meet."""
    last = history.last
    w = history.watched
    supply, demand, prices = last.balance.supply[w], last.balance.demand[w], last.prices[w]
    larger = float((prices * np.maximum(supply, demand)).sum())
    return float((prices * np.abs(supply - demand)).sum()) / larger if larger > 0 else 0.0
