"""Cyberstride: the Harrison-Stevens filter against closed forms and planted changes; Beer's indices;
Benford's law against hand-computed statistics; the detector on a table built here and on the simulator."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from glasnost.control.benford import BENFORD, benford_test, first_digits
from glasnost.control.cyberstride import MultiStateModel, beer_indices, multi_state_filter, robust_scale
from glasnost.control.detect import evaluate, fit_noise, hs_scores, indicator_panel, threshold_for


def local_level_kalman(y: np.ndarray, v: float, w: float) -> tuple[np.ndarray, np.ndarray]:
    """Scalar local-level Kalman filter written out by hand: level starts at y0 with variance v."""
    m, p = y[0], v
    levels, fc = [m], [np.nan]
    for obs in y[1:]:
        pp = p + w
        fc.append(m)
        k = pp / (pp + v)
        m = m + k * (obs - m)
        p = (1 - k) * pp
        levels.append(m)
    return np.array(levels), np.array(fc)


def test_steady_state_alone_is_the_local_level_kalman_filter() -> None:
    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(0, 0.5, 60)) + rng.normal(0, 2.0, 60)
    sigma = 2.0
    q = 0.0625  # level variance 0.25 = q sigma^2
    model = MultiStateModel(v_gamma=(q, 1.0, 100.0, 1.0), prior=(1.0, 0.0, 0.0, 0.0))
    res = multi_state_filter(y[None, :], sigma, model)
    levels, fc = local_level_kalman(y, sigma**2, q * sigma**2)
    np.testing.assert_allclose(res.level[0], levels, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.forecast[0, 1:], fc[1:], atol=1e-12)
    np.testing.assert_allclose(res.probability[0, :, 0], 1.0)


def test_steady_state_with_a_slope_is_the_linear_growth_kalman_filter() -> None:
    rng = np.random.default_rng(4)
    y = 0.3 * np.arange(40) + rng.normal(0, 1, 40)
    model = MultiStateModel(v_gamma=(0.1, 1, 100, 1), v_delta=(0.01, 0, 0, 1), prior=(1, 0, 0, 0))
    res = multi_state_filter(y[None, :], 1.0, model, initial_slope_var=1.0)
    # the same filter in matrix form, by hand
    F = np.array([[1.0, 1.0], [0.0, 1.0]])
    W = np.array([[0.11, 0.01], [0.01, 0.01]])
    x, P = np.array([y[0], 0.0]), np.diag([1.0, 1.0])
    for t in range(1, 40):
        x, P = F @ x, F @ P @ F.T + W
        s = P[0, 0] + 1.0
        k = P[:, 0] / s
        x = x + k * (y[t] - x[0])
        P = P - np.outer(k, P[0, :])
        assert res.level[0, t] == pytest.approx(x[0], abs=1e-10)
        assert res.slope[0, t] == pytest.approx(x[1], abs=1e-10)
    assert res.slope[0, -1] == pytest.approx(0.3, abs=0.1)


def test_a_planted_step_is_a_step_and_an_outlier_is_not() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(0, 1, (3, 80))
    y[0, 40:] += 6.0  # step
    y[1, 40] += 8.0  # outlier
    res = multi_state_filter(y)
    change = res.change()
    assert change[0, 40] > 0.9  # judged one period later: a lasting change
    assert change[0, :39].max() < 0.2 and change[0, 42:].max() < 0.2
    assert res.probability[1, 40, 1] > 0.4  # an outlier at once ...
    assert change[1].max() < 0.2  # ... and not a change once the next value is back
    assert change[2].max() < 0.2  # pure noise
    assert res.level[0, -1] == pytest.approx(6.0, abs=0.6)


def test_missing_values_are_predicted_over() -> None:
    y = np.array([[1.0, 1.1, np.nan, 0.9, 1.0, np.nan, np.nan, 1.05]])
    res = multi_state_filter(y, 0.1)
    assert np.isnan(res.error[0, 2]) and not np.isnan(res.level[0, 2])
    assert np.allclose(res.probability.sum(axis=2), 1.0)


def test_robust_scale_of_white_noise() -> None:
    y = np.random.default_rng(6).normal(0, 3.0, (1, 20000))
    assert robust_scale(y)[0] == pytest.approx(3.0, rel=0.03)


def test_beer_indices() -> None:
    ind = beer_indices(np.array([60.0, 0.0]), np.array([80.0, 10.0]), np.array([100.0, 0.0]))
    assert ind["productivity"][0] == 0.75 and ind["latency"][0] == 0.8
    assert ind["performance"][0] == pytest.approx(0.75 * 0.8)
    assert np.isnan(ind["latency"][1])


def test_benford_statistics_by_hand() -> None:
    assert list(first_digits(np.array([1, 19, 0.0042, 987.0, 0, -5, np.inf]))) == [1, 1, 4, 9, 0, 0, 0]
    counts = np.array([30, 18, 12, 10, 8, 7, 6, 5, 4])
    values = np.repeat(np.arange(1, 10), counts).astype(float)
    res = benford_test(values)
    n = counts.sum()
    exp = np.log10(1 + 1 / np.arange(1, 10)) * n
    assert res.chi2 == pytest.approx(((counts - exp) ** 2 / exp).sum())
    assert res.p_value == pytest.approx(stats.chisquare(counts, exp).pvalue)
    assert res.mad == pytest.approx(np.mean(np.abs(counts / n - BENFORD)))


def test_benford_conforming_and_made_up_figures() -> None:
    rng = np.random.default_rng(7)
    conforming = 10 ** rng.uniform(0, 6, 20000)  # log-uniform over six decades: Benford exactly
    assert benford_test(conforming).conformity == "close conformity"
    assert not benford_test(conforming).audit
    made_up = rng.integers(100, 1000, 20000)  # uniform three-digit numbers: each first digit 1/9
    res = benford_test(made_up)
    assert res.audit and res.conformity == "nonconformity"
    assert res.mad == pytest.approx(np.mean(np.abs(1 / 9 - BENFORD)), abs=0.003)
    assert "reason to audit (not proof" in res.summary()
    with pytest.raises(ValueError, match="at least 10"):
        benford_test(np.array([1.0, 2.0]))


def small_reports(n: int, periods: int, seed: int) -> pa.Table:
    """A table in the simulator's schema: every 5th workplace inflates output and shipments by 10% from period 6."""
    rng = np.random.default_rng(seed)
    p, w, k = np.meshgrid(np.arange(periods), np.arange(n), np.arange(2), indexing="ij")
    p, w, k = p.ravel(), w.ravel(), k.ravel()
    cheat = (w % 5 == 0)
    start = np.where(cheat, 6, -1)
    cap = 100.0 * (1.0 + 0.5 * (w % 7))
    true = cap * 0.95
    pad = np.where(cheat & (p >= 6), 1.1, 1.0)
    noise = lambda: 1 + rng.normal(0, 0.01, p.size)  # noqa: E731
    return pa.table(
        {
            "period": p, "workplace": [f"w{i}" for i in w], "receiver": [f"r{i}" for i in k],
            "output_reported": true * pad * noise(), "shipped_reported": true / 2 * pad * noise(),
            "received_reported": true / 2 * noise(), "capacity_reported": cap * noise(),
            "cheat": np.where(cheat, "inflate", "honest"), "cheat_start": start,
        }
    )


