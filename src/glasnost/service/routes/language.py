"""The language switch: a cookie that remembers the member's language (a year), then back to the page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from glasnost.service.i18n import LANGUAGE_COOKIE, LOCALES
from glasnost.service.routes.deps import see_other

router = APIRouter()


@router.post("/language", include_in_schema=False)
async def language_form(request: Request) -> Response:
    """Set the language (``lang``: one of :data:`~glasnost.service.i18n.LOCALES`) and go back to ``next``.

    No CSRF check: a forged request could only change the language shown."""
    form = await request.form()
    lang = str(form.get("lang") or "")
    nxt = str(form.get("next") or "/")
    safe = nxt.startswith("/") and not nxt.startswith(("//", "/\\"))
    response = see_other(nxt if safe else "/")
    if lang in LOCALES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            path="/",
            samesite="lax",
            secure=request.app.state.settings.secure_cookies,
        )
    return response
