"""Cockshott's harmony planning: a fast approximate planner with choice of technique.

The planners say how much of each product they want (the target ``t_c``); a plan's *harmony*
for product c compares its net output ``n_c`` with the target through the relative deviation
``s_c = (n_c - t_c) / t_c``::

    H(s) = s - s^2 / 2     for s < 0      (a shortfall hurts more and more)
    H(s) = ln(1 + s)       for s >= 0     (a surplus helps less and less)

H is concave and twice continuously differentiable (both branches have value 0, slope 1 and
curvature -1 at s = 0). The harmony planner maximises ``sum_c H(s_c)`` over the targeted products
by choosing the activity level of every process (any of several techniques per product),
subject to

* net output >= 0 for every produced good (a plan cannot use more of a good than it makes;
  for the targeted goods this is s >= -1),
* use of each labour type and natural resource <= its supply,
* 0 <= activity <= capacity.

The method (written for glasnost; vectorised, sparse matrix-vector products only)
--------------------------------------------------------------------------------------
The constraints enter an augmented Lagrangian whose multipliers start at rough prices (inputs:
about ``|T| / k`` harmony per whole supply; goods: the inputs embodied in them, one transposed
Leontief solve per input). Its gradient with respect to the activities is a *price*
calculation: the marginal harmony ``H'(s_c) / t_c`` of each targeted good, the multiplier price
of each good and input, and per process ``value of its net output - cost of its inputs`` (one
product with ``N^T`` for the net outputs and one with ``N`` for the profits, ``N`` =
``economy.net_output``). This is Cockshott's reading of the harmony gradient as prices: expand
the processes that make goods in short supply, shrink those whose inputs are dear.

Activities are scaled so that the objective has unit curvature along each (Jacobi scaling,
from the squares of ``N``). The inner problem is solved by accelerated projected gradient
ascent (Nesterov momentum with adaptive restarts, backtracking step size, projection onto
``[0, 0.97 cap]``); every ``_INNER`` steps the multipliers take a method-of-multipliers step,
goods short by a large share of their use get their price raised in proportion, and input
limits that stay violated get a larger penalty. There are no Python loops over products or
processes.

Repair: the last iterate is slightly infeasible. Shortfalls are removed locally
(:func:`_cover`): goods that cannot be made in the spare capacity have their users slowed
down, the others are made, with their inputs, by each good's process with the most spare
capacity (a Leontief solve). Finally :func:`glasnost.compute.largeplan.repair_activity` covers
round-off and scales the plan into the supplies (a factor of about ``1 - 1e-3``), and
:func:`glasnost.compute.largeplan.check_activity` checks every constraint to 1e-9 relative.

What to expect
--------------
Harmony is not the LP objective. Because every target counts the same whatever its size, the
harmony optimum gives surpluses of goods whose target is cheap to make and leaves goods whose
target is dear short. Its ``scale`` z (complete sets of the target mix: the *worst* ratio of net
output to target) is therefore well below the LP optimum, while its total harmony is above the
harmony of the LP plan. On a generated economy with n = 10^4 (seed 1): z = 0.45 sets against
the LP's 1.08, total harmony 692 against 451, median ratio of net output to target 0.98, 0.03 %
of the targets below half. The number of gradient steps trades time for harmony; the method
is approximate and gives no optimality certificate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from glasnost.compute.largeplan import (
    Reference,
    ScaleLP,
    check_activity,
    first_technique,
    repair_activity,
    scale_lp,
)
from glasnost.compute.lp import PlanError
from glasnost.economy import Economy

_INNER = 25
"""Gradient steps between two multiplier updates."""

_PENALTY = 10.0
"""Starting augmented-Lagrangian penalty (per unit of scaled constraint violation, squared)."""

_MARGIN = 0.97
"""Share of each capacity the ascent may use: the rest is room for the final repair."""

_MAX_PENALTY = 1e4
"""Largest penalty a constraint that keeps being violated is raised to."""


def harmony(s: np.ndarray) -> np.ndarray:
    """Cockshott's harmony of relative deviations ``s = (net - target) / target``."""
    s = np.asarray(s, dtype=np.float64)
    return np.where(s < 0, s - 0.5 * s * s, np.log1p(np.maximum(s, 0.0)))


