"""The round engine of an iterative planning procedure.

A procedure is a facilitation board holding indicative prices and a per-commodity state, a set
of council *behaviours* and a *price rule*. One round:

1. every behaviour turns the posted prices into a :class:`Proposal` for a group of councils
   (vectorised over the group, or gathered one by one from outside);
2. the board adds the groups' supply and demand per commodity to the fixed supplies;
3. it measures the surplus and the relative imbalance of every commodity;
4. the price rule returns the next prices and the next state.

The run stops after the first round in which every watched commodity's imbalance is below the
threshold, or at the round cap. Every round is kept as a :class:`Round` in a :class:`History`,
which can be written to Parquet.

Units: prices are in the economy's unit of account per unit of each commodity (labour-time
procedures: hours per unit); supply, demand and surplus in each commodity's own unit; the
imbalance ``|2 (S - D)| / (S + D)`` is a pure number (0.03 = 3%).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar, runtime_checkable

import numpy as np
import scipy.sparse as sp

from glasnost.economy.errors import GlasnostError

__all__ = [
    "Balance",
    "Behaviour",
    "Board",
    "History",
    "PriceRule",
    "ProcedureError",
    "Proposal",
    "Round",
    "RoundContext",
    "RuleStep",
    "Run",
    "imbalance_of",
]


class ProcedureError(GlasnostError):
    """A procedure was set up or driven wrongly; the message names the council, group or commodity."""


# ---- data passed around in a round ----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Proposal:
    """What one group of councils proposes in a round.

    Attributes
    ----------
    group : str
        Name of the group (``"workers"``, ``"consumers"``, ...).
    ids : array of str
        Council ids, one per council of the group.
    supply, demand : (commodities,) float arrays
        The group's total offer and total request of every commodity, in the commodity's unit.
        For public goods a consumer group reports the level it asks for (the mean over its
        councils), not a sum.
    columns : mapping of str to (councils,) arrays
        Per-council figures the group reports (e.g. ``output`` and ``effort`` of worker councils).
    extra : mapping of str to (commodities,) arrays
        Per-commodity figures (e.g. labour values computed by a planner).
    detail : callable returning (supply, demand) csr arrays (councils x commodities), optional
        Each council's own proposal, computed on demand (closed-form groups recompute it from the
        round's prices, so a round costs nothing extra unless it is asked for).
    """

    group: str
    ids: np.ndarray
    supply: np.ndarray
    demand: np.ndarray
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)
    detail: Callable[[], tuple[sp.csr_array, sp.csr_array]] | None = None

    def matrices(self) -> tuple[sp.csr_array, sp.csr_array]:
        """Each council's supply and demand, two csr arrays (councils x commodities)."""
        if self.detail is None:
            raise ProcedureError(f"group {self.group!r} did not keep its councils' individual proposals")
        return self.detail()


@dataclass(frozen=True, eq=False)
class Balance:
    """Supply, demand, surplus and relative imbalance of every commodity in one round."""

    supply: np.ndarray
    demand: np.ndarray
    surplus: np.ndarray
    imbalance: np.ndarray


@dataclass(eq=False)
class RoundContext:
    """What a behaviour sees when it proposes: the round number, the posted prices, the board's
    state and the proposals of the groups that proposed earlier in the same round."""

    number: int
    prices: np.ndarray
    state: np.ndarray
    proposals: dict[str, Proposal]


@dataclass(frozen=True, eq=False)
class RuleStep:
    """What a price rule returns: next prices, next state and per-commodity figures to record."""

    prices: np.ndarray
    state: np.ndarray
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class Behaviour(Protocol):
    """A group of councils: turns a round's prices into a :class:`Proposal`."""

    name: str

    def propose(self, ctx: RoundContext) -> Proposal: ...


@runtime_checkable
class PriceRule(Protocol):
    """The board's rule: the next prices and state from one round's balance."""

    def initial_state(self, prices: np.ndarray) -> np.ndarray: ...

    def update(self, ctx: RoundContext, balance: Balance) -> RuleStep: ...


