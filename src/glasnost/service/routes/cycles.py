"""Planning cycles: creating one, inviting councils and members, seats, the cycle's pages."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from glasnost.service.accounts import Viewer
from glasnost.service.errors import BadInputError, ForbiddenError
from glasnost.service.i18n import locale_of, localize_error
from glasnost.service.routes.deps import (
    CouncilCode,
    CycleId,
    check_csrf,
    client_address,
    form_int,
    platform_of,
    render,
    see_other,
    viewer_of,
)

router = APIRouter()


class CycleIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    source: str = Field(default="demo", description="'demo', 'generated:N' or a saved economy directory")
    threshold: float = Field(default=0.03, gt=0, lt=1, allow_inf_nan=False)
    max_rounds: int = Field(default=200, ge=1, le=10_000)
    deadline_seconds: float | None = Field(default=None, gt=0, allow_inf_nan=False)


class InvitationIn(BaseModel):
    role: str = Field(pattern="^(delegate|member)$")
    council: str | None = Field(default=None, min_length=1, max_length=100)


def _number(form: Any, name: str, default: float) -> float:
    raw = str(form.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadInputError(f"{raw[:40]!r} is not a number", where=name) from None
    if not math.isfinite(value):
        raise BadInputError(f"{raw[:40]!r} is not a finite number", where=name)
    return value


# ---- pages -----------------------------------------------------------------------------------------


@router.get("/cycles/new", include_in_schema=False)
def new_cycle_page(request: Request) -> Response:
    viewer_of(request).require_board()
    return render(request, "cycle_new.html", typed={})


CYCLE_FIELDS = ("name", "source", "directory", "threshold_percent", "max_rounds", "deadline_seconds")
"""The new-cycle form's fields whose typed values are kept when the form is refused."""
_FIELD_OF_PLACE = {"threshold": "threshold_percent", "economy file": "file", "upload": "file"}


@router.post("/cycles/new", include_in_schema=False)
async def new_cycle_form(request: Request) -> Response:
    """Create a cycle; a refusal shows the form again, its message beside the field it names and
    what was typed kept."""
    form = await request.form()
    viewer = await check_csrf(request, form)
    viewer.require_board()
    try:
        upload = form.get("file")
        data, filename = None, "upload"
        source = str(form.get("source") or "demo")
        if source == "upload":
            if upload is None or isinstance(upload, str):
                raise BadInputError("choose an experiment file to upload", where="file")
            data, filename = await upload.read(), upload.filename or "upload"
        elif source == "directory":
            source = str(form.get("directory") or "").strip()
        deadline = _number(form, "deadline_seconds", 0.0)
        cycle_id = await run_in_threadpool(
            platform_of(request).cycles.create,
            viewer,
            str(form.get("name") or ""),
            source,
            upload=data,
            filename=filename,
            threshold=_number(form, "threshold_percent", 3.0) / 100.0,
            max_rounds=form_int(form, "max_rounds", 200, low=1, high=10_000),
            deadline_seconds=deadline or None,
        )
    except BadInputError as exc:
        where = exc.where or ""
        field = _FIELD_OF_PLACE.get(where, where if where in CYCLE_FIELDS or where == "file" else "source")
        typed = {k: str(form.get(k) or "") for k in CYCLE_FIELDS if isinstance(form.get(k), str)}
        return render(
            request,
            "cycle_new.html",
            status_code=exc.status,
            form_error=localize_error(exc, locale_of(request), place=False),
            error_field=field,
            typed=typed,
        )
    return see_other(f"/cycles/{cycle_id}")


def _councils(request: Request, cycle_id: int) -> list[dict[str, Any]]:
    """The cycle's councils, each with what it makes (worker councils) or its budget (consumer councils)."""
    platform = platform_of(request)
    eng = platform.cycles.engine(cycle_id)
    return [
        {**c, "product": eng.worker_product.get(c["code"]), "income": eng.income.get(c["code"])}
        for c in platform.cycles.councils(cycle_id)
    ]


@router.get("/cycles/{cycle_id}", include_in_schema=False)
def cycle_page(request: Request, cycle_id: CycleId) -> Response:
    platform = platform_of(request)
    summary = platform.views.cycle_summary(cycle_id, series=True)
    viewer = viewer_of(request)
    return render(
        request,
        "cycle.html",
        cycle=summary,
        councils=_councils(request, cycle_id),
        seats=platform.cycles.seats(viewer, cycle_id),
    )


@router.get("/cycles/{cycle_id}/dashboard", include_in_schema=False)
def dashboard_fragment(request: Request, cycle_id: CycleId) -> Response:
    """The live part of the cycle page (htmx polls it)."""
    return render(request, "_dashboard.html", cycle=platform_of(request).views.cycle_summary(cycle_id, series=True))


MAX_INVITATIONS = 500
"""The most invitation links one form makes."""


