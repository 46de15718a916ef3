"""Plan fulfilment in use value, beside the gross indicators it replaces.

For each period, workplace and product with a target (``quantity``, planned ``quality``, ``price``):

* **gross quantity** (the "gross weight" indicator, in the product's unit): output reported, all
  variants and grades summed, over the planned quantity;
* **use value**: what receivers confirmed they got, each receipt times the quality its receiver
  rated it (a rating is the use value of one unit as a share of what was planned; a confirmed
  receipt without a rating counts at the planned quality), over planned quantity times planned
  quality. Output that nobody confirms receiving, or that receivers rate as poor, does not count.

Per workplace, the same summed over its products, and **gross value**: output at plan prices over
targets at plan prices (adding tonnes of different things is what the gross weight indicator did;
this shows how far that drifts from use value).

All computed with vectorised group-bys and joins (pyarrow); a fulfilment of 1.0 is 100%.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from glasnost.control.complaints import complaint_losses
from glasnost.control.reports import Reports

__all__ = ["Fulfilment", "fulfilment"]

TARGET_SCHEMA = pa.schema(
    [
        ("period", pa.int64()),
        ("workplace", pa.string()),
        ("product", pa.string()),
        ("quantity", pa.float64()),
        ("quality", pa.float64()),
        ("price", pa.float64()),
    ]
)


@dataclass(frozen=True)
class Fulfilment:
    """Fulfilment per (period, workplace, product) and per (period, workplace).

    ``by_product`` columns: period, workplace, product, planned, quality_planned, output,
    delivered (confirmed by receivers), quality_rated (quantity-weighted mean over rated receipts,
    null if none), use_value (delivered x quality, less what complaints took), gross (output /
    planned), use (use_value / (planned x quality_planned)), complaints (how many quality
    complaints counted), use_lost (the use value they took off).

    ``by_workplace`` columns: period, workplace, gross_weight, gross_value, use.
    """

    by_product: pa.Table
    by_workplace: pa.Table


def _sum(table: pa.Table, keys: list[str], name: str) -> pa.Table:
    """Sum ``quantity`` by ``keys`` into a column ``name``."""
    out = table.group_by(keys, use_threads=False).aggregate([("quantity", "sum")])
    return out.rename_columns([*keys, name])


def _rated_receipts(reports: Reports) -> pa.Table:
    """Receipts with their receiver's rating: period, workplace (supplier), product, quantity, rating."""
    t = reports.table
    rkeys = ["period", "workplace", "counterparty", "product"]
    receipts = _sum(t.filter(pc.equal(t["kind"], "receipt")).select([*rkeys, "quantity"]), rkeys, "quantity")
    ratings = t.filter(pc.equal(t["kind"], "rating"))
    weight = pc.fill_null(ratings["quantity"], 1.0)
    weighted = pc.multiply(weight, ratings["rating"])
    ratings = ratings.select(rkeys).append_column("w", weight).append_column("wr", weighted)
    rated = ratings.group_by(rkeys, use_threads=False).aggregate([("w", "sum"), ("wr", "sum")])
    rated = rated.append_column("rating", pc.divide(rated["wr_sum"], rated["w_sum"])).select([*rkeys, "rating"])
    joined = receipts.join(rated, rkeys, join_type="left outer")
    # from the supplier's side: the receiver is the counterparty of its delivery
    return joined.rename_columns(["period", "receiver", "workplace", "product", "quantity", "rating"])


