"""Consumers' quality complaints in the use-value fulfilment measure.

The rule (stated on the workplace's fulfilment page): a complaint about a product of a workplace
says how many units it concerns (``units``) and how bad the problem is (``severity``); it takes

    units x LOSS[severity] x planned quality

off the use value the workplace delivered of that product in that period (never below zero), as
a receiver's rating would. ``LOSS``: a *minor* problem costs a quarter of a unit's use value, a
*serious* one half, an *unusable* unit all of it. A complaint counts whether or not the workplace
has answered it (an answer explains, it does not undo); one the moderators hid (with a public
reason) does not count.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["COMPLAINT_SCHEMA", "LOSS", "complaint_losses", "empty_complaints"]

LOSS: dict[str, float] = {"minor": 0.25, "serious": 0.5, "unusable": 1.0}
"""The share of a unit's use value a complaint of each severity takes away."""

COMPLAINT_SCHEMA = pa.schema(
    [
        ("period", pa.int64()),
        ("workplace", pa.string()),
        ("product", pa.string()),
        ("units", pa.float64()),
        ("loss", pa.float64()),
    ]
)


def empty_complaints() -> pa.Table:
    return COMPLAINT_SCHEMA.empty_table()


def complaint_losses(keys: pa.Table, complaints: pa.Table | None) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``keys`` (period, workplace, product): the number of complaints and the units of
    use value they take away (before multiplying by the planned quality)."""
    n = keys.num_rows
    if complaints is None or complaints.num_rows == 0:
        return np.zeros(n, dtype=np.int64), np.zeros(n)
    c = complaints.cast(COMPLAINT_SCHEMA)
    lost = c.append_column("lost", pa.array(c["units"].to_numpy() * c["loss"].to_numpy()))
    by_key = lost.group_by(["period", "workplace", "product"], use_threads=False).aggregate(
        [("lost", "sum"), ("lost", "count")]
    )
    index = keys.select(["period", "workplace", "product"]).append_column("row", pa.array(np.arange(n)))
    joined = index.join(by_key, ["period", "workplace", "product"], join_type="inner")
    count = np.zeros(n, dtype=np.int64)
    units = np.zeros(n)
    rows = joined["row"].to_numpy()
    count[rows] = joined["lost_count"].to_numpy()
    units[rows] = joined["lost_sum"].to_numpy()
    return count, units
