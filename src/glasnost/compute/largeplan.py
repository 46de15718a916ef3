"""Certified optimal "scale" plans for large Leontief-structured economies.

The LP is the ``"scale"`` objective of :func:`glasnost.compute.plan.optimal_plan`::

    maximise z  (complete sets of the target mix)
    s.t.  sum_p N[p, c] y_p >= z t_c          for every produced good c,
          sum_p L[p, k] y_p <= s_k            for every primary input k in limited supply,
          0 <= y_p <= cap_p                   for every process p,

where every process makes exactly one produced good (``N[p, good(p)] = out_p - a_p,good(p)``
and ``N[p, c] = -a_pc`` elsewhere) and ``L`` is its use of labour and natural resources.

Why not HiGHS
-------------
A simplex or interior-point basis of this LP contains a square Leontief block ``I - A_B``. For a
random sparse ``A`` its LU factors fill in almost completely, so both methods stall beyond ten
thousand products. But ``(I - A_B) x = d`` is solved in a few dozen sparse matrix-vector products
by :class:`~glasnost.compute.linear.LeontiefSystem` (the spectral radius of a productive ``A`` is
below one), and the optimal basis has a simple shape: one *reference* process per good, strictly
between its bounds, plus a handful of extra basic columns, one per binding limited input.

The method (a block-pivoting revised simplex with an implicit Leontief basis)
-------------------------------------------------------------------------------
1. Fix a reference technique ``B`` (one process per good; first the economy's default). Its
   activities are implied by the others, ``u`` (every non-reference process) and ``z``::

       y_B = M_B^{-1} (z t - N_u^T u),      M_B = N_B^T restricted to produced goods,

   so the labour rows become ``z (V t) + D u <= s`` with ``V = L_B M_B^{-1}`` the embodied
   labour (and resource) per unit of each good and ``D = L_u - N_u V^T``: the change in total
   labour when a non-reference process makes a unit instead of the reference. ``k + 1``
   Leontief solves (one per limited input and one for ``t``) build it.
2. Solve the *reduced LP*: ``max z`` over ``0 <= z <= z_max``, ``0 <= u <= cap_u`` with the
   ``k`` labour rows, plus explicit rows ``0 <= y_B,c <= cap`` only for goods listed in ``rows``
   (each costs one transposed Leontief solve). ``z_max = min_c capacity_c / t_c`` is a valid
   bound; processes (and z) without any finite bound get an artificial one that is raised
   whenever a solution rests on it. The reduced LP has ``k`` + a few rows and up to 10^6
   columns; HiGHS's interior point method with crossover solves it in about a second up to
   250,000 columns, and beyond, sifting (:mod:`glasnost.compute.sifting`: prices from an
   interior point on the ``rows x rows`` normal equations, or the previous round's; HiGHS on
   the near-ties) (:mod:`glasnost.compute.reduced_lp`). Its vertex is recomputed exactly from the basis and
   checked independently (duality gap and infeasibility recomputed from the returned primal
   and duals); if the check fails (it can with dense explicit rows), the LP is
   solved again with explicit scaling and with the simplex method and the best answer is kept.
3. Recover ``y_B`` (one solve). If every reference activity lies within its bounds, the reduced
   optimum is optimal for the whole LP. Otherwise, for each good whose reference process left
   its bounds, make another process of that good the reference (preferring one strictly inside
   its bounds, as a simplex pivot would) or, when a good keeps bouncing or has no alternative,
   add its explicit row. Repeat.

Every round, whatever its state, yields a certified pair:

* a **primal feasible plan**: the activities are clipped to their bounds, any shortfall of a
  produced good is made up by its reference process (a Leontief solve), and the plan is scaled
  down until every limited input and capacity holds; ``z`` is then the smallest ratio of net
  output to target, recomputed from the activities (:func:`check_activity` verifies it);
* an **upper bound** from explicit dual prices, :func:`scale_bound`: for any prices ``pi >= 0``
  of the produced goods and ``w >= 0`` of the limited inputs, weak duality gives::

       z <= [ s.w + sum_p cap_p max(0, (N pi - L w)_p) ] / (t.pi).

  (Multiply the good balances by ``pi``, the input rows by ``w``, add, and bound
  ``y_p (N pi - L w)_p`` by ``cap_p max(0, .)``.) The prices come from the reduced LP's duals:
  ``pi = V^T w + M_B^{-T} theta`` with ``theta`` the duals of the explicit rows.

The reported ``gap`` is ``(bound - z) / max(1, |z|)``: a certificate, not an estimate. It is only
as exact as floating-point sums of the instance's numbers.

Performance (2-core machine, generated economies: two processes per product, capacities 1.5x
the first technique's gross output for the targets, three labour types; ``bench/bench_plan.py``)
------------------------------------------------------------------------------------------------
n = 10^4: 0.2 s to a certified gap below 1e-11 (HiGHS: PDLP 8 s, infeasible by 1.5e-2 and 1.6e-5
from optimal; interior point 54 s; dual simplex 83 s). n = 2 x 10^5: 5-10 s to a certified gap
below 1e-10 (HiGHS simplex and interior point reach no usable point in 60 s). Two rounds,
18 Leontief solves.

Limitations
-----------
Only economies where every process has exactly one output, a produced good, are handled
(:class:`PlanError` otherwise; use :func:`~glasnost.compute.plan.optimal_plan`), and every
reference technique the pivoting visits must be productive (true when every process's inputs
per unit of output sum to less than one, as in generated economies; otherwise the Leontief
solver raises :class:`~glasnost.economy.NotProductiveError`). The method is fast when a few
limited inputs bind and capacities bind process by process. When the *total* capacity of many
goods binds at once (capacity-dominated economies), each such good needs an explicit row: rows
are dense (one entry per non-reference process) and cost one Leontief solve per round each, so
such economies are solved correctly but without the speed-up, and one needing thousands of rows
is out of reach. Convergence of the pivoting rounds is not guaranteed in theory; when the time
limit or the round limit is hit, the best certified plan found so far is returned with
``extra["status"]`` saying so and its gap telling how far from optimal it may be.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from glasnost.compute.linear import LeontiefSystem
from glasnost.compute.lp import INF, PlanError, UnboundedPlanError
from glasnost.compute.reduced_lp import solve_reduced
from glasnost.compute.result import Plan
from glasnost.economy import Economy
from glasnost.economy.model import choose_technique

FEASIBILITY_RTOL = 1e-9
"""Relative tolerance of :func:`check_activity` (constraint violation / scale of the quantity)."""

_BOUND_RTOL = 1e-9
"""Reference activities within this (relative) distance of a bound count as within it."""

_MAX_SWAPS = 1
"""After this many reference changes a good gets an explicit row instead. One: at 10^6 products a
reference swapped back and forth, two rounds solving the same reduced LP before its third change
gave it a row (a generated economy, 2 x 10^6 processes: 59.7 -> 35.1 s, the same optimum)."""

_MAX_ROW_ENTRIES = 30_000_000
"""Largest number of dense entries the explicit rows of the reduced LP may hold."""



# ---------------------------------------------------------------------------------------------
# The LP in arrays
# ---------------------------------------------------------------------------------------------


class Ranks:
    """Sums and extremes over the ranks among which the processes are cut in blocks.

    With one block (the serial optimiser) they are the identity; under MPI
    (:class:`glasnost.compute.largeplan_blocks.MpiRanks`) each rank holds a block of
    processes (rows of ``net`` and ``use``, entries of ``cap``, ``good``, ``out`` and of every
    activity vector) and every vector over goods or limited inputs is whole on every rank.
    """

    root = True

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Elementwise sum over the ranks (every rank gets it)."""
        return x

    def max(self, x: Any) -> Any:
        """The largest over the ranks of a number, or elementwise of an array."""
        return x

    def any(self, flag: bool) -> bool:
        return flag

    def concat(self, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        """Each array concatenated over the ranks in rank order (every rank gets them)."""
        return arrays

    def gather(self, x: np.ndarray) -> np.ndarray | None:
        """The blocks' arrays concatenated along their last axis on the root (``None`` elsewhere)."""
        return x

    def on_root(self, solve: Callable[[], Any]) -> Any:
        """``solve()`` run on the root and its answer (or error) sent to every rank."""
        return solve()

    def scatter(self, x: np.ndarray | None, counts: np.ndarray) -> np.ndarray:
        """The root's ``x`` cut into consecutive pieces of ``counts[r]`` entries, one per rank."""
        assert x is not None
        return x

    def counts(self, size: int) -> np.ndarray:
        """Every rank's ``size``."""
        return np.array([size])


ONE = Ranks()


@dataclass(frozen=True, eq=False)
class ScaleLP:
    """The ``"scale"`` LP of an economy whose processes each make one produced good.

    Attributes
    ----------
    economy : the economy.
    produced : (n,) commodity index of each produced good ("good" positions below).
    limited : (k,) commodity index of each primary input with a finite supply.
    good : (m,) the good each process makes (position in ``produced``).
    out : (m,) units of its good one unit of activity makes.
    net : (m, n) csr, net output of produced goods per unit of activity.
    use : (m, k) csr, use of each limited input per unit of activity (hours, resource units).
    cap : (m,) capacity (largest activity), ``inf`` where unlimited.
    target : (n,) target mix t (units of each good per complete set).
    supply : (k,) available amount of each limited input (inputs in unlimited supply are free
        and have no row).
    makers_order : (m,) processes sorted by the good they make.
    first, total : this block holds processes ``first`` to ``first + m - 1`` of ``total``
        (``m`` above counts the block's processes; one block holds them all serially).
    ranks : sums over the blocks (:class:`Ranks`).
    technique : makes the Leontief solver of a reference technique (process of each good,
        global positions) where there is no ``economy`` to choose it from (row blocks).
    """

    economy: Economy | None
    produced: np.ndarray
    limited: np.ndarray
    good: np.ndarray
    out: np.ndarray
    net: sp.csr_array
    use: sp.csr_array
    cap: np.ndarray
    target: np.ndarray
    supply: np.ndarray
    makers_order: np.ndarray = field(repr=False)
    first: int = 0
    total: int = -1
    ranks: Ranks = ONE
    technique: Callable[[np.ndarray], Any] | None = None

    @property
    def n_goods(self) -> int:
        return int(self.produced.size)

    @property
    def n_processes(self) -> int:
        """Processes in this block (all of them serially)."""
        return int(self.good.size)

    @property
    def total_processes(self) -> int:
        return self.n_processes if self.total < 0 else self.total

    def net_output(self, activity: np.ndarray) -> np.ndarray:
        """(n,) net output of each produced good (``activity``: this block's)."""
        return self.ranks.sum(np.asarray(self.net.T @ activity).ravel())

    def input_use(self, activity: np.ndarray) -> np.ndarray:
        """(k,) amount of each limited input used."""
        return self.ranks.sum(np.asarray(self.use.T @ activity).ravel())

    def gross_output(self, activity: np.ndarray) -> np.ndarray:
        """(n,) gross output (total made) of each produced good."""
        return self.ranks.sum(np.bincount(self.good, weights=self.out * activity, minlength=self.n_goods))

    def per_good(self, ref: Reference, values: np.ndarray) -> np.ndarray:
        """(n, ...) per good from ``values`` of the reference processes in this block (in the
        order of ``ref.local``), zero-filled and summed over the blocks."""
        out = np.zeros((self.n_goods, *values.shape[1:]), dtype=np.result_type(values, np.float64))
        out[ref.mine] = values
        return self.ranks.sum(out)


def _per_commodity(economy: Economy, values: object, default: np.ndarray, what: str) -> np.ndarray:
    if values is None:
        return np.asarray(default, dtype=np.float64).copy()
    if isinstance(values, dict):
        arr = np.zeros(economy.n_commodities)
        if values:
            arr[economy.commodities.index(list(values.keys()))] = np.asarray(list(values.values()), float)
        return arr
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (economy.n_commodities,):
        raise PlanError(f"{what} has shape {arr.shape}, expected ({economy.n_commodities},)")
    return arr


def scale_lp(economy: Economy, *, targets: object = None, supply: object = None) -> ScaleLP:
    """Extract the ``"scale"`` LP of ``economy`` (raises :class:`PlanError` if unsupported).

    ``targets`` and ``supply`` override the economy's, as in ``optimal_plan``.
    """
    c = economy.commodities
    tgt = _per_commodity(economy, targets, c.targets, "targets")
    sup = _per_commodity(economy, supply, c.supply, "supply")
    produced = c.produced
    primary = c.primary
    out_m = economy.processes.outputs
    counts = np.diff(out_m.indptr)
    if (counts != 1).any():
        bad = int(np.flatnonzero(counts != 1)[0])
        raise PlanError(
            f"process {economy.processes.ids[bad]!s} has {counts[bad]} outputs; large_plan needs "
            "exactly one output per process (use optimal_plan)"
        )
    position = np.full(economy.n_commodities, -1, dtype=np.int64)
    position[produced] = np.arange(produced.size)
    good = position[out_m.indices]
    out = np.asarray(out_m.data, dtype=np.float64)
    if (good < 0).any() or (out <= 0).any():
        bad = int(np.flatnonzero((good < 0) | (out <= 0))[0])
        raise PlanError(f"process {economy.processes.ids[bad]!s} does not make a produced good")
    t = tgt[produced]
    if not (t > 0).any():
        raise PlanError("the scale objective needs a positive target for at least one product")
    limited = primary[np.isfinite(sup[primary])]
    N = economy.net_output
    return ScaleLP(
        economy=economy,
        produced=produced,
        limited=limited,
        good=good,
        out=out,
        net=sp.csr_array(N[:, produced]),
        use=sp.csr_array(-N[:, limited]),
        cap=np.asarray(economy.processes.capacity, dtype=np.float64),
        target=t,
        supply=sup[limited],
        makers_order=np.argsort(good, kind="stable"),
    )


# ---------------------------------------------------------------------------------------------
# Certificates: primal check and dual bound
# ---------------------------------------------------------------------------------------------


def scale_bound(lp: ScaleLP, prices: np.ndarray, input_prices: np.ndarray) -> float:
    """Upper bound on z (complete sets) from any non-negative prices, by weak duality.

    Parameters
    ----------
    prices : (n,) price of each produced good (negative entries are treated as 0).
    input_prices : (k,) price of each limited input (negative entries are treated as 0).

    Returns
    -------
    ``[s.w + sum_p cap_p max(0, (N pi - L w)_p)] / (t.pi)``, ``inf`` when ``t.pi <= 0`` or a
    process without capacity limit has a positive reduced profit.
    """
    pi = np.maximum(np.asarray(prices, dtype=np.float64), 0.0)
    w = np.maximum(np.asarray(input_prices, dtype=np.float64), 0.0)
    per_set = float(lp.target @ pi)
    if not per_set > 0:
        return INF
    profit = np.asarray(lp.net @ pi).ravel() - np.asarray(lp.use @ w).ravel()
    positive = profit > 0
    if lp.ranks.any(bool((positive & ~np.isfinite(lp.cap)).any())):
        return INF
    rents = float(lp.ranks.sum(np.array([np.sum(lp.cap[positive] * profit[positive])]))[0])
    return (float(lp.supply @ w) + rents) / per_set


def deflate_prices(lp: ScaleLP, prices: np.ndarray, input_prices: np.ndarray) -> np.ndarray:
    """Scale the goods' prices down just enough that no process without a capacity limit makes
    a positive profit (where its inputs cost something), so :func:`scale_bound` is finite.

    With ``pi' = (1 - e) pi`` a process's profit becomes ``(1 - e) r_p - e (L w)_p``, which is
    <= 0 once ``e >= r_p / (r_p + (L w)_p)``. Round-off in computed prices leaves profits of
    order 1e-15, so ``e`` is of that order and the bound barely moves.
    """
    pi = np.maximum(np.asarray(prices, dtype=np.float64), 0.0)
    w = np.maximum(np.asarray(input_prices, dtype=np.float64), 0.0)
    profit = np.asarray(lp.net @ pi).ravel()
    cost = np.asarray(lp.use @ w).ravel()
    bad = ~np.isfinite(lp.cap) & (profit - cost > 0) & (cost > 0)
    if not lp.ranks.any(bool(bad.any())):
        return pi
    e = lp.ranks.max(float(np.max((profit[bad] - cost[bad]) / profit[bad], initial=-INF)))
    return pi * (1.0 - min(2.0 * e, 1.0))


@dataclass(frozen=True)
class Check:
    """Primal check of an activity vector.

    ``scale``: z = min over targeted goods of net output / target (complete sets);
    ``violation``: the largest relative violation of any other constraint (0 when feasible):
    negative net output of an untargeted good / its gross output, input use above supply /
    supply, activity outside ``[0, cap]`` / ``cap``.
    """

    scale: float
    violation: float

    @property
    def feasible(self) -> bool:
        return self.violation <= FEASIBILITY_RTOL


def check_activity(lp: ScaleLP, activity: np.ndarray) -> Check:
    """Recompute z and the largest relative constraint violation of ``activity``."""
    y = np.asarray(activity, dtype=np.float64)
    net = lp.net_output(y)
    targeted = lp.target > 0
    z = float(np.min(net[targeted] / lp.target[targeted]))
    gross = lp.gross_output(y)
    short = np.maximum(-net[~targeted], 0.0)
    parts = [0.0]
    if short.size:
        parts.append(float(np.max(_ratio(short, gross[~targeted]))))
    if lp.supply.size:
        over = np.maximum(lp.input_use(y) - lp.supply, 0.0)
        parts.append(float(np.max(_ratio(over, lp.supply))))
    local = float(np.max(_ratio(np.maximum(-y, 0.0), np.abs(y)), initial=0.0))
    finite = np.isfinite(lp.cap)
    local = max(local, float(np.max(_ratio(np.maximum(y[finite] - lp.cap[finite], 0.0), lp.cap[finite]), initial=0.0)))
    parts.append(lp.ranks.max(local))
    return Check(scale=z, violation=max(parts))


def _ratio(excess: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """excess / scale, with 0/0 = 0 and x/0 = inf for x > 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(excess > 0, excess / np.where(scale > 0, scale, 0.0), 0.0)
    return np.where(np.isnan(r), np.inf, r)


def repair_activity(lp: ScaleLP, activity: np.ndarray, reference: Reference, scale: float | None = None) -> np.ndarray:
    """A feasible activity vector near ``activity``.

    Clip to ``[0, cap]``; let each good's reference process make up any negative net output,
    or, when ``scale`` (z, complete sets) is given, any shortfall below ``scale * t``
    (``M_B^{-1}`` of the shortfall, non-negative for a productive technique): iterative solves
    leave errors of about 1e-12 of the whole vector, which is a larger share of a small target;
    then scale every activity by the largest factor <= 1 that keeps inputs within supply and
    processes within capacity. Scaling keeps net outputs non-negative, so the result is
    feasible with ``z >= 0``.
    """
    y = np.clip(np.asarray(activity, dtype=np.float64), 0.0, lp.cap)
    net = lp.net_output(y)
    goal = 0.0 if scale is None else max(scale, 0.0) * lp.target
    short = np.maximum(goal - net, 0.0)
    if short.any():
        extra = np.maximum(reference.solve(short), 0.0)
        # a hair more than the shortfall, so the solver's rounding cannot leave a deficit
        y[reference.local] += extra[reference.mine] * (1.0 + 4 * FEASIBILITY_RTOL * 1e-3)
    factor = 1.0
    used = lp.input_use(y)
    over = used > lp.supply
    if over.any():
        factor = min(factor, float(np.min(lp.supply[over] / used[over])))
    above = y > lp.cap
    if lp.ranks.any(bool(above.any())):
        factor = min(factor, -lp.ranks.max(-float(np.min(lp.cap[above] / y[above], initial=INF))))
    return np.minimum(y * factor, lp.cap)


# ---------------------------------------------------------------------------------------------
# The reference technique (implicit basis)
# ---------------------------------------------------------------------------------------------


class Reference:
    """One process per good, prepared for solves with ``M_B = N_B^T`` (produced goods).

    ``solve(v)`` returns ``M_B^{-1} v`` (activities of the reference processes that make net
    output ``v``); ``solve_t(v)`` returns ``M_B^{-T} v`` (prices at which every reference
    process has reduced profit ``v``).
    """

    def __init__(self, lp: ScaleLP, process: np.ndarray, leontief: Callable[..., Any] = LeontiefSystem) -> None:
        self.process = np.asarray(process, dtype=np.int64)
        local = self.process - lp.first
        self.mine = (local >= 0) & (local < lp.n_processes)  # goods whose reference is in this block
        self.local = local[self.mine]
        if lp.technique is not None:
            self.system = lp.technique(self.process)
        else:
            assert lp.economy is not None
            tech = choose_technique(lp.economy, self.process)
            if not np.array_equal(tech.produced, lp.produced):
                raise PlanError("technique and LP disagree on the produced goods")
            self.system = leontief(tech.A)
        self.out = lp.per_good(self, lp.out[self.local])
        self.cap = lp.per_good(self, lp.cap[self.local])
        self.solves = 0

    def solve(self, v: np.ndarray) -> np.ndarray:
        self.solves += 1 if v.ndim == 1 else v.shape[1]
        x, _ = self.system.solve(v)
        return x / (self.out if x.ndim == 1 else self.out[:, None])

    def solve_t(self, v: np.ndarray) -> np.ndarray:
        self.solves += 1 if v.ndim == 1 else v.shape[1]
        scaled = v / (self.out if v.ndim == 1 else self.out[:, None])
        x, _ = self.system.solve(scaled, transpose=True)
        return x


def first_technique(lp: ScaleLP) -> np.ndarray:
    """(n,) the first process making each good (the economy's default technique)."""
    order = lp.makers_order
    goods = lp.good[order]
    first = np.flatnonzero(np.r_[True, goods[1:] != goods[:-1]])
    none = lp.total_processes
    process = np.full(lp.n_goods, none, dtype=np.int64)
    process[goods[first]] = order[first] + lp.first
    process = -lp.ranks.max(-process)
    if (process == none).any():
        raise PlanError(f"no process makes produced commodity position {lp.produced[np.argmax(process == none)]}")
    return process


# ---------------------------------------------------------------------------------------------
# The reduced LP
# ---------------------------------------------------------------------------------------------


@dataclass
class _Round:
    """One reduced LP solved: the full activity and the dual prices it implies."""

    activity: np.ndarray
    z: float
    prices: np.ndarray
    input_prices: np.ndarray
    upper: np.ndarray  # (m + 1,) bound used for every process and z in the reduced LP
    iterations: int
    row_duals: np.ndarray  # of the reduced LP's rows (limited inputs, then explicit rows)


def _reduced_round(
    lp: ScaleLP, ref: Reference, rows: np.ndarray, upper: np.ndarray, warm: np.ndarray | None = None
) -> _Round:
    """Build and solve the reduced LP for the reference ``ref`` and explicit rows ``rows``.

    ``warm``: row duals of a previous round's reduced LP (same rows), a start for sifting."""
    reduced = _ReducedLP.build(lp, ref, rows, upper)
    counts = lp.ranks.counts(reduced.free.size)
    matrix, col_upper = lp.ranks.gather(reduced.matrix[:, :-1]), lp.ranks.gather(reduced.col_upper[:-1])

    def solve() -> tuple[np.ndarray | None, float, np.ndarray, float, int]:
        # the reduced LP: its columns from every block, on the root alone
        assert matrix is not None and col_upper is not None
        sol = solve_reduced(
            np.hstack([matrix, reduced.matrix[:, -1:]]), reduced.row_lower, reduced.row_upper,
            np.r_[col_upper, reduced.col_upper[-1]], prices=warm,
        )  # fmt: skip
        return sol.x[:-1], float(sol.x[-1]), sol.row_duals, float(sol.col_duals[-1]), sol.iterations

    answer = lp.ranks.on_root(solve)
    u = lp.ranks.scatter(answer[0], counts)
    z, row_duals, z_dual, iterations = answer[1:]
    y = np.empty(lp.n_processes)
    y[reduced.free] = u
    y[ref.local] = ref.solve(z * lp.target - lp.ranks.sum(np.asarray(reduced.Nf.T @ u).ravel()))[ref.mine]
    k = lp.supply.size
    w, theta = row_duals[:k], row_duals[k:]
    pi = reduced.embodied @ w + reduced.rho @ theta
    z_max, bottleneck = capacity_bound(lp)
    if np.isfinite(z_max) and z_dual > 0:
        # the bound z <= capacity / target of the bottleneck good, priced at that good
        pi[bottleneck] += z_dual / lp.target[bottleneck]
    return _Round(
        activity=y, z=z, prices=pi, input_prices=w, upper=upper, iterations=iterations, row_duals=row_duals
    )


@dataclass
class _ReducedLP:
    """``max z`` s.t. ``row_lower <= matrix [u; z] <= row_upper``, ``0 <= [u; z] <= col_upper``.

    Rows: the k limited inputs, then one per explicit row. ``free``: the non-reference
    processes (the columns u; in row blocks, this block's, whose columns come before z);
    ``Nf``: their net outputs; ``embodied`` (n, k): limited inputs
    embodied per unit of each good, ``V^T``; ``rho`` (n, rows): ``M_B^{-T}`` of the unit vectors
    of the explicit rows' goods.
    """

    matrix: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_upper: np.ndarray
    free: np.ndarray
    Nf: sp.csr_array
    embodied: np.ndarray
    rho: np.ndarray

    @classmethod
    def build(cls, lp: ScaleLP, ref: Reference, rows: np.ndarray, upper: np.ndarray) -> _ReducedLP:
        k = lp.supply.size
        is_ref = np.zeros(lp.n_processes, bool)
        is_ref[ref.local] = True
        free = np.flatnonzero(~is_ref)
        Nf = sp.csr_array(lp.net[free])
        use_ref = lp.use[ref.local]
        embodied = ref.solve_t(lp.per_good(ref, use_ref.toarray())) if k else np.zeros((lp.n_goods, 0))
        per_set = ref.solve(lp.target)  # reference activities per complete set, with u = 0
        rho = ref.solve_t(_unit_columns(lp.n_goods, rows)) if rows.size else np.zeros((lp.n_goods, 0))
        matrix = np.empty((k + rows.size, free.size + 1))
        matrix[:k, :-1] = (lp.use[free].toarray() - np.asarray(Nf @ embodied)).T
        matrix[k:, :-1] = -np.asarray(Nf @ rho).T
        matrix[:k, -1] = lp.ranks.sum(np.asarray(use_ref.T @ per_set[ref.mine]).ravel())
        matrix[k:, -1] = per_set[rows]
        return cls(
            matrix=matrix,
            row_lower=np.r_[np.full(k, -INF), np.zeros(rows.size)],
            row_upper=np.r_[lp.supply, ref.cap[rows]],
            col_upper=np.r_[upper[:-1][free], upper[-1]],
            free=free,
            Nf=Nf,
            embodied=embodied,
            rho=rho,
        )


def _unit_columns(n: int, rows: np.ndarray) -> np.ndarray:
    E = np.zeros((n, rows.size))
    E[rows, np.arange(rows.size)] = 1.0
    return E


# ---------------------------------------------------------------------------------------------
# Pivoting: which reference processes change, which goods get explicit rows
# ---------------------------------------------------------------------------------------------


def _out_of_bounds(lp: ScaleLP, ref: Reference, rnd: _Round, *, strict: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(low, high): goods whose reference activity is below 0 / above its capacity.

    The tolerance is ``_BOUND_RTOL`` of the good's gross output, but at least of a thousandth of
    the largest good's (round-off of the Leontief solves scales with the whole vector), unless
    ``strict``: then of the good's own gross output alone. A reference process of a tiny good a
    per cent over its capacity lies within the loose tolerance, yet :func:`repair_activity` must
    scale the whole plan down by that per cent; the rounds check strictly once the loose check
    finds nothing while the gap is still open.
    """
    y_ref = lp.per_good(ref, rnd.activity[ref.local])
    cap_ref = ref.cap
    size = lp.gross_output(np.maximum(rnd.activity, 0.0)) / ref.out
    floor = 1e-300 if strict else 1e-3 * max(float(size.max(initial=0.0)), 1e-300)
    tol = _BOUND_RTOL * np.maximum(size, floor)
    return y_ref < -tol, y_ref > cap_ref + tol


def _pivot(
    lp: ScaleLP, ref: Reference, rnd: _Round, low: np.ndarray, high: np.ndarray, swaps: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """New reference processes and explicit rows for the goods whose reference left its bounds.

    For such a good, another process of it becomes the reference: preferably one strictly
    inside its bounds (a basic variable of the reduced LP), else one that can move the right
    way (room below its bound when the reference was above capacity, positive activity when the
    reference went negative). Goods without such a process, or that changed reference
    ``_MAX_SWAPS`` times, get an explicit row.
    """
    bad = low | high
    process = ref.process.copy()
    is_ref = np.zeros(lp.n_processes, bool)
    is_ref[ref.local] = True
    cand = np.flatnonzero(~is_ref & bad[lp.good] & (swaps[lp.good] < _MAX_SWAPS))
    g = lp.good[cand]
    u, ub = rnd.activity[cand], rnd.upper[:-1][cand]
    tol = _BOUND_RTOL * np.maximum(np.abs(u), 1e-300)
    inside = (u > tol) & (u < ub - tol)
    helps = np.where(high[g], u < ub - tol, u > tol)
    score = 2 * inside.astype(np.int64) + helps.astype(np.int64)
    keep = score > 0
    # the candidates of every block, in process order
    cand, g, u, score = lp.ranks.concat(cand[keep] + lp.first, g[keep], u[keep], score[keep])
    order = np.lexsort((-u, -score, g))
    first = order[np.r_[True, g[order][1:] != g[order][:-1]]] if order.size else order
    process[g[first]] = cand[first]
    swaps[g[first]] += 1
    stuck = bad.copy()
    stuck[g[first]] = False
    new_rows = np.union1d(rows, np.flatnonzero(stuck))
    return process, new_rows


def capacity_bound(lp: ScaleLP) -> tuple[float, int]:
    """(z_max, c): no plan makes more than ``z_max = capacity of c / t_c`` sets, where c is the
    targeted good with the least capacity per unit of target (``inf`` if unlimited)."""
    capacity = lp.ranks.sum(np.bincount(lp.good, weights=lp.cap * lp.out, minlength=lp.n_goods))
    targeted = np.flatnonzero(lp.target > 0)
    ratio = capacity[targeted] / lp.target[targeted]
    i = int(np.argmin(ratio))
    return float(ratio[i]), int(targeted[i])


def _upper_bounds(lp: ScaleLP, ref: Reference, factor: float) -> np.ndarray:
    """(m + 1,) bounds on the processes and on z for the reduced LP.

    Capacities where finite. z is at most the valid bound ``min_c (capacity of good c) / t_c``
    over targeted goods. Where either is infinite, an artificial bound: ``factor`` times a rough
    scale (the reference plan stretched until the first limited input runs out). A solution
    resting on an artificial bound is never accepted as optimal; the caller raises ``factor``.
    """
    z_max, _ = capacity_bound(lp)
    unlimited = ~np.isfinite(lp.cap)
    if np.isfinite(z_max) and not lp.ranks.any(bool(unlimited.any())):
        return np.r_[lp.cap, z_max]
    per_set = np.maximum(ref.solve(lp.target), 0.0)
    used = lp.ranks.sum(np.asarray(lp.use[ref.local].T @ per_set[ref.mine]).ravel())
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = float(np.min(np.where(used > 0, lp.supply / used, INF), initial=INF))
    z0 = min(z0, z_max)
    if not np.isfinite(z0) or z0 <= 0:
        z0 = 1.0
    upper = np.r_[lp.cap, z_max if np.isfinite(z_max) else factor * z0]
    if unlimited.any():
        gross = per_set * ref.out * z0
        size = gross + float(gross.mean())
        upper[:-1][unlimited] = factor * size[lp.good[unlimited]] / lp.out[unlimited]
    return upper


def _artificial_active(lp: ScaleLP, rnd: _Round) -> bool:
    """Whether z or a process without capacity sits at an artificial bound."""
    unlimited = np.r_[~np.isfinite(lp.cap), not np.isfinite(capacity_bound(lp)[0])]
    at_bound = np.r_[rnd.activity, rnd.z] >= rnd.upper * (1 - 1e-9)
    return lp.ranks.any(bool((unlimited & at_bound & (rnd.upper > 0)).any()))


# ---------------------------------------------------------------------------------------------
# The best certified pair so far
# ---------------------------------------------------------------------------------------------


@dataclass
class _Best:
    z: float = -INF
    activity: np.ndarray | None = None
    violation: float = INF
    bound: float = INF
    prices: np.ndarray | None = None
    input_prices: np.ndarray | None = None

    def offer_primal(self, lp: ScaleLP, activity: np.ndarray) -> None:
        check = check_activity(lp, activity)
        if check.feasible and check.scale > self.z:
            self.z, self.activity, self.violation = check.scale, activity, check.violation

    def offer_dual(self, lp: ScaleLP, prices: np.ndarray, input_prices: np.ndarray) -> None:
        prices = deflate_prices(lp, prices, input_prices)
        bound = scale_bound(lp, prices, input_prices)
        if bound < self.bound:
            self.bound, self.prices, self.input_prices = bound, prices, input_prices

    @property
    def gap(self) -> float:
        if self.activity is None or not np.isfinite(self.bound):
            return INF
        return max(self.bound - self.z, 0.0) / max(1.0, abs(self.z))


# ---------------------------------------------------------------------------------------------
# The solver
# ---------------------------------------------------------------------------------------------


def large_plan(
    economy: Economy,
    *,
    targets: object = None,
    supply: object = None,
    rtol: float = 1e-6,
    time_limit: float | None = 300.0,
    max_rounds: int = 60,
    leontief: Callable[..., Any] = LeontiefSystem,
) -> Plan:
    """Certified optimal ``"scale"`` plan of a large Leontief-structured economy.

    See the module docstring for the method. The returned plan is always primal feasible
    (checked by :func:`check_activity` to a relative tolerance of 1e-9) and carries a dual
    bound computed by :func:`scale_bound` from explicit non-negative prices, so
    ``objective <= optimum <= dual_bound`` holds whatever happened.

    Parameters
    ----------
    economy : an economy whose processes each make one produced good.
    targets, supply : override the economy's targets (the mix) and input supplies.
    rtol : stop once ``gap = (dual_bound - z) / max(1, |z|) <= rtol``.
    time_limit : seconds; when reached, the best certified plan so far is returned.
    max_rounds : largest number of reduced LPs (pivoting rounds).
    leontief : makes the Leontief solver from a technique's ``A`` (default
        :class:`LeontiefSystem`; :func:`glasnost.compute.mpi.large_plan_mpi` passes one over MPI).

    Returns
    -------
    Plan
        ``objective`` and ``scale``: z, complete sets of the target mix; ``prices``: shadow
        price of each produced good and limited input in sets per unit (normalised so the
        target mix costs one set); ``capacity_rents`` in sets per unit of activity;
        ``extra["status"]``: ``"optimal"`` (gap <= rtol), ``"time limit"``, ``"round limit"``
        or ``"stalled"``; ``extra["rounds"]``, ``extra["solves"]`` (Leontief solves),
        ``extra["rows"]`` (explicit rows), ``extra["violation"]`` (largest relative violation).

    Raises
    ------
    PlanError : an unsupported economy (a process with several outputs), no positive target,
        or no feasible plan could be certified at all.
    """
    start = time.perf_counter()
    lp = scale_lp(economy, targets=targets, supply=supply)
    best, status, rounds, solves, iterations = solve_scale(
        lp, rtol=rtol, time_limit=time_limit, max_rounds=max_rounds, leontief=leontief, start=start
    )
    return _as_plan(lp, best, status, rounds, solves, iterations, time.perf_counter() - start)


def solve_scale(
    lp: ScaleLP,
    *,
    rtol: float = 1e-6,
    time_limit: float | None = 300.0,
    max_rounds: int = 60,
    leontief: Callable[..., Any] = LeontiefSystem,
    start: float | None = None,
) -> tuple[_Best, str, int, int, int]:
    """The pivoting rounds of :func:`large_plan` on ``lp`` (whole, or this rank's block of
    processes): the best certified pair, the status, rounds, Leontief solves and LP iterations."""
    start = time.perf_counter() if start is None else start
    ref = Reference(lp, first_technique(lp), leontief)
    rows = np.zeros(0, dtype=np.int64)
    swaps = np.zeros(lp.n_goods, dtype=np.int64)
    best, factor = _Best(), 4.0
    z_max, bottleneck = capacity_bound(lp)
    if np.isfinite(z_max):  # the capacity bound, priced at the bottleneck good
        best.offer_dual(lp, _unit_columns(lp.n_goods, np.array([bottleneck]))[:, 0], np.zeros(lp.supply.size))
    upper = _upper_bounds(lp, ref, factor)
    status, rounds, solves, iterations = "round limit", 0, 0, 0
    warm: np.ndarray | None = None
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - rounds is reported
        rnd = _reduced_round(lp, ref, rows, upper, warm)
        iterations += rnd.iterations
        best.offer_primal(lp, repair_activity(lp, rnd.activity, ref, rnd.z))
        best.offer_dual(lp, rnd.prices, rnd.input_prices)
        solves += ref.solves
        low, high = _out_of_bounds(lp, ref, rnd)
        if best.gap <= rtol:
            status = "optimal"
            break
        if time_limit is not None and time.perf_counter() - start > time_limit:
            status = "time limit"
            break
        if not (low | high).any():
            low, high = _out_of_bounds(lp, ref, rnd, strict=True)
        if not (low | high).any():
            if not _artificial_active(lp, rnd):
                status = "stalled"
                break
            factor *= 10.0
            if factor > 1e12:
                raise UnboundedPlanError("the objective is unbounded: some goal needs nothing that is scarce")
            upper = _upper_bounds(lp, ref, factor)
            warm = rnd.row_duals
            continue
        if rows.size and (rows.size + lp.supply.size) * lp.total_processes > _MAX_ROW_ENTRIES:
            status = "too many explicit rows"
            break
        process, new_rows = _pivot(lp, ref, rnd, low, high, swaps, rows)
        if np.array_equal(process, ref.process) and new_rows.size == rows.size:
            status = "stalled"  # every violated good already has its row: round-off only
            break
        # the next reduced LP's prices start from these, unless it has new explicit rows (whose
        # prices are unknown: at 10^6 products, starting them at 0 cost more than an interior point)
        warm = rnd.row_duals if new_rows.size == rows.size else None
        rows = new_rows
        ref = Reference(lp, process, leontief)
        upper = _upper_bounds(lp, ref, factor)
    solves += ref.solves
    return best, status, rounds, solves, iterations


def plan_prices(lp: ScaleLP, best: _Best, n_commodities: int, status: str) -> tuple[np.ndarray, np.ndarray]:
    """(prices of every commodity, capacity rents of this block's processes) of the best pair,
    in sets per unit (the target mix costs one set)."""
    if best.activity is None or best.prices is None or best.input_prices is None:
        raise PlanError(f"large_plan found no certified plan ({status})")
    pi = np.maximum(best.prices, 0.0)
    w = np.maximum(best.input_prices, 0.0)
    norm = float(lp.target @ pi)
    prices = np.zeros(n_commodities)
    prices[lp.produced] = pi / norm
    prices[lp.limited] = w / norm
    profit = (np.asarray(lp.net @ pi).ravel() - np.asarray(lp.use @ w).ravel()) / norm
    return prices, np.where(np.isfinite(lp.cap), np.maximum(profit, 0.0), 0.0)


def _as_plan(lp: ScaleLP, best: _Best, status: str, rounds: int, solves: int, iterations: int, seconds: float) -> Plan:
    economy = lp.economy
    assert economy is not None
    prices, rents = plan_prices(lp, best, economy.n_commodities, status)
    y = best.activity
    assert y is not None
    return Plan(
        objective_kind="scale",
        objective=best.z,
        activity=y,
        net_output=np.asarray(economy.net_output.T @ y).ravel(),
        prices=prices,
        capacity_rents=rents,
        scale=best.z,
        dual_bound=best.bound,
        gap=best.gap,
        method="glasnost-large",
        iterations=iterations,
        seconds=seconds,
        commodity_ids=economy.commodities.ids,
        process_ids=economy.processes.ids,
        extra={"status": status, "rounds": rounds, "solves": solves, "violation": best.violation},
    )
