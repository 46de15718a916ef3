"""What the election pages and the API read: elections with their candidates, turnout and results,
the share of posts contested, terms and recall petitions. All public but a member's own standing
(whether they may vote, stand, accept, sign)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from glasnost.service import models as m
from glasnost.service.accounts import Viewer
from glasnost.service.elections import models as e
from glasnost.service.elections.recall import signatures_needed
from glasnost.service.errors import NotFoundError

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["ElectionViews", "contested_share"]


def _when(value: Any) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def contested_share(elections: list[dict[str, Any]]) -> dict[str, Any]:
    """Of the posts whose candidates are known (voting or closed, recalls aside), how many had more
    candidates than seats: the essay's measure (5% of Soviet local posts had two candidates)."""
    decided = [x for x in elections if x["post"] != "recall" and x["status"] != "nominating"]
    contested = [x for x in decided if x["contested"]]
    return {
        "posts": len(decided),
        "contested": len(contested),
        "share": (len(contested) / len(decided)) if decided else None,
    }


class ElectionViews:
    def __init__(self, platform: Platform) -> None:
        self.p = platform

    def _summary(self, s: Session, x: e.Election, code: str, turnout: int) -> dict[str, Any]:
        standing = int(
            s.scalar(
                select(func.count(e.Candidacy.id)).where(
                    e.Candidacy.election_id == x.id, e.Candidacy.accepted.is_(True)
                )
            )
            or 0
        )
        candidates = len(x.candidates) if x.candidates is not None and x.post != "recall" else standing
        return {
            "id": x.id,
            "cycle": x.cycle_id,
            "council": code,
            "post": x.post,
            "seats": x.seats,
            "rule": x.rule,
            "status": x.status,
            "reason": x.reason,
            "term_days": x.term_days,
            "nominations_close": _when(x.nominations_close),
            "voting_close": _when(x.voting_close),
            "candidates": candidates,
            "contested": x.post != "recall" and candidates > x.seats,
            "turnout": turnout,
            "members": x.members,
            "elected": (x.tally or {}).get("elected"),
            "tally": x.tally,
            "term": x.term_id,
            "ledger_index": x.ledger_index,
        }

    def _turnouts(self, s: Session, ids: list[int]) -> dict[int, int]:
        if not ids:
            return {}
        rows = s.execute(
            select(e.ElectionVoter.election_id, func.count(e.ElectionVoter.id))
            .where(e.ElectionVoter.election_id.in_(ids))
            .group_by(e.ElectionVoter.election_id)
        ).all()
        return {int(a): int(b) for a, b in rows}

    def cycle(self, cycle_id: int) -> dict[str, Any]:
        """Every election of a cycle, newest first, the share of posts contested, the councils
        (with their members and office holders) and the recall setting."""
        with self.p.db.read() as s:
            cycle = self.p.cycles.get(s, cycle_id)
            councils = {c.id: c for c in s.scalars(select(m.Council).where(m.Council.cycle_id == cycle_id))}
            rows = list(
                s.scalars(select(e.Election).where(e.Election.cycle_id == cycle_id).order_by(e.Election.id.desc()))
            )
            turnout = self._turnouts(s, [x.id for x in rows])
            elections = [self._summary(s, x, councils[x.council_id].code, turnout.get(x.id, 0)) for x in rows]
            holders = self._holders(s, cycle_id)
            share, days = self.p.recalls.settings(s, cycle_id)
            members = dict(
                s.execute(
                    select(m.Membership.council_id, func.count(func.distinct(m.Membership.account_id)))
                    .where(
                        m.Membership.cycle_id == cycle_id,
                        m.Membership.council_id.is_not(None),
                        m.Membership.role.in_(("member", "delegate")),
                    )
                    .group_by(m.Membership.council_id)
                ).all()
            )
            council_list = [
                {"code": c.code, "kind": c.kind, "members": int(members.get(c.id, 0)), "holders": holders.get(c.id, [])}
                for c in sorted(councils.values(), key=lambda c: c.id)
            ]
            return {
                "cycle": {"id": cycle.id, "name": cycle.name},
                "elections": elections,
                "contested": contested_share(elections),
                "councils": council_list,
                "recall_share": share,
                "recall_days": days,
            }

    def _holders(self, s: Session, cycle_id: int) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        for term, name in s.execute(
            select(e.Term, m.Account.username)
            .join(m.Account, m.Account.id == e.Term.account_id)
            .where(e.Term.cycle_id == cycle_id, e.Term.ended_at.is_(None))
            .order_by(e.Term.id)
        ):
            out.setdefault(term.council_id, []).append(
                {"term": term.id, "holder": name, "post": term.post, "ends_at": _when(term.ends_at)}
            )
        return out

    def election(self, election_id: int, viewer: Viewer) -> dict[str, Any]:
        with self.p.db.read() as s:
            x = s.get(e.Election, election_id)
            if x is None:
                raise NotFoundError(f"there is no election {election_id}", where="election")
            council = s.get(m.Council, x.council_id)
            assert council is not None
            summary = self._summary(s, x, council.code, self._turnouts(s, [x.id]).get(x.id, 0))
            nominator = m.Account.__table__.alias("nominator")
            candidates = [
                {
                    "username": name,
                    "accepted": c.accepted,
                    "statement": c.statement,
                    "nominated_by": by,
                    "self": c.account_id == viewer.account_id,
                }
                for c, name, by in s.execute(
                    select(e.Candidacy, m.Account.username, nominator.c.username)
                    .join(m.Account, m.Account.id == e.Candidacy.account_id)
                    .outerjoin(nominator, nominator.c.id == e.Candidacy.nominated_by)
                    .where(e.Candidacy.election_id == election_id)
                    .order_by(e.Candidacy.id)
                )
            ]
            member = self.p.elections.is_member(s, viewer.account_id, x.council_id)
            voted = (
                member
                and s.scalar(
                    select(e.ElectionVoter.id).where(
                        e.ElectionVoter.election_id == election_id, e.ElectionVoter.account_id == viewer.account_id
                    )
                )
                is not None
            )
            recall = None
            if x.term_id is not None:
                term = s.get(e.Term, x.term_id)
                holder = s.get(m.Account, term.account_id) if term else None
                recall = {
                    "term": x.term_id,
                    "holder": holder.username if holder else "",
                    "post": term.post if term else "",
                }
            members = x.members if x.members is not None else self.p.elections.members(s, x.council_id)
            return {
                "election": {**summary, "members": members, "frozen": x.candidates},
                "council": {"code": council.code, "kind": council.kind},
                "candidates": candidates,
                "member": member,
                "voted": voted,
                "recall": recall,
            }

    def term(self, term_id: int) -> dict[str, Any]:
        with self.p.db.read() as s:
            term = s.get(e.Term, term_id)
            if term is None:
                raise NotFoundError(f"there is no term {term_id}", where="term")
            council = s.get(m.Council, term.council_id)
            holder = s.get(m.Account, term.account_id)
            assert council is not None and holder is not None
            petitions = [
                {
                    "id": p.id,
                    "signatures": p.signatures,
                    "needed": p.needed,
                    "members": p.members,
                    "status": p.status,
                    "election": p.election_id,
                    "opened": _when(p.created_at),
                }
                for p in s.scalars(
                    select(e.RecallPetition).where(e.RecallPetition.term_id == term_id).order_by(e.RecallPetition.id)
                )
            ]
            share, _ = self.p.recalls.settings(s, term.cycle_id)
            members = self.p.elections.members(s, term.council_id)
            return {
                "term": {
                    "id": term.id,
                    "cycle": term.cycle_id,
                    "council": council.code,
                    "post": term.post,
                    "holder": holder.username,
                    "started_at": _when(term.started_at),
                    "ends_at": _when(term.ends_at),
                    "ended_at": _when(term.ended_at),
                    "end_reason": term.end_reason,
                    "election": term.election_id,
                },
                "petitions": petitions,
                "recall_share": share,
                "members": members,
                "needed_now": signatures_needed(share, members),
            }
