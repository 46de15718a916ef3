"""Detecting falsified reports: indicators per workplace, the Cyberstride detector and its peers.

Works on a table of reports with the columns of :func:`glasnost.simulate.reports.workplace_reports`
(one row per period, workplace and receiver): ``period``, ``workplace``, ``output_reported``,
``shipped_reported``, ``received_reported``, ``capacity_reported`` (and, for evaluation only,
``cheat`` and ``cheat_start``). The detectors see reported figures only.

Indicators (one series per workplace, log scale so a 10% change is a step of log 1.1 ~ 0.095):

* ``gap`` (needs both sides): log of what the workplace says it shipped over what its receivers
  confirm they got, summed over receivers;
* ``gap2`` (needs both sides): the same over the period and the one before, so that a delivery
  booked by its receiver a period after it was shipped cancels out (padding does not);
* ``output`` (supplier only): log of its reported output;
* ``productivity`` (supplier only): Beer's actuality / capability, log of reported output over
  reported capacity; above 0 means it claims more than it says it could make;
* ``received`` (receivers only): log of what its receivers confirm, summed.

Detectors: the Harrison-Stevens multi-state filter (:mod:`glasnost.control.cyberstride`) with
noise fitted to the panel, and as peers a plain z-score of the latest value against the
workplace's own history and a two-sided CUSUM (Page 1954) on standardised first differences.
Each gives a score per workplace and period computed from values up to that period only; an alarm
is a score above a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from glasnost.control.cyberstride import MultiStateModel, multi_state_filter

__all__ = [
    "INDICATORS",
    "Panel",
    "cusum_scores",
    "evaluate",
    "fit_noise",
    "hs_scores",
    "indicator_panel",
    "threshold_for",
    "zscore_scores",
]

INDICATORS = ("gap", "gap2", "output", "productivity", "received")


@dataclass(frozen=True)
class Panel:
    """Indicator series: ``values[indicator]`` has shape (workplaces, periods).

    ``cheat`` and ``cheat_start`` are the truth from a simulation (for evaluation), if known.
    """

    workplaces: np.ndarray
    periods: np.ndarray
    values: dict[str, np.ndarray]
    cheat: np.ndarray | None = None
    cheat_start: np.ndarray | None = None


def _grid(table: pa.Table, column: str, w_idx: np.ndarray, p_idx: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape)
    np.add.at(out, (w_idx, p_idx), table[column].to_numpy(zero_copy_only=False).astype(float))
    return out


def indicator_panel(table: pa.Table) -> Panel:
    """Per-workplace indicator series from report rows (see the module)."""
    w_enc = pc.dictionary_encode(table["workplace"].combine_chunks())
    w_idx = w_enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    workplaces = np.asarray(w_enc.dictionary.to_pylist(), dtype=object)
    periods, p_idx = np.unique(table["period"].to_numpy(zero_copy_only=False), return_inverse=True)
    shape = (workplaces.size, periods.size)
    count = np.zeros(shape)
    np.add.at(count, (w_idx, p_idx), 1.0)
    shipped = _grid(table, "shipped_reported", w_idx, p_idx, shape)
    received = _grid(table, "received_reported", w_idx, p_idx, shape)
    # output and capacity repeat on every receiver row of a period: take their mean
    output = _grid(table, "output_reported", w_idx, p_idx, shape) / np.maximum(count, 1)
    capacity = _grid(table, "capacity_reported", w_idx, p_idx, shape) / np.maximum(count, 1)
    def two(x: np.ndarray) -> np.ndarray:  # this period and the one before
        out = x.copy()
        out[:, 1:] += x[:, :-1]
        return out

    with np.errstate(divide="ignore", invalid="ignore"):
        values = {
            "gap": np.log(shipped / received),
            "gap2": np.log(two(shipped) / two(received)),
            "output": np.log(output),
            "productivity": np.log(output / capacity),
            "received": np.log(received),
        }
    for v in values.values():
        v[~np.isfinite(v) | (count == 0)] = np.nan
    cheat = start = None
    if "cheat" in table.column_names:
        first = np.zeros(workplaces.size, np.int64)
        first[w_idx[::-1]] = np.arange(table.num_rows)[::-1]
        cheat = np.asarray(table["cheat"].to_numpy(zero_copy_only=False), dtype=object)[first]
        start = table["cheat_start"].to_numpy(zero_copy_only=False).astype(np.int64)[first]
    return Panel(workplaces, periods, values, cheat, start)


def fit_noise(y: np.ndarray, *, min_sigma: float = 1e-4) -> tuple[float, float]:
    """Observation noise s.d. and level-drift variance ratio of a panel of series (method of moments).

    For ``y = level + eps`` with a random-walk level (increments of variance ``q sigma^2``), first
    differences have variance ``(2 + q) sigma^2`` and lag-one autocovariance ``-sigma^2``. Both are
    estimated over the whole panel with values beyond 5 robust s.d. clipped, so a few steps do not
    move them. ``sigma`` is at least ``min_sigma`` (for log indicators, 0.01%: differences below that
    are rounding, not news). Returns ``(sigma, q)``.
    """
    d = np.diff(y, axis=1)
    flat = d[np.isfinite(d)]
    med = np.median(flat)
    scale = 1.4826 * np.median(np.abs(flat - med)) or 1e-12
    dc = np.clip(d - med, -5 * scale, 5 * scale)
    var = np.nanmean(dc**2)
    cov1 = np.nanmean(dc[:, 1:] * dc[:, :-1])
    s2 = max(-cov1, var / 50.0, min_sigma**2)
    q = max(var / s2 - 2.0, 0.0)
    return float(np.sqrt(s2)), float(q)


def hs_model(q: float) -> MultiStateModel:
    """The multi-state model for a panel whose level drifts with variance ratio ``q`` (steady state)."""
    jump = max(100.0, 25.0 * q)
    return MultiStateModel(
        v_eps=(1.0, 100.0, 1.0, 1.0),
        v_gamma=(q + 1e-3, q + 1e-3, q + jump, q + 1e-3),
        v_delta=(0.0, 0.0, 0.0, 1.0 + q),
        prior=(0.94, 0.02, 0.02, 0.02),
    )


def hs_scores(y: np.ndarray) -> np.ndarray:
    """Harrison-Stevens score per workplace and period: the probability, at that period, that the
    level changed (step or slope) in that period or the one before (values up to that period only)."""
    sigma, q = fit_noise(y)
    res = multi_state_filter(y, sigma, hs_model(q))
    now = res.probability[..., 2] + res.probability[..., 3]
    before = res.previous[..., 2] + res.previous[..., 3]
    return np.nan_to_num(np.maximum(now, before))


def zscore_scores(y: np.ndarray, *, window: int = 6) -> np.ndarray:
    """|y_t - mean| / s.d. over the workplace's previous ``window`` values (at least 3 needed)."""
    n, t_len = y.shape
    out = np.zeros((n, t_len))
    for t in range(3, t_len):  # loop over periods; vectorised over workplaces
        past = y[:, max(0, t - window) : t]
        mu, sd = np.nanmean(past, axis=1), np.nanstd(past, axis=1, ddof=1)
        out[:, t] = np.abs(y[:, t] - mu) / np.maximum(sd, 1e-12)
    return np.nan_to_num(out)


