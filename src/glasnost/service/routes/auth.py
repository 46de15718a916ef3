"""Logging in and out, invitations and seats (pages and API)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from glasnost.service.routes.deps import check_csrf, client_address, platform_of, render, see_other, viewer_of
from glasnost.service.security import SESSION_COOKIE

router = APIRouter()


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


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


@router.post("/login", include_in_schema=False)
async def login_form(request: Request) -> Response:
    form = await request.form()
    await check_csrf(request, form)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    nxt = str(form.get("next", "/"))
    token = await run_in_threadpool(platform_of(request).login, username, password, address=client_address(request))
    response = see_other(nxt if nxt.startswith("/") and not nxt.startswith("//") else "/")
    _set_session(request, response, token)
    return response


@router.post("/logout", include_in_schema=False)
async def logout_form(request: Request) -> Response:
    form = await request.form()
    await check_csrf(request, form)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await run_in_threadpool(platform_of(request).logout, token)
    response = see_other("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/invite/{token}", include_in_schema=False)
def invitation_page(request: Request, token: str) -> Response:
    return render(request, "invite.html", token=token)


@router.post("/invite/{token}", include_in_schema=False)
async def invitation_form(request: Request, token: str) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    platform = platform_of(request)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    await run_in_threadpool(platform.accept, token, username, password, viewer)
    response = see_other("/")
    if viewer.anonymous:
        _set_session(
            request,
            response,
            await run_in_threadpool(platform.login, username, password, address=client_address(request)),
        )
    return response


# ---- API -------------------------------------------------------------------------------------------


@router.post("/api/login", response_model=TokenOut, tags=["accounts"])
def api_login(request: Request, body: Credentials) -> TokenOut:
    """A bearer token for the API (send it as ``Authorization: Bearer TOKEN``)."""
    token = platform_of(request).login(body.username, body.password, address=client_address(request), kind="bearer")
    return TokenOut(token=token, username=body.username)


@router.post("/api/invitations/{token}/accept", response_model=TokenOut, tags=["accounts"])
async def api_accept(request: Request, token: str, body: Credentials) -> TokenOut:
    """Use an invitation with a new account; returns a bearer token for it."""
    viewer = (
        await check_csrf(request)
        if viewer_of(request).via == "cookie" and not viewer_of(request).anonymous
        else viewer_of(request)
    )
    platform = platform_of(request)
    await run_in_threadpool(platform.accept, token, body.username, body.password, viewer)
    token_out = await run_in_threadpool(
        platform.login, body.username, body.password, address=client_address(request), kind="bearer"
    )
    return TokenOut(token=token_out, username=body.username)


@router.get("/api/me", tags=["accounts"])
def api_me(request: Request) -> dict[str, object]:
    v = viewer_of(request)
    return {"username": v.username, "board": v.is_board, "anonymous": v.anonymous}
