"""What every route needs: the platform, who is asking, and the CSRF check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from glasnost.service.accounts import Viewer
from glasnost.service.errors import BadInputError, ForbiddenError
from glasnost.service.platform import Platform
from glasnost.service.security import CSRF_COOKIE, SESSION_COOKIE, same_token

__all__ = [
    "MAX_ID",
    "MAX_ROUND",
    "CouncilCode",
    "CycleId",
    "RecordId",
    "RoundNumber",
    "check_csrf",
    "client_address",
    "csrf_viewer",
    "form_int",
    "platform_of",
    "render",
    "see_other",
    "viewer_of",
]

MAX_ID = 2**31 - 1
"""The largest id a table stores; a larger one in a URL is refused with 422 before any lookup."""
MAX_ROUND = 10_000

CycleId = Annotated[int, Path(ge=1, le=MAX_ID, description="a cycle's id")]
RecordId = Annotated[int, Path(ge=1, le=MAX_ID, description="a row's id")]
RoundNumber = Annotated[int, Path(ge=1, le=MAX_ROUND, description="a round's number in its cycle")]
CouncilCode = Annotated[str, Path(min_length=1, max_length=100, description="a council's code in its cycle")]


def form_int(form: Any, name: str, default: int | None, *, low: int, high: int, required: bool = True) -> Any:
    """A whole number from a form field (``default`` when empty), refused naming the field unless it
    is a whole number in [low, high]. With ``required`` and no default, an empty field is refused."""
    raw = str(form.get(name) or "").strip()
    if not raw:
        if default is None and required:
            raise BadInputError("give a whole number", where=name)
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadInputError(f"{raw[:40]!r} is not a whole number", where=name) from None
    if not low <= value <= high:
        raise BadInputError(f"{value} is not between {low} and {high}", where=name)
    return value


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
        viewer = platform.accounts.viewer(auth[7:].strip(), "bearer")
    else:
        viewer = platform.accounts.viewer(request.cookies.get(SESSION_COOKIE), "cookie")
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
