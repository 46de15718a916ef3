"""Criticism's pages and JSON: the discussion under each thing, the complaint form, a workplace's
criticism and its answers, the unanswered criticism of every workplace, moderation.

Pages: ``/discuss/{kind}/{ref}`` (a thread; post, reply, answer, hide), ``/criticism`` (what is
there), ``/criticism/complain`` (a quality complaint), ``/criticism/workplaces/{workplace}``,
``/criticism/unanswered``. JSON under ``/api``: the same actions. The initiative's pages are in
:mod:`.initiative_routes`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from glasnost.service.debate import criticism
from glasnost.service.debate.subjects import Subject, describe, products
from glasnost.service.errors import BadInputError, NotFoundError
from glasnost.service.i18n import locale_of, localize_error
from glasnost.service.routes.deps import RecordId, check_csrf, platform_of, render, see_other, viewer_of

router = APIRouter()


def _said(request: Request, exc: Exception) -> str:
    """A refusal in the page's language, without its place (shown beside the field it names)."""
    return localize_error(exc, locale_of(request), place=False)

Kind = Annotated[str, Path(min_length=1, max_length=20, description="what is discussed: proposal, round, "
                                "variant, workplace, alert, product or amendment")]
Ref = Annotated[str, Path(min_length=1, max_length=200,
                          description="which one: its id, or a workplace's or product's name")]


class CommentIn(BaseModel):
    text: str = Field(max_length=20_000)
    position: str = Field(max_length=20)
    parent: int | None = Field(default=None, ge=1, le=2**31 - 1)


class ComplaintIn(BaseModel):
    product: str = Field(max_length=200)
    what: str = Field(max_length=20_000)
    where: str = Field(default="", max_length=2000)
    severity: str = Field(max_length=20)
    units: float | str = 1
    workplace: str | None = Field(default=None, max_length=200)


class TextIn(BaseModel):
    text: str = Field(default="", max_length=20_000)


class ReasonIn(BaseModel):
    reason: str = Field(default="", max_length=20_000)


def _parent(raw: object) -> int | None:
    text = str(raw or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) < 2**31:
        raise BadInputError(f"there is no comment {text[:20]!r} to reply to", where="parent")
    return int(text)


def _thread_context(request: Request, kind: str, ref: str) -> dict[str, Any]:
    p = platform_of(request)
    viewer = viewer_of(request)
    with p.db.read() as s:
        subject: Subject = describe(p, s, kind, ref)
        comments = criticism.thread(p, s, subject)
    mine = p.accounts.granted(viewer, "workplace")
    for c in comments:
        for a in c["addressed"]:
            a["can_answer"] = not a["answered"] and a["workplace"] in mine
    return {"subject": subject, "comments": comments, "positions": criticism.POSITIONS}


def _thread_page(request: Request, kind: str, ref: str, status: int = 200, **extra: Any) -> Response:
    ctx = {"errors": {}, "typed": {}, **_thread_context(request, kind, ref), **extra}
    return render(request, "debate_thread.html", status_code=status, **ctx)


@router.get("/discuss/{kind}/{ref}", include_in_schema=False)
def thread_page(request: Request, kind: Kind, ref: Ref) -> Response:
    return _thread_page(request, kind, ref)


@router.post("/discuss/{kind}/{ref}", include_in_schema=False)
async def comment_form(request: Request, kind: Kind, ref: Ref) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    typed = {k: str(form.get(k) or "") for k in ("text", "position", "parent")}
    try:
        viewer.require()
        made = await run_in_threadpool(
            criticism.post_comment, platform_of(request), viewer, kind, ref, form.get("text"), form.get("position"),
            _parent(form.get("parent")),
        )
    except BadInputError as exc:
        return await run_in_threadpool(
            _thread_page, request, kind, ref, exc.status, errors={exc.where or "text": _said(request, exc)}, typed=typed
        )
    return see_other(f"/discuss/{kind}/{ref}#comment-{made['id']}")


@router.post("/comments/{comment_id}/hide", include_in_schema=False)
async def hide_form(request: Request, comment_id: RecordId) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    await run_in_threadpool(criticism.hide, platform_of(request), viewer, comment_id, form.get("reason"))
    back = str(form.get("next") or "/criticism")
    return see_other(back if back.startswith("/") and not back.startswith("//") else "/criticism")


@router.post("/criticism/{addressee_id}/answer", include_in_schema=False)
async def answer_form(request: Request, addressee_id: RecordId) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    made = await run_in_threadpool(criticism.answer, platform_of(request), viewer, addressee_id, form.get("text"))
    return see_other(f"/criticism/workplaces/{made['as_workplace']}#comment-{made['id']}")


def _products(request: Request) -> dict[str, list[str]]:
    p = platform_of(request)
    with p.db.read() as s:
        return products(p, s)


