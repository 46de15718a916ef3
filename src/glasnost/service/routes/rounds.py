"""Rounds: proposals (form, JSON, CSV), closing rounds, a council's position, round details."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from glasnost.service.errors import BadInputError, ConflictError, RateLimitedError
from glasnost.service.i18n import locale_of, localize_error, match
from glasnost.service.routes.deps import (
    MAX_ROUND,
    CouncilCode,
    CycleId,
    RecordId,
    RoundNumber,
    check_csrf,
    csrf_viewer,
    form_int,
    platform_of,
    render,
    see_other,
    viewer_of,
)
from glasnost.service.routes.lane import ProposalIn, unchecked_proposal

router = APIRouter()


class RunIn(BaseModel):
    limit: int = Field(default=200, ge=1, le=10_000)


def _form_quantities(form: Any, prefix: str) -> dict[str, str]:
    return {
        key[len(prefix) :]: str(value).strip()
        for key, value in form.multi_items()
        if key.startswith(prefix) and str(value).strip() != ""
    }


# ---- pages -----------------------------------------------------------------------------------------


def _council_context(request: Request, cycle_id: int, code: str) -> dict[str, Any]:
    platform = platform_of(request)
    return {
        "cycle": platform.views.cycle_summary(cycle_id),
        "position": platform.views.council_position(cycle_id, code),
        "mine": code in platform.cycles.seats(viewer_of(request), cycle_id),
    }


@router.get("/cycles/{cycle_id}/councils/{code}", include_in_schema=False)
def council_page(request: Request, cycle_id: CycleId, code: CouncilCode) -> Response:
    """A council's page; with ``?suggestion=1`` its proposal form starts from the modelled proposal."""
    page = _council_context(request, cycle_id, code)
    typed: dict[str, str] = {}
    suggestion = page["position"]["modelled"]
    if request.query_params.get("suggestion") and suggestion:
        typed = {f"{side}:{cid}": f"{q:.6g}" for side in ("supply", "demand") for cid, q in suggestion[side].items()}
    return render(request, "council.html", typed=typed, **page)


def _error_field(exc: Exception, fields: set[str]) -> str | None:
    """The field of the proposal form an error is about: ``supply:ID`` or ``demand:ID`` (a quantity),
    ``budget`` (the total), ``empty``, ``csv`` (the upload), or None (the form as a whole)."""
    where = getattr(exc, "where", None)
    _, found, _ = match(str(getattr(exc, "message", exc)), where)
    if where is not None and where.startswith("CSV"):
        return "csv"
    if found is None:
        return None
    values = {k: v.strip("'\"") for k, v in found.values.items()}
    template = found.template
    if "commodity" in values and "what" in values:
        field = f"{values['what']}:{values['commodity']}"
    elif template.startswith("offers "):
        field = f"supply:{values['commodity']}"
    elif template.startswith("asks for {commodity}"):
        field = f"demand:{values['commodity']}"
    elif template.startswith("asks for {cost}"):
        return "budget"
    elif template.startswith("your proposal is empty"):
        return "empty"
    else:
        return None
    return field if field in fields else None


