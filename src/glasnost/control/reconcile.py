"""Reconciliation: do the reports agree with each other and with the plan's technology?

Three checks, each a vectorised group-by and join over all report lines at once (pyarrow):

* **shipments**: what each supplier says it delivered against what the receiver confirms it got,
  matched by supplier, receiver, product and period (variants and grades summed);
* **material balance** of each workplace, product and period::

      opening stock + output + receipts = deliveries + inputs used + closing stock + losses

  (a figure not reported counts as 0), and the closing stock of one period against the opening
  stock of the next;
* **technical coefficients**: inputs used against what the plan's coefficients imply for the
  output reported (``sum over products j of coefficient[j, input] * output[j]``).

Every mismatch is listed with its size (in the product's unit), its size relative to the larger
side, and the parties. A mismatch is a difference larger than ``abs_tol + rel_tol * scale``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from glasnost.control.reports import SCHEMA, Reports

__all__ = ["Reconciliation", "coefficient_check", "material_balance", "reconcile", "shipment_check"]


def _sum_of(table: pa.Table, keys: list[str], name: str) -> pa.Table:
    """Sum ``quantity`` by keys into column ``name`` (keys keep their names)."""
    out = table.group_by(keys, use_threads=False).aggregate([("quantity", "sum")])
    return out.rename_columns([*(c for c in out.column_names if c != "quantity_sum"), name])


def _filled(table: pa.Table, names: list[str]) -> pa.Table:
    for n in names:
        i = table.column_names.index(n)
        table = table.set_column(i, n, pc.fill_null(table[n], 0.0))
    return table


def _flag(table: pa.Table, diff: str, scale: pa.Array, abs_tol: float, rel_tol: float) -> pa.Table:
    d = table[diff].to_numpy()
    s = np.asarray(scale)
    rel = np.divide(d, s, out=np.full_like(d, np.inf, dtype=float), where=s > 0)
    rel[(s == 0) & (d == 0)] = 0.0
    table = table.append_column("relative", pa.array(rel))
    keep = np.abs(d) > abs_tol + rel_tol * s
    return table.filter(pa.array(keep))


def _of(reports: Reports, kind: str) -> pa.Table:
    return reports.table.filter(pc.equal(reports.table["kind"], kind))


def shipment_check(reports: Reports, *, abs_tol: float = 1e-9, rel_tol: float = 1e-6) -> pa.Table:
    """Deliveries claimed by suppliers against receipts confirmed by receivers.

    Returns
    -------
    pyarrow.Table
        One row per mismatch: period, supplier, receiver, product, shipped, received,
        difference (shipped - received), relative (difference over the larger side), sorted by
        the size of the difference, largest first. A shipment nobody confirmed has received 0;
        a receipt no supplier claimed has shipped 0.
    """
    keys = ["period", "supplier", "receiver", "product"]
    sent = _of(reports, "delivery").rename_columns(
        ["receiver" if c == "counterparty" else "supplier" if c == "workplace" else c for c in SCHEMA_NAMES]
    )
    got = _of(reports, "receipt").rename_columns(
        ["supplier" if c == "counterparty" else "receiver" if c == "workplace" else c for c in SCHEMA_NAMES]
    )
    shipped = _sum_of(sent.select([*keys, "quantity"]), keys, "shipped")
    received = _sum_of(got.select([*keys, "quantity"]), keys, "received")
    both = _filled(shipped.join(received, keys, join_type="full outer"), ["shipped", "received"])
    both = both.append_column("difference", pc.subtract(both["shipped"], both["received"]))
    scale = np.maximum(both["shipped"].to_numpy(), both["received"].to_numpy())
    out = _flag(both.select([*keys, "shipped", "received", "difference"]), "difference", scale, abs_tol, rel_tol)
    return _largest_first(out, "difference")


SCHEMA_NAMES = SCHEMA.names
BALANCE_TERMS = ("opening", "output", "receipts", "deliveries", "inputs", "closing", "losses")


def _largest_first(table: pa.Table, column: str) -> pa.Table:
    order = np.argsort(-np.abs(table[column].to_numpy()), kind="stable")
    return table.take(pa.array(order))


def material_balance(reports: Reports, *, abs_tol: float = 1e-9, rel_tol: float = 1e-6) -> pa.Table:
    """Each workplace's material balance per product and period, and stock carried between periods.

    Returns
    -------
    pyarrow.Table
        One row per mismatch: check (``balance`` or ``carry-over``), period, workplace, product,
        the terms (opening, output, receipts, deliveries, inputs, closing, losses), difference
        (opening + output + receipts - deliveries - inputs - closing - losses; for carry-over, the
        opening stock of the period minus the closing stock reported for the period before) and
        relative (over the larger side of the balance).
    """
    keys = ["period", "workplace", "product"]
    kind_to_term = {
        "opening": "opening",
        "output": "output",
        "receipt": "receipts",
        "delivery": "deliveries",
        "input": "inputs",
        "closing": "closing",
        "loss": "losses",
    }
    t = reports.table.filter(pc.is_in(reports.table["kind"], pa.array(list(kind_to_term))))
    if t.num_rows == 0:
        return _empty_balance()
    # one wide row per key: pivot by factorising the key and scattering sums with numpy
    codes, uniq = _factorise(t, keys)
    kinds = t["kind"].to_numpy(zero_copy_only=False)
    qty = np.nan_to_num(t["quantity"].to_numpy(zero_copy_only=False).astype(float))
    terms = {}
    for kind, term in kind_to_term.items():
        terms[term] = np.bincount(codes, weights=np.where(kinds == kind, qty, 0.0), minlength=uniq.num_rows)
    inflow = terms["opening"] + terms["output"] + terms["receipts"]
    outflow = terms["deliveries"] + terms["inputs"] + terms["closing"] + terms["losses"]
    wide = uniq
    for term in BALANCE_TERMS:
        wide = wide.append_column(term, pa.array(terms[term]))
    wide = wide.append_column("difference", pa.array(inflow - outflow))
    balance = _flag(wide, "difference", np.maximum(inflow, outflow), abs_tol, rel_tol)
    balance = balance.add_column(0, "check", pa.array(["balance"] * balance.num_rows, pa.string()))
    carry = _carry_over(t, abs_tol, rel_tol)
    return _largest_first(pa.concat_tables([balance, carry], promote_options="default"), "difference")


def _carry_over(t: pa.Table, abs_tol: float, rel_tol: float) -> pa.Table:
    keys = ["period", "workplace", "product"]
    opening = _sum_of(t.filter(pc.equal(t["kind"], "opening")).select([*keys, "quantity"]), keys, "opening")
    closing = _sum_of(t.filter(pc.equal(t["kind"], "closing")).select([*keys, "quantity"]), keys, "closing")
    closing = closing.set_column(0, "period", pc.add(closing["period"], 1))
    both = opening.join(closing, keys, join_type="inner")
    diff = pc.subtract(both["opening"], both["closing"])
    both = both.append_column("difference", diff)
    scale = np.maximum(both["opening"].to_numpy(), both["closing"].to_numpy())
    out = _flag(both, "difference", scale, abs_tol, rel_tol)
    return out.add_column(0, "check", pa.array(["carry-over"] * out.num_rows, pa.string()))


def _empty_balance() -> pa.Table:
    fields = [("check", pa.string()), ("period", pa.int64()), ("workplace", pa.string()), ("product", pa.string())]
    fields += [(t, pa.float64()) for t in (*BALANCE_TERMS, "difference", "relative")]
    return pa.schema(fields).empty_table()


def _factorise(t: pa.Table, keys: list[str]) -> tuple[np.ndarray, pa.Table]:
    """Integer code per row for the combination of ``keys``, and the distinct combinations (a table)."""
    parts = []
    for k in keys:
        col = t[k].combine_chunks()
        if pa.types.is_integer(col.type):
            parts.append(col.to_numpy().astype(np.int64))
        else:
            parts.append(pc.dictionary_encode(col).indices.to_numpy(zero_copy_only=False).astype(np.int64))
    stacked = np.stack(parts, axis=1)
    _, first, codes = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    return codes.ravel(), t.select(keys).take(pa.array(first))


def coefficient_check(reports: Reports, coefficients: pa.Table, *, rel_tol: float = 0.02) -> pa.Table:
    """Inputs used against the plan's technical coefficients times the output reported.

    Parameters
    ----------
    coefficients
        Columns workplace, product (an output), input, per_unit (units of input per unit of output).
    rel_tol
        Differences within this share of the expected use are not listed (default 2%).

    Returns
    -------
    pyarrow.Table
        One row per mismatch: period, workplace, input, used, expected, difference (used -
        expected), relative (over expected; inf where nothing was expected), largest first.
        Only workplaces with coefficients are checked.
    """
    out_keys = ["period", "workplace", "product"]
    made = _sum_of(_of(reports, "output").select([*out_keys, "quantity"]), out_keys, "made")
    coef = coefficients.select(["workplace", "product", "input", "per_unit"]).cast(
        pa.schema([("workplace", pa.string()), ("product", pa.string()), ("input", pa.string()),
                   ("per_unit", pa.float64())])
    )
    need = made.join(coef, ["workplace", "product"], join_type="inner")
    need = need.append_column("need", pc.multiply(need["made"], need["per_unit"]))
    keys = ["period", "workplace", "input"]
    expected = _sum_of(need.select([*keys, "need"]).rename_columns([*keys, "quantity"]), keys, "expected")
    used = _of(reports, "input").select([*out_keys, "quantity"]).rename_columns([*keys, "quantity"])
    checked = pa.array(np.unique(coef["workplace"].to_numpy(zero_copy_only=False).astype(str)))
    used = _sum_of(used.filter(pc.is_in(used["workplace"], checked)), keys, "used")
    both = _filled(used.join(expected, keys, join_type="full outer"), ["used", "expected"])
    both = both.append_column("difference", pc.subtract(both["used"], both["expected"]))
    exp = both["expected"].to_numpy()
    d = both["difference"].to_numpy()
    rel = np.divide(d, exp, out=np.full_like(d, np.inf), where=exp > 0)
    rel[(exp == 0) & (d == 0)] = 0.0
    both = both.append_column("relative", pa.array(rel))
    keep = np.abs(d) > 1e-9 + rel_tol * exp
    out = both.filter(pa.array(keep)).select([*keys, "used", "expected", "difference", "relative"])
    return _largest_first(out, "difference")


@dataclass(frozen=True)
class Reconciliation:
    """All mismatches found in a set of reports (each a pyarrow table, largest first)."""

    shipments: pa.Table
    balances: pa.Table
    coefficients: pa.Table | None

    @property
    def count(self) -> int:
        """How many mismatches in all."""
        return self.shipments.num_rows + self.balances.num_rows + (
            self.coefficients.num_rows if self.coefficients is not None else 0
        )

    def summary(self) -> str:
        """One line per check: how many mismatches, and the largest."""
        parts = []
        for name, table in (("shipments", self.shipments), ("balances", self.balances),
                            ("coefficients", self.coefficients)):
            if table is None:
                parts.append(f"{name}: not checked (no coefficients)")
                continue
            big = f", largest {abs(table['difference'][0].as_py()):.6g}" if table.num_rows else ""
            parts.append(f"{name}: {table.num_rows} mismatches{big}")
        return "; ".join(parts)


def reconcile(
    reports: Reports,
    coefficients: pa.Table | None = None,
    *,
    rel_tol: float = 1e-6,
    coefficient_tol: float = 0.02,
) -> Reconciliation:
    """Run every check (see the module)."""
    coef = None
    if coefficients is not None and coefficients.num_rows:
        coef = coefficient_check(reports, coefficients, rel_tol=coefficient_tol)
    return Reconciliation(
        shipment_check(reports, rel_tol=rel_tol), material_balance(reports, rel_tol=rel_tol), coef
    )
