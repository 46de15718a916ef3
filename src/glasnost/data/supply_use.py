"""Supply-use (make and use) tables to a symmetric commodity-by-commodity input-output table.

National statistical offices publish a *make* (supply) table ``V`` (industries x commodities:
what each industry produces of each commodity) and a *use* table ``U`` (commodities x
industries: what each industry uses of each commodity), both in money of the year (for the
BEA: millions of US dollars at producer prices). A planner needs one process per product, the
commodity-by-commodity table ``A`` (``A[i, j]``: money's worth of commodity i used per money's
worth of commodity j produced), which needs an assumption about secondary products:

* **industry technology** (``assumption="industry"``): every product an industry makes is
  made with the industry's one input structure. With market shares ``D = V diag(q)^-1`` and
  input coefficients ``B = U diag(g)^-1`` (``q`` commodity output, ``g`` industry output),
  ``A = B D``. Never negative unless the use table itself has negative entries.
* **commodity technology** (``assumption="commodity"``): each commodity has one input
  structure, whichever industry makes it, so ``U = A V^T`` and ``A = U (V^T)^-1``. Needs as
  many industries as produced commodities (or more: then the least-squares solution, with its
  residual reported) and readily gives negative coefficients.

Negative coefficients are listed in :attr:`Symmetric.negatives`, never clipped silently;
:meth:`Symmetric.to_economy` asks what to do with them (``negatives="raise"`` or ``"zero"``,
the latter recorded in the economy's import report). Labour input is compensation of employees
(or employment) per industry, carried to products by the same assumption; a product whose
producing industries lack a labour figure is marked in :attr:`Symmetric.labour_known`, and
commodities that no domestic industry makes (zero output: non-comparable imports, used goods)
are not products of the symmetric table but primary inputs, listed in
:attr:`Symmetric.not_produced`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp

from glasnost.economy import Economy, EconomyError

Assumption = Literal["industry", "commodity"]


@dataclass(frozen=True)
class SupplyUse:
    """A make and a use table in money units.

    Attributes
    ----------
    commodities, industries : arrays of str
        Commodity and industry codes, the tables' row and column order.
    make : (industries, commodities) ndarray
        Output of each commodity by each industry, in ``unit``.
    use : (commodities, industries) ndarray
        Intermediate use of each commodity by each industry, in ``unit``.
    final_demand : (commodities,) ndarray
        Total final uses of each commodity, in ``unit`` (may be negative: inventory drawdown,
        imports entered as negative final use).
    labour : (industries,) ndarray
        Labour input of each industry (compensation in ``unit``, or employment in
        ``labour_unit``); NaN where the table has no figure.
    commodity_names, industry_names : arrays of str
    unit, labour_unit : str
    source : str
        Where the tables came from (files), for the import report.
    """

    commodities: np.ndarray
    industries: np.ndarray
    make: np.ndarray
    use: np.ndarray
    final_demand: np.ndarray
    labour: np.ndarray
    commodity_names: np.ndarray
    industry_names: np.ndarray
    unit: str = "USD million"
    labour_unit: str = "USD million of compensation"
    labour_name: str = "compensation of employees"
    source: str = ""

    def __post_init__(self) -> None:
        nc, ni = self.commodities.size, self.industries.size
        for arr, shape, what in (
            (self.make, (ni, nc), "make table"),
            (self.use, (nc, ni), "use table"),
            (self.final_demand, (nc,), "final demand"),
            (self.labour, (ni,), "labour row"),
        ):
            if arr.shape != shape:
                raise EconomyError(f"{what} has shape {arr.shape}, expected {shape}", where=self.source or None)
        for arr, what in ((self.make, "make table"), (self.use, "use table")):
            bad = ~np.isfinite(arr)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                rows, cols = (
                    (self.industries, self.commodities) if arr is self.make else (self.commodities, self.industries)
                )
                raise EconomyError(f"{what} entry {rows[r]!s} / {cols[c]!s} is not a number", where=self.source or None)
        neg = self.make < 0
        if neg.any():
            r, c = np.argwhere(neg)[0]
            raise EconomyError(
                f"make table entry {self.industries[r]!s} / {self.commodities[c]!s} = {self.make[r, c]!r} is negative",
                where=self.source or None,
            )

    @property
    def commodity_output(self) -> np.ndarray:
        """q: total output of each commodity (column sums of the make table), in ``unit``."""
        return self.make.sum(axis=0)

    @property
    def industry_output(self) -> np.ndarray:
        """g: total output of each industry (row sums of the make table), in ``unit``."""
        return self.make.sum(axis=1)


@dataclass(frozen=True)
class Symmetric:
    """A commodity-by-commodity table derived from a :class:`SupplyUse`.

    Attributes
    ----------
    ids, names : arrays of str
        The produced commodities (those with positive output), in table order.
    A : (n, n) ndarray
        ``A[i, j]``: ``unit`` of commodity i per ``unit`` of commodity j; may hold negatives.
    labour : (n,) ndarray
        Labour input per ``unit`` of each product (``labour_unit`` per ``unit``); NaN where
        unknown (see ``labour_known``).
    labour_known : (n,) bool ndarray
        False for products whose producing industries have no labour figure.
    output, final_demand : (n,) ndarray
        Commodity output q and total final uses, in ``unit``.
    not_produced : array of str
        Commodities with no domestic output; ``not_produced_use[k, j]`` is their use per
        ``unit`` of product j (primary inputs of the economy).
    negatives : list of (row id, column id, value)
        Every negative entry of ``A``.
    assumption : "industry" or "commodity"
    residual : float
        ||A V^T - U|| / ||U|| for the commodity technology (0 when exact), 0 for industry.
    """

    ids: np.ndarray
    names: np.ndarray
    A: np.ndarray
    labour: np.ndarray
    labour_known: np.ndarray
    output: np.ndarray
    final_demand: np.ndarray
    not_produced: np.ndarray
    not_produced_use: np.ndarray
    negatives: list[tuple[str, str, float]]
    assumption: str
    residual: float
    unit: str
    labour_unit: str
    labour_name: str
    source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.ids.size)

    def spectral_radius(self, *, absolute: bool = False) -> float:
        """Largest modulus of an eigenvalue of ``A`` (of ``|A|`` when ``absolute``)."""
        M = np.abs(self.A) if absolute else self.A
        return float(np.abs(np.linalg.eigvals(M)).max()) if M.size else 0.0

    def summary(self) -> dict[str, object]:
        """Plain numbers for reports: size, density, negatives, spectral radius, labour gaps."""
        n = self.size
        return {
            "source": self.source,
            "assumption": self.assumption,
            "products": n,
            "nonzero_share": float(np.count_nonzero(self.A) / max(n * n, 1)),
            "above_1e-4_share": float(np.count_nonzero(np.abs(self.A) > 1e-4) / max(n * n, 1)),
            "negative_coefficients": len(self.negatives),
            "most_negative": min((v for *_, v in self.negatives), default=0.0),
            "spectral_radius": self.spectral_radius(),
            "least_squares_residual": self.residual,
            "products_without_labour": [str(i) for i in self.ids[~self.labour_known]],
            "not_produced": [str(i) for i in self.not_produced],
            "unit": self.unit,
            "labour_unit": self.labour_unit,
            **self.extra,
        }

    def to_economy(self, *, negatives: Literal["raise", "zero"] = "raise", name: str = "economy") -> Economy:
        """An :class:`Economy` with one process per product; money units throughout.

        Parameters
        ----------
        negatives : ``"raise"`` (default) raises :class:`EconomyError` listing the negative
            coefficients; ``"zero"`` sets them to zero, and the economy's ``_meta`` and the
            import report (:func:`write_report`) list every one.
        name : the economy's name.

        The primary inputs are the labour row (kind labour; products without a figure get
        zero there and are listed in the report) and one natural-resource input per
        commodity not produced at home (imports, used goods), in ``unit``.
        """
        A = self.A.copy()
        labour = np.nan_to_num(self.labour, nan=0.0)
        primary = np.vstack([labour[None, :], self.not_produced_use])
        primary_ids = ["labour", *(f"not-produced:{c}" for c in self.not_produced)]
        rows, cols = np.nonzero(primary < 0)
        negative_primary = [
            (primary_ids[r], str(self.ids[c]), float(primary[r, c])) for r, c in zip(rows, cols, strict=True)
        ]
        if self.negatives or negative_primary:
            if negatives == "raise":
                every = self.negatives + negative_primary
                shown = ", ".join(f"{r} / {c} = {v:.3g}" for r, c, v in every[:5])
                raise EconomyError(
                    f"{len(every)} negative coefficients under the {self.assumption}-technology "
                    f"assumption: {shown}{' ...' if len(every) > 5 else ''} "
                    "(choose negatives='zero' to set them to zero, with a report)",
                    where=self.source or None,
                )
            if negatives != "zero":
                raise ValueError(f"negatives must be 'raise' or 'zero', got {negatives!r}")
            A[A < 0] = 0.0
            primary[primary < 0] = 0.0
        kinds = ["labour"] + ["resource"] * self.not_produced.size
        targets = np.maximum(self.final_demand, 0.0)
        economy = Economy.from_leontief(
            sp.csr_array(A),
            sp.csr_array(primary),
            ids=self.ids,
            primary_ids=primary_ids,
            primary_kinds=kinds,
            names=self.names,
            units=[*([self.unit] * self.size), self.labour_unit, *([self.unit] * self.not_produced.size)],
            targets=targets,
            name=name,
        )
        economy._meta["import"] = {
            **self.summary(),
            "negatives_policy": negatives,
            "negatives": [[r, c, v] for r, c, v in self.negatives],
            "negative_primary_inputs": [[r, c, v] for r, c, v in negative_primary],
            "negative_final_demand_set_to_zero": [str(i) for i in self.ids[self.final_demand < 0]],
        }
        return economy


def symmetric(tables: SupplyUse, assumption: Assumption = "industry", *, tol: float = 1e-12) -> Symmetric:
    """Convert make and use tables to a commodity-by-commodity table.

    Parameters
    ----------
    tables : the make and use tables.
    assumption : ``"industry"`` (industry technology, ``A = U diag(g)^-1 V diag(q)^-1``) or
        ``"commodity"`` (commodity technology, ``A = U (V^T)^-1``).
    tol : coefficients with absolute value below ``tol`` count as zero (rounding of the
        commodity-technology inverse), and so are not reported as negative.

    Returns
    -------
    Symmetric
        The table, its labour coefficients and a list of negative coefficients.

    Raises
    ------
    EconomyError
        An industry with no output that uses inputs, or, for the commodity technology, fewer
        industries than produced commodities or a singular make table.
    """
    if assumption not in ("industry", "commodity"):
        raise ValueError(f"assumption must be 'industry' or 'commodity', got {assumption!r}")
    where = tables.source or None
    q, g = tables.commodity_output, tables.industry_output
    produced = q > 0
    active = g > 0
    idle_users = np.flatnonzero(~active & (np.abs(tables.use).sum(axis=0) > 0))
    if idle_users.size:
        raise EconomyError(
            f"industry {tables.industries[idle_users[0]]!s} uses inputs but makes nothing (make table row is zero)",
            where=where,
        )
    V = tables.make[np.ix_(active, produced)]
    U_all = tables.use[:, active]
    U = U_all[produced]
    U_np = U_all[~produced]
    gl = g[active]
    w = tables.labour[active]
    residual = 0.0
    extra: dict[str, object] = {}
    if assumption == "industry":
        D = V / q[produced]  # market shares: industry i's share of commodity j
        B = U / gl
        A = B @ D
        wage = w / gl
        labour = np.nan_to_num(wage) @ D
        # a product with any producing industry lacking a figure has no labour figure
        known = ~((np.isnan(wage)[:, None] & (D > 0)).any(axis=0))
        np_use = (U_np / gl) @ D
    else:
        n, m = int(produced.sum()), int(active.sum())
        if m < n:
            raise EconomyError(
                f"the commodity-technology assumption needs at least as many industries ({m}) as produced "
                f"commodities ({n})",
                where=where,
            )
        VT = V.T  # commodities x industries
        _, sing, vt = np.linalg.svd(V)
        rank = int((sing > sing.max() * max(V.shape) * np.finfo(float).eps).sum())
        if rank < n:
            # commodities whose make-table columns are linearly dependent (e.g. two commodities
            # made by one industry alone): the assumption cannot tell their input structures
            # apart, and the minimum-norm least-squares solution shares the inputs between them
            null = np.abs(vt[rank:]).max(axis=0) > 1e-6
            rank_deficient = [str(c) for c in tables.commodities[produced][null]]
        else:
            rank_deficient = []
        if m == n and rank == n:
            # A V^T = U  <=>  V A^T = U^T
            A = np.linalg.solve(V, U.T).T
            np_use = np.linalg.solve(V, U_np.T).T if U_np.size else np.zeros((0, n))
            labour = np.linalg.solve(V, np.nan_to_num(w))
        else:
            A = np.linalg.lstsq(V, U.T, rcond=None)[0].T
            np_use = np.linalg.lstsq(V, U_np.T, rcond=None)[0].T if U_np.size else np.zeros((0, n))
            labour = np.linalg.lstsq(V, np.nan_to_num(w), rcond=None)[0]
            residual = float(np.linalg.norm(A @ VT - U) / max(np.linalg.norm(U), 1e-300))
        extra["rank_deficient_commodities"] = rank_deficient
        # with commodity technology a product's coefficients mix every industry that makes any
        # commodity the product's makers make; unknown when one of those lacks a figure
        Vinv_pattern = np.abs(np.linalg.pinv(VT)) > tol  # industries x commodities
        known = ~((np.isnan(w)[:, None] & Vinv_pattern).any(axis=0))
        A[np.abs(A) < tol] = 0.0
    labour = np.where(known, labour, np.nan)
    ids = tables.commodities[produced]
    rows, cols = np.nonzero(A < 0)
    negatives = [(str(ids[r]), str(ids[c]), float(A[r, c])) for r, c in zip(rows, cols, strict=True)]
    return Symmetric(
        ids=ids,
        names=tables.commodity_names[produced],
        A=A,
        labour=labour,
        labour_known=known,
        output=q[produced],
        final_demand=tables.final_demand[produced],
        not_produced=tables.commodities[~produced],
        not_produced_use=np_use,
        negatives=negatives,
        assumption=assumption,
        residual=residual,
        unit=tables.unit,
        labour_unit=tables.labour_unit,
        labour_name=tables.labour_name,
        source=tables.source,
        extra=extra,
    )


REPORT_FILE = "import-report.json"


def write_report(economy: Economy, directory: str | Path, extra: dict | None = None) -> Path:
    """Write the conversion report (``_meta['import']`` plus ``extra``) beside a saved economy."""
    path = Path(directory) / REPORT_FILE
    report = {**economy._meta.get("import", {}), **(extra or {})}
    path.write_text(json.dumps(report, indent=1, default=float))
    return path
