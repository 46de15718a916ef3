"""Elections and recall: pages and the API.

Pages: ``/cycles/{id}/elections`` (every election of the cycle, the share of posts contested, the
board's forms), ``/elections/{id}`` (stand, nominate, accept, vote, the result), ``/terms/{id}`` (an
office holder's term and the recall petition), ``/elections/receipts`` (a voter checks a receipt).
A refused form comes back with its message beside it and what was typed kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from glasnost.service.elections.receipts import check_receipt
from glasnost.service.errors import BadInputError, ServiceError
from glasnost.service.i18n import locale_of, localize_error
from glasnost.service.routes.deps import (
    CouncilCode,
    CycleId,
    RecordId,
    check_csrf,
    form_int,
    platform_of,
    render,
    see_other,
    viewer_of,
)

router = APIRouter()


class ElectionIn(BaseModel):
    council: str = Field(min_length=1, max_length=100)
    post: str = Field(default="delegates", max_length=16)
    seats: int = Field(default=1, ge=1, le=100)
    term_days: int = Field(default=365, ge=1, le=3650)
    nomination_hours: float = Field(default=72.0, ge=0, le=8760, allow_inf_nan=False)
    voting_hours: float = Field(default=72.0, ge=0, le=8760, allow_inf_nan=False)


class MemberIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)


class CandidateIn(BaseModel):
    username: str | None = Field(default=None, min_length=1, max_length=64, description="nominate; empty: stand")
    statement: str = Field(default="", max_length=500)


class ElectionBallotIn(BaseModel):
    choice: list[list[str] | str] = Field(
        max_length=200, description="ranked: groups best first; approval: candidates; recall: ['yes'] or ['no']"
    )


class ElectionReceiptIn(BaseModel):
    code: str = Field(max_length=2000, description="the receipt code shown when the ballot was cast")


class RecallShareIn(BaseModel):
    percent: float = Field(gt=0, le=100, allow_inf_nan=False)
    days: int = Field(default=7, ge=1, le=365)


# ---- API ---------------------------------------------------------------------------------------------


@router.get("/api/cycles/{cycle_id}/elections", tags=["elections"])
def api_elections(request: Request, cycle_id: CycleId) -> dict[str, Any]:
    """Every election of the cycle with candidates, turnout and results, and the share of posts contested."""
    return platform_of(request).election_views.cycle(cycle_id)


@router.post("/api/cycles/{cycle_id}/elections", status_code=201, tags=["elections"])
async def api_call(request: Request, cycle_id: CycleId, body: ElectionIn) -> dict[str, Any]:
    """Call an election (board): ``post`` is ``delegates`` (``seats``) or ``manager`` (a workplace's)."""
    viewer = await check_csrf(request)
    p = platform_of(request)
    election = await run_in_threadpool(
        p.elections.call,
        viewer,
        cycle_id,
        body.council,
        body.post,
        seats=body.seats,
        term_days=body.term_days,
        nomination_hours=body.nomination_hours,
        voting_hours=body.voting_hours,
    )
    p.jobs.mail_waiting()
    return {"id": election}


@router.post("/api/cycles/{cycle_id}/councils/{code}/members", status_code=201, tags=["elections"])
async def api_add_member(request: Request, cycle_id: CycleId, code: CouncilCode, body: MemberIn) -> dict[str, Any]:
    """Make an account a member of a council (board)."""
    viewer = await check_csrf(request)
    return await run_in_threadpool(platform_of(request).elections.add_member, viewer, cycle_id, code, body.username)


@router.put("/api/cycles/{cycle_id}/recall-share", tags=["elections"])
async def api_recall_share(request: Request, cycle_id: CycleId, body: RecallShareIn) -> dict[str, Any]:
    """The share of a council's members whose signatures open a recall vote (board; default 20%)."""
    viewer = await check_csrf(request)
    return await run_in_threadpool(
        platform_of(request).recalls.set_share, viewer, cycle_id, body.percent / 100, body.days
    )


@router.post("/api/elections/receipts", tags=["elections"])
def api_receipt(request: Request, body: ElectionReceiptIn) -> dict[str, Any]:
    """Whether the ballot under a receipt code is sealed (voting open) or was counted, and in which
    election; never what it said."""
    return check_receipt(platform_of(request), body.code)


@router.get("/api/elections/{election_id}", tags=["elections"])
def api_election(request: Request, election_id: RecordId) -> dict[str, Any]:
    return platform_of(request).election_views.election(election_id, viewer_of(request))


@router.post("/api/elections/{election_id}/candidates", status_code=201, tags=["elections"])
async def api_candidate(request: Request, election_id: RecordId, body: CandidateIn) -> dict[str, Any]:
    """Stand (no ``username``) or nominate another member (who stands once they accept)."""
    viewer = await check_csrf(request)
    p = platform_of(request)
    if body.username:
        await run_in_threadpool(p.elections.nominate, viewer, election_id, body.username)
    else:
        await run_in_threadpool(p.elections.stand, viewer, election_id, body.statement)
    return {"election": election_id, "candidate": body.username or viewer.username}


@router.post("/api/elections/{election_id}/accept", tags=["elections"])
async def api_accept(request: Request, election_id: RecordId) -> dict[str, Any]:
    viewer = await check_csrf(request)
    await run_in_threadpool(platform_of(request).elections.accept, viewer, election_id)
    return {"election": election_id, "candidate": viewer.username}


@router.post("/api/elections/{election_id}/voting", tags=["elections"])
async def api_start_voting(request: Request, election_id: RecordId) -> dict[str, Any]:
    """Close nominations now and open the ballot box (board; otherwise at ``nominations_close``)."""
    viewer = await check_csrf(request)
    return await run_in_threadpool(platform_of(request).elections.start_voting, viewer, election_id)


@router.post("/api/elections/{election_id}/ballots", status_code=201, tags=["elections"])
async def api_cast(request: Request, election_id: RecordId, body: ElectionBallotIn) -> dict[str, Any]:
    """Cast a secret ballot; the answer's receipt code is shown once."""
    viewer = await check_csrf(request)
    return await run_in_threadpool(platform_of(request).elections.cast, viewer, election_id, list(body.choice))


@router.post("/api/elections/{election_id}/close", tags=["elections"])
async def api_close(request: Request, election_id: RecordId) -> dict[str, Any]:
    """Close voting now and count (board; otherwise at ``voting_close``)."""
    viewer = await check_csrf(request)
    p = platform_of(request)
    tally = await run_in_threadpool(p.elections.close, viewer, election_id)
    p.jobs.mail_waiting()
    return tally


@router.get("/api/terms/{term_id}", tags=["elections"])
def api_term(request: Request, term_id: RecordId) -> dict[str, Any]:
    """A term of office and its recall petitions (counts only: who signed is secret)."""
    return platform_of(request).election_views.term(term_id)


@router.post("/api/terms/{term_id}/signatures", status_code=201, tags=["elections"])
async def api_sign(request: Request, term_id: RecordId) -> dict[str, Any]:
    """Sign the petition to recall the term's holder (a member of the council; once)."""
    viewer = await check_csrf(request)
    p = platform_of(request)
    result = await run_in_threadpool(p.recalls.sign, viewer, term_id)
    p.jobs.mail_waiting()
    return result


# ---- pages -------------------------------------------------------------------------------------------


def _refused(request: Request, exc: ServiceError) -> str:
    return localize_error(exc, locale_of(request), place=False)


@router.get("/cycles/{cycle_id}/elections", include_in_schema=False)
def elections_page(request: Request, cycle_id: CycleId) -> Response:
    return render(request, "elections.html", **platform_of(request).election_views.cycle(cycle_id), typed={})


CALL_FIELDS = (
    "council",
    "post",
    "seats",
    "term_days",
    "nomination_hours",
    "voting_hours",
    "username",
    "member_council",
    "recall_share_percent",
)


def _board_action(request: Request, cycle_id: int, form: Any, viewer: Any) -> None:
    p = platform_of(request)
    action = str(form.get("action") or "")
    if action == "call":
        p.elections.call(
            viewer,
            cycle_id,
            str(form.get("council") or ""),
            str(form.get("post") or "delegates"),
            seats=form_int(form, "seats", 1, low=1, high=100),
            term_days=form_int(form, "term_days", 365, low=1, high=3650),
            nomination_hours=form_int(form, "nomination_hours", 72, low=0, high=8760),
            voting_hours=form_int(form, "voting_hours", 72, low=0, high=8760),
        )
    elif action == "member":
        p.elections.add_member(viewer, cycle_id, str(form.get("member_council") or ""), str(form.get("username") or ""))
    elif action == "share":
        percent = form_int(form, "recall_share_percent", None, low=1, high=100)
        p.recalls.set_share(viewer, cycle_id, percent / 100)
    else:
        raise BadInputError(f"action {action[:40]!r}: choose 'call', 'member' or 'share'", where="action")


@router.post("/cycles/{cycle_id}/elections", include_in_schema=False)
async def elections_form(request: Request, cycle_id: CycleId) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    try:
        await run_in_threadpool(_board_action, request, cycle_id, form, viewer)
    except ServiceError as exc:
        ctx = await run_in_threadpool(platform_of(request).election_views.cycle, cycle_id)
        typed = {k: str(form.get(k) or "") for k in CALL_FIELDS}
        return render(
            request,
            "elections.html",
            status_code=exc.status,
            form_error=_refused(request, exc),
            error_form=str(form.get("action") or ""),
            error_field=exc.where,
            typed=typed,
            **ctx,
        )
    platform_of(request).jobs.mail_waiting()
    return see_other(f"/cycles/{cycle_id}/elections")


def _ballot_of(form: Any, rule: str) -> list[Any]:
    """The ballot from the form: ranks typed per candidate (ranked), ticked candidates (approval),
    or yes/no (recall)."""
    if rule == "majority":
        return [str(form.get("answer") or "")] if form.get("answer") else []
    if rule == "seq-phragmen":
        return [str(v) for v in form.getlist("approve")]
    groups: dict[int, list[str]] = {}
    for key, value in form.multi_items():
        if key.startswith("rank:") and str(value).strip():
            try:
                level = int(str(value))
            except ValueError:
                raise BadInputError(f"{str(value)[:40]!r} is not a whole number", where="ballot") from None
            groups.setdefault(level, []).append(key[5:])
    return [groups[k] for k in sorted(groups)]


def _election_action(request: Request, election_id: int, form: Any, viewer: Any) -> dict[str, Any] | None:
    p = platform_of(request)
    action = str(form.get("action") or "")
    if action == "stand":
        p.elections.stand(viewer, election_id, str(form.get("statement") or ""))
    elif action == "nominate":
        p.elections.nominate(viewer, election_id, str(form.get("username") or ""))
    elif action == "accept":
        p.elections.accept(viewer, election_id)
    elif action == "start":
        p.elections.start_voting(viewer, election_id)
    elif action == "close":
        p.elections.close(viewer, election_id)
    elif action == "vote":
        rule = p.election_views.election(election_id, viewer)["election"]["rule"]
        return p.elections.cast(viewer, election_id, _ballot_of(form, rule))
    else:
        raise BadInputError(f"action {action[:40]!r}: choose 'stand', 'nominate', 'accept' or 'vote'", where="action")
    return None


@router.get("/elections/receipts", include_in_schema=False)
def receipt_page(request: Request, code: str | None = Query(None, max_length=2000)) -> Response:
    """The receipt check's form and, with a code, its answer (a refusal beside the field, the code kept)."""
    if code is None:
        return render(request, "election_receipt.html", code="")
    try:
        result = check_receipt(platform_of(request), code)
    except ServiceError as exc:
        return render(request, "election_receipt.html", status_code=exc.status, code=code,
                      code_error=_refused(request, exc))
    return render(request, "election_receipt.html", code=code, result=result)


@router.get("/elections/{election_id}", include_in_schema=False)
def election_page(request: Request, election_id: RecordId) -> Response:
    return render(
        request,
        "election.html",
        **platform_of(request).election_views.election(election_id, viewer_of(request)),
        typed={},
    )


@router.post("/elections/{election_id}", include_in_schema=False)
async def election_form(request: Request, election_id: RecordId) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    p = platform_of(request)
    try:
        receipt = await run_in_threadpool(_election_action, request, election_id, form, viewer)
    except ServiceError as exc:
        ctx = await run_in_threadpool(p.election_views.election, election_id, viewer)
        typed = {k: str(form.get(k) or "") for k in ("username", "statement")}
        return render(
            request,
            "election.html",
            status_code=exc.status,
            form_error=_refused(request, exc),
            error_form=str(form.get("action") or ""),
            typed=typed,
            **ctx,
        )
    p.jobs.mail_waiting()
    if receipt is not None:
        ctx = await run_in_threadpool(p.election_views.election, election_id, viewer)
        return render(request, "election.html", receipt=receipt, typed={}, **ctx)
    return see_other(f"/elections/{election_id}")


@router.get("/terms/{term_id}", include_in_schema=False)
def term_page(request: Request, term_id: RecordId) -> Response:
    return render(request, "term.html", **platform_of(request).election_views.term(term_id))


@router.post("/terms/{term_id}", include_in_schema=False)
async def term_form(request: Request, term_id: RecordId) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    p = platform_of(request)
    try:
        signed = await run_in_threadpool(p.recalls.sign, viewer, term_id)
    except ServiceError as exc:
        ctx = await run_in_threadpool(p.election_views.term, term_id)
        return render(request, "term.html", status_code=exc.status, form_error=_refused(request, exc), **ctx)
    p.jobs.mail_waiting()
    ctx = await run_in_threadpool(p.election_views.term, term_id)
    return render(request, "term.html", signed=signed, **ctx)
