"""Passwords, sessions, CSRF tokens, rate limits and request-size limits.

- Passwords are hashed with argon2id (:mod:`argon2`).
- A login gives a random token: as an HttpOnly, SameSite=Lax cookie for browsers, or as a bearer
  token for the API. The database keeps only its SHA-256.
- CSRF: every visitor gets a random ``glasnost_csrf`` cookie; a state-changing request
  authenticated by cookie (or anonymous) must repeat it in the form field ``csrf_token`` or the
  header ``X-CSRF-Token`` (double-submit cookie; together with SameSite cookies). Requests with a
  bearer token carry no ambient credentials and need no CSRF token.
- Rate limits: a sliding window per key, in memory: failed logins per address and user name
  (once over the limit, every attempt waits), submissions per council.
- :class:`BodyLimit`: an ASGI middleware refusing bodies above a size with 413, before they are read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "BodyLimit",
    "RateLimiter",
    "check_password",
    "hash_password",
    "hash_token",
    "new_token",
    "password_hasher",
    "same_token",
]

SESSION_COOKIE = "glasnost_session"
CSRF_COOKIE = "glasnost_csrf"

_hasher = PasswordHasher()


def password_hasher(cost: tuple[int, int, int] | None = None) -> PasswordHasher:
    """An argon2id hasher: argon2-cffi's defaults (RFC 9106 low-memory profile) when ``cost`` is None,
    else ``(time_cost, memory_cost in KiB, parallelism)``."""
    if cost is None:
        return _hasher
    time_cost, memory_kib, parallelism = (int(x) for x in cost)
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """An argon2id hash of ``password`` (with its own salt; its parameters are in the hash)."""
    return (hasher or _hasher).hash(password)


def check_password(stored: str, password: str, hasher: PasswordHasher | None = None) -> bool:
    """Whether ``password`` matches the stored argon2 hash (verified with the parameters stored in it)."""
    try:
        return (hasher or _hasher).verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A random URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex of a token (tokens are random, so a fast hash suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time comparison; False when either is missing."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class RateLimiter:
    """At most ``limit`` events per key in any ``window`` seconds (sliding window, in memory)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = int(limit)
        self.window = float(window)
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, key: str) -> float | None:
        """None if an event for ``key`` would be allowed now, else the seconds to wait (records nothing)."""
        now = time.monotonic()
        with self._lock:
            q = self._events.get(key)
            while q and q[0] <= now - self.window:
                q.popleft()
            return q[0] + self.window - now if q and len(q) >= self.limit else None

    def hit(self, key: str) -> float | None:
        """Record an event for ``key``; None if allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            q = self._events.setdefault(key, deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return q[0] + self.window - now
            q.append(now)
            if len(self._events) > 100_000:  # forget idle keys now and then
                for k in [k for k, v in self._events.items() if not v or v[-1] <= now - self.window]:
                    del self._events[k]
            return None


class BodyLimit:
    """ASGI middleware: 413 for a request body above ``max_bytes``.

    A declared ``Content-Length`` above the limit is refused before anything is read; a streamed
    body raises an HTTP 413 error inside the application as soon as it passes the limit."""

    def __init__(self, app, max_bytes: int) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await self._refuse(send, declared)
                    return
        seen = 0

        async def limited():  # type: ignore[no-untyped-def]
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    from starlette.exceptions import HTTPException

                    raise HTTPException(413, f"request body is larger than the limit of {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, send, size: int) -> None:  # type: ignore[no-untyped-def]
        import json

        body = json.dumps(
            {"detail": f"request body of {size} bytes is larger than the limit of {self.max_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
