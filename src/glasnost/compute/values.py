"""Gross output and labour values of an economy's square technique.

Gross output x for a final demand d solves ``x = A x + d``. Labour values (Cockshott and
Cottrell's vertically integrated labour) solve ``v = v A + l`` for each labour type: the hours
of that type used, directly and in all the inputs of inputs, per unit of each product. The same
equation with a natural resource in place of ``l`` gives embodied resource use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from glasnost.compute.linear import LeontiefSystem, SolveReport
from glasnost.economy import Economy, Kind, NotProductiveError, Technique, check_productive
from glasnost.economy.model import select

_SYSTEM_KEY = "leontief-system"


def leontief_system(economy: Economy, technique: Technique | None = None) -> LeontiefSystem:
    """The prepared solver for the economy's default technique (cached on the economy)."""
    if technique is not None:
        return LeontiefSystem(A_t=technique.A_t)
    system = economy._meta.get(_SYSTEM_KEY)
    if system is None:
        system = LeontiefSystem(A_t=economy.technique.A_t)
        economy._meta[_SYSTEM_KEY] = system
    return system


@dataclass(frozen=True)
class GrossOutput:
    """Gross output of each produced commodity for a final demand.

    ``gross[j]`` and ``final_demand[j]`` are in the unit of ``ids[j]``; ``primary_use[k]`` is
    the amount of primary input ``primary_ids[k]`` (hours of labour, units of a resource) the
    gross output needs.
    """

    ids: np.ndarray
    gross: np.ndarray
    final_demand: np.ndarray
    primary_ids: np.ndarray
    primary_use: np.ndarray
    report: SolveReport


@dataclass(frozen=True)
class Values:
    """Vertically integrated primary input per unit of each produced commodity.

    ``by_input[k, j]``: amount of primary input ``primary_ids[k]`` embodied in one unit of
    ``ids[j]``; ``labour[j]``: total hours of all labour types per unit of ``ids[j]``.
    """

    ids: np.ndarray
    primary_ids: np.ndarray
    primary_kinds: np.ndarray
    by_input: np.ndarray
    labour: np.ndarray
    report: SolveReport

    def of(self, commodity_id: str) -> float:
        """Total labour value of one commodity, in hours per unit."""
        hits = np.flatnonzero(self.ids == commodity_id)
        if hits.size == 0:
            raise KeyError(commodity_id)
        return float(self.labour[hits[0]])


def _final_demand(economy: Economy, final_demand: object, produced: np.ndarray) -> np.ndarray:
    if final_demand is None:
        return np.asarray(economy.commodities.targets[produced], dtype=np.float64)
    if isinstance(final_demand, dict):
        d = np.zeros(economy.n_commodities)
        if final_demand:
            d[economy.commodities.index(list(final_demand))] = np.asarray(list(final_demand.values()), float)
        return d[produced]
    d = np.asarray(final_demand, dtype=np.float64)
    if d.shape == (economy.n_commodities,):
        return d[produced]
    if d.shape == (produced.size,):
        return d
    raise ValueError(
        f"final demand has shape {d.shape}; expected ({produced.size},) produced commodities "
        f"or ({economy.n_commodities},) commodities"
    )


def _ensure_productive(economy: Economy, technique: Technique) -> None:
    """Check the technique once per economy; the default technique not again where building
    or loading the economy checked it (``productive_radius``: the loader may have taken it from
    the directory's cache, and the strong-components check it spares is the costly one)."""
    key = ("productive", id(technique))
    if key in economy._meta:
        return
    default = economy.__dict__.get("technique")  # the cached property, if it was built
    if not (technique is default and "productive_radius" in economy._meta):
        check_productive(economy, technique)
    economy._meta[key] = True


def gross_output(
    economy: Economy,
    final_demand: object = None,
    *,
    method: str = "auto",
    rtol: float = 1e-11,
    technique: Technique | None = None,
) -> GrossOutput:
    """Solve ``(I - A) x = d`` for the economy's technique.

    Parameters
    ----------
    final_demand : per produced commodity, per commodity, or ``{id: amount}``; default the
        economy's targets.
    method : ``auto`` (direct when small, GMRES when large), ``direct``, ``gmres``, ``jacobi``.
    rtol : relative residual to reach, ||(I - A) x - d|| / ||d||.

    Raises :class:`NotProductiveError` (naming the culprit products) when A is not productive.
    """
    tech = technique or economy.technique
    _ensure_productive(economy, tech)
    d = _final_demand(economy, final_demand, tech.produced)
    x, report = leontief_system(economy, technique).solve(d, method=method, rtol=rtol)
    return gross_output_result(economy, tech, d, x, report)


def gross_output_result(
    economy: Economy, tech: Technique, d: np.ndarray, x: np.ndarray, report: SolveReport
) -> GrossOutput:
    """Wrap a solution x of (I - A) x = d, with the primary inputs it needs."""
    return GrossOutput(
        ids=select(economy.commodities.ids, tech.produced),
        gross=x,
        final_demand=d,
        primary_ids=economy.commodities.ids[tech.primary_index],
        primary_use=np.asarray(tech.primary @ x).ravel(),
        report=report,
    )


def labour_values(
    economy: Economy,
    *,
    method: str = "auto",
    rtol: float = 1e-11,
    technique: Technique | None = None,
) -> Values:
    """Vertically integrated labour (and resource) per unit of each produced commodity.

    Solves ``v_k = v_k A + l_k`` for every primary input k (labour types and natural
    resources), so ``by_input`` holds embodied labour of each type and embodied resources.
    """
    tech = technique or economy.technique
    _ensure_productive(economy, tech)
    start = time.perf_counter()
    system = leontief_system(economy, technique)
    L = sp.csr_array(tech.primary).toarray() if tech.primary.shape[0] else np.zeros((0, tech.size))
    # all primary inputs at once: one block solve reads the matrix once per iteration for all
    V, report = system.solve(L.T, transpose=True, method=method, rtol=rtol) if L.shape[0] else (L.T, None)
    by_input = np.ascontiguousarray(V.T)
    kinds = economy.commodities.kinds[tech.primary_index]
    labour = by_input[kinds == Kind.LABOUR].sum(axis=0)
    lowest, highest = float(by_input.min(initial=0.0)), float(by_input.max(initial=0.0))
    if lowest < -1e-9 * max(1.0, highest, -lowest):  # any value below -1e-9 of the largest magnitude
        raise NotProductiveError([], float("nan"), where="labour values")
    report = SolveReport(
        method=report.method if report else "none",
        iterations=report.iterations if report else 0,
        residual=report.residual if report else 0.0,
        seconds=time.perf_counter() - start,
    )
    return Values(
        ids=select(economy.commodities.ids, tech.produced),
        primary_ids=economy.commodities.ids[tech.primary_index],
        primary_kinds=kinds,
        by_input=by_input,
        labour=labour,
        report=report,
    )
