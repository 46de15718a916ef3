"""What pages and the API read: a cycle's summary, its rounds, a council's position. Reads only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from glasnost.service import models as m
from glasnost.service.errors import NotFoundError

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["KIND_GROUPS", "Views", "variant_comparison"]


class Views:
    """Read views over the platform's database."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    def list_cycles(self) -> list[dict[str, Any]]:
        with self.p.db.read() as s:
            return [
                {"id": c.id, "name": c.name, "status": c.status, "demo": c.demo, "source": c.source}
                for c in s.scalars(select(m.Cycle).order_by(m.Cycle.id.desc()))
            ]

    def cycle_summary(self, cycle_id: int, *, series: bool = False) -> dict[str, Any]:
        """A cycle as pages and the API show it; with ``series``, also every round's posted prices and
        largest imbalance (what the pages plot)."""
        eng = self.p.cycles.engine(cycle_id)
        with self.p.db.read() as s:
            cycle = self.p.cycles.get(s, cycle_id)
            rounds = list(s.scalars(select(m.Round).where(m.Round.cycle_id == cycle_id).order_by(m.Round.number)))
            current = rounds[-1] if rounds else None
            answered = 0
            if current is not None and current.status == "open":
                answered = int(
                    s.scalar(
                        select(func.count(func.distinct(m.Proposal.council_id))).where(
                            m.Proposal.round_id == current.id
                        )
                    )
                    or 0
                )
            vote = s.scalar(select(m.Vote).where(m.Vote.cycle_id == cycle_id))
            variants = int(
                s.scalar(select(func.count(m.PlanVariant.id)).where(m.PlanVariant.cycle_id == cycle_id)) or 0
            )
            out = {
                "id": cycle.id,
                "name": cycle.name,
                "source": cycle.source,
                "status": cycle.status,
                "demo": cycle.demo,
                "threshold": cycle.threshold,
                "max_rounds": cycle.max_rounds,
                "commodities": [
                    {"id": str(c), "unit": eng.units[j], "kind": int(eng.kinds[j]), "public": bool(eng.public[j])}
                    for j, c in enumerate(eng.commodity_ids)
                ],
                "worker_councils": len(eng.worker_ids),
                "consumer_councils": len(eng.consumer_ids),
                "round": None
                if current is None
                else {
                    "number": current.number,
                    "status": current.status,
                    "prices": current.prices,
                    "deadline": None
                    if current.deadline is None
                    else current.deadline.isoformat(timespec="seconds") + "Z",
                    "answered": answered,
                    "opened_at": current.opened_at.isoformat(timespec="seconds") + "Z",
                },
                "history": [
                    {"round": r.number, "max_imbalance": r.max_imbalance, "ledger_index": r.ledger_index}
                    for r in rounds
                    if r.status == "closed"
                ],
                "vote": None if vote is None else self._vote(s, vote),
                "variants": variants,
            }
            if series:
                out["series"] = _series(rounds, out["commodities"])
            return out

    def _vote(self, s: Session, vote: m.Vote) -> dict[str, Any]:
        """A vote as the public sees it: its rules, the turnout, and the tally only once closed."""
        return {
            "status": vote.status,
            "rules": vote.rules,
            "turnout": self.p.votes.turnout(s, vote.id),
            "tally": vote.tally if vote.status == "closed" else None,
        }

    def vote(self, cycle_id: int, viewer: Any) -> dict[str, Any]:
        """The variants, the vote, and whether the viewer is a member and has voted."""
        with self.p.db.read() as s:
            self.p.cycles.get(s, cycle_id)
            variants = [
                {
                    "id": v.id,
                    "key": v.key,
                    "title": v.title,
                    "description": v.description,
                    "data": v.data,
                    "ledger_index": v.ledger_index,
                }
                for v in self.p.votes.variants(s, cycle_id)
            ]
            vote = s.scalar(select(m.Vote).where(m.Vote.cycle_id == cycle_id))
            voted = member = False
            if not viewer.anonymous:
                member = self.p.cycles.is_member(s, viewer, cycle_id)
                if vote is not None:
                    voted = (
                        s.scalar(
                            select(m.Voter.id).where(
                                m.Voter.vote_id == vote.id, m.Voter.account_id == viewer.account_id
                            )
                        )
                        is not None
                    )
            view = None if vote is None else {**self._vote(s, vote), "frozen": vote.frozen_hash}
        return {"variants": variants, "vote": view, "voted": voted, "member": member}

    def invitation(self, token: str) -> dict[str, Any] | None:
        """What an invitation link is for (its role, cycle, council or workplace, whether used), or None."""
        from glasnost.service.security import hash_token

        with self.p.db.read() as s:
            inv = s.scalar(select(m.Invitation).where(m.Invitation.token_hash == hash_token(token)))
            if inv is None:
                return None
            council = None if inv.council_id is None else s.get(m.Council, inv.council_id)
            cycle = None if inv.cycle_id is None else s.get(m.Cycle, inv.cycle_id)
            return {
                "role": inv.role,
                "cycle": inv.cycle_id,
                "cycle_name": None if cycle is None else cycle.name,
                "cycle_status": None if cycle is None else cycle.status,
                "council": None if council is None else council.code,
                "workplace": inv.target,
                "used": inv.used_by is not None,
            }

    def round_detail(self, cycle_id: int, number: int) -> dict[str, Any]:
        with self.p.db.read() as s:
            self.p.cycles.get(s, cycle_id)
            rnd = s.scalar(select(m.Round).where(m.Round.cycle_id == cycle_id, m.Round.number == number))
            if rnd is None:
                raise NotFoundError(f"cycle {cycle_id} has no round {number}")
            codes = dict(s.execute(select(m.Council.id, m.Council.code).where(m.Council.cycle_id == cycle_id)).all())
            props = _proposals_of_round(s, rnd.id)
            last = s.scalar(select(func.max(m.Round.number)).where(m.Round.cycle_id == cycle_id)) or rnd.number
            result = rnd.result or {}
            return {
                "id": rnd.id,
                "number": rnd.number,
                "status": rnd.status,
                "prices": rnd.prices,
                "result": rnd.result,
                "signed_imbalance": _signed_imbalance(result.get("supply"), result.get("demand")),
                "ledger_index": rnd.ledger_index,
                "opened_at": rnd.opened_at.isoformat(timespec="seconds") + "Z",
                "deadline": None if rnd.deadline is None else rnd.deadline.isoformat(timespec="seconds") + "Z",
                "closed_at": None if rnd.closed_at is None else rnd.closed_at.isoformat(timespec="seconds") + "Z",
                "latest": last,
                "proposals": [
                    {
                        "council": codes[p.council_id],
                        "supply": p.supply,
                        "demand": p.demand,
                        "source": p.source,
                        "ledger_index": p.ledger_index,
                    }
                    for p in sorted(props.values(), key=lambda p: p.council_id)
                ],
            }

    def council_position(self, cycle_id: int, code: str) -> dict[str, Any]:
        """A council's own position: its proposals by round, whether each was its own or modelled,
        its cost and benefit at the round's prices, and its modelled proposal at the open round."""
        council_id, kind = self.p.cycles.council(cycle_id, code)
        eng = self.p.cycles.engine(cycle_id)
        with self.p.db.read() as s:
            rounds = list(s.scalars(select(m.Round).where(m.Round.cycle_id == cycle_id).order_by(m.Round.number)))
            mine = {
                p.round_id: p
                for p in s.scalars(
                    select(m.Proposal).where(m.Proposal.council_id == council_id).order_by(m.Proposal.id)
                )
            }
            delegates = self.p.cycles.delegates(s, council_id)
        history = []
        for r in rounds:
            p = mine.get(r.id)
            if p is not None:
                sup, dem, how = p.supply, p.demand, "own"
            elif r.status == "closed":
                sup, dem = eng.modelled(code, kind, r.prices)
                how = "modelled"
            else:
                continue
            history.append(
                {
                    "round": r.number,
                    "status": r.status,
                    "how": how,
                    "supply": sup,
                    "demand": dem,
                    "benefit": eng.cost(sup, r.prices),
                    "cost": eng.cost(dem, r.prices, consumer=kind == "consumer"),
                }
            )
        current = rounds[-1] if rounds and rounds[-1].status == "open" else None
        suggestion = (
            None
            if current is None
            else dict(zip(("supply", "demand"), eng.modelled(code, kind, current.prices), strict=True))
        )
        return {
            "council": code,
            "kind": kind,
            "product": eng.worker_product.get(code),
            "income": eng.income.get(code),
            "delegates": delegates,
            "history": history,
            "open_round": None if current is None else {"number": current.number, "prices": current.prices},
            "modelled": suggestion,
        }


