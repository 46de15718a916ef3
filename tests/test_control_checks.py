"""Reconciliation and fulfilment in use value, against hand computations; the migration matches the tables."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from glasnost.control.fulfilment import fulfilment
from glasnost.control.reconcile import reconcile
from glasnost.control.reports import reports_from_table

COLS = ["kind", "period", "workplace", "product", "variant", "grade", "quantity", "counterparty", "rating"]


def reports(rows: list[tuple]) -> object:
    return reports_from_table(pa.table({c: [r[i] for r in rows] for i, c in enumerate(COLS)}))


# a mill makes flour from grain and ships it to a bakery, which bakes bread for a shop
CHAIN = [
    ("output", 1, "mill", "flour", "", "", 100, "", None),
    ("opening", 1, "mill", "flour", "", "", 10, "", None),
    ("closing", 1, "mill", "flour", "", "", 20, "", None),
    ("delivery", 1, "mill", "flour", "", "", 80, "bakery", None),
    ("receipt", 1, "bakery", "flour", "", "", 75, "mill", None),
    ("input", 1, "bakery", "flour", "", "", 70, "", None),
    ("output", 1, "bakery", "bread", "", "", 100, "", None),
    ("delivery", 1, "bakery", "bread", "", "", 100, "shop", None),
    ("input", 1, "mill", "grain", "", "", 130, "", None),
    ("receipt", 1, "mill", "grain", "", "", 130, "farm", None),
    ("opening", 2, "mill", "flour", "", "", 25, "", None),
]


def test_shipments_against_receipts() -> None:
    r = reconcile(reports(CHAIN))
    rows = {(x["supplier"], x["receiver"], x["product"]): x for x in r.shipments.to_pylist()}
    assert set(rows) == {("mill", "bakery", "flour"), ("bakery", "shop", "bread"), ("farm", "mill", "grain")}
    assert rows["mill", "bakery", "flour"]["difference"] == 5.0  # 80 claimed, 75 confirmed
    assert rows["mill", "bakery", "flour"]["relative"] == pytest.approx(5 / 80)
    assert rows["bakery", "shop", "bread"]["received"] == 0.0  # nobody confirmed
    assert rows["farm", "mill", "grain"]["shipped"] == 0.0  # the farm reported nothing
    assert r.shipments["difference"].to_pylist()[0] == -130.0  # largest first


def test_material_balance_and_carry_over() -> None:
    b = reconcile(reports(CHAIN)).balances.to_pylist()
    got = {(x["check"], x["period"], x["workplace"], x["product"]): x["difference"] for x in b}
    # mill flour, period 1: 10 + 100 + 0 - (80 + 0 + 20 + 0) = 10
    # bakery flour: 0 + 0 + 75 - (0 + 70 + 0 + 0) = 5; mill flour period 2: only an opening stock of 25
    # carry-over: period 2 opens with 25 but period 1 closed with 20
    assert got == {
        ("balance", 1, "mill", "flour"): 10.0,
        ("balance", 1, "bakery", "flour"): 5.0,
        ("balance", 2, "mill", "flour"): 25.0,
        ("carry-over", 2, "mill", "flour"): 5.0,
    }


def test_inputs_against_technical_coefficients() -> None:
    coef = pa.table(
        {"workplace": ["mill", "bakery"], "product": ["flour", "bread"], "input": ["grain", "flour"],
         "per_unit": [1.25, 0.7]}
    )
    c = reconcile(reports(CHAIN), coef).coefficients.to_pylist()
    # mill: 1.25 x 100 flour = 125 grain expected, 130 used; bakery: 0.7 x 100 = 70, as used
    assert c == [{"period": 1, "workplace": "mill", "input": "grain", "used": 130.0, "expected": 125.0,
                  "difference": 5.0, "relative": pytest.approx(0.04)}]


def test_a_consistent_set_of_reports_has_no_mismatch() -> None:
    rows = [
        ("opening", 1, "a", "x", "", "", 5, "", None),
        ("output", 1, "a", "x", "", "", 10, "", None),
        ("delivery", 1, "a", "x", "", "", 12, "b", None),
        ("closing", 1, "a", "x", "", "", 3, "", None),
        ("receipt", 1, "b", "x", "", "", 12, "a", None),
        ("input", 1, "b", "x", "", "", 11, "", None),
        ("loss", 1, "b", "x", "", "", 1, "", None),
    ]
    r = reconcile(reports(rows))
    assert r.count == 0
    assert "shipments: 0 mismatches" in r.summary()


def test_fulfilment_in_use_value_beside_gross_indicators() -> None:
    rows = [
        ("output", 1, "mill", "flour", "", "A", 100, "", None),
        ("output", 1, "mill", "flour", "", "B", 20, "", None),
        ("delivery", 1, "mill", "flour", "", "", 120, "bakery", None),
        ("receipt", 1, "bakery", "flour", "", "", 60, "mill", None),
        ("receipt", 1, "cafe", "flour", "", "", 40, "mill", None),
        ("rating", 1, "bakery", "flour", "", "", None, "mill", 0.5),
        ("output", 1, "mill", "bran", "", "", 50, "", None),
    ]
    targets = pa.table({"period": [1, 1], "workplace": ["mill", "mill"], "product": ["flour", "bran"],
                        "quantity": [100.0, 10.0], "quality": [1.0, 1.0], "price": [2.0, 1.0]})
    f = fulfilment(reports(rows), targets)
    by = {x["product"]: x for x in f.by_product.to_pylist()}
    # flour: 120 made of 100 planned; confirmed 60 rated 0.5 and 40 unrated (planned quality): 70 use value
    assert by["flour"]["gross"] == pytest.approx(1.2)
    assert by["flour"]["use_value"] == pytest.approx(70.0)
    assert by["flour"]["use"] == pytest.approx(0.7)
    assert by["flour"]["quality_rated"] == pytest.approx(0.5)
    # bran: five times the plan by weight, nobody confirmed receiving any
    assert by["bran"]["gross"] == pytest.approx(5.0) and by["bran"]["use"] == 0.0
    (w,) = f.by_workplace.to_pylist()
    assert w["gross_weight"] == pytest.approx(170 / 110)
    assert w["gross_value"] == pytest.approx((120 * 2 + 50) / (100 * 2 + 10))
    assert w["use"] == pytest.approx(70 * 2 / (100 * 2 + 10))


def test_the_migration_creates_exactly_the_tables(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from glasnost.control import tables
    from glasnost.control.store import open_database

    db = open_database(str(tmp_path / "m.sqlite"))
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables.Base.metadata)
    control = [d for d in diff if "control_" in repr(d)]
    assert control == []
    with db.engine.connect() as conn:
        heads = {r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}
    assert "ctl0003" in heads  # the control branch is at its newest revision
    db.dispose()


def test_targets_and_coefficients_from_a_plan() -> None:
    import numpy as np

    from glasnost.compute import optimal_plan
    from glasnost.control.planfiles import plan_for_control
    from glasnost.control.reconcile import coefficient_check
    from glasnost.data.demo import demo_economy

    economy = demo_economy()
    plan = optimal_plan(economy, "scale")
    targets, coef = plan_for_control(economy, plan.activity, period=2, prices=plan.prices)
    proc = economy.processes
    outputs, inputs = proc.outputs.toarray(), proc.inputs.toarray()
    ids = [str(x) for x in economy.commodities.ids]
    # by hand, process by process
    want: dict[tuple[str, str], float] = {}
    for p in range(len(proc)):
        for c in np.flatnonzero(outputs[p]):
            key = (str(proc.workplaces[p]), ids[c])
            want[key] = want.get(key, 0.0) + plan.activity[p] * outputs[p, c]
    got = {(r["workplace"], r["product"]): r["quantity"] for r in targets.to_pylist()}
    assert got.keys() == {k for k, v in want.items() if v > 0}
    for k, v in got.items():
        assert v == pytest.approx(want[k], rel=1e-12)
    # a workplace with one single-output process: its coefficients are that process's inputs per unit
    p = next(p for p in range(len(proc)) if plan.activity[p] > 0 and np.count_nonzero(outputs[p]) == 1
             and sum(str(w) == str(proc.workplaces[p]) for w in proc.workplaces) == 1)
    (c,) = np.flatnonzero(outputs[p])
    mine = {r["input"]: r["per_unit"] for r in coef.to_pylist() if r["workplace"] == str(proc.workplaces[p])}
    assert mine == pytest.approx({ids[i]: inputs[p, i] / outputs[p, c] for i in np.flatnonzero(inputs[p])})
    # reports exactly as planned reconcile with the coefficients; one input 10% over is the one mismatch
    wp = str(proc.workplaces[p])
    made = got[(wp, ids[c])]
    rows = [("output", 2, wp, ids[c], "", "", made, "", None)]
    rows += [("input", 2, wp, i, "", "", per * made, "", None) for i, per in mine.items()]
    first = rows[1]
    assert coefficient_check(reports(rows), coef).num_rows == 0
    rows[1] = (*first[:6], first[6] * 1.1, *first[7:])
    (m,) = coefficient_check(reports(rows), coef).to_pylist()
    assert m["input"] == first[3] and m["relative"] == pytest.approx(0.1)


def test_reconciliation_agrees_with_a_plain_loop() -> None:
    """Random reports: shipments and balances by dictionaries, line by line, give the same mismatches."""
    import numpy as np

    from glasnost.control.reconcile import material_balance, shipment_check

    rng = np.random.default_rng(11)
    wps, prods = ["a", "b", "c", "d"], ["x", "y"]
    kinds = ["output", "input", "opening", "closing", "loss", "delivery", "receipt"]
    seen, rows = set(), []
    for _ in range(300):
        k, p, w, g = rng.choice(kinds), int(rng.integers(0, 3)), rng.choice(wps), rng.choice(prods)
        cp = rng.choice([v for v in wps if v != w]) if k in ("delivery", "receipt") else ""
        key = (k, p, w, g, cp)
        if key in seen:
            continue
        seen.add(key)
        rows.append((str(k), p, str(w), str(g), "", "", float(rng.integers(0, 20)), str(cp), None))
    rep = reports(rows)
    ship: dict[tuple, list[float]] = {}
    bal: dict[tuple, float] = {}
    sign = {"output": 1, "opening": 1, "receipt": 1, "input": -1, "closing": -1, "loss": -1, "delivery": -1}
    for k, p, w, g, _v, _gr, q, cp, _r in rows:
        if k == "delivery":
            ship.setdefault((p, w, cp, g), [0.0, 0.0])[0] += q
        if k == "receipt":
            ship.setdefault((p, cp, w, g), [0.0, 0.0])[1] += q
        bal[(p, w, g)] = bal.get((p, w, g), 0.0) + sign[k] * q
    want_ship = {k: v[0] - v[1] for k, v in ship.items() if v[0] != v[1]}
    got_ship = {(r["period"], r["supplier"], r["receiver"], r["product"]): r["difference"]
                for r in shipment_check(rep).to_pylist()}
    assert got_ship == want_ship
    want_bal = {k: v for k, v in bal.items() if v != 0}
    got_bal = {(r["period"], r["workplace"], r["product"]): r["difference"]
               for r in material_balance(rep).to_pylist() if r["check"] == "balance"}
    assert got_bal == pytest.approx(want_bal)


def test_latency_alert_when_capability_falls_behind_potentiality() -> None:
    # Beer's latency = capability / potentiality; one of forty workplaces lets a third of its
    # potential capacity go unbuilt in the last two periods (its capability steps down by log(2/3));
    # alerts look at the latest periods, as they run each period
    import numpy as np
    import pyarrow as pa

    from glasnost.control.alerts import find_anomalies
    from glasnost.control.reports import reports_from_table

    rng = np.random.default_rng(4)
    periods, shops = 12, 40
    p = np.repeat(np.arange(periods), shops)
    w = np.tile(np.array([f"w{i:02d}" for i in range(shops)]), periods)
    potential = np.full(p.size, 100.0)
    capability = 90.0 * np.exp(0.01 * rng.standard_normal(p.size))
    capability[(w == "w07") & (p >= periods - 2)] *= 2 / 3
    lines = {
        "kind": ["potential"] * p.size + ["capacity"] * p.size,
        "period": np.concatenate([p, p]),
        "workplace": np.concatenate([w, w]),
        "product": ["steel"] * (2 * p.size),
        "quantity": np.concatenate([potential, capability]),
    }
    found = [f for f in find_anomalies(reports_from_table(pa.table(lines))) if f.indicator == "latency"]
    assert {f.workplace for f in found} == {"w07"}
    assert found[0].change == pytest.approx(np.log(2 / 3), abs=0.05)
