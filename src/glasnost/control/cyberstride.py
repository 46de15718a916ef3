"""Anomaly detection in the manner of Cybersyn's Cyberstride: the Harrison-Stevens multi-state model.

Cyberstride (Chile, 1972-73) ran every factory's daily indicators through the Bayesian short-term
forecasting model of Harrison and Stevens (1971, "A Bayesian approach to short-term forecasting",
Operational Research Quarterly 22(4), 341-362) and alerted the factory when an indicator's latest
value looked like an outlier, a step change or a change of slope rather than steady noise.

The model is the linear growth model::

    y_t  = mu_t + eps_t                     eps_t   ~ N(0, V_eps[s] * sigma^2)
    mu_t = mu_{t-1} + beta_t + gamma_t      gamma_t ~ N(0, V_gamma[s] * sigma^2)
    beta_t = beta_{t-1} + delta_t           delta_t ~ N(0, V_delta[s] * sigma^2)

where at each period the state ``s`` is drawn independently from four: **steady** (small
noise), **outlier** (large ``V_eps``: one value off), **step** (large ``V_gamma``: the level
jumps) and **slope** (large ``V_delta``: the trend changes), with prior probabilities ``prior``.
The exact posterior is a mixture of ``4**t`` Kalman filters; as Harrison and Stevens did, after
each observation the 16 filters (previous state x current state) are collapsed to 4 by matching
means and covariances (a second-order generalised pseudo-Bayes filter). The filter runs over all
indicators at once: arrays of shape ``(indicators, 4, ...)``, one numpy step per period.

Besides the posterior probability of each state for the latest period, it gives the probability
of each state for the *previous* period given the latest value (one period of smoothing), which
tells a lasting step from a one-off outlier.

Beer's indices (Beer, *Brain of the Firm*, 1972) for a workplace: actuality (what it does),
capability (what it could do now with what it has), potentiality (what it could do with what it
could have); productivity = actuality / capability, latency = capability / potentiality,
performance = productivity x latency = actuality / potentiality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["STATES", "MultiStateModel", "StrideResult", "beer_indices", "multi_state_filter", "robust_scale"]

STATES = ("steady", "outlier", "step", "slope")
_F = np.array([[1.0, 1.0], [0.0, 1.0]])


@dataclass(frozen=True)
class MultiStateModel:
    """Variances of the four states, in units of the indicator's noise variance ``sigma**2``.

    Attributes
    ----------
    v_eps, v_gamma, v_delta
        Observation, level and slope disturbance variance multipliers per state
        (steady, outlier, step, slope).
    prior
        Prior probability of each state in any one period (sums to 1).
    """

    v_eps: tuple[float, float, float, float] = (1.0, 100.0, 1.0, 1.0)
    v_gamma: tuple[float, float, float, float] = (0.01, 0.01, 100.0, 0.01)
    v_delta: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    prior: tuple[float, float, float, float] = (0.94, 0.02, 0.02, 0.02)

    def __post_init__(self) -> None:
        p = np.asarray(self.prior, float)
        if p.shape != (4,) or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
            raise ValueError(f"prior must be four probabilities summing to 1, got {self.prior}")
        for name in ("v_eps", "v_gamma", "v_delta"):
            v = np.asarray(getattr(self, name), float)
            if v.shape != (4,) or np.any(v < 0):
                raise ValueError(f"{name} must be four variances >= 0, got {v}")
        if np.any(np.asarray(self.v_eps) <= 0):
            raise ValueError("v_eps must be > 0 in every state")

    def disturbance(self) -> np.ndarray:
        """Covariance of (level, slope) disturbances per state, shape (4, 2, 2), in units of sigma^2."""
        g, d = np.asarray(self.v_gamma, float), np.asarray(self.v_delta, float)
        w = np.empty((4, 2, 2))
        w[:, 0, 0] = g + d
        w[:, 0, 1] = w[:, 1, 0] = d
        w[:, 1, 1] = d
        return w


@dataclass(frozen=True)
class StrideResult:
    """What the filter found, for ``N`` indicators over ``T`` periods.

    Attributes
    ----------
    probability : array (N, T, 4)
        Posterior probability of each state (:data:`STATES`) at period t given values up to t.
    previous : array (N, T, 4)
        Probability of each state at period t-1 given values up to t (one period smoothed);
        row 0 is the prior.
    level, slope : array (N, T)
        Posterior mean of the level and slope after period t.
    forecast, error : array (N, T)
        One-step forecast of y_t made at t-1, and y_t minus it (NaN where y_t is missing).
    sigma : array (N,)
        The noise scale used.
    """

    probability: np.ndarray
    previous: np.ndarray
    level: np.ndarray
    slope: np.ndarray
    forecast: np.ndarray
    error: np.ndarray
    sigma: np.ndarray

    def change(self, *, lag: int = 1) -> np.ndarray:
        """Probability of a lasting change (step or slope), shape (N, T).

        ``lag=1``: of a change at period t-1, judged with period t (steadier: an outlier is not a
        change); aligned so that column t-1 holds it. ``lag=0``: at period t, judged at once.
        """
        if lag == 0:
            return self.probability[..., 2] + self.probability[..., 3]
        out = np.zeros(self.level.shape)
        out[:, :-1] = self.previous[:, 1:, 2] + self.previous[:, 1:, 3]
        return out


def robust_scale(y: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Noise scale of series from their first differences: 1.4826 x MAD / sqrt(2), NaNs ignored.

    The median absolute deviation is not moved by a few steps or outliers.
    """
    d = np.diff(y, axis=axis)
    med = np.nanmedian(d, axis=axis, keepdims=True)
    mad = np.nanmedian(np.abs(d - med), axis=axis)
    return 1.4826 * mad / np.sqrt(2.0)


