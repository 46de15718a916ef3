"""Criticism: public comments with a position, quality complaints addressed to the workplaces that
make a product, the workplaces' answers, and moderation that hides only with a public reason.

Every comment, answer and hiding is appended to the public log (kinds ``comment`` and
``comment-hidden``). Criticism of a workplace's report, of its alert, and every quality complaint
is addressed to the workplace(s) concerned (:func:`address_criticism`, the one place that creates
addressed criticism): they must answer within the answer time of the cycle's settings; what they
have not answered is listed publicly (:func:`unanswered`). Complaints enter the use-value
fulfilment of implementation control by the rule in :mod:`glasnost.control.complaints`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glasnost.control.complaints import LOSS, empty_complaints
from glasnost.control.tables import Target
from glasnost.db.engine import utcnow
from glasnost.service import models as m
from glasnost.service.accounts import Viewer, audit
from glasnost.service.debate.models import Addressee, Comment, DebateSettings, Moderation
from glasnost.service.debate.subjects import Subject, describe
from glasnost.service.errors import BadInputError, ConflictError, ForbiddenError, NotFoundError
from glasnost.service.openbooks import Publication

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = [
    "DEFAULT_ANSWER_DAYS",
    "POSITIONS",
    "address_criticism",
    "answer",
    "comment_payload",
    "complaints_table",
    "complaints_version",
    "criticism_of",
    "file_complaint",
    "hide",
    "moderation_payload",
    "post_comment",
    "thread",
    "unanswered",
]

POSITIONS = ("for", "against", "neutral")
SEVERITIES = tuple(LOSS)
DEFAULT_ANSWER_DAYS = 14
MAX_TEXT = 5000
ADDRESSED_KINDS = ("workplace", "alert", "product")


def comment_payload(row: Any) -> dict[str, Any]:
    """A comment as the public log holds it (from the row alone, so that recovery can rebuild it)."""
    return {
        "id": row.id,
        "subject": row.subject,
        "parent": row.parent_id,
        "author": row.author_id,
        "as_workplace": row.as_workplace,
        "position": row.position,
        "text": row.text,
        "complaint": row.complaint,
    }


def moderation_payload(row: Any) -> dict[str, Any]:
    return {"id": row.id, "comment": row.comment_id, "reason": row.reason, "by": row.by_id}


def _text(value: object, where: str = "text") -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(text) <= MAX_TEXT:
        raise BadInputError(f"write 1 to {MAX_TEXT} characters", where=where)
    return text


def _position(value: object) -> str:
    if value not in POSITIONS:
        raise BadInputError("choose for, against or neutral", where="position")
    return str(value)


def answer_days(s: Session, cycle_id: int | None) -> int:
    """The answer time of ``cycle_id``'s settings (of the newest cycle when the subject has none)."""
    if cycle_id is None:
        cycle_id = s.scalar(select(func.max(m.Cycle.id)))
    row = s.get(DebateSettings, cycle_id) if cycle_id is not None else None
    return row.answer_days if row is not None else DEFAULT_ANSWER_DAYS


def _latest_period(s: Session, workplace: str, product: str | None) -> int | None:
    q = select(func.max(Target.period)).where(Target.workplace == workplace)
    if product is not None:
        q = q.where(Target.product == product)
    return s.scalar(q)


def address_criticism(
    s: Session, comment: Comment, workplaces: list[str], due_at: datetime, product: str | None = None
) -> list[Addressee]:
    """Address ``comment`` to ``workplaces`` (in the caller's transaction), due by ``due_at``; a
    complaint about ``product`` counts in each workplace's latest period with a target for it.
    The one place where criticism addressed to a workplace is created: what must follow it (a
    notification to the workplace's accounts) belongs here."""
    rows = []
    for workplace in sorted(set(workplaces)):
        period = _latest_period(s, workplace, product) if product is not None else None
        row = Addressee(comment_id=comment.id, workplace=workplace, period=period, due_at=due_at)
        s.add(row)
        rows.append(row)
        _tell_workplace(s, workplace, due_at)
    s.flush()
    return rows