def _signed_imbalance(supply: dict[str, float] | None, demand: dict[str, float] | None) -> dict[str, float]:
    """Each commodity's imbalance with its sign: ``2 (D - S) / (S + D)``, positive where more is asked
    for than offered (its price rises), negative where more is offered than asked for (it falls).
    Its size is the procedure's ``|2 (S - D)| / (S + D)``."""
    if not supply or not demand:
        return {}
    ids = list(supply)
    S = np.array([supply[c] for c in ids], dtype=np.float64)
    D = np.array([demand.get(c, 0.0) for c in ids], dtype=np.float64)
    total = S + D
    with np.errstate(divide="ignore", invalid="ignore"):
        signed = np.where(total > 0, 2.0 * (D - S) / total, 0.0)
    return dict(zip(ids, signed.tolist(), strict=True))


def _series(rounds: list[m.Round], commodities: list[dict[str, Any]]) -> dict[str, Any]:
    """Every round's posted prices (by commodity) and, for closed rounds, the largest imbalance
    (None for the open round): what the cycle's and rounds' charts draw."""
    ids = [c["id"] for c in commodities]
    return {
        "rounds": [r.number for r in rounds],
        "prices": {cid: [float(r.prices.get(cid, 0.0)) for r in rounds] for cid in ids},
        "max_imbalance": [None if r.max_imbalance is None else float(r.max_imbalance) for r in rounds],
    }


