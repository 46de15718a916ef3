"""Alerts: what Cyberstride flags goes first to the workplace, then, after a response window, to everyone.

From stored report lines, one series per workplace and product and indicator:

* ``gap``: log of what the workplace says it delivered over what its receivers confirm (needs both);
* ``productivity``: Beer's actuality / capability, log of output over reported capacity;
* ``latency``: Beer's capability / potentiality, log of reported capacity over reported potential
  (for workplaces that report a ``potential``);
* ``output``: log of output.

The Harrison-Stevens filter (:mod:`glasnost.control.cyberstride`) runs over all series at once; a
series whose latest period (or the one before, judged with the latest) is more likely than
``threshold`` a step or slope change raises an alert. An alert is shown to its workplace only,
which may answer (a broken machine, a new line opened) until ``public_from``; after that it is
public, with the answer, and :func:`publish_due` appends it to the public log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from glasnost.control.cyberstride import STATES, multi_state_filter
from glasnost.control.detect import fit_noise, hs_model
from glasnost.control.errors import ControlError
from glasnost.control.reports import Reports
from glasnost.control.tables import Alert
from glasnost.db.engine import Database, utcnow
from glasnost.ledger import Ledger

__all__ = ["Finding", "find_anomalies", "publish_due", "raise_alerts", "respond", "visible_alerts"]


@dataclass(frozen=True)
class Finding:
    """A series that changed: where, which indicator, when, what state and how sure, and by how much."""

    workplace: str
    product: str
    indicator: str
    period: int
    state: str
    probability: float
    change: float


def _series(reports: Reports) -> tuple[pa.Table, np.ndarray, dict[str, np.ndarray]]:
    """(workplace, product) keys, periods, and indicator arrays (keys x periods)."""
    t = reports.table
    # a series for every workplace and product it reports about itself
    out = t.filter(pc.is_in(t["kind"], pa.array(["output", "capacity", "potential", "delivery"])))
    keys_t = out.group_by(["workplace", "product"], use_threads=False).aggregate([]).sort_by(
        [("workplace", "ascending"), ("product", "ascending")]
    )
    periods = np.unique(t["period"].to_numpy())
    kw = keys_t["workplace"].to_numpy(zero_copy_only=False).astype(str)
    kp = keys_t["product"].to_numpy(zero_copy_only=False).astype(str)
    key_str = np.char.add(np.char.add(kw, "\x1f"), kp)
    order = np.argsort(key_str)

    def grid(kind: str, who: str) -> np.ndarray:
        rows = t.filter(pc.equal(t["kind"], kind))
        w = rows[who].to_numpy(zero_copy_only=False).astype(str)
        p = rows["product"].to_numpy(zero_copy_only=False).astype(str)
        s = np.char.add(np.char.add(w, "\x1f"), p)
        pos = np.searchsorted(key_str[order], s)
        pos = np.minimum(pos, len(order) - 1)
        found = key_str[order][pos] == s if len(order) else np.zeros(len(s), bool)
        row = order[pos[found]]
        col = np.searchsorted(periods, rows["period"].to_numpy()[found])
        g = np.zeros((len(key_str), periods.size))
        np.add.at(g, (row, col), np.nan_to_num(rows["quantity"].to_numpy(zero_copy_only=False)[found].astype(float)))
        seen = np.zeros(g.shape, bool)
        seen[row, col] = True
        g[~seen] = np.nan
        return g

    output, capacity = grid("output", "workplace"), grid("capacity", "workplace")
    potential = grid("potential", "workplace")
    delivered, confirmed = grid("delivery", "workplace"), grid("receipt", "counterparty")
    with np.errstate(divide="ignore", invalid="ignore"):
        values = {
            "gap": np.log(delivered / confirmed),
            "productivity": np.log(output / capacity),
            "latency": np.log(capacity / potential),
            "output": np.log(output),
        }
    for v in values.values():
        v[~np.isfinite(v)] = np.nan
    return keys_t, periods, values


def find_anomalies(reports: Reports, *, threshold: float = 0.9, min_periods: int = 4) -> list[Finding]:
    """Series whose latest or last-but-one period looks like a lasting change (see the module).

    Parameters
    ----------
    threshold
        Posterior probability of a step or slope change above which an alert is raised.
    min_periods
        Series with fewer values are not judged (the noise cannot be told yet).
    """
    keys, periods, values = _series(reports)
    found: list[Finding] = []
    if periods.size < 2 or keys.num_rows == 0:
        return found
    wp = keys["workplace"].to_pylist()
    pr = keys["product"].to_pylist()
    for name, y in values.items():
        enough = np.sum(~np.isnan(y), axis=1) >= min_periods
        if not enough.any():
            continue
        sigma, q = fit_noise(y[enough])
        res = multi_state_filter(y[enough], sigma, hs_model(q))
        rows = np.flatnonzero(enough)
        now = res.probability[:, -1, 2:].sum(axis=1)
        before = res.previous[:, -1, 2:].sum(axis=1)
        for k in np.flatnonzero(np.maximum(now, before) > threshold):
            use_now = now[k] >= before[k]
            probs = res.probability[k, -1] if use_now else res.previous[k, -1]
            state = STATES[2 + int(np.argmax(probs[2:]))]
            t_idx = periods.size - 1 if use_now else periods.size - 2
            ref = res.level[k, t_idx - 1] if t_idx >= 1 else np.nan
            found.append(
                Finding(wp[rows[k]], pr[rows[k]], name, int(periods[t_idx]), state,
                        float(max(now[k], before[k])), float(res.level[k, -1] - ref))
            )
    return found


def raise_alerts(
    database: Database, findings: list[Finding], *, window: timedelta = timedelta(days=7), now: datetime | None = None
) -> list[int]:
    """Store new alerts (one per workplace, indicator and period), public ``window`` from now. Returns their ids."""
    now = now or utcnow()
    ids: list[int] = []
    with database.write() as session:
        for f in findings:
            indicator = f"{f.indicator}:{f.product}"
            exists = session.scalar(
                select(Alert.id).where(Alert.workplace == f.workplace, Alert.indicator == indicator,
                                       Alert.period == f.period)
            )
            if exists is not None:
                continue
            alert = Alert(workplace=f.workplace, indicator=indicator, period=f.period, state=f.state,
                          probability=f.probability, change=f.change, raised_at=now, public_from=now + window)
            try:
                with session.begin_nested():  # another process may store the same alert meanwhile
                    session.add(alert)
                    session.flush()
            except IntegrityError:
                continue
            ids.append(alert.id)
    return ids


def respond(database: Database, alert_id: int, workplace: str, text: str) -> None:
    """The workplace's answer to an alert (its own only), shown with the alert when it is public.

    Raises
    ------
    ControlError
        If there is no such alert for that workplace, or the answer is empty.
    """
    if not text.strip():
        raise ControlError("an answer needs some text", where=f"alert {alert_id}")
    with database.write() as session:
        alert = session.get(Alert, alert_id)
        if alert is None or alert.workplace != workplace:
            raise ControlError(f"no alert for workplace {workplace!r}", where=f"alert {alert_id}")
        if alert.log_index is not None:
            raise ControlError("already in the public log; answer with a new report", where=f"alert {alert_id}")
        alert.response = text.strip()[:5000]


def visible_alerts(database: Database, *, workplace: str | None = None, now: datetime | None = None) -> list[Alert]:
    """Alerts someone may see now: the public ones, and a workplace's own ones still in their window."""
    now = now or utcnow()
    cond = Alert.public_from <= now
    if workplace is not None:
        cond = or_(cond, Alert.workplace == workplace)
    with database.read() as session:
        return list(session.scalars(select(Alert).where(cond).order_by(Alert.period.desc(), Alert.id)))


def publish_due(database: Database, ledger: Ledger, *, now: datetime | None = None) -> int:
    """Append every alert whose window has passed to the public log (with any answer); returns how many."""
    now = now or utcnow()
    with database.write() as session:
        due = list(session.scalars(select(Alert).where(Alert.public_from <= now, Alert.log_index.is_(None))
                                   .order_by(Alert.id).with_for_update(skip_locked=True)))
        if not due:
            return 0
        receipts = ledger.append_many(
            [("alert", {"alert": a.id, "workplace": a.workplace, "indicator": a.indicator, "period": a.period,
                        "state": a.state, "probability": a.probability, "change": a.change,
                        "response": a.response}) for a in due]
        )
        for a, r in zip(due, receipts, strict=True):
            a.log_index = r.index
    return len(due)
