"""The elections' rows bound to the public log (:mod:`glasnost.control.bindings`), so that ``glasnost
verify --database`` and ``admin check-books`` name a count, a ballot, a receipt, a term or a recall's
outcome that was changed or deleted in the database after the election closed.

======================  ====================  ===================================================
table                   entry kind            what is compared
======================  ====================  ===================================================
``elections``           ``election-tally``    the tally (elected, counts, turnout, by-election)
``election_ballots``    ``election-ballots``  every counted ballot at its place in the shuffle
``election_receipts``   ``election-ballots``  every receipt hash of the sorted list
``terms``               ``election-tally``    one term per elected member, held by that member
``recall_petitions``    ``election-tally``    a recall vote's petition: passed, failed or lapsed
======================  ====================  ===================================================

Only the election carries its entry's index (the tally's); the other rows are matched by the
election the entry names, and a closed election not in the log yet is pending for the check's
grace period (the close publishes right after its commit; a restart publishes what a crash left).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from glasnost.control.bindings import Binding
from glasnost.ledger import Entry
from glasnost.service import models as m
from glasnost.service.elections import models as e

__all__ = ["ELECTION_BINDINGS"]

Row = dict[str, Any]

_ELECTIONS = e.Election.__table__.c
_CLOSED = _ELECTIONS.status == "closed"


def _rows(database: Any, query: Any, names: list[str]) -> Iterable[Row]:
    with database.read() as session:
        for values in session.execute(query):
            yield dict(zip(names, values, strict=True))


def _payload_election(entry: Entry) -> Any:
    return entry.payload["election"]


def _stored_tallies(database: Any) -> Iterable[Row]:
    c = _ELECTIONS
    q = select(c.id, c.ledger_index, c.tally, c.closed_at).where(_CLOSED).order_by(c.id)
    for r in _rows(database, q, ["id", "log_index", "tally", "at"]):
        yield {**r, "identity": r["id"], "tally": r["tally"] if r["tally"] is not None else {}}


def _derive_tally(entry: Entry) -> list[Row]:
    p = entry.payload
    return [{"id": p["election"], "tally": {k: v for k, v in p.items() if k != "election"}}]


def _stored_ballots(database: Any) -> Iterable[Row]:
    b = e.ElectionBallot.__table__.c
    q = (select(b.id, b.election_id, b.position, b.choice, _ELECTIONS.closed_at)
         .join_from(e.ElectionBallot.__table__, e.Election.__table__, b.election_id == _ELECTIONS.id)
         .order_by(b.election_id, b.position))
    for r in _rows(database, q, ["id", "election_id", "position", "choice", "at"]):
        yield {**r, "log_index": None, "identity": r["election_id"]}


def _derive_ballots(entry: Entry) -> list[Row]:
    p = entry.payload
    return [{"position": i, "election_id": p["election"], "choice": b} for i, b in enumerate(p["ballots"])]


def _stored_receipts(database: Any) -> Iterable[Row]:
    r_ = e.ElectionReceipt.__table__.c
    q = (select(r_.receipt_hash, r_.election_id, _ELECTIONS.closed_at)
         .join_from(e.ElectionReceipt.__table__, e.Election.__table__, r_.election_id == _ELECTIONS.id)
         .order_by(r_.election_id, r_.receipt_hash))
    for r in _rows(database, q, ["receipt_hash", "election_id", "at"]):
        yield {**r, "id": r["receipt_hash"][:16] + "...", "log_index": None, "identity": r["election_id"]}


def _derive_receipts(entry: Entry) -> list[Row]:
    p = entry.payload
    return [{"receipt_hash": h, "election_id": p["election"]} for h in p.get("receipts", [])]


def _stored_terms(database: Any) -> Iterable[Row]:
    t, a = e.Term.__table__.c, m.Account.__table__.c
    q = (select(t.id, t.election_id, a.username, _ELECTIONS.closed_at)
         .join_from(e.Term.__table__, m.Account.__table__, t.account_id == a.id)
         .join(e.Election.__table__, t.election_id == _ELECTIONS.id)
         .order_by(t.id))
    for r in _rows(database, q, ["id", "election_id", "holder", "at"]):
        yield {**r, "log_index": None, "identity": r["election_id"]}


def _derive_terms(entry: Entry) -> list[Row]:
    p = entry.payload
    return [{"holder": name, "election_id": p["election"]} for name in p.get("elected", [])]


def _stored_petitions(database: Any) -> Iterable[Row]:
    r_ = e.RecallPetition.__table__.c
    q = (select(r_.id, r_.election_id, r_.status, _ELECTIONS.closed_at)
         .join_from(e.RecallPetition.__table__, e.Election.__table__, r_.election_id == _ELECTIONS.id)
         .where(_CLOSED).order_by(r_.id))
    for r in _rows(database, q, ["id", "election_id", "status", "at"]):
        yield {**r, "log_index": None, "identity": r["election_id"]}


def _recall_outcome(tally: dict[str, Any]) -> str:
    """As :meth:`glasnost.service.elections.recall.Recalls.apply` decided it: a passed recall opens a
    by-election, unless the term had ended already (the petition lapsed)."""
    if not tally["passed"]:
        return "failed"
    return "passed" if "by_election" in tally else "lapsed"


def _derive_petition(entry: Entry) -> list[Row]:
    p = entry.payload
    if p.get("method") != "majority":
        return []
    return [{"election_id": p["election"], "status": _recall_outcome(p)}]


ELECTION_BINDINGS = (
    Binding("elections", ("election-tally",), ("id",), ("tally",), _stored_tallies, _derive_tally,
            identity=_payload_election),
    Binding("election_ballots", ("election-ballots",), ("position",), ("election_id", "choice"), _stored_ballots,
            _derive_ballots, identity=_payload_election, recorded=False),
    Binding("election_receipts", ("election-ballots",), ("receipt_hash",), ("election_id",), _stored_receipts,
            _derive_receipts, identity=_payload_election, recorded=False),
    Binding("terms", ("election-tally",), ("holder",), ("election_id",), _stored_terms, _derive_terms,
            identity=_payload_election, recorded=False),
    Binding("recall_petitions", ("election-tally",), ("election_id",), ("status",), _stored_petitions,
            _derive_petition, identity=_payload_election, recorded=False),
)
"""The elections' tables, each bound to the entries it is published as (see the module's table)."""
