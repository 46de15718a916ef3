"""Cycles over the round engine: economies, councils' proposals checked and turned into a round.

The service keeps no engine in memory between requests: closing a round rebuilds a one-round
:class:`~glasnost.procedures.Board` from the stored prices and board state, hands the stored
proposals to two :class:`~glasnost.procedures.ExternalCouncils` groups (worker and consumer
councils) whose defaults are the closed-form modelled councils of Hahnel's procedure, and steps
it once. A council that did not answer gets its modelled proposal, marked as such. A restart
therefore loses nothing but caches.
"""

from __future__ import annotations

import io
import math
import tempfile
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from glasnost.economy import Kind
from glasnost.economy.errors import GlasnostError
from glasnost.procedures import (
    Board,
    CobbDouglasConsumers,
    CobbDouglasWorkers,
    ExternalCouncils,
    HahnelEconomy,
    HahnelPriceRule,
    load_hahnel,
    save_hahnel,
)
from glasnost.procedures.hahnel import INITIAL_PRICE
from glasnost.service.errors import BadInputError

__all__ = ["CycleEngine", "RoundOutcome", "economy_from_source", "economy_from_zip", "economy_to_zip"]


def economy_to_zip(he: HahnelEconomy) -> bytes:
    """The economy as a zip of its saved directory (what a cycle stores)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = save_hahnel(he, Path(tmp) / "economy")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(path.iterdir()):
                zf.write(f, f.name)
        return buf.getvalue()


def economy_from_zip(blob: bytes) -> HahnelEconomy:
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(io.BytesIO(blob)) as zf:
        zf.extractall(tmp)
        return load_hahnel(tmp)


def economy_from_source(source: str, upload: bytes | None = None, filename: str = "upload") -> HahnelEconomy:
    """An economy for a new cycle.

    ``source``: ``"demo"`` (the bundled economy), ``"generated:N"`` (a published-style experiment
    with N worker and N consumer councils, seed 0), ``"upload"`` (``upload`` holds an experiment
    file ``dep1exNN.clj`` or ``.clj.gz``), or the path of a saved economy directory on the server.
    Raises :class:`BadInputError` naming the source for anything it cannot read.
    """
    try:
        if source == "demo":
            from glasnost.data.demo import demo_economy

            return HahnelEconomy.from_economy(demo_economy())
        if source.startswith("generated:"):
            from glasnost.data.pequod import generate_experiment

            n = int(source.split(":", 1)[1])
            if not 1 <= n <= 1_000_000:
                raise BadInputError(f"{n} councils: choose between 1 and 1,000,000", where="source")
            return generate_experiment(n, n, seed=0, name=f"generated-{n}")
        if source == "upload":
            if not upload:
                raise BadInputError("no file was uploaded", where="economy file")
            from glasnost.data.pequod import _decompress, read_experiment

            text, truncated = _decompress(upload, filename)
            return read_experiment(text, source=filename, truncated=truncated, name=filename.split(".")[0])
        path = Path(source)
        if not path.is_dir():
            raise BadInputError("is neither 'demo', 'generated:N', 'upload' nor an economy directory", where=source)
        return load_hahnel(path)
    except (GlasnostError, ValueError) as exc:
        if isinstance(exc, BadInputError):
            raise
        raise BadInputError(str(exc), where=f"economy {source if source != 'upload' else filename}") from None


@dataclass(frozen=True)
class RoundOutcome:
    """What closing a round computed (plain data for storing and publishing)."""

    supply: dict[str, float]
    demand: dict[str, float]
    imbalance: dict[str, float]
    next_prices: dict[str, float]
    next_state: list[float]
    max_imbalance: float
    converged: bool
    answered: list[str]
    modelled: int
    consumer_demand: list[float]


class CycleEngine:
    """The engine side of one cycle: commodities, councils and their modelled behaviour."""

    def __init__(self, he: HahnelEconomy, *, threshold: float = 0.03) -> None:
        self.he = he
        self.threshold = threshold
        c = he.commodities
        self._ids = {"commodities": c.ids, "workers": he.workers.ids, "consumers": he.consumers.ids}
        self.commodity_ids = np.array([str(x) for x in c.ids], dtype=object)
        self.position = {cid: j for j, cid in enumerate(self.commodity_ids)}
        self.kinds = np.asarray(c.kinds)
        self.consumer_goods = frozenset(  # what a consumer council may ask for (one set lookup per commodity)
            cid for cid, k in zip(self.commodity_ids, self.kinds, strict=True) if k in (Kind.GOOD, Kind.PUBLIC_GOOD)
        )
        self.units = [str(u) for u in c.units] if hasattr(c, "units") else [""] * len(self.commodity_ids)
        self.public = he.public
        self.worker_ids = np.array([str(x) for x in he.workers.ids], dtype=object)
        self.consumer_ids = np.array([str(x) for x in he.consumers.ids], dtype=object)
        self.worker_product = {
            w: str(self.commodity_ids[p]) for w, p in zip(self.worker_ids, he.workers.product, strict=True)
        }
        self.income = dict(zip(self.consumer_ids, np.asarray(he.consumers.income, float).tolist(), strict=True))
        self._lock = threading.Lock()

    @cached_property
    def workers_model(self) -> CobbDouglasWorkers:
        return CobbDouglasWorkers(self.he.workers, len(self.commodity_ids))

    @cached_property
    def consumers_model(self) -> CobbDouglasConsumers:
        return CobbDouglasConsumers(self.he.consumers, self.public)

    def initial_prices(self, price: float = INITIAL_PRICE) -> dict[str, float]:
        return {cid: float(price) for cid in self.commodity_ids}

    def initial_state(self) -> list[float]:
        return HahnelPriceRule().initial_state(np.zeros(len(self.commodity_ids))).tolist()

    def price_vector(self, prices: Mapping[str, float]) -> np.ndarray:
        return np.array([prices[c] for c in self.commodity_ids], dtype=np.float64)

    # ---- checking a proposal -----------------------------------------------------------------

    def check(
        self,
        council: str,
        kind: str,
        supply: Mapping[str, object],
        demand: Mapping[str, object],
        prices: Mapping[str, float],
    ) -> tuple[dict[str, float], dict[str, float]]:
        """The proposal as clean numbers; raises :class:`BadInputError` naming the council and commodity.

        A worker council offers only its own product and asks for goods, resources and labour; a
        consumer council offers nothing and asks for goods and public goods within its income at
        the posted prices (a public good at 1/N of its price, N the number of consumer councils).
        """
        where = f"council {council}"
        s = self._quantities(where, "supply", supply)
        d = self._quantities(where, "demand", demand)
        if kind == "worker":
            product = self.worker_product[council]
            other = sorted(set(s) - {product})
            if other:
                raise BadInputError(f"offers {other[0]!r}, but it makes {product!r} only", where=where)
        else:
            if any(v > 0 for v in s.values()):
                raise BadInputError("a consumer council offers nothing; leave supply empty", where=where)
            s = {}
            other = [cid for cid in d if cid not in self.consumer_goods]
            if other:
                raise BadInputError(f"asks for {other[0]!r}, which is not a consumer good", where=where)
            cost = self.cost(d, prices, consumer=True)
            budget = self.income[council]
            if cost > budget * (1 + 1e-9):
                raise BadInputError(
                    f"asks for {cost:.2f} worth at the posted prices; its budget is {budget:.2f}", where=where
                )
        return s, d

    def _quantities(self, where: str, what: str, raw: Mapping[str, object]) -> dict[str, float]:
        if not isinstance(raw, Mapping):
            raise BadInputError(f"{what} must be an object mapping commodity ids to quantities", where=where)
        out: dict[str, float] = {}
        for cid, amount in raw.items():
            if cid not in self.position:
                raise BadInputError(f"{what} names commodity {cid!r}, which does not exist", where=where)
            if isinstance(amount, bool) or not isinstance(amount, int | float | str):
                raise BadInputError(f"{what} of {cid} is {amount!r}; it must be a number >= 0", where=where)
            try:
                value = float(amount) if not (isinstance(amount, str) and amount.strip() == "") else 0.0
            except ValueError:
                raise BadInputError(f"{what} of {cid} is {amount!r}; it must be a number >= 0", where=where) from None
            if not (math.isfinite(value) and value >= 0):
                raise BadInputError(f"{what} of {cid} is {amount!r}; it must be a finite number >= 0", where=where)
            if value > 1e15:
                raise BadInputError(f"{what} of {cid} is {value:g}; that is more than 10^15 units", where=where)
            if value > 0:
                out[cid] = value
        return out

    def cost(self, quantities: Mapping[str, float], prices: Mapping[str, float], *, consumer: bool = False) -> float:
        """Value at the posted prices (a consumer council pays 1/N of a public good's price)."""
        n = max(len(self.consumer_ids), 1)
        total = 0.0
        for cid, q in quantities.items():
            p = prices[cid]
            if consumer and self.public[self.position[cid]]:
                p /= n
            total += p * q
        return total

    # ---- modelled proposals ----------------------------------------------------------------------

    def modelled(
        self, council: str, kind: str, prices: Mapping[str, float]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """The proposal the modelled council would make at ``prices`` (what fills an empty seat)."""
        from glasnost.procedures import RoundContext

        p = self.price_vector(prices)
        ctx = RoundContext(1, p, np.zeros_like(p), {})
        if kind == "worker":
            i = int(np.flatnonzero(self.worker_ids == council)[0])
            S, D = self.workers_model.propose(ctx).matrices()
        else:
            i = int(np.flatnonzero(self.consumer_ids == council)[0])
            S, D = self.consumers_model.propose(ctx).matrices()
        return self._row(S, i), self._row(D, i)

    def _row(self, M, i: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
        row = M[[i]].tocoo() if hasattr(M, "tocoo") else M
        cols = np.asarray(row.col if hasattr(row, "col") else row.coords[1])
        vals = np.asarray(row.data)
        return {str(self.commodity_ids[j]): float(v) for j, v in zip(cols, vals, strict=True) if v > 0}

    # ---- closing a round -----------------------------------------------------------------------

    def close(
        self,
        prices: Mapping[str, float],
        state: list[float],
        submitted: Mapping[str, tuple[str, Mapping[str, float], Mapping[str, float]]],
    ) -> RoundOutcome:
        """One round: the submitted proposals (council -> (kind, supply, demand)), modelled councils
        for the rest, the published price rule. Returns the balance and the next prices."""
        ids = self.commodity_ids
        raw = self._ids
        workers = ExternalCouncils("workers", raw["workers"], raw["commodities"], default=self.workers_model)
        consumers = ExternalCouncils(
            "consumers", raw["consumers"], raw["commodities"], mean=self.public, default=self.consumers_model
        )
        for council, (kind, s, d) in submitted.items():
            (workers if kind == "worker" else consumers).submit(council, supply=s, demand=d)
        board = Board(
            raw["commodities"],
            [workers, consumers],
            HahnelPriceRule(),
            fixed_supply=self.he.fixed_supply,
            prices=self.price_vector(prices),
            state=np.asarray(state, dtype=np.float64),
            threshold=self.threshold,
            max_rounds=1,
        )
        rnd = board.step()
        b = rnd.balance
        answered = [str(c) for c in ids[:0]]
        for group, members in (("workers", self.worker_ids), ("consumers", self.consumer_ids)):
            flags = np.asarray(rnd.proposals[group].columns["answered"], bool)
            answered.extend(members[flags].tolist())
        total = len(self.worker_ids) + len(self.consumer_ids)

        def by_id(v: np.ndarray) -> dict[str, float]:
            return {str(c): float(x) for c, x in zip(ids, v, strict=True)}

        return RoundOutcome(
            supply=by_id(b.supply),
            demand=by_id(b.demand),
            imbalance={
                str(c): (float(x) if math.isfinite(x) else 1e300) for c, x in zip(ids, b.imbalance, strict=True)
            },
            next_prices=by_id(rnd.next_prices),
            next_state=np.asarray(rnd.state, float).tolist(),
            max_imbalance=float(rnd.max_imbalance),
            converged=bool(rnd.max_imbalance < self.threshold),
            answered=answered,
            modelled=total - len(answered),
            consumer_demand=np.asarray(rnd.proposals["consumers"].demand, float).tolist(),
        )
