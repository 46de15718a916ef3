"""The initiative's pages and JSON: a cycle's amendments, the amendment form with the calculator's
verdict (checked before anything is stored), an amendment with its signatures, signing, and the
board's debate settings of a cycle (answer time, quorum)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from glasnost.service.debate import initiative
from glasnost.service.errors import BadInputError, NotFoundError
from glasnost.service.i18n import locale_of, localize, localize_error
from glasnost.service.routes.deps import CycleId, RecordId, check_csrf, form_int, platform_of, render, see_other

router = APIRouter()


def _said(request: Request, exc: Exception) -> str:
    """A refusal in the page's language, without its place (shown beside the field it names)."""
    return localize_error(exc, locale_of(request), place=False)

FIELDS = ("kind", "commodity", "amount", "investment_percent", "reason", "variant")


class ChangeIn(BaseModel):
    kind: str = Field(max_length=20)
    commodity: str | None = Field(default=None, max_length=200)
    amount: float | str | None = None
    investment_percent: float | str | None = None
    reason: str = Field(default="", max_length=2000)


def _cycle_context(request: Request, cycle_id: int) -> dict[str, Any]:
    p = platform_of(request)
    cycle = p.views.cycle_summary(cycle_id)
    with p.db.read() as s:
        variants = [{"id": v.id, "key": v.key, "title": v.title, "data": v.data} for v in p.votes.variants(s, cycle_id)]
        listed = initiative.amendments(p, s, cycle_id=cycle_id)
        settings = initiative.settings_of(s, cycle_id)
        quorum = initiative.quorum(s, cycle_id)
        members = initiative.members(s, cycle_id)
    eng = p.cycles.engine(cycle_id)
    goods = sorted(eng.consumer_goods)
    return {"cycle": cycle, "variants": variants, "amendments": listed, "settings": settings, "quorum": quorum,
            "members": members, "goods": goods, "public": {g for g in goods if eng.public[eng.position[g]]}}


@router.get("/cycles/{cycle_id}/amendments", include_in_schema=False)
def amendments_page(request: Request, cycle_id: CycleId) -> Response:
    return render(request, "debate_amendments.html", **_cycle_context(request, cycle_id))


def _form_page(request: Request, cycle_id: int, status: int = 200, **extra: Any) -> Response:
    ctx = {"errors": {}, "typed": {}, "verdict": None, **_cycle_context(request, cycle_id), **extra}
    return render(request, "debate_amendment_new.html", status_code=status, **ctx)


@router.get("/cycles/{cycle_id}/amendments/new", include_in_schema=False)
def amendment_form_page(request: Request, cycle_id: CycleId, variant: str = "") -> Response:
    return _form_page(request, cycle_id, typed={"variant": variant[:20], "kind": "target"})


@router.post("/cycles/{cycle_id}/amendments/new", include_in_schema=False)
async def amendment_form(request: Request, cycle_id: CycleId) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    typed = {k: str(form.get(k) or "") for k in FIELDS}
    p = platform_of(request)
    try:
        variant_id = form_int(form, "variant", None, low=1, high=2**31 - 1)
        change = initiative.parse_change(form)
        if form.get("action") == "propose":
            made = await run_in_threadpool(initiative.propose, p, viewer, variant_id, change, typed["reason"])
            return see_other(f"/amendments/{made['id']}")
        verdict = await run_in_threadpool(initiative.check, p, variant_id, change)
    except (BadInputError, NotFoundError) as exc:
        where = exc.where if exc.where in FIELDS else "amount"
        errors = {where: _said(request, exc)}
        return await run_in_threadpool(_form_page, request, cycle_id, exc.status, errors=errors, typed=typed)
    if not verdict["feasible"]:  # the calculator's reason in the page's language
        verdict = {**verdict, "why": localize(verdict["why"], locale_of(request))}
    return await run_in_threadpool(_form_page, request, cycle_id, typed=typed, verdict=verdict, change=change)


def _one(request: Request, amendment_id: int) -> dict[str, Any]:
    p = platform_of(request)
    with p.db.read() as s:
        found = initiative.amendments(p, s, amendment_id=amendment_id)
    if not found:
        raise NotFoundError(f"there is no amendment {amendment_id}", where="amendment")
    return found[0]


@router.get("/amendments/{amendment_id}", include_in_schema=False)
def amendment_page(request: Request, amendment_id: RecordId) -> Response:
    return render(request, "debate_amendment.html", a=_one(request, amendment_id))


@router.post("/amendments/{amendment_id}/sign", include_in_schema=False)
async def sign_form(request: Request, amendment_id: RecordId) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    await run_in_threadpool(initiative.sign, platform_of(request), viewer, amendment_id)
    return see_other(f"/amendments/{amendment_id}")


@router.get("/cycles/{cycle_id}/debate-settings", include_in_schema=False)
def settings_page(request: Request, cycle_id: CycleId) -> Response:
    return render(request, "debate_settings.html", errors={}, **_cycle_context(request, cycle_id))


@router.post("/cycles/{cycle_id}/debate-settings", include_in_schema=False)
async def settings_form(request: Request, cycle_id: CycleId) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    viewer.require_board()
    days = form_int(form, "answer_days", None, low=1, high=365)
    percent = form_int(form, "quorum_percent", None, low=1, high=100)
    await run_in_threadpool(initiative.update_settings, platform_of(request), viewer, cycle_id, days, percent / 100)
    return see_other(f"/cycles/{cycle_id}/amendments")


# ---- JSON ----------------------------------------------------------------------------------------


@router.post("/api/variants/{variant_id}/amendments/check")
async def api_check(request: Request, variant_id: RecordId, body: ChangeIn) -> dict[str, Any]:
    """What the calculator says about an amendment (nothing stored)."""
    change = initiative.parse_change(body.model_dump())
    return await run_in_threadpool(initiative.check, platform_of(request), variant_id, change)


@router.post("/api/variants/{variant_id}/amendments")
async def api_propose(request: Request, variant_id: RecordId, body: ChangeIn) -> dict[str, Any]:
    """A member's amendment to a plan variant; refused (422, with why) when the calculator finds it infeasible."""
    viewer = await check_csrf(request)
    change = initiative.parse_change(body.model_dump())
    return await run_in_threadpool(initiative.propose, platform_of(request), viewer, variant_id, change, body.reason)


@router.get("/api/amendments/{amendment_id}")
def api_amendment(request: Request, amendment_id: RecordId) -> dict[str, Any]:
    return _one(request, amendment_id)


@router.post("/api/amendments/{amendment_id}/signatures")
async def api_sign(request: Request, amendment_id: RecordId) -> dict[str, Any]:
    viewer = await check_csrf(request)
    return await run_in_threadpool(initiative.sign, platform_of(request), viewer, amendment_id)
