"""Implementation control on the platform: plan against actual, mismatches, alerts, report receipts.

Pages (public, as everything in open books, except alerts still in their response window):

- ``/control``: plan against actual per workplace (gross weight, gross value, use value side by side),
  the reconciliation counts, the Benford first-digit test, and the latest alerts;
- ``/control/workplaces/{workplace}``: plan against actual per product, the workplace's alerts and
  mismatches;
- ``/control/mismatches``: shipments against receipts, material balances, inputs against coefficients;
- ``/control/alerts``: public alerts; a workplace's own alerts in their window too (to the accounts
  the board granted that workplace, and the board), with a form to answer them;
- ``/control/receipt``: check a report's receipt (its leaf hash): the entry, and its inclusion proof
  against the latest signed checkpoint, checked here.

JSON: ``/api/control/fulfilment``, ``/api/control/mismatches``, ``/api/control/alerts``, and
``POST /api/control/reports`` (a CSV file of report lines: the board any workplace's, an account the
workplaces it holds a grant for; all or nothing, every bad line named). New reports wake the
scheduler, which raises Cyberstride alerts at once. Computation is done by :mod:`glasnost.control`;
results are cached until new reports, targets or coefficients arrive (a version read from the
database, so every process sees the same).
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from glasnost.control.alerts import respond
from glasnost.control.benford import benford_test
from glasnost.control.errors import ControlError, LineProblem, ReportError
from glasnost.control.fulfilment import Fulfilment, fulfilment
from glasnost.control.reconcile import Reconciliation, reconcile
from glasnost.control.reports import read_reports_csv
from glasnost.control.store import import_reports, load_coefficients, load_reports, load_targets
from glasnost.control.tables import Alert, Batch, Coefficient, Target
from glasnost.db.engine import utcnow
from glasnost.ledger import Ledger, verify_inclusion
from glasnost.service.errors import BadInputError, ForbiddenError, NotFoundError
from glasnost.service.routes.deps import RecordId, check_csrf, platform_of, render, see_other, viewer_of

router = APIRouter()

_cache: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}
_cache_lock = threading.Lock()
SHOWN = 200


def _version(db: Any) -> tuple[Any, ...]:
    """What changes when reports, targets or coefficients change (batches are never deleted)."""
    with db.read() as s:
        return (
            s.scalar(select(func.max(Batch.id))),
            *s.execute(
                select(func.count(Target.id), func.max(Target.id), func.sum(Target.quantity), func.sum(Target.price))
            ).one(),
            *s.execute(
                select(func.count(Coefficient.id), func.max(Coefficient.id), func.sum(Coefficient.per_unit))
            ).one(),
        )


def _results(request: Request) -> dict[str, Any]:
    """Reports, reconciliation, fulfilment and Benford test of everything stored (cached per version)."""
    from glasnost.service.debate.criticism import complaints_table, complaints_version

    db = platform_of(request).db
    version = (*_version(db), *complaints_version(db))  # quality complaints lower use-value fulfilment
    with _cache_lock:
        hit = _cache.get(id(db))
        if hit is not None and hit[0] == version:
            return hit[1]
        reports = load_reports(db)
        targets, coefficients = load_targets(db), load_coefficients(db)
        rec: Reconciliation = reconcile(reports, coefficients)
        ful: Fulfilment | None = fulfilment(reports, targets, complaints_table(db)) if targets.num_rows else None
        try:
            benford = benford_test(reports.table["quantity"].to_numpy(zero_copy_only=False))
        except ValueError:
            benford = None
        result = {
            "reports": reports,
            "reconciliation": rec,
            "fulfilment": ful,
            "benford": benford,
            "batches": version[0] or 0,
        }
        _cache[id(db)] = (version, result)
        return result


def _rows(table: pa.Table | None, limit: int = SHOWN) -> list[dict[str, Any]]:
    return [] if table is None else table.slice(0, limit).to_pylist()


def _may_see_private(request: Request, workplace: str) -> bool:
    """Whether the viewer is the board or holds the grant to act for ``workplace``."""
    return platform_of(request).accounts.may_act_for(viewer_of(request), "workplace", workplace)


def _alerts_for(request: Request, workplace: str | None = None) -> list[dict[str, Any]]:
    """Alerts this viewer may see: public ones, and private ones of the workplaces it holds a grant
    for (the board: all). Each says whether this viewer may answer it."""
    viewer = viewer_of(request)
    mine = platform_of(request).accounts.granted(viewer, "workplace")
    with platform_of(request).db.read() as s:
        rows = list(s.scalars(select(Alert).order_by(Alert.period.desc(), Alert.id)))
    now = utcnow()
    out = []
    for a in rows:
        own = viewer.is_board or a.workplace in mine
        if (workplace is None or a.workplace == workplace) and (a.public_from <= now or own):
            out.append({**_alert_json(a, now), "can_answer": own and a.public_from > now})
    return out


def _alert_json(a: Alert, now: datetime) -> dict[str, Any]:
    return {
        "id": a.id,
        "workplace": a.workplace,
        "indicator": a.indicator,
        "period": a.period,
        "state": a.state,
        "probability": a.probability,
        "change": a.change,
        "raised_at": a.raised_at.isoformat(),
        "public_from": a.public_from.isoformat(),
        "public": a.public_from <= now,
        "response": a.response,
        "log_index": a.log_index,
    }


# ---- pages ---------------------------------------------------------------------------------------


@router.get("/control", include_in_schema=False)
def control_page(request: Request) -> Response:
    r = _results(request)
    ful = r["fulfilment"]
    return render(
        request,
        "control_index.html",
        lines=len(r["reports"]),
        batches=r["batches"],
        rec=r["reconciliation"],
        by_workplace=_rows(ful.by_workplace if ful else None),
        benford=r["benford"],
        alerts=_alerts_for(request)[:20],
    )


@router.get("/control/workplaces/{workplace}", include_in_schema=False)
def workplace_page(request: Request, workplace: str) -> Response:
    r = _results(request)
    ful, rec = r["fulfilment"], r["reconciliation"]

    def mine(table: pa.Table | None, *cols: str) -> list[dict[str, Any]]:
        if table is None or table.num_rows == 0:
            return []
        hit = pc.equal(table[cols[0]], workplace)
        for c in cols[1:]:
            hit = pc.or_(hit, pc.equal(table[c], workplace))
        return table.filter(hit).slice(0, SHOWN).to_pylist()

    return render(
        request,
        "control_workplace.html",
        workplace=workplace,
        by_product=mine(ful.by_product if ful else None, "workplace"),
        shipments=mine(rec.shipments, "supplier", "receiver"),
        balances=mine(rec.balances, "workplace"),
        coefficients=mine(rec.coefficients, "workplace"),
        alerts=_alerts_for(request, workplace),
        can_answer=_may_see_private(request, workplace),
        criticism=_criticism_of(request, workplace),
    )


def _criticism_of(request: Request, workplace: str) -> list[dict[str, Any]]:
    """The criticism addressed to the workplace, with its answers (:mod:`glasnost.service.debate`)."""
    from glasnost.service.debate.criticism import criticism_of

    platform = platform_of(request)
    with platform.db.read() as s:
        return criticism_of(platform, s, workplace)


@router.get("/control/mismatches", include_in_schema=False)
def mismatches_page(request: Request) -> Response:
    rec = _results(request)["reconciliation"]
    return render(
        request,
        "control_mismatches.html",
        rec=rec,
        shipments=_rows(rec.shipments),
        balances=_rows(rec.balances),
        coefficients=_rows(rec.coefficients),
        shown=SHOWN,
    )


@router.get("/control/alerts", include_in_schema=False)
def alerts_page(request: Request) -> Response:
    return render(request, "control_alerts.html", alerts=_alerts_for(request))


@router.post("/control/alerts/{alert_id}/answer", include_in_schema=False)
async def answer_alert(request: Request, alert_id: RecordId) -> Response:
    form = await request.form()
    (await check_csrf(request, form)).require()
    with platform_of(request).db.read() as s:
        alert = s.get(Alert, alert_id)
    if alert is None:
        raise NotFoundError(f"no alert {alert_id}")
    if not _may_see_private(request, alert.workplace):
        raise ForbiddenError("only the workplace's granted accounts (or the board) answer its alerts")
    text = form.get("text")
    try:
        respond(platform_of(request).db, alert_id, alert.workplace, text if isinstance(text, str) else "")
    except ControlError as exc:
        raise BadInputError(str(exc)) from None
    return see_other("/control/alerts")


@router.get("/control/receipt", include_in_schema=False)
def receipt_page(request: Request, leaf: str = "") -> Response:
    result = _check_receipt(request, leaf.strip().lower()) if leaf.strip() else None
    return render(request, "control_receipt.html", leaf=leaf, result=result)


def _check_receipt(request: Request, leaf: str) -> dict[str, Any]:
    """Find the entry with this leaf hash and check its inclusion proof against the latest checkpoint."""
    try:
        wanted = bytes.fromhex(leaf)
        if len(wanted) != 32:
            raise ValueError
    except ValueError:
        return {"error": "a receipt is the entry's leaf hash: 64 hexadecimal digits"}
    books = platform_of(request).books
    books.checkpoint(cover=books.call(lambda ledger: ledger.find(wanted)))

    def find(ledger: Ledger) -> dict[str, Any]:
        index = ledger.find(wanted)
        if index is None:
            return {"error": "no entry of the public log has this leaf hash"}
        entry = ledger.entry(index)
        cp = ledger.latest_checkpoint()
        out: dict[str, Any] = {
            "index": index,
            "kind": entry.kind,
            "payload": entry.payload,
            "entry_matches": hashlib.sha256(b"\x00" + entry.data).digest() == wanted,
        }
        if cp is not None and cp.tree_size > index:
            proof = ledger.inclusion_proof(index, cp)
            out["checkpoint"] = {"tree_size": cp.tree_size, "time": cp.time, "root_hash": cp.root_hash.hex()}
            out["verified"] = verify_inclusion(wanted, index, cp.tree_size, proof.path, cp.root_hash)
            out["path"] = [h.hex() for h in proof.path]
        return out

    return books.call(find)


# ---- JSON ------------------------------------------------------------------------------------------


@router.get("/api/control/fulfilment", tags=["control"])
def api_fulfilment(request: Request, workplace: str | None = Query(None)) -> dict[str, Any]:
    """Plan against actual per workplace and product: gross quantity, use value (and per workplace gross value)."""
    ful = _results(request)["fulfilment"]
    if ful is None:
        return {"by_product": [], "by_workplace": []}
    bp, bw = ful.by_product.to_pylist(), ful.by_workplace.to_pylist()
    if workplace is not None:
        bp = [r for r in bp if r["workplace"] == workplace]
        bw = [r for r in bw if r["workplace"] == workplace]
    return {"by_product": _finite(bp), "by_workplace": _finite(bw)}


def _finite(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NaN and infinities as null (JSON has no other way)."""
    import math

    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in rows]