def test_detector_on_a_table_built_here() -> None:
    cal, test = indicator_panel(small_reports(300, 12, 1)), indicator_panel(small_reports(300, 12, 2))
    assert cal.values["gap"].shape == (300, 12)
    sigma, _q = fit_noise(cal.values["gap"])
    # each sum over two receivers has noise 1% / sqrt(2); the log of their ratio, sqrt(2) times that
    assert sigma == pytest.approx(0.01, rel=0.25)
    th = threshold_for(hs_scores(cal.values["gap"]), cal.cheat == "honest", 0.01)
    ev = evaluate(hs_scores(test.values["gap"]), test, th)
    assert ev.cheaters == 60 and ev.honest == 240
    assert ev.detection >= 0.95
    assert ev.false_alarm_periods <= 0.02


def test_detector_on_the_regime_simulator() -> None:
    from glasnost.simulate.reports import workplace_reports

    cal = indicator_panel(workplace_reports("command", 600, 14, seed=11))
    test = indicator_panel(workplace_reports("command", 600, 14, seed=12))
    th = threshold_for(hs_scores(cal.values["gap"]), cal.cheat == "honest", 0.0075)
    ev = evaluate(hs_scores(test.values["gap"]), test, th)
    assert ev.cheaters > 20
    assert ev.detection >= 0.95 and ev.false_alarm_periods <= 0.015
    # one side only, the output history: padding that makes up a shortfall hides in it
    th_out = threshold_for(hs_scores(cal.values["output"]), cal.cheat == "honest", 0.0075)
    assert evaluate(hs_scores(test.values["output"]), test, th_out).detection < 0.5