@router.post("/cycles/{cycle_id}/invitations", include_in_schema=False)
async def invite_form(request: Request, cycle_id: CycleId) -> Response:
    """Invitation links, many at once: delegates of the councils chosen (or of every council without
    a delegate), or a number of members. Shown as full links with copy buttons, or (``format=csv``)
    answered as a CSV file ``role,council,link``. The links are shown only now (only their hashes
    are stored)."""
    form = await request.form()
    viewer = await check_csrf(request, form)
    viewer.require_board()
    platform = platform_of(request)
    role = str(form.get("role") or "")
    if role == "delegate":
        wanted = [str(c) for c in form.getlist("council") if str(c)]
        if form.get("all_open"):
            councils = await run_in_threadpool(platform.cycles.councils, cycle_id)
            wanted += [c["code"] for c in councils if not c["delegates"] and c["code"] not in wanted]
        if not wanted:
            raise BadInputError("a delegate invitation names a council", where="council")
        targets: list[str | None] = list(dict.fromkeys(wanted))
    else:
        targets = [None] * form_int(form, "count", 1, low=1, high=MAX_INVITATIONS)
    low, high = 1, MAX_INVITATIONS
    if len(targets) > high:
        raise BadInputError(f"{len(targets)} is not between {low} and {high}", where="council")
    base = str(request.base_url).rstrip("/")
    links = []
    for council in targets:
        token = await run_in_threadpool(platform.cycles.invite, viewer, cycle_id, role, council)
        links.append({"role": role, "council": council, "url": f"{base}/invite/{token}"})
    csv_text = _links_csv(links)
    if str(form.get("format") or "") == "csv":
        return Response(
            csv_text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="invitations-cycle-{cycle_id}.csv"'},
        )
    return render(request, "invited.html", cycle_id=cycle_id, links=links, csv=csv_text)


def _links_csv(links: list[dict[str, Any]]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["role", "council", "link"])
    for link in links:
        writer.writerow([link["role"], link["council"] or "", link["url"]])
    return out.getvalue()


@router.post("/cycles/{cycle_id}/councils/{code}/seat", include_in_schema=False)
async def take_seat_form(request: Request, cycle_id: CycleId, code: CouncilCode) -> Response:
    """Take a seat in a demo cycle; a visitor without an account names one here (created on the spot)."""
    form = await request.form()
    viewer = await check_csrf(request, form)
    platform = platform_of(request)
    token = None
    if viewer.anonymous:
        if not await run_in_threadpool(platform.cycles.is_demo, cycle_id):
            raise ForbiddenError("seats are taken by invitation in this cycle; ask the board", where=f"council {code}")
        username, password = str(form.get("username") or ""), str(form.get("password") or "")
        account_id = await run_in_threadpool(platform.accounts.create, username, password)
        token = await run_in_threadpool(platform.accounts.login, username, password, address=client_address(request))
        viewer = Viewer(account_id, username, False, "cookie")
    await run_in_threadpool(platform.cycles.take_seat, viewer, cycle_id, code)
    response = see_other(f"/cycles/{cycle_id}/councils/{code}")
    if token is not None:
        from glasnost.service.routes.auth import _set_session

        _set_session(request, response, token)
    return response


# ---- API -------------------------------------------------------------------------------------------


@router.get("/api/cycles", tags=["cycles"])
def api_cycles(request: Request) -> list[dict[str, Any]]:
    return platform_of(request).views.list_cycles()


@router.post("/api/cycles", status_code=201, tags=["cycles"])
async def api_create_cycle(request: Request, body: CycleIn) -> dict[str, Any]:
    """Create a cycle (board only): its councils from the economy, round 1 open at the initial prices."""
    viewer = await check_csrf(request)
    platform = platform_of(request)
    cycle_id = await run_in_threadpool(
        platform.cycles.create,
        viewer,
        body.name,
        body.source,
        threshold=body.threshold,
        max_rounds=body.max_rounds,
        deadline_seconds=body.deadline_seconds,
    )
    return platform.views.cycle_summary(cycle_id)


@router.get("/api/cycles/{cycle_id}", tags=["cycles"])
def api_cycle(request: Request, cycle_id: CycleId) -> dict[str, Any]:
    return platform_of(request).views.cycle_summary(cycle_id)


@router.get("/api/cycles/{cycle_id}/councils", tags=["cycles"])
def api_councils(request: Request, cycle_id: CycleId) -> list[dict[str, Any]]:
    return platform_of(request).cycles.councils(cycle_id)


@router.post("/api/cycles/{cycle_id}/invitations", status_code=201, tags=["cycles"])
async def api_invite(request: Request, cycle_id: CycleId, body: InvitationIn) -> dict[str, str]:
    """An invitation link (board only): a council's delegate or a member who votes."""
    viewer = await check_csrf(request)
    token = await run_in_threadpool(platform_of(request).cycles.invite, viewer, cycle_id, body.role, body.council)
    return {"token": token, "url": f"/invite/{token}"}


@router.post("/api/cycles/{cycle_id}/councils/{code}/seat", tags=["cycles"])
async def api_take_seat(request: Request, cycle_id: CycleId, code: CouncilCode) -> dict[str, str]:
    """Demo cycles: take a council's seat nobody holds."""
    viewer = await check_csrf(request)
    await run_in_threadpool(platform_of(request).cycles.take_seat, viewer, cycle_id, code)
    return {"council": code, "delegate": str(viewer.username)}
