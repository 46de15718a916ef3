"""What the platform does, independent of pages and JSON: every action checks who may do it,
changes the database in one transaction, records who did it and when, and publishes to the log.

Routes call these functions and present their results; tests may call them directly.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glasnost.ledger import canonical_json
from glasnost.procedures.voting import approval, break_ties, schulze
from glasnost.service import models as m
from glasnost.service.db import Database, utcnow
from glasnost.service.errors import (
    BadInputError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
)
from glasnost.service.intake import Intake, IntakeItem
from glasnost.service.openbooks import OpenBooks, Publication
from glasnost.service.planning import CycleEngine, economy_from_source, economy_from_zip, economy_to_zip
from glasnost.service.security import (
    RateLimiter,
    check_password,
    hash_password,
    hash_token,
    new_token,
    password_hasher,
)
from glasnost.service.settings import Settings

__all__ = ["Platform", "Viewer"]

_DELEGATE_SQL = "SELECT id FROM memberships WHERE account_id = ? AND council_id = ? AND role = 'delegate' LIMIT 1"
_VIEWER_SEATS_SQL = (
    "SELECT accounts.id, accounts.username, accounts.is_board, session_tokens.expires_at, memberships.council_id "
    "FROM session_tokens JOIN accounts ON accounts.id = session_tokens.account_id "
    "LEFT JOIN memberships ON memberships.account_id = accounts.id AND memberships.role = 'delegate' "
    "WHERE session_tokens.token_hash = ?"
)


def _as_datetime(value: Any) -> datetime:
    """A DBAPI's timestamp: a datetime (PostgreSQL) or SQLAlchemy's SQLite text ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))

SESSION_DAYS = 14
VIEWER_TTL = 10.0
"""Seconds a token's account is cached in memory (a deleted session is dropped at once by logout)."""


@dataclass(frozen=True)
class Viewer:
    """Who is asking: an account (or nobody) and how they authenticated (``cookie``/``bearer``/None)."""

    account_id: int | None = None
    username: str | None = None
    is_board: bool = False
    via: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.account_id is None

    def require(self) -> Viewer:
        if self.anonymous:
            raise UnauthorizedError("log in first")
        return self

    def require_board(self) -> Viewer:
        self.require()
        if not self.is_board:
            raise ForbiddenError("only the facilitation board may do this")
        return self


def _proposal_payload(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "round_id": row.round_id,
        "council_id": row.council_id,
        "supply": row.supply,
        "demand": row.demand,
        "source": row.source,
        "at": row.created_at.isoformat(timespec="seconds") + "Z",
    }