@router.get("/api/control/mismatches", tags=["control"])
def api_mismatches(request: Request, limit: int = Query(1000, ge=1, le=100_000)) -> dict[str, Any]:
    """Every mismatch found by reconciliation (largest first), up to ``limit`` per check."""
    rec = _results(request)["reconciliation"]
    return {
        "shipments": _finite(_rows(rec.shipments, limit)),
        "balances": _finite(_rows(rec.balances, limit)),
        "coefficients": _finite(_rows(rec.coefficients, limit)),
        "counts": {
            "shipments": rec.shipments.num_rows,
            "balances": rec.balances.num_rows,
            "coefficients": None if rec.coefficients is None else rec.coefficients.num_rows,
        },
    }


@router.get("/api/control/alerts", tags=["control"])
def api_alerts(request: Request) -> list[dict[str, Any]]:
    """Public alerts (and, to a workplace's account or the board, those still in their window)."""
    return _alerts_for(request)


def _import_csv(request: Request, viewer: Any, body: bytes, *, own: set[str] | None) -> dict[str, Any]:
    """Check and import CSV report lines; with ``own``, every line must be a report of one of those
    workplaces (the ones the account holds a grant for).

    Raises
    ------
    ReportError
        Every bad line (with ``own``: also each line reported for another workplace); nothing stored.
    ControlError
        The database or the log refused the batch; nothing stored.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.csv"
        path.write_bytes(body)
        try:
            reports = read_reports_csv(path)
        except ReportError as exc:
            raise ReportError(exc.problems, where="upload") from None
    if own is not None:
        t = reports.table
        allowed = ", ".join(sorted(own)) or "no workplace"
        others = [
            LineProblem(line, "workplace", w, f"{viewer.username} reports for {allowed} only (the board grants more)")
            for line, w in zip(t["line"].to_pylist(), t["workplace"].to_pylist(), strict=True)
            if w not in own
        ]
        if others:
            raise ReportError(others, where="upload")
    sha = hashlib.sha256(body).hexdigest()
    platform = platform_of(request)
    result = platform.books.call(
        lambda ledger: import_reports(platform.db, reports, ledger, source=f"upload by {viewer.username}", sha256=sha)
    )
    platform.jobs.reports_arrived()
    return {
        "batch": result.batch,
        "lines": result.lines,
        "reports": result.reports,
        "log_entries": [result.log_first, result.receipts[-1].index],
        "receipts": [r.leaf_hash.hex() for r in result.receipts[:-1]],
    }


@router.post("/api/control/reports", tags=["control"], status_code=201)
async def api_import(request: Request) -> dict[str, Any]:
    """Import a CSV file of report lines (the request body, ``text/csv``). All or nothing.

    The board may import any workplace's lines; another account only those of the workplaces the
    board granted it. The answer holds each report's receipt (its leaf hash in the public log)."""
    viewer = (await check_csrf(request)).require()
    body = await request.body()
    own = None if viewer.is_board else platform_of(request).accounts.granted(viewer, "workplace")
    if own is not None and not own:
        raise ForbiddenError(f"{viewer.username} reports for no workplace; the board grants that")
    try:
        return _import_csv(request, viewer, body, own=own)
    except ControlError as exc:
        raise BadInputError(str(exc)) from None


