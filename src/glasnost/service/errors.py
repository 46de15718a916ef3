"""The platform's errors: each names what is wrong and where, and carries an HTTP status."""

from __future__ import annotations

from glasnost.economy.errors import GlasnostError

__all__ = [
    "BadInputError",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "RateLimitedError",
    "ServiceError",
    "UnauthorizedError",
    "UnavailableError",
]


class ServiceError(GlasnostError):
    """A request the platform refuses; ``status`` is the HTTP status it answers with, and
    ``retry_after`` (seconds, when set) the ``Retry-After`` header it sends along."""

    status = 400
    retry_after: int | None = None

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        self.message = f"{where}: {message}" if where else message
        super().__init__(self.message)


class BadInputError(ServiceError):
    """Malformed input: a negative or non-finite quantity, an unknown commodity, a bad file."""

    status = 422


class UnauthorizedError(ServiceError):
    """No valid login."""

    status = 401


class ForbiddenError(ServiceError):
    """Logged in, but not allowed (another council's proposal, a board action, a missing CSRF token)."""

    status = 403


class NotFoundError(ServiceError):
    status = 404


class ConflictError(ServiceError):
    """The action does not fit the state: a closed round, a second vote, a frozen variant list."""

    status = 409


class RateLimitedError(ServiceError):
    status = 429


class UnavailableError(ServiceError):
    """Not now, but the same request should succeed later: e.g. a repeated idempotency key whose
    proposal is stored but whose public-log receipt is not written yet. Answered with ``Retry-After``."""

    status = 503
    retry_after = 5
