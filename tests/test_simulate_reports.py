"""workplace_reports: the interface implementation control reads (columns, behaviour, seeds)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from glasnost.simulate import SimulationError, workplace_reports

COLUMNS = {
    "period": pa.int32(),
    "workplace": pa.string(),
    "product": pa.string(),
    "receiver": pa.string(),
    "output_true": pa.float64(),
    "output_reported": pa.float64(),
    "shipped_reported": pa.float64(),
    "received_reported": pa.float64(),
    "capacity_true": pa.float64(),
    "capacity_reported": pa.float64(),
    "quality": pa.float64(),
    "cheat": pa.string(),
    "cheat_start": pa.int32(),
}


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return workplace_reports("command", n_workplaces=300, periods=12, seed=3)


def test_columns_and_types(table: pa.Table) -> None:
    for name, kind in COLUMNS.items():
        assert table.schema.field(name).type == kind, name
    assert table.num_rows == 300 * 12 * 3
    q = table["quality"].to_numpy()
    assert ((q >= 0) & (q <= 1)).all()
    assert set(table["cheat"].to_pylist()) == {"honest", "inflate", "hide_capacity"}


def test_inflators_report_ten_percent_more_from_their_start_and_receivers_confirm_the_truth(table: pa.Table) -> None:
    d = table.to_pandas()
    cheats = d[(d.cheat == "inflate") & (d.period >= d.cheat_start)]
    before = d[(d.cheat == "inflate") & (d.period < d.cheat_start)]
    ratio = cheats.output_reported / cheats.output_true
    assert abs(ratio.mean() - 1.10) < 0.005  # inflation 0.10, noise sd 1%
    assert abs((cheats.shipped_reported / cheats.received_reported).mean() - 1.10) < 0.005
    assert abs((before.output_reported / before.output_true).mean() - 1.0) < 0.005
    honest = d[d.cheat == "honest"]
    r = honest.output_reported / honest.output_true
    assert abs(r.mean() - 1.0) < 0.002 and 0.007 < r.std() < 0.013  # noise sd 0.01
    assert (d[d.cheat == "honest"].cheat_start == -1).all()


def test_hidden_capacity_follows_the_ratchet_condition() -> None:
    d = workplace_reports("command", n_workplaces=300, periods=12, seed=3, noise=0.0).to_pandas()
    hid = d[(d.cheat == "hide_capacity") & (d.period >= d.cheat_start)]
    assert (hid.capacity_reported <= hid.capacity_true).all()
    first = hid[hid.period == hid.cheat_start]
    assert (first.capacity_reported < first.capacity_true).all()
    honest = d[d.cheat == "honest"]
    assert np.allclose(honest.output_reported, honest.output_true)
    assert np.allclose(honest.capacity_reported, honest.capacity_true)
    # lambda beta / (1 - beta) > 1 needs beta > 1 / (1 + lambda): no ratchet, nobody hides
    none = workplace_reports("command", n_workplaces=300, periods=12, seed=3, ratchet=0.0).to_pandas()
    assert "hide_capacity" not in set(none.cheat)
    assert set(workplace_reports("market", n_workplaces=100, periods=4).to_pandas().cheat) == {"honest"}


def test_open_books_reduce_hiding_and_seeds_repeat() -> None:
    cmd = workplace_reports("command", n_workplaces=400, periods=6, seed=1).to_pandas()
    dem = workplace_reports("democratic", n_workplaces=400, periods=6, seed=1).to_pandas()
    hides = lambda d: d[d.cheat == "hide_capacity"].workplace.nunique()  # noqa: E731
    assert hides(dem) < hides(cmd)
    again = workplace_reports("command", n_workplaces=400, periods=6, seed=1).to_pandas()
    assert again.equals(cmd)


def test_bad_input_is_named() -> None:
    with pytest.raises(SimulationError, match="unknown parameter 'inflaton'"):
        workplace_reports(inflaton=0.2)
    with pytest.raises(SimulationError, match="unknown regime"):
        workplace_reports("feudal")
