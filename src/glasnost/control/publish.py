"""Publishing planning results to the public log: the entries a planning cycle leaves behind.

This module knows both the log and the shape of planning results; the
log itself (:mod:`glasnost.ledger.log`) stores kinds and JSON payloads and knows nothing of
planning. Every number is published as the planners computed it (floats as JSON numbers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from glasnost.compute import Plan, Values
from glasnost.economy import Economy
from glasnost.procedures.engine import History


def _by_id(ids: np.ndarray, values: np.ndarray) -> dict[str, float]:
    return {str(i): float(v) for i, v in zip(ids, values, strict=True)}


def economy_entry(economy: Economy) -> tuple[str, dict[str, Any]]:
    c = economy.commodities
    return "economy", {
        "name": economy.name,
        "counts": economy.describe(),
        "targets": _by_id(c.ids[c.produced], c.targets[c.produced]),
        "supply": _by_id(c.ids[c.primary], c.supply[c.primary]),
    }


def round_entries(history: History, *, year: int = 1) -> Iterator[tuple[str, dict[str, Any]]]:
    """One ``round`` entry per round: posted prices, supply, demand and imbalance by commodity."""
    ids = history.commodity_ids
    for rnd in history.rounds:
        yield (
            "round",
            {
                "year": year,
                "round": int(rnd.number),
                "prices": _by_id(ids, rnd.prices),
                "supply": _by_id(ids, rnd.balance.supply),
                "demand": _by_id(ids, rnd.balance.demand),
                "imbalance": _by_id(ids, rnd.balance.imbalance),
            },
        )


def plan_entry(economy: Economy, plan: Plan) -> tuple[str, dict[str, Any]]:
    return "plan", {
        "objective": plan.objective_kind,
        "value": float(plan.objective),
        "dual_bound": float(plan.dual_bound),
        "method": plan.method,
        "net_output": _by_id(plan.commodity_ids, plan.net_output),
        "prices": _by_id(plan.commodity_ids, plan.prices),
        "activity": _by_id(plan.process_ids, plan.activity),
    }


def values_entry(values: Values) -> tuple[str, dict[str, Any]]:
    return "labour-values", {"unit": "hours per unit", "values": _by_id(values.ids, values.labour)}
