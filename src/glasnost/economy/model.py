"""The economy model: commodities, production processes, consumer councils.

Everything is stored as arrays indexed through stable string ids, with the technology in
``scipy.sparse`` CSR matrices (processes x commodities), so that an economy of 10^7 commodities
with about ten inputs each fits in memory. An :class:`Economy` is immutable: its arrays are
read-only once the object is built and validated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from glasnost.economy import native
from glasnost.economy.errors import EconomyError
from glasnost.economy.validate import productive_radius, validate_commodities, validate_councils, validate_processes

STRING = np.dtypes.StringDType()


class Kind(IntEnum):
    """What a commodity is. Stored as a small integer code in ``Commodities.kinds``."""

    GOOD = 0
    """A produced good or service, consumed privately or used as an input."""
    PUBLIC_GOOD = 1
    """A produced good consumed in common."""
    RESOURCE = 2
    """A natural resource in fixed supply."""
    LABOUR = 3
    """A type of labour, in fixed supply (hours)."""

    @property
    def produced(self) -> bool:
        return self in (Kind.GOOD, Kind.PUBLIC_GOOD)

    @classmethod
    def parse(cls, name: str, *, where: str | None = None) -> Kind:
        key = str(name).strip().upper().replace("-", "_").replace(" ", "_")
        aliases = {"LABOR": "LABOUR", "PUBLIC": "PUBLIC_GOOD", "SERVICE": "GOOD"}
        key = aliases.get(key, key)
        try:
            return cls[key]
        except KeyError:
            allowed = ", ".join(k.name.lower() for k in cls)
            raise EconomyError(f"unknown commodity kind {name!r} (allowed: {allowed})", where=where) from None


def as_ids(values: object) -> np.ndarray:
    """Return ``values`` as a 1-d numpy array of strings (numpy's variable-width StringDType)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    return arr.astype(STRING)


def select(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]``: a view where ``index`` is a run of consecutive positions (the
    produced commodities usually are), which spares copying 10^6 strings (0.13 s), else a copy."""
    index = np.asarray(index)
    if index.ndim == 1 and index.size and index.dtype.kind in "iu":
        first, last = int(index[0]), int(index[-1])
        if last - first + 1 == index.size and first >= 0 and (index.size == 1 or bool((np.diff(index) == 1).all())):
            return values[first : last + 1]
    return values[index]


def entries_at(matrix: sp.sparray | sp.spmatrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``matrix[rows[i], cols[i]]`` for every i, 0 where no entry is stored (vectorised)."""
    coo = sp.coo_array(matrix)
    coo.sum_duplicates()
    n_cols = matrix.shape[1]
    keys = coo.row.astype(np.int64) * n_cols + coo.col  # sorted: canonical COO is row-major
    wanted = np.asarray(rows, dtype=np.int64) * n_cols + np.asarray(cols, dtype=np.int64)
    out = np.zeros(wanted.size)
    if keys.size:
        pos = np.clip(np.searchsorted(keys, wanted), 0, keys.size - 1)
        hit = keys[pos] == wanted
        out[hit] = coo.data[pos[hit]]
    return out


def _freeze(*arrays: np.ndarray | sp.sparray | None) -> None:
    for a in arrays:
        if a is None:
            continue
        if sp.issparse(a):
            for part in (a.data, a.indices, a.indptr):
                part.flags.writeable = False
        else:
            a.flags.writeable = False


def _float_array(values: object, n: int, default: float, name: str) -> np.ndarray:
    if values is None:
        return np.full(n, default, dtype=np.float64)
    arr = np.asarray(values, dtype=np.float64).copy()
    if arr.shape != (n,):
        raise EconomyError(f"{name} has shape {arr.shape}, expected ({n},)")
    return arr


@dataclass(frozen=True, eq=False)
class Commodities:
    """The commodity table: one entry per commodity, in the economy's id order.

    Attributes
    ----------
    ids : array of str
        Stable, unique ids.
    names, units : array of str
        Human-readable name and the unit every quantity of this commodity is measured in.
    kinds : array of uint8
        :class:`Kind` codes.
    supply : array of float
        Amount available for the plan period (natural resources and labour types, in their
        units); ``inf`` means unlimited, 0 for produced goods.
    targets : array of float
        Final-demand targets of the plan (net output wanted), 0 where none.
    """

    ids: np.ndarray
    names: np.ndarray
    units: np.ndarray
    kinds: np.ndarray
    supply: np.ndarray
    targets: np.ndarray

    @classmethod
    def build(
        cls,
        ids: object,
        *,
        kinds: object,
        names: object | None = None,
        units: object | None = None,
        supply: object | None = None,
        targets: object | None = None,
    ) -> Commodities:
        ids_ = as_ids(ids)
        n = ids_.size
        kinds_arr = np.asarray(kinds)
        if kinds_arr.dtype.kind in "iu":
            codes = kinds_arr.astype(np.uint8)
        else:
            kind_list = list(kinds_arr.reshape(-1))
            codes = np.array(
                [Kind.parse(k, where=f"commodity {ids_[i]}") for i, k in enumerate(kind_list)],
                dtype=np.uint8,
            )
        if codes.shape != (n,):
            raise EconomyError(f"kinds has {codes.size} entries for {n} commodities")
        return cls(
            ids=ids_,
            names=ids_.copy() if names is None else as_ids(names),
            units=np.full(n, "unit", dtype=STRING) if units is None else as_ids(units),
            kinds=codes,
            supply=_float_array(supply, n, 0.0, "supply"),
            targets=_float_array(targets, n, 0.0, "targets"),
        )

    def __len__(self) -> int:
        return int(self.ids.size)

    def of_kind(self, *kinds: Kind) -> np.ndarray:
        """Indices of the commodities of the given kinds, in id order."""
        return np.flatnonzero(np.isin(self.kinds, np.array([int(k) for k in kinds], dtype=np.uint8)))

    @cached_property
    def produced(self) -> np.ndarray:
        """Indices of produced commodities (goods, services and public goods)."""
        return self.of_kind(Kind.GOOD, Kind.PUBLIC_GOOD)

    @cached_property
    def primary(self) -> np.ndarray:
        """Indices of primary inputs: natural resources and labour types."""
        return self.of_kind(Kind.RESOURCE, Kind.LABOUR)

    @cached_property
    def labour(self) -> np.ndarray:
        """Indices of labour types."""
        return self.of_kind(Kind.LABOUR)

    def index(self, ids: object) -> np.ndarray:
        """Positions of ``ids`` in the table; raises :class:`EconomyError` naming unknown ids."""
        return index_of(self.ids, ids, what="commodity")


def index_of(table_ids: np.ndarray, ids: object, *, what: str, where: str | None = None) -> np.ndarray:
    """Vectorised lookup of ``ids`` in ``table_ids``; unknown ids raise, naming the first few."""
    import pyarrow as pa
    import pyarrow.compute as pc

    query = as_ids(ids)
    found = pc.index_in(pa.array(query), value_set=pa.array(table_ids)).to_numpy(zero_copy_only=False)
    missing = np.isnan(found) if found.dtype.kind == "f" else np.zeros(found.shape, bool)
    if missing.any():
        rows = np.flatnonzero(missing)
        shown = ", ".join(f"{query[r]!s} (row {r})" for r in rows[:5])
        more = f" and {rows.size - 5} more" if rows.size > 5 else ""
        raise EconomyError(f"unknown {what} id: {shown}{more}", where=where)
    return found.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Processes:
    """Production processes, one row per process in every matrix.

    A process is run at some activity level y >= 0. Per unit of activity it yields
    ``outputs[p]`` (joint production allowed), consumes ``inputs[p]`` (produced goods, natural
    resources and labour, all as commodities) and needs the capital stocks ``capital[p]``, of
    which the shares ``depreciation[p]`` wear out per year. Several processes may make the
    same product (choice of technique).

    Attributes
    ----------
    ids, workplaces : array of str
        Process id and the workplace that runs it.
    capacity : array of float
        Largest activity level in the plan period; ``inf`` where unlimited.
    outputs, inputs : csr_array, shape (processes, commodities)
    capital, depreciation : csr_array or None, shape (processes, commodities)
    """

    ids: np.ndarray
    workplaces: np.ndarray
    capacity: np.ndarray
    outputs: sp.csr_array
    inputs: sp.csr_array
    capital: sp.csr_array | None = None
    depreciation: sp.csr_array | None = None

    def __len__(self) -> int:
        return int(self.ids.size)


@dataclass(frozen=True, eq=False)
class Councils:
    """Consumer councils: members, income (or entitlement) and preferences over commodities.

    ``preferences`` is a (councils x commodities) CSR matrix of non-negative weights, read by
    the procedures as Cobb-Douglas exponents.
    """

    ids: np.ndarray
    members: np.ndarray
    income: np.ndarray
    preferences: sp.csr_array

    def __len__(self) -> int:
        return int(self.ids.size)


@dataclass(frozen=True, eq=False)
class Technique:
    """A square input-output system: one process chosen to make each produced commodity.

    ``A[i, j]`` is the amount of produced commodity ``produced[i]`` used per unit of gross output
    of ``produced[j]``; ``primary[k, j]`` the amount of primary input ``primary_ids[k]`` (labour
    type or resource) per unit of ``produced[j]``. ``x = A x + d`` and ``v = v A + l``.

    The technique is built as ``A_t``, A's transpose (row j: the inputs of product j per unit,
    CSR with sorted indices), which is what choosing the processes gives directly; ``A`` is
    made from it when first asked for (one transpose: the solver needs only ``A_t``).
    ``column_sums`` are A's column sums (a product's produced inputs per unit).
    """

    produced: np.ndarray
    process: np.ndarray
    A_t: sp.csr_array
    primary_index: np.ndarray
    primary: sp.csr_array
    column_sums: np.ndarray

    @property
    def size(self) -> int:
        return int(self.produced.size)

    @cached_property
    def A(self) -> sp.csr_array:  # noqa: N802 - the matrix's name in the docs
        """The input matrix, CSR with sorted indices."""
        A = sp.csr_array(self.A_t.T.tocsr())
        A.has_sorted_indices = True
        return A


@dataclass(frozen=True, eq=False)
class Economy:
    """An economy: commodities, processes and consumer councils, validated and immutable.

    Build one with :meth:`Economy.build` (tables of ids), :meth:`Economy.from_leontief`
    (a square input-output table), :func:`glasnost.economy.generate` or
    :func:`glasnost.economy.load`.
    """

    commodities: Commodities
    processes: Processes
    councils: Councils | None = None
    name: str = "economy"
    _meta: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        c, p = self.commodities, self.processes
        # a loader that checked the ids against the digest the writer recorded says so in _meta
        check_ids = not self._meta.get("ids_checked", False)
        validate_commodities(
            c.ids, c.names, c.units, c.kinds, c.supply, c.targets, largest_kind=max(Kind), check_ids=check_ids
        )
        matrices = {"output": p.outputs, "input": p.inputs, "capital": p.capital, "depreciation": p.depreciation}
        validate_processes(p.ids, p.workplaces, p.capacity, matrices, c.ids, c.produced, check_ids=check_ids)
        if self.councils is not None:
            k = self.councils
            validate_councils(k.ids, k.income, k.members, k.preferences, c.ids)
        _freeze(c.ids, c.names, c.units, c.kinds, c.supply, c.targets)
        _freeze(p.ids, p.workplaces, p.capacity, p.outputs, p.inputs, p.capital, p.depreciation)
        if self.councils is not None:
            k = self.councils
            _freeze(k.ids, k.members, k.income, k.preferences)

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        commodities: Commodities,
        processes: Processes,
        councils: Councils | None = None,
        *,
        name: str = "economy",
        check_productive: bool = True,
    ) -> Economy:
        """Validate the tables and return the economy (raises :class:`EconomyError`)."""
        economy = cls(commodities, processes, councils, name)
        if check_productive:
            _check_productive(economy)
        return economy

    @classmethod
    def from_leontief(
        cls,
        A: object,
        primary: object | None = None,
        *,
        ids: object | None = None,
        primary_ids: object | None = None,
        primary_kinds: object | None = None,
        supply: object | None = None,
        targets: object | None = None,
        capacity: object | None = None,
        names: object | None = None,
        units: object | None = None,
        name: str = "economy",
        check_productive: bool = True,
    ) -> Economy:
        """An economy with one single-output process per product from a square table.

        Parameters
        ----------
        A : (n, n) array or sparse matrix
            ``A[i, j]``: input of product i per unit of product j.
        primary : (k, n) array or sparse matrix, optional
            Primary input (labour types, resources) per unit of each product; default one
            labour type ``labour`` with no requirement.
        ids, primary_ids : ids of the n products and k primary inputs (default ``p0..``,
            ``labour``/``labour0..``).
        primary_kinds : kinds of the primary inputs (default all labour).
        supply : (k,) available amounts of the primary inputs (default unlimited).
        targets : (n,) final-demand targets.
        capacity : (n,) largest gross output of each product's process.
        """
        A_ = sp.csr_array(A, dtype=np.float64)
        n = A_.shape[0]
        if A_.shape != (n, n):
            raise EconomyError(f"A must be square, got shape {A_.shape}")
        P = sp.csr_array(primary, dtype=np.float64) if primary is not None else sp.csr_array((1, n))
        k = P.shape[0]
        if P.shape[1] != n:
            raise EconomyError(f"primary inputs have {P.shape[1]} columns for {n} products")
        prod_ids = as_ids(ids) if ids is not None else np.strings.add("p", np.arange(n).astype(STRING))
        if primary_ids is None:
            prim_ids = as_ids(["labour"] if k == 1 else [f"labour{i}" for i in range(k)])
        else:
            prim_ids = as_ids(primary_ids)
        kinds = np.concatenate(
            [
                np.full(n, Kind.GOOD, np.uint8),
                np.full(k, Kind.LABOUR, np.uint8)
                if primary_kinds is None
                else np.array([Kind.parse(x) if isinstance(x, str) else Kind(x) for x in primary_kinds], np.uint8),
            ]
        )
        all_ids = np.concatenate([prod_ids, prim_ids])
        sup = np.zeros(n + k)
        sup[n:] = np.inf if supply is None else np.asarray(supply, dtype=np.float64)
        tgt = np.zeros(n + k)
        if targets is not None:
            tgt[:n] = np.asarray(targets, dtype=np.float64)
        commodities = Commodities.build(
            all_ids,
            kinds=kinds,
            names=None if names is None else np.concatenate([as_ids(names), prim_ids]),
            units=None if units is None else as_ids(units),
            supply=sup,
            targets=tgt,
        )
        inputs = sp.hstack([A_.T, P.T], format="csr")
        outputs = sp.eye_array(n, n + k, format="csr")
        processes = Processes(
            ids=np.strings.add("make-", prod_ids),
            workplaces=np.strings.add("workplace-", prod_ids),
            capacity=_float_array(capacity, n, np.inf, "capacity"),
            outputs=outputs,
            inputs=sp.csr_array(inputs),
        )
        return cls.build(commodities, processes, name=name, check_productive=check_productive)

    # ---- views ----------------------------------------------------------------------------

    @property
    def n_commodities(self) -> int:
        return len(self.commodities)

    @property
    def n_processes(self) -> int:
        return len(self.processes)

    @cached_property
    def net_output(self) -> sp.csr_array:
        """Net output per unit of activity, (processes x commodities): outputs - inputs."""
        return sp.csr_array(self.processes.outputs - self.processes.inputs)

    @cached_property
    def technique(self) -> Technique:
        """The default square system: for each produced commodity, the first process that
        makes it and nothing else. Raises :class:`EconomyError` where there is none."""
        return choose_technique(self)

    def with_technique(self, process_ids: object) -> Technique:
        """A square system with the named process for each produced commodity."""
        return choose_technique(self, index_of(self.processes.ids, process_ids, what="process"))

    def describe(self) -> dict[str, int]:
        c = self.commodities
        return {
            "commodities": len(c),
            "produced": int(c.produced.size),
            "labour_types": int(c.labour.size),
            "resources": int(c.of_kind(Kind.RESOURCE).size),
            "processes": self.n_processes,
            "input_coefficients": int(self.processes.inputs.nnz),
            "councils": 0 if self.councils is None else len(self.councils),
        }