def _complaint_page(request: Request, status: int = 200, errors: dict[str, Any] | None = None,
                    typed: dict[str, str] | None = None) -> Response:
    return render(request, "debate_complaint.html", status_code=status, products=_products(request),
                  errors=errors or {}, typed=typed or {}, severities=criticism.SEVERITIES)


@router.get("/criticism/complain", include_in_schema=False)
def complaint_page(request: Request, product: str = "") -> Response:
    return _complaint_page(request, typed={"product": product[:200]})


@router.post("/criticism/complain", include_in_schema=False)
async def complaint_form(request: Request) -> Response:
    form = await request.form()
    viewer = await check_csrf(request, form)
    fields = ("product", "workplace", "what", "where", "severity", "units")
    typed = {k: str(form.get(k) or "") for k in fields}
    try:
        viewer.require()
        made = await run_in_threadpool(
            criticism.file_complaint, platform_of(request), viewer, typed["product"], typed["what"], typed["where"],
            typed["severity"], typed["units"], typed["workplace"],
        )
    except (BadInputError, NotFoundError) as exc:
        where = exc.where if exc.where in fields else "what"
        return await run_in_threadpool(_complaint_page, request, exc.status, {where: _said(request, exc)}, typed)
    return see_other(f"/discuss/product/{typed['product']}#comment-{made['id']}")


@router.get("/criticism", include_in_schema=False)
def criticism_index(request: Request) -> Response:
    p = platform_of(request)
    with p.db.read() as s:
        waiting = criticism.unanswered(p, s)
    return render(request, "debate_index.html", products=_products(request),
                  waiting={k: len(v) for k, v in waiting.items()})


@router.get("/criticism/unanswered", include_in_schema=False)
def unanswered_page(request: Request) -> Response:
    p = platform_of(request)
    with p.db.read() as s:
        waiting = criticism.unanswered(p, s)
    return render(request, "debate_unanswered.html", waiting=waiting)


@router.get("/criticism/workplaces/{workplace}", include_in_schema=False)
def workplace_criticism_page(request: Request, workplace: Ref) -> Response:
    p = platform_of(request)
    with p.db.read() as s:
        items = criticism.criticism_of(p, s, workplace)
    can_answer = workplace in p.accounts.granted(viewer_of(request), "workplace")
    return render(request, "debate_workplace.html", workplace=workplace, items=items, can_answer=can_answer)


# ---- JSON ----------------------------------------------------------------------------------------


@router.get("/api/discuss/{kind}/{ref}")
def api_thread(request: Request, kind: Kind, ref: Ref) -> dict[str, Any]:
    """The discussion of a thing: ``kind`` proposal, round, variant, workplace, alert, product or amendment."""
    ctx = _thread_context(request, kind, ref)
    return {"subject": ctx["subject"].key, "title": ctx["subject"].title, "comments": ctx["comments"]}


@router.post("/api/discuss/{kind}/{ref}")
async def api_comment(request: Request, body: CommentIn, kind: Kind, ref: Ref) -> dict[str, Any]:
    viewer = await check_csrf(request)
    return await run_in_threadpool(
        criticism.post_comment, platform_of(request), viewer, kind, ref, body.text, body.position, body.parent
    )


@router.post("/api/complaints")
async def api_complaint(request: Request, body: ComplaintIn) -> dict[str, Any]:
    """A quality complaint about a product, addressed to the workplaces that make it."""
    viewer = await check_csrf(request)
    return await run_in_threadpool(
        criticism.file_complaint, platform_of(request), viewer, body.product, body.what, body.where, body.severity,
        body.units, body.workplace,
    )


@router.post("/api/criticism/{addressee_id}/answer")
async def api_answer(request: Request, addressee_id: RecordId, body: TextIn) -> dict[str, Any]:
    viewer = await check_csrf(request)
    return await run_in_threadpool(criticism.answer, platform_of(request), viewer, addressee_id, body.text)


@router.post("/api/comments/{comment_id}/hide")
async def api_hide(request: Request, comment_id: RecordId, body: ReasonIn) -> dict[str, Any]:
    viewer = await check_csrf(request)
    return await run_in_threadpool(criticism.hide, platform_of(request), viewer, comment_id, body.reason)


@router.get("/api/criticism/unanswered")
def api_unanswered(request: Request) -> dict[str, Any]:
    p = platform_of(request)
    with p.db.read() as s:
        return criticism.unanswered(p, s)


@router.get("/api/criticism/workplaces/{workplace}")
def api_workplace_criticism(request: Request, workplace: Ref) -> list[dict[str, Any]]:
    p = platform_of(request)
    with p.db.read() as s:
        return criticism.criticism_of(p, s, workplace)