def _logsumexp(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    m = np.max(a, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return m + np.log(np.sum(np.exp(a - m), axis=axes, keepdims=True))


def multi_state_filter(
    y: np.ndarray,
    sigma: np.ndarray | float | None = None,
    model: MultiStateModel | None = None,
    *,
    initial_slope_var: float = 0.0,
) -> StrideResult:
    """Run the Harrison-Stevens multi-state filter over many series at once.

    Parameters
    ----------
    y : array (N, T)
        N indicators over T periods; NaN where a value is missing (the filter only predicts).
    sigma : array (N,) or float, optional
        Each indicator's noise scale (steady-state observation s.d.). Default: :func:`robust_scale`
        of each series (floored at 1e-9).
    model
        The states' variances and prior (default :class:`MultiStateModel`).
    initial_slope_var
        Prior variance of the slope, in units of sigma^2 (0: no trend until the data show one).

    Returns
    -------
    StrideResult
        Posterior state probabilities, smoothed previous-state probabilities, level, slope,
        forecasts and errors.

    Notes
    -----
    The level starts at the first value present (variance sigma^2), slope 0. Missing values
    before the first are skipped.
    """
    model = model or MultiStateModel()
    y = np.atleast_2d(np.asarray(y, dtype=float))
    n, t_len = y.shape
    if sigma is None:
        sigma = robust_scale(y)
    s2 = np.broadcast_to(np.maximum(np.asarray(sigma, float), 1e-9) ** 2, (n,)).copy()
    log_prior = np.log(np.asarray(model.prior, float), where=np.asarray(model.prior) > 0,
                       out=np.full(4, -np.inf))
    W = model.disturbance()[None, None] * s2[:, None, None, None, None]  # (N,1,4,2,2)
    V = np.asarray(model.v_eps, float)[None, None, :] * s2[:, None, None]  # (N,1,4)

    # state: mean (N,4,2), covariance (N,4,2,2), weights (N,4)
    m = np.zeros((n, 4, 2))
    P = np.zeros((n, 4, 2, 2))
    w = np.tile(np.asarray(model.prior, float), (n, 1))
    started = np.zeros(n, bool)

    prob = np.full((n, t_len, 4), np.nan)
    prev = np.full((n, t_len, 4), np.nan)
    level = np.full((n, t_len), np.nan)
    slope = np.full((n, t_len), np.nan)
    forecast = np.full((n, t_len), np.nan)
    error = np.full((n, t_len), np.nan)

    for t in range(t_len):
        yt = y[:, t]
        seen = ~np.isnan(yt)
        first = seen & ~started
        if first.any():  # start the level at the first value
            m[first] = 0.0
            m[first, :, 0] = yt[first, None]
            P[first] = 0.0
            P[first, :, 0, 0] = s2[first, None]
            P[first, :, 1, 1] = initial_slope_var * s2[first, None]
            w[first] = np.asarray(model.prior, float)
            started |= first
            prob[first, t] = w[first]
            prev[first, t] = w[first]
            level[first, t] = yt[first]
            slope[first, t] = 0.0
        run = started & ~first
        # predict every previous component i under every new state j
        m_pred = m @ _F.T  # (N,4,2)
        P_pred = (_F @ P @ _F.T)[:, :, None] + W[:, 0][:, None]  # (N,4,4,2,2)
        fc_mix = np.sum(w * m_pred[..., 0], axis=1)
        forecast[run, t] = fc_mix[run]
        upd = run & seen
        miss = run & ~seen
        if miss.any():  # no value: move the mixture forward under the prior over states
            pj = np.asarray(model.prior, float)
            mp = m_pred[miss]
            Pm = np.einsum("j,nijab->niab", pj, P_pred[miss])
            m[miss], P[miss] = mp, Pm
            prob[miss, t] = w[miss]
            prev[miss, t] = w[miss]
            level[miss, t] = np.sum(w[miss] * mp[..., 0], axis=1)
            slope[miss, t] = np.sum(w[miss] * mp[..., 1], axis=1)
        if not upd.any():
            continue
        idx = np.flatnonzero(upd)
        yu = yt[idx]
        mp, Pp, wu = m_pred[idx], P_pred[idx], w[idx]
        S = Pp[..., 0, 0] + V[idx, 0][:, None, :]  # (k,4,4)
        e = yu[:, None, None] - mp[:, :, None, 0]  # (k,4,1)
        K = Pp[..., :, 0] / S[..., None]  # (k,4,4,2)
        m_ij = mp[:, :, None, :] + K * e[..., None]  # (k,4,4,2)
        P_ij = Pp - np.einsum("kija,kijb->kijab", K, Pp[..., 0, :])
        loglik = -0.5 * (np.log(2 * np.pi * S) + e**2 / S)
        with np.errstate(divide="ignore"):
            logw = np.log(wu)[:, :, None] + log_prior[None, None, :] + loglik
        logw = logw - _logsumexp(logw, (1, 2))
        p_ij = np.exp(logw)  # joint posterior of (state at t-1, state at t)
        w_new = p_ij.sum(axis=1)  # (k,4)
        cond = np.divide(p_ij, w_new[:, None, :], out=np.broadcast_to(wu[:, :, None], p_ij.shape).copy(),
                         where=w_new[:, None, :] > 0)
        m_j = np.einsum("kij,kija->kja", cond, m_ij)
        d = m_ij - m_j[:, None]
        P_j = np.einsum("kij,kijab->kjab", cond, P_ij + d[..., :, None] * d[..., None, :])
        m[idx], P[idx], w[idx] = m_j, P_j, w_new
        prob[idx, t] = w_new
        prev[idx, t] = p_ij.sum(axis=2)
        level[idx, t] = np.sum(w_new * m_j[..., 0], axis=1)
        slope[idx, t] = np.sum(w_new * m_j[..., 1], axis=1)
        error[idx, t] = yu - fc_mix[idx]
    return StrideResult(prob, prev, level, slope, forecast, error, np.sqrt(s2))


def beer_indices(
    actuality: np.ndarray, capability: np.ndarray, potentiality: np.ndarray
) -> dict[str, np.ndarray]:
    """Beer's indices: productivity = A/C, latency = C/P, performance = A/P (= productivity x latency).

    NaN where a denominator is not positive.
    """
    a, c, p = (np.asarray(x, float) for x in (actuality, capability, potentiality))

    def ratio(x: np.ndarray, z: np.ndarray) -> np.ndarray:
        return np.divide(x, z, out=np.full(np.broadcast(x, z).shape, np.nan), where=z > 0)

    return {"productivity": ratio(a, c), "latency": ratio(c, p), "performance": ratio(a, p)}