def single_output_makers(economy: Economy) -> tuple[np.ndarray, np.ndarray]:
    """For each process with exactly one positive output: (process index, commodity index)."""
    out = economy.processes.outputs
    counts = np.diff(out.indptr)
    single = np.flatnonzero(counts == 1)
    return single, out.indices[out.indptr[single]]


def choose_technique(economy: Economy, chosen: np.ndarray | None = None) -> Technique:
    c = economy.commodities
    produced = c.produced
    n = c.ids.size
    single_p, single_c = single_output_makers(economy)  # single_p increasing
    if chosen is None:
        # the first single-output process per commodity (each once: no sort needed)
        maker = np.full(n, -1, dtype=np.int64)
        if single_c.size < 2 or bool((single_c[1:] > single_c[:-1]).all()):
            maker[single_c] = single_p
        else:
            first_c, first_pos = np.unique(single_c, return_index=True)
            maker[first_c] = single_p[first_pos]
    else:
        is_single = np.zeros(economy.n_processes, bool)
        is_single[single_p] = True
        bad = chosen[~is_single[chosen]]
        if bad.size:
            raise EconomyError(
                f"process {economy.processes.ids[bad[0]]} makes more than one product; "
                "a square technique needs single-output processes"
            )
        out = economy.processes.outputs
        made = out.indices[out.indptr[chosen]]
        maker = np.full(n, -1, dtype=np.int64)
        maker[made] = chosen
    process = maker[produced]
    if (process < 0).any():
        missing = produced[process < 0]
        shown = ", ".join(str(c.ids[i]) for i in missing[:5])
        raise EconomyError(
            f"no single-output process chosen for produced commodity {shown}"
            + (f" and {missing.size - 5} more" if missing.size > 5 else "")
        )
    outputs = economy.processes.outputs
    out_coef = outputs.data[outputs.indptr[process]]
    inputs = sorted_rows(economy.processes.inputs)
    A_t, primary_t, sums = _chosen_rows(inputs, process, out_coef, produced, c.primary, n)
    primary = sp.csr_array(primary_t.T.tocsr())
    return Technique(
        produced=produced, process=process, A_t=A_t, primary_index=c.primary, primary=primary, column_sums=sums
    )