@router.post("/cycles/{cycle_id}/councils/{code}/proposal", include_in_schema=False)
async def proposal_form(request: Request, cycle_id: CycleId, code: CouncilCode) -> Response:
    """A proposal by form or CSV upload. A refusal (a bad quantity, over budget, the round closed
    meanwhile) shows the council's page again with the message on the form and what was typed in
    its fields, so nothing typed is lost."""
    form = await request.form()
    viewer = await check_csrf(request, form)
    platform = platform_of(request)
    typed = {k: str(v) for k, v in form.multi_items() if k.startswith(("supply:", "demand:")) and isinstance(v, str)}
    try:
        upload = form.get("csv")
        if upload is not None and not isinstance(upload, str) and upload.filename:
            raw = await upload.read()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise BadInputError(f"the CSV file is not UTF-8 text (byte {exc.start})", where="CSV") from None
            supply, demand = await run_in_threadpool(platform.rounds.parse_csv, text)
            source = "csv"
        else:
            supply, demand = _form_quantities(form, "supply:"), _form_quantities(form, "demand:")
            source = "form"
            if not _asks_or_offers(supply, demand) and not form.get("confirm_empty"):
                raise BadInputError("your proposal is empty: it asks for nothing and offers nothing", where="proposal")
        await run_in_threadpool(
            platform.rounds.submit,
            viewer,
            cycle_id,
            code,
            supply,
            demand,
            round_number=form_int(form, "round", None, low=1, high=MAX_ROUND, required=False),
            source=source,
            idempotency_key=str(form.get("idempotency_key") or "")[:100] or None,
        )
    except (BadInputError, ConflictError, RateLimitedError) as exc:
        page = await run_in_threadpool(_council_context, request, cycle_id, code)
        fields = {f"{side}:{c['id']}" for side in ("supply", "demand") for c in page["cycle"]["commodities"]}
        locale = locale_of(request)
        own = bool(exc.where and exc.where.startswith(("council ", "proposal")))  # this form's own council
        return render(
            request,
            "council.html",
            status_code=exc.status,
            form_error=localize_error(exc, locale, place=not own),
            error_field=_error_field(exc, fields),
            typed=typed,
            **page,
        )
    return see_other(f"/cycles/{cycle_id}/councils/{code}?submitted=1")


def _asks_or_offers(supply: dict[str, str], demand: dict[str, str]) -> bool:
    """Whether a form's quantities hold anything but zeros (what is not a number counts: the checks name it)."""
    for value in (*supply.values(), *demand.values()):
        try:
            if float(value) != 0:
                return True
        except ValueError:
            return True
    return False


@router.post("/cycles/{cycle_id}/close", include_in_schema=False)
async def close_form(request: Request, cycle_id: CycleId) -> Response:
    """The board's buttons: close the round the page showed (named, so a second click or a page
    open in two tabs does not close the next one), or run rounds until convergence."""
    form = await request.form()
    viewer = await check_csrf(request, form)
    platform = platform_of(request)
    if str(form.get("until") or "") == "converged":
        limit = form_int(form, "limit", 200, low=1, high=10_000)
        await run_in_threadpool(platform.rounds.run, viewer, cycle_id, limit)
    else:
        number = form_int(form, "round", None, low=1, high=MAX_ROUND)
        await run_in_threadpool(platform.rounds.close, viewer, cycle_id, number)
    return see_other(f"/cycles/{cycle_id}")


@router.get("/cycles/{cycle_id}/rounds/{number}", include_in_schema=False)
def round_page(request: Request, cycle_id: CycleId, number: RoundNumber) -> Response:
    platform = platform_of(request)
    return render(
        request,
        "round.html",
        cycle=platform.views.cycle_summary(cycle_id, series=True),
        rnd=platform.views.round_detail(cycle_id, number),
    )


# ---- API -------------------------------------------------------------------------------------------


def _prepare(request: Request, cycle_id: int, *args: Any, **kwargs: Any) -> Any:
    """Who is asking and the proposal's checks, in one trip to a worker thread; with a bearer token,
    the account and the open round are read in one query."""
    rounds = platform_of(request).rounds
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        viewer, rnd = rounds.viewer_and_round(auth[7:].strip(), "bearer", cycle_id)
        request.state.viewer = viewer
        return rounds.prepare(viewer, cycle_id, *args, open_round=rnd, **kwargs)
    return rounds.prepare(csrf_viewer(request), cycle_id, *args, **kwargs)