class Platform:
    """One running platform: database, public log, engines of the cycles and rate limits."""

    def __init__(self, settings: Settings) -> None:
        from glasnost.service.db import migrate

        self.settings = settings
        self.db = Database(settings)
        migrate(self.db)
        self.books = OpenBooks(self.db, settings.ledger_source(), settings.signing_key_path(), schema=settings.schema)
        self.login_limit = RateLimiter(*settings.login_rate)
        self.submit_limit = RateLimiter(*settings.submit_rate)
        self.hasher = password_hasher(settings.password_cost)
        self._engines: dict[int, CycleEngine] = {}
        self._councils: dict[tuple[int, str], tuple[int, str]] = {}
        self._council_cycles: set[int] = set()
        self._close_lock = threading.Lock()
        self._delegate_cache: set[tuple[int, int]] = set()
        self._open_rounds: dict[int, tuple[int, int, dict[str, float], Any] | None] = {}
        self._viewers: dict[str, tuple[Viewer, float]] = {}
        self.recovered = self.recover()
        self.intake = Intake(self)
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the engines and councils of cycles whose rounds are running, so that the first
        proposals of a round do not wait for an economy to be read."""
        with self.db.read() as s:
            running = list(s.scalars(select(m.Cycle.id).where(m.Cycle.status == "rounds")))
        for cycle_id in running[-4:]:
            self.engine(cycle_id)
            with contextlib.suppress(NotFoundError):
                self.council(cycle_id, "")

    def close(self) -> None:
        self.intake.close()
        self.books.close()
        self.db.dispose()

    # ---- recovery --------------------------------------------------------------------------------

    def recover(self) -> int:
        """Publish what a crash left unpublished (see :mod:`glasnost.service.openbooks`)."""
        return self.books.recover(
            [
                (m.Proposal.__table__, "proposal", _proposal_payload),
                (m.Round.__table__, "round-result", lambda r: {"id": r.id, **(r.result or {})}),
                (m.PlanVariant.__table__, "plan-variant", lambda r: {"id": r.id, **r.data}),
                (m.Ballot.__table__, "vote-receipt", lambda r: self._ballot_payload(r)),
            ]
        )

    # ---- accounts and sessions ---------------------------------------------------------------------

    def audit(self, s: Session, viewer: Viewer | int | None, action: str, target: str = "") -> None:
        account = viewer if isinstance(viewer, int) or viewer is None else viewer.account_id
        s.add(m.AuditEvent(account_id=account, action=action, target=target[:200]))

    def create_account(self, username: str, password: str, *, board: bool = False) -> int:
        username = username.strip()
        if not (1 <= len(username) <= 64) or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise BadInputError("a user name is 1 to 64 letters, digits, '-', '_' or '.'", where="username")
        if len(password) < 8:
            raise BadInputError("a password has at least 8 characters", where="password")
        with self.db.write() as s:
            if s.scalar(select(m.Account.id).where(m.Account.username == username)) is not None:
                raise ConflictError(f"the user name {username!r} is taken", where="username")
            acc = m.Account(username=username, password_hash=hash_password(password, self.hasher), is_board=board)
            s.add(acc)
            s.flush()
            self.audit(s, acc.id, "create-account", f"{username}{' (board)' if board else ''}")
            return acc.id

    def login(self, username: str, password: str, *, address: str, kind: str = "cookie") -> str:
        """Check the password; a new session token (cookie or bearer). Failed attempts are limited per
        address and name (``Settings.login_rate``)."""
        key = f"{address}|{username}"
        wait = self.login_limit.wait(key)
        if wait is not None:
            raise RateLimitedError(f"too many failed login attempts; try again in {wait:.0f} s", where="login")
        with self.db.read() as s:
            acc = s.scalar(select(m.Account).where(m.Account.username == username))
        if acc is None or not check_password(acc.password_hash, password, self.hasher):
            self.login_limit.hit(key)
            with self.db.write() as s:
                self.audit(s, None, "login-failed", username)
            raise UnauthorizedError("wrong user name or password", where="login")
        with self.db.write() as s:
            return self._new_session(s, acc.id, kind)

    def _new_session(self, s: Session, account_id: int, kind: str) -> str:
        token = new_token()
        s.add(
            m.SessionToken(
                token_hash=hash_token(token),
                account_id=account_id,
                kind=kind,
                expires_at=utcnow() + timedelta(days=SESSION_DAYS),
            )
        )
        self.audit(s, account_id, "login", kind)
        return token

    def logout(self, token: str) -> None:
        self._viewers.pop(hash_token(token), None)
        with self.db.write() as s:
            row = s.scalar(select(m.SessionToken).where(m.SessionToken.token_hash == hash_token(token)))
            if row is not None:
                self.audit(s, row.account_id, "logout")
                s.delete(row)

    def viewer(self, token: str | None, via: str) -> Viewer:
        """The account behind a session or API token (cached for a few seconds; logging out drops it)."""
        if not token:
            return Viewer()
        key = hash_token(token)
        hit = self._viewers.get(key)
        if hit is not None and hit[1] > time.monotonic() and hit[0].via == via:
            return hit[0]
        viewer = self._lookup_viewer(token, via)
        if not viewer.anonymous:
            if len(self._viewers) > 100_000:
                self._viewers.clear()
            self._viewers[key] = (viewer, time.monotonic() + VIEWER_TTL)
        return viewer

    def _lookup_viewer(self, token: str, via: str) -> Viewer:
        # the hot path of every request: one plain query (no ORM, no SQLAlchemy statement) that also
        # brings the account's delegate seats, so the seat check of a submission needs no second one
        rows = self.db.lookup(_VIEWER_SEATS_SQL, (hash_token(token),))
        if not rows:
            return Viewer()
        account_id, username, is_board, expires_at = rows[0][:4]
        if _as_datetime(expires_at) < utcnow():
            return Viewer()
        self._delegate_cache.update((int(account_id), int(r[4])) for r in rows if r[4] is not None)
        return Viewer(int(account_id), username, bool(is_board), via)

    # ---- cycles ------------------------------------------------------------------------------------

    def engine(self, cycle_id: int) -> CycleEngine:
        eng = self._engines.get(cycle_id)
        if eng is None:
            with self.db.read() as s:
                cycle = s.get(m.Cycle, cycle_id)
                if cycle is None:
                    raise NotFoundError(f"there is no cycle {cycle_id}")
                eng = CycleEngine(economy_from_zip(cycle.economy), threshold=cycle.threshold)
            self._engines[cycle_id] = eng
        return eng

    def create_cycle(
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
        he = economy_from_source(source, upload, filename)
        eng = CycleEngine(he, threshold=threshold)
        blob = economy_to_zip(he)
        with self.db.write() as s:
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
            deadline = None if deadline_seconds is None else utcnow() + timedelta(seconds=deadline_seconds)
            s.add(
                m.Round(
                    cycle_id=cycle.id,
                    number=1,
                    prices=eng.initial_prices(cycle.initial_price),
                    state=eng.initial_state(),
                    deadline=deadline,
                )
            )
            self.audit(s, viewer, "create-cycle", f"cycle {cycle.id}: {name} from {cycle.source}")
            cycle_id = cycle.id
        self._engines[cycle_id] = eng
        self.books.publish(
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
        return cycle_id

    def cycle(self, s: Session, cycle_id: int) -> m.Cycle:
        cycle = s.get(m.Cycle, cycle_id)
        if cycle is None:
            raise NotFoundError(f"there is no cycle {cycle_id}")
        return cycle

    def council(self, cycle_id: int, code: str) -> tuple[int, str]:
        """(council row id, kind) of a council code in a cycle (every council of the cycle is read
        into memory at the first miss; councils never change)."""
        key = (cycle_id, code)
        hit = self._councils.get(key)
        if hit is None:
            if cycle_id not in self._council_cycles:
                with self.db.engine.connect() as conn:
                    rows = conn.execute(
                        select(m.Council.code, m.Council.id, m.Council.kind).where(m.Council.cycle_id == cycle_id)
                    ).all()
                self._councils.update({(cycle_id, r.code): (r.id, r.kind) for r in rows})
                self._council_cycles.add(cycle_id)
            hit = self._councils.get(key)
            if hit is None:
                raise NotFoundError(f"cycle {cycle_id} has no council {code!r}", where="council")
        return hit

    def open_round(self, s: Session, cycle_id: int) -> m.Round | None:
        return s.scalar(select(m.Round).where(m.Round.cycle_id == cycle_id, m.Round.status == "open"))

    # ---- invitations and seats ---------------------------------------------------------------------

    def invite(self, viewer: Viewer, cycle_id: int, role: str, council: str | None = None) -> str:
        """An invitation token: ``delegate`` of a council, or ``member`` (votes)."""
        viewer.require_board()
        if role not in ("delegate", "member"):
            raise BadInputError(f"role {role!r}: choose 'delegate' or 'member'", where="role")
        council_id = None
        if role == "delegate":
            if not council:
                raise BadInputError("a delegate invitation names a council", where="council")
            council_id, _ = self.council(cycle_id, council)
        token = new_token()
        with self.db.write() as s:
            self.cycle(s, cycle_id)
            s.add(
                m.Invitation(
                    token_hash=hash_token(token),
                    cycle_id=cycle_id,
                    council_id=council_id,
                    role=role,
                    created_by=viewer.account_id,
                )
            )
            self.audit(s, viewer, "invite", f"cycle {cycle_id}: {role} {council or ''}")
        return token

    def accept(self, token: str, username: str, password: str, viewer: Viewer) -> int:
        """Use an invitation: the logged-in account, or a new one, joins as delegate or member."""
        with self.db.read() as s:
            inv = s.scalar(select(m.Invitation).where(m.Invitation.token_hash == hash_token(token)))
        if inv is None:
            raise NotFoundError("this invitation link is not valid", where="invitation")
        if inv.used_by is not None:
            raise ConflictError("this invitation link has been used already", where="invitation")
        account_id = viewer.account_id if not viewer.anonymous else self.create_account(username, password)
        with self.db.write() as s:
            inv = s.get(m.Invitation, inv.id)
            if inv is None or inv.used_by is not None:
                raise ConflictError("this invitation link has been used already", where="invitation")
            inv.used_by, inv.used_at = account_id, utcnow()
            self._join(s, account_id, inv.cycle_id, inv.council_id, inv.role)
            self.audit(s, account_id, "accept-invitation", f"cycle {inv.cycle_id}: {inv.role}")
        return account_id

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
        if role == "delegate":  # a delegate is also a member of the cycle (one vote)
            self._join(s, account_id, cycle_id, None, "member")

    def take_seat(self, viewer: Viewer, cycle_id: int, code: str) -> None:
        """Demo cycles: a visitor with an account takes a council's seat nobody holds."""
        viewer.require()
        council_id, _ = self.council(cycle_id, code)
        with self.db.write() as s:
            cycle = self.cycle(s, cycle_id)
            if not cycle.demo:
                raise ForbiddenError(
                    "seats are taken by invitation in this cycle; ask the board", where=f"council {code}"
                )
            held = s.scalar(
                select(m.Membership.id).where(m.Membership.council_id == council_id, m.Membership.role == "delegate")
            )
            if held is not None:
                raise ConflictError("this seat is taken", where=f"council {code}")
            self._join(s, viewer.account_id, cycle_id, council_id, "delegate")  # type: ignore[arg-type]
            self.audit(s, viewer, "take-seat", f"cycle {cycle_id}: {code}")

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
        with self.db.read() as s:
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

    # ---- proposals ---------------------------------------------------------------------------------

    def submit(
        self,
        viewer: Viewer,
        cycle_id: int,
        council: str,
        supply: Any,
        demand: Any,
        *,
        round_number: int | None = None,
        source: str = "api",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Store a council's proposal for the open round and publish it; returns it with its receipt.

        See :meth:`prepare_submit` for the checks; a repeated key's answer waits for its receipt
        (:meth:`Intake.with_receipt`)."""
        item = self.prepare_submit(
            viewer,
            cycle_id,
            council,
            supply,
            demand,
            round_number=round_number,
            source=source,
            idempotency_key=idempotency_key,
        )
        return self.intake.with_receipt(item) if isinstance(item, dict) else self.intake.submit(item)

    def prepare_submit(
        self,
        viewer: Viewer,
        cycle_id: int,
        council: str,
        supply: Any,
        demand: Any,
        *,
        round_number: int | None = None,
        source: str = "api",
        idempotency_key: str | None = None,
    ) -> IntakeItem | dict[str, Any]:
        """Check a proposal; the item to hand to :attr:`intake`, or the stored answer of a repeated key.

        Only the council's delegates may submit. A proposal for a round that is not open is refused
        with the number of the open round. The same ``idempotency_key`` from the same council
        returns the stored proposal and adds nothing. The answer comes once the proposal is committed
        to the database and appended to the public log (both group-committed with whatever other
        proposals arrived meanwhile: see :class:`Intake`)."""
        viewer.require()
        council_id, kind = self.council(cycle_id, council)
        if idempotency_key is not None and not (1 <= len(idempotency_key) <= 100):
            raise BadInputError("an idempotency key has 1 to 100 characters", where="Idempotency-Key")
        if idempotency_key is not None:
            repeated = self._keyed(council_id, idempotency_key)
            if repeated is not None:
                return repeated
        if not self._is_delegate(viewer, council_id):
            raise ForbiddenError(
                f"{viewer.username} is not a delegate of council {council}", where=f"council {council}"
            )
        rnd = self._current_round(cycle_id)
        if rnd is None:
            raise ConflictError("no round is open in this cycle (the rounds have ended)", where=f"cycle {cycle_id}")
        round_id, number, prices, deadline = rnd
        if round_number is not None and round_number != number:
            state = "closed" if round_number < number else "not open yet"
            raise ConflictError(f"round {round_number} is {state}; round {number} is open", where=f"council {council}")
        if deadline is not None and utcnow() >= deadline:
            raise ConflictError(f"round {number} is past its deadline and closing", where=f"council {council}")
        wait = self.submit_limit.hit(f"{cycle_id}|{council}")
        if wait is not None:
            raise RateLimitedError(f"too many submissions; try again in {wait:.0f} s", where=f"council {council}")
        clean_s, clean_d = self.engine(cycle_id).check(council, kind, supply, demand, prices)
        item = IntakeItem(
            round_id=round_id,
            round_number=number,
            cycle_id=cycle_id,
            council_id=council_id,
            council=council,
            author_id=int(viewer.account_id),  # type: ignore[arg-type]
            supply=clean_s,
            demand=clean_d,
            source=source,
            key=idempotency_key,
        )
        return item

    def _keyed(self, council_id: int, key: str) -> dict[str, Any] | None:
        with self.db.read() as s:
            old = s.scalar(
                select(m.Proposal).where(m.Proposal.council_id == council_id, m.Proposal.idempotency_key == key)
            )
            return None if old is None else self._proposal_view(s, old, repeated=True)

    def _is_delegate(self, viewer: Viewer, council_id: int) -> bool:
        """Whether the viewer is a delegate of the council (positive answers cached: seats are never revoked)."""
        key = (int(viewer.account_id), council_id)  # type: ignore[arg-type]
        if key in self._delegate_cache:
            return True
        ok = bool(self.db.lookup(_DELEGATE_SQL, (int(viewer.account_id), council_id)))  # type: ignore[arg-type]
        if ok:
            self._delegate_cache.add(key)
        return ok

    def _current_round(self, cycle_id: int) -> tuple[int, int, dict[str, float], Any] | None:
        """(id, number, prices, deadline) of the open round, cached until a round of the cycle closes."""
        if cycle_id in self._open_rounds:
            return self._open_rounds[cycle_id]
        with self.db.read() as s:
            self.cycle(s, cycle_id)
            rnd = self.open_round(s, cycle_id)
            value = None if rnd is None else (rnd.id, rnd.number, rnd.prices, rnd.deadline)
        self._open_rounds[cycle_id] = value
        return value

    def _proposal_view(self, s: Session, row: m.Proposal, *, repeated: bool = False) -> dict[str, Any]:
        rnd = s.get(m.Round, row.round_id)
        council = s.get(m.Council, row.council_id)
        out = _proposal_payload(row)
        out.update(council=council.code if council else None, round=rnd.number if rnd else None, repeated=repeated)
        out["cycle"] = rnd.cycle_id if rnd else None
        out["receipt"] = (
            None
            if row.ledger_index is None
            else {"index": row.ledger_index, "kind": "proposal", "leaf_hash": row.leaf_hash}
        )
        return out

    def proposal(self, cycle_id: int, proposal_id: int) -> dict[str, Any]:
        """One stored proposal with its log receipt."""
        with self.db.read() as s:
            row = s.get(m.Proposal, proposal_id)
            view = None if row is None else self._proposal_view(s, row)
        if view is None or view["cycle"] != cycle_id:
            raise NotFoundError(f"cycle {cycle_id} has no proposal {proposal_id}")
        return view

    def parse_csv(self, text: str, council: str) -> tuple[dict[str, str], dict[str, str]]:
        """A proposal from CSV: header ``commodity,supply,demand``, one row per commodity."""
        reader = csv.DictReader(io.StringIO(text))
        need = {"commodity", "supply", "demand"}
        if reader.fieldnames is None or not need <= {f.strip() for f in reader.fieldnames}:
            raise BadInputError(
                f"the header must be commodity,supply,demand (got {reader.fieldnames})", where="CSV line 1"
            )
        supply: dict[str, str] = {}
        demand: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            cid = row["commodity"]
            if not cid:
                raise BadInputError("no commodity id", where=f"CSV line {line}")
            if cid in supply or cid in demand:
                raise BadInputError(f"commodity {cid!r} appears twice", where=f"CSV line {line}")
            for what, target in (("supply", supply), ("demand", demand)):
                value = row[what]
                if value:
                    try:
                        float(value)
                    except ValueError:
                        raise BadInputError(f"{what} {value!r} is not a number", where=f"CSV line {line}") from None
                    target[cid] = value
        return supply, demand

    def proposals_of_round(self, s: Session, round_id: int) -> dict[int, m.Proposal]:
        """The latest proposal of every council that answered in a round (council row id -> proposal)."""
        latest = (
            select(func.max(m.Proposal.id))
            .where(m.Proposal.round_id == round_id)
            .group_by(m.Proposal.council_id)
            .scalar_subquery()
        )
        rows = s.scalars(select(m.Proposal).where(m.Proposal.id.in_(latest)))
        return {p.council_id: p for p in rows}

    def _latest_proposals(self, s: Session, round_id: int) -> list[Any]:
        """(council id, supply, demand, log index) of the latest proposal of every council in a round,
        read as plain rows (closing a round of many councils must not build ORM objects)."""
        p = m.Proposal.__table__
        latest = select(func.max(p.c.id)).where(p.c.round_id == round_id).group_by(p.c.council_id).scalar_subquery()
        return list(
            s.connection().execute(
                select(p.c.council_id, p.c.supply, p.c.demand, p.c.ledger_index).where(p.c.id.in_(latest))
            )
        )

    # ---- closing rounds ----------------------------------------------------------------------------

    def close_due(self, cycle_id: int | None = None) -> int:
        """Close every open round whose deadline has passed (by the board's clock). Returns how many."""
        with self.db.read() as s:
            q = select(m.Round.cycle_id).where(m.Round.status == "open", m.Round.deadline.is_not(None))
            q = q.where(m.Round.deadline <= utcnow())
            if cycle_id is not None:
                q = q.where(m.Round.cycle_id == cycle_id)
            due = list(s.scalars(q))
        for cid in due:
            with contextlib.suppress(ConflictError):  # closed meanwhile by the board
                self.close_round(None, cid, reason="deadline")
        return len(due)

    def close_round(self, viewer: Viewer | None, cycle_id: int, *, reason: str = "board") -> dict[str, Any]:
        """Close the open round: stored proposals plus modelled ones for councils that did not answer,
        one step of the engine, the next round open at the new prices unless converged."""
        if viewer is not None:
            viewer.require_board()
        eng = self.engine(cycle_id)
        with self._close_lock:
            self.books.sync()  # the proposals' log receipts are on their rows
            with self.db.read() as s:
                cycle = self.cycle(s, cycle_id)
                rnd = self.open_round(s, cycle_id)
                if rnd is None:
                    raise ConflictError("no round is open in this cycle", where=f"cycle {cycle_id}")
                councils = {
                    r.id: (r.code, r.kind)
                    for r in s.execute(
                        select(m.Council.id, m.Council.code, m.Council.kind).where(m.Council.cycle_id == cycle_id)
                    )
                }
                latest = self._latest_proposals(s, rnd.id)
                submitted = {councils[cid][0]: (councils[cid][1], sup, dem) for cid, sup, dem, _ in latest}
                proposal_receipts = {councils[cid][0]: idx for cid, _, _, idx in latest}
                threshold, max_rounds, number, round_id = cycle.threshold, cycle.max_rounds, rnd.number, rnd.id
                deadline_gap = None if rnd.deadline is None else (rnd.deadline - rnd.opened_at)
            out = eng.close(rnd.prices, rnd.state, submitted)
            result = {
                "cycle": cycle_id,
                "round": number,
                "prices": rnd.prices,
                "supply": out.supply,
                "demand": out.demand,
                "imbalance": out.imbalance,
                "next_prices": out.next_prices,
                "max_imbalance": out.max_imbalance,
                "threshold": threshold,
                "converged": out.converged,
                "answered": sorted(out.answered),
                "proposal_entries": {k: v for k, v in sorted(proposal_receipts.items())},
                "modelled": out.modelled,
                "consumer_demand": out.consumer_demand,
                "closed_by": reason if viewer is None else viewer.username,
            }
            with self.db.write() as s:
                rnd = s.get(m.Round, round_id)
                if rnd is None or rnd.status != "open":
                    raise ConflictError(f"round {number} was closed meanwhile", where=f"cycle {cycle_id}")
                self._open_rounds.pop(cycle_id, None)
                rnd.status, rnd.closed_at = "closed", utcnow()
                rnd.closed_by = None if viewer is None else viewer.account_id
                rnd.result, rnd.max_imbalance = result, out.max_imbalance
                cycle = self.cycle(s, cycle_id)
                if out.converged:
                    cycle.status = "converged"
                elif number >= max_rounds:
                    cycle.status = "stopped"
                else:
                    s.add(
                        m.Round(
                            cycle_id=cycle_id,
                            number=number + 1,
                            prices=out.next_prices,
                            state=out.next_state,
                            deadline=None if deadline_gap is None else utcnow() + deadline_gap,
                        )
                    )
                self.audit(s, viewer, "close-round", f"cycle {cycle_id} round {number} ({reason})")
            self._open_rounds.pop(cycle_id, None)
            self.books.publish([Publication("round-result", {"id": round_id, **result}, m.Round.__table__, round_id)])
        return result

    def run_rounds(self, viewer: Viewer, cycle_id: int, limit: int = 200) -> dict[str, Any]:
        """Close rounds one after another (councils that do not answer get modelled proposals) until
        the procedure converges, the round cap or ``limit`` rounds."""
        viewer.require_board()
        if not 1 <= limit <= 10_000:
            raise BadInputError(f"limit {limit} must be between 1 and 10000", where="limit")
        last: dict[str, Any] = {}
        for _ in range(limit):
            last = self.close_round(viewer, cycle_id, reason="run")
            with self.db.read() as s:
                if self.open_round(s, cycle_id) is None:
                    break
        return last

    # ---- plan variants and the vote ----------------------------------------------------------------

    def publish_variants(self, viewer: Viewer, cycle_id: int) -> list[dict[str, Any]]:
        """After convergence: plan variants from the calculator, published to the log."""
        from glasnost.compute.variants import plan_variants

        viewer.require_board()
        eng = self.engine(cycle_id)
        with self.db.read() as s:
            cycle = self.cycle(s, cycle_id)
            if cycle.status != "converged":
                raise ConflictError(
                    f"the cycle is {cycle.status!r}; variants come after convergence", where=f"cycle {cycle_id}"
                )
            if s.scalar(select(func.count(m.PlanVariant.id)).where(m.PlanVariant.cycle_id == cycle_id)):
                raise ConflictError("the variants are published already", where=f"cycle {cycle_id}")
            last = s.scalar(
                select(m.Round).where(m.Round.cycle_id == cycle_id).order_by(m.Round.number.desc()).limit(1)
            )
            demand = last.result["consumer_demand"]
        import numpy as np

        variants = plan_variants(eng.he.economy, np.asarray(demand), supply=eng.he.fixed_supply)
        out = []
        with self.db.write() as s:
            for v in variants:
                data = v.to_json()
                row = m.PlanVariant(
                    cycle_id=cycle_id, key=v.spec.key, title=v.spec.title, description=v.spec.description, data=data
                )
                s.add(row)
                s.flush()
                out.append((row.id, {"id": row.id, "cycle": cycle_id, "description": v.spec.description, **data}))
            self.audit(s, viewer, "publish-variants", f"cycle {cycle_id}: {len(out)}")
        self.books.publish([Publication("plan-variant", p, m.PlanVariant.__table__, rid) for rid, p in out])
        return [p for _, p in out]

    def variants(self, s: Session, cycle_id: int) -> list[m.PlanVariant]:
        return list(
            s.scalars(select(m.PlanVariant).where(m.PlanVariant.cycle_id == cycle_id).order_by(m.PlanVariant.id))
        )

    def open_vote(self, viewer: Viewer, cycle_id: int) -> dict[str, Any]:
        """Freeze the rules and the variants (their hash goes to the log) and open the vote."""
        viewer.require_board()
        with self.db.write() as s:
            cycle = self.cycle(s, cycle_id)
            variants = self.variants(s, cycle_id)
            if not variants:
                raise ConflictError("publish the plan variants first", where=f"cycle {cycle_id}")
            if s.scalar(select(m.Vote.id).where(m.Vote.cycle_id == cycle_id)) is not None:
                raise ConflictError("the vote has been opened already", where=f"cycle {cycle_id}")
            rules = {
                "candidates": [v.key for v in variants],
                "variant_entries": {v.key: v.ledger_index for v in variants},
                "methods": ["schulze", "approval"],
                "decides": "schulze",
                "ties": "most approvals, then the order of the candidates",
                "voters": "members of the cycle, one ballot each",
                "ballot": "approve any number of variants; rank them best first (ties allowed)",
            }
            frozen = hashlib.sha256(
                canonical_json({"rules": rules, "variants": [v.data for v in variants]})
            ).hexdigest()
            vote = m.Vote(cycle_id=cycle_id, rules=rules, frozen_hash=frozen)
            s.add(vote)
            cycle.status = "voting"
            s.flush()
            vote_id = vote.id
            self.audit(s, viewer, "open-vote", f"cycle {cycle_id}")
        self.books.publish(
            [
                Publication(
                    "vote-opened",
                    {"id": vote_id, "cycle": cycle_id, "rules": rules, "frozen_sha256": frozen},
                    m.Vote.__table__,
                    vote_id,
                )
            ]
        )
        return {"vote": vote_id, "rules": rules, "frozen_sha256": frozen}

    def _ballot_payload(self, row: Any) -> dict[str, Any]:
        return {
            "id": row.id,
            "vote": row.vote_id,
            "receipt_sha256": row.receipt_hash,
            "approval": row.approval,
            "ranking": row.ranking,
        }

    def cast(self, viewer: Viewer, cycle_id: int, approve: list[str], ranking: list[list[str]]) -> dict[str, Any]:
        """One member's ballot. Returns the receipt: a secret code (only its hash is stored and
        published) and the ballot's log entry. A second ballot from the same member is refused."""
        viewer.require()
        with self.db.read() as s:
            vote = s.scalar(select(m.Vote).where(m.Vote.cycle_id == cycle_id))
            if vote is None or vote.status != "open":
                raise ConflictError("no vote is open in this cycle", where=f"cycle {cycle_id}")
            if not self.is_member(s, viewer, cycle_id):
                raise ForbiddenError(f"{viewer.username} is not a member of cycle {cycle_id}", where="vote")
            candidates = vote.rules["candidates"]
            vote_id = vote.id
        if not isinstance(approve, list) or not isinstance(ranking, list):
            raise BadInputError("approval is a list of variants and ranking a list of groups", where="ballot")
        ranking = [[g] if isinstance(g, str) else list(g) for g in ranking]
        try:  # check the ballot with the counting code itself
            approval(candidates, [approve])
            schulze(candidates, [ranking])
        except Exception as exc:  # BallotError
            raise BadInputError(str(exc).replace("ballot 1 ", ""), where="ballot") from None
        code = new_token()
        try:
            with self.db.write() as s:
                s.add(m.Voter(vote_id=vote_id, account_id=viewer.account_id))
                s.flush()
                ballot = m.Ballot(vote_id=vote_id, receipt_hash=hash_token(code), approval=approve, ranking=ranking)
                s.add(ballot)
                s.flush()
                payload = self._ballot_payload(ballot)
                self.audit(s, viewer, "vote", f"cycle {cycle_id}")
        except IntegrityError:
            raise ConflictError(f"{viewer.username} has voted already; one ballot per member", where="vote") from None
        [receipt] = self.books.publish([Publication("vote-receipt", payload, m.Ballot.__table__, ballot.id)])
        return {"code": code, "entry": receipt.to_json(), "ballot": payload}

    def check_receipt(self, code: str) -> dict[str, Any]:
        """The ballot under a receipt code, its log entry and an inclusion proof checked here."""
        with self.db.read() as s:
            b = s.scalar(select(m.Ballot).where(m.Ballot.receipt_hash == hash_token(code.strip())))
            if b is None:
                raise NotFoundError("no ballot has this receipt code", where="receipt")
            payload = self._ballot_payload(b)
            vote = s.get(m.Vote, b.vote_id)
            counted = vote is not None and vote.status == "closed"
            index = b.ledger_index
        proof = None
        if index is not None:
            self.books.checkpoint(min_interval=0.0)

            def prove(ledger: Any) -> dict[str, Any]:
                p = ledger.inclusion_proof(index)
                entry = ledger.entry(index)
                return {"proof": p.to_json(), "verified": p.verify(), "entry_payload": entry.payload}

            proof = self.books.call(prove)
        return {
            "ballot": payload,
            "index": index,
            "counted": counted,
            "cycle": vote.cycle_id if vote else None,
            "inclusion": proof,
        }

    def close_vote(self, viewer: Viewer, cycle_id: int) -> dict[str, Any]:
        """Count the ballots (Schulze decides, approval reported and breaks ties) and publish the tally."""
        viewer.require_board()
        with self.db.write() as s:
            vote = s.scalar(select(m.Vote).where(m.Vote.cycle_id == cycle_id))
            if vote is None or vote.status != "open":
                raise ConflictError("no vote is open in this cycle", where=f"cycle {cycle_id}")
            ballots = list(s.scalars(select(m.Ballot).where(m.Ballot.vote_id == vote.id).order_by(m.Ballot.id)))
            candidates = vote.rules["candidates"]
            appr = approval(candidates, [b.approval for b in ballots])
            sch = schulze(candidates, [b.ranking for b in ballots])
            winner = break_ties(list(sch.winners), candidates, approvals=appr)
            tally = {
                "ballots": len(ballots),
                "ballot_entries": [b.ledger_index for b in ballots],
                "schulze": sch.to_json(),
                "approval": appr.to_json(),
                "winner": winner,
                "frozen_sha256": vote.frozen_hash,
            }
            vote.status, vote.closed_at, vote.tally = "closed", utcnow(), tally
            self.cycle(s, cycle_id).status = "decided"
            self.audit(s, viewer, "close-vote", f"cycle {cycle_id}: {winner}")
        self.books.publish([Publication("tally", {"cycle": cycle_id, **tally})])
        return tally

    # ---- reading for pages and the API -------------------------------------------------------------

    def cycle_summary(self, cycle_id: int) -> dict[str, Any]:
        self.close_due(cycle_id)
        eng = self.engine(cycle_id)
        with self.db.read() as s:
            cycle = self.cycle(s, cycle_id)
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
                "vote": None if vote is None else {"status": vote.status, "rules": vote.rules, "tally": vote.tally},
            }

    def list_cycles(self) -> list[dict[str, Any]]:
        with self.db.read() as s:
            return [
                {"id": c.id, "name": c.name, "status": c.status, "demo": c.demo, "source": c.source}
                for c in s.scalars(select(m.Cycle).order_by(m.Cycle.id.desc()))
            ]

    def round_detail(self, cycle_id: int, number: int) -> dict[str, Any]:
        with self.db.read() as s:
            rnd = s.scalar(select(m.Round).where(m.Round.cycle_id == cycle_id, m.Round.number == number))
            if rnd is None:
                raise NotFoundError(f"cycle {cycle_id} has no round {number}")
            codes = dict(s.execute(select(m.Council.id, m.Council.code).where(m.Council.cycle_id == cycle_id)).all())
            props = self.proposals_of_round(s, rnd.id)
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
        council_id, kind = self.council(cycle_id, code)
        eng = self.engine(cycle_id)
        with self.db.read() as s:
            rounds = list(s.scalars(select(m.Round).where(m.Round.cycle_id == cycle_id).order_by(m.Round.number)))
            mine = {
                p.round_id: p
                for p in s.scalars(
                    select(m.Proposal).where(m.Proposal.council_id == council_id).order_by(m.Proposal.id)
                )
            }
            delegates = self.delegates(s, council_id)
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

    def councils(self, cycle_id: int) -> list[dict[str, Any]]:
        with self.db.read() as s:
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

    def dump(self, obj: Any) -> str:
        return json.dumps(obj, indent=1, sort_keys=True)