def _report_workplaces(request: Request) -> list[str] | None:
    """The workplaces the viewer reports for (by grant), or None for the board (any workplace)."""
    viewer = viewer_of(request).require()
    if viewer.is_board:
        return None
    mine = sorted(platform_of(request).accounts.granted(viewer, "workplace"))
    if not mine:
        raise ForbiddenError(f"{viewer.username} reports for no workplace; ask the board to grant one")
    return mine


@router.get("/control/report", include_in_schema=False)
def report_form(request: Request) -> Response:
    mine = _report_workplaces(request)
    first = mine[0] if mine else ""
    return render(request, "control_report.html", workplaces=mine, workplace=first, text="", result=None, problems=[])


@router.post("/control/report", include_in_schema=False)
async def report_submit(request: Request) -> Response:
    """A workplace's report by form: one line per figure, ``kind,period,product,quantity[,counterparty[,rating]]``."""
    form = await request.form()
    viewer = (await check_csrf(request, form)).require()
    mine = _report_workplaces(request)
    text = form.get("lines")
    text = text if isinstance(text, str) else ""
    workplace = str(form.get("workplace") or (mine[0] if mine else "")).strip()
    if mine is None and not 1 <= len(workplace) <= 200:
        raise BadInputError("name the workplace this report is for", where="workplace")
    if mine is not None and workplace not in mine:
        raise ForbiddenError(f"{viewer.username} does not report for {workplace!r}", where="workplace")
    body = "kind,period,workplace,product,quantity,counterparty,rating\n" + "".join(
        (_form_line(raw, workplace) if raw.strip() else "") + "\n" for raw in text.splitlines()
    )  # blank lines kept, so that line n of the form is line n + 1 of the file
    page = {"workplaces": mine, "workplace": workplace}
    try:
        result = _import_csv(request, viewer, body.encode("utf-8"), own={workplace})
    except ReportError as exc:
        problems = [f"line {p.line - 1}, {p.column}: {p.message} (got {p.value!r})" for p in exc.problems]
    except ControlError as exc:
        problems = [str(exc)]
    else:
        return render(request, "control_report.html", text="", result=result, problems=[], **page)
    return render(request, "control_report.html", status_code=422, text=text, result=None, problems=problems, **page)


def _form_line(raw: str, workplace: str) -> str:
    """``kind,period,product,quantity[,counterparty[,rating]]`` with the workplace put in third place."""
    parts = [p.strip() for p in raw.split(",")]
    parts += [""] * max(0, 6 - len(parts))
    kind, period, product, quantity, counterparty, rating = parts[:6]
    extra = parts[6:]
    cells = [kind, period, workplace, product, quantity, counterparty, rating, *extra]
    return ",".join('"' + c.replace('"', '""') + '"' for c in cells)