def sorted_rows(M: sp.csr_array) -> sp.csr_array:
    """``M`` as CSR with sorted indices, itself where it is one (its cached flag read before any
    wrapping: a new array would scan its 10^7 indices again to find out)."""
    if isinstance(M, sp.csr_array) and M.has_sorted_indices:
        return M
    M = sp.csr_array(M, copy=True)
    M.sort_indices()
    return M


def _column_map(n: int, produced: np.ndarray, primary: np.ndarray) -> np.ndarray:
    """Per commodity: its column in A's transpose (>= 0), -2 - its row among the primary
    inputs, or -1 (neither)."""
    column_map = np.full(n, -1, np.int32)
    column_map[produced] = np.arange(produced.size, dtype=np.int32)
    column_map[primary] = -2 - np.arange(primary.size, dtype=np.int32)
    return column_map


def _chosen_rows(
    inputs: sp.csr_array, process: np.ndarray, out_coef: np.ndarray, produced: np.ndarray, primary: np.ndarray, n: int
) -> tuple[sp.csr_array, sp.csr_array, np.ndarray]:
    """(A's transpose, the primary inputs' transpose, A's column sums) of a technique from the
    chosen processes' input rows (sorted), each entry divided by its process's output: the
    rows of the chosen processes, their columns relabelled, are the transposes. In one
    compiled pass on all cores where :mod:`glasnost.economy._kernels` is built, else by numpy."""
    k = process.size
    kernels = native.kernels
    if (
        kernels is None
        or not inputs.indptr.dtype == inputs.indices.dtype == np.int32
        or inputs.data.dtype != np.float64
        or inputs.nnz >= 2**31
    ):
        return _chosen_rows_numpy(inputs, process, out_coef, produced, primary, n)
    column_map = _column_map(n, produced, primary)
    rows = np.ascontiguousarray(process, dtype=np.int64)
    counts = np.empty((k, 2), np.int64)
    threads = native.kernel_threads()
    kernels.technique_count(inputs.indptr, inputs.indices, rows, column_map, counts, threads)
    a_indptr, p_indptr = (np.concatenate([[0], np.cumsum(counts[:, j])]).astype(np.int32) for j in (0, 1))
    a_indices, p_indices = np.empty(a_indptr[-1], np.int32), np.empty(p_indptr[-1], np.int32)
    a_data, p_data = np.empty(a_indptr[-1]), np.empty(p_indptr[-1])
    sums = np.empty(k)
    divisor = np.ascontiguousarray(out_coef, dtype=np.float64)
    kernels.technique_fill(
        inputs.indptr, inputs.indices, inputs.data, rows, divisor, column_map,
        a_indptr, a_indices, a_data, p_indptr, p_indices, p_data, sums, threads,
    )  # fmt: skip
    A_t = sp.csr_array((a_data, a_indices, a_indptr), shape=(k, produced.size))
    primary_t = sp.csr_array((p_data, p_indices, p_indptr), shape=(k, primary.size))
    A_t.has_sorted_indices = primary_t.has_sorted_indices = True  # relabelling keeps the order
    return A_t, primary_t, sums


