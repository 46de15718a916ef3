"""The elections' upkeep: what the scheduled work does (nominations and voting that are due, terms
that ran out) and publishing counts to the public log (also those a crash left unpublished).
A mixin of :class:`glasnost.service.elections.service.Elections`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from glasnost.db.engine import utcnow
from glasnost.service import models as m
from glasnost.service.elections import models as e
from glasnost.service.errors import ConflictError
from glasnost.service.openbooks import Publication

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["Upkeep"]


class Upkeep:
    p: Platform

    # ---- scheduled work ----------------------------------------------------------------------------

    def due(self, now: datetime | None = None) -> int:
        """Move on what is due: nominations closed, voting closed, terms run out (a new election
        opens for the post). How many things were done."""
        now = now or utcnow()
        with self.p.db.read() as s:
            nominating = list(
                s.scalars(
                    select(e.Election.id).where(e.Election.status == "nominating", e.Election.nominations_close <= now)
                )
            )
            voting = list(
                s.scalars(select(e.Election.id).where(e.Election.status == "voting", e.Election.voting_close <= now))
            )
            ended = list(s.scalars(select(e.Term.id).where(e.Term.ended_at.is_(None), e.Term.ends_at <= now)))
        done = 0
        for action, ids in ((self.start_voting, nominating), (self.close, voting)):
            for election_id in ids:
                try:
                    action(None, election_id)
                    done += 1
                except ConflictError:  # another process did it
                    pass
        for term_id in ended:
            done += self._term_ran_out(term_id)
        return done

    def _term_ran_out(self, term_id: int) -> int:
        with self.p.db.write() as s:
            term = s.get(e.Term, term_id, with_for_update=True)
            if term is None or term.ended_at is not None:
                return 0
            self.end_term(s, term, "term")
            self.p.recalls.lapse(s, term.id)
            council = s.get(m.Council, term.council_id)
            assert council is not None
            with_post = select(e.Election.id).where(
                e.Election.council_id == council.id, e.Election.post == term.post, e.Election.status != "closed"
            )
            if s.scalar(with_post) is None:  # the post opens again, as its last full election had it
                last = s.scalar(
                    select(e.Election)
                    .where(
                        e.Election.council_id == council.id,
                        e.Election.post == term.post,
                        e.Election.reason != "by-election",
                    )
                    .order_by(e.Election.id.desc())
                    .limit(1)
                )
                seats, days = (last.seats, last.term_days) if last is not None else (1, 365)
                self._open(s, council, term.post, seats, days, "term-ended")
        return 1

    # ---- the public log ----------------------------------------------------------------------------

    def recover(self) -> int:
        """Publish the count of every closed election whose entries are not in the log yet (a
        process that died between the close and the publication); how many."""
        with self.p.db.read() as s:
            pending = list(
                s.scalars(select(e.Election).where(e.Election.status == "closed", e.Election.ledger_index.is_(None)))
            )
            work = [
                (
                    x.id,
                    [
                        b.choice
                        for b in s.scalars(
                            select(e.ElectionBallot)
                            .where(e.ElectionBallot.election_id == x.id)
                            .order_by(e.ElectionBallot.position)
                        )
                    ],
                    dict(x.tally or {}),
                    list(
                        s.scalars(
                            select(e.ElectionReceipt.receipt_hash)
                            .where(e.ElectionReceipt.election_id == x.id)
                            .order_by(e.ElectionReceipt.receipt_hash)
                        )
                    ),
                )
                for x in pending
            ]
        for election_id, ballots, tally, receipts in work:
            self._publish(election_id, ballots, tally, receipts)
        return len(work)

    def _publish(self, election_id: int, ballots: list[Any], tally: dict[str, Any], receipts: list[str]) -> None:
        """The ballots (shuffled) with the receipt hashes (sorted, so nothing links one to a ballot),
        then the tally; the tally's entry is recorded on the election."""
        _, entry = self.p.books.publish(
            [
                Publication("election-ballots", {"election": election_id, "ballots": ballots, "receipts": receipts}),
                Publication("election-tally", {"election": election_id, **tally}),
            ]
        )  # type: ignore[misc]
        with self.p.db.write() as s:
            s.get(e.Election, election_id).ledger_index = entry.index  # type: ignore[union-attr]
