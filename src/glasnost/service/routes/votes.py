"""Plan variants, the vote, receipts and the tally."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from glasnost.service import models as m
from glasnost.service.routes.deps import check_csrf, platform_of, render, see_other, viewer_of

router = APIRouter()


class BallotIn(BaseModel):
    approve: list[str] = Field(default_factory=list, max_length=100)
    ranking: list[list[str] | str] = Field(default_factory=list, max_length=100)


def _vote_context(request: Request, cycle_id: int) -> dict[str, Any]:
    platform = platform_of(request)
    viewer = viewer_of(request)
    with platform.db.read() as s:
        variants = [
            {
                "id": v.id,
                "key": v.key,
                "title": v.title,
                "description": v.description,
                "data": v.data,
                "ledger_index": v.ledger_index,
            }
            for v in platform.variants(s, cycle_id)
        ]
        vote = s.scalar(select(m.Vote).where(m.Vote.cycle_id == cycle_id))
        voted = False
        member = False
        if vote is not None and not viewer.anonymous:
            voted = (
                s.scalar(select(m.Voter.id).where(m.Voter.vote_id == vote.id, m.Voter.account_id == viewer.account_id))
                is not None
            )
            member = platform.is_member(s, viewer, cycle_id)
        vote_view = (
            None
            if vote is None
            else {"status": vote.status, "rules": vote.rules, "tally": vote.tally, "frozen": vote.frozen_hash}
        )
    return {"variants": variants, "vote": vote_view, "voted": voted, "member": member}


@router.get("/cycles/{cycle_id}/vote", include_in_schema=False)
def vote_page(request: Request, cycle_id: int) -> Response:
    platform = platform_of(request)
    return render(request, "vote.html", cycle=platform.cycle_summary(cycle_id), **_vote_context(request, cycle_id))


@router.post("/cycles/{cycle_id}/vote", include_in_schema=False)
async def vote_form(request: Request, cycle_id: int) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    platform = platform_of(request)
    action = str(form.get("action") or "ballot")
    if action == "variants":
        await run_in_threadpool(platform.publish_variants, viewer, cycle_id)
    elif action == "open":
        await run_in_threadpool(platform.open_vote, viewer, cycle_id)
    elif action == "close":
        await run_in_threadpool(platform.close_vote, viewer, cycle_id)
    else:
        approve = [str(v) for v in form.getlist("approve")]
        ranks: dict[int, list[str]] = {}
        for key, value in form.multi_items():
            if key.startswith("rank:") and str(value).strip():
                try:
                    level = int(str(value))
                except ValueError:
                    level = 10**6
                ranks.setdefault(level, []).append(key[5:])
        ranking = [ranks[k] for k in sorted(ranks)]
        receipt = await run_in_threadpool(platform.cast, viewer, cycle_id, approve, ranking)
        return render(request, "receipt_new.html", cycle_id=cycle_id, receipt=receipt)
    return see_other(f"/cycles/{cycle_id}/vote")


@router.get("/receipts", include_in_schema=False)
def receipt_page(request: Request, code: str = "") -> Response:
    result = platform_of(request).check_receipt(code) if code else None
    return render(request, "receipt.html", code=code, result=result)


@router.get("/api/cycles/{cycle_id}/vote", tags=["votes"])
def api_vote(request: Request, cycle_id: int) -> dict[str, Any]:
    """Variants, rules, and (once closed) the tally; public."""
    ctx = _vote_context(request, cycle_id)
    return {"variants": ctx["variants"], "vote": ctx["vote"]}


@router.post("/api/cycles/{cycle_id}/variants", tags=["votes"])
async def api_variants(request: Request, cycle_id: int) -> list[dict[str, Any]]:
    """Publish the plan variants (board only, after convergence)."""
    viewer = await check_csrf(request)
    return await run_in_threadpool(platform_of(request).publish_variants, viewer, cycle_id)


@router.post("/api/cycles/{cycle_id}/vote/open", tags=["votes"])
async def api_open_vote(request: Request, cycle_id: int) -> dict[str, Any]:
    viewer = await check_csrf(request)
    return await run_in_threadpool(platform_of(request).open_vote, viewer, cycle_id)


@router.post("/api/cycles/{cycle_id}/vote/ballots", status_code=201, tags=["votes"])
async def api_cast(request: Request, cycle_id: int, body: BallotIn) -> dict[str, Any]:
    """Cast a member's ballot; the answer holds the receipt code (keep it: only its hash is stored)."""
    viewer = await check_csrf(request)
    ranking = [[g] if isinstance(g, str) else g for g in body.ranking]
    return await run_in_threadpool(platform_of(request).cast, viewer, cycle_id, body.approve, ranking)


@router.post("/api/cycles/{cycle_id}/vote/close", tags=["votes"])
async def api_close_vote(request: Request, cycle_id: int) -> dict[str, Any]:
    viewer = await check_csrf(request)
    return await run_in_threadpool(platform_of(request).close_vote, viewer, cycle_id)


@router.get("/api/receipts/{code}", tags=["votes"])
def api_receipt(request: Request, code: str) -> dict[str, Any]:
    """The ballot under a receipt code, with its log entry and a checked inclusion proof."""
    return platform_of(request).check_receipt(code)
