"""Proposals that arrive from outside, one council at a time (a web platform, a file, a person).

:class:`ExternalCouncils` is a :class:`~glasnost.procedures.engine.Behaviour` like the closed-form
groups: the board asks it for the round's proposal when every group proposes. Until then,
councils hand in their proposals with :meth:`ExternalCouncils.submit`; councils that did not
answer get a default: the proposal a closed-form behaviour over the same councils would make
for them, their own answer of the previous round, or nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Literal, NoReturn

import numpy as np
import scipy.sparse as sp

from glasnost.procedures.engine import Behaviour, ProcedureError, Proposal, RoundContext

__all__ = ["ExternalCouncils"]


class ExternalCouncils:
    """A group of councils whose proposals come in from outside.

    Parameters
    ----------
    name : str
        Group name (the key of its proposals in every round).
    ids : sequence of str
        The councils of the group.
    commodity_ids : sequence of str
        The board's commodities, in the board's order.
    mean : (commodities,) bool array, optional
        Commodities whose group demand is the mean of the councils' requests rather than their
        sum (public goods: each council states the level it wants for everyone).
    default : :class:`Behaviour`, optional
        Model for councils that did not answer: a behaviour over the same councils (same ids,
        same order) whose proposal can give each council's own quantities.
    fallback : ``"default"``, ``"last"`` or ``"none"``
        For a council that did not answer: the default model's proposal, the council's own
        previous answer (the default model's where it never answered), or nothing.
    """

    def __init__(
        self,
        name: str,
        ids: Sequence[str] | np.ndarray,
        commodity_ids: Sequence[str] | np.ndarray,
        *,
        mean: np.ndarray | None = None,
        default: Behaviour | None = None,
        fallback: Literal["default", "last", "none"] = "default",
    ) -> None:
        if fallback not in ("default", "last", "none"):
            raise ProcedureError(f"fallback must be 'default', 'last' or 'none', got {fallback!r}")
        if fallback == "default" and default is None:
            fallback = "none"  # no model: councils that did not answer propose nothing
        self.name = name
        self.ids = np.asarray(ids)
        self.commodity_ids = np.asarray(commodity_ids)
        self.n = self.commodity_ids.size
        self._council = {str(c): i for i, c in enumerate(self.ids)}
        self._commodity = {str(c): j for j, c in enumerate(self.commodity_ids)}
        if len(self._council) != self.ids.size:
            raise ProcedureError(f"group {name!r} lists a council twice")
        self._mean = np.zeros(self.n, bool) if mean is None else np.asarray(mean, bool)
        self.default = default
        self.fallback = fallback
        self._round = 1
        self._pending: dict[int, tuple[list[int], list[float], list[int], list[float]]] = {}
        self._last: tuple[sp.csr_array, sp.csr_array] | None = None
        self._ever = np.zeros(self.ids.size, bool)

    # ---- intake -----------------------------------------------------------------------------

    @property
    def round(self) -> int:
        """Number of the round whose proposals are being collected."""
        return self._round

    @property
    def answered(self) -> np.ndarray:
        """(councils,) bool: which councils have answered in the current round."""
        out = np.zeros(self.ids.size, bool)
        out[list(self._pending)] = True
        return out

    def _vector(self, council: str, what: str, quantities: Mapping[str, float] | None) -> tuple[list[int], list[float]]:
        # plain lists: a round's close turns 10^5 councils' small maps into vectors, where numpy's
        # per-call cost would exceed the work (the board concatenates them all at once)
        if not quantities:
            return [], []
        index = self._commodity
        try:
            cols = [index[c if type(c) is str else str(c)] for c in quantities]
            vals = [float(v) for v in quantities.values()]
        except (KeyError, TypeError, ValueError):
            self._refuse(council, what, quantities)
        if not all(0 <= v < math.inf for v in vals):  # NaN fails too
            self._refuse(council, what, quantities)
        return cols, vals

    def _refuse(self, council: str, what: str, quantities: Mapping[str, float]) -> NoReturn:
        """Raise for the first entry of a proposal that names no commodity or is not a number >= 0."""
        for cid, amount in quantities.items():
            if str(cid) not in self._commodity:
                raise ProcedureError(f"council {council}: {what} names commodity {cid!r}, which does not exist")
            try:
                value = float(amount)
            except (TypeError, ValueError):
                value = math.nan
            if not (math.isfinite(value) and value >= 0):
                raise ProcedureError(f"council {council}: {what} of {cid} is {amount!r}; it must be a number >= 0")
        raise ProcedureError(f"council {council}: {what} is not a map of commodity ids to numbers >= 0")

    def submit(
        self,
        council: str,
        *,
        supply: Mapping[str, float] | None = None,
        demand: Mapping[str, float] | None = None,
        round: int | None = None,
    ) -> None:
        """Hand in one council's proposal for the current round (a later call replaces it).

        ``supply`` and ``demand`` map commodity ids to quantities (each commodity's unit) the
        council offers and requests. ``round``, when given, must be the round being collected.
        Raises :class:`ProcedureError` naming the council and commodity for unknown ids,
        negative or non-finite quantities, or a stale round.
        """
        i = self._council.get(str(council))
        if i is None:
            raise ProcedureError(f"council {council!r} is not in group {self.name!r}")
        if round is not None and round != self._round:
            raise ProcedureError(f"council {council}: proposal for round {round}, but round {self._round} is open")
        s_cols, s_vals = self._vector(council, "supply", supply)
        d_cols, d_vals = self._vector(council, "demand", demand)
        self._pending[i] = (s_cols, s_vals, d_cols, d_vals)

    # ---- the board's side -------------------------------------------------------------------

    def _submitted(self) -> tuple[sp.csr_array, sp.csr_array]:
        m = self.ids.size
        mats = []
        for part in (0, 2):
            pending = self._pending.values()
            counts = np.fromiter((len(v[part]) for v in pending), np.int64, len(self._pending))
            r = np.repeat(np.fromiter(self._pending, np.int64, len(self._pending)), counts)
            c = np.fromiter(chain.from_iterable(v[part] for v in pending), np.int64, int(counts.sum()))
            x = np.fromiter(chain.from_iterable(v[part + 1] for v in pending), np.float64, int(counts.sum()))
            mats.append(sp.csr_array((x, (r, c)), shape=(m, self.n)))
        return mats[0], mats[1]

    def _fill(self, ctx: RoundContext, answered: np.ndarray) -> tuple[sp.csr_array, sp.csr_array]:
        m = self.ids.size
        empty = sp.csr_array((m, self.n))
        missing = ~answered
        if self.fallback == "none" or not missing.any():
            return empty, empty
        keep_last = np.zeros(m, bool)
        parts: list[tuple[sp.csr_array, sp.csr_array]] = []
        if self.fallback == "last" and self._last is not None:
            keep_last = missing & self._ever
            mask = sp.diags_array(keep_last.astype(float))
            parts.append((sp.csr_array(mask @ self._last[0]), sp.csr_array(mask @ self._last[1])))
        need_model = missing & ~keep_last
        if need_model.any() and self.default is not None:
            proposal = self.default.propose(ctx)
            if proposal.ids.size != m or not np.array_equal(proposal.ids, self.ids):
                raise ProcedureError(f"the default model of group {self.name!r} is not over the same councils")
            s, d = proposal.matrices()
            mask = sp.diags_array(need_model.astype(float))
            parts.append((sp.csr_array(mask @ s), sp.csr_array(mask @ d)))
        if not parts:
            return empty, empty
        return (
            sp.csr_array(sum((p[0] for p in parts), empty)),
            sp.csr_array(sum((p[1] for p in parts), empty)),
        )

    def propose(self, ctx: RoundContext) -> Proposal:
        answered = self.answered
        sub_s, sub_d = self._submitted()
        fill_s, fill_d = self._fill(ctx, answered)
        S, D = sp.csr_array(sub_s + fill_s), sp.csr_array(sub_d + fill_d)
        m = self.ids.size
        supply = np.asarray(S.sum(axis=0)).ravel()
        demand = np.asarray(D.sum(axis=0)).ravel()
        if m:
            demand[self._mean] /= m
        self._last = (S, D)
        self._ever |= answered
        self._pending = {}
        self._round = ctx.number + 1
        return Proposal(
            group=self.name,
            ids=self.ids,
            supply=supply,
            demand=demand,
            columns={"answered": answered.astype(np.float64)},
            detail=lambda: (S, D),
        )
