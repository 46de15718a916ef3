"""Logging in and out, tokens, invitations and grants (pages and API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from glasnost.service.errors import (
    BadInputError,
    ConflictError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
)
from glasnost.service.i18n import locale_of, localize_error
from glasnost.service.routes.deps import (
    RecordId,
    check_csrf,
    client_address,
    platform_of,
    render,
    see_other,
    viewer_of,
)
from glasnost.service.security import SESSION_COOKIE

router = APIRouter()


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenRequest(Credentials):
    label: str = Field(default="", max_length=100, description="what the token is for (shown in your token list)")


class GrantIn(BaseModel):
    account: str = Field(min_length=1, max_length=64, description="the account's user name")
    kind: str = Field(pattern="^workplace$", description="what kind of right: 'workplace' (report for it)")
    target: str = Field(min_length=1, max_length=200, description="e.g. the workplace's id")


class WorkplaceInvitationIn(BaseModel):
    workplace: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    token: str
    username: str


def _set_session(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
        max_age=14 * 24 * 3600,
        path="/",
    )


# ---- pages -----------------------------------------------------------------------------------------


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=next if next.startswith("/") else "/")


def _safe_next(nxt: str) -> str:
    """Where to go after a form: a path on this site only."""
    return nxt if nxt.startswith("/") and not nxt.startswith(("//", "/\\")) else "/"


@router.post("/login", include_in_schema=False)
async def login_form(request: Request) -> Response:
    """Log in; a refusal (a wrong password, too many attempts) shows the form again with its message
    and the user name kept."""
    form = await request.form()
    await check_csrf(request, form)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    nxt = _safe_next(str(form.get("next", "/")))
    try:
        token = await run_in_threadpool(
            platform_of(request).accounts.login, username, password, address=client_address(request)
        )
    except (UnauthorizedError, RateLimitedError, BadInputError, UnavailableError) as exc:
        response = render(
            request,
            "login.html",
            status_code=exc.status,
            next=nxt,
            username=username[:64],
            form_error=localize_error(exc, locale_of(request), place=False),
        )
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    response = see_other(nxt)
    _set_session(request, response, token)
    return response


@router.post("/logout", include_in_schema=False)
async def logout_form(request: Request) -> Response:
    form = await request.form()
    await check_csrf(request, form)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await run_in_threadpool(platform_of(request).accounts.logout, token)
    response = see_other("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/invite/{token}", include_in_schema=False)
def invitation_page(request: Request, token: Annotated[str, PathParam(max_length=200)]) -> Response:
    invitation = platform_of(request).views.invitation(token)
    return render(request, "invite.html", token=token, invitation=invitation, status_code=200 if invitation else 404)


def _landing(invitation: dict[str, Any] | None) -> str:
    """Where an accepted invitation leads: the place its new holder acts, with a welcome."""
    if invitation is None:
        return "/"
    cycle = invitation["cycle"]
    if invitation["role"] == "delegate" and invitation["council"]:
        return f"/cycles/{cycle}/councils/{invitation['council']}?welcome=delegate"
    if invitation["role"] == "member":
        page = "/vote" if invitation["cycle_status"] in ("converged", "voting", "decided") else ""
        return f"/cycles/{cycle}{page}?welcome=member"
    if invitation["role"] == "workplace":
        return "/control/report?welcome=workplace"
    return "/"


@router.post("/invite/{token}", include_in_schema=False)
async def invitation_form(request: Request, token: Annotated[str, PathParam(max_length=200)]) -> Response:
    """Accept an invitation; a refusal (a name taken, a short password) shows the form again with
    its message beside the field and the user name kept."""
    form = await request.form()
    viewer = await check_csrf(request, form)
    platform = platform_of(request)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    invitation = await run_in_threadpool(platform.views.invitation, token)
    try:
        await run_in_threadpool(platform.cycles.accept, token, username, password, viewer)
    except (BadInputError, ConflictError) as exc:
        return render(
            request,
            "invite.html",
            status_code=exc.status,
            token=token,
            invitation=await run_in_threadpool(platform.views.invitation, token),
            username=username[:64],
            form_error=localize_error(exc, locale_of(request)),
            error_field=exc.where,
        )
    response = see_other(_landing(invitation))
    if viewer.anonymous:
        _set_session(
            request,
            response,
            await run_in_threadpool(platform.accounts.login, username, password, address=client_address(request)),
        )
    return response


# ---- API -------------------------------------------------------------------------------------------


@router.post("/api/login", response_model=TokenOut, tags=["accounts"])
def api_login(request: Request, body: TokenRequest) -> TokenOut:
    """A bearer token for the API (send it as ``Authorization: Bearer TOKEN``); revoke it with
    ``POST /api/logout`` or ``DELETE /api/tokens/{id}``."""
    token = platform_of(request).accounts.login(
        body.username, body.password, address=client_address(request), kind="bearer", label=body.label
    )
    return TokenOut(token=token, username=body.username)


@router.post("/api/logout", tags=["accounts"])
def api_logout(request: Request) -> dict[str, bool]:
    """Revoke the bearer token this request carries (at once, in every process)."""
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        viewer_of(request).require()
        return {"revoked": False}
    platform_of(request).accounts.logout(auth[7:].strip())
    return {"revoked": True}


@router.get("/api/tokens", tags=["accounts"])
def api_tokens(request: Request) -> list[dict[str, Any]]:
    """Your sessions and bearer tokens (without the tokens themselves), newest first."""
    return platform_of(request).accounts.tokens(viewer_of(request))


@router.delete("/api/tokens/{token_id}", tags=["accounts"])
async def api_revoke_token(request: Request, token_id: RecordId) -> dict[str, int]:
    """Revoke one of your sessions or bearer tokens."""
    viewer = await check_csrf(request)
    await run_in_threadpool(platform_of(request).accounts.revoke_token, viewer, token_id)
    return {"revoked": token_id}


@router.get("/api/grants", tags=["accounts"])
def api_grants(request: Request) -> list[dict[str, Any]]:
    """Explicit grants: all of them for the board, your own otherwise."""
    return platform_of(request).accounts.grants(viewer_of(request))


@router.post("/api/grants", status_code=201, tags=["accounts"])
async def api_grant(request: Request, body: GrantIn) -> dict[str, Any]:
    """Give an account a right (board only), e.g. to report for a workplace."""
    viewer = await check_csrf(request)
    return await run_in_threadpool(platform_of(request).accounts.grant, viewer, body.account, body.kind, body.target)


@router.delete("/api/grants/{grant_id}", tags=["accounts"])
async def api_revoke_grant(request: Request, grant_id: RecordId) -> dict[str, int]:
    """Take a right back (board only); it ends with the next request."""
    viewer = await check_csrf(request)
    await run_in_threadpool(platform_of(request).accounts.revoke_grant, viewer, grant_id)
    return {"revoked": grant_id}


@router.post("/api/workplace-invitations", status_code=201, tags=["accounts"])
async def api_workplace_invitation(request: Request, body: WorkplaceInvitationIn) -> dict[str, str]:
    """An invitation link that carries the grant to report for a workplace (board only)."""
    viewer = await check_csrf(request)
    token = await run_in_threadpool(platform_of(request).cycles.invite, viewer, None, "workplace", body.workplace)
    return {"token": token, "url": f"/invite/{token}"}


@router.post("/api/invitations/{token}/accept", response_model=TokenOut, tags=["accounts"])
async def api_accept(request: Request, token: Annotated[str, PathParam(max_length=200)], body: Credentials) -> TokenOut:
    """Use an invitation with a new account; returns a bearer token for it."""
    viewer = (
        await check_csrf(request)
        if viewer_of(request).via == "cookie" and not viewer_of(request).anonymous
        else viewer_of(request)
    )
    platform = platform_of(request)
    await run_in_threadpool(platform.cycles.accept, token, body.username, body.password, viewer)
    token_out = await run_in_threadpool(
        platform.accounts.login, body.username, body.password, address=client_address(request), kind="bearer"
    )
    return TokenOut(token=token_out, username=body.username)


@router.get("/api/me", tags=["accounts"])
def api_me(request: Request) -> dict[str, object]:
    v = viewer_of(request)
    return {"username": v.username, "board": v.is_board, "anonymous": v.anonymous}
