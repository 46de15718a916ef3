"""Elections to councils' posts: calling one, standing and nominating, secret ballots, the count,
and the terms (with the grants they carry).

* **Who.** A council's members (``memberships`` of the council, as ``member`` or ``delegate``)
  elect its delegates (``post="delegates"``, any number of seats) and, for a workplace (a worker
  council), its manager (``post="manager"``, one seat). Any member may stand, or be nominated by
  another member and accept; nobody approves candidates.
* **When.** The board calls an election (or the platform does: when a term ends, after a recall);
  nominations close at ``nominations_close``, voting at ``voting_close``; the scheduled work moves
  it on (:meth:`Elections.due`), or the board earlier.
* **Ballots** are secret as the plan-variant vote's (:mod:`.secrecy`, ``docs/ballots.md``): the
  voter and the sealed ballot are stored apart; at the close the ballots are shuffled, stored under
  random ids and published with the tally; the receipt code proves a ballot was counted.
* **Terms.** Each winner gets a term of ``term_days`` and the grant of the post, as explicit rows:
  a delegate's seat is the platform's ``memberships`` row (role ``delegate``), which every request
  reads; a manager holds a ``grants`` row of kind ``manager`` for ``<cycle>/<council>``. A term
  that ends (ran out, recalled, succeeded) deletes the row at once, and the post is open again.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glasnost.db.engine import utcnow
from glasnost.service import models as m
from glasnost.service.accounts import Viewer, audit
from glasnost.service.elections import models as e
from glasnost.service.elections.count import BallotError, check_choice, count
from glasnost.service.elections.secrecy import ElectionBox
from glasnost.service.elections.upkeep import Upkeep
from glasnost.service.errors import BadInputError, ConflictError, ForbiddenError, NotFoundError
from glasnost.service.messages import N_
from glasnost.service.notifications.service import notify
from glasnost.service.security import hash_token, new_token

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["POSTS", "Elections", "between", "manager_target"]

POSTS = ("delegates", "manager")
CAST_SQL = (
    "SELECT elections.status, elections.rule, elections.candidates, councils.code, "
    "(SELECT 1 FROM memberships WHERE memberships.account_id = ? AND memberships.council_id = elections.council_id "
    "AND memberships.role IN ('member', 'delegate') LIMIT 1), sealed_secrets.sealed "
    "FROM elections JOIN councils ON councils.id = elections.council_id "
    "LEFT JOIN sealed_secrets ON sealed_secrets.name = ? WHERE elections.id = ?"
)
"""What a ballot needs to know, in one query: the election's state, rule and candidates, and whether
the voter is a member of its council, and the ballot box's key (sealed in the vault)."""
MEMBER_ROLES = ("member", "delegate")


def between(name: str, value: float, low: float, high: float) -> None:
    """Refuse ``value`` (of the field ``name``) unless it lies in [low, high]."""
    if not low <= value <= high:  # also refuses NaN
        raise BadInputError(f"{value:g} is not between {low} and {high}", where=name)


def manager_target(cycle_id: int, code: str) -> str:
    """What a manager's grant is for: ``<cycle>/<council code>``."""
    return f"{cycle_id}/{code}"


