"""Accounts, sessions, bearer tokens and grants: who is asking and what they may do.

Everything that decides an answer is read from the database on each request (a token logged out
through one process is refused by every other at once); the only per-process state is the bound
on password hashes computed at once, which protects this process's memory and CPU.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glasnost.db.engine import utcnow
from glasnost.db.limits import Limit, count_hit, forget_hit
from glasnost.service import models as m
from glasnost.service.errors import (
    BadInputError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
)
from glasnost.service.security import check_password, hash_password, hash_token, new_token, password_hasher

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["GRANT_KINDS", "VIEWERS_SQL", "VIEWER_SQL", "Accounts", "Viewer", "audit", "viewer_from_rows"]

SESSION_DAYS = 14
GRANT_KINDS = ("workplace",)
"""Kinds of explicit grants: ``workplace`` (report for it, read and answer its alerts)."""

_VIEWER_COLUMNS_AND_TABLES = (
    "accounts.id, accounts.username, CASE WHEN accounts.is_board THEN 1 ELSE 0 END, "
    "session_tokens.expires_at, session_tokens.id, memberships.council_id "
    "FROM session_tokens JOIN accounts ON accounts.id = session_tokens.account_id "
    "LEFT JOIN memberships ON memberships.account_id = accounts.id AND memberships.role = 'delegate' "
)
VIEWER_SQL = "SELECT 0, " + _VIEWER_COLUMNS_AND_TABLES + "WHERE session_tokens.token_hash = ?"
"""The account, token and delegate seats behind a token hash; rows tagged 0 (another part's rows may be
read in the same query: :meth:`glasnost.service.rounds.Rounds.viewer_and_round`)."""
VIEWERS_SQL = (
    "SELECT session_tokens.token_hash, " + _VIEWER_COLUMNS_AND_TABLES + "WHERE session_tokens.token_hash {among}"
)
""":data:`VIEWER_SQL` for many token hashes at once (``{among}``: ``IN (?, ...)`` or ``= ANY(%b)``), each
row tagged with its hash (:meth:`glasnost.service.rounds.Rounds.prepare_many`)."""


def _as_datetime(value: Any) -> datetime:
    """A DBAPI's timestamp: a datetime (PostgreSQL) or SQLAlchemy's SQLite text ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class Viewer:
    """Who is asking: an account (or nobody), how they authenticated (``cookie``/``bearer``/None),
    and the councils they hold a delegate's seat of (council row ids), as read for this request."""

    account_id: int | None = None
    username: str | None = None
    is_board: bool = False
    via: str | None = None
    seats: frozenset[int] = field(default_factory=frozenset)
    token_id: int | None = None

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


def viewer_from_rows(rows: list[tuple[Any, ...]], via: str) -> Viewer:
    """The :class:`Viewer` of :data:`VIEWER_SQL`'s rows (nobody for none, or an expired token)."""
    if not rows:
        return Viewer()
    _, account_id, username, is_board, expires_at, token_id = rows[0][:6]
    if _as_datetime(expires_at) < utcnow():
        return Viewer()
    seats = frozenset(int(r[6]) for r in rows if r[6] is not None)
    return Viewer(int(account_id), username, bool(is_board), via, seats, int(token_id))


def audit(s: Session, viewer: Viewer | int | None, action: str, target: str = "") -> None:
    """Record an action: who (an account, or None for the platform itself), what, on what; when."""
    account = viewer if isinstance(viewer, int) or viewer is None else viewer.account_id
    s.add(m.AuditEvent(account_id=account, action=action, target=target[:200]))