def harmony_slope(s: np.ndarray) -> np.ndarray:
    """dH/ds: ``1 - s`` for shortfalls, ``1 / (1 + s)`` for surpluses (>= 0 everywhere)."""
    s = np.asarray(s, dtype=np.float64)
    return np.where(s < 0, 1.0 - s, 1.0 / (1.0 + np.maximum(s, 0.0)))


@dataclass(frozen=True)
class HarmonyPlan:
    """A feasible plan found by the harmony planner.

    Attributes
    ----------
    activity : (processes,) activity level of each process (units of activity).
    net_output : (commodities,) net output of each commodity in its own unit (negative for
        labour and resources used).
    scale : z, complete sets of the target mix the plan delivers: the smallest ratio of net
        output to target over the targeted goods.
    harmony : total harmony of the plan (dimensionless, sum over targeted goods).
    iterations : gradient steps taken.
    seconds : wall time.
    violation : largest relative constraint violation of the returned plan (<= 1e-9).
    input_prices : (commodities,) multiplier price of each limited input, in harmony per unit
        (0 elsewhere): what one more unit of supply would add to total harmony, approximately.
    """

    activity: np.ndarray
    net_output: np.ndarray
    scale: float
    harmony: float
    iterations: int
    seconds: float
    violation: float
    input_prices: np.ndarray
    commodity_ids: np.ndarray
    process_ids: np.ndarray
    extra: dict = field(default_factory=dict)

    def shortfall(self, optimum: float) -> float:
        """Relative distance of ``scale`` below an LP optimum z* (complete sets):
        ``(z* - z) / max(1, |z*|)``; >= 0 up to the LP's own tolerance."""
        return (optimum - self.scale) / max(1.0, abs(optimum))


