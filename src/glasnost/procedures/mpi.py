"""Hahnel's participatory procedure with the councils partitioned across MPI ranks.

Run as ``mpiexec -n N glasnost participate SOURCE --mpi``. Every rank reads the same economy and
takes a consecutive slice of the worker councils and of the consumer councils (balanced by
their nonzero exponents). In a round each rank turns the posted prices into its own worker
councils' proposals, and the ranks add them up with **one** ``Allreduce`` of the per-commodity
supply and demand (``2 x commodities`` numbers): no council's own figures travel. Consumer
councils' demand at prices p is ``spending / p`` with a per-commodity ``spending`` that does
not change between rounds (:class:`~glasnost.procedures.hahnel.CobbDouglasConsumers`), so their
per-commodity sums travel once per year, not per round. Every rank then holds the same balance
and applies the same price rule, so the prices agree on all ranks without a broadcast.

The result equals the serial run's up to the order of the floating-point additions (prices
agree to about 1e-13 relative). After the run the per-council columns (output, effort) of the
kept rounds are gathered once to rank 0, so its history is complete; a council's individual
input and demand matrices (:meth:`~glasnost.procedures.engine.Proposal.matrices`) stay on the
rank that holds it and are not available in the gathered history.

On a schema version 2 economy directory (:func:`hahnel_from_directory`) each rank reads only
its own worker councils: the coefficient rows of its block of processes, through the reader of
``glasnost values --mpi`` (:func:`glasnost.compute.mpi_blocks.read_rank_block`), and their ids.
Every rank reads the commodities and the consumer councils whole (one entry per commodity, and
the neighbourhood councils, far fewer than the worker councils). The yearly perturbations give
each rank's councils the draws the whole economy's would get (drawn in chunks, keeping its own).

Only Hahnel's procedure is partitioned: the labour-time procedure's plan is one calculator
solve, whose distributed form is :mod:`glasnost.compute.mpi`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from glasnost.compute.mpi import _comm, row_cuts
from glasnost.economy import Councils, Economy, EconomyError
from glasnost.procedures.engine import Board, History, ProcedureError, Proposal, Round, RoundContext
from glasnost.procedures.hahnel import (
    INITIAL_PRICE,
    CobbDouglasConsumers,
    CobbDouglasWorkers,
    HahnelEconomy,
    HahnelPriceRule,
    HahnelRun,
    WorkerCouncils,
    run_years,
    worker_councils,
)
from glasnost.procedures.participate import Participation

__all__ = ["RankConsumers", "RankWorkers", "participate_mpi", "run_hahnel_mpi"]


def _allreduce(comm: Any, values: np.ndarray) -> np.ndarray:
    from mpi4py import MPI

    if comm.Get_size() == 1:
        return values
    total = np.empty_like(values)
    comm.Allreduce(np.ascontiguousarray(values), total, op=MPI.SUM)
    return total


def _slice(comm: Any, matrix: Any) -> slice:
    cuts = row_cuts(matrix, comm.Get_size())
    rank = comm.Get_rank()
    return slice(int(cuts[rank]), int(cuts[rank + 1]))


def worker_slice(workers: WorkerCouncils, rows: slice) -> WorkerCouncils:
    """The worker councils ``rows`` (consecutive), with all their parameters."""
    return WorkerCouncils(
        ids=workers.ids[rows],
        product=workers.product[rows],
        scale=workers.scale[rows],
        effort_exponent=workers.effort_exponent[rows],
        disutility_exponent=workers.disutility_exponent[rows],
        disutility_coefficient=workers.disutility_coefficient[rows],
        exponents=workers.exponents[rows],
    )


def consumer_slice(councils: Councils, rows: slice) -> Councils:
    """The consumer councils ``rows`` (consecutive)."""
    return Councils(
        ids=councils.ids[rows],
        members=councils.members[rows],
        income=councils.income[rows],
        preferences=councils.preferences[rows],
    )


class RankWorkers:
    """This rank's worker councils; the group's supply and demand summed over the ranks.

    :meth:`propose` returns a :class:`Proposal` whose ``supply`` and ``demand`` are the whole
    group's (one ``Allreduce`` of both), and whose ``ids`` and ``columns`` are this rank's
    councils'.
    """

    def __init__(
        self,
        workers: WorkerCouncils,
        n_commodities: int,
        comm: Any,
        *,
        effort: Literal["optimal", "published"] = "optimal",
        name: str = "workers",
        local: bool = False,
    ) -> None:
        self.name = name
        self.comm = comm
        self.n = n_commodities
        mine = workers if local else worker_slice(workers, _slice(comm, workers.exponents))
        self.local = CobbDouglasWorkers(mine, n_commodities, name=name, effort=effort)
        self._buffer = np.empty(2 * n_commodities)

    def propose(self, ctx: RoundContext) -> Proposal:
        mine = self.local.propose(ctx)
        self._buffer[: self.n] = mine.supply
        self._buffer[self.n :] = mine.demand
        total = _allreduce(self.comm, self._buffer)
        return replace(mine, supply=total[: self.n].copy(), demand=total[self.n :].copy())


class RankConsumers(CobbDouglasConsumers):
    """This rank's consumer councils; the group's demand is ``spending / prices`` with the
    per-commodity spending summed over all ranks once, when the group is made."""

    def __init__(self, councils: Councils, public: np.ndarray, comm: Any, *, name: str = "consumers") -> None:
        super().__init__(consumer_slice(councils, _slice(comm, councils.preferences)), public, name=name)
        self._spending = _allreduce(comm, self._spending)


def hahnel_board_mpi(
    he: HahnelEconomy,
    comm: Any,
    *,
    threshold: float = 0.03,
    prices: float | np.ndarray = INITIAL_PRICE,
    state: np.ndarray | None = None,
    max_rounds: int = 200,
    keep_proposals: bool = True,
    effort: Literal["optimal", "published"] = "optimal",
    label: str = "hahnel",
    local_workers: bool = False,
) -> Board:
    """:func:`glasnost.procedures.hahnel.hahnel_board` with the councils partitioned over ``comm``
    (``local_workers``: ``he``'s worker councils are this rank's already)."""
    n = len(he.commodities)
    p = np.full(n, float(prices)) if np.ndim(prices) == 0 else np.asarray(prices, dtype=np.float64)  # type: ignore[arg-type]
    if not (p > 0).all():
        raise ProcedureError("the Hahnel procedure needs every price above 0")
    return Board(
        he.commodities.ids,
        [
            RankWorkers(he.workers, n, comm, effort=effort, local=local_workers),
            RankConsumers(he.consumers, he.public, comm),
        ],
        HahnelPriceRule(),
        fixed_supply=he.fixed_supply,
        prices=p,
        state=state,
        threshold=threshold,
        max_rounds=max_rounds,
        keep_proposals=keep_proposals,
        label=label,
    )


def gather_councils(history: History, comm: Any) -> History:
    """On rank 0: the history with every group's per-council ids and columns gathered from all
    ranks (in council order); other ranks get their own history back unchanged."""
    local = [
        {g: (p.ids, {k: np.asarray(v) for k, v in p.columns.items()}) for g, p in r.proposals.items()}
        for r in history.rounds
    ]
    every = comm.gather(local, root=0)
    if comm.Get_rank() != 0:
        return history
    rounds: list[Round] = []
    for i, rnd in enumerate(history.rounds):
        proposals = {}
        for g, p in rnd.proposals.items():
            parts = [rank[i][g] for rank in every]
            ids = np.concatenate([ids for ids, _ in parts])
            columns = {k: np.concatenate([cols[k] for _, cols in parts]) for k in parts[0][1]}
            proposals[g] = Proposal(g, ids, p.supply, p.demand, columns, p.extra, None)
        rounds.append(replace(rnd, proposals=proposals))
    return replace(history, rounds=rounds)


def run_hahnel_mpi(
    he: HahnelEconomy,
    *,
    comm: Any | None = None,
    threshold: float = 0.03,
    years: int = 1,
    seed: int | np.random.Generator | None = None,
    with_increasing_returns: bool = False,
    prices: float | np.ndarray = INITIAL_PRICE,
    max_rounds: int = 200,
    keep_proposals: bool = True,
    effort: Literal["optimal", "published"] = "optimal",
    on_round: Callable[[int, Round], None] | None = None,
    block: WorkerBlock | None = None,
) -> HahnelRun:
    """:func:`glasnost.procedures.hahnel.run_hahnel` with the councils partitioned across the
    ranks of ``comm`` (default ``COMM_WORLD``). Every rank calls it with the same economy and
    seed (the yearly perturbations are drawn identically on every rank); every rank gets the
    same prices and balances, rank 0 the complete per-council columns. With ``block``, ``he``'s
    worker councils are this rank's block (:func:`hahnel_from_directory`)."""
    comm = _comm(comm)

    def play_year(he: HahnelEconomy, start: float | np.ndarray, state: np.ndarray | None, label: str,
                  callback: Callable[[Round], None] | None) -> History:
        board = hahnel_board_mpi(
            he,
            comm,
            threshold=threshold,
            prices=start,
            state=state,
            max_rounds=max_rounds,
            keep_proposals=keep_proposals,
            effort=effort,
            label=label,
            local_workers=block is not None,
        )
        return gather_councils(board.run(callback), comm)

    return run_years(
        he, play_year, years=years, seed=seed, with_increasing_returns=with_increasing_returns, prices=prices,
        on_round=on_round, window=None if block is None else block.window,
    )