def _chosen_rows_numpy(
    inputs: sp.csr_array, process: np.ndarray, out_coef: np.ndarray, produced: np.ndarray, primary: np.ndarray, n: int
) -> tuple[sp.csr_array, sp.csr_array, np.ndarray]:
    """:func:`_chosen_rows` by numpy: a mask, a count and a gather per part."""
    k = process.size
    rows = inputs if k == inputs.shape[0] and np.array_equal(process, np.arange(k)) else inputs[process]
    rows = sorted_rows(rows)
    counts = np.diff(rows.indptr)
    scaled = rows.data / np.repeat(out_coef, counts)

    def by_process(wanted: np.ndarray) -> sp.csr_array:
        keep, col = _columns_of(rows.indices, wanted, n)
        # int32 indices where they fit: the solver's compiled kernel and half the index traffic
        index_type = np.int32 if rows.nnz < 2**31 and n < 2**31 else np.int64
        # row i keeps the kept entries before its end less those before its start
        kept_before = np.zeros(rows.nnz + 1, index_type)
        np.cumsum(keep, out=kept_before[1:])
        indptr = kept_before[rows.indptr]
        # wanted is increasing, so each row's columns stay sorted
        matrix = sp.csr_array((scaled[keep], col.astype(index_type, copy=False), indptr), shape=(k, wanted.size))
        matrix.has_sorted_indices = True
        return matrix

    A_t = by_process(produced)
    return A_t, by_process(primary), row_sums(A_t)


