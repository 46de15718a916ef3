"""Initiative: a member amends a plan variant, the calculator checks it at once, members sign, and
at the cycle's quorum the amendment goes on the ballot as a plan variant of its own.

* Amendments and signatures are taken while the cycle has plan variants and its vote is not open
  yet; once the vote opens the ballot is frozen (its hash is in the log), so an amendment that
  has not reached its quorum by then stays on record, closed, and cannot be signed any more.
* An amendment the calculator finds infeasible is refused with the reason (nothing is stored).
* The quorum is ``ceil(quorum_share x members of the cycle)``, at least 1 (the cycle's settings).
* At the quorum the amended plan is recomputed (an optimal scale plan on the amended mix and
  reserve, :mod:`glasnost.compute.amend`) and published as a plan variant (``amend-N``) like the
  board's; the amendment is logged when proposed (kind ``amendment``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glasnost.compute.amend import AmendmentVerdict, check_investment, check_target
from glasnost.compute.lp import PlanError
from glasnost.service import models as m
from glasnost.service.accounts import Viewer, audit
from glasnost.service.debate.models import Amendment, DebateSettings, Signature
from glasnost.service.errors import BadInputError, ConflictError, ForbiddenError, NotFoundError
from glasnost.service.openbooks import Publication

if TYPE_CHECKING:
    from glasnost.economy import Economy
    from glasnost.service.platform import Platform

__all__ = [
    "DEFAULT_QUORUM_SHARE",
    "amendment_payload",
    "amendments",
    "base_of",
    "check",
    "propose",
    "quorum",
    "settings_of",
    "sign",
    "update_settings",
]

DEFAULT_QUORUM_SHARE = 0.1


def amendment_payload(row: Any) -> dict[str, Any]:
    return {"id": row.id, "cycle": row.cycle_id, "variant": row.base_variant_id, "author": row.author_id,
            "change": row.change, "reason": row.reason, "verdict": row.verdict}


# ---- settings ----------------------------------------------------------------------------------


def settings_of(s: Session, cycle_id: int) -> dict[str, Any]:
    from glasnost.service.debate.criticism import DEFAULT_ANSWER_DAYS

    row = s.get(DebateSettings, cycle_id)
    return {
        "answer_days": row.answer_days if row else DEFAULT_ANSWER_DAYS,
        "quorum_share": row.quorum_share if row else DEFAULT_QUORUM_SHARE,
    }


def update_settings(p: Platform, viewer: Viewer, cycle_id: int, answer_days: int, quorum_share: float) -> None:
    viewer.require_board()
    if not 1 <= answer_days <= 365:
        raise BadInputError("choose between 1 and 365 days", where="answer_days")
    if not (math.isfinite(quorum_share) and 0 < quorum_share <= 1):
        raise BadInputError("choose a share above 0% and at most 100%", where="quorum_percent")
    with p.db.write() as s:
        p.cycles.get(s, cycle_id)
        row = s.get(DebateSettings, cycle_id)
        if row is None:
            s.add(DebateSettings(cycle_id=cycle_id, answer_days=answer_days, quorum_share=quorum_share))
        else:
            row.answer_days, row.quorum_share = answer_days, quorum_share
        audit(s, viewer, "debate-settings", f"cycle {cycle_id}: {answer_days} days, quorum {quorum_share:g}")


def members(s: Session, cycle_id: int) -> int:
    return int(s.scalar(select(func.count(m.Membership.id)).where(
        m.Membership.cycle_id == cycle_id, m.Membership.role == "member")) or 0)


def quorum(s: Session, cycle_id: int) -> int:
    """Signatures needed: the quorum share of the cycle's members, rounded up, at least 1."""
    share = settings_of(s, cycle_id)["quorum_share"]
    return max(1, math.ceil(share * members(s, cycle_id) - 1e-9))


# ---- the calculator's view of a variant -----------------------------------------------------------


