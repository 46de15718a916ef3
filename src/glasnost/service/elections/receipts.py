"""A voter's receipt code checked: sealed in an open election's box, or counted in a closed one
(its hash among the receipts the close stored and published with the ballots), never what the
ballot said. The receipts are sorted before they are stored and published, so nothing links one
to a ballot; the code shows that the voter voted, not how."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from glasnost.service import models as m
from glasnost.service.elections import models as e
from glasnost.service.errors import BadInputError, NotFoundError
from glasnost.service.security import hash_token

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["check_receipt"]

MAX_CODE = 200


def check_receipt(p: Platform, code: str) -> dict[str, Any]:
    """What the receipt ``code`` shows: ``status`` ``sealed`` or ``counted``, the election (its post
    and council), how many ballots it counted and, once counted, the public log entry listing the
    receipt with its inclusion proof checked."""
    code = code.strip()
    if not code or len(code) > MAX_CODE:
        raise BadInputError("enter the receipt code you were given when you voted", where="receipt")
    receipt = hash_token(code)
    with p.db.read() as s:
        election_id = s.scalar(select(e.ElectionReceipt.election_id).where(e.ElectionReceipt.receipt_hash == receipt))
        status = "counted"
        if election_id is None:
            election_id = s.scalar(select(e.ElectionBox.election_id).where(e.ElectionBox.receipt_hash == receipt))
            status = "sealed"
        if election_id is None:
            raise NotFoundError("no ballot has this receipt code", where="receipt")
        election = s.get(e.Election, election_id)
        assert election is not None
        council = s.get(m.Council, election.council_id)
        counted = None
        if status == "counted":
            counted = int(s.scalar(select(func.count()).select_from(e.ElectionReceipt)
                                   .where(e.ElectionReceipt.election_id == election_id)) or 0)
        tally_index = election.ledger_index
    return {
        "status": status,
        "election": election_id,
        "post": election.post,
        "council": council.code if council is not None else None,
        "ballots_counted": counted,
        "inclusion": None if tally_index is None else _listed(p, election_id, tally_index, receipt),
    }


def _listed(p: Platform, election_id: int, tally_index: int, receipt: str) -> dict[str, Any] | None:
    """The ``election-ballots`` entry published with the tally (the entries before it, nearest
    first: another writer's entry may come between them), whether it lists the receipt, and its
    inclusion proof in the latest signed tree, checked."""

    def prove(ledger: Any) -> dict[str, Any] | None:
        for index in range(tally_index - 1, max(tally_index - 50, -1), -1):
            entry = ledger.entry(index)
            if entry.kind == "election-ballots" and entry.payload.get("election") == election_id:
                proof = ledger.inclusion_proof(index)
                listed = receipt in entry.payload.get("receipts", [])
                return {"index": index, "listed": listed, "verified": proof.verify(), "tree_size": proof.tree_size}
        return None

    p.books.checkpoint(cover=tally_index)
    return p.books.call(prove)
