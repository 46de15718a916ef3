"""Plan variants, the vote, receipts and the tally."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from glasnost.service.routes.deps import CycleId, check_csrf, platform_of, render, see_other, viewer_of
from glasnost.service.views import variant_comparison

router = APIRouter()


class BallotIn(BaseModel):
    approve: list[str] = Field(default_factory=list, max_length=100)
    ranking: list[list[str] | str] = Field(default_factory=list, max_length=100)


class ReceiptCode(BaseModel):
    code: str = Field(min_length=1, max_length=200)


def _vote_context(request: Request, cycle_id: int) -> dict[str, Any]:
    return platform_of(request).views.vote(cycle_id, viewer_of(request))


def _vote_page(request: Request, cycle_id: int, ballot: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the vote page shows: the cycle, the variants compared side by side, the vote, and the
    ballot being filled in (``ballot``: approve and ranks, when the member goes back to change it)."""
    platform = platform_of(request)
    cycle = platform.views.cycle_summary(cycle_id)
    ctx = _vote_context(request, cycle_id)
    return {
        "cycle": cycle,
        "comparison": variant_comparison(ctx["variants"], cycle["commodities"]),
        "ballot": ballot,
        **ctx,
    }


@router.get("/cycles/{cycle_id}/vote", include_in_schema=False)
def vote_page(request: Request, cycle_id: CycleId) -> Response:
    return render(request, "vote.html", **_vote_page(request, cycle_id))


def _ballot_of(form: Any) -> dict[str, Any]:
    """A ballot from the form: approvals, the rank typed for each variant, the ranking (groups of equal
    rank, best first) and the variants left unranked (counted last)."""
    approve = [str(v) for v in form.getlist("approve")]
    ranks: dict[str, int] = {}
    for key, value in form.multi_items():
        if key.startswith("rank:") and str(value).strip():
            try:
                ranks[key[5:]] = min(max(int(str(value)), 0), 10**6)
            except ValueError:
                ranks[key[5:]] = 10**6
    groups: dict[int, list[str]] = {}
    for key, level in ranks.items():
        groups.setdefault(level, []).append(key)
    return {"approve": approve, "ranks": ranks, "ranking": [groups[k] for k in sorted(groups)]}


@router.post("/cycles/{cycle_id}/vote", include_in_schema=False)
async def vote_form(request: Request, cycle_id: CycleId) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    platform = platform_of(request)
    action = str(form.get("action") or "ballot")
    if action == "variants":
        await run_in_threadpool(platform.votes.publish_variants, viewer, cycle_id)
    elif action == "open":
        await run_in_threadpool(platform.votes.open, viewer, cycle_id)
    elif action == "close":
        await run_in_threadpool(platform.votes.close, viewer, cycle_id)
    elif action in ("review", "change"):
        # the confirmation step: the ballot in words, to cast or to change (nothing is stored yet)
        ballot = _ballot_of(form)
        page = await run_in_threadpool(_vote_page, request, cycle_id, ballot)
        if action == "change":
            return render(request, "vote.html", **page)
        keys = [v["key"] for v in page["variants"]]
        ballot["unranked"] = [k for k in keys if k not in ballot["ranks"]] if ballot["ranks"] else []
        return render(request, "vote_confirm.html", **page)
    else:
        ballot = _ballot_of(form)
        receipt = await run_in_threadpool(platform.votes.cast, viewer, cycle_id, ballot["approve"], ballot["ranking"])
        variants = (await run_in_threadpool(_vote_context, request, cycle_id))["variants"]
        return render(request, "receipt_new.html", cycle_id=cycle_id, receipt=receipt, variants=variants)
    return see_other(f"/cycles/{cycle_id}/vote")


@router.get("/receipts", include_in_schema=False)
def receipt_page(request: Request, code: str = Query("", max_length=200)) -> Response:
    result = platform_of(request).votes.check_receipt(code) if code else None
    return render(request, "receipt.html", code=code, result=result)


@router.get("/api/cycles/{cycle_id}/vote", tags=["votes"])
def api_vote(request: Request, cycle_id: CycleId) -> dict[str, Any]:
    """Variants, rules, the turnout, and (once closed) the tally; public."""
    ctx = _vote_context(request, cycle_id)
    return {"variants": ctx["variants"], "vote": ctx["vote"]}


@router.post("/api/cycles/{cycle_id}/variants", tags=["votes"])
async def api_variants(request: Request, cycle_id: CycleId) -> list[dict[str, Any]]:
    """Publish the plan variants (board only, after convergence)."""
    viewer = await check_csrf(request)
    return await run_in_threadpool(platform_of(request).votes.publish_variants, viewer, cycle_id)


@router.post("/api/cycles/{cycle_id}/vote/open", tags=["votes"])
async def api_open_vote(request: Request, cycle_id: CycleId) -> dict[str, Any]:
    viewer = await check_csrf(request)
    return await run_in_threadpool(platform_of(request).votes.open, viewer, cycle_id)


@router.post("/api/cycles/{cycle_id}/vote/ballots", status_code=201, tags=["votes"])
async def api_cast(request: Request, cycle_id: CycleId, body: BallotIn) -> dict[str, Any]:
    """Cast a member's ballot, sealed until the vote closes. The answer holds the receipt code (keep it:
    only its hash is stored), with which the member can check that the ballot was counted."""
    viewer = await check_csrf(request)
    ranking = [[g] if isinstance(g, str) else g for g in body.ranking]
    return await run_in_threadpool(platform_of(request).votes.cast, viewer, cycle_id, body.approve, ranking)


@router.post("/api/cycles/{cycle_id}/vote/close", tags=["votes"])
async def api_close_vote(request: Request, cycle_id: CycleId) -> dict[str, Any]:
    viewer = await check_csrf(request)
    return await run_in_threadpool(platform_of(request).votes.close, viewer, cycle_id)


@router.post("/api/receipts", tags=["votes"])
def api_receipt(request: Request, body: ReceiptCode) -> dict[str, Any]:
    """Whether the ballot under a receipt code is sealed (vote open) or counted (the published receipts
    entry, with a checked inclusion proof). Never what the ballot was. (A POST, so that the code does
    not travel in a URL that logs and proxies keep.)"""
    return platform_of(request).votes.check_receipt(body.code)
