"""The FastAPI application: :func:`create_app` builds it from :class:`Settings`; :func:`app_from_env`
builds it from the environment (each worker process of ``glasnost serve --workers N``).

Middleware: a body-size limit (413), a CSRF cookie for every visitor, protective headers (a
Content-Security-Policy among them), and error handlers that turn the platform's errors
(:mod:`glasnost.service.errors`) and malformed requests into a 4xx answer with a message (JSON
under ``/api``, a page elsewhere), never a 500 for bad input. ``/docs`` is Swagger UI, vendored;
the OpenAPI document declares the bearer scheme, so "Authorize" takes an API token.
"""

from __future__ import annotations

import gc
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from glasnost.db.settings import Settings
from glasnost.economy.errors import GlasnostError
from glasnost.service.errors import ServiceError
from glasnost.service.i18n import install, locale_of, localize, localize_error, script_catalogue
from glasnost.service.platform import Platform
from glasnost.service.routes.lane import ProposalLane
from glasnost.service.security import CSRF_COOKIE, BodyLimit, new_token

__all__ = ["CONTENT_SECURITY_POLICY", "app_from_env", "create_app"]

CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
"""Scripts only from this site (every script is a file under /static); inline style attributes allowed."""

HERE = Path(__file__).parent
log = logging.getLogger("glasnost.service")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api") or "application/json" in request.headers.get("accept", "")


def _error_response(request: Request, status: int, message: str, error: Exception | None = None) -> Response:
    """The refusal in the asker's language: JSON under /api (or when asked for), a page elsewhere."""
    locale = locale_of(request)
    message = localize_error(error, locale) if error is not None else localize(message, locale)
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message, **request.app.state.page(request)},
        status_code=status,
    )


def _refusal(request: Request, exc: ServiceError) -> Response:
    response = _error_response(request, exc.status, exc.message, exc)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _lane_refusal(scope: dict[str, Any], exc: Exception) -> Response:
    """The refusal the handlers below give, for :class:`~glasnost.service.routes.lane.ProposalLane`."""
    request = Request(scope)
    if isinstance(exc, ServiceError):
        return _refusal(request, exc)
    return _error_response(request, 422, str(exc), exc)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body",))
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is malformed"


class CsrfCookie:
    """ASGI middleware: gives every visitor a random CSRF cookie (``request.state.csrf``) and sets a
    few protective headers on every answer. (A plain ASGI middleware, so that errors raised while a
    body is read reach the application's error handlers.)"""

    def __init__(self, app, secure: bool = False) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.secure = secure

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from http.cookies import SimpleCookie

        token = None
        bearer = False
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                bearer = value[:7].lower() == b"bearer "
            elif name == b"cookie":
                jar: SimpleCookie = SimpleCookie()
                try:
                    jar.load(value.decode("latin-1"))
                except Exception:
                    continue
                if CSRF_COOKIE in jar:
                    token = jar[CSRF_COOKIE].value
        # an API client with a bearer token carries no ambient credentials and needs no CSRF cookie
        fresh = not bearer and (token is None or len(token) < 20)
        scope.setdefault("state", {})["csrf"] = new_token() if fresh else (token or "")
        cookie = (
            f"{CSRF_COOKIE}={scope['state']['csrf']}; HttpOnly; Path=/; SameSite=lax{'; Secure' if self.secure else ''}"
        )

        async def send_with_headers(message) -> None:  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for k, v in (
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"content-security-policy", CONTENT_SECURITY_POLICY),
                ):
                    if k not in present:
                        headers.append((k, v))
                if fresh:
                    headers.append((b"set-cookie", cookie.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _gc_watch() -> None:
    """With ``GLASNOST_GC_STATS`` set, log every full garbage collection and every one over 10 ms
    (with its pause in milliseconds): how the p99 stalls of the load benchmark were found."""
    if not os.environ.get("GLASNOST_GC_STATS"):
        return
    import time

    started = [0.0]

    def cb(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif info["generation"] == 2 or time.perf_counter() - started[0] > 0.01:
            log.warning("gc gen %d: %.1f ms", info["generation"], 1000 * (time.perf_counter() - started[0]))

    gc.callbacks.append(cb)


_DOCS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>glasnost API</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css"><link rel="stylesheet" href="/static/docs.css">
</head><body><main id="swagger-ui"></main>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script><script src="/static/docs.js"></script>
</body></html>"""


def _declare_bearer(app: FastAPI) -> None:
    """The OpenAPI document with the bearer scheme (optional on every operation: public reads need none)."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            doc.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a token from POST /api/login"}
            }
            doc["security"] = [{"bearer": []}, {}]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """The application from :meth:`Settings.from_env` (the factory each worker process calls)."""
    return create_app(Settings.from_env())


def create_app(settings: Settings | None = None) -> FastAPI:
    """The platform as an ASGI application (migrations run and the log opens here)."""
    settings = settings or Settings.from_env()
    platform = Platform(settings)
    if settings.demo:
        from glasnost.service.demo import ensure_demo

        ensure_demo(platform)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        platform.start()
        _gc_watch()
        # what start-up made (modules, tables, the app) lives as long as the server: out of the
        # collector's sight, so that a full collection scans only what requests made since (with
        # it, each full collection under a round's load stalled every thread 100-150 ms)
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            platform.close()

    app = FastAPI(
        title="glasnost planning platform",
        version="1",
        description="Councils plan together: cycles, rounds, proposals, plan variants, votes and the public log. "
        "Authenticate with a bearer token from POST /api/login.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    _declare_bearer(app)
    app.state.platform = platform
    app.state.settings = settings
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    install(templates.env)
    app.state.templates = templates

    def page(request: Request) -> dict[str, Any]:
        from glasnost.service.routes.deps import viewer_of

        locale = locale_of(request)
        return {
            "viewer": viewer_of(request),
            "csrf": request.state.csrf if hasattr(request.state, "csrf") else "",
            "locale": locale,
            "script_messages": script_catalogue(locale),
        }

    app.state.page = page

    app.add_middleware(ProposalLane, error_response=_lane_refusal)
    app.add_middleware(CsrfCookie, secure=settings.secure_cookies)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        return _refusal(request, exc)

    @app.exception_handler(GlasnostError)
    async def glasnost_error(request: Request, exc: GlasnostError) -> Response:
        return _error_response(request, 422, str(exc), exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _error_response(request, 422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error_response(request, exc.status_code, str(exc.detail))

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    from glasnost.service.routes import auth, cycles, language, ledger, rounds, votes

    # rounds first: its proposals route is the one a round's rush hits, and routes are matched in order
    for module in (rounds, auth, language, cycles, votes, ledger):
        app.include_router(module.router)
    try:
        from glasnost.service.routes import control  # the implementation-control pages, when present
    except ImportError:
        control = None
    if control is not None and hasattr(control, "router"):
        app.include_router(control.router)
    from glasnost.service.debate import initiative_routes  # criticism and initiative
    from glasnost.service.debate import routes as debate_routes

    app.include_router(debate_routes.router)
    app.include_router(initiative_routes.router)
    from glasnost.service.elections import routes as elections
    from glasnost.service.notifications import routes as notifications

    for module in (elections, notifications):  # issue 18
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> Response:
        return templates.TemplateResponse(
            request, "home.html", {"cycles": platform.views.list_cycles(), **page(request)}
        )

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(_DOCS_PAGE)  # Swagger UI speaks English only

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
