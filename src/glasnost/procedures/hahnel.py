"""Hahnel and Albert's participatory planning procedure, as the published experiments ran it.

The model is that of ``shared/specs/participatory-procedure.md`` (Hahnel, *Democratic Economic
Planning*, 2021, ch. 9; the ``pequod`` programs of Hahnel, Szczepanczyk and Weisdorf):

- worker councils with Cobb-Douglas technology ``q = a e^c prod x_i^b_i`` and a disutility of
  effort ``s e^k``, proposing the output, effort and inputs that maximise ``λ q - Σ p_i x_i - s e^k``
  (:class:`CobbDouglasWorkers`, closed form, vectorised over councils);
- consumer councils with Cobb-Douglas utility over private and public goods, spending their
  income (:class:`CobbDouglasConsumers`);
- the facilitation board's published price rule (:class:`HahnelPriceRule`);
- a second year with perturbed exponents (:func:`perturb_exponents`) and the increasing-returns
  variant (:func:`increasing_returns`).

Units: prices in the unit of account (the experiments' "dollars") per unit of each commodity;
incomes in the unit of account; quantities in each commodity's unit; effort in the model's
effort unit (dimensionless).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp

from glasnost.economy import Commodities, Councils, Economy, EconomyError, Kind, Processes
from glasnost.economy.model import STRING
from glasnost.procedures._kernels import LazyColumns, SparseProducts, canonical_csr, row_sums
from glasnost.procedures.engine import (
    Balance,
    Board,
    History,
    ProcedureError,
    Proposal,
    Round,
    RoundContext,
    RuleStep,
    Run,
)

__all__ = [
    "INITIAL_PRICE",
    "CobbDouglasConsumers",
    "CobbDouglasWorkers",
    "HahnelEconomy",
    "HahnelPriceRule",
    "WorkerCouncils",
    "hahnel_board",
    "increasing_returns",
    "load_hahnel",
    "perturb_exponents",
    "run_hahnel",
    "save_hahnel",
]

INITIAL_PRICE = 700.0
"""Price of every commodity in the first round of the published experiments (unit of account)."""

WORKER_STEPS = (0.0, 0.001, 0.002, 0.003, 0.004)
"""What the second year adds to each worker-council exponent (one uniform draw per exponent)."""

CONSUMER_STEPS = (-0.002, -0.001, 0.0, 0.001, 0.002)
"""What the second year adds to each consumer-council exponent (one uniform draw per exponent)."""


# ---- the worker councils ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class WorkerCouncils:
    """Worker councils with Cobb-Douglas technology and a disutility of effort.

    Attributes
    ----------
    ids : (councils,) array of str
    product : (councils,) int64
        Index of the commodity each council produces.
    scale : (councils,) float
        ``a``: output per unit of effort^c and inputs^b (units of the product).
    effort_exponent : (councils,) float
        ``c``, exponent of effort in the technology.
    disutility_exponent : (councils,) float
        ``k`` (``du`` in the files), exponent of effort in its disutility.
    disutility_coefficient : (councils,) float
        ``s``, coefficient of the disutility of effort (unit of account).
    exponents : csr_array (councils x commodities)
        ``b``: exponent of each input (intermediate goods, natural resources, labour types).
    """

    ids: np.ndarray
    product: np.ndarray
    scale: np.ndarray
    effort_exponent: np.ndarray
    disutility_exponent: np.ndarray
    disutility_coefficient: np.ndarray
    exponents: sp.csr_array

    def __len__(self) -> int:
        return int(self.ids.size)

    def check(self, n_commodities: int) -> None:
        """Raise :class:`EconomyError` naming the first council whose parameters are invalid."""
        m = len(self)
        for name in ("product", "scale", "effort_exponent", "disutility_exponent", "disutility_coefficient"):
            arr = getattr(self, name)
            if arr.shape != (m,):
                raise EconomyError(f"worker councils: {name} has shape {arr.shape}, expected ({m},)")
        if self.exponents.shape != (m, n_commodities):
            raise EconomyError(
                f"worker councils: exponents have shape {self.exponents.shape}, expected ({m}, {n_commodities})"
            )
        bad = np.flatnonzero((self.product < 0) | (self.product >= n_commodities))
        if bad.size:
            raise EconomyError(f"produces commodity {self.product[bad[0]]}, which does not exist", where=self._at(bad))
        for name in ("scale", "effort_exponent", "disutility_exponent", "disutility_coefficient"):
            arr = getattr(self, name)
            bad = np.flatnonzero(~(np.isfinite(arr) & (arr > 0)))
            if bad.size:
                raise EconomyError(f"{name} is {arr[bad[0]]}; it must be above 0", where=self._at(bad))
        data = self.exponents.data
        bad = np.flatnonzero(~(np.isfinite(data) & (data > 0)))
        if bad.size:
            row = int(np.searchsorted(self.exponents.indptr, bad[0], side="right") - 1)
            raise EconomyError(
                f"exponent {data[bad[0]]} of input {self.exponents.indices[bad[0]]}; every input exponent "
                "must be above 0",
                where=self._at(np.array([row])),
            )

    def _at(self, rows: np.ndarray) -> str:
        return f"worker council {self.ids[rows[0]]!s}"


# ---- the economy of an experiment ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class HahnelEconomy:
    """An economy for the Hahnel procedure: commodities, worker councils and consumer councils.

    Attributes
    ----------
    commodities : :class:`~glasnost.economy.Commodities`
        ``supply`` holds the fixed supply of natural resources and labour types.
    workers : :class:`WorkerCouncils`
    consumers : :class:`~glasnost.economy.Councils`
        ``income`` in the unit of account, ``preferences`` the Cobb-Douglas exponents over
        private goods (``Kind.GOOD``) and public goods (``Kind.PUBLIC_GOOD``).
    name : str
    """

    commodities: Commodities
    workers: WorkerCouncils
    consumers: Councils
    name: str = "hahnel"

    def __post_init__(self) -> None:
        n = len(self.commodities)
        self.workers.check(n)
        prefs = self.consumers.preferences
        if prefs.shape != (len(self.consumers), n):
            raise EconomyError(f"consumer preferences have shape {prefs.shape}, expected ({len(self.consumers)}, {n})")
        data = prefs.data
        bad = np.flatnonzero(~(np.isfinite(data) & (data >= 0)))
        if bad.size:
            row = int(np.searchsorted(prefs.indptr, bad[0], side="right") - 1)
            raise EconomyError(
                f"exponent {data[bad[0]]} for {self.commodities.ids[prefs.indices[bad[0]]]!s}; "
                "utility exponents must be 0 or above",
                where=f"consumer council {self.consumers.ids[row]!s}",
            )
        total = np.asarray(prefs.sum(axis=1)).ravel()
        bad = np.flatnonzero(~(total > 0))
        if bad.size:
            raise EconomyError(
                "has no positive utility exponent", where=f"consumer council {self.consumers.ids[bad[0]]!s}"
            )
        income = self.consumers.income
        bad = np.flatnonzero(~(np.isfinite(income) & (income >= 0)))
        if bad.size:
            raise EconomyError(f"income is {income[bad[0]]}", where=f"consumer council {self.consumers.ids[bad[0]]!s}")

    @property
    def public(self) -> np.ndarray:
        """(commodities,) bool: public goods."""
        return self.commodities.kinds == Kind.PUBLIC_GOOD

    @property
    def fixed_supply(self) -> np.ndarray:
        """(commodities,) supply not produced by any council: natural resources and labour types."""
        c = self.commodities
        fixed = np.where(np.isin(c.kinds, [Kind.RESOURCE, Kind.LABOUR]), c.supply, 0.0)
        bad = np.flatnonzero(~np.isfinite(fixed))
        if bad.size:
            raise EconomyError(
                f"{c.ids[bad[0]]!s} has unlimited supply; the Hahnel procedure needs a finite supply of every "
                "natural resource and labour type"
            )
        return fixed

    def with_exponents(
        self, worker_exponents: np.ndarray | None = None, consumer_exponents: np.ndarray | None = None
    ) -> HahnelEconomy:
        """A copy with new ``data`` arrays for the worker and consumer exponent matrices."""
        w, c = self.workers, self.consumers
        if worker_exponents is not None:
            b = w.exponents
            w = replace(w, exponents=sp.csr_array((worker_exponents, b.indices, b.indptr), shape=b.shape))
        if consumer_exponents is not None:
            u = c.preferences
            c = replace(c, preferences=sp.csr_array((consumer_exponents, u.indices, u.indptr), shape=u.shape))
        return replace(self, workers=w, consumers=c)

    @cached_property
    def economy(self) -> Economy:
        """The same economy as glasnost's linear model, for the calculator.

        One process per worker council (id and workplace = the council's id) making one unit of
        its product from ``b_i`` units of each input: the input per unit of output a
        Cobb-Douglas council chooses when all prices are equal (``x_i / q = λ b_i / p_i``).
        Consumer councils are carried over as they are.
        """
        w = self.workers
        n, m = len(self.commodities), len(w)
        outputs = sp.csr_array((np.ones(m), w.product, np.arange(m + 1)), shape=(m, n))
        processes = Processes(
            ids=w.ids, workplaces=w.ids.copy(), capacity=np.full(m, np.inf), outputs=outputs, inputs=w.exponents
        )
        return Economy.build(self.commodities, processes, self.consumers, name=self.name, check_productive=False)

    def describe(self) -> dict[str, int]:
        return {
            "commodities": len(self.commodities),
            "worker_councils": len(self.workers),
            "consumer_councils": len(self.consumers),
            "input_exponents": int(self.workers.exponents.nnz),
            "utility_exponents": int(self.consumers.preferences.nnz),
        }

    @classmethod
    def from_economy(
        cls,
        economy: Economy,
        *,
        returns: float = 0.80,
        scale: float = 5.0,
        effort_exponent: float = 0.075,
        disutility_exponent: float = 3.5,
        disutility_coefficient: float = 1.0,
    ) -> HahnelEconomy:
        """Cobb-Douglas councils for a linear economy (a saved economy directory).

        Each single-output process becomes a worker council whose exponents are its input
        coefficients per unit of output (what it would choose at equal prices), scaled down
        where they add up to more than ``returns`` so that every council has decreasing returns
        (default 0.80, the mean of the published experiments' councils, 0.76 to 0.84; at 0.85
        the demo economy's fourth planning year cycles between two prices of a public good).
        ``scale``, ``effort_exponent``, ``disutility_exponent`` and ``disutility_coefficient``
        (a, c, k, s) are the same for every council (defaults: the published experiments'
        averages). Consumer councils are the economy's councils.

        Raises :class:`EconomyError` where a process makes more than one product, or the
        economy has no consumer councils.
        """
        if economy.councils is None or len(economy.councils) == 0:
            raise EconomyError(f"economy '{economy.name}' has no consumer councils; the Hahnel procedure needs them")
        p = economy.processes
        workers = worker_councils(
            p.ids.copy(),
            p.outputs,
            p.inputs,
            returns=returns,
            scale=scale,
            effort_exponent=effort_exponent,
            disutility_exponent=disutility_exponent,
            disutility_coefficient=disutility_coefficient,
        )
        return cls(economy.commodities, workers, economy.councils, name=economy.name)


def worker_councils(
    ids: np.ndarray,
    outputs: sp.csr_array,
    inputs: sp.csr_array,
    *,
    returns: float = 0.80,
    scale: float = 5.0,
    effort_exponent: float = 0.075,
    disutility_exponent: float = 3.5,
    disutility_coefficient: float = 1.0,
) -> WorkerCouncils:
    """One Cobb-Douglas worker council per single-output process (rows of ``outputs`` and
    ``inputs``, named ``ids``), as :meth:`HahnelEconomy.from_economy` describes; also one MPI
    rank's block of processes. Raises :class:`EconomyError` naming a process with more than one
    output."""
    counts = np.diff(outputs.indptr)
    bad = np.flatnonzero(counts != 1)
    if bad.size:
        raise EconomyError(
            "makes more than one product (or none); a worker council makes one", where=f"process {ids[bad[0]]!s}"
        )
    per_unit = canonical_csr(sp.diags_array(1.0 / outputs.data) @ inputs)
    total = np.asarray(per_unit.sum(axis=1)).ravel()
    factor = np.where(total > returns, returns / np.where(total > 0, total, 1.0), 1.0)
    exponents = canonical_csr(sp.diags_array(factor) @ per_unit)
    exponents.eliminate_zeros()
    m = ids.size
    return WorkerCouncils(
        ids=ids,
        product=outputs.indices.astype(np.int64),
        scale=np.full(m, scale),
        effort_exponent=np.full(m, effort_exponent),
        disutility_exponent=np.full(m, disutility_exponent),
        disutility_coefficient=np.full(m, disutility_coefficient),
        exponents=exponents,
    )


_WORKER_FILE = "hahnel-workers.parquet"


def save_hahnel(he: HahnelEconomy, directory: str | Path) -> Path:
    """Save as an economy directory (:func:`glasnost.economy.save`) plus the worker councils'
    Cobb-Douglas parameters (``hahnel-workers.parquet``), so that :func:`load_hahnel` restores
    it exactly. The input exponents are the processes' input coefficients."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from glasnost.economy import save

    path = save(he.economy, directory)
    w = he.workers
    table = pa.table(
        {
            "id": pa.array(w.ids.tolist()),
            "a": w.scale,
            "c": w.effort_exponent,
            "du": w.disutility_exponent,
            "s": w.disutility_coefficient,
        }
    )
    pq.write_table(table, Path(path) / _WORKER_FILE)
    return Path(path)


def load_hahnel(directory: str | Path, **defaults: float) -> HahnelEconomy:
    """Load an economy directory for the Hahnel procedure.

    With ``hahnel-workers.parquet`` beside it (written by :func:`save_hahnel`) the worker councils
    are restored exactly; otherwise they are calibrated by :meth:`HahnelEconomy.from_economy`
    (``defaults`` are passed on to it).
    """
    import pyarrow.parquet as pq

    from glasnost.economy import load

    directory = Path(directory)
    economy = load(directory, check_productive=False)
    he = HahnelEconomy.from_economy(economy, **defaults)
    extra = directory / _WORKER_FILE
    if not extra.exists():
        return he
    table = pq.read_table(extra)
    ids = np.asarray(table.column("id").to_numpy(zero_copy_only=False)).astype(STRING)
    if not np.array_equal(ids, he.workers.ids):
        raise EconomyError("worker council ids differ from the economy's process ids", where=str(extra))
    cols = {k: table.column(k).to_numpy().astype(np.float64) for k in ("a", "c", "du", "s")}
    exponents = canonical_csr(economy.processes.inputs)
    workers = replace(
        he.workers,
        scale=cols["a"],
        effort_exponent=cols["c"],
        disutility_exponent=cols["du"],
        disutility_coefficient=cols["s"],
        exponents=exponents,
    )
    return replace(he, workers=workers)


# ---- behaviours -------------------------------------------------------------------------------


class CobbDouglasWorkers:
    """Worker councils' proposals in closed form, for all councils at once.

    At output price λ and input prices p_i (``B = Σ b_i``)::

        ln q = [ln a + (c/k)(ln λ + ln c - ln s - ln k) + Σ b_i (ln λ + ln b_i - ln p_i)] / (1 - c/k - B)
        x_i  = λ b_i q / p_i
        e    = (λ c q / (s k))^(1/k)

    computed as two sparse matrix-vector products over the (councils x commodities) exponent
    matrix per round. Output ``q`` in units of the product, effort ``e`` in effort units, inputs
    ``x_i`` in units of each input.

    ``effort="published"`` reproduces the effort the published program records: its closed form
    for councils with exactly eight inputs (``solution-8`` of ``pequod-cljs``' ``csvgen.clj``)
    has the signs of its ``b_i ln k`` and ``b_i ln s`` terms flipped, which multiplies their
    effort by ``exp(2 B (ln k + ln s) / (c - k + k B))``. Output, inputs and everything the
    board sees are the same in both modes; only the reported effort differs.
    """

    def __init__(
        self,
        workers: WorkerCouncils,
        n_commodities: int,
        *,
        name: str = "workers",
        effort: Literal["optimal", "published"] = "optimal",
    ) -> None:
        if effort not in ("optimal", "published"):
            raise ProcedureError(f"effort must be 'optimal' or 'published', got {effort!r}")
        self.name = name
        self.workers = workers
        self.n = n_commodities
        B = canonical_csr(workers.exponents)
        self._B = B
        self._products = SparseProducts(B)
        m = B.shape[0]
        self._product = np.asarray(workers.product, dtype=np.intp)
        # councils grouped by product: supply is one gather and one segmented sum per round
        self._by_product = np.argsort(self._product, kind="stable")
        grouped = self._product[self._by_product]
        self._starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]]) if m else np.zeros(0, np.intp)
        self._made = grouped[self._starts]
        c, k, s, a = (
            workers.effort_exponent,
            workers.disutility_exponent,
            workers.disutility_coefficient,
            workers.scale,
        )
        ratio = c / k
        b_sum = row_sums(B)
        b_log_b = row_sums(B, B.data * np.log(B.data))
        self._const = np.log(a) + ratio * (np.log(c) - np.log(s) - np.log(k)) + b_log_b
        self._own = ratio + b_sum
        self._inv_denominator = 1.0 / (1.0 - ratio - b_sum)
        self._effort_const = np.log(c) - np.log(s) - np.log(k)
        self._inv_k = 1.0 / k
        if effort == "published":
            eight = np.diff(B.indptr) == 8
            shift = 2.0 * b_sum * (np.log(k) + np.log(s)) / (c - k + k * b_sum)
            # folded into the constant: ln e = (ln λq + const) / k
            self._effort_const = self._effort_const + np.where(eight, shift * k, 0.0)

    def outputs(self, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Output q of every council (units of its product) and ``λ q``, the value of its output
        (unit of account), at ``prices``."""
        log_p = np.log(prices)
        log_q = self._const - self._products.dot(log_p)
        log_q += self._own * log_p.take(self._product)
        log_q *= self._inv_denominator
        q = np.exp(log_q, out=log_q)
        return q, prices.take(self._product) * q

    def supply(self, q: np.ndarray) -> np.ndarray:
        """(commodities,) total output of every product."""
        out = np.zeros(self.n)
        if q.size:
            out[self._made] = np.add.reduceat(q.take(self._by_product), self._starts)
        return out

    def effort(self, value: np.ndarray) -> np.ndarray:
        """Effort of every council given the value ``λ q`` of its output: ``(λ c q / (s k))^(1/k)``."""
        return np.exp((np.log(value) + self._effort_const) * self._inv_k)

    def propose(self, ctx: RoundContext) -> Proposal:
        prices = ctx.prices
        q, value = self.outputs(prices)
        return Proposal(
            group=self.name,
            ids=self.workers.ids,
            supply=self.supply(q),
            demand=self._products.tdot(value) / prices,
            columns=LazyColumns({"output": q}, {"effort": lambda: self.effort(value)}),
            detail=lambda: self._detail(prices, q, value),
        )

    def _detail(self, prices: np.ndarray, q: np.ndarray, value: np.ndarray) -> tuple[sp.csr_array, sp.csr_array]:
        B = self._B
        m = len(self.workers)
        supply = sp.csr_array((q, self._product, np.arange(m + 1)), shape=(m, self.n))
        rows = np.repeat(np.arange(m), np.diff(B.indptr))
        inputs = B.data * value[rows] / prices[B.indices]
        return supply, sp.csr_array((inputs, B.indices, B.indptr), shape=B.shape)


class CobbDouglasConsumers:
    """Consumer councils' demands in closed form, for all councils at once.

    Council i with income m_i and exponents u_ij (``T_i = Σ_j u_ij``) asks for ``m_i u_ij / (T_i p_j)``
    of a private good and ``m_i u_ij / (T_i p_j / N)`` of a public good (it sees 1/N of the price).
    The group's demand for a private good is the sum over councils, for a public good the mean;
    both are ``(Σ_i m_i u_ij / T_i) / p_j``, so a round costs one division per commodity.
    """

    def __init__(self, councils: Councils, public: np.ndarray, *, name: str = "consumers") -> None:
        self.name = name
        self.councils = councils
        self.public = np.asarray(public, bool)
        U = canonical_csr(councils.preferences)
        self._U = U
        self._share = np.asarray(councils.income, dtype=np.float64) / row_sums(U)  # income per unit exponent
        self._spending = SparseProducts(U).tdot(self._share)  # Σ_i m_i u_ij / T_i per commodity
        self.n = U.shape[1]

    @property
    def spending(self) -> np.ndarray:
        """(commodities,) what the councils together spend on each commodity (unit of account)."""
        return self._spending

    def propose(self, ctx: RoundContext) -> Proposal:
        prices = ctx.prices
        return Proposal(
            group=self.name,
            ids=self.councils.ids,
            supply=np.zeros(self.n),
            demand=self._spending / prices,
            detail=lambda: self._detail(prices),
        )

    def _detail(self, prices: np.ndarray) -> tuple[sp.csr_array, sp.csr_array]:
        U = self._U
        m = U.shape[0]
        rows = np.repeat(np.arange(m), np.diff(U.indptr))
        seen = np.where(self.public, prices / m, prices)
        demand = U.data * self._share[rows] / seen[U.indices]
        return sp.csr_array((m, self.n)), sp.csr_array((demand, U.indices, U.indptr), shape=U.shape)


# ---- the board's price rule -----------------------------------------------------------------


@dataclass(frozen=True)
class HahnelPriceRule:
    """The facilitation board's published price rule.

    The state d_j starts at ``initial`` (0.25). After each round, with imbalance v_j and surplus s_j::

        step_j  = ceiling - base^(v_j)                    (1.05 - 0.5^v)
        delta_j = max(floor, min(step_j, |step_j d_j|))
        p_j    <- p_j (1 - delta_j) if s_j > 0, p_j (1 + delta_j) if s_j < 0, else unchanged
        d_j    <- min(v_j, cap)

    Records ``delta`` (the published ``new-deltas``) per commodity in each round.
    """

    initial: float = 0.25
    cap: float = 0.25
    ceiling: float = 1.05
    base: float = 0.5
    floor: float = 0.001

    def initial_state(self, prices: np.ndarray) -> np.ndarray:
        return np.full(prices.shape, self.initial)

    def update(self, ctx: RoundContext, balance: Balance) -> RuleStep:
        v = balance.imbalance
        step = self.ceiling - self.base**v
        delta = np.maximum(self.floor, np.minimum(step, np.abs(step * ctx.state)))
        factor = 1.0 - delta * np.sign(balance.surplus)
        return RuleStep(prices=ctx.prices * factor, state=np.minimum(v, self.cap), extra={"delta": delta})


# ---- runs ---------------------------------------------------------------------------------------


def hahnel_board(
    he: HahnelEconomy,
    *,
    threshold: float = 0.03,
    prices: float | np.ndarray = INITIAL_PRICE,
    state: np.ndarray | None = None,
    max_rounds: int = 200,
    rule: HahnelPriceRule | None = None,
    keep_proposals: bool = True,
    effort: Literal["optimal", "published"] = "optimal",
    label: str = "hahnel",
) -> Board:
    """A board running the Hahnel procedure on ``he``: closed-form worker and consumer councils
    under the published price rule (or ``rule``), starting at ``prices`` (unit of account) and
    board state ``state`` (default 0.25 everywhere). ``effort``: see :class:`CobbDouglasWorkers`."""
    n = len(he.commodities)
    p = np.full(n, float(prices)) if np.ndim(prices) == 0 else np.asarray(prices, dtype=np.float64)  # type: ignore[arg-type]
    if not (p > 0).all():
        raise ProcedureError("the Hahnel procedure needs every price above 0")
    return Board(
        he.commodities.ids,
        [CobbDouglasWorkers(he.workers, n, effort=effort), CobbDouglasConsumers(he.consumers, he.public)],
        rule or HahnelPriceRule(),
        fixed_supply=he.fixed_supply,
        prices=p,
        state=state,
        threshold=threshold,
        max_rounds=max_rounds,
        keep_proposals=keep_proposals,
        label=label,
    )


def _generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


_DRAW_CHUNK = 1 << 22


def _steps_window(rng: np.random.Generator, steps: tuple[float, ...], total: int, lo: int, hi: int) -> np.ndarray:
    """Entries ``lo`` to ``hi - 1`` of ``steps[rng.integers(0, len(steps), total)]``, drawn in
    chunks (the generator's stream is the same either way: its 32-bit buffer lives in its
    state), so that an MPI rank keeps only its own councils' draws."""
    table = np.asarray(steps)
    out = np.empty(hi - lo)
    for a in range(0, total, _DRAW_CHUNK):
        b = min(a + _DRAW_CHUNK, total)
        draw = rng.integers(0, len(steps), b - a)
        s, e = max(a, lo), min(b, hi)
        if s < e:
            out[s - lo : e - lo] = table[draw[s - a : e - a]]
    return out


def perturb_exponents(
    he: HahnelEconomy, seed: int | np.random.Generator | None, *, window: tuple[int, int] | None = None
) -> HahnelEconomy:
    """The published change between two years: each worker-council exponent gains one of
    {0, 0.001, 0.002, 0.003, 0.004}, each consumer-council exponent one of {-0.002, ..., 0.002},
    uniformly and independently (workers drawn first, in the order of the stored exponents).
    Consumer exponents are kept at 0 or above (the published ones are at least 0.025, so this
    never acts on them). Effort exponents are unchanged. ``window`` ``(offset, total)``: the
    worker councils here are a block whose exponents start at ``offset`` of ``total`` (an MPI
    rank's), and get the draws the whole economy's would."""
    rng = _generator(seed)
    b = he.workers.exponents.data
    u = he.consumers.preferences.data
    offset, total = window or (0, b.size)
    new_b = b + _steps_window(rng, WORKER_STEPS, total, offset, offset + b.size)
    new_u = np.maximum(u + np.asarray(CONSUMER_STEPS)[rng.integers(0, len(CONSUMER_STEPS), u.size)], 0.0)
    indptr = he.consumers.preferences.indptr
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    total = np.bincount(rows, weights=new_u, minlength=indptr.size - 1)
    if (total <= 0).any():
        row = int(np.flatnonzero(total <= 0)[0])
        raise EconomyError("every utility exponent fell to 0", where=f"consumer council {he.consumers.ids[row]!s}")
    return he.with_exponents(new_b, new_u)


def increasing_returns(
    he: HahnelEconomy,
    seed: int | np.random.Generator | None,
    *,
    share: float = 0.2,
    increment: float = 0.1,
    window: tuple[int, int] | None = None,
) -> HahnelEconomy:
    """The published increasing-returns variant: ``increment`` added to every input exponent of
    ``ceil(share x councils)`` worker councils chosen at random. ``window`` ``(first, total)``:
    the councils here are councils ``first`` onwards of ``total`` (an MPI rank's block)."""
    if not 0.0 <= share <= 1.0:
        raise ProcedureError(f"share must be between 0 and 1, got {share}")
    rng = _generator(seed)
    m = len(he.workers)
    first, total = window or (0, m)
    chosen = np.zeros(total, bool)
    chosen[rng.permutation(total)[: math.ceil(share * total)]] = True
    chosen = chosen[first : first + m]
    B = he.workers.exponents
    rows = np.repeat(np.arange(m), np.diff(B.indptr))
    return he.with_exponents(B.data + increment * chosen[rows])


HahnelRun = Run[HahnelEconomy]
"""The years of a run of Hahnel's procedure: the economy of each year and its history."""


def run_hahnel(
    he: HahnelEconomy,
    *,
    threshold: float = 0.03,
    years: int = 1,
    seed: int | np.random.Generator | None = None,
    with_increasing_returns: bool = False,
    prices: float | np.ndarray = INITIAL_PRICE,
    max_rounds: int = 200,
    keep_proposals: bool = True,
    effort: Literal["optimal", "published"] = "optimal",
    on_round: Callable[[int, Round], None] | None = None,
) -> HahnelRun:
    """Run the procedure for ``years`` years.

    Year 1 starts at ``prices`` with d = 0.25; each later year starts from the previous year's
    final prices and d with every exponent perturbed (:func:`perturb_exponents`). With
    ``with_increasing_returns`` the initial economy first gets :func:`increasing_returns`. All
    random draws come from one generator seeded with ``seed``. ``on_round(year, round)`` is
    called after every round.
    """

    def play_year(he: HahnelEconomy, start: float | np.ndarray, state: np.ndarray | None, label: str,
                  callback: Callable[[Round], None] | None) -> History:
        board = hahnel_board(
            he,
            threshold=threshold,
            prices=start,
            state=state,
            max_rounds=max_rounds,
            keep_proposals=keep_proposals,
            effort=effort,
            label=label,
        )
        return board.run(callback)

    return run_years(
        he, play_year, years=years, seed=seed, with_increasing_returns=with_increasing_returns, prices=prices,
        on_round=on_round,
    )


def run_years(
    he: HahnelEconomy,
    play_year: Callable[
        [HahnelEconomy, float | np.ndarray, np.ndarray | None, str, Callable[[Round], None] | None], History
    ],
    *,
    years: int,
    seed: int | np.random.Generator | None,
    with_increasing_returns: bool,
    prices: float | np.ndarray,
    on_round: Callable[[int, Round], None] | None,
    window: tuple[int, int, int, int] | None = None,
) -> HahnelRun:
    """The yearly loop of :func:`run_hahnel`, for any way of playing one year's rounds:
    ``play_year(economy, prices, state, label, callback)`` returns the year's history (serial
    boards here, boards over MPI ranks in :mod:`glasnost.procedures.mpi`). ``window``
    ``(first council, councils, first exponent, exponents)``: ``he``'s worker councils are
    that block of the whole economy's (an MPI rank's), and get the whole economy's draws."""
    if years < 1:
        raise ProcedureError(f"years must be at least 1, got {years}")
    rng = _generator(seed)
    councils, exponents = (window[:2], window[2:]) if window else (None, None)
    if with_increasing_returns:
        he = increasing_returns(he, rng, window=councils)
    run = HahnelRun()
    start_prices: float | np.ndarray = prices
    start_state: np.ndarray | None = None
    for year in range(1, years + 1):
        if year > 1:
            he = perturb_exponents(he, rng, window=exponents)
        callback = None if on_round is None else (lambda r, y=year: on_round(y, r))
        history = play_year(he, start_prices, start_state, f"hahnel year {year}", callback)
        run.economies.append(he)
        run.years.append(history)
        start_prices, start_state = history.final_prices, history.final_state
    return run
