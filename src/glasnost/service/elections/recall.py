"""Recall: a petition signed by a stated share of a council's members opens a recall vote; if it
passes, the holder loses the post's grant at once and a by-election opens.

Signatures are secret to everyone but the count (:class:`.secrecy.PetitionMarks`,
``docs/elections.md``): the petition stores its count and, per signer, a keyed hash that stops a
second signature; nobody is recorded as having opened or signed it, and the audit log records a
signature without an account.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glasnost.db.engine import utcnow
from glasnost.service import models as m
from glasnost.service.accounts import Viewer, audit
from glasnost.service.elections import models as e
from glasnost.service.elections.secrecy import ElectionBox, PetitionMarks
from glasnost.service.elections.service import between
from glasnost.service.errors import ConflictError, ForbiddenError, NotFoundError
from glasnost.service.messages import N_
from glasnost.service.notifications.service import notify

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["DEFAULT_RECALL_DAYS", "DEFAULT_RECALL_SHARE", "Recalls", "signatures_needed"]

DEFAULT_RECALL_SHARE = 0.2
DEFAULT_RECALL_DAYS = 7


def signatures_needed(share: float, members: int) -> int:
    """Signatures that open a recall vote: the share of the council's members, rounded up (at least 1)."""
    return max(1, math.ceil(share * members - 1e-9))