def base_of(p: Platform, s: Session, variant: m.PlanVariant) -> tuple[Economy, np.ndarray, np.ndarray, float]:
    """The economy, mix, available supply and investment share a variant was planned with."""
    from glasnost.compute.variants import VariantSpec, _mix

    eng = p.cycles.engine(variant.cycle_id)
    economy = eng.he.economy
    available = np.asarray(
        economy.commodities.supply if eng.he.fixed_supply is None else eng.he.fixed_supply, dtype=np.float64
    )
    weights = variant.data.get("weights", {})
    investment = float(weights.get("investment", 0.0))
    if "mix" in variant.data:  # an amendment's variant: its own mix
        ids = [str(i) for i in economy.commodities.ids]
        mix = np.array([float(variant.data["mix"].get(i, 0.0)) for i in ids])
        return economy, mix, available, investment
    last = s.scalar(
        select(m.Round).where(m.Round.cycle_id == variant.cycle_id).order_by(m.Round.number.desc()).limit(1)
    )
    spec = VariantSpec(variant.key, variant.title, variant.description, float(weights.get("private", 1.0)),
                       float(weights.get("public", 1.0)), investment)
    return economy, _mix(economy, np.asarray(last.result["consumer_demand"], float), spec), available, investment


def _number(raw: object, where: str) -> float:
    text = str(raw if raw is not None else "").strip().replace(",", ".")
    if not text:
        raise BadInputError("give a number", where=where)
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise BadInputError(f"{text[:40]!r} is not a number", where=where) from None
    if not math.isfinite(value):
        raise BadInputError(f"{text[:40]!r} is not a finite number", where=where)
    return value


def parse_change(form: Any) -> dict[str, Any]:
    """The change an amendment makes, from its form (or JSON): ``kind`` ``target`` with ``commodity``
    and ``amount``, or ``investment`` with ``investment_percent``."""
    kind = form.get("kind")
    if kind == "target":
        commodity = str(form.get("commodity") or "").strip()
        if not commodity:
            raise BadInputError("choose the product", where="commodity")
        amount = _number(form.get("amount"), "amount")
        if amount < 0:
            raise BadInputError("an amount is 0 or more", where="amount")
        return {"kind": "target", "commodity": commodity, "amount": amount}
    if kind == "investment":
        percent = _number(form.get("investment_percent"), "investment_percent")
        if not 0 <= percent < 100:
            raise BadInputError("a share from 0% up to (not including) 100%", where="investment_percent")
        return {"kind": "investment", "share": percent / 100}
    raise BadInputError("choose what to change: a product's amount or the investment reserve", where="kind")


def _verdict(economy: Economy, mix: np.ndarray, available: np.ndarray, investment: float,
             change: dict[str, Any]) -> AmendmentVerdict:
    try:
        if change["kind"] == "target":
            if change["commodity"] not in set(map(str, economy.commodities.ids)):
                raise BadInputError(f"there is no product {change['commodity'][:40]!r}", where="commodity")
            return check_target(economy, mix, available, investment, change["commodity"], change["amount"])
        return check_investment(economy, mix, available, investment, change["share"])
    except PlanError as exc:
        field = "commodity" if change["kind"] == "target" else "investment_percent"
        raise BadInputError(str(exc), where=field) from None


def verdict_json(economy: Economy, v: AmendmentVerdict, change: dict[str, Any], investment: float) -> dict[str, Any]:
    """The verdict as plain data (what pages show and the amendment stores)."""
    ids = [str(i) for i in economy.commodities.ids]
    out: dict[str, Any] = {
        "feasible": v.feasible, "why": v.why, "base_scale": v.base_scale, "scale": v.scale,
        "scale_estimate": v.scale_estimate, "hours_estimate": v.hours_estimate,
        "before": v.before, "after": v.after, "investment_before": investment,
        "hours_unit": _labour_unit(economy),
    }
    if v.feasible and v.mix is not None and v.reserved is not None:
        out["mix"] = {ids[j]: float(x) for j, x in enumerate(v.mix) if x > 0}
        out["reserved"] = {ids[j]: float(x) for j, x in enumerate(v.reserved) if x > 0}
        out["share_change"] = v.scale / v.base_scale - 1 if v.base_scale > 0 else 0.0
        out["share_estimate"] = v.scale_estimate / v.base_scale - 1 if v.base_scale > 0 else 0.0
        amended = change.get("commodity")
        others = sorted(((k, a) for k, a in v.before.items() if k != amended), key=lambda kv: -kv[1])
        out["examples"] = [{"commodity": k, "before": a, "after": v.after.get(k, 0.0)} for k, a in others[:3]]
        if amended:
            out["amended"] = {"commodity": amended, "before": v.before.get(amended, 0.0),
                              "after": v.after.get(amended, 0.0)}
    return out


