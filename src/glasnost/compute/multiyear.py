"""Multi-year plans with capital stocks, investment and depreciation.

The model follows Cockshott's ``5yearplan`` programs. For each year t = 1..T:

* every process runs at activity y_p(t) <= capacity_p;
* each capital stock (p, i) — process p needs ``capital[p, i]`` units of produced commodity i
  per unit of activity — limits activity: ``capital[p, i] * y_p(t) <= S_pi(t)``;
* stocks evolve: ``S_pi(1) <= initial stock``, ``S_pi(t+1) <= (1 - depreciation[p, i]) *
  S_pi(t) + I_pi(t)``, with investment I_pi(t) >= 0 made from year t's output;
* each produced commodity's net output covers investment and final consumption c_i(t);
* labour and resources used stay within each year's supply;
* fulfilment z_t <= c_i(t) / target_i(t) for every commodity with a target in year t.

The objective maximises the sum of the yearly fulfilments. Stock and investment variables are
created only for the nonzero entries of the capital table, so the LP grows with its nonzeros,
not with (processes x commodities).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from glasnost.compute.lp import INF, PlanError, solve_lp
from glasnost.economy import Economy, Kind
from glasnost.economy.model import entries_at


@dataclass(frozen=True)
class MultiYearPlan:
    """The plan year by year. Rows of every matrix are years.

    ``fulfilment[t]``: z_t; ``activity[t, p]``; ``final[t, j]``: final consumption of produced
    commodity ``produced_ids[j]``; ``stock[t, e]`` and ``investment[t, e]`` for capital entry e
    = (``stock_process[e]``, ``stock_commodity[e]``); ``prices[t, j]``: shadow price of produced
    commodity j in year t (fulfilment units per unit).
    """

    objective: float
    fulfilment: np.ndarray
    activity: np.ndarray
    final: np.ndarray
    stock: np.ndarray
    investment: np.ndarray
    prices: np.ndarray
    produced_ids: np.ndarray
    process_ids: np.ndarray
    stock_process: np.ndarray
    stock_commodity: np.ndarray
    dual_bound: float
    gap: float
    method: str
    seconds: float
    n_variables: int
    n_constraints: int


def _per_year(economy: Economy, values: object, years: int | None, what: str) -> np.ndarray:
    """A (years x commodities) array from an array over commodities or a dict id -> list."""
    n = economy.n_commodities
    if isinstance(values, dict):
        T = years or max(len(np.atleast_1d(v)) for v in values.values())
        out = np.zeros((T, n))
        for key, series in values.items():
            out[:, economy.commodities.index([key])[0]] = np.broadcast_to(np.asarray(series, float), (T,))
        return out
    arr = np.atleast_2d(np.asarray(values, dtype=np.float64))
    if arr.shape[1] != n:
        raise PlanError(f"{what} has {arr.shape[1]} columns; expected one per commodity ({n})")
    return arr


def multi_year_plan(
    economy: Economy,
    targets: object,
    supply: object,
    *,
    initial_stock: object = None,
    initial_activity: object = None,
    method: str = "choose",
    time_limit: float | None = None,
) -> MultiYearPlan:
    """Maximise the summed yearly fulfilment of ``targets`` over ``len(targets)`` years.

    Parameters
    ----------
    targets : (years x commodities) array or ``{id: [per year]}``: final consumption wanted.
    supply : (years x commodities) array or ``{id: [per year]}``: labour and resources
        available each year (entries of produced commodities are ignored; a primary input not
        named is unlimited when given as a dict).
    initial_stock : capital stocks in year 1, a (processes x commodities) sparse matrix with
        the capital table's pattern; or
    initial_activity : (processes,) activity the year-1 stocks suffice for
        (stock = capital coefficient x activity).
    """
    p = economy.processes
    if p.capital is None or p.depreciation is None:
        raise PlanError("the economy has no capital table; use optimal_plan for a one-period plan")
    c = economy.commodities
    tgt = _per_year(economy, targets, None, "targets")
    T = tgt.shape[0]
    if isinstance(supply, dict):
        sup = np.full((T, economy.n_commodities), INF)
        given = _per_year(economy, supply, T, "supply")
        named = economy.commodities.index(list(supply))
        sup[:, named] = given[:, named]
    else:
        sup = _per_year(economy, supply, T, "supply")
    if sup.shape[0] != T:
        raise PlanError(f"supply covers {sup.shape[0]} years, targets {T}")

    cap = sp.coo_array(p.capital)
    E = cap.nnz
    e_proc, e_comm, k = cap.row, cap.col, cap.data
    dep = sp.coo_array(p.depreciation).data  # validated: same pattern and order as capital
    kinds = c.kinds
    produced = c.produced
    if not np.isin(e_comm, produced).all():
        bad = e_comm[~np.isin(e_comm, produced)][0]
        raise PlanError(f"capital stock of {c.ids[bad]!s} is not a produced commodity")
    if initial_stock is not None:
        S0 = entries_at(sp.csr_array(initial_stock, dtype=np.float64), e_proc, e_comm)
    elif initial_activity is not None:
        S0 = k * np.asarray(initial_activity, dtype=np.float64)[e_proc]
    else:
        raise PlanError("give initial_stock or initial_activity")

    P, npd = economy.n_processes, produced.size
    primary = np.flatnonzero((kinds == Kind.LABOUR) | (kinds == Kind.RESOURCE))
    It = sp.eye_array(T, format="csr")
    I_E = sp.eye_array(E, format="csr")

    # column offsets: y | S | I | c | z
    oy, oS, oI, oc, oz = 0, T * P, T * P + T * E, T * P + 2 * T * E, T * P + 2 * T * E + T * npd
    n_cols = oz + T

    # 1. capital limits activity: k_e y_p(t) - S_e(t) <= 0
    Ky = sp.csr_array((k, (np.arange(E), e_proc)), shape=(E, P))
    cap_rows = sp.hstack([sp.kron(It, Ky), -sp.kron(It, I_E), sp.csr_array((T * E, n_cols - oI))], format="csr")
    # 2. stock dynamics for t = 1..T-1: S(t+1) - (1-dep) S(t) - I(t) <= 0
    if T > 1:
        nxt = sp.eye_array(T - 1, T, k=1, format="csr")
        cur = sp.eye_array(T - 1, T, format="csr")
        dyn = sp.hstack(
            [
                sp.csr_array(((T - 1) * E, oS)),
                sp.kron(nxt, I_E) - sp.kron(cur, sp.diags_array(1.0 - dep)),
                -sp.kron(cur, I_E),
                sp.csr_array(((T - 1) * E, n_cols - oc)),
            ],
            format="csr",
        )
    else:
        dyn = sp.csr_array((0, n_cols))
    # 3. balance of produced commodities: N y(t) - G I(t) - c(t) >= 0
    N_p = sp.csr_array(economy.net_output[:, produced].T)  # (npd x P)
    pos = np.full(economy.n_commodities, -1)
    pos[produced] = np.arange(npd)
    G = sp.csr_array((np.ones(E), (pos[e_comm], np.arange(E))), shape=(npd, E))
    bal = sp.hstack(
        [
            sp.kron(It, N_p),
            sp.csr_array((T * npd, T * E)),
            -sp.kron(It, G),
            -sp.eye_array(T * npd),
            sp.csr_array((T * npd, T)),
        ],
        format="csr",
    )
    # 4. primary inputs: use(t) <= supply(t)
    U = sp.csr_array(p.inputs[:, primary].T)  # (k x P)
    prim = sp.hstack([sp.kron(It, U), sp.csr_array((T * primary.size, n_cols - oS))], format="csr")
    prim_upper = sup[:, primary].reshape(-1)
    # 5. fulfilment: c_i(t) - target_i(t) z_t >= 0 where target > 0
    tgt_p = tgt[:, produced]
    t_idx, j_idx = np.nonzero(tgt_p > 0)
    if t_idx.size == 0:
        raise PlanError("no positive target in any year")
    m = t_idx.size
    ful = sp.csr_array(
        (
            np.concatenate([np.ones(m), -tgt_p[t_idx, j_idx]]),
            (np.concatenate([np.arange(m), np.arange(m)]), np.concatenate([oc + t_idx * npd + j_idx, oz + t_idx])),
        ),
        shape=(m, n_cols),
    )
    M = sp.vstack([cap_rows, dyn, bal, prim, ful], format="csc")
    n_cap, n_dyn, n_bal, n_prim = cap_rows.shape[0], dyn.shape[0], bal.shape[0], prim.shape[0]
    row_lower = np.concatenate([np.full(n_cap + n_dyn, -INF), np.zeros(n_bal), np.full(n_prim, -INF), np.zeros(m)])
    row_upper = np.concatenate([np.zeros(n_cap + n_dyn), np.full(n_bal, INF), prim_upper, np.full(m, INF)])
    col_lower = np.zeros(n_cols)
    col_upper = np.full(n_cols, INF)
    col_upper[oy:oS] = np.tile(np.asarray(p.capacity, float), T)
    col_upper[oS : oS + E] = S0  # year-1 stocks
    cost = np.zeros(n_cols)
    cost[oz:] = 1.0

    def describe_row(i: int) -> str:
        if i < n_cap:
            t, e = divmod(i, E)
            return f"year {t + 1}: capital stock of {c.ids[e_comm[e]]!s} in {p.ids[e_proc[e]]!s}"
        i -= n_cap
        if i < n_dyn:
            t, e = divmod(i, E)
            return f"year {t + 2}: growth of stock of {c.ids[e_comm[e]]!s} in {p.ids[e_proc[e]]!s}"
        i -= n_dyn
        if i < n_bal:
            t, j = divmod(i, npd)
            return f"year {t + 1}: balance of {c.ids[produced[j]]!s}"
        i -= n_bal
        if i < n_prim:
            t, j = divmod(i, primary.size)
            return f"year {t + 1}: supply of {c.ids[primary[j]]!s}"
        i -= n_prim
        return f"year {t_idx[i] + 1}: target for {c.ids[produced[j_idx[i]]]!s}"

    sol = solve_lp(
        cost,
        M,
        row_lower,
        row_upper,
        col_lower,
        col_upper,
        maximize=True,
        method=method,
        time_limit=time_limit,
        describe_row=describe_row,
    )
    x = sol.x
    duals = sol.row_duals[n_cap + n_dyn : n_cap + n_dyn + n_bal].reshape(T, npd)
    return MultiYearPlan(
        objective=sol.objective,
        fulfilment=x[oz:],
        activity=x[oy:oS].reshape(T, P),
        final=x[oc:oz].reshape(T, npd),
        stock=x[oS:oI].reshape(T, E),
        investment=x[oI:oc].reshape(T, E),
        prices=np.maximum(-duals, 0.0),
        produced_ids=c.ids[produced],
        process_ids=p.ids,
        stock_process=p.ids[e_proc],
        stock_commodity=c.ids[e_comm],
        dual_bound=sol.dual_objective,
        gap=sol.gap,
        method=sol.method,
        seconds=sol.seconds,
        n_variables=n_cols,
        n_constraints=M.shape[0],
    )
