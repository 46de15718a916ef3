"""What can be discussed: a subject is ``kind:ref`` (a proposal, a round's result, a plan variant,
a workplace's report, an alert, a product, an amendment). :func:`describe` finds it (or refuses
with 404), names it, links to it, and says which workplaces criticism of it is addressed to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from glasnost.control.tables import Alert, Line, Target
from glasnost.service import models as m
from glasnost.service.debate.models import Amendment
from glasnost.service.errors import BadInputError, NotFoundError

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["KINDS", "Subject", "describe", "makers", "parse_subject", "products"]

KINDS = ("proposal", "round", "variant", "workplace", "alert", "product", "amendment")
NUMBERED = {"proposal", "round", "variant", "alert", "amendment"}


@dataclass(frozen=True)
class Subject:
    """A thing under discussion: ``title`` is its own name (a council's code, a variant's title, a
    workplace, a product), which pages put into a sentence in the reader's language."""

    kind: str
    ref: str
    title: str
    link: str
    cycle_id: int | None = None
    workplaces: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.ref}"


def parse_subject(kind: str, ref: str) -> tuple[str, str]:
    """The subject's kind and reference, checked for shape (not for existence)."""
    if kind not in KINDS:
        raise NotFoundError(f"there is nothing of kind {kind[:40]!r} to discuss; choose one of {', '.join(KINDS)}",
                            where="subject")
    ref = ref.strip()
    if not 1 <= len(ref) <= 200:
        raise BadInputError("a subject's reference has 1 to 200 characters", where="subject")
    if kind in NUMBERED and not (ref.isdigit() and 0 < int(ref) < 2**31):
        raise NotFoundError(f"there is no such thing to discuss: {kind} {ref[:40]!r}", where="subject")
    return kind, ref


def describe(p: Platform, s: Session, kind: str, ref: str) -> Subject:
    """The subject ``kind:ref``; :class:`NotFoundError` if it does not exist."""
    kind, ref = parse_subject(kind, ref)
    found = _FINDERS[kind](p, s, ref)
    if found is None:
        raise NotFoundError(f"there is no such thing to discuss: {kind} {ref[:40]!r}", where="subject")
    return found


def _proposal(p: Platform, s: Session, ref: str) -> Subject | None:
    row = s.get(m.Proposal, int(ref))
    if row is None:
        return None
    rnd = s.get(m.Round, row.round_id)
    council = s.get(m.Council, row.council_id)
    return Subject("proposal", ref, council.code,
                   f"/cycles/{rnd.cycle_id}/rounds/{rnd.number}", rnd.cycle_id)


def _round(p: Platform, s: Session, ref: str) -> Subject | None:
    row = s.get(m.Round, int(ref))
    if row is None:
        return None
    return Subject("round", ref, str(row.number),
                   f"/cycles/{row.cycle_id}/rounds/{row.number}", row.cycle_id)


def _variant(p: Platform, s: Session, ref: str) -> Subject | None:
    row = s.get(m.PlanVariant, int(ref))
    if row is None:
        return None
    return Subject("variant", ref, row.title, f"/cycles/{row.cycle_id}/vote", row.cycle_id)


def _workplace(p: Platform, s: Session, ref: str) -> Subject | None:
    known = (
        s.scalar(select(Target.id).where(Target.workplace == ref).limit(1))
        or s.scalar(select(Line.id).where(Line.workplace == ref).limit(1))
        or s.scalar(select(m.Grant.id).where(m.Grant.kind == "workplace", m.Grant.target == ref).limit(1))
    )
    if not known:
        return None
    return Subject("workplace", ref, ref, f"/control/workplaces/{ref}", None, [ref])


def _alert(p: Platform, s: Session, ref: str) -> Subject | None:
    row = s.get(Alert, int(ref))
    if row is None or row.public_from > _now():
        return None  # an alert still in its response window is the workplace's own
    return Subject("alert", ref, row.workplace,
                   "/control/alerts", None, [row.workplace])


def _product(p: Platform, s: Session, ref: str) -> Subject | None:
    if ref not in products(p, s):
        return None
    return Subject("product", ref, ref, f"/criticism/products/{ref}", None, makers(p, s, ref))


def _amendment(p: Platform, s: Session, ref: str) -> Subject | None:
    row = s.get(Amendment, int(ref))
    if row is None:
        return None
    return Subject("amendment", ref, ref, f"/amendments/{ref}", row.cycle_id)


def _now():  # type: ignore[no-untyped-def]
    from glasnost.db.engine import utcnow

    return utcnow()


_FINDERS = {
    "proposal": _proposal,
    "round": _round,
    "variant": _variant,
    "workplace": _workplace,
    "alert": _alert,
    "product": _product,
    "amendment": _amendment,
}


def _cycle_ids(s: Session) -> list[int]:
    return list(s.scalars(select(m.Cycle.id).order_by(m.Cycle.id)))


def products(p: Platform, s: Session) -> dict[str, list[str]]:
    """Every product the platform knows, with the workplaces that make it: the control targets'
    products and workplaces, and the goods of every cycle's economy with the worker councils that
    make them."""
    out: dict[str, set[str]] = {}
    for product, workplace in s.execute(select(Target.product, Target.workplace).distinct()):
        out.setdefault(product, set()).add(workplace)
    for cycle_id in _cycle_ids(s):
        eng = p.cycles.engine(cycle_id)
        for cid in eng.consumer_goods:
            out.setdefault(cid, set())
        for worker, product in eng.worker_product.items():
            if product in eng.consumer_goods:
                out.setdefault(product, set()).add(str(worker))
    return {k: sorted(v) for k, v in sorted(out.items())}


def makers(p: Platform, s: Session, product: str) -> list[str]:
    return products(p, s).get(product, [])