def _columns_of(indices: np.ndarray, wanted: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(which entries fall in the ``wanted`` columns, their positions among them); a range of
    columns (goods first, then labour: the usual layout) needs no lookup table."""
    if wanted.size and int(wanted[-1]) - int(wanted[0]) + 1 == wanted.size:
        lo, hi = int(wanted[0]), int(wanted[-1]) + 1
        keep = (indices >= lo) & (indices < hi)
        return keep, (indices[keep] - lo).astype(np.int32)
    position = np.full(n, -1, np.int32)
    position[wanted] = np.arange(wanted.size, dtype=np.int32)
    col = position[indices]
    keep = col >= 0
    return keep, col[keep]


def row_sums(M: sp.csr_array) -> np.ndarray:
    """The sum of each row of a CSR matrix, each added in its stored order."""
    sums = np.zeros(M.shape[0])
    filled = np.diff(M.indptr) > 0
    if filled.any():
        sums[filled] = np.add.reduceat(M.data, M.indptr[:-1][filled])
    return sums


def check_productive(economy: Economy, technique: Technique | None = None) -> float:
    """Raise :class:`NotProductiveError` when the technique (default: the economy's) cannot yield
    a surplus; else return an upper bound on the spectral radius of its input matrix.

    Where every column sum of A is below 1 that largest sum is the bound (no more work);
    otherwise see :func:`glasnost.economy.validate.productive_radius`, which names the
    commodities of the first block of the matrix whose radius is at least 1.
    """
    tech = economy.technique if technique is None else technique
    largest = float(tech.column_sums.max(initial=0.0))
    # the ids only where a block is to be named
    radius = largest if largest < 1.0 else productive_radius(tech.A, economy.commodities.ids[tech.produced])
    if technique is None:
        economy._meta["productive_radius"] = radius  # what a saved directory caches
    return radius


_check_productive = check_productive  # Economy.build's parameter of the same name hides it there
