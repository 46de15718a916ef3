"""The platform's own figures bound to its public log (:mod:`glasnost.control.bindings`).

Every table whose rows a computation uses, with the log entries it is published as:

=====================  ==================  ===============================================================
table                  entry kind          what is compared
=====================  ==================  ===============================================================
``cycles``             ``cycle``           name, source, threshold, the economy's SHA-256 (the stored
                                           economy every round is computed from)
``proposals``          ``proposal``        round, council, supply, demand, source, time, leaf hash
``rounds``             ``round-result``    the closed round's result (prices, answered, modelled, ...),
                                           and its posted prices and worst imbalance
``plan_variants``      ``plan-variant``    cycle, key, title, description, the variant's figures
``votes``              ``vote-opened``     the frozen rules and their hash
``votes``              ``tally``           the tally (winner, Schulze and approval counts)
``ballots``            ``ballots``         every counted ballot at its place in the shuffled list
``vote_receipts``      ``vote-receipts``   every receipt hash of the sorted list
=====================  ==================  ===============================================================

Proposals, round results, plan variants and the count go through the platform's outbox (the row
is committed, then appended to the log, then its entry recorded on the row; see
:mod:`glasnost.service.openbooks`): a row whose entry index is not recorded yet is matched to its
entry by the id the entry publishes, and a row not in the log yet counts as *pending* during the
check's grace period (:data:`glasnost.control.bindings.PUBLISH_GRACE`). Cycles and opened votes are
matched by id only (their rows carry no entry index).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from glasnost.control.bindings import Binding
from glasnost.ledger import Entry
from glasnost.service import models as m

__all__ = ["PLATFORM_BINDINGS"]

Row = dict[str, Any]


def _rows(database: Any, query: Any, names: list[str]) -> Iterable[Row]:
    with database.read() as session:
        for values in session.execute(query):
            yield dict(zip(names, values, strict=True))


def _payload_id(entry: Entry) -> Any:
    return entry.payload["id"]


def _payload_vote(entry: Entry) -> Any:
    return entry.payload["vote"]


def _stamp(at: Any) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds") + "Z"


# ---- cycles -------------------------------------------------------------------------------------


def _stored_cycles(database: Any) -> Iterable[Row]:
    c = m.Cycle.__table__.c
    q = select(c.id, c.name, c.source, c.threshold, c.economy, c.created_at).order_by(c.id)
    for r in _rows(database, q, ["id", "name", "source", "threshold", "economy", "at"]):
        source = "upload" if str(r["source"]).startswith("upload:") else r["source"]  # the entry says "upload"
        yield {"id": r["id"], "log_index": None, "identity": r["id"], "at": r["at"], "name": r["name"],
               "source": source, "threshold": r["threshold"],
               "economy_sha256": hashlib.sha256(r["economy"]).hexdigest()}


def _derive_cycle(entry: Entry) -> list[Row]:
    p = entry.payload
    return [{"id": p["id"], "name": p["name"], "source": p["source"], "threshold": p["threshold"],
             "economy_sha256": p["economy_sha256"]}]


# ---- proposals ----------------------------------------------------------------------------------


def _stored_proposals(database: Any) -> Iterable[Row]:
    c = m.Proposal.__table__.c
    q = select(c.id, c.ledger_index, c.leaf_hash, c.round_id, c.council_id, c.supply, c.demand, c.source,
               c.created_at).order_by(c.id)
    for r in _rows(database, q, ["id", "log_index", "leaf_hash", "round_id", "council_id", "supply", "demand",
                                 "source", "at"]):
        yield {**r, "identity": r["id"], "created": _stamp(r["at"])}


def _derive_proposal(entry: Entry) -> list[Row]:
    p = entry.payload
    return [{"id": p["id"], "round_id": p["round_id"], "council_id": p["council_id"], "supply": p["supply"],
             "demand": p["demand"], "source": p["source"], "created": p["at"], "leaf_hash": entry.leaf_hash.hex()}]


# ---- rounds -------------------------------------------------------------------------------------


def _stored_rounds(database: Any) -> Iterable[Row]:
    c = m.Round.__table__.c
    q = (select(c.id, c.ledger_index, c.cycle_id, c.number, c.prices, c.max_imbalance, c.result, c.closed_at)
         .where(c.status == "closed").order_by(c.id))
    for r in _rows(database, q, ["id", "log_index", "cycle_id", "number", "prices", "max_imbalance", "result",
                                 "at"]):
        yield {**r, "identity": r["id"], "result": r["result"] if r["result"] is not None else {}}


def _derive_round(entry: Entry) -> list[Row]:
    p = entry.payload
    result = {k: v for k, v in p.items() if k != "id"}
    return [{"id": p["id"], "cycle_id": p["cycle"], "number": p["round"], "prices": p["prices"],
             "max_imbalance": p["max_imbalance"], "result": result}]


# ---- plan variants ------------------------------------------------------------------------------


def _stored_variants(database: Any) -> Iterable[Row]:
    c = m.PlanVariant.__table__.c
    q = select(c.id, c.ledger_index, c.cycle_id, c.key, c.title, c.description, c.data).order_by(c.id)
    for r in _rows(database, q, ["id", "log_index", "cycle_id", "key", "title", "description", "data"]):
        yield {**r, "identity": r["id"]}


def _derive_variant(entry: Entry) -> list[Row]:
    p = entry.payload
    data = {k: v for k, v in p.items() if k not in ("id", "cycle", "description")}
    return [{"id": p["id"], "cycle_id": p.get("cycle"), "key": p["key"], "title": p["title"],
             "description": p.get("description"), "data": data}]


# ---- the vote -----------------------------------------------------------------------------------


def _stored_vote_rules(database: Any) -> Iterable[Row]:
    c = m.Vote.__table__.c
    q = select(c.id, c.cycle_id, c.rules, c.frozen_hash, c.opened_at).order_by(c.id)
    for r in _rows(database, q, ["id", "cycle_id", "rules", "frozen_hash", "at"]):
        yield {**r, "log_index": None, "identity": r["id"]}


def _derive_vote_rules(entry: Entry) -> list[Row]:
    p = entry.payload
    return [{"id": p["id"], "cycle_id": p["cycle"], "rules": p["rules"], "frozen_hash": p["frozen_sha256"]}]


_ENTRY_REFS = ("ballots_entry", "receipts_entry")  # written into the tally once the ballots are in the log


def _stored_tallies(database: Any) -> Iterable[Row]:
    c = m.Vote.__table__.c
    q = select(c.id, c.ledger_index, c.cycle_id, c.tally, c.closed_at).where(c.status == "closed").order_by(c.id)
    for r in _rows(database, q, ["id", "log_index", "cycle_id", "tally", "at"]):
        tally = dict(r["tally"] or {})
        refs = {k: tally.pop(k, None) for k in _ENTRY_REFS}
        yield {**r, **refs, "identity": r["id"], "tally": tally}


def _derive_tally(entry: Entry) -> list[Row]:
    p = entry.payload
    tally = {k: v for k, v in p.items() if k not in ("vote", "cycle", *_ENTRY_REFS)}
    return [{"id": p["vote"], "cycle_id": p["cycle"], "tally": tally, **{k: p.get(k) for k in _ENTRY_REFS}}]


def _stored_ballots(database: Any) -> Iterable[Row]:
    b, v = m.Ballot.__table__.c, m.Vote.__table__.c
    q = (select(b.id, b.ledger_index, b.vote_id, b.position, b.approval, b.ranking, v.closed_at)
         .join_from(m.Ballot.__table__, m.Vote.__table__, b.vote_id == v.id).order_by(b.vote_id, b.position))
    for r in _rows(database, q, ["id", "log_index", "vote_id", "position", "approval", "ranking", "at"]):
        yield {**r, "identity": r["vote_id"]}


def _derive_ballots(entry: Entry) -> list[Row]:
    p = entry.payload
    return [{"position": i, "vote_id": p["vote"], "approval": b["approval"], "ranking": b["ranking"]}
            for i, b in enumerate(p["ballots"])]


def _stored_receipts(database: Any) -> Iterable[Row]:
    r_, v = m.VoteReceipt.__table__.c, m.Vote.__table__.c
    q = (select(r_.receipt_hash, r_.ledger_index, r_.vote_id, v.closed_at)
         .join_from(m.VoteReceipt.__table__, m.Vote.__table__, r_.vote_id == v.id)
         .order_by(r_.vote_id, r_.receipt_hash))
    for r in _rows(database, q, ["receipt_hash", "log_index", "vote_id", "at"]):
        yield {**r, "id": r["receipt_hash"][:16] + "...", "identity": r["vote_id"]}


def _derive_receipts(entry: Entry) -> list[Row]:
    p = entry.payload
    return [{"receipt_hash": h, "vote_id": p["vote"]} for h in p["receipts"]]


PLATFORM_BINDINGS = (
    Binding("cycles", ("cycle",), ("id",), ("name", "source", "threshold", "economy_sha256"), _stored_cycles,
            _derive_cycle, identity=_payload_id, recorded=False),
    Binding("proposals", ("proposal",), ("id",), ("round_id", "council_id", "supply", "demand", "source", "created",
                                                  "leaf_hash"), _stored_proposals, _derive_proposal,
            identity=_payload_id, receipt_fields=("leaf_hash",)),
    Binding("rounds", ("round-result",), ("id",), ("cycle_id", "number", "prices", "max_imbalance", "result"),
            _stored_rounds, _derive_round, identity=_payload_id),
    Binding("plan_variants", ("plan-variant",), ("id",), ("cycle_id", "key", "title", "description", "data"),
            _stored_variants, _derive_variant, identity=_payload_id),
    Binding("votes", ("vote-opened",), ("id",), ("cycle_id", "rules", "frozen_hash"), _stored_vote_rules,
            _derive_vote_rules, identity=_payload_id, recorded=False),
    Binding("votes", ("tally",), ("id",), ("cycle_id", "tally", *_ENTRY_REFS), _stored_tallies, _derive_tally,
            identity=_payload_vote, receipt_fields=_ENTRY_REFS),
    Binding("ballots", ("ballots",), ("position",), ("vote_id", "approval", "ranking"), _stored_ballots,
            _derive_ballots, identity=_payload_vote),
    Binding("vote_receipts", ("vote-receipts",), ("receipt_hash",), ("vote_id",), _stored_receipts,
            _derive_receipts, identity=_payload_vote),
)
"""The platform's tables, each bound to the entries it is published as (see the module's table)."""

from glasnost.service.debate.bindings import DEBATE_BINDINGS  # noqa: E402  (criticism and amendments)

PLATFORM_BINDINGS = (*PLATFORM_BINDINGS, *DEBATE_BINDINGS)

from glasnost.service.elections.bindings import ELECTION_BINDINGS  # noqa: E402  (counts, ballots, terms, recall)

PLATFORM_BINDINGS = (*PLATFORM_BINDINGS, *ELECTION_BINDINGS)
