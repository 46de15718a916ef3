"""The round's rush without the framework's detour: ``POST /api/cycles/{id}/proposals`` from a
council's program (a bearer token, a JSON body, no ``Idempotency-Key``) answered straight from the
ASGI layer.

In a round's rush this one request is nearly every request the platform gets, and FastAPI's
general machinery (routing through every router, dependency solving, the exception middlewares,
the response classes) cost about three quarters of the server's time for it, against the quarter
spent on the proposal itself. :class:`ProposalLane` sees such a request before that machinery,
checks the body with the route's model (:class:`ProposalIn`, declared here for both),
queues it with the intake exactly as the route does (:func:`unchecked_proposal`), and writes the
same answer: 201 with the stored proposal and its receipt, or the refusal the route's error handler
would give (same status, message, language and headers).

Whatever it does not recognise at once goes the ordinary way, body replayed untouched: a body the
model refuses (so the 422 names the field exactly as the route does), a request without a
``Content-Length``, another content type, a cycle id out of range, an idempotency key, a session
cookie without a bearer token. The route stays declared in the OpenAPI document and answers all of those.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError, field_validator

from glasnost.economy.errors import GlasnostError
from glasnost.service.errors import ServiceError
from glasnost.service.intake import Unchecked
from glasnost.service.routes.deps import MAX_ID, MAX_ROUND
from glasnost.service.security import hash_token

__all__ = ["ProposalIn", "ProposalLane", "unchecked_proposal"]

_PATH = re.compile(r"/api/cycles/([1-9][0-9]{0,9})/proposals")


class ProposalIn(BaseModel):
    """A council's proposal: quantities it offers (``supply``) and asks for (``demand``), by commodity id."""

    council: str = Field(min_length=1, max_length=100)
    round: int | None = Field(default=None, ge=1, le=MAX_ROUND, description="the round it is for (refused unless open)")
    supply: dict[str, float] = Field(default_factory=dict, max_length=10_000)
    demand: dict[str, float] = Field(default_factory=dict, max_length=10_000)

    @field_validator("supply", "demand")
    @classmethod
    def finite_and_non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        for cid, x in v.items():
            if not math.isfinite(x) or x < 0:
                raise ValueError(f"quantity of {cid!r} is {x}; it must be a finite number >= 0")
        return v


ErrorResponse = Callable[[dict[str, Any], Exception], Any]
"""Builds the response the application's error handler gives for a :class:`ServiceError` or a
:class:`~glasnost.economy.errors.GlasnostError` (an ASGI app)."""


def unchecked_proposal(token: str, cycle_id: int, body: Any) -> Unchecked:
    """A proposal body (a :class:`ProposalIn`) sent with bearer ``token``, for the intake to check with
    its batch."""
    return Unchecked(hash_token(token), cycle_id, body.council, body.supply, body.demand, body.round, "api")


class ProposalLane:
    """ASGI middleware: the lean way for a council program's proposal (see the module's docstring).
    Placed inside the middleware that adds the protective headers to every answer;
    ``error_response(scope, error)`` builds the refusal as the application's handler would."""

    def __init__(self, app, error_response: ErrorResponse) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.model = ProposalIn
        self.error_response = error_response

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        token = cycle_id = None
        if scope["type"] == "http" and scope["method"] == "POST":
            token, cycle_id = self._recognised(scope)
        if token is None:
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive)
        if not complete:  # the client went away
            return
        try:
            proposal = self.model.model_validate_json(body)
        except ValidationError:
            await self.app(scope, _replay(body, receive), send)  # the route names what is wrong
            return
        platform = scope["app"].state.platform
        try:
            answer = await platform.intake.enqueue_async(unchecked_proposal(token, cycle_id, proposal))
        except (ServiceError, GlasnostError) as exc:  # what the application's handlers answer with a 4xx
            await self.error_response(scope, exc)(scope, receive, send)
            return
        payload = orjson.dumps(answer)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    def _recognised(scope: dict[str, Any]) -> tuple[str | None, int | None]:
        """(bearer token, cycle id) when the request is one the lane answers, else (None, None)."""
        matched = _PATH.fullmatch(scope["path"])
        if matched is None or int(matched[1]) > MAX_ID:
            return None, None
        token = None
        sized = json = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                if value[:7].lower() != b"bearer ":
                    return None, None
                token = value[7:].strip().decode("latin-1")
            elif name == b"content-type":
                json = value.split(b";")[0].strip().lower() == b"application/json"
            elif name == b"content-length":
                sized = True
            elif name == b"idempotency-key":
                return None, None
        if not (token and sized and json):
            return None, None
        return token, int(matched[1])


async def _read_body(receive: Callable[[], Awaitable[dict[str, Any]]]) -> tuple[bytes, bool]:
    """The whole request body, and whether it came whole (False: the client disconnected)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Callable[[], Awaitable[dict[str, Any]]]) -> Callable[[], Awaitable[dict[str, Any]]]:
    """A ``receive`` that hands the application the body already read, then the client's own messages."""
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