def imbalance_of(supply: np.ndarray, demand: np.ndarray, surplus: np.ndarray | None = None) -> np.ndarray:
    """``|2 (S - D)| / (S + D)`` per commodity; 0 where both are 0, ``inf`` where either is not finite."""
    total = supply + demand
    gap = np.abs(supply - demand if surplus is None else surplus)
    gap *= 2.0
    if np.isfinite(total).all() and total.all():
        return np.divide(gap, total, out=gap)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = gap / total
    v[total == 0] = 0.0
    v[~np.isfinite(v)] = np.inf
    return v


# ---- rounds and their history ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Round:
    """One round: the prices the proposals were made at, what came in, and what the rule returned.

    ``prices`` are the posted prices of the round; ``next_prices`` and ``state`` what the rule
    returned (the next round starts from them). ``max_imbalance`` is over the watched commodities.
    """

    number: int
    prices: np.ndarray
    next_prices: np.ndarray
    state: np.ndarray
    balance: Balance
    extra: Mapping[str, np.ndarray]
    proposals: Mapping[str, Proposal]
    max_imbalance: float
    seconds: float

    @property
    def supply(self) -> np.ndarray:
        return self.balance.supply

    @property
    def demand(self) -> np.ndarray:
        return self.balance.demand

    @property
    def surplus(self) -> np.ndarray:
        return self.balance.surplus

    @property
    def imbalance(self) -> np.ndarray:
        return self.balance.imbalance


@dataclass(eq=False)
class History:
    """All rounds of one run of a procedure.

    Attributes
    ----------
    commodity_ids : array of str
    rounds : list of :class:`Round`
    threshold : float
        Stopping threshold on the imbalance (a fraction: 0.03 = 3%).
    converged : bool
        Whether the last round's watched imbalances were all below the threshold.
    watched : (commodities,) bool array
        Commodities whose imbalance counts for convergence.
    label : str
        Free text naming the run (procedure, year).
    """

    commodity_ids: np.ndarray
    rounds: list[Round]
    threshold: float
    converged: bool
    watched: np.ndarray
    label: str = ""

    def __len__(self) -> int:
        return len(self.rounds)

    @property
    def n_rounds(self) -> int:
        return len(self.rounds)

    @property
    def last(self) -> Round:
        if not self.rounds:
            raise ProcedureError(f"run {self.label!r} has no rounds")
        return self.rounds[-1]

    @property
    def final_prices(self) -> np.ndarray:
        """The prices the board holds after the last round (what a following run starts from)."""
        return self.last.next_prices

    @property
    def final_state(self) -> np.ndarray:
        return self.last.state

    @property
    def max_imbalance(self) -> np.ndarray:
        """Worst watched imbalance of every round, (rounds,)."""
        return np.array([r.max_imbalance for r in self.rounds])

    def first_below(self, threshold: float) -> int | None:
        """Number (from 1) of the first round whose watched imbalances are all below ``threshold``."""
        hits = np.flatnonzero(self.max_imbalance < threshold)
        return int(hits[0]) + 1 if hits.size else None

    def stack(self, what: str) -> np.ndarray:
        """A (rounds x commodities) array of ``prices``, ``next_prices``, ``state``, ``supply``,
        ``demand``, ``surplus``, ``imbalance`` or a rule's extra figure."""
        rows = []
        for r in self.rounds:
            if what in ("prices", "next_prices", "state"):
                rows.append(getattr(r, what))
            elif what in ("supply", "demand", "surplus", "imbalance"):
                rows.append(getattr(r.balance, what))
            elif what in r.extra:
                rows.append(r.extra[what])
            else:
                raise ProcedureError(f"round {r.number} of run {self.label!r} has no figure {what!r}")
        return np.vstack(rows) if rows else np.zeros((0, self.commodity_ids.size))

    def council_column(self, group: str, column: str) -> np.ndarray:
        """A (rounds x councils) array of one per-council figure of one group."""
        try:
            return np.vstack([r.proposals[group].columns[column] for r in self.rounds])
        except KeyError:
            raise ProcedureError(f"run {self.label!r} has no column {column!r} for group {group!r}") from None

    # ---- tables and Parquet ------------------------------------------------------------------

    def to_table(self):  # -> pyarrow.Table
        """One row per round and commodity: prices, supply, demand, surplus, imbalance and extras."""
        import pyarrow as pa

        n, k = len(self.rounds), self.commodity_ids.size
        cols: dict[str, object] = {
            "round": np.repeat(np.arange(1, n + 1, dtype=np.int32), k),
            "commodity": pa.DictionaryArray.from_arrays(
                pa.array(np.tile(np.arange(k, dtype=np.int32), n)), pa.array(self.commodity_ids)
            ),
        }
        for name in ("prices", "next_prices", "state", "supply", "demand", "surplus", "imbalance"):
            cols[{"prices": "price", "next_prices": "next_price"}.get(name, name)] = self.stack(name).ravel()
        if self.rounds:
            for name in self.rounds[0].extra:
                cols[name] = self.stack(name).ravel()
        return pa.table(cols)

    def proposals_table(self):  # -> pyarrow.Table
        """One row per round, group and council with the per-council columns (output, effort, ...),
        for the rounds whose proposals were kept."""
        import pyarrow as pa

        parts = []
        groups = {g: p for r in self.rounds for g, p in r.proposals.items()}
        for g, first in groups.items():
            names = sorted(first.columns)
            kept = [r for r in self.rounds if g in r.proposals]
            if not names or not kept:
                continue
            m = first.ids.size
            cols: dict[str, object] = {
                "round": np.repeat(np.array([r.number for r in kept], dtype=np.int32), m),
                "group": pa.DictionaryArray.from_arrays(
                    pa.array(np.zeros(m * len(kept), dtype=np.int32)), pa.array([g])
                ),
                "council": pa.DictionaryArray.from_arrays(
                    pa.array(np.tile(np.arange(m, dtype=np.int32), len(kept))), pa.array(first.ids)
                ),
            }
            for name in names:
                cols[name] = np.concatenate([r.proposals[g].columns[name] for r in kept])
            parts.append(pa.table(cols))
        if not parts:
            return pa.table({"round": pa.array([], pa.int32())})
        return pa.concat_tables(parts, promote_options="default")

    def to_parquet(self, directory: str | Path, *, proposals: bool = True) -> list[Path]:
        """Write ``rounds.parquet`` (and ``proposals.parquet``) into ``directory``; returns the paths."""
        import pyarrow.parquet as pq

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        paths = [d / "rounds.parquet"]
        pq.write_table(self.to_table(), paths[0])
        if proposals:
            paths.append(d / "proposals.parquet")
            pq.write_table(self.proposals_table(), paths[1])
        return paths

    def summary(self) -> dict[str, object]:
        """Plain data: rounds, converged, worst final imbalance (%), rounds to 5% and 3%."""
        return {
            "label": self.label,
            "rounds": self.n_rounds,
            "converged": self.converged,
            "max_imbalance_percent": 100.0 * float(self.last.max_imbalance) if self.rounds else None,
            "rounds_to_5_percent": self.first_below(0.05),
            "rounds_to_3_percent": self.first_below(0.03),
            "seconds": float(sum(r.seconds for r in self.rounds)),
        }


