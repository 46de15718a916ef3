"""What pages and the API read: a cycle's summary, its rounds, a council's position. Reads only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from glasnost.service import models as m
from glasnost.service.errors import NotFoundError

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["Views"]


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

    def cycle_summary(self, cycle_id: int) -> dict[str, Any]:
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
            return {
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
                },
                "history": [
                    {"round": r.number, "max_imbalance": r.max_imbalance, "ledger_index": r.ledger_index}
                    for r in rounds
                    if r.status == "closed"
                ],
                "vote": None if vote is None else self._vote(s, vote),
            }

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

    def round_detail(self, cycle_id: int, number: int) -> dict[str, Any]:
        with self.p.db.read() as s:
            self.p.cycles.get(s, cycle_id)
            rnd = s.scalar(select(m.Round).where(m.Round.cycle_id == cycle_id, m.Round.number == number))
            if rnd is None:
                raise NotFoundError(f"cycle {cycle_id} has no round {number}")
            codes = dict(s.execute(select(m.Council.id, m.Council.code).where(m.Council.cycle_id == cycle_id)).all())
            props = _proposals_of_round(s, rnd.id)
            return {
                "number": rnd.number,
                "status": rnd.status,
                "prices": rnd.prices,
                "result": rnd.result,
                "ledger_index": rnd.ledger_index,
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


def _proposals_of_round(s: Session, round_id: int) -> dict[int, m.Proposal]:
    """The latest proposal of every council that answered in a round (council row id -> proposal)."""
    latest = (
        select(func.max(m.Proposal.id))
        .where(m.Proposal.round_id == round_id)
        .group_by(m.Proposal.council_id)
        .scalar_subquery()
    )
    return {p.council_id: p for p in s.scalars(select(m.Proposal).where(m.Proposal.id.in_(latest)))}