def _tell_workplace(s: Session, workplace: str, due_at: datetime) -> None:
    """Notify the accounts holding the workplace's grant (those who chose criticism by email)."""
    from glasnost.service.messages import N_
    from glasnost.service.notifications.service import notify

    granted = select(m.Grant.account_id).where(m.Grant.kind == "workplace", m.Grant.target == workplace)
    holders = list(s.scalars(granted))
    if holders:
        notify(s, "criticism", N_("Criticism addressed to {workplace}: answer by {date}"),
               params={"workplace": workplace, "date": due_at.strftime("%Y-%m-%d %H:%M UTC")},
               link=f"/criticism/workplaces/{workplace}", to=holders)


def _publish(p: Platform, items: list[Publication]) -> None:
    p.books.publish(items)


def post_comment(
    p: Platform, viewer: Viewer, kind: str, ref: str, text: object, position: object, parent: int | None = None
) -> dict[str, Any]:
    """A comment on the subject ``kind:ref`` (or a reply to comment ``parent`` there), logged;
    addressed to the workplace for a workplace's report or alert."""
    viewer.require()
    text, position = _text(text), _position(position)
    with p.db.write() as s:
        subject = describe(p, s, kind, ref)
        if parent is not None:
            up = s.get(Comment, parent)
            if up is None or up.subject != subject.key:
                raise NotFoundError(f"there is no comment {parent} under {subject.key}", where="parent")
        row = Comment(subject=subject.key, parent_id=parent, author_id=viewer.account_id, position=position, text=text)
        s.add(row)
        s.flush()
        if parent is None and subject.kind in ("workplace", "alert"):
            due = utcnow() + timedelta(days=answer_days(s, subject.cycle_id))
            address_criticism(s, row, subject.workplaces, due)
        audit(s, viewer, "comment", subject.key)
        payload, rid = comment_payload(row), row.id
    _publish(p, [Publication("comment", payload, Comment.__table__, rid)])
    return payload


def _units(value: object) -> float:
    raw = str(value if value is not None else "").strip() or "1"
    try:
        units = float(raw)
    except ValueError:
        raise BadInputError(f"{raw[:40]!r} is not a number", where="units") from None
    if not (math.isfinite(units) and 0 < units <= 1e12):
        raise BadInputError("give how many units, a number above 0", where="units")
    return units


def file_complaint(
    p: Platform, viewer: Viewer, product: object, what: object, where: object, severity: object,
    units: object = 1, workplace: object = None,
) -> dict[str, Any]:
    """A consumer's quality complaint about ``product`` (what is wrong, where it was found, how bad,
    how many units), addressed to the workplace named or else to every workplace that makes it."""
    viewer.require()
    product = product.strip() if isinstance(product, str) else ""
    if not product:
        raise BadInputError("choose the product", where="product")
    what_text = _text(what, "what")
    where_text = where.strip()[:500] if isinstance(where, str) else ""
    if severity not in SEVERITIES:
        raise BadInputError("choose how bad: minor, serious or unusable", where="severity")
    count = _units(units)
    with p.db.write() as s:
        try:
            subject = describe(p, s, "product", product)
        except NotFoundError:
            raise NotFoundError(f"there is no product {product[:40]!r}", where="product") from None
        chosen = workplace.strip() if isinstance(workplace, str) else ""
        if chosen and chosen not in subject.workplaces:
            raise BadInputError(f"{chosen[:40]!r} does not make {product}", where="workplace")
        to = [chosen] if chosen else subject.workplaces
        if not to:
            raise ConflictError(f"no workplace is known to make {product}; nobody could answer", where="product")
        complaint = {"what": what_text, "where": where_text, "severity": severity, "units": count, "to": sorted(to)}
        row = Comment(subject=subject.key, author_id=viewer.account_id, position="against", text=what_text,
                      complaint=complaint)
        s.add(row)
        s.flush()
        due = utcnow() + timedelta(days=answer_days(s, None))
        address_criticism(s, row, to, due, product=product)
        audit(s, viewer, "complaint", subject.key)
        payload, rid = comment_payload(row), row.id
    _publish(p, [Publication("comment", payload, Comment.__table__, rid)])
    return payload