def fulfilment(reports: Reports, targets: pa.Table, complaints: pa.Table | None = None) -> Fulfilment:
    """Fulfilment of ``targets`` (period, workplace, product, quantity[, quality, price]) by ``reports``,
    less what consumers' quality ``complaints`` take off (:mod:`glasnost.control.complaints`)."""
    n = targets.num_rows
    cols = {c: targets[c] for c in ("period", "workplace", "product", "quantity")}
    cols["quality"] = targets["quality"] if "quality" in targets.column_names else pa.array(np.ones(n))
    cols["price"] = targets["price"] if "price" in targets.column_names else pa.array(np.ones(n))
    plan = pa.table(cols).cast(TARGET_SCHEMA)
    keys = ["period", "workplace", "product"]
    t = reports.table
    made = _sum(t.filter(pc.equal(t["kind"], "output")).select([*keys, "quantity"]), keys, "output")
    got = _rated_receipts(reports)
    got = got.join(plan.select([*keys, "quality"]), keys, join_type="left outer")
    quality = pc.if_else(pc.is_null(got["rating"]), pc.fill_null(got["quality"], 1.0), got["rating"])
    got = got.append_column("uv", pc.multiply(got["quantity"], quality))
    got = got.append_column("rated_w", pc.if_else(pc.is_null(got["rating"]), 0.0, got["quantity"]))
    got = got.append_column("rated_wr", pc.multiply(got["rated_w"], pc.fill_null(got["rating"], 0.0)))
    delivered = got.group_by(keys, use_threads=False).aggregate(
        [("quantity", "sum"), ("uv", "sum"), ("rated_w", "sum"), ("rated_wr", "sum")]
    )
    delivered = delivered.rename_columns([*keys, "delivered", "use_value", "rated_w", "rated_wr"])
    rows = plan.join(made, keys, join_type="left outer").join(delivered, keys, join_type="left outer")
    rows = rows.sort_by([("period", "ascending"), ("workplace", "ascending"), ("product", "ascending")])
    planned = rows["quantity"].to_numpy()
    q_plan = rows["quality"].to_numpy()
    output = np.nan_to_num(rows["output"].to_numpy(zero_copy_only=False).astype(float))
    dlv = np.nan_to_num(rows["delivered"].to_numpy(zero_copy_only=False).astype(float))
    uv = np.nan_to_num(rows["use_value"].to_numpy(zero_copy_only=False).astype(float))
    n_complaints, units_lost = complaint_losses(rows, complaints)
    use_lost = np.minimum(units_lost * q_plan, uv)
    uv = uv - use_lost
    rw = np.nan_to_num(rows["rated_w"].to_numpy(zero_copy_only=False).astype(float))
    rwr = np.nan_to_num(rows["rated_wr"].to_numpy(zero_copy_only=False).astype(float))
    q_rated = np.divide(rwr, rw, out=np.full_like(rw, np.nan), where=rw > 0)
    by_product = pa.table(
        {
            "period": rows["period"],
            "workplace": rows["workplace"],
            "product": rows["product"],
            "planned": planned,
            "quality_planned": q_plan,
            "output": output,
            "delivered": dlv,
            "quality_rated": pa.array(q_rated, from_pandas=True),
            "use_value": uv,
            "gross": _ratio(output, planned),
            "use": _ratio(uv, planned * q_plan),
            "complaints": n_complaints,
            "use_lost": use_lost,
        }
    )
    price = rows["price"].to_numpy()
    wkeys = ["period", "workplace"]
    parts = pa.table(
        {
            "period": rows["period"],
            "workplace": rows["workplace"],
            "w_out": output,
            "w_plan": planned,
            "v_out": output * price,
            "v_plan": planned * price,
            "u_out": uv * price,
            "u_plan": planned * q_plan * price,
        }
    )
    agg = parts.group_by(wkeys, use_threads=False).aggregate(
        [(c, "sum") for c in ("w_out", "w_plan", "v_out", "v_plan", "u_out", "u_plan")]
    ).sort_by([("period", "ascending"), ("workplace", "ascending")])
    s = {c: agg[f"{c}_sum"].to_numpy() for c in ("w_out", "w_plan", "v_out", "v_plan", "u_out", "u_plan")}
    by_workplace = pa.table(
        {
            "period": agg["period"],
            "workplace": agg["workplace"],
            "gross_weight": _ratio(s["w_out"], s["w_plan"]),
            "gross_value": _ratio(s["v_out"], s["v_plan"]),
            "use": _ratio(s["u_out"], s["u_plan"]),
        }
    )
    return Fulfilment(by_product, by_workplace)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.full_like(np.asarray(a, float), np.nan), where=np.asarray(b) > 0)
