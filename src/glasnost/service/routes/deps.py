"""What every route needs: the platform, who is asking, and the CSRF check."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from glasnost.service.actions import Platform, Viewer
from glasnost.service.errors import ForbiddenError
from glasnost.service.security import CSRF_COOKIE, SESSION_COOKIE, same_token

__all__ = ["check_csrf", "client_address", "csrf_viewer", "platform_of", "render", "see_other", "viewer_of"]


def platform_of(request: Request) -> Platform:
    return request.app.state.platform


def viewer_of(request: Request) -> Viewer:
    """The account behind a bearer token or a session cookie (cached on the request)."""
    cached = getattr(request.state, "viewer", None)
    if cached is not None:
        return cached
    platform = platform_of(request)
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        viewer = platform.viewer(auth[7:].strip(), "bearer")
    else:
        viewer = platform.viewer(request.cookies.get(SESSION_COOKIE), "cookie")
    request.state.viewer = viewer
    return viewer


async def check_csrf(request: Request, form: Any = None) -> Viewer:
    """:func:`csrf_viewer` with the account's lookup off the event loop."""
    from starlette.concurrency import run_in_threadpool

    viewer = await run_in_threadpool(viewer_of, request)  # a database read: off the event loop
    return csrf_viewer(request, form, viewer)


def csrf_viewer(request: Request, form: Any = None, viewer: Viewer | None = None) -> Viewer:
    """Refuse a state-changing request that rides on cookies without the CSRF token.

    Bearer-token requests and anonymous API requests carry no ambient credentials and pass. Others must repeat the
    ``glasnost_csrf`` cookie in the form field ``csrf_token`` or the ``X-CSRF-Token`` header."""
    viewer = viewer or viewer_of(request)
    if viewer.via == "bearer" or (viewer.anonymous and request.url.path.startswith("/api/")):
        return viewer  # no ambient credentials: nothing to forge (anonymous API calls meet 401 where needed)
    sent = request.headers.get("x-csrf-token")
    if sent is None and form is not None:
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not same_token(sent, request.cookies.get(CSRF_COOKIE)):
        raise ForbiddenError("the form's CSRF token is missing or does not match; reload the page and try again")
    return viewer


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request, template, {**request.app.state.page(request), **context}, status_code=status_code
    )


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)