@dataclass(frozen=True)
class WorkerBlock:
    """Where this rank's worker councils sit in the whole economy's: councils ``first`` onwards
    of ``councils``, their exponents from ``offset`` of ``exponents``."""

    first: int
    councils: int
    offset: int
    exponents: int

    @property
    def window(self) -> tuple[int, int, int, int]:
        return self.first, self.councils, self.offset, self.exponents


def hahnel_from_directory(directory: str | Path, comm: Any | None = None) -> tuple[HahnelEconomy, WorkerBlock]:
    """:meth:`HahnelEconomy.from_economy` of a version 2 directory with only this rank's worker
    councils (its block of processes, :func:`~glasnost.compute.mpi_blocks.read_rank_block`);
    commodities and consumer councils whole. Errors name the file (or process) on every rank."""
    from glasnost.compute.mpi_blocks import raise_on_every_rank, read_rank_block
    from glasnost.economy.io_v2 import _read_commodities, _read_councils

    comm = _comm(comm)
    block = read_rank_block(directory, comm)
    he, error = None, None
    try:
        commodities = _read_commodities(block.root, block.manifest)
        councils = _read_councils(block.root, block.manifest, commodities)
        if councils is None or len(councils) == 0:
            raise EconomyError(f"economy '{block.root.name}' has no consumer councils; the Hahnel procedure needs them")
        workers = worker_councils(block.process_ids(), block.outputs, block.inputs)
        he = HahnelEconomy(commodities, workers, councils, name=str(block.manifest.get("name", block.root.name)))
    except EconomyError as exc:
        error = exc
    raise_on_every_rank(error, comm)
    assert he is not None
    nnz = int(he.workers.exponents.nnz)
    offset = int(comm.exscan(nnz) or 0) if comm.Get_size() > 1 else 0
    return he, WorkerBlock(block.first, block.total, offset, int(comm.allreduce(nnz)))