def _path_loglik(y: np.ndarray, states: tuple[int, ...], model: MultiStateModel, sigma: float) -> float:
    """Exact log-likelihood of y[1:] given y[0] along one path of states: one Kalman filter, by hand."""
    s2 = sigma**2
    W = model.disturbance() * s2
    F = np.array([[1.0, 1.0], [0.0, 1.0]])
    x, P = np.array([y[0], 0.0]), np.diag([s2, 0.0])
    ll = 0.0
    for t, s in zip(range(1, len(y)), states, strict=True):
        x, P = F @ x, F @ P @ F.T + W[s]
        S = P[0, 0] + model.v_eps[s] * s2
        e = y[t] - x[0]
        ll += -0.5 * (np.log(2 * np.pi * S) + e * e / S)
        k = P[:, 0] / S
        x, P = x + k * e, P - np.outer(k, P[0, :])
    return ll


def test_the_mixture_matches_brute_force_over_every_path() -> None:
    """Two updates from one start: 16 paths, each its own Kalman filter; the collapse is exact here."""
    model = MultiStateModel()
    y = np.array([0.0, 0.4, 3.1])
    prior = np.log(np.asarray(model.prior))
    logp = np.array([[prior[i] + prior[j] + _path_loglik(y, (i, j), model, 1.0) for j in range(4)]
                     for i in range(4)])
    post = np.exp(logp - logp.max())
    post /= post.sum()
    res = multi_state_filter(y[None, :], 1.0, model)
    np.testing.assert_allclose(res.probability[0, 2], post.sum(axis=0), rtol=1e-10)  # state at t=2
    np.testing.assert_allclose(res.previous[0, 2], post.sum(axis=1), rtol=1e-10)  # state at t=1, judged at t=2
    # and at t=1 alone (4 paths)
    lp1 = np.array([prior[i] + _path_loglik(y[:2], (i,), model, 1.0) for i in range(4)])
    p1 = np.exp(lp1 - lp1.max())
    np.testing.assert_allclose(res.probability[0, 1], p1 / p1.sum(), rtol=1e-10)


def test_many_series_at_once_equal_each_alone() -> None:
    rng = np.random.default_rng(8)
    y = rng.normal(0, 1, (5, 30)).cumsum(axis=1)
    y[2, 10:] += 5
    y[3, [4, 17]] = np.nan
    sigma = np.array([1.0, 0.5, 2.0, 1.5, 1.0])
    together = multi_state_filter(y, sigma)
    for k in range(5):
        alone = multi_state_filter(y[k : k + 1], sigma[k])
        np.testing.assert_allclose(together.probability[k], alone.probability[0], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(together.level[k], alone.level[0], rtol=1e-12)


def test_the_two_period_gap_cancels_late_bookings_not_padding() -> None:
    from glasnost.simulate.reports import workplace_reports

    # no noise, no late bookings: a padder's two-period gap is log 1.1 from the period after it starts
    clean = indicator_panel(workplace_reports("command", 400, 10, seed=2, noise=0.0))
    padders = np.flatnonzero((clean.cheat == "inflate") & (clean.cheat_start >= 0) & (clean.cheat_start < 8))
    assert padders.size > 5
    for w in padders:
        after = clean.values["gap2"][w, clean.cheat_start[w] + 1 :]
        np.testing.assert_allclose(after, np.log(1.1), atol=1e-12)
    honest = clean.cheat == "honest"
    np.testing.assert_allclose(clean.values["gap2"][honest], 0.0, atol=1e-12)
    # late bookings: what one period lacks the next has, so over two periods most of it cancels
    late = indicator_panel(workplace_reports("command", 400, 10, seed=2, noise=0.0, timing_mismatch=0.05))
    spread = {k: np.nanstd(late.values[k][late.cheat == "honest"][:, 2:]) for k in ("gap", "gap2")}
    assert spread["gap2"] < 0.75 * spread["gap"]
