"""workplace_reports' honest variation: utilisation below capacity, transit losses, late bookings and
receivers colluding with padding suppliers; each checked against the distribution it is drawn from."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glasnost.simulate import SimulationError, workplace_reports

N, T = 400, 10


def _frame(**params: float):  # a pandas DataFrame
    return workplace_reports("command", n_workplaces=N, periods=T, seed=7, noise=0.0, **params).to_pandas()


def test_the_options_off_leave_the_table_as_it_was() -> None:
    plain = workplace_reports("command", n_workplaces=200, periods=8, seed=4)
    zeros = workplace_reports("command", n_workplaces=200, periods=8, seed=4, utilisation_sd=0.0, transit_loss=0.0,
                              timing_mismatch=0.0, collusion=0.0)
    assert plain.equals(zeros)


def test_honest_utilisation_is_half_normal_below_capacity() -> None:
    sd = 0.05
    d = _frame(utilisation_sd=sd)
    honest = d[d.cheat == "honest"].drop_duplicates(["period", "workplace"])
    use = honest.output_true / honest.capacity_true
    assert (use <= 1.0).all() and (use > 0.5).all()
    assert np.allclose(honest.capacity_reported, honest.capacity_true)  # capacity is reported as before
    # -log(use) = |e|, e ~ N(0, sd): a half-normal, mean sd sqrt(2/pi), sd sd sqrt(1 - 2/pi)
    shortfall = -np.log(use)
    n = len(shortfall)
    assert abs(shortfall.mean() - sd * math.sqrt(2 / math.pi)) < 4 * sd * math.sqrt(1 - 2 / math.pi) / math.sqrt(n)
    padded = d[(d.cheat == "inflate") & (d.period >= d.cheat_start)]
    assert (padded.output_reported < padded.capacity_reported).any()  # padding can hide under reported capacity


def test_transit_losses_follow_their_exponential() -> None:
    loss = 0.02
    d = _frame(transit_loss=loss)
    honest = d[d.cheat == "honest"]
    lost = 1.0 - honest.received_reported / honest.shipped_reported
    assert (lost >= 0).all() and (lost <= 0.9).all()
    # min(loss X, 0.9) with X ~ Exp(1): mean loss (1 - exp(-0.9 / loss)), s.d. about loss
    expected = loss * (1 - math.exp(-0.9 / loss))
    assert abs(lost.mean() - expected) < 4 * loss / math.sqrt(len(lost))
    assert np.allclose(honest.shipped_reported, honest.shipped_true)  # suppliers report what they shipped


def test_late_bookings_move_deliveries_to_the_next_period() -> None:
    m = 0.1
    d = _frame(timing_mismatch=m)
    honest = d[d.cheat == "honest"]
    # period 0 books what arrived less what is still on its way: min(m X, 1) with X ~ Exp(1)
    first = honest[honest.period == 0]
    late = 1.0 - first.received_reported / first.shipped_true
    assert abs(late.mean() - m * (1 - math.exp(-1 / m))) < 4 * m / math.sqrt(len(late))
    # over the whole table receivers book what was shipped, less what was on its way at the end
    shipped, booked = honest.shipped_true.sum(), honest.received_reported.sum()
    last = honest[honest.period == T - 1].shipped_true.sum()
    assert shipped - last <= booked <= shipped * (1 + 1e-12)
    later = honest[honest.period >= 1]
    assert (later.received_reported > later.shipped_true).any()  # last period's late part arrives on top


def test_colluding_receivers_confirm_the_padded_claim() -> None:
    d = _frame(collusion=1.0)
    padded = d[(d.cheat == "inflate") & (d.period >= d.cheat_start)]
    assert len(padded) > 0
    assert np.allclose(padded.received_reported, padded.shipped_reported)  # no gap left
    half = _frame(collusion=0.5)
    half["slot"] = half.groupby(["period", "workplace"]).cumcount()  # rows are (period, workplace, receiver slot)
    padded = half[(half.cheat == "inflate") & (half.period >= half.cheat_start)]
    same = np.isclose(padded.received_reported, padded.shipped_reported)
    confirmed = padded.assign(same=same).groupby(["workplace", "slot"]).same.agg(["all", "any"])
    assert (confirmed["all"] == confirmed["any"]).all()  # a pair colludes in every period or in none
    confirmed = confirmed["all"]
    assert abs(confirmed.mean() - 0.5) < 4 * math.sqrt(0.25 / len(confirmed))
    before = half[(half.cheat == "inflate") & (half.period < half.cheat_start)]
    assert np.allclose(before.received_reported, before.shipped_true)  # no padding yet: nothing to collude on


@pytest.mark.parametrize(("name", "value"), [("utilisation_sd", -0.1), ("transit_loss", 1.0),
                                             ("timing_mismatch", 1.5), ("collusion", -0.2)])
def test_bad_options_are_named(name: str, value: float) -> None:
    with pytest.raises(SimulationError, match=name):
        workplace_reports(**{name: value})