def answer(p: Platform, viewer: Viewer, addressee_id: int, text: object) -> dict[str, Any]:
    """The workplace's answer to criticism addressed to it (by an account holding its grant)."""
    viewer.require()
    text = _text(text)
    with p.db.read() as s:
        target = s.get(Addressee, addressee_id)
        workplace = target.workplace if target is not None else None
    if workplace is None:
        raise NotFoundError(f"there is no criticism {addressee_id} addressed to a workplace", where="criticism")
    if workplace not in p.accounts.granted(viewer, "workplace"):
        raise ForbiddenError(f"{viewer.username} holds no grant for workplace {workplace}; only its accounts answer",
                             where="criticism")
    with p.db.write() as s:
        target = s.get(Addressee, addressee_id)
        if target.answer_id is not None:
            raise ConflictError(f"{workplace} has answered this already", where="criticism")
        criticised = s.get(Comment, target.comment_id)
        row = Comment(subject=criticised.subject, parent_id=criticised.id, author_id=viewer.account_id,
                      as_workplace=workplace, position="neutral", text=text)
        s.add(row)
        s.flush()
        target.answer_id, target.answered_at = row.id, utcnow()
        audit(s, viewer, "answer", f"{criticised.subject} #{criticised.id} for {workplace}")
        payload, rid = comment_payload(row), row.id
    _publish(p, [Publication("comment", payload, Comment.__table__, rid)])
    return payload


def hide(p: Platform, viewer: Viewer, comment_id: int, reason: object) -> dict[str, Any]:
    """The board hides a comment, giving a public reason; the comment stays (its place shows the reason)."""
    viewer.require_board()
    reason = _text(reason, "reason")
    try:
        with p.db.write() as s:
            if s.get(Comment, comment_id) is None:
                raise NotFoundError(f"there is no comment {comment_id}", where="comment")
            if s.scalar(select(Moderation.id).where(Moderation.comment_id == comment_id)) is not None:
                raise ConflictError(f"comment {comment_id} is hidden already", where="comment")
            row = Moderation(comment_id=comment_id, reason=reason, by_id=viewer.account_id)
            s.add(row)
            s.flush()
            audit(s, viewer, "hide-comment", f"comment {comment_id}")
            payload, rid = moderation_payload(row), row.id
    except IntegrityError:
        raise ConflictError(f"comment {comment_id} is hidden already", where="comment") from None
    _publish(p, [Publication("comment-hidden", payload, Moderation.__table__, rid)])
    return payload


# ---- reading -------------------------------------------------------------------------------------


def _names(s: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(s.execute(select(m.Account.id, m.Account.username).where(m.Account.id.in_(ids))).all())


def _as_dict(c: Comment, names: dict[int, str], hidden: dict[int, Moderation]) -> dict[str, Any]:
    mod = hidden.get(c.id)
    return {
        "id": c.id,
        "parent": c.parent_id,
        "author": names.get(c.author_id, "?"),
        "as_workplace": c.as_workplace,
        "position": c.position,
        "text": None if mod else c.text,
        "complaint": None if mod else c.complaint,
        "at": c.created_at.isoformat(),
        "hidden": {"reason": mod.reason, "at": mod.at.isoformat()} if mod else None,
        "log_index": c.ledger_index,
    }


def thread(p: Platform, s: Session, subject: Subject) -> list[dict[str, Any]]:
    """The subject's comments in thread order (each with its ``depth``); a hidden one keeps its
    place, without its text, with the moderators' reason."""
    rows = list(s.scalars(select(Comment).where(Comment.subject == subject.key).order_by(Comment.id)))
    ids = [c.id for c in rows]
    hidden = {
        mo.comment_id: mo for mo in s.scalars(select(Moderation).where(Moderation.comment_id.in_(ids)))
    } if ids else {}
    names = _names(s, {c.author_id for c in rows})
    addressed: dict[int, list[dict[str, Any]]] = {}
    if ids:
        for a in s.scalars(select(Addressee).where(Addressee.comment_id.in_(ids)).order_by(Addressee.id)):
            addressed.setdefault(a.comment_id, []).append(_addressee(a))
    children: dict[int | None, list[Comment]] = {}
    for c in rows:
        children.setdefault(c.parent_id, []).append(c)
    out: list[dict[str, Any]] = []

    def walk(parent: int | None, depth: int) -> None:
        for c in children.get(parent, []):
            out.append({**_as_dict(c, names, hidden), "depth": min(depth, 6), "addressed": addressed.get(c.id, [])})
            walk(c.id, depth + 1)

    walk(None, 0)
    return out


def _addressee(a: Addressee) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": a.id,
        "workplace": a.workplace,
        "period": a.period,
        "due": a.due_at.isoformat(),
        "answered": a.answer_id is not None,
        "answered_at": a.answered_at.isoformat() if a.answered_at else None,
        "overdue": a.answer_id is None and a.due_at < now,
    }