KIND_GROUPS = (("goods", 0), ("public goods", 1), ("resources", 2), ("labour", 3))
"""The groups of commodities a comparison shows, by :class:`glasnost.economy.Kind` code."""


def variant_comparison(variants: list[dict[str, Any]], commodities: list[dict[str, Any]]) -> dict[str, Any]:
    """Plan variants side by side, in plain terms.

    For every good and public good, what each variant makes available (its net output); for every
    kind of labour and resource, how much each uses (the negative of its net output) and sets aside
    (for investment); each against the first variant (``change``: the relative difference, None
    where the first is zero). ``totals``: the same summed by group, in the groups' units (goods in
    each good's unit; this is what the chart shows, relative to the first variant)."""
    if not variants:
        return {"groups": [], "totals": [], "keys": []}
    keys = [v["key"] for v in variants]
    groups = []
    totals = []
    for group, kind in KIND_GROUPS:
        members = [c for c in commodities if c["kind"] == kind]
        if not members:
            continue
        produced = kind in (0, 1)
        ids = [c["id"] for c in members]
        net = np.array([[float(v["data"].get("net_output", {}).get(cid, 0.0)) for cid in ids] for v in variants])
        reserved = np.array([[float(v["data"].get("reserved", {}).get(cid, 0.0)) for cid in ids] for v in variants])
        amount = net if produced else -net  # goods made available; labour and resources used
        rows = [
            {
                "id": cid,
                "unit": c["unit"],
                "values": amount[:, j].tolist(),
                "change": _changes(amount[:, j]),
                "reserved": reserved[:, j].tolist() if not produced else None,
                "best": int(np.argmax(amount[:, j])) if produced else None,
            }
            for j, (cid, c) in enumerate(zip(ids, members, strict=True))
        ]
        groups.append({"group": group, "kind": kind, "produced": produced, "rows": rows})
        total = amount.sum(axis=1)
        units = {c["unit"] for c in members}
        unit = units.pop() if len(units) == 1 else None  # a sum has a unit only where its members share one
        totals.append(
            {
                "group": group,
                "kind": kind,
                "aside": False,
                "unit": unit,
                "values": total.tolist(),
                "change": _changes(total),
            }
        )
        if not produced and reserved.any():
            aside = reserved.sum(axis=1)
            totals.append(
                {
                    "group": group,
                    "kind": kind,
                    "aside": True,
                    "unit": unit,
                    "values": aside.tolist(),
                    "change": _changes(aside),
                }
            )
    return {"groups": groups, "totals": totals, "keys": keys}


def _changes(values: np.ndarray) -> list[float | None]:
    """Each value against the first: ``(x - first) / |first|`` (None where the first is zero)."""
    first = float(values[0])
    if abs(first) < 1e-12:
        return [None] * len(values)
    return [(float(x) - first) / abs(first) for x in values]


def _proposals_of_round(s: Session, round_id: int) -> dict[int, m.Proposal]:
    """The latest proposal of every council that answered in a round (council row id -> proposal)."""
    latest = (
        select(func.max(m.Proposal.id))
        .where(m.Proposal.round_id == round_id)
        .group_by(m.Proposal.council_id)
        .scalar_subquery()
    )
    return {p.council_id: p for p in s.scalars(select(m.Proposal).where(m.Proposal.id.in_(latest)))}
