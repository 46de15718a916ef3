"""Plan variants and the vote on them, with secret ballots.

Who voted and what was voted are stored apart, and nothing orders, times or numbers them together:

* Casting writes the voter (``voters``) and the ballot sealed under the vote's key
  (``ballot_box``: a random id, the ciphertext, the hash of the voter's receipt code; no time). The
  vote's key lives in the vault (:mod:`glasnost.db.vault`), sealed under the platform's master
  secret, never in the database in the clear. Nothing is published per ballot: there is no running
  tally to watch; the turnout (how many have voted) is public.
* Closing opens the box, shuffles the ballots (a cryptographic shuffle), stores them under fresh
  random ids in that order (``ballots``), stores the receipt hashes sorted (``vote_receipts``),
  deletes the box and the key, and publishes the ballots (shuffled), the receipts (sorted) and the
  tally, all at once.
* A voter's receipt code shows that their ballot was counted (its hash is among the published
  receipts, with an inclusion proof) and never what it was: it cannot prove to anyone how they voted.

What the operator of the server can still learn, and what would remove that, is in
``docs/ballots.md``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glasnost.db.engine import utcnow
from glasnost.ledger import canonical_json
from glasnost.procedures.voting import approval, break_ties, schulze
from glasnost.service import models as m
from glasnost.service.accounts import Viewer, audit
from glasnost.service.errors import BadInputError, ConflictError, ForbiddenError, NotFoundError
from glasnost.service.openbooks import Publication
from glasnost.service.security import hash_token, new_token

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["Votes"]

_NONCE = 12


def _box_key_name(vote_id: int) -> str:
    return f"ballot-box:{vote_id}"


class Votes:
    """Plan variants, votes, ballots and receipts."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    # ---- plan variants -----------------------------------------------------------------------------

    def publish_variants(self, viewer: Viewer, cycle_id: int) -> list[dict[str, Any]]:
        """After convergence: plan variants from the calculator, published to the log."""
        import numpy as np

        from glasnost.compute.variants import plan_variants

        viewer.require_board()
        eng = self.p.cycles.engine(cycle_id)
        with self.p.db.read() as s:
            cycle = self.p.cycles.get(s, cycle_id)
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
        variants = plan_variants(eng.he.economy, np.asarray(demand), supply=eng.he.fixed_supply)
        out = []
        try:
            with self.p.db.write() as s:
                for v in variants:
                    data = v.to_json()
                    row = m.PlanVariant(
                        cycle_id=cycle_id, key=v.spec.key, title=v.spec.title, description=v.spec.description, data=data
                    )
                    s.add(row)
                    s.flush()
                    out.append((row.id, {"id": row.id, "cycle": cycle_id, "description": v.spec.description, **data}))
                audit(s, viewer, "publish-variants", f"cycle {cycle_id}: {len(out)}")
        except IntegrityError:  # published meanwhile (another request, another process)
            raise ConflictError("the variants are published already", where=f"cycle {cycle_id}") from None
        self.p.books.publish([Publication("plan-variant", p, m.PlanVariant.__table__, rid) for rid, p in out])
        return [p for _, p in out]

    def variants(self, s: Session, cycle_id: int) -> list[m.PlanVariant]:
        return list(
            s.scalars(select(m.PlanVariant).where(m.PlanVariant.cycle_id == cycle_id).order_by(m.PlanVariant.id))
        )

    # ---- the vote ----------------------------------------------------------------------------------

    def open(self, viewer: Viewer, cycle_id: int) -> dict[str, Any]:
        """Freeze the rules and the variants (their hash goes to the log) and open the vote."""
        viewer.require_board()
        try:
            with self.p.db.write() as s:
                cycle = self.p.cycles.get(s, cycle_id)
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
                    "secrecy": "ballots sealed until the vote closes, then published shuffled; receipts show "
                    "that a ballot was counted, not what it was",
                }
                frozen = hashlib.sha256(
                    canonical_json({"rules": rules, "variants": [v.data for v in variants]})
                ).hexdigest()
                vote = m.Vote(cycle_id=cycle_id, rules=rules, frozen_hash=frozen)
                s.add(vote)
                cycle.status = "voting"
                s.flush()
                vote_id = vote.id
                audit(s, viewer, "open-vote", f"cycle {cycle_id}")
        except IntegrityError:
            raise ConflictError("the vote has been opened already", where=f"cycle {cycle_id}") from None
        self.p.vault.get_or_create(_box_key_name(vote_id), lambda: secrets.token_bytes(32))
        self.p.books.publish(
            [Publication("vote-opened", {"id": vote_id, "cycle": cycle_id, "rules": rules, "frozen_sha256": frozen})]
        )
        return {"vote": vote_id, "rules": rules, "frozen_sha256": frozen}

    def _box(self, vote_id: int) -> ChaCha20Poly1305:
        key = self.p.vault.get(_box_key_name(vote_id))
        if key is None:
            raise ConflictError("this vote's ballot box is closed", where=f"vote {vote_id}")
        return ChaCha20Poly1305(key)

    def cast(self, viewer: Viewer, cycle_id: int, approve: list[str], ranking: list[list[str]]) -> dict[str, Any]:
        """One member's ballot, sealed in the box. Returns the receipt code (shown once; only its hash
        is stored) and the ballot as cast (for the voter's own screen; it is not stored in the
        clear). A second ballot from the same member is refused."""
        viewer.require()
        with self.p.db.read() as s:
            vote = s.scalar(select(m.Vote).where(m.Vote.cycle_id == cycle_id))
            if vote is None or vote.status != "open":
                raise ConflictError("no vote is open in this cycle", where=f"cycle {cycle_id}")
            if not self.p.cycles.is_member(s, viewer, cycle_id):
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
        receipt = hash_token(code)
        nonce = secrets.token_bytes(_NONCE)
        plain = json.dumps({"approval": approve, "ranking": ranking}).encode()
        sealed = nonce + self._box(vote_id).encrypt(nonce, plain, f"vote {vote_id}".encode())
        try:
            with self.p.db.write() as s:
                s.add(m.Voter(vote_id=vote_id, account_id=viewer.account_id))
                s.add(m.BallotBox(id=secrets.token_hex(16), vote_id=vote_id, receipt_hash=receipt, sealed=sealed))
                audit(s, viewer, "vote", f"cycle {cycle_id}")
        except IntegrityError:
            raise ConflictError(f"{viewer.username} has voted already; one ballot per member", where="vote") from None
        return {
            "code": code,
            "receipt_sha256": receipt,
            "status": "sealed",
            "cycle": cycle_id,
            "ballot": {"approval": approve, "ranking": ranking},
        }

    def close(self, viewer: Viewer, cycle_id: int) -> dict[str, Any]:
        """Open the box, count (Schulze decides, approval reported and breaks ties) and publish the
        shuffled ballots, the sorted receipts and the tally."""
        viewer.require_board()
        with self.p.db.write() as s:
            vote = s.scalar(select(m.Vote).where(m.Vote.cycle_id == cycle_id).with_for_update())
            if vote is None or vote.status != "open":
                raise ConflictError("no vote is open in this cycle", where=f"cycle {cycle_id}")
            box = self._box(vote.id)
            opened = []
            receipts = []
            for row in s.execute(
                select(m.BallotBox.sealed, m.BallotBox.receipt_hash).where(m.BallotBox.vote_id == vote.id)
            ):
                plain = box.decrypt(row.sealed[:_NONCE], row.sealed[_NONCE:], f"vote {vote.id}".encode())
                opened.append(json.loads(plain))
                receipts.append(row.receipt_hash)
            secrets.SystemRandom().shuffle(opened)
            receipts.sort()
            candidates = vote.rules["candidates"]
            appr = approval(candidates, [b["approval"] for b in opened])
            sch = schulze(candidates, [b["ranking"] for b in opened])
            winner = break_ties(list(sch.winners), candidates, approvals=appr)
            if opened:
                s.execute(
                    m.Ballot.__table__.insert(),
                    [
                        {"id": secrets.token_hex(16), "vote_id": vote.id, "position": i, **b}
                        for i, b in enumerate(opened)
                    ],
                )
            if receipts:
                s.execute(m.VoteReceipt.__table__.insert(), [{"receipt_hash": r, "vote_id": vote.id} for r in receipts])
            s.execute(delete(m.BallotBox).where(m.BallotBox.vote_id == vote.id))
            tally = {
                "ballots": len(opened),
                "schulze": sch.to_json(),
                "approval": appr.to_json(),
                "winner": winner,
                "frozen_sha256": vote.frozen_hash,
            }
            vote.status, vote.closed_at, vote.tally = "closed", utcnow(), tally
            self.p.cycles.get(s, cycle_id).status = "decided"
            audit(s, viewer, "close-vote", f"cycle {cycle_id}: {winner}")
            vote_id = vote.id
        self.p.vault.delete(_box_key_name(vote_id))
        self.p.db.forget_deleted("ballot_box")
        return self.publish_count(vote_id)

    def publish_count(self, vote_id: int) -> dict[str, Any]:
        """Publish a closed vote's ballots (in their shuffled order), receipts (sorted) and tally, and
        record the entries on the rows. Also what :meth:`recover` does for a vote closed by a
        process that died before publishing."""
        with self.p.db.read() as s:
            vote = s.get(m.Vote, vote_id)
            assert vote is not None and vote.tally is not None
            ballots = [
                {"approval": b.approval, "ranking": b.ranking}
                for b in s.scalars(select(m.Ballot).where(m.Ballot.vote_id == vote_id).order_by(m.Ballot.position))
            ]
            receipts = list(
                s.scalars(
                    select(m.VoteReceipt.receipt_hash)
                    .where(m.VoteReceipt.vote_id == vote_id)
                    .order_by(m.VoteReceipt.receipt_hash)
                )
            )
            cycle_id, tally = vote.cycle_id, dict(vote.tally)
        ballots_entry, receipts_entry = self.p.books.publish(
            [
                Publication("ballots", {"vote": vote_id, "cycle": cycle_id, "ballots": ballots}),
                Publication("vote-receipts", {"vote": vote_id, "cycle": cycle_id, "receipts": receipts}),
            ]
        )
        tally.update(ballots_entry=ballots_entry.index, receipts_entry=receipts_entry.index)
        [tally_entry] = self.p.books.publish([Publication("tally", {"vote": vote_id, "cycle": cycle_id, **tally})])
        with self.p.db.write() as s:
            s.execute(update(m.Ballot).where(m.Ballot.vote_id == vote_id).values(ledger_index=ballots_entry.index))
            s.execute(
                update(m.VoteReceipt).where(m.VoteReceipt.vote_id == vote_id).values(ledger_index=receipts_entry.index)
            )
            s.execute(update(m.Vote).where(m.Vote.id == vote_id).values(tally=tally, ledger_index=tally_entry.index))
        return tally

    def recover(self) -> int:
        """Publish the count of every closed vote whose tally is not in the log yet; how many."""
        with self.p.db.read() as s:
            pending = list(s.scalars(select(m.Vote.id).where(m.Vote.status == "closed", m.Vote.ledger_index.is_(None))))
        for vote_id in pending:
            self.publish_count(vote_id)
        return len(pending)

    def check_receipt(self, code: str) -> dict[str, Any]:
        """Whether the ballot under a receipt code is sealed in the box (vote open) or counted (with
        the published receipts entry and its inclusion proof). Never what the ballot was."""
        receipt = hash_token(code.strip())
        with self.p.db.read() as s:
            counted = s.get(m.VoteReceipt, receipt)
            if counted is not None:
                vote = s.get(m.Vote, counted.vote_id)
                index = counted.ledger_index
                total = int(
                    s.scalar(
                        select(func.count()).select_from(m.VoteReceipt).where(m.VoteReceipt.vote_id == counted.vote_id)
                    )
                    or 0
                )
                status, vote_id = "counted", counted.vote_id
            else:
                sealed = s.scalar(select(m.BallotBox.vote_id).where(m.BallotBox.receipt_hash == receipt))
                if sealed is None:
                    raise NotFoundError("no ballot has this receipt code", where="receipt")
                vote, index, total, status, vote_id = s.get(m.Vote, sealed), None, None, "sealed", sealed
        proof = None
        if index is not None:

            def prove(ledger: Any) -> dict[str, Any]:
                p = ledger.inclusion_proof(index)
                entry = ledger.entry(index)
                return {
                    "proof": p.to_json(),
                    "verified": p.verify(),
                    "listed": receipt in entry.payload.get("receipts", []),
                }

            self.p.books.checkpoint(cover=index)
            proof = self.p.books.call(prove)
        return {
            "status": status,
            "counted": status == "counted",
            "vote": vote_id,
            "cycle": vote.cycle_id if vote else None,
            "receipt_sha256": receipt,
            "index": index,
            "ballots_counted": total,
            "inclusion": proof,
        }

    def turnout(self, s: Session, vote_id: int) -> int:
        return int(s.scalar(select(func.count()).select_from(m.Voter).where(m.Voter.vote_id == vote_id)) or 0)