def criticism_of(p: Platform, s: Session, workplace: str) -> list[dict[str, Any]]:
    """Every criticism addressed to ``workplace``, newest first, with its answer."""
    rows = s.execute(
        select(Addressee, Comment).join(Comment, Comment.id == Addressee.comment_id)
        .where(Addressee.workplace == workplace).order_by(Addressee.id.desc())
    ).all()
    answers = {c.id: c for c in s.scalars(select(Comment).where(Comment.id.in_(
        [a.answer_id for a, _ in rows if a.answer_id is not None])))} if rows else {}
    hidden = {mo.comment_id: mo for mo in s.scalars(select(Moderation).where(
        Moderation.comment_id.in_([c.id for _, c in rows] + list(answers))))} if rows else {}
    names = _names(s, {c.author_id for _, c in rows} | {c.author_id for c in answers.values()})
    out = []
    for a, c in rows:
        reply = answers.get(a.answer_id) if a.answer_id else None
        out.append({
            **_addressee(a),
            "comment": _as_dict(c, names, hidden),
            "subject": c.subject,
            "answer": _as_dict(reply, names, hidden) if reply else None,
        })
    return out


def unanswered(p: Platform, s: Session) -> dict[str, list[dict[str, Any]]]:
    """Per workplace, the criticism it has not answered (oldest first)."""
    rows = s.execute(
        select(Addressee, Comment).join(Comment, Comment.id == Addressee.comment_id)
        .where(Addressee.answer_id.is_(None)).order_by(Addressee.workplace, Addressee.id)
    ).all()
    hidden = {mo.comment_id: mo for mo in s.scalars(select(Moderation))} if rows else {}
    names = _names(s, {c.author_id for _, c in rows})
    out: dict[str, list[dict[str, Any]]] = {}
    for a, c in rows:
        if c.id in hidden:
            continue  # hidden criticism need not be answered
        out.setdefault(a.workplace, []).append({**_addressee(a), "comment": _as_dict(c, names, {}),
                                                "subject": c.subject})
    return out


def complaints_table(db: Any) -> pa.Table:
    """Quality complaints as implementation control counts them (period, workplace, product, units,
    loss share): the complaints addressed to workplaces with a period, not hidden."""
    with db.read() as s:
        rows = s.execute(
            select(Addressee.period, Addressee.workplace, Comment.subject, Comment.complaint)
            .join(Comment, Comment.id == Addressee.comment_id)
            .outerjoin(Moderation, Moderation.comment_id == Comment.id)
            .where(Comment.complaint.is_not(None), Addressee.period.is_not(None), Moderation.id.is_(None))
        ).all()
    if not rows:
        return empty_complaints()
    return pa.table({
        "period": [r[0] for r in rows],
        "workplace": [r[1] for r in rows],
        "product": [r[2].split(":", 1)[1] for r in rows],
        "units": [float(r[3]["units"]) for r in rows],
        "loss": [LOSS[r[3]["severity"]] for r in rows],
    })


def complaints_version(db: Any) -> tuple[Any, ...]:
    """What changes when a complaint is filed or hidden (for caches of fulfilment)."""
    with db.read() as s:
        return (s.scalar(select(func.max(Comment.id))), s.scalar(select(func.max(Moderation.id))))
