"""Workplace implementation reports, generated from the simulator's manager model.

:func:`workplace_reports` makes a table of what workplaces and their customers report, period
by period, for implementation control to check (reconciliation, anomaly detection): one row per
(period, workplace, delivery to one receiver).

How the behaviour is derived (:mod:`glasnost.simulate.managers`)
------------------------------------------------------------------
Each workplace makes one product (a sector of the demo economy) and has a true capacity that
grows by ``capacity_growth`` a period with a lognormal shock of sd ``capacity_shock``. The bureau
sets its target from reported output with Weitzman's ratchet, ``T' = T + ratchet (reported - T)``,
starting from the reported capacity. Managers differ in their discount factor ``beta``
(normal, mean ``discount_mean``, sd ``discount_sd``).

- **hide_capacity**: a manager for whom the ratchet costs more than the over-fulfilment bonus,
  ``ratchet beta / (1 - beta) > 1``, aims at ``target (1 + safety_margin)`` and reports the
  capacity it uses. Its ``cheat_start`` is the first period in which it produces less than its
  true capacity; from then on ``capacity_reported <= capacity_true``, strictly below whenever
  the capacity exceeds the output it aims at (a bad shock can leave nothing to hide for a
  period). Output and shipments are reported truthfully.
- **inflate** (pripiski): a manager willing to pad (a share ``padding_propensity`` of managers,
  drawn once) that falls short of its target by more than ``tolerance`` but by no more than
  ``inflation`` pads from that period on, because the ratchet then builds on the padded figure:
  ``output_reported = output_true (1 + inflation)``, and the shipments it claims rise by the same
  factor, while the receivers confirm what really arrived. ``cheat_start`` is that period.
  A workplace that both hides and pads is labelled ``inflate``.
- **honest**: everyone else.

Every reported figure carries independent multiplicative measurement noise, ``x (1 + e)`` with
``e ~ Normal(0, noise)`` (default 1%), for honest and cheating workplaces alike; true figures
carry none. Under ``regime="democratic"`` (open books) concealment pays only when the audit
misses it: a manager hides only if ``(1 - p) (ratchet beta / (1 - beta) - 1) > p audit_penalty``
with ``p = audit_probability``, and pads with propensity ``padding_propensity (1 - p)``.
Under ``regime="market"`` there are no plan targets, so there is no ratchet and no padding:
all workplaces are honest.

Deliveries: each workplace ships its output to ``receivers`` other workplaces (default 3),
drawn in proportion to how much their sector uses its product in the demo economy's
input-output table, in fixed shares (Dirichlet). ``quality`` (0..1, Beta(8, 2) at the start)
drifts down by ``quality_decay`` a period under command planning and is constant otherwise.

What honest reports look like besides measurement noise (all off by default; then the table is the
same as without them, draw for draw; they draw from a generator of their own, seeded from ``seed``):

- ``utilisation_sd``: no workplace uses all of its capacity every period: it uses a share
  ``exp(-|e|)``, ``e ~ Normal(0, utilisation_sd)`` drawn per workplace and period (breakdowns,
  late inputs, absences), and reports its capacity as before. Honest output then varies below
  capacity, and a padded figure can stay under the capacity reported.
- ``transit_loss``: a share of each delivery is lost on the way, ``transit_loss x Exponential(1)``
  per delivery and period (at most 90%); the supplier reports what it shipped, the receiver what
  arrived.
- ``timing_mismatch``: the mean share of a delivery still on its way when the period closes,
  which its receiver books in the next period: ``timing_mismatch x Exponential(1)`` per delivery
  and period (at most all of it; what is on its way at the end of the last period falls outside
  the table).
- ``collusion``: the probability that a receiver of a padding workplace confirms what the supplier
  claims rather than what arrived (drawn once per supplier-receiver pair): a colluding pair leaves
  no gap between shipped and confirmed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from glasnost.simulate.managers import conceals, discount_factors, next_target
from glasnost.simulate.params import Params, SimulationError

__all__ = ["REPORT_DEFAULTS", "workplace_reports"]

REPORT_DEFAULTS: dict[str, float] = {
    "inflation": 0.10,
    "noise": 0.01,
    "receivers": 3,
    "capacity_growth": 0.01,
    "capacity_shock": 0.04,
    "padding_propensity": 0.3,
    "tolerance": 0.02,
    "utilisation_sd": 0.0,
    "transit_loss": 0.0,
    "timing_mismatch": 0.0,
    "collusion": 0.0,
}
_FROM_PARAMS = (
    "ratchet",
    "discount_mean",
    "discount_sd",
    "safety_margin",
    "quality_decay",
    "audit_probability",
    "audit_penalty",
)
REGIMES = ("command", "market", "democratic")


def _settings(regime: str, params: dict[str, Any]) -> dict[str, float]:
    if regime not in REGIMES:
        raise SimulationError(f"workplace_reports: unknown regime {regime!r} (choose from {', '.join(REGIMES)})")
    base = Params()
    settings: dict[str, float] = {**REPORT_DEFAULTS, **{k: getattr(base, k) for k in _FROM_PARAMS}}
    for key, value in params.items():
        if key not in settings:
            raise SimulationError(
                f"workplace_reports: unknown parameter {key!r} (known: {', '.join(sorted(settings))})"
            )
        settings[key] = float(value)
    if settings["noise"] < 0 or settings["inflation"] < 0:
        raise SimulationError("workplace_reports: noise and inflation must be >= 0")
    if int(settings["receivers"]) < 1:
        raise SimulationError("workplace_reports: receivers must be >= 1")
    if settings["utilisation_sd"] < 0 or not 0 <= settings["transit_loss"] < 1:
        raise SimulationError("workplace_reports: utilisation_sd must be >= 0 and transit_loss in [0, 1)")
    for key in ("timing_mismatch", "collusion"):
        if not 0 <= settings[key] <= 1:
            raise SimulationError(f"workplace_reports: {key} is a share (0 to 1), got {settings[key]}")
    return settings


def _products() -> tuple[np.ndarray, np.ndarray]:
    """Product names and the input-output matrix of the demo economy (sector x sector)."""
    from glasnost.data.demo import demo_economy

    economy = demo_economy()
    technique = economy.technique
    names = np.array([str(x) for x in economy.commodities.ids[technique.produced]], dtype=object)
    return names, technique.A.toarray()


def _receivers(
    rng: np.random.Generator, product: np.ndarray, A: np.ndarray, k: int
) -> np.ndarray:
    """(workplaces x k) receiving workplaces, drawn by how much their sector uses the product."""
    n = product.size
    out = np.empty((n, k), dtype=np.int64)
    for i in np.unique(product):  # one draw per product (20), vectorised over its workplaces
        makers = np.flatnonzero(product == i)
        weights = A[i, product] + 1e-3  # every workplace may receive a little
        weights = weights / weights.sum()
        out[makers] = rng.choice(n, size=(makers.size, k), p=weights)
    self_loop = out == np.arange(n)[:, None]
    out[self_loop] = (out[self_loop] + 1) % n
    return out


def workplace_reports(
    regime: str = "command", n_workplaces: int = 1000, periods: int = 12, seed: int = 0, **params: Any
) -> pa.Table:
    """What workplaces and their receivers report, one row per (period, workplace, delivery).

    Parameters
    ----------
    regime : ``"command"`` (default), ``"democratic"`` or ``"market"`` (see the module docstring).
    n_workplaces, periods : sizes (at least 2 workplaces and 1 period).
    seed : the same seed gives the same table.
    **params : ``inflation`` (0.10), ``noise`` (0.01, sd of relative measurement error),
        ``receivers`` (3), ``capacity_growth`` (0.01/period), ``capacity_shock`` (0.04),
        ``padding_propensity`` (0.3), ``tolerance`` (0.02), ``utilisation_sd`` (0),
        ``transit_loss`` (0), ``timing_mismatch`` (0), ``collusion`` (0), and from :class:`Params`:
        ``ratchet``, ``discount_mean``, ``discount_sd``, ``safety_margin``, ``quality_decay``,
        ``audit_probability``, ``audit_penalty``.

    Returns
    -------
    pyarrow.Table
        ``period`` (int32), ``workplace``, ``product``, ``receiver`` (str), ``output_true``,
        ``output_reported``, ``shipped_true``, ``shipped_reported``, ``received_reported``,
        ``capacity_true``, ``capacity_reported``, ``target``, ``quality`` (float64, units of the
        product per period; quality 0..1), ``cheat`` (``honest``/``inflate``/``hide_capacity``),
        ``cheat_start`` (int32, -1 for honest).
    """
    if n_workplaces < 2 or periods < 1:
        raise SimulationError(
            f"workplace_reports: need n_workplaces >= 2 and periods >= 1, got {n_workplaces}, {periods}"
        )
    s = _settings(regime, params)
    rng = np.random.default_rng(seed)
    names, A = _products()
    n, k = int(n_workplaces), int(s["receivers"])
    product = rng.integers(0, names.size, n)
    capacity0 = 100.0 * rng.lognormal(0.0, 0.5, n)
    beta = discount_factors(rng, n, s["discount_mean"], s["discount_sd"])
    ratchet = s["ratchet"] if regime != "market" else 0.0
    hiding = conceals(beta, ratchet)
    propensity = s["padding_propensity"] if regime != "market" else 0.0
    if regime == "democratic":
        p = s["audit_probability"]
        gain = ratchet * beta / (1.0 - beta) - 1.0
        hiding &= (1.0 - p) * gain > p * s["audit_penalty"]
        propensity *= 1.0 - p
    willing = rng.random(n) < propensity
    shocks = rng.normal(s["capacity_growth"], s["capacity_shock"], (periods, n))
    capacity = capacity0 * np.exp(np.cumsum(shocks, axis=0) - shocks[0])  # period 0 = capacity0
    quality0 = rng.beta(8.0, 2.0, n)
    decay = s["quality_decay"] if regime == "command" else 0.0
    quality = quality0 * (1.0 - decay) ** np.arange(periods)[:, None]

    extra = np.random.default_rng([seed, 15])  # the honest-variation options' own draws
    usable = np.exp(-np.abs(extra.normal(0.0, s["utilisation_sd"], (periods, n)))) if s["utilisation_sd"] else None

    output = np.empty((periods, n))
    reported = np.empty((periods, n))
    cap_reported = np.empty((periods, n))
    targets = np.empty((periods, n))
    padding = np.zeros(n, bool)
    pad_start = np.full(n, -1, np.int32)
    hide_start = np.full(n, -1, np.int32)
    target = capacity[0].copy()
    for t in range(periods):  # loop over periods only; every step is vectorised over workplaces
        cap = capacity[t]
        can = cap if usable is None else cap * usable[t]  # what can be made this period
        aimed = np.minimum(can, target * (1.0 + s["safety_margin"]))
        y = np.where(hiding, aimed, can)
        shortfall = (target - y) / target
        starts = willing & ~padding & (shortfall > s["tolerance"]) & (shortfall <= s["inflation"])
        pad_start[starts] = t
        padding |= starts
        hidden_now = hiding & (y < cap * (1.0 - 1e-9)) & (hide_start < 0)
        hide_start[hidden_now] = t
        rep = np.where(padding, y * (1.0 + s["inflation"]), y)
        output[t], reported[t], targets[t] = y, rep, target
        cap_reported[t] = np.where(hiding, y, cap)
        target = next_target(target, rep, ratchet) if ratchet > 0 else cap * 1.0

    cheat = np.full(n, "honest", dtype=object)
    start = np.full(n, -1, np.int32)
    hid = hide_start >= 0
    cheat[hid], start[hid] = "hide_capacity", hide_start[hid]
    cheat[padding], start[padding] = "inflate", pad_start[padding]

    receivers = _receivers(rng, product, A, k)
    shares = rng.dirichlet(np.ones(k), n)
    noise = s["noise"]

    def noisy(x: np.ndarray) -> np.ndarray:
        return x * (1.0 + rng.normal(0.0, noise, x.shape)) if noise > 0 else x.copy()

    out_rep = noisy(reported)  # (periods, n)
    cap_rep = noisy(cap_reported)
    shipped_true = output[:, :, None] * shares[None, :, :]  # (periods, n, k)
    inflating = (np.arange(periods)[:, None] >= pad_start[None, :]) & padding[None, :]
    claim = np.where(inflating, 1.0 + s["inflation"], 1.0)[:, :, None]
    shipped_rep = noisy(shipped_true * claim)
    received_rep = noisy(_booked(extra, shipped_true, claim, inflating, s))

    ids = np.array([f"wp-{i:05d}" for i in range(n)], dtype=object)
    P, W, K = np.meshgrid(np.arange(periods), np.arange(n), np.arange(k), indexing="ij")
    W_flat = W.ravel()
    per_wp = (P.ravel(), W_flat)
    return pa.table(
        {
            "period": pa.array(P.ravel().astype(np.int32)),
            "workplace": pa.array(ids[W_flat], pa.string()),
            "product": pa.array(names[product][W_flat], pa.string()),
            "receiver": pa.array(ids[receivers[W_flat, K.ravel()]], pa.string()),
            "output_true": pa.array(output[per_wp]),
            "output_reported": pa.array(out_rep[per_wp]),
            "shipped_true": pa.array(shipped_true.ravel()),
            "shipped_reported": pa.array(shipped_rep.ravel()),
            "received_reported": pa.array(received_rep.ravel()),
            "capacity_true": pa.array(capacity[per_wp]),
            "capacity_reported": pa.array(cap_rep[per_wp]),
            "target": pa.array(targets[per_wp]),
            "quality": pa.array(quality[per_wp]),
            "cheat": pa.array(cheat[W_flat], pa.string()),
            "cheat_start": pa.array(start[W_flat]),
        }
    )


def _booked(
    rng: np.random.Generator, shipped: np.ndarray, claim: np.ndarray, inflating: np.ndarray, s: dict[str, float]
) -> np.ndarray:
    """What receivers book (periods x workplaces x receivers): what arrived (less transit losses), in
    the period they book it (what is on its way at a period's close is booked in the next), or, for a
    receiver colluding with a padding supplier, what the supplier claims."""
    if not (s["transit_loss"] or s["timing_mismatch"] or s["collusion"]):
        return shipped
    _, n, k = shipped.shape
    arrived = shipped
    if s["transit_loss"]:
        arrived = shipped * (1.0 - np.minimum(s["transit_loss"] * rng.exponential(1.0, shipped.shape), 0.9))
    if s["timing_mismatch"]:
        late = arrived * np.minimum(s["timing_mismatch"] * rng.exponential(1.0, shipped.shape), 1.0)
        booked = arrived - late
        booked[1:] += late[:-1]
    else:
        booked = arrived
    if s["collusion"]:
        pairs = rng.random((n, k)) < s["collusion"]
        booked = np.where(pairs[None, :, :] & inflating[:, :, None], shipped * claim, booked)
    return booked
