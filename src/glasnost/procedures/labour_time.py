"""A planning procedure in the labour-time tradition, with consumer feedback.

After Cockshott and Cottrell (*Towards a New Socialism*, 1993, ch. 8) and Dapprich's simulation of
a planned economy with consumer feedback: the plan is computed centrally, consumer goods are
handed out for labour certificates at prices that clear, and the next plan's targets move
towards the goods whose clearing price is above their labour value.

One round on the same :class:`~glasnost.procedures.engine.Board` as Hahnel's procedure:

1. :class:`PlannedProduction` (the worker councils carry out the calculator's plan): the
   Kantorovich "scale" plan of :func:`glasnost.compute.optimal_plan` for the board's targets,
   the technique it uses and the labour values of that technique (:func:`glasnost.compute.labour_values`);
2. :class:`CertificateConsumers`: councils receive labour certificates for the hours embodied
   in the final goods of the plan, in proportion to their ``income``, and spend them on the final goods
   (private and public) with Cobb-Douglas shares given by their ``preferences``. Their demand is
   stated at the posted prices (labour values); the clearing price of a final good is what the
   certificates spent on it divided by the net output available;
3. :class:`TargetFeedbackRule`: next targets ``t_j = y_j (clearing_j / value_j)^η`` for final
   goods (y_j: this plan's net output); the next posted prices are the labour values of the plan
   for those targets (computed once: the next round's plan is the same).

The imbalance of a final good is that of its supply against the demand at its labour value; the
board stops when every final good's is below the threshold, i.e. when clearing prices are within
about the threshold of labour values. Resource and labour slack is reported but not watched.

Units: prices and values in hours per unit (a labour type's price is 1 hour per hour, a natural
resource's 0); certificates in hours; quantities in each commodity's unit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from glasnost.economy import Councils, Economy, Kind
from glasnost.procedures.engine import (
    Balance,
    Board,
    ProcedureError,
    Proposal,
    Round,
    RoundContext,
    RuleStep,
    Run,
)

__all__ = [
    "CertificateConsumers",
    "LabourTimeRun",
    "PlannedProduction",
    "TargetFeedbackRule",
    "final_goods",
    "labour_time_board",
    "perturb_preferences",
    "run_labour_time",
]


def _spending_shares(councils: Councils) -> np.ndarray:
    """(commodities,) share of all certificates spent on each commodity: Σ_i (m_i/Σm) u_ij / T_i."""
    U = sp.csr_array(councils.preferences, dtype=np.float64)
    total = np.asarray(U.sum(axis=1)).ravel()
    if (total <= 0).any():
        bad = int(np.flatnonzero(total <= 0)[0])
        raise ProcedureError(f"consumer council {councils.ids[bad]!s} has no positive preference")
    income = np.asarray(councils.income, dtype=np.float64)
    if not income.sum() > 0:
        raise ProcedureError("the consumer councils' incomes add up to 0; certificates cannot be shared out")
    return np.asarray(U.T @ (income / income.sum() / total)).ravel()


def final_goods(economy: Economy) -> np.ndarray:
    """(commodities,) bool: produced commodities (goods and public goods) some consumer council wants."""
    c = economy.commodities
    wanted = np.zeros(len(c), bool)
    if economy.councils is not None and len(economy.councils):
        wanted = _spending_shares(economy.councils) > 0
    produced = np.isin(c.kinds, [Kind.GOOD, Kind.PUBLIC_GOOD])
    return produced & wanted


@dataclass(frozen=True, eq=False)
class _PlanResult:
    activity: np.ndarray
    values: np.ndarray
    scale: float


class PlannedProduction:
    """The worker councils carry out the plan the calculator computes for the board's targets.

    Each round: ``optimal_plan(economy, "scale", targets=state)`` (as many complete sets of the
    target mix as the supplies of labour and resources allow), then for each produced commodity
    the process that makes most of it, and the labour values of that technique. A council's
    proposal is its process's activity level. The group reports its net position: the net output
    the plan delivers to final use as supply, what it takes from the fixed supplies (labour,
    resources) as demand; intermediate goods used up inside the plan cancel out.
    """

    def __init__(self, economy: Economy, *, name: str = "workers", method: str = "choose") -> None:
        from glasnost.economy.model import single_output_makers

        self.name = name
        self.economy = economy
        self.method = method
        c = economy.commodities
        self.n = len(c)
        self._labour = c.kinds == Kind.LABOUR
        self._outputs_T = sp.csr_array(economy.processes.outputs.T)
        self._inputs_T = sp.csr_array(economy.processes.inputs.T)
        self._makers, self._made = single_output_makers(economy)
        self._default = economy.technique.process
        self._cache: tuple[np.ndarray, _PlanResult] | None = None

    def plan(self, targets: np.ndarray) -> _PlanResult:
        """The plan for ``targets`` and the labour values (hours per unit) of its technique
        (the last plan is remembered, so asking twice for the same targets solves once)."""
        from glasnost.compute import labour_values, optimal_plan

        targets = np.asarray(targets, dtype=np.float64)
        if self._cache is not None and np.array_equal(self._cache[0], targets):
            return self._cache[1]
        economy = self.economy
        result = optimal_plan(economy, "scale", targets=targets, method=self.method)
        activity = np.maximum(result.activity, 0.0)
        technique = self._technique(activity)
        vals = labour_values(economy, technique=technique)
        values = np.zeros(self.n)
        values[technique.produced] = vals.labour
        values[self._labour] = 1.0
        out = _PlanResult(activity, values, float(result.scale or 0.0))
        self._cache = (targets.copy(), out)
        return out

    def _technique(self, activity: np.ndarray):
        produced = self.economy.commodities.produced
        chosen = self._default.copy()
        level = activity[self._makers]
        order = np.lexsort((-level, self._made))  # by product, most active first
        first = np.r_[True, self._made[order][1:] != self._made[order][:-1]]
        best_process, best_product = self._makers[order][first], self._made[order][first]
        active = level[order][first] > 0
        position = np.searchsorted(produced, best_product[active])
        chosen[position] = best_process[active]
        return self.economy.with_technique(self.economy.processes.ids[chosen])

    def propose(self, ctx: RoundContext) -> Proposal:
        result = self.plan(ctx.state)
        y = result.activity
        P = self.economy.processes
        net = self._outputs_T @ y - self._inputs_T @ y
        return Proposal(
            group=self.name,
            ids=P.ids,
            supply=np.maximum(net, 0.0),
            demand=np.maximum(-net, 0.0),
            columns={"activity": y},
            extra={"labour_value": result.values, "scale": np.full(self.n, result.scale)},
            detail=lambda: (
                sp.csr_array(sp.diags_array(y) @ P.outputs),
                sp.csr_array(sp.diags_array(y) @ P.inputs),
            ),
        )


class CertificateConsumers:
    """Consumer councils spending labour certificates on final goods (Cobb-Douglas shares).

    Certificates: the hours embodied in the final goods the plan makes for them (their labour
    values times their net output; the labour for other targets, such as public goods nobody
    votes for or investment, is the deduction for common needs), or every hour worked where the
    ``workers`` group reports no labour values; shared out in proportion to the councils'
    ``income``. Demand at the posted prices p (hours per unit):
    ``certificates_i u_ij / (T_i p_j)``; the group's demand is the sum over councils. The
    proposal's ``extra["clearing_price"]`` is the price at which the certificates spent on each
    final good buy exactly the net output the plan makes of it.
    """

    def __init__(self, councils: Councils, labour: np.ndarray, *, name: str = "consumers", workers: str = "workers"):
        self.name = name
        self.councils = councils
        self.workers = workers
        self._labour = np.asarray(labour, bool)
        self._shares = _spending_shares(councils)
        income = np.asarray(councils.income, dtype=np.float64)
        self._income_share = income / income.sum()
        self.n = self._shares.size

    def propose(self, ctx: RoundContext) -> Proposal:
        try:
            work = ctx.proposals[self.workers]
        except KeyError:
            raise ProcedureError(
                f"consumer group {self.name!r} needs the proposals of {self.workers!r} earlier in the round"
            ) from None
        available = work.supply - work.demand
        values = work.extra.get("labour_value")
        if values is None:
            hours = float(work.demand[self._labour].sum())
        else:
            wanted = self._shares > 0
            hours = float(values[wanted] @ np.maximum(available[wanted], 0.0))
        spending = hours * self._shares
        prices = ctx.prices
        with np.errstate(divide="ignore", invalid="ignore"):
            demand = np.where(spending > 0, spending / prices, 0.0)
            clearing = np.where(spending > 0, spending / available, np.nan)
        clearing[(spending > 0) & (available <= 0)] = np.inf
        certificates = hours * self._income_share
        return Proposal(
            group=self.name,
            ids=self.councils.ids,
            supply=np.zeros(self.n),
            demand=demand,
            columns={"certificates": certificates},
            extra={"clearing_price": clearing, "spending": spending},
            detail=lambda: self._detail(prices, certificates),
        )

    def _detail(self, prices: np.ndarray, certificates: np.ndarray) -> tuple[sp.csr_array, sp.csr_array]:
        U = sp.csr_array(self.councils.preferences, dtype=np.float64)
        m = U.shape[0]
        rows = np.repeat(np.arange(m), np.diff(U.indptr))
        total = np.asarray(U.sum(axis=1)).ravel()
        with np.errstate(divide="ignore"):
            demand = certificates[rows] * U.data / total[rows] / prices[U.indices]
        return sp.csr_array((m, self.n)), sp.csr_array((demand, U.indices, U.indptr), shape=U.shape)


@dataclass(frozen=True, eq=False)
class TargetFeedbackRule:
    """Targets follow the ratio of clearing price to labour value.

    The board's state is the target vector (units of each commodity). For every final good with
    net output y_j > 0, value v_j > 0 and a finite clearing price c_j::

        t_j <- y_j (c_j / v_j)^responsiveness

    other targets are kept. ``responsiveness`` 1 moves a target all the way to where its
    clearing price would equal its value if values stayed put (Cockshott and Cottrell's rule);
    the default 0.5 goes half way (in logs), because with choice of technique values jump when
    the plan switches process and the full step can cycle (it does on the demo economy). The
    next posted prices are the labour values of the plan for the new targets when ``planner``
    is given (so consumers always face the values of the plan they are offered), else this
    plan's. Records ``labour_value``, ``clearing_price``, ``price_value_ratio`` and ``target``
    (the targets this round was planned for) per commodity.
    """

    final: np.ndarray
    initial_targets: np.ndarray
    responsiveness: float = 0.5
    workers: str = "workers"
    consumers: str = "consumers"
    planner: PlannedProduction | None = None

    def initial_state(self, prices: np.ndarray) -> np.ndarray:
        return np.array(self.initial_targets, dtype=np.float64)

    def update(self, ctx: RoundContext, balance: Balance) -> RuleStep:
        work, cons = ctx.proposals[self.workers], ctx.proposals[self.consumers]
        values = work.extra["labour_value"]
        clearing = cons.extra["clearing_price"]
        net = work.supply - work.demand
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.final & (values > 0), clearing / values, np.nan)
        move = self.final & (net > 0) & np.isfinite(ratio) & (ratio > 0)
        targets = np.array(ctx.state, dtype=np.float64)
        targets[move] = net[move] * ratio[move] ** self.responsiveness
        posted = values if self.planner is None else self.planner.plan(targets).values
        return RuleStep(
            prices=posted,
            state=targets,
            extra={"labour_value": values, "clearing_price": clearing, "price_value_ratio": ratio, "target": ctx.state},
        )


def _initial_targets(economy: Economy, final: np.ndarray) -> np.ndarray:
    targets = np.array(economy.commodities.targets, dtype=np.float64)
    if not (targets[final] > 0).any():
        targets[final] = 1.0  # the planners start knowing nothing of demand: one unit of each
    return targets


def labour_time_board(
    economy: Economy,
    *,
    threshold: float = 0.03,
    targets: np.ndarray | None = None,
    responsiveness: float = 0.5,
    max_rounds: int = 200,
    keep_proposals: bool = True,
    method: str = "choose",
    label: str = "labour-time",
) -> Board:
    """A board running the labour-time procedure on ``economy`` (which needs consumer councils).

    ``targets`` (units of each commodity) default to the economy's targets, or one unit of every
    final good where it has none. The first round's posted prices are the labour values of the
    plan for those targets, and every round posts the values of the plan it then carries out.
    """
    if economy.councils is None or len(economy.councils) == 0:
        raise ProcedureError(f"economy '{economy.name}' has no consumer councils; the labour-time procedure needs them")
    c = economy.commodities
    final = final_goods(economy)
    if not final.any():
        raise ProcedureError("no consumer council wants any produced commodity")
    start = _initial_targets(economy, final) if targets is None else np.asarray(targets, dtype=np.float64)
    fixed = np.where(np.isin(c.kinds, [Kind.RESOURCE, Kind.LABOUR]), c.supply, 0.0)
    planner = PlannedProduction(economy, method=method)
    prices = planner.plan(start).values
    consumers = CertificateConsumers(economy.councils, c.kinds == Kind.LABOUR)
    rule = TargetFeedbackRule(final=final, initial_targets=start, responsiveness=responsiveness, planner=planner)
    return Board(
        c.ids,
        [planner, consumers],
        rule,
        fixed_supply=fixed,
        prices=prices,
        threshold=threshold,
        max_rounds=max_rounds,
        watched=final,
        keep_proposals=keep_proposals,
        label=label,
    )


def perturb_preferences(councils: Councils, seed: int | np.random.Generator | None) -> Councils:
    """Consumer councils with each preference weight moved by one of {-0.002, ..., 0.002}
    (uniform; the published second year's change), kept at 0 or above."""
    from glasnost.procedures.hahnel import CONSUMER_STEPS

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    U = sp.csr_array(councils.preferences, dtype=np.float64)
    data = np.maximum(U.data + np.asarray(CONSUMER_STEPS)[rng.integers(0, len(CONSUMER_STEPS), U.data.size)], 0.0)
    return replace(councils, preferences=sp.csr_array((data, U.indices, U.indptr), shape=U.shape))


LabourTimeRun = Run[Economy]
"""The years of a run of the labour-time procedure: the economy of each year and its history."""


def run_labour_time(
    economy: Economy,
    *,
    threshold: float = 0.03,
    years: int = 1,
    seed: int | np.random.Generator | None = None,
    responsiveness: float = 0.5,
    max_rounds: int = 200,
    keep_proposals: bool = True,
    next_year: Callable[[Economy, np.random.Generator], Economy] | None = None,
    on_round: Callable[[int, Round], None] | None = None,
) -> LabourTimeRun:
    """Run the labour-time procedure for ``years`` years.

    Each later year starts from the previous year's final targets, with the economy changed by
    ``next_year(economy, rng)`` (default: the consumer councils' preferences perturbed by
    :func:`perturb_preferences`). ``on_round(year, round)`` is called after every round.
    """
    if years < 1:
        raise ProcedureError(f"years must be at least 1, got {years}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    run = LabourTimeRun()
    targets = None
    for year in range(1, years + 1):
        if year > 1:
            if next_year is not None:
                economy = next_year(economy, rng)
            else:
                assert economy.councils is not None
                economy = Economy.build(
                    economy.commodities,
                    economy.processes,
                    perturb_preferences(economy.councils, rng),
                    name=economy.name,
                    check_productive=False,
                )
        board = labour_time_board(
            economy,
            threshold=threshold,
            targets=targets,
            responsiveness=responsiveness,
            max_rounds=max_rounds,
            keep_proposals=keep_proposals,
            label=f"labour-time year {year}",
        )
        callback = None if on_round is None else (lambda r, y=year: on_round(y, r))
        history = board.run(callback)
        run.economies.append(economy)
        run.years.append(history)
        targets = history.final_state
    return run