def cusum_scores(y: np.ndarray, *, drift: float = 0.5) -> np.ndarray:
    """Two-sided CUSUM of first differences standardised by the panel's robust scale (max of both sides)."""
    d = np.diff(y, axis=1)
    flat = d[np.isfinite(d)]
    med = np.median(flat)
    scale = 1.4826 * np.median(np.abs(flat - med)) or 1e-12
    z = np.nan_to_num((d - med) / scale)
    n, t_len = y.shape
    hi = np.zeros(n)
    lo = np.zeros(n)
    out = np.zeros((n, t_len))
    for t in range(1, t_len):
        hi = np.maximum(0.0, hi + z[:, t - 1] - drift)
        lo = np.maximum(0.0, lo - z[:, t - 1] - drift)
        out[:, t] = np.maximum(hi, lo)
    return out


def threshold_for(scores: np.ndarray, honest: np.ndarray, false_alarm: float, *, skip: int = 3) -> float:
    """The smallest threshold at which at most ``false_alarm`` of honest workplace-periods alarm."""
    s = scores[honest][:, skip:].ravel()
    return float(np.quantile(s, 1.0 - false_alarm, method="higher")) + 1e-12


@dataclass(frozen=True)
class Evaluation:
    """Detection within ``within`` periods of cheating, and false alarms on honest workplaces."""

    detection: float
    false_alarm_periods: float
    false_alarm_workplaces: float
    cheaters: int
    honest: int
    threshold: float


def evaluate(
    scores: np.ndarray, panel: Panel, threshold: float, *, kind: str = "inflate", within: int = 3, skip: int = 3
) -> Evaluation:
    """Rate of ``kind`` cheaters alarmed in periods ``cheat_start .. cheat_start + within - 1``, and
    the share of honest workplace-periods (from period ``skip`` on) and honest workplaces alarmed."""
    if panel.cheat is None or panel.cheat_start is None:
        raise ValueError("evaluation needs the truth (cheat, cheat_start columns)")
    alarm = scores > threshold
    honest = panel.cheat == "honest"
    t_len = scores.shape[1]
    cheats = np.flatnonzero((panel.cheat == kind) & (panel.cheat_start >= skip) & (panel.cheat_start < t_len))
    cols = panel.cheat_start[cheats, None] + np.arange(within)[None, :]
    valid = cols < t_len
    hit = np.any(alarm[cheats[:, None], np.minimum(cols, t_len - 1)] & valid, axis=1)
    fa = alarm[honest][:, skip:]
    return Evaluation(
        detection=float(hit.mean()) if cheats.size else float("nan"),
        false_alarm_periods=float(fa.mean()) if fa.size else float("nan"),
        false_alarm_workplaces=float(fa.any(axis=1).mean()) if fa.size else float("nan"),
        cheaters=int(cheats.size),
        honest=int(honest.sum()),
        threshold=threshold,
    )