class Accounts:
    """Accounts and their sessions, tokens and grants, over the platform's database."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform
        settings = platform.settings
        self.hasher = password_hasher(settings.password_cost)
        self._hash_slots = threading.BoundedSemaphore(max(1, settings.hash_concurrency))
        self.limits = (
            Limit("login", *settings.login_rate),
            Limit("login-account", *settings.login_account_rate),
            Limit("login-address", *settings.login_address_rate),
        )

    # ---- passwords ---------------------------------------------------------------------------------

    @contextmanager
    def _hashing(self) -> Iterator[None]:
        """A slot for one password hash (argon2id holds 64 MiB while it runs): waits at most
        ``Settings.hash_wait`` seconds, then refuses with 503."""
        if not self._hash_slots.acquire(timeout=self.p.settings.hash_wait):
            raise UnavailableError("the server is busy checking passwords; try again in a few seconds")
        try:
            yield
        finally:
            self._hash_slots.release()

    def _hash(self, password: str) -> str:
        with self._hashing():
            return hash_password(password, self.hasher)

    def _matches(self, stored: str, password: str) -> bool:
        with self._hashing():
            return check_password(stored, password, self.hasher)

    # ---- accounts ----------------------------------------------------------------------------------

    def create(self, username: str, password: str, *, board: bool = False) -> int:
        """A new account; its id."""
        username = username.strip()
        if not (1 <= len(username) <= 64) or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise BadInputError("a user name is 1 to 64 letters, digits, '-', '_' or '.'", where="username")
        if not 8 <= len(password) <= 1024:
            raise BadInputError("a password has 8 to 1024 characters", where="password")
        with self.p.db.read() as s:
            if s.scalar(select(m.Account.id).where(m.Account.username == username)) is not None:
                raise ConflictError(f"the user name {username!r} is taken", where="username")
        hashed = self._hash(password)
        try:
            with self.p.db.write() as s:
                acc = m.Account(username=username, password_hash=hashed, is_board=board)
                s.add(acc)
                s.flush()
                audit(s, acc.id, "create-account", f"{username}{' (board)' if board else ''}")
                return acc.id
        except IntegrityError:  # taken meanwhile (another request, another process)
            raise ConflictError(f"the user name {username!r} is taken", where="username") from None

    def account_id(self, username: str) -> int:
        with self.p.db.read() as s:
            found = s.scalar(select(m.Account.id).where(m.Account.username == username))
        if found is None:
            raise NotFoundError(f"there is no account {username!r}", where="account")
        return found

    # ---- logging in and out ------------------------------------------------------------------------

    def login(self, username: str, password: str, *, address: str, kind: str = "cookie", label: str = "") -> str:
        """Check the password; a new session token (cookie or bearer).

        Failed attempts are limited per (address, user name), per user name and per address
        (``Settings.login_rate``, ``login_account_rate``, ``login_address_rate``). Every attempt is
        counted in the database before its password is checked (concurrent attempts over any
        number of processes count against one limit); an attempt with the right password is taken
        back afterwards."""
        keys = [
            (self.limits[0], self.limits[0].key(address, username)),
            (self.limits[1], self.limits[1].key(username)),
            (self.limits[2], self.limits[2].key(address)),
        ]
        with self.p.db.write_connection() as conn:
            waits = [count_hit(conn, limit, key) for limit, key in keys]
        refused = [w for w in waits if w is not None]
        if refused:
            raise RateLimitedError(f"too many failed login attempts; try again in {max(refused):.0f} s", where="login")
        with self.p.db.read() as s:
            acc = s.scalar(select(m.Account).where(m.Account.username == username))
        if acc is None or not self._matches(acc.password_hash, password):
            with self.p.db.write() as s:
                audit(s, None, "login-failed", username)
            raise UnauthorizedError("wrong user name or password", where="login")
        with self.p.db.write() as s:
            conn = s.connection()
            for _, key in keys:
                forget_hit(conn, key)
            return self._new_session(s, acc.id, kind, label)

    def _new_session(self, s: Session, account_id: int, kind: str, label: str = "") -> str:
        token = new_token()
        s.add(
            m.SessionToken(
                token_hash=hash_token(token),
                account_id=account_id,
                kind=kind,
                label=label[:100],
                expires_at=utcnow() + timedelta(days=SESSION_DAYS),
            )
        )
        audit(s, account_id, "login", kind)
        return token

    def logout(self, token: str) -> None:
        """End a session or revoke a bearer token (every process refuses it from now on)."""
        with self.p.db.write() as s:
            row = s.scalar(select(m.SessionToken).where(m.SessionToken.token_hash == hash_token(token)))
            if row is not None:
                audit(s, row.account_id, "logout", row.kind)
                s.delete(row)

    def viewer(self, token: str | None, via: str) -> Viewer:
        """The account behind a session or API token, read from the database (one query, which also
        brings the account's delegate seats)."""
        if not token:
            return Viewer()
        return viewer_from_rows(self.p.db.lookup(VIEWER_SQL, (hash_token(token),)), via)

    # ---- tokens ------------------------------------------------------------------------------------

    def tokens(self, viewer: Viewer) -> list[dict[str, Any]]:
        """The viewer's sessions and bearer tokens (never the tokens themselves), newest first."""
        viewer.require()
        with self.p.db.read() as s:
            rows = s.scalars(
                select(m.SessionToken)
                .where(m.SessionToken.account_id == viewer.account_id)
                .order_by(m.SessionToken.id.desc())
            )
            return [
                {
                    "id": t.id,
                    "kind": t.kind,
                    "label": t.label,
                    "created_at": t.created_at.isoformat(timespec="seconds") + "Z",
                    "expires_at": t.expires_at.isoformat(timespec="seconds") + "Z",
                    "current": t.id == viewer.token_id,
                }
                for t in rows
            ]

    def revoke_token(self, viewer: Viewer, token_id: int) -> None:
        """Revoke one of the viewer's own sessions or tokens."""
        viewer.require()
        with self.p.db.write() as s:
            row = s.get(m.SessionToken, token_id)
            if row is None or row.account_id != viewer.account_id:
                raise NotFoundError(f"you have no token {token_id}", where="token")
            audit(s, viewer, "revoke-token", f"{row.kind} {token_id}")
            s.delete(row)

    # ---- grants ------------------------------------------------------------------------------------

    def grant(self, viewer: Viewer, username: str, kind: str, target: str) -> dict[str, Any]:
        """Give an account a right (board only): e.g. ``kind="workplace"``, ``target="W1"``."""
        viewer.require_board()
        account_id = self.account_id(username)
        with self.p.db.write() as s:
            row = self._grant(s, account_id, kind, target, viewer.account_id)
            audit(s, viewer, "grant", f"{username}: {kind} {target}")
            return {"id": row.id, "account": username, "kind": kind, "target": target}

    def _grant(self, s: Session, account_id: int, kind: str, target: str, by: int | None) -> m.Grant:
        if kind not in GRANT_KINDS:
            raise BadInputError(f"kind {kind!r}: choose one of {', '.join(GRANT_KINDS)}", where="kind")
        target = (target or "").strip()
        if not 1 <= len(target) <= 200:
            raise BadInputError("name what the grant is for (1 to 200 characters)", where="target")
        row = s.scalar(
            select(m.Grant).where(m.Grant.account_id == account_id, m.Grant.kind == kind, m.Grant.target == target)
        )
        if row is None:
            row = m.Grant(account_id=account_id, kind=kind, target=target, granted_by=by)
            s.add(row)
            s.flush()
        return row

    def revoke_grant(self, viewer: Viewer, grant_id: int) -> None:
        viewer.require_board()
        with self.p.db.write() as s:
            row = s.get(m.Grant, grant_id)
            if row is None:
                raise NotFoundError(f"there is no grant {grant_id}", where="grant")
            audit(s, viewer, "revoke-grant", f"account {row.account_id}: {row.kind} {row.target}")
            s.execute(delete(m.Grant).where(m.Grant.id == grant_id))

    def grants(self, viewer: Viewer, kind: str | None = None) -> list[dict[str, Any]]:
        """Grants: the board sees all, an account its own."""
        viewer.require()
        with self.p.db.read() as s:
            q = select(m.Grant, m.Account.username).join(m.Account, m.Account.id == m.Grant.account_id)
            if not viewer.is_board:
                q = q.where(m.Grant.account_id == viewer.account_id)
            if kind is not None:
                q = q.where(m.Grant.kind == kind)
            return [
                {"id": g.id, "account": name, "kind": g.kind, "target": g.target}
                for g, name in s.execute(q.order_by(m.Grant.id))
            ]

    def granted(self, viewer: Viewer, kind: str) -> set[str]:
        """What the viewer holds grants of ``kind`` for (read now)."""
        if viewer.anonymous:
            return set()
        rows = self.p.db.lookup(
            "SELECT target FROM grants WHERE account_id = ? AND kind = ?", (int(viewer.account_id), kind)
        )
        return {r[0] for r in rows}

    def may_act_for(self, viewer: Viewer, kind: str, target: str) -> bool:
        """Whether the viewer is the board or holds the grant (``kind``, ``target``)."""
        if viewer.anonymous:
            return False
        return viewer.is_board or target in self.granted(viewer, kind)