class Recalls:
    """Recall petitions, their signatures and the recall votes' consequences."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    # ---- the cycle's setting -----------------------------------------------------------------------

    def settings(self, s: Session, cycle_id: int) -> tuple[float, int]:
        row = s.get(e.DemocracySettings, cycle_id)
        return (row.recall_share, row.recall_days) if row else (DEFAULT_RECALL_SHARE, DEFAULT_RECALL_DAYS)

    def set_share(self, viewer: Viewer, cycle_id: int, share: float, days: int = DEFAULT_RECALL_DAYS) -> dict[str, Any]:
        """The board sets the share of a council's members whose signatures open a recall vote."""
        viewer.require_board()
        between("recall_share_percent", share * 100, 1, 100)
        between("recall_days", days, 1, 365)
        with self.p.db.write() as s:
            self.p.cycles.get(s, cycle_id)
            row = s.get(e.DemocracySettings, cycle_id)
            if row is None:
                row = e.DemocracySettings(cycle_id=cycle_id)
                s.add(row)
            row.recall_share, row.recall_days = share, days
            audit(s, viewer, "recall-share", f"cycle {cycle_id}: {share:.4f}, {days} days")
        return {"cycle": cycle_id, "recall_share": share, "recall_days": days}

    # ---- petitions ---------------------------------------------------------------------------------

    def sign(self, viewer: Viewer, term_id: int) -> dict[str, Any]:
        """Sign the petition to recall a term's holder (opening it, if none is open). When the
        signatures reach the threshold, the recall vote opens."""
        viewer.require()
        with self.p.db.read() as s:
            term = s.get(e.Term, term_id)
            if term is None:
                raise NotFoundError(f"there is no term {term_id}", where="term")
            if term.ended_at is not None:
                raise ConflictError("this term has ended", where=f"term {term_id}")
            if not self.p.elections.is_member(s, viewer.account_id, term.council_id):
                code = s.get(m.Council, term.council_id).code  # type: ignore[union-attr]
                raise ForbiddenError(f"{viewer.username} is not a member of council {code}", where=f"term {term_id}")
        petition_id = self._petition(term_id)
        marks = PetitionMarks(self.p.vault, petition_id)
        mark = marks.mark(int(viewer.account_id))  # type: ignore[arg-type]
        if mark is None:
            raise ConflictError("the recall vote on this term is open already", where=f"term {term_id}")
        try:
            with self.p.db.write() as s:
                petition = s.get(e.RecallPetition, petition_id, with_for_update=True)
                assert petition is not None
                if petition.status != "open":
                    raise ConflictError("the recall vote on this term is open already", where=f"term {term_id}")
                s.add(e.RecallSignature(petition_id=petition_id, mark=mark))
                s.flush()
                petition.signatures += 1
                audit(s, None, "sign-recall", f"petition {petition_id}")
                reached = petition.signatures >= petition.needed
                if reached:
                    self._open_vote(s, petition)
                result = {
                    "petition": petition_id,
                    "signatures": petition.signatures,
                    "needed": petition.needed,
                    "status": petition.status,
                    "election": petition.election_id,
                }
        except IntegrityError:
            raise ConflictError(
                "you have signed this petition already; one signature per member", where=f"term {term_id}"
            ) from None
        if reached:
            marks.destroy()
            ElectionBox(self.p.vault, int(result["election"])).create()
        return result

    def _petition(self, term_id: int) -> int:
        """The open petition on a term, opened now (with its threshold frozen) if there is none."""
        with self.p.db.write() as s:
            term = s.get(e.Term, term_id, with_for_update=True)
            assert term is not None
            petition = s.scalar(
                select(e.RecallPetition).where(
                    e.RecallPetition.term_id == term_id, e.RecallPetition.status.in_(("open", "vote"))
                )
            )
            if petition is not None:
                return petition.id
            share, _ = self.settings(s, term.cycle_id)
            members = self.p.elections.members(s, term.council_id)
            petition = e.RecallPetition(
                term_id=term_id,
                cycle_id=term.cycle_id,
                council_id=term.council_id,
                members=members,
                needed=signatures_needed(share, members),
            )
            s.add(petition)
            s.flush()
            holder = s.get(m.Account, term.account_id).username  # type: ignore[union-attr]
            notify(
                s,
                "recall",
                N_("A petition to recall {holder} ({post}) is open: {needed} signatures needed"),
                cycle_id=term.cycle_id,
                params={"holder": holder, "post": term.post, "needed": petition.needed},
                link=f"/terms/{term_id}",
                key=f"recall-petition:{petition.id}",
            )
            petition_id = petition.id
        PetitionMarks(self.p.vault, petition_id).create()
        return petition_id

    def _open_vote(self, s: Session, petition: e.RecallPetition) -> None:
        term = s.get(e.Term, petition.term_id)
        assert term is not None
        _, days = self.settings(s, petition.cycle_id)
        now = utcnow()
        vote = e.Election(
            cycle_id=petition.cycle_id,
            council_id=petition.council_id,
            post="recall",
            seats=1,
            rule="majority",
            status="voting",
            reason="recall",
            term_days=1,
            nominations_close=now,
            voting_close=now + timedelta(days=days),
            term_id=term.id,
            candidates=["yes", "no"],
            members=self.p.elections.members(s, petition.council_id),
        )
        s.add(vote)
        s.flush()
        petition.status, petition.election_id = "vote", vote.id
        holder = s.get(m.Account, term.account_id).username  # type: ignore[union-attr]
        notify(
            s,
            "recall",
            N_("Recall vote on {holder} ({post}): vote yes or no"),
            cycle_id=petition.cycle_id,
            params={"holder": holder, "post": term.post},
            link=f"/elections/{vote.id}",
            key=f"recall-vote:{vote.id}",
        )

    # ---- the vote's consequences -------------------------------------------------------------------

    def apply(self, s: Session, vote: e.Election, tally: dict[str, Any]) -> None:
        """A recall vote closed: if it passed, the term ends and its grant is deleted now, and a
        by-election to the seat opens."""
        petition = s.scalar(select(e.RecallPetition).where(e.RecallPetition.election_id == vote.id))
        term = s.get(e.Term, vote.term_id)
        assert petition is not None and term is not None
        if not tally.get("passed") or term.ended_at is not None:
            petition.status = "failed" if not tally.get("passed") else "lapsed"
            return
        petition.status = "passed"
        self.p.elections.end_term(s, term, "recalled")
        council = s.get(m.Council, term.council_id)
        election = s.get(e.Election, term.election_id)
        assert council is not None and election is not None
        by = self.p.elections._open(s, council, term.post, 1, election.term_days, "by-election")
        tally["by_election"] = by.id

    def lapse(self, s: Session, term_id: int) -> None:
        """A term ran out: its open petition lapses."""
        for petition in s.scalars(
            select(e.RecallPetition).where(e.RecallPetition.term_id == term_id, e.RecallPetition.status == "open")
        ):
            petition.status = "lapsed"