def _labour_unit(economy: Economy) -> str:
    """The unit labour is counted in (``hours`` when the labour types disagree or have none)."""
    from glasnost.economy import Kind

    c = economy.commodities
    units = {str(u) for u, k in zip(c.units, c.kinds, strict=True) if k == Kind.LABOUR}
    return units.pop() if len(units) == 1 else "hours"


def _open_variant(s: Session, variant_id: int) -> m.PlanVariant:
    variant = s.get(m.PlanVariant, variant_id)
    if variant is None:
        raise NotFoundError(f"there is no plan variant {variant_id}", where="variant")
    if s.scalar(select(m.Vote.id).where(m.Vote.cycle_id == variant.cycle_id)) is not None:
        raise ConflictError("the vote on this cycle is open or over; amendments close when the vote opens",
                            where=f"cycle {variant.cycle_id}")
    return variant


def check(p: Platform, variant_id: int, change: dict[str, Any]) -> dict[str, Any]:
    """What the calculator says about ``change`` to the variant (nothing is stored)."""
    with p.db.read() as s:
        variant = _open_variant(s, variant_id)
        economy, mix, available, investment = base_of(p, s, variant)
    return verdict_json(economy, _verdict(economy, mix, available, investment, change), change, investment)


def propose(
    p: Platform, viewer: Viewer, variant_id: int, change: dict[str, Any], reason: object = ""
) -> dict[str, Any]:
    """A member's amendment: checked, refused with the reason when infeasible, else stored and logged."""
    viewer.require()
    with p.db.read() as s:
        variant = _open_variant(s, variant_id)
        if not p.cycles.is_member(s, viewer, variant.cycle_id):
            raise ForbiddenError(f"{viewer.username} is not a member of cycle {variant.cycle_id}", where="amendment")
    verdict = check(p, variant_id, change)
    if not verdict["feasible"]:
        raise BadInputError(verdict["why"], where="amount" if change["kind"] == "target" else "investment_percent")
    text = reason.strip()[:2000] if isinstance(reason, str) else ""
    with p.db.write() as s:
        variant = _open_variant(s, variant_id)
        row = Amendment(cycle_id=variant.cycle_id, base_variant_id=variant.id, author_id=viewer.account_id,
                        change=change, reason=text, verdict=verdict)
        s.add(row)
        s.flush()
        audit(s, viewer, "amendment", f"variant {variant_id}")
        payload, rid = amendment_payload(row), row.id
    p.books.publish([Publication("amendment", payload, Amendment.__table__, rid)])
    return {**payload, "status": "signing"}


def sign(p: Platform, viewer: Viewer, amendment_id: int) -> dict[str, Any]:
    """A member's signature (one each); at the quorum the amendment becomes a plan variant."""
    viewer.require()
    try:
        with p.db.write() as s:
            row = s.get(Amendment, amendment_id)
            if row is None:
                raise NotFoundError(f"there is no amendment {amendment_id}", where="amendment")
            if not p.cycles.is_member(s, viewer, row.cycle_id):
                raise ForbiddenError(f"{viewer.username} is not a member of cycle {row.cycle_id}", where="amendment")
            if s.scalar(select(Signature.id).where(Signature.amendment_id == amendment_id,
                                                   Signature.account_id == viewer.account_id)) is not None:
                raise ConflictError(f"{viewer.username} has signed amendment {amendment_id} already; one signature "
                                    "per member", where="amendment")
            if row.status == "signing":
                _open_variant(s, row.base_variant_id)
            s.add(Signature(amendment_id=amendment_id, account_id=viewer.account_id))
            s.flush()
            audit(s, viewer, "sign-amendment", f"amendment {amendment_id}")
            count = int(s.scalar(select(func.count(Signature.id)).where(Signature.amendment_id == amendment_id)))
            promote = row.status == "signing" and count >= quorum(s, row.cycle_id)
    except IntegrityError:  # the same member signing twice at once
        raise ConflictError(f"{viewer.username} has signed amendment {amendment_id} already; one signature per member",
                            where="amendment") from None
    if promote:
        _promote(p, amendment_id)
    return {"amendment": amendment_id, "signatures": count}