@router.post("/api/cycles/{cycle_id}/proposals", status_code=201, tags=["rounds"])
async def api_submit(
    request: Request,
    cycle_id: CycleId,
    body: ProposalIn,
    idempotency_key: str | None = Header(default=None, max_length=100),
) -> Response:
    """Submit (or revise) a council's proposal for the open round; answers with its log receipt.

    Repeating a request with the same ``Idempotency-Key`` header returns the first answer (its
    receipt included, waited for if it is still being written: 503 with ``Retry-After`` if it does not
    come) and stores nothing new."""
    platform = platform_of(request)
    auth = request.headers.get("authorization", "")
    if idempotency_key is None and auth[:7].lower() == "bearer ":
        # the hottest path (a council's program): checked with its whole batch by the intake, which
        # reads every token and open round of the batch at once; nothing here but the wait
        # (:class:`~glasnost.service.routes.lane.ProposalLane` answers most such requests before they get here)
        unchecked = unchecked_proposal(auth[7:].strip(), cycle_id, body)
        return JSONResponse(await platform.intake.enqueue_async(unchecked), status_code=201)
    # otherwise the checks (a one-row lookup each) in one worker-thread trip, and the wait for the
    # group commit awaited, so no worker thread is held while a batch is written
    item = await run_in_threadpool(
        _prepare,
        request,
        cycle_id,
        body.council,
        body.supply,
        body.demand,
        round_number=body.round,
        source="api",
        idempotency_key=idempotency_key,
    )
    answer = item if isinstance(item, dict) else await platform.intake.enqueue_async(item)
    if answer["receipt"] is None:  # a repeated key, read back before its receipt was recorded on the row
        answer = await run_in_threadpool(platform.intake.with_receipt, answer)
    return JSONResponse(answer, status_code=201)


@router.post(
    "/api/cycles/{cycle_id}/proposals.csv",
    status_code=201,
    tags=["rounds"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "header commodity,supply,demand; one row per commodity",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def api_submit_csv(
    request: Request,
    cycle_id: CycleId,
    council: str = Query(min_length=1, max_length=100),
    round: int | None = Query(default=None, ge=1, le=MAX_ROUND),
    idempotency_key: str | None = Header(default=None, max_length=100),
) -> dict[str, Any]:
    """A proposal as CSV (``commodity,supply,demand``), the request body as text/csv. A malformed
    or empty file is refused (422, naming line and column) and nothing is replaced."""
    viewer = await check_csrf(request)
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"the CSV body is not UTF-8 text (byte {exc.start})", where="CSV") from None
    platform = platform_of(request)
    supply, demand = await run_in_threadpool(platform.rounds.parse_csv, text)
    return await run_in_threadpool(
        platform.rounds.submit,
        viewer,
        cycle_id,
        council,
        supply,
        demand,
        round_number=round,
        source="csv",
        idempotency_key=idempotency_key,
    )


@router.get("/api/cycles/{cycle_id}/proposals/{proposal_id}", tags=["rounds"])
def api_proposal(request: Request, cycle_id: CycleId, proposal_id: RecordId) -> dict[str, Any]:
    """One proposal as stored, with its public-log receipt."""
    return platform_of(request).rounds.proposal(cycle_id, proposal_id)


@router.post("/api/cycles/{cycle_id}/rounds/{number}/close", tags=["rounds"])
async def api_close(request: Request, cycle_id: CycleId, number: RoundNumber) -> dict[str, Any]:
    """Close round ``number`` (board only): councils that did not answer get modelled proposals.

    Idempotent: closing a round that is closed already answers its result and changes nothing;
    a round that is not open yet is refused with 409."""
    viewer = await check_csrf(request)
    return await run_in_threadpool(platform_of(request).rounds.close, viewer, cycle_id, number)


@router.post("/api/cycles/{cycle_id}/rounds/run", tags=["rounds"])
async def api_run(request: Request, cycle_id: CycleId, body: RunIn) -> dict[str, Any]:
    """Close rounds until convergence or ``limit`` rounds (board only)."""
    viewer = await check_csrf(request)
    return await run_in_threadpool(platform_of(request).rounds.run, viewer, cycle_id, body.limit)


@router.get("/api/cycles/{cycle_id}/rounds/{number}", tags=["rounds"])
def api_round(request: Request, cycle_id: CycleId, number: RoundNumber) -> dict[str, Any]:
    return platform_of(request).views.round_detail(cycle_id, number)


@router.get("/api/cycles/{cycle_id}/councils/{code}", tags=["rounds"])
def api_position(request: Request, cycle_id: CycleId, code: CouncilCode) -> dict[str, Any]:
    """A council's position: its proposals by round (own or modelled), cost and benefit."""
    return platform_of(request).views.council_position(cycle_id, code)


def dumps(obj: Any) -> str:
    return json.dumps(obj)
