"""The debate's rows bound to the public log (:mod:`glasnost.control.bindings`), so that ``glasnost
verify --database`` and ``admin check-books`` find a comment, an answer, a hiding or an amendment
that was changed or deleted in the database after it was published: criticism is never deleted
silently.

=======================  ==================  ======================================================
table                    entry kind          what is compared
=======================  ==================  ======================================================
``debate_comments``      ``comment``         subject, parent, author, workplace answered for,
                                             position, text, the complaint
``debate_moderations``   ``comment-hidden``  the comment hidden, the reason, by whom
``debate_amendments``    ``amendment``       cycle, variant, author, change, reason, the verdict
=======================  ==================  ======================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from glasnost.control.bindings import Binding
from glasnost.ledger import Entry
from glasnost.service.debate.models import Amendment, Comment, Moderation

__all__ = ["DEBATE_BINDINGS"]

Row = dict[str, Any]

_COMMENT = ("subject", "parent_id", "author_id", "as_workplace", "position", "text", "complaint")
_MODERATION = ("comment_id", "reason", "by_id")
_AMENDMENT = ("cycle_id", "base_variant_id", "author_id", "change", "reason", "verdict")


def _stored(table: Any, fields: tuple[str, ...], at: str) -> Any:
    def read(database: Any) -> Iterable[Row]:
        c = table.__table__.c
        names = ["id", "ledger_index", *fields, at]
        with database.read() as session:
            for values in session.execute(select(*(c[n] for n in names)).order_by(c.id)):
                r = dict(zip(names, values, strict=True))
                r["log_index"], r["at"] = r.pop("ledger_index"), r.pop(at)
                yield {**r, "identity": r["id"]}

    return read


def _derive(names: dict[str, str]) -> Any:
    """Rows from an entry: ``names`` maps each column to the payload's key."""

    def derive(entry: Entry) -> list[Row]:
        p = entry.payload
        return [{"id": p["id"], **{column: p.get(key) for column, key in names.items()}}]

    return derive


def _payload_id(entry: Entry) -> Any:
    return entry.payload["id"]


DEBATE_BINDINGS = (
    Binding("debate_comments", ("comment",), ("id",), _COMMENT, _stored(Comment, _COMMENT, "created_at"),
            _derive({"subject": "subject", "parent_id": "parent", "author_id": "author",
                     "as_workplace": "as_workplace", "position": "position", "text": "text",
                     "complaint": "complaint"}), identity=_payload_id),
    Binding("debate_moderations", ("comment-hidden",), ("id",), _MODERATION, _stored(Moderation, _MODERATION, "at"),
            _derive({"comment_id": "comment", "reason": "reason", "by_id": "by"}), identity=_payload_id),
    Binding("debate_amendments", ("amendment",), ("id",), _AMENDMENT, _stored(Amendment, _AMENDMENT, "created_at"),
            _derive({"cycle_id": "cycle", "base_variant_id": "variant", "author_id": "author", "change": "change",
                     "reason": "reason", "verdict": "verdict"}), identity=_payload_id),
)
