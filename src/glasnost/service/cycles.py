"""Planning cycles and membership: creating a cycle, its councils (seats), invitations, delegates
and members.

The economy of a cycle and its councils never change once the cycle exists, so their in-memory
forms (the round engine, council ids) are kept per process: a speed-up that cannot change an answer.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glasnost.db.engine import utcnow
from glasnost.service import models as m
from glasnost.service.accounts import Viewer, audit
from glasnost.service.errors import BadInputError, ConflictError, ForbiddenError, NotFoundError
from glasnost.service.openbooks import Publication
from glasnost.service.planning import CycleEngine, economy_from_source, economy_from_zip, economy_to_zip
from glasnost.service.security import hash_token, new_token

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["Cycles"]

MAX_ID = 2**31 - 1
"""The largest row id the database stores (a larger one in a URL is simply not there)."""


class Cycles:
    """Cycles, their councils, invitations and seats."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self._engines: dict[int, CycleEngine] = {}
        self._councils: dict[int, dict[str, tuple[int, str]]] = {}
        self._lock = threading.Lock()

    # ---- the immutable parts of a cycle ------------------------------------------------------------

    def engine(self, cycle_id: int) -> CycleEngine:
        """The round engine of a cycle (built from its stored economy at the first use)."""
        eng = self._engines.get(cycle_id)
        if eng is None:
            with self.p.db.read() as s:
                row = self._row(s, cycle_id)
                blob, threshold = row.economy, row.threshold
            eng = CycleEngine(economy_from_zip(blob), threshold=threshold)
            with self._lock:
                self._engines.setdefault(cycle_id, eng)
        return self._engines[cycle_id]

    def council(self, cycle_id: int, code: str) -> tuple[int, str]:
        """(council row id, kind) of a council code in a cycle."""
        councils = self._councils.get(cycle_id)
        if councils is None:
            with self.p.db.engine.connect() as conn:
                rows = conn.execute(
                    select(m.Council.code, m.Council.id, m.Council.kind).where(m.Council.cycle_id == cycle_id)
                ).all()
            councils = {r.code: (r.id, r.kind) for r in rows}
            if councils:  # a cycle always has councils: none means no such cycle (yet)
                self._councils[cycle_id] = councils
        hit = councils.get(code)
        if hit is None:
            raise NotFoundError(f"cycle {cycle_id} has no council {code!r}", where="council")
        return hit

    def get(self, s: Session, cycle_id: int) -> m.Cycle:
        return self._row(s, cycle_id)

    @staticmethod
    def _row(s: Session, cycle_id: int) -> m.Cycle:
        cycle = s.get(m.Cycle, cycle_id) if 0 < cycle_id <= MAX_ID else None
        if cycle is None:
            raise NotFoundError(f"there is no cycle {cycle_id}")
        return cycle

    # ---- creating a cycle --------------------------------------------------------------------------

    def create(
        self,
        viewer: Viewer,
        name: str,
        source: str,
        *,
        upload: bytes | None = None,
        filename: str = "upload",
        threshold: float = 0.03,
        max_rounds: int = 200,
        deadline_seconds: float | None = None,
        demo: bool = False,
    ) -> int:
        """A new cycle from an economy, its councils as seats, and round 1 open at the initial prices."""
        viewer.require_board()
        name = (name or "").strip()
        if not 1 <= len(name) <= 200:
            raise BadInputError("give the cycle a name of 1 to 200 characters", where="name")
        if not 0 < threshold < 1:
            raise BadInputError(f"threshold {threshold} must be between 0 and 1 (0.03 = 3%)", where="threshold")
        if not 1 <= max_rounds <= 10_000:
            raise BadInputError(f"max_rounds {max_rounds} must be between 1 and 10000", where="max_rounds")
        if deadline_seconds is not None and not 1 <= deadline_seconds <= 366 * 86400:
            raise BadInputError(
                f"a round deadline of {deadline_seconds} s: choose between 1 s and a year", where="deadline_seconds"
            )
        he = economy_from_source(source, upload, filename)
        eng = CycleEngine(he, threshold=threshold)
        blob = economy_to_zip(he)
        with self.p.db.write() as s:
            cycle = m.Cycle(
                name=name,
                source=source if source != "upload" else f"upload:{filename}"[:200],
                economy=blob,
                threshold=threshold,
                max_rounds=max_rounds,
                demo=demo,
                created_by=viewer.account_id,
            )
            s.add(cycle)
            s.flush()
            rows = [
                {
                    "cycle_id": cycle.id,
                    "code": c,
                    "kind": "worker",
                    "position": i,
                    "label": f"makes {eng.worker_product[c]}",
                }
                for i, c in enumerate(eng.worker_ids)
            ] + [
                {
                    "cycle_id": cycle.id,
                    "code": c,
                    "kind": "consumer",
                    "position": i,
                    "label": f"income {eng.income[c]:.2f}",
                }
                for i, c in enumerate(eng.consumer_ids)
            ]
            s.execute(m.Council.__table__.insert(), rows)
            opened = utcnow()
            deadline = None if deadline_seconds is None else opened + timedelta(seconds=deadline_seconds)
            s.add(
                m.Round(
                    cycle_id=cycle.id,
                    number=1,
                    opened_at=opened,
                    prices=eng.initial_prices(cycle.initial_price),
                    state=eng.initial_state(),
                    deadline=deadline,
                )
            )
            audit(s, viewer, "create-cycle", f"cycle {cycle.id}: {name} from {cycle.source}")
            cycle_id = cycle.id
        with self._lock:
            self._engines[cycle_id] = eng
        self.p.books.publish(
            [
                Publication(
                    "cycle",
                    {
                        "id": cycle_id,
                        "name": name,
                        "source": source,
                        "economy_sha256": hashlib.sha256(blob).hexdigest(),
                        "threshold": threshold,
                        "commodities": [str(c) for c in eng.commodity_ids],
                        "worker_councils": len(eng.worker_ids),
                        "consumer_councils": len(eng.consumer_ids),
                    },
                )
            ]
        )
        if deadline is not None:
            self.p.jobs.round_deadline(cycle_id, 1, deadline)
        return cycle_id

    # ---- invitations and seats ---------------------------------------------------------------------

    def invite(self, viewer: Viewer, cycle_id: int | None, role: str, council: str | None = None) -> str:
        """An invitation token: ``delegate`` of a council or ``member`` of a cycle (votes), or
        ``workplace`` (``council`` names the workplace; no cycle): the grant to report for it."""
        viewer.require_board()
        if role not in ("delegate", "member", "workplace"):
            raise BadInputError(f"role {role!r}: choose 'delegate', 'member' or 'workplace'", where="role")
        council_id, target = None, None
        if role == "delegate":
            if not council:
                raise BadInputError("a delegate invitation names a council", where="council")
            council_id, _ = self.council(int(cycle_id or 0), council)
        if role == "member" and council:  # a member of a council: elects its delegates (and manager)
            council_id, _ = self.council(int(cycle_id or 0), council)
        if role == "workplace":
            target = (council or "").strip()
            if not 1 <= len(target) <= 200:
                raise BadInputError(
                    "a workplace invitation names the workplace (1 to 200 characters)", where="workplace"
                )
            cycle_id = None
        token = new_token()
        with self.p.db.write() as s:
            if cycle_id is not None:
                self._row(s, cycle_id)
            s.add(
                m.Invitation(
                    token_hash=hash_token(token),
                    cycle_id=cycle_id,
                    council_id=council_id,
                    role=role,
                    target=target,
                    created_by=viewer.account_id,
                )
            )
            audit(s, viewer, "invite", f"cycle {cycle_id}: {role} {council or ''}")
        return token

    def accept(self, token: str, username: str, password: str, viewer: Viewer) -> int:
        """Use an invitation: the logged-in account, or a new one, joins as delegate or member, or
        receives the workplace grant the invitation carries."""
        with self.p.db.read() as s:
            inv = s.scalar(select(m.Invitation).where(m.Invitation.token_hash == hash_token(token)))
        if inv is None:
            raise NotFoundError("this invitation link is not valid", where="invitation")
        if inv.used_by is not None:
            raise ConflictError("this invitation link has been used already", where="invitation")
        account_id = viewer.account_id if not viewer.anonymous else self.p.accounts.create(username, password)
        with self.p.db.write() as s:
            inv = s.get(m.Invitation, inv.id, with_for_update=True)
            if inv is None or inv.used_by is not None:
                raise ConflictError("this invitation link has been used already", where="invitation")
            inv.used_by, inv.used_at = account_id, utcnow()
            if inv.role == "workplace":
                self.p.accounts._grant(s, account_id, "workplace", inv.target or "", inv.created_by)
            else:
                self._join(s, account_id, int(inv.cycle_id or 0), inv.council_id, inv.role)
            audit(s, account_id, "accept-invitation", f"cycle {inv.cycle_id}: {inv.role} {inv.target or ''}")
        return int(account_id)  # type: ignore[arg-type]

    def _join(self, s: Session, account_id: int, cycle_id: int, council_id: int | None, role: str) -> None:
        exists = s.scalar(
            select(m.Membership.id).where(
                m.Membership.account_id == account_id,
                m.Membership.cycle_id == cycle_id,
                m.Membership.council_id.is_(None) if council_id is None else m.Membership.council_id == council_id,
                m.Membership.role == role,
            )
        )
        if exists is None:
            s.add(m.Membership(account_id=account_id, cycle_id=cycle_id, council_id=council_id, role=role))
        if council_id is not None:  # a delegate or a council's member is also a member of the cycle (one vote)
            self._join(s, account_id, cycle_id, None, "member")

    def take_seat(self, viewer: Viewer, cycle_id: int, code: str) -> None:
        """Demo cycles: a visitor with an account takes a council's seat nobody holds."""
        viewer.require()
        council_id, _ = self.council(cycle_id, code)
        try:
            with self.p.db.write() as s:
                if not self._row(s, cycle_id).demo:
                    raise ForbiddenError(
                        "seats are taken by invitation in this cycle; ask the board", where=f"council {code}"
                    )
                s.get(m.Council, council_id, with_for_update=True)  # two visitors taking one seat: one waits
                held = s.scalar(
                    select(m.Membership.id).where(
                        m.Membership.council_id == council_id, m.Membership.role == "delegate"
                    )
                )
                if held is not None:
                    raise ConflictError("this seat is taken", where=f"council {code}")
                self._join(s, viewer.account_id, cycle_id, council_id, "delegate")  # type: ignore[arg-type]
                audit(s, viewer, "take-seat", f"cycle {cycle_id}: {code}")
        except IntegrityError:
            raise ConflictError("this seat is taken", where=f"council {code}") from None

    def is_demo(self, cycle_id: int) -> bool:
        with self.p.db.read() as s:
            return bool(self._row(s, cycle_id).demo)

    def delegates(self, s: Session, council_id: int) -> list[str]:
        return list(
            s.scalars(
                select(m.Account.username)
                .join(m.Membership, m.Membership.account_id == m.Account.id)
                .where(m.Membership.council_id == council_id, m.Membership.role == "delegate")
            )
        )

    def seats(self, viewer: Viewer, cycle_id: int) -> list[str]:
        """Council codes the viewer is a delegate of in a cycle."""
        if viewer.anonymous:
            return []
        with self.p.db.read() as s:
            return list(
                s.scalars(
                    select(m.Council.code)
                    .join(m.Membership, m.Membership.council_id == m.Council.id)
                    .where(
                        m.Membership.account_id == viewer.account_id,
                        m.Membership.cycle_id == cycle_id,
                        m.Membership.role == "delegate",
                    )
                    .order_by(m.Council.id)
                )
            )

    def is_member(self, s: Session, viewer: Viewer, cycle_id: int) -> bool:
        return (
            s.scalar(
                select(m.Membership.id).where(
                    m.Membership.account_id == viewer.account_id,
                    m.Membership.cycle_id == cycle_id,
                    m.Membership.role == "member",
                )
            )
            is not None
        )

    def councils(self, cycle_id: int) -> list[dict[str, Any]]:
        with self.p.db.read() as s:
            self._row(s, cycle_id)
            held = dict(
                s.execute(
                    select(m.Membership.council_id, func.count(m.Membership.id))
                    .where(m.Membership.cycle_id == cycle_id, m.Membership.role == "delegate")
                    .group_by(m.Membership.council_id)
                ).all()
            )
            return [
                {"code": c.code, "kind": c.kind, "label": c.label, "delegates": int(held.get(c.id, 0))}
                for c in s.scalars(select(m.Council).where(m.Council.cycle_id == cycle_id).order_by(m.Council.id))
            ]