@dataclass
class _State:
    """Scaled problem data of one harmony run (all vectors numpy arrays)."""

    lp: ScaleLP
    ybar: np.ndarray  # (m,) activity scale of each process
    vmax: np.ndarray  # (m,) capacity / ybar
    targeted: np.ndarray  # (n,) bool
    good_weight: np.ndarray  # (n,) harmony per unit of each good (scales its balance)
    input_weight: np.ndarray  # (k,) harmony per unit of each limited input
    nu_goods: np.ndarray  # (n,) multipliers of the balances net output >= 0
    nu_inputs: np.ndarray  # (k,) multipliers of the input limits
    mu_goods: np.ndarray  # (n,) penalty parameters of the balances
    mu_inputs: np.ndarray  # (k,) penalty parameters of the input limits
    last_inputs: np.ndarray  # (k,) input violations at the previous multiplier update

    def terms(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(s over targeted goods, scaled balance of every good, scaled input slack)."""
        y = v * self.ybar
        net = self.lp.net_output(y)
        t = self.lp.target
        s = np.where(self.targeted, (net - t) / np.where(self.targeted, t, 1.0), 0.0)
        g_goods = net * self.good_weight
        g_inputs = (self.lp.supply - self.lp.input_use(y)) * self.input_weight
        return s, g_goods, g_inputs

    def value(self, v: np.ndarray) -> float:
        """Augmented Lagrangian (to be maximised)."""
        s, g_goods, g_inputs = self.terms(v)
        total = float(np.sum(harmony(s[self.targeted])))
        total += _penalty_value(self.nu_goods, self.mu_goods, g_goods)
        total += _penalty_value(self.nu_inputs, self.mu_inputs, g_inputs)
        return total

    def gradient(self, v: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and gradient with respect to v (one product with N^T and one with N)."""
        s, g_goods, g_inputs = self.terms(v)
        value = float(np.sum(harmony(s[self.targeted])))
        value += _penalty_value(self.nu_goods, self.mu_goods, g_goods)
        value += _penalty_value(self.nu_inputs, self.mu_inputs, g_inputs)
        t = self.lp.target
        prices = np.where(self.targeted, harmony_slope(s) / np.where(self.targeted, t, 1.0), 0.0)
        prices += _penalty_price(self.nu_goods, self.mu_goods, g_goods) * self.good_weight
        input_prices = _penalty_price(self.nu_inputs, self.mu_inputs, g_inputs) * self.input_weight
        profit = np.asarray(self.lp.net @ prices).ravel() - np.asarray(self.lp.use @ input_prices).ravel()
        return value, profit * self.ybar

    def relative_shortfall(self, v: np.ndarray) -> np.ndarray:
        """(n,) negative net output of each good as a share of its use as an input."""
        y = v * self.ybar
        net = self.lp.net_output(y)
        used = self.lp.gross_output(y) - net
        return np.where(net < 0, -net / np.where(used > 0, used, 1.0), 0.0)

    def update_multipliers(self, v: np.ndarray) -> None:
        """Method-of-multipliers step; input limits whose violation did not halve since the
        last step get a doubled penalty (at most ``_MAX_PENALTY``)."""
        _, g_goods, g_inputs = self.terms(v)
        # goods short by a large share of their use get their price raised in proportion
        # (a tatonnement step), which the additive update alone does too slowly for cheap goods
        short = self.relative_shortfall(v)
        self.nu_goods = np.maximum(_penalty_price(self.nu_goods, self.mu_goods, g_goods), self.nu_goods * (1.0 + short))
        self.nu_inputs = _penalty_price(self.nu_inputs, self.mu_inputs, g_inputs)
        bad = np.maximum(-g_inputs, 0.0)
        grow = bad > 0.5 * self.last_inputs
        self.mu_inputs = np.where(grow, np.minimum(2 * self.mu_inputs, _MAX_PENALTY), self.mu_inputs)
        self.last_inputs = bad


def _penalty_value(nu: np.ndarray, mu: np.ndarray, g: np.ndarray) -> float:
    """Augmented-Lagrangian term of the constraints ``g >= 0``."""
    return -float(np.sum((np.maximum(nu - mu * g, 0.0) ** 2 - nu**2) / (2.0 * mu)))


def _penalty_price(nu: np.ndarray, mu: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Derivative of the penalty term with respect to -g: the current multiplier estimate."""
    return np.maximum(nu - mu * g, 0.0)


def _start(lp: ScaleLP) -> tuple[Reference, np.ndarray]:
    """The first technique making the targets, scaled into the supplies and capacities."""
    ref = Reference(lp, first_technique(lp))
    y = np.zeros(lp.n_processes)
    y[ref.process] = np.maximum(ref.solve(lp.target), 0.0)
    return ref, repair_activity(lp, y, ref)


def _prepare(lp: ScaleLP, y0: np.ndarray, ref: Reference) -> _State:
    """Scales of the constraints (rough prices) and of the activities (Jacobi).

    A relaxation of input k by 1 % lets every targeted good grow by about 1 % / k, worth about
    ``|T| / k`` harmony per 100 %, so an input's weight is ``|T| / (k s_k)`` harmony per unit;
    a good's weight is the weighted inputs embodied in it (one transposed Leontief solve per
    input). With these weights every multiplier is of order one and starts at one. Each
    activity is measured in units that give the augmented Lagrangian unit curvature along it
    (from the squares of ``N``); a process that touches nothing keeps the starting plan's scale.
    """
    gross = lp.gross_output(y0)
    floor = 1e-6 * max(float(gross.max(initial=0.0)), 1e-300)
    ybar = np.maximum(gross, floor)[lp.good] / lp.out
    targeted = lp.target > 0
    k = lp.supply.size
    input_weight = np.full(k, targeted.sum() / max(k, 1)) / np.where(lp.supply > 0, lp.supply, 1.0)
    if k:
        embodied = ref.solve_t(lp.use[ref.process].toarray())
        good_weight = np.maximum(embodied, 0.0) @ input_weight
    else:
        good_weight = np.zeros(lp.n_goods)
    mean = float(good_weight.mean()) if good_weight.any() else 1.0
    good_weight = np.maximum(good_weight, 1e-3 * mean)
    # Jacobi scaling: unit curvature of the objective along every scaled activity
    curv_goods = np.where(targeted, 1.0 / np.where(targeted, lp.target, 1.0) ** 2, 0.0) + _PENALTY * good_weight**2
    diag = np.asarray(lp.net.power(2) @ curv_goods).ravel()
    diag += np.asarray(lp.use.power(2) @ (_PENALTY * input_weight**2)).ravel()
    ybar = np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), ybar)
    return _State(
        lp=lp,
        ybar=ybar,
        vmax=_MARGIN * lp.cap / ybar,
        targeted=targeted,
        good_weight=good_weight,
        input_weight=input_weight,
        nu_goods=np.where(targeted, 0.0, 1.0),
        nu_inputs=np.ones(k),
        mu_goods=np.full(lp.n_goods, _PENALTY),
        mu_inputs=np.full(k, _PENALTY),
        last_inputs=np.full(k, np.inf),
    )


def _ascend(state: _State, v: np.ndarray, iterations: int) -> tuple[np.ndarray, int]:
    """Accelerated projected gradient ascent with backtracking and multiplier updates.

    Each step costs one gradient (products with ``N^T`` and ``N``) and one value (``N^T``) per
    backtracking trial. Momentum restarts when a step loses value or the multipliers move.
    """
    step, prev, momentum_k = 1.0, v.copy(), 0
    f_v = state.value(v)
    for done in range(1, iterations + 1):
        momentum_k += 1
        beta = (momentum_k - 1.0) / (momentum_k + 2.0)
        w = np.clip(v + beta * (v - prev), 0.0, state.vmax)
        f_w, grad = state.gradient(w)
        while True:
            cand = np.clip(w + step * grad, 0.0, state.vmax)
            d = cand - w
            f_c = state.value(cand)
            # sums of products, not BLAS dot: threaded BLAS on long vectors stalls a busy machine
            if f_c >= f_w + float(np.sum(grad * d)) - float(np.sum(d * d)) / (2.0 * step) or step < 1e-12:
                break
            step *= 0.5
        if f_c < f_v:
            momentum_k = 0  # adaptive restart: the momentum overshot
        prev, v, f_v = v, cand, f_c
        step *= 1.25
        if done % _INNER == 0:
            state.update_multipliers(v)
            f_v = state.value(v)
            momentum_k = 0
    return v, iterations


def harmony_plan(
    economy: Economy,
    *,
    targets: object = None,
    supply: object = None,
    iterations: int = 400,
    seed: int = 0,
) -> HarmonyPlan:
    """Maximise total harmony over the targeted goods; return a feasible plan.

    Parameters
    ----------
    economy : an economy whose processes each make one produced good.
    targets, supply : override the economy's targets and input supplies (array over
        commodities or ``{id: amount}``).
    iterations : gradient steps (each costs a few sparse products with ``net_output``).
    seed : seeds a tiny (1e-6 relative) perturbation of the starting plan, so that ties between
        identical processes are broken; the same seed gives the same plan.

    Returns
    -------
    HarmonyPlan
        With ``scale`` z in complete sets of the target mix, recomputed from the repaired,
        checked activities.

    Raises
    ------
    PlanError : unsupported economy, no positive target, or the repaired plan failed its check.
    """
    start = time.perf_counter()
    lp = scale_lp(economy, targets=targets, supply=supply)
    ref, y0 = _start(lp)
    state = _prepare(lp, y0, ref)
    rng = np.random.default_rng(seed)
    v0 = (y0 / state.ybar) * (1.0 + 1e-6 * rng.random(lp.n_processes))
    v, done = _ascend(state, np.clip(v0, 0.0, state.vmax), iterations)
    y = v * state.ybar
    covered, ref = _cover(lp, y)
    final = repair_activity(lp, covered, ref)
    check = check_activity(lp, final)
    if not check.feasible:
        raise PlanError(f"the harmony plan violates a constraint by {check.violation:.2e} (relative)")
    net = lp.net_output(final)
    total = float(np.sum(harmony((net - lp.target)[state.targeted] / lp.target[state.targeted])))
    input_prices = np.zeros(economy.n_commodities)
    input_prices[lp.limited] = state.nu_inputs * state.input_weight
    return HarmonyPlan(
        activity=final,
        net_output=np.asarray(economy.net_output.T @ final).ravel(),
        # a targeted good's net output may round to a hair below 0 (within the feasibility
        # tolerance the plan was checked to); the plan then delivers no complete set, z = 0
        scale=max(check.scale, 0.0),
        harmony=total,
        iterations=done,
        seconds=time.perf_counter() - start,
        violation=check.violation,
        input_prices=input_prices,
        commodity_ids=economy.commodities.ids,
        process_ids=economy.processes.ids,
        extra={"harmony_before_repair": _total_harmony(lp, y, state.targeted)},
    )


def _cover(lp: ScaleLP, y: np.ndarray, passes: int = 6, settle: int = 20) -> tuple[np.ndarray, Reference]:
    """Remove negative net outputs locally, so that the final scaling barely shrinks the plan.

    Each of ``passes`` passes clips the activities to their bounds; a good short by more than
    half the spare capacity that could make it has its users slowed down (:func:`_throttle`);
    the other shortfalls are made by, for every good, the process with the most spare
    capacity, with the inputs that needs (one Leontief solve with that technique). Then up to
    ``settle`` passes clip and throttle only, so that no process ends above its capacity (one
    process above capacity would otherwise shrink the whole plan in the final scaling). Returns
    the activities and the last technique used, for the final exact repair.
    """
    inputs = sp.csr_array(lp.economy.processes.inputs[:, lp.produced])
    ref = Reference(lp, _spare_processes(lp, y))
    for _ in range(passes):
        y = np.clip(y, 0.0, lp.cap)
        net = lp.net_output(y)
        short = np.maximum(-net, 0.0)
        if not short.any():
            break
        room = np.where(np.isfinite(lp.cap), lp.cap - y, np.inf) * lp.out
        blocked = short > 0.5 * np.bincount(lp.good, weights=room, minlength=lp.n_goods)
        if blocked.any():
            y = _throttle(lp, inputs, y, np.where(blocked, short, 0.0))
            short = np.maximum(-lp.net_output(y), 0.0)
        y = y.copy()
        y[ref.process] += np.maximum(ref.solve(short), 0.0)
        ref = Reference(lp, _spare_processes(lp, y))
    for _ in range(settle):
        y = np.clip(y, 0.0, lp.cap)
        short = np.maximum(-lp.net_output(y), 0.0)
        if not (short > 1e-12 * lp.gross_output(y)).any():
            break
        y = _throttle(lp, inputs, y, short)
    return y, ref


def _throttle(lp: ScaleLP, inputs: sp.csr_array, y: np.ndarray, short: np.ndarray) -> np.ndarray:
    """Slow down the users of goods in short supply: each process to the smallest ratio
    ``1 - shortfall / use`` among its inputs (a min over each row of the input matrix)."""
    used = np.asarray(inputs.T @ y).ravel()
    ratio = np.clip(1.0 - short / np.where(used > 0, used, 1.0), 0.0, 1.0)
    busy = np.flatnonzero(np.diff(inputs.indptr) > 0)
    factor = np.ones(lp.n_processes)
    factor[busy] = np.minimum.reduceat(ratio[inputs.indices], inputs.indptr[busy])
    return y * factor


def _spare_processes(lp: ScaleLP, y: np.ndarray) -> np.ndarray:
    """(n,) for each good the process with the most spare capacity ``cap - y``."""
    spare = np.where(np.isfinite(lp.cap), lp.cap - y, np.inf)
    order = np.lexsort((-spare, lp.good))
    goods = lp.good[order]
    return order[np.r_[True, goods[1:] != goods[:-1]]]


def _total_harmony(lp: ScaleLP, y: np.ndarray, targeted: np.ndarray) -> float:
    net = lp.net_output(y)
    return float(np.sum(harmony((net - lp.target)[targeted] / lp.target[targeted])))