# ---- the board ------------------------------------------------------------------------------------


def _price_vector(prices: float | np.ndarray, n: int) -> np.ndarray:
    if np.ndim(prices) == 0:
        p = np.full(n, float(prices))  # type: ignore[arg-type]
    else:
        p = np.array(prices, dtype=np.float64)
        if p.shape != (n,):
            raise ProcedureError(f"prices have shape {p.shape}, expected ({n},) (one per commodity)")
    bad = np.flatnonzero(~(np.isfinite(p) & (p >= 0)))
    if bad.size:
        raise ProcedureError(f"price of commodity {bad[0]} is {p[bad[0]]}; every price must be finite and 0 or above")
    return p


class Board:
    """The facilitation board: runs rounds of proposals and price updates.

    Parameters
    ----------
    commodity_ids : array of str
        The commodities, in the order of every per-commodity array.
    behaviours : sequence of :class:`Behaviour`
        The council groups, asked in this order every round (a later group sees the earlier
        groups' proposals in :attr:`RoundContext.proposals`).
    rule : :class:`PriceRule`
    fixed_supply : (commodities,) array, optional
        Supply that does not come from any council (natural resources, labour), in each
        commodity's unit; default none.
    prices : float or (commodities,) array
        Prices of the first round (unit of account per unit).
    state : (commodities,) array, optional
        The rule's state for the first round; default ``rule.initial_state(prices)``.
    threshold : float
        Stop after the first round whose watched imbalances are all below this (0.03 = 3%).
    max_rounds : int
        Stop after this many rounds at the latest.
    watched : (commodities,) bool array, optional
        Commodities whose imbalance counts for convergence (default all).
    keep_proposals : bool
        Keep every round's proposals in the history (default); otherwise only the last round's.
    label : str
        Names the run in its history.
    """

    def __init__(
        self,
        commodity_ids: Sequence[str] | np.ndarray,
        behaviours: Iterable[Behaviour],
        rule: PriceRule,
        *,
        fixed_supply: np.ndarray | None = None,
        prices: float | np.ndarray = 1.0,
        state: np.ndarray | None = None,
        threshold: float = 0.03,
        max_rounds: int = 200,
        watched: np.ndarray | None = None,
        keep_proposals: bool = True,
        label: str = "",
    ) -> None:
        self.commodity_ids = np.asarray(commodity_ids)
        n = self.commodity_ids.size
        self.behaviours = list(behaviours)
        names = [b.name for b in self.behaviours]
        if len(set(names)) != len(names):
            raise ProcedureError(f"two council groups share a name: {names}")
        self.rule = rule
        self.fixed_supply = np.zeros(n) if fixed_supply is None else np.asarray(fixed_supply, dtype=np.float64)
        if self.fixed_supply.shape != (n,):
            raise ProcedureError(f"fixed supply has shape {self.fixed_supply.shape}, expected ({n},)")
        self.prices = _price_vector(prices, n)
        self.state = rule.initial_state(self.prices) if state is None else np.array(state, dtype=np.float64)
        if self.state.shape[:1] != (n,):
            raise ProcedureError(f"board state has shape {self.state.shape}, expected ({n}, ...)")
        if not threshold > 0:
            raise ProcedureError(f"threshold must be above 0, got {threshold}")
        if max_rounds < 1:
            raise ProcedureError(f"max_rounds must be at least 1, got {max_rounds}")
        self.threshold = float(threshold)
        self.max_rounds = int(max_rounds)
        self.watched = np.ones(n, bool) if watched is None else np.asarray(watched, bool)
        self._watched_all = bool(self.watched.all())
        self.keep_proposals = keep_proposals
        self.history = History(self.commodity_ids, [], self.threshold, False, self.watched, label)

    @property
    def round_number(self) -> int:
        """Number of rounds done so far."""
        return len(self.history.rounds)

    def step(self) -> Round:
        """Run one round and return it (it is also appended to :attr:`history`)."""
        start = time.perf_counter()
        prices = self.prices
        ctx = RoundContext(self.round_number + 1, prices, self.state, {})
        supply = self.fixed_supply.copy()
        demand = np.zeros_like(supply)
        for behaviour in self.behaviours:
            proposal = behaviour.propose(ctx)
            ctx.proposals[behaviour.name] = proposal
            supply += proposal.supply
            demand += proposal.demand
        surplus = supply - demand
        balance = Balance(supply, demand, surplus, imbalance_of(supply, demand, surplus))
        result = self.rule.update(ctx, balance)
        watched = balance.imbalance if self._watched_all else balance.imbalance[self.watched]
        worst = float(watched.max()) if watched.size else 0.0
        rnd = Round(
            number=ctx.number,
            prices=prices,
            next_prices=result.prices,
            state=result.state,
            balance=balance,
            extra=result.extra,
            proposals=ctx.proposals,
            max_imbalance=worst,
            seconds=time.perf_counter() - start,
        )
        if not self.keep_proposals and self.history.rounds:
            previous = self.history.rounds[-1]
            self.history.rounds[-1] = Round(**{**previous.__dict__, "proposals": {}})
        self.history.rounds.append(rnd)
        self.prices, self.state = result.prices, result.state
        self.history.converged = worst < self.threshold
        return rnd

    def run(self, on_round: Callable[[Round], None] | None = None) -> History:
        """Run rounds until the watched imbalances are below the threshold or the round cap."""
        while self.round_number < self.max_rounds:
            rnd = self.step()
            if on_round is not None:
                on_round(rnd)
            if rnd.max_imbalance < self.threshold:
                break
        return self.history


EconomyT = TypeVar("EconomyT")


@dataclass
class Run(Generic[EconomyT]):
    """The years of one run of a procedure: the economy of each year and its history."""

    economies: list[EconomyT] = field(default_factory=list)
    years: list[History] = field(default_factory=list)