class Elections(Upkeep):
    """Elections, candidacies, ballots and terms over the platform's database."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    # ---- members -----------------------------------------------------------------------------------

    @staticmethod
    def members(s: Session, council_id: int) -> int:
        return int(
            s.scalar(
                select(func.count(func.distinct(m.Membership.account_id))).where(
                    m.Membership.council_id == council_id, m.Membership.role.in_(MEMBER_ROLES)
                )
            )
            or 0
        )

    @staticmethod
    def is_member(s: Session, account_id: int | None, council_id: int) -> bool:
        if account_id is None:
            return False
        found = s.scalar(
            select(m.Membership.id)
            .where(
                m.Membership.account_id == account_id,
                m.Membership.council_id == council_id,
                m.Membership.role.in_(MEMBER_ROLES),
            )
            .limit(1)
        )
        return found is not None

    def council(self, s: Session, cycle_id: int, code: str) -> m.Council:
        row = s.scalar(select(m.Council).where(m.Council.cycle_id == cycle_id, m.Council.code == code))
        if row is None:
            raise NotFoundError(f"cycle {cycle_id} has no council {code!r}", where="council")
        return row

    def add_member(self, viewer: Viewer, cycle_id: int, code: str, username: str) -> dict[str, Any]:
        """The board makes an account a member of a council (and so of the cycle)."""
        viewer.require_board()
        account_id = self.p.accounts.account_id(username)
        with self.p.db.write() as s:
            council = self.council(s, cycle_id, code)
            for council_id in (council.id, None):
                exists = s.scalar(
                    select(m.Membership.id).where(
                        m.Membership.account_id == account_id,
                        m.Membership.cycle_id == cycle_id,
                        m.Membership.council_id.is_(None)
                        if council_id is None
                        else m.Membership.council_id == council_id,
                        m.Membership.role == "member",
                    )
                )
                if exists is None:
                    s.add(m.Membership(account_id=account_id, cycle_id=cycle_id, council_id=council_id, role="member"))
            audit(s, viewer, "add-member", f"cycle {cycle_id}: {code} {username}")
            return {"council": code, "account": username, "members": self.members(s, council.id) + 0}

    # ---- calling an election -----------------------------------------------------------------------

    def call(
        self,
        viewer: Viewer,
        cycle_id: int,
        code: str,
        post: str,
        *,
        seats: int = 1,
        term_days: int = 365,
        nomination_hours: float = 72.0,
        voting_hours: float = 72.0,
    ) -> int:
        """The board calls an election to a council's post; its id."""
        viewer.require_board()
        if post not in POSTS:
            raise BadInputError(f"post {post[:40]!r}: choose 'delegates' or 'manager'", where="post")
        for name, value, low, high in (
            ("seats", seats, 1, 100),
            ("term_days", term_days, 1, 3650),
            ("nomination_hours", nomination_hours, 0, 8760),
            ("voting_hours", voting_hours, 0, 8760),
        ):
            between(name, value, low, high)
        with self.p.db.write() as s:
            council = self.council(s, cycle_id, code)
            if post == "manager":
                if council.kind != "worker":
                    raise BadInputError("only a workplace (a worker council) has a manager", where="post")
                seats = 1
            election = self._open(s, council, post, seats, term_days, "regular", nomination_hours, voting_hours)
            audit(s, viewer, "call-election", f"cycle {cycle_id}: {code} {post} x{seats}")
            return election.id

    def _open(
        self,
        s: Session,
        council: m.Council,
        post: str,
        seats: int,
        term_days: int,
        reason: str,
        nomination_hours: float = 72.0,
        voting_hours: float = 72.0,
    ) -> e.Election:
        under_way = s.scalar(
            select(e.Election.id).where(
                e.Election.council_id == council.id, e.Election.post == post, e.Election.status != "closed"
            )
        )
        if under_way is not None and reason != "by-election":
            raise ConflictError(
                f"an election to this post is under way already (election {under_way})", where=f"council {council.code}"
            )
        now = utcnow()
        nominations = now + timedelta(hours=nomination_hours)
        election = e.Election(
            cycle_id=council.cycle_id,
            council_id=council.id,
            post=post,
            seats=seats,
            rule="schulze" if seats == 1 else "seq-phragmen",
            status="nominating",
            reason=reason,
            term_days=term_days,
            nominations_close=nominations,
            voting_close=nominations + timedelta(hours=voting_hours),
        )
        s.add(election)
        s.flush()
        notify(
            s,
            "elections",
            N_("Election of {post} for council {council}: stand or nominate by {date}"),
            cycle_id=council.cycle_id,
            params={"post": post, "council": council.code, "date": nominations.strftime("%Y-%m-%d %H:%M UTC")},
            link=f"/elections/{election.id}",
            key=f"election-called:{election.id}",
        )
        return election

    # ---- candidates --------------------------------------------------------------------------------

    def _election(self, s: Session, election_id: int, *, lock: bool = False) -> e.Election:
        row = s.get(e.Election, election_id, with_for_update=lock)
        if row is None:
            raise NotFoundError(f"there is no election {election_id}", where="election")
        return row

    def _nominating(self, s: Session, election_id: int) -> e.Election:
        election = self._election(s, election_id)
        if election.status != "nominating":
            raise ConflictError("nominations to this election are closed", where=f"election {election_id}")
        return election

    def stand(self, viewer: Viewer, election_id: int, statement: str = "") -> None:
        """A member stands for the post (no one approves it)."""
        viewer.require()
        if len(statement) > 500:
            raise BadInputError("a statement has at most 500 characters", where="statement")
        with self.p.db.write() as s:
            election = self._nominating(s, election_id)
            self._require_member(s, viewer.account_id, viewer.username or "", election)
            self._add_candidacy(s, election, viewer.account_id, viewer.username or "", None, statement.strip())  # type: ignore[arg-type]
            audit(s, viewer, "stand", f"election {election_id}")

    def nominate(self, viewer: Viewer, election_id: int, username: str) -> None:
        """A member nominates another member; the nominee stands once they accept."""
        viewer.require()
        with self.p.db.read() as s:
            nominee = s.scalar(select(m.Account.id).where(m.Account.username == username.strip()))
        if nominee is None:
            raise NotFoundError(f"there is no account {username.strip()[:64]!r}", where="candidate")
        with self.p.db.write() as s:
            election = self._nominating(s, election_id)
            self._require_member(s, viewer.account_id, viewer.username or "", election)
            self._require_member(s, nominee, username.strip(), election, where="candidate")
            self._add_candidacy(s, election, nominee, username.strip(), viewer.account_id, "")
            audit(s, viewer, "nominate", f"election {election_id}: {username.strip()}")

    def accept(self, viewer: Viewer, election_id: int) -> None:
        viewer.require()
        with self.p.db.write() as s:
            self._nominating(s, election_id)
            row = s.scalar(
                select(e.Candidacy).where(
                    e.Candidacy.election_id == election_id, e.Candidacy.account_id == viewer.account_id
                )
            )
            if row is None:
                raise NotFoundError(
                    f"{viewer.username} was not nominated in this election", where=f"election {election_id}"
                )
            row.accepted = True
            audit(s, viewer, "accept-nomination", f"election {election_id}")

    def _require_member(
        self, s: Session, account_id: int | None, username: str, election: e.Election, where: str | None = None
    ) -> None:
        if not self.is_member(s, account_id, election.council_id):
            code = s.get(m.Council, election.council_id).code  # type: ignore[union-attr]
            raise ForbiddenError(
                f"{username} is not a member of council {code}", where=where or f"election {election.id}"
            )

    @staticmethod
    def _add_candidacy(
        s: Session, election: e.Election, account_id: int, username: str, by: int | None, statement: str
    ) -> None:
        exists = s.scalar(
            select(e.Candidacy.id).where(e.Candidacy.election_id == election.id, e.Candidacy.account_id == account_id)
        )
        if exists is not None:
            raise ConflictError(f"{username} is a candidate already", where=f"election {election.id}")
        s.add(
            e.Candidacy(
                election_id=election.id,
                account_id=account_id,
                nominated_by=by,
                accepted=by is None,
                statement=statement,
            )
        )
        try:
            s.flush()
        except IntegrityError:
            raise ConflictError(f"{username} is a candidate already", where=f"election {election.id}") from None

    # ---- voting ------------------------------------------------------------------------------------

    def start_voting(self, viewer: Viewer | None, election_id: int) -> dict[str, Any]:
        """Close nominations: the accepted candidates are frozen (in the order they stood) and the
        ballot box opens. With no candidate the election closes at once (the post stays open)."""
        if viewer is not None:
            viewer.require_board()
        with self.p.db.write() as s:
            election = self._election(s, election_id, lock=True)
            if election.status != "nominating":
                raise ConflictError("nominations to this election are closed", where=f"election {election_id}")
            names = list(
                s.scalars(
                    select(m.Account.username)
                    .join(e.Candidacy, e.Candidacy.account_id == m.Account.id)
                    .where(e.Candidacy.election_id == election_id, e.Candidacy.accepted.is_(True))
                    .order_by(e.Candidacy.id)
                )
            )
            election.candidates = names
            election.members = self.members(s, election.council_id)
            election.status = "voting"
            if election.voting_close < utcnow():
                election.voting_close = utcnow() + timedelta(hours=1)
            audit(s, viewer, "start-voting", f"election {election_id}: {len(names)} candidates")
            code = s.get(m.Council, election.council_id).code  # type: ignore[union-attr]
            notify(
                s,
                "elections",
                N_("Vote now: election of {post} for council {council}"),
                cycle_id=election.cycle_id,
                params={"post": election.post, "council": code},
                link=f"/elections/{election_id}",
                key=f"election-voting:{election_id}",
            )
        ElectionBox(self.p.vault, election_id).create()
        if not names:
            return self.close(None, election_id)
        return {"election": election_id, "candidates": names}

    def cast(self, viewer: Viewer, election_id: int, choice: list[Any]) -> dict[str, Any]:
        """A member's ballot, sealed until the close; returns the receipt code (shown once)."""
        viewer.require()
        box = ElectionBox(self.p.vault, election_id)
        rows = self.p.db.lookup(CAST_SQL, (int(viewer.account_id), box.name, election_id))  # type: ignore[arg-type]
        if not rows:
            raise NotFoundError(f"there is no election {election_id}", where="election")
        status, rule, candidates, code, member, key_sealed = rows[0]
        if status != "voting":
            raise ConflictError("this election is not open for voting", where=f"election {election_id}")
        if not member:
            raise ForbiddenError(
                f"{viewer.username} is not a member of council {code}", where=f"election {election_id}"
            )
        candidates = json.loads(candidates) if isinstance(candidates, str) else list(candidates or [])
        try:
            choice = check_choice(rule, candidates if rule != "majority" else ["yes", "no"], choice)
        except BallotError as exc:
            raise BadInputError(str(exc).replace("ballot 1 ", ""), where="ballot") from None
        sealed = box.seal(choice, key_sealed) if key_sealed is not None else None
        if sealed is None:
            raise ConflictError("this election is not open for voting", where=f"election {election_id}")
        code = new_token()
        try:
            with self.p.db.write() as s:
                self._ballot_lock(s, election_id, shared=True)  # a close waits for the ballots in flight
                if s.scalar(select(e.Election.status).where(e.Election.id == election_id)) != "voting":
                    raise ConflictError("this election is not open for voting", where=f"election {election_id}")
                s.add(e.ElectionVoter(election_id=election_id, account_id=viewer.account_id))
                s.add(
                    e.ElectionBox(
                        id=secrets.token_hex(16), election_id=election_id, receipt_hash=hash_token(code), sealed=sealed
                    )
                )
        except IntegrityError:
            raise ConflictError(
                f"{viewer.username} has voted already; one ballot per member", where=f"election {election_id}"
            ) from None
        return {"code": code, "status": "sealed", "election": election_id, "ballot": choice}

    def _ballot_lock(self, s: Session, election_id: int, *, shared: bool) -> None:
        """PostgreSQL: an advisory lock per election for the transaction, shared by the ballots being
        cast and taken alone by the close, so that no ballot is added to a box being counted. (A
        row lock shared by a hundred ballots at once would cost PostgreSQL a multixact each time; on
        SQLite one writer at a time already does this.)"""
        if self.p.settings.is_sqlite:
            return
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        key = f"glasnost-election:{self.p.settings.schema or ''}"
        s.execute(text(f"SELECT {fn}(hashtext(:key), :id)"), {"key": key, "id": election_id})

    # ---- the close ---------------------------------------------------------------------------------

    def close(self, viewer: Viewer | None, election_id: int) -> dict[str, Any]:
        """Open the box, shuffle, count, store ballots and receipts apart, install the winners (or
        apply a recall), and publish ballots and tally to the public log."""
        if viewer is not None:
            viewer.require_board()
        box = ElectionBox(self.p.vault, election_id)
        with self.p.db.write() as s:
            self._ballot_lock(s, election_id, shared=False)
            election = self._election(s, election_id, lock=True)
            if election.status != "voting":
                raise ConflictError("this election is not open for voting", where=f"election {election_id}")
            rows = s.execute(
                select(e.ElectionBox.sealed, e.ElectionBox.receipt_hash).where(e.ElectionBox.election_id == election_id)
            ).all()
            ballots = box.open([r.sealed for r in rows]) if rows else []
            secrets.SystemRandom().shuffle(ballots)
            candidates = list(election.candidates or [])
            tally = count(election.rule, candidates, election.seats, ballots)
            tally.update(turnout=len(ballots), members=election.members or 0, candidates=len(candidates))
            if ballots:
                s.execute(
                    e.ElectionBallot.__table__.insert(),
                    [
                        {"id": secrets.token_hex(16), "election_id": election_id, "position": i, "choice": b}
                        for i, b in enumerate(ballots)
                    ],
                )
                s.execute(
                    e.ElectionReceipt.__table__.insert(),
                    [{"receipt_hash": h, "election_id": election_id} for h in sorted(r.receipt_hash for r in rows)],
                )
            self.p.db.delete_for_good(
                s.connection(), delete(e.ElectionBox).where(e.ElectionBox.election_id == election_id)
            )
            election.status, election.closed_at = "closed", utcnow()
            if election.post == "recall":
                self.p.recalls.apply(s, election, tally)  # adds the by-election to the tally
            else:
                self._install(s, election, tally["elected"])
            election.tally = tally  # assigned whole, after the last change (a JSON column's changes in place go unseen)
            audit(s, viewer, "close-election", f"election {election_id}: {', '.join(tally['elected'])}")
            code = s.get(m.Council, election.council_id).code  # type: ignore[union-attr]
            notify(
                s,
                "results",
                N_("Result of the election of {post} for council {council}"),
                cycle_id=election.cycle_id,
                params={"post": election.post, "council": code},
                link=f"/elections/{election_id}",
                key=f"election-result:{election_id}",
            )
            published = [b for b in ballots]
            receipts = sorted(r.receipt_hash for r in rows)
        box.destroy()
        self.p.db.forget_deleted("election_box")
        self._publish(election_id, published, tally, receipts)
        return tally

    def _install(self, s: Session, election: e.Election, elected: list[str]) -> None:
        """Start the winners' terms with their grants; a regular election ends the post's earlier terms."""
        now = utcnow()
        if election.reason != "by-election":
            for term in s.scalars(
                select(e.Term).where(
                    e.Term.council_id == election.council_id, e.Term.post == election.post, e.Term.ended_at.is_(None)
                )
            ):
                self.end_term(s, term, "succeeded")
        ids = dict(s.execute(select(m.Account.username, m.Account.id).where(m.Account.username.in_(elected))).all())
        for name in elected:
            term = e.Term(
                election_id=election.id,
                cycle_id=election.cycle_id,
                council_id=election.council_id,
                post=election.post,
                account_id=ids[name],
                started_at=now,
                ends_at=now + timedelta(days=election.term_days),
            )
            s.add(term)
            self._give(s, term)
        s.flush()

    def _give(self, s: Session, term: e.Term) -> None:
        council = s.get(m.Council, term.council_id)
        assert council is not None
        if term.post == "delegates":
            self.p.cycles._join(s, term.account_id, term.cycle_id, term.council_id, "delegate")
        else:  # only an election gives this grant (the board's grant form does not offer the kind)
            target = manager_target(term.cycle_id, council.code)
            held = s.scalar(
                select(m.Grant.id).where(
                    m.Grant.account_id == term.account_id, m.Grant.kind == "manager", m.Grant.target == target
                )
            )
            if held is None:
                s.add(m.Grant(account_id=term.account_id, kind="manager", target=target))

    def end_term(self, s: Session, term: e.Term, reason: str) -> None:
        """End a term and delete its grant now (the next request of its holder is refused)."""
        council = s.get(m.Council, term.council_id)
        assert council is not None
        term.ended_at, term.end_reason = utcnow(), reason
        if term.post == "delegates":
            s.execute(
                delete(m.Membership).where(
                    m.Membership.account_id == term.account_id,
                    m.Membership.council_id == term.council_id,
                    m.Membership.role == "delegate",
                )
            )
        else:
            s.execute(
                delete(m.Grant).where(
                    m.Grant.account_id == term.account_id,
                    m.Grant.kind == "manager",
                    m.Grant.target == manager_target(term.cycle_id, council.code),
                )
            )
        audit(s, None, "end-term", f"term {term.id}: {reason}")