def _promote(p: Platform, amendment_id: int) -> None:
    """Recompute the amended plan and publish it as a variant of its own (once)."""
    from glasnost.compute.plan import optimal_plan
    from glasnost.compute.variants import PlanVariant, VariantSpec

    with p.db.read() as s:
        row = s.get(Amendment, amendment_id)
        base = s.get(m.PlanVariant, row.base_variant_id)
        economy, _, available, investment = base_of(p, s, base)
        verdict, change = row.verdict, row.change
        weights = base.data.get("weights", {})
    ids = [str(i) for i in economy.commodities.ids]
    mix = np.array([verdict["mix"].get(i, 0.0) for i in ids])
    reserved = np.array([verdict["reserved"].get(i, 0.0) for i in ids])
    plan = optimal_plan(economy, "scale", targets=mix, supply=available - reserved)
    new_investment = change["share"] if change["kind"] == "investment" else investment
    spec = VariantSpec(f"amend-{amendment_id}", f"Amendment {amendment_id}", _describe(change, base.title),
                       float(weights.get("private", 1.0)), float(weights.get("public", 1.0)), new_investment)
    data = {**PlanVariant(spec, mix, reserved, plan).to_json(), "mix": verdict["mix"], "amendment": amendment_id,
            "base": base.key, "change": change}
    try:
        with p.db.write() as s:
            row = s.get(Amendment, amendment_id)
            if row.status != "signing":
                return
            _open_variant(s, row.base_variant_id)
            variant = m.PlanVariant(cycle_id=row.cycle_id, key=spec.key, title=spec.title,
                                    description=spec.description, data=data)
            s.add(variant)
            s.flush()
            row.status, row.variant_id = "on-ballot", variant.id
            payload = {"id": variant.id, "cycle": row.cycle_id, "description": spec.description, **data}
            vid = variant.id
    except IntegrityError:  # promoted meanwhile by another request
        return
    p.books.publish([Publication("plan-variant", payload, m.PlanVariant.__table__, vid)])


def _describe(change: dict[str, Any], base_title: str) -> str:
    if change["kind"] == "target":
        return f"{base_title}, with {change['commodity']} set to {change['amount']:g} a year (a member's amendment)."
    return f"{base_title}, with {100 * change['share']:g}% set aside for investment (a member's amendment)."


def amendments(p: Platform, s: Session, cycle_id: int | None = None, amendment_id: int | None = None
               ) -> list[dict[str, Any]]:
    """Amendments (of a cycle, or one), with their signature counts and quorum."""
    q = select(Amendment).order_by(Amendment.id)
    if cycle_id is not None:
        q = q.where(Amendment.cycle_id == cycle_id)
    if amendment_id is not None:
        q = q.where(Amendment.id == amendment_id)
    rows = list(s.scalars(q))
    counts = dict(s.execute(select(Signature.amendment_id, func.count(Signature.id)).group_by(
        Signature.amendment_id)).all()) if rows else {}
    out = []
    for r in rows:
        variant = s.get(m.PlanVariant, r.base_variant_id)
        author = s.get(m.Account, r.author_id)
        voting = s.scalar(select(m.Vote.id).where(m.Vote.cycle_id == r.cycle_id)) is not None
        out.append({
            "id": r.id, "cycle": r.cycle_id, "variant": {"id": variant.id, "key": variant.key, "title": variant.title,
                        "data": {"amendment": variant.data.get("amendment")}},
            "author": author.username if author else "?", "change": r.change, "reason": r.reason,
            "verdict": r.verdict, "status": "closed" if r.status == "signing" and voting else r.status,
            "variant_id": r.variant_id, "signatures": int(counts.get(r.id, 0)), "quorum": quorum(s, r.cycle_id),
            "log_index": r.ledger_index,
        })
    return out