def participate_mpi(
    subject: HahnelEconomy | Economy | Path,
    *,
    procedure: str = "hahnel",
    comm: Any | None = None,
    threshold: float = 0.03,
    years: int = 1,
    seed: int | None = None,
    max_rounds: int = 200,
    effort: Literal["optimal", "published"] = "optimal",
    with_increasing_returns: bool = False,
    keep_proposals: bool = True,
    responsiveness: float = 0.5,
    on_round: Callable[[int, Round], None] | None = None,
) -> Participation:
    """:func:`glasnost.procedures.participate` for Hahnel's procedure with the councils over MPI
    ranks (:func:`run_hahnel_mpi`). Raises :class:`ProcedureError` for another procedure
    (``responsiveness`` belongs to the labour-time procedure and is accepted only to keep the
    signature of :func:`~glasnost.procedures.participate`). A ``Path`` is a version 2 economy
    directory, each rank reading only its worker councils (:func:`hahnel_from_directory`)."""
    del responsiveness
    if procedure != "hahnel":
        raise ProcedureError(
            f"procedure {procedure!r} is not partitioned over MPI ranks (only 'hahnel' is; the labour-time "
            "procedure's plan is one solve: see glasnost values --mpi)"
        )
    block = None
    if isinstance(subject, Path):
        he, block = hahnel_from_directory(subject, comm)
    else:
        he = subject if isinstance(subject, HahnelEconomy) else HahnelEconomy.from_economy(subject)
    run = run_hahnel_mpi(
        he,
        comm=comm,
        threshold=threshold,
        years=years,
        seed=seed,
        max_rounds=max_rounds,
        effort=effort,
        with_increasing_returns=with_increasing_returns,
        keep_proposals=keep_proposals,
        on_round=on_round,
        block=block,
    )
    last = run.years[-1]
    return Participation("hahnel", run.years, last.commodity_ids, last.final_prices)
