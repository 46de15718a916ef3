"""One entry point for both procedures: :func:`participate`.

Runs Hahnel's procedure or the labour-time procedure on one economy for some years and returns
a :class:`Participation`: every year's :class:`~glasnost.procedures.engine.History` plus a plain
summary (the CLI's ``--json`` object).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from glasnost.economy import Economy
from glasnost.procedures.engine import History, ProcedureError, Round
from glasnost.procedures.hahnel import HahnelEconomy, perturb_exponents, run_hahnel

__all__ = ["PROCEDURES", "Participation", "participate"]

PROCEDURES = ("hahnel", "labour-time")

Procedure = Literal["hahnel", "labour-time"]


@dataclass(eq=False)
class Participation:
    """The result of :func:`participate`.

    Attributes
    ----------
    procedure : ``"hahnel"`` or ``"labour-time"``
    years : list of :class:`History`, one per year
    commodity_ids : array of str
    prices : (commodities,) array
        Final prices: Hahnel's board's prices after the last round (unit of account per unit);
        labour-time: the clearing prices of the final goods and the labour values of the rest
        (hours per unit) in the last round.
    """

    procedure: str
    years: list[History]
    commodity_ids: np.ndarray
    prices: np.ndarray

    @property
    def rounds(self) -> int:
        """Rounds over all years."""
        return sum(h.n_rounds for h in self.years)

    @property
    def converged(self) -> bool:
        return all(h.converged for h in self.years)

    @property
    def max_imbalance_percent(self) -> float:
        """Worst watched imbalance of the last round of the last year, in percent."""
        return 100.0 * float(self.years[-1].last.max_imbalance)

    def summary(self) -> dict[str, object]:
        """A JSON-ready dict: ``procedure``, ``rounds`` (all years), ``rounds_per_year``,
        ``converged``, ``max_imbalance_percent``, ``prices`` (id -> final price), ``years``."""
        return {
            "procedure": self.procedure,
            "rounds": self.rounds,
            "rounds_per_year": [h.n_rounds for h in self.years],
            "converged": self.converged,
            "max_imbalance_percent": self.max_imbalance_percent,
            "prices": {str(k): float(v) for k, v in zip(self.commodity_ids, self.prices, strict=True)},
            "years": [h.summary() for h in self.years],
        }


def participate(
    subject: HahnelEconomy | Economy,
    *,
    procedure: Procedure = "hahnel",
    threshold: float = 0.03,
    years: int = 1,
    seed: int | None = None,
    max_rounds: int = 200,
    effort: Literal["optimal", "published"] = "optimal",
    responsiveness: float = 0.5,
    with_increasing_returns: bool = False,
    keep_proposals: bool = True,
    on_round: Callable[[int, Round], None] | None = None,
) -> Participation:
    """Run ``procedure`` on ``subject`` for ``years`` years (threshold a fraction: 0.03 = 3%).

    ``subject`` is a :class:`HahnelEconomy` (an experiment file) or a linear :class:`Economy`
    (a saved economy directory). Hahnel's procedure on a linear economy uses the councils of
    :meth:`HahnelEconomy.from_economy`; the labour-time procedure on a :class:`HahnelEconomy`
    uses its linear view :attr:`HahnelEconomy.economy`, and its later years perturb the same
    exponents as Hahnel's. ``with_increasing_returns`` applies Hahnel's increasing-returns
    variant first (Hahnel only). ``on_round(year, round)`` is called after every round.
    """
    if procedure == "hahnel":
        he = subject if isinstance(subject, HahnelEconomy) else HahnelEconomy.from_economy(subject)
        run = run_hahnel(
            he,
            threshold=threshold,
            years=years,
            seed=seed,
            max_rounds=max_rounds,
            effort=effort,
            with_increasing_returns=with_increasing_returns,
            keep_proposals=keep_proposals,
            on_round=on_round,
        )
        last = run.years[-1]
        return Participation("hahnel", run.years, last.commodity_ids, last.final_prices)
    if with_increasing_returns:
        raise ProcedureError("the increasing-returns variant is defined for Hahnel's procedure only")
    if procedure == "labour-time":
        from glasnost.procedures.labour_time import run_labour_time

        economy = subject.economy if isinstance(subject, HahnelEconomy) else subject
        next_year = None
        if isinstance(subject, HahnelEconomy):
            state = {"he": subject}

            def next_year(_economy: Economy, rng: np.random.Generator) -> Economy:
                state["he"] = perturb_exponents(state["he"], rng)
                return state["he"].economy

        lt = run_labour_time(
            economy,
            threshold=threshold,
            years=years,
            seed=seed,
            responsiveness=responsiveness,
            max_rounds=max_rounds,
            keep_proposals=keep_proposals,
            next_year=next_year,
            on_round=on_round,
        )
        last = lt.years[-1]
        rnd = last.last
        clearing = rnd.extra["clearing_price"]
        prices = np.where(last.watched & np.isfinite(clearing), clearing, rnd.extra["labour_value"])
        return Participation("labour-time", lt.years, last.commodity_ids, prices)
    raise ProcedureError(f"unknown procedure {procedure!r} (choose from {', '.join(PROCEDURES)})")
