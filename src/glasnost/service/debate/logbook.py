"""The debate's rows in the public log, for :meth:`glasnost.service.openbooks.OpenBooks.recover`
(what a crash left unpublished is published at the next start)."""

from __future__ import annotations

from typing import Any

from glasnost.service.debate.criticism import comment_payload, moderation_payload
from glasnost.service.debate.initiative import amendment_payload
from glasnost.service.debate.models import Amendment, Comment, Moderation

__all__ = ["LOGGED"]

LOGGED: list[tuple[Any, str, Any, Any]] = [
    (Comment.__table__, "comment", comment_payload, None),
    (Moderation.__table__, "comment-hidden", moderation_payload, None),
    (Amendment.__table__, "amendment", amendment_payload, None),
]
