"""Notifications: the member's choices (page and API) and each cycle's public Atom feed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from glasnost.service.errors import ServiceError
from glasnost.service.i18n import locale_of, localize_error
from glasnost.service.notifications.service import KIND_NAMES, KINDS
from glasnost.service.routes.deps import CycleId, check_csrf, platform_of, render, viewer_of

router = APIRouter()


class PrefsIn(BaseModel):
    email: str = Field(default="", max_length=254)
    kinds: list[str] = Field(default_factory=list, max_length=len(KINDS))
    locale: str = Field(default="en", pattern="^(en|ru)$")


@router.get("/api/notifications", tags=["notifications"])
def api_prefs(request: Request) -> dict[str, Any]:
    """What the member gets by email (``kinds``: any of rounds, elections, recall, results, criticism)."""
    return platform_of(request).notifications.prefs(viewer_of(request))


@router.put("/api/notifications", tags=["notifications"])
async def api_choose(request: Request, body: PrefsIn) -> dict[str, Any]:
    viewer = await check_csrf(request)
    return await run_in_threadpool(
        platform_of(request).notifications.choose, viewer, body.email, body.kinds, body.locale
    )


@router.get("/cycles/{cycle_id}/feed.atom", tags=["notifications"])
def feed(request: Request, cycle_id: CycleId) -> Response:
    """The cycle's public news as an Atom feed (rounds, elections, recall petitions, results)."""
    base = str(request.base_url).rstrip("/")
    body = platform_of(request).notifications.atom(cycle_id, base, locale_of(request))
    return Response(body, media_type="application/atom+xml; charset=utf-8")


def _page(request: Request, **extra: Any) -> Response:
    prefs = platform_of(request).notifications.prefs(viewer_of(request))
    return render(request, "notifications.html", prefs=prefs, kinds=KINDS, kind_names=KIND_NAMES, **extra)


@router.get("/notifications", include_in_schema=False)
def prefs_page(request: Request) -> Response:
    return _page(request)


@router.post("/notifications", include_in_schema=False)
async def prefs_form(request: Request) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    email, kinds = str(form.get("email") or ""), [str(k) for k in form.getlist("kind")]
    try:
        await run_in_threadpool(platform_of(request).notifications.choose, viewer, email, kinds, locale_of(request))
    except ServiceError as exc:
        typed = {"email": email, "kinds": kinds}
        return render(
            request,
            "notifications.html",
            status_code=exc.status,
            prefs=typed,
            kinds=KINDS,
            kind_names=KIND_NAMES,
            form_error=localize_error(exc, locale_of(request), place=False),
            error_field=exc.where,
        )
    return _page(request, saved=True)
