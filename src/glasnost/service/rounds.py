"""Rounds and their intake: councils' proposals, and closing a round.

Correct under any number of processes on one database:

* A proposal is acknowledged only once it is stored in the round (and logged). The intake's batch
  holds the round row with ``FOR SHARE`` while it inserts (PostgreSQL; SQLite has one writer), and
  closing takes the same row ``FOR UPDATE`` and reads the proposals inside that transaction: a
  batch either commits before the close reads (its proposals are in the result) or sees the round
  closed and refuses them with 409. Every proposal answered with 201 is in its round's result.
* Closing names the round (``close(cycle, number)``) and is idempotent: closing a round that is
  closed answers its stored result; concurrent closes of one round (the board's clicks, deadline
  jobs in several processes) close it once.
* Nothing in a process's memory decides whether a round is open: each request reads it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from glasnost.db.engine import utcnow
from glasnost.service import models as m
from glasnost.service.accounts import VIEWER_SQL, VIEWERS_SQL, Viewer, audit, viewer_from_rows
from glasnost.service.errors import BadInputError, ConflictError, ForbiddenError, NotFoundError
from glasnost.service.intake import IntakeItem, Unchecked
from glasnost.service.openbooks import Publication
from glasnost.service.security import hash_token

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["CSV_FIELD_LIMIT", "OpenRound", "Rounds", "proposal_payload"]

CSV_FIELD_LIMIT = 128 * 1024
"""The longest field a proposal's CSV may have (characters)."""

_OPEN_ROUND_SQL = "SELECT id, number, deadline FROM rounds WHERE cycle_id = ? AND status = 'open'"
_VIEWER_AND_ROUND_SQL = (
    VIEWER_SQL + " UNION ALL SELECT 1, id, NULL, number, deadline, NULL, NULL FROM rounds "
    "WHERE cycle_id = ? AND status = 'open'"
)
_CYCLE_SQL = "SELECT id FROM cycles WHERE id = ?"
_OPEN_ROUNDS_SQL = "SELECT cycle_id, id, number, deadline FROM rounds WHERE status = 'open' AND cycle_id {among}"


@dataclass(frozen=True)
class OpenRound:
    """The open round of a cycle, as read for one request."""

    id: int
    number: int
    deadline: datetime | None
    prices: dict[str, float]


def proposal_payload(row: Any) -> dict[str, Any]:
    """A stored proposal as published in the log."""
    return {
        "id": row.id,
        "round_id": row.round_id,
        "council_id": row.council_id,
        "supply": row.supply,
        "demand": row.demand,
        "source": row.source,
        "at": row.created_at.isoformat(timespec="seconds") + "Z",
    }


def _among(sql: str, values: list[Any], sqlite: bool) -> tuple[str, tuple[Any, ...]]:
    """``sql`` with its ``{among}`` filled for "one of ``values``", and the parameters: one array on
    PostgreSQL (the text then stays the same whatever the number of values, so the driver prepares
    it once), one mark a value on SQLite."""
    if sqlite:
        return sql.format(among=f"IN ({', '.join('?' * len(values))})"), tuple(values)
    return sql.format(among="= ANY(%b)"), (values,)  # binary: no text escaping of each value


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


class Rounds:
    """Proposals and round closes of every cycle."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self._prices: dict[int, dict[str, float]] = {}  # a round's posted prices never change

    # ---- the open round ----------------------------------------------------------------------------

    def current(self, cycle_id: int) -> OpenRound | None:
        """The cycle's open round, read now (None when the rounds have ended); 404 for no cycle."""
        rows = self.p.db.lookup(_OPEN_ROUND_SQL, (cycle_id,)) if 0 < cycle_id < 2**31 else []
        return self._open_round(cycle_id, rows)

    def viewer_and_round(self, token: str, via: str, cycle_id: int) -> tuple[Viewer, Callable[[], OpenRound | None]]:
        """Who is asking, and the cycle's open round to be read after the checks that come first, from
        one query (the hot path of a submission)."""
        rows = self.p.db.lookup(_VIEWER_AND_ROUND_SQL, (hash_token(token), cycle_id)) if 0 < cycle_id < 2**31 else []
        viewer = viewer_from_rows([r for r in rows if r[0] == 0], via)
        rounds = [r[1:2] + r[3:5] for r in rows if r[0] == 1]
        return viewer, lambda: self._open_round(cycle_id, rounds)

    def _open_round(self, cycle_id: int, rows: list[tuple[Any, ...]]) -> OpenRound | None:
        if not rows:
            if not (0 < cycle_id < 2**31) or not self.p.db.lookup(_CYCLE_SQL, (cycle_id,)):
                raise NotFoundError(f"there is no cycle {cycle_id}")
            return None
        round_id, number, deadline = rows[0]
        return OpenRound(int(round_id), int(number), _as_datetime(deadline), self._posted_prices(int(round_id)))

    def _posted_prices(self, round_id: int) -> dict[str, float]:
        prices = self._prices.get(round_id)
        if prices is None:
            with self.p.db.read() as s:
                prices = s.scalar(select(m.Round.prices).where(m.Round.id == round_id)) or {}
            if len(self._prices) > 10_000:
                self._prices.clear()
            self._prices[round_id] = prices
        return prices

    # ---- proposals ---------------------------------------------------------------------------------

    def submit(
        self,
        viewer: Viewer,
        cycle_id: int,
        council: str,
        supply: Any,
        demand: Any,
        *,
        round_number: int | None = None,
        source: str = "api",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Store a council's proposal for the open round and publish it; returns it with its receipt.

        See :meth:`prepare` for the checks; blocks until the proposal is committed and logged."""
        item = self.prepare(
            viewer,
            cycle_id,
            council,
            supply,
            demand,
            round_number=round_number,
            source=source,
            idempotency_key=idempotency_key,
        )
        return self.p.intake.with_receipt(item) if isinstance(item, dict) else self.p.intake.submit(item)

    def prepare(
        self,
        viewer: Viewer,
        cycle_id: int,
        council: str,
        supply: Any,
        demand: Any,
        *,
        round_number: int | None = None,
        source: str = "api",
        idempotency_key: str | None = None,
        open_round: Callable[[], OpenRound | None] | None = None,
    ) -> IntakeItem | dict[str, Any]:
        """Check a proposal; the item to hand to the intake, or the stored answer of a repeated key.

        Only the council's delegates may submit. A proposal for a round that is not open is refused
        with the number of the open round. The same ``idempotency_key`` from the same council
        returns the stored proposal and adds nothing. The intake re-checks, inside the transaction
        that stores it, that the round is still open and the council within its rate limit.
        ``open_round``: how to get the cycle's open round when the caller read it already."""
        viewer.require()
        council_id, kind = self.p.cycles.council(cycle_id, council)
        if idempotency_key is not None and not (1 <= len(idempotency_key) <= 100):
            raise BadInputError("an idempotency key has 1 to 100 characters", where="Idempotency-Key")
        if idempotency_key is not None:
            repeated = self.keyed(council_id, idempotency_key)
            if repeated is not None:
                return repeated
        if council_id not in viewer.seats:
            raise ForbiddenError(
                f"{viewer.username} is not a delegate of council {council}", where=f"council {council}"
            )
        rnd = self.current(cycle_id) if open_round is None else open_round()
        if rnd is None:
            raise ConflictError("no round is open in this cycle (the rounds have ended)", where=f"cycle {cycle_id}")
        if round_number is not None and round_number != rnd.number:
            state = "closed" if round_number < rnd.number else "not open yet"
            raise ConflictError(
                f"round {round_number} is {state}; round {rnd.number} is open", where=f"council {council}"
            )
        if rnd.deadline is not None and utcnow() >= rnd.deadline:
            raise ConflictError(f"round {rnd.number} is past its deadline and closing", where=f"council {council}")
        clean_s, clean_d = self.p.cycles.engine(cycle_id).check(council, kind, supply, demand, rnd.prices)
        return IntakeItem(
            round_id=rnd.id,
            round_number=rnd.number,
            cycle_id=cycle_id,
            council_id=council_id,
            council=council,
            author_id=int(viewer.account_id),  # type: ignore[arg-type]
            supply=clean_s,
            demand=clean_d,
            source=source,
            key=idempotency_key,
        )

    def prepare_many(self, items: list[Unchecked]) -> list[IntakeItem | BaseException]:
        """:meth:`prepare` for proposals queued unchecked (:class:`~glasnost.service.intake.Unchecked`):
        who is asking and the open rounds of all of them read in two queries, then each checked as
        :meth:`prepare` checks one. An item's refusal is its entry in the list, not raised."""
        sqlite = self.p.db.settings.is_sqlite
        tokens: dict[str, list[tuple[Any, ...]]] = {}
        for row in self.p.db.lookup(*_among(VIEWERS_SQL, sorted({i.token_hash for i in items}), sqlite)):
            tokens.setdefault(row[0], []).append(row)
        rounds: dict[int, list[tuple[Any, ...]]] = {}
        for row in self.p.db.lookup(*_among(_OPEN_ROUNDS_SQL, sorted({i.cycle_id for i in items}), sqlite)):
            rounds.setdefault(int(row[0]), []).append(row[1:])
        checked: list[IntakeItem | BaseException] = []
        for item in items:
            viewer = viewer_from_rows(tokens.get(item.token_hash, []), "bearer")
            try:
                checked.append(
                    self.prepare(  # type: ignore[arg-type]  # no idempotency key: never a stored answer
                        viewer,
                        item.cycle_id,
                        item.council,
                        item.supply,
                        item.demand,
                        round_number=item.round_number,
                        source=item.source,
                        open_round=lambda c=item.cycle_id: self._open_round(c, rounds.get(c, [])),
                    )
                )
            except Exception as exc:  # this proposal's refusal, answered to its own request
                checked.append(exc)
        return checked

    def keyed(self, council_id: int, key: str) -> dict[str, Any] | None:
        """The stored proposal of a council under an idempotency key (as answered), or None."""
        with self.p.db.read() as s:
            old = s.scalar(
                select(m.Proposal).where(m.Proposal.council_id == council_id, m.Proposal.idempotency_key == key)
            )
            return None if old is None else self.view(s, old, repeated=True)

    def view(self, s: Session, row: m.Proposal, *, repeated: bool = False) -> dict[str, Any]:
        rnd = s.get(m.Round, row.round_id)
        council = s.get(m.Council, row.council_id)
        out = proposal_payload(row)
        out.update(council=council.code if council else None, round=rnd.number if rnd else None, repeated=repeated)
        out["cycle"] = rnd.cycle_id if rnd else None
        out["receipt"] = (
            None
            if row.ledger_index is None
            else {"index": row.ledger_index, "kind": "proposal", "leaf_hash": row.leaf_hash}
        )
        return out

    def proposal(self, cycle_id: int, proposal_id: int) -> dict[str, Any]:
        """One stored proposal with its log receipt."""
        with self.p.db.read() as s:
            row = s.get(m.Proposal, proposal_id) if 0 < proposal_id < 2**31 else None
            view = None if row is None else self.view(s, row)
        if view is None or view["cycle"] != cycle_id:
            raise NotFoundError(f"cycle {cycle_id} has no proposal {proposal_id}")
        return view

    @staticmethod
    def parse_csv(text: str) -> tuple[dict[str, float], dict[str, float]]:
        """A proposal from CSV: header ``commodity,supply,demand`` (any order, extra columns
        ignored), one row per commodity. Refuses, naming line and column, anything malformed: an
        unterminated quote, a field over :data:`CSV_FIELD_LIMIT` characters, a row of the wrong
        width, a quantity that is not a finite number >= 0, a commodity twice, and a file with no
        rows at all (so a broken upload never replaces a council's proposal with an empty one)."""
        if not text.strip():
            raise BadInputError("the CSV is empty; the header is commodity,supply,demand", where="CSV line 1")
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        rows = _csv_rows(reader)
        header = [h.strip().lower() for h in rows[0][1]]
        for name in ("commodity", "supply", "demand"):
            if header.count(name) != 1:
                state = "twice" if header.count(name) > 1 else "missing"
                raise BadInputError(
                    f"the header must name commodity, supply and demand once each ({name!r} is {state})",
                    where="CSV line 1",
                )
        col = {name: header.index(name) for name in ("commodity", "supply", "demand")}
        supply: dict[str, float] = {}
        demand: dict[str, float] = {}
        for line, fields in rows[1:]:
            if not any(f.strip() for f in fields):
                continue  # a blank line
            if len(fields) != len(header):
                raise BadInputError(f"{len(fields)} fields; the header has {len(header)}", where=f"CSV line {line}")
            cid = fields[col["commodity"]].strip()
            if not cid:
                raise BadInputError("no commodity id", where=f"CSV line {line}, column {col['commodity'] + 1}")
            if cid in supply or cid in demand:
                raise BadInputError(f"commodity {cid!r} appears twice", where=f"CSV line {line}")
            for what, target in (("supply", supply), ("demand", demand)):
                raw = fields[col[what]].strip()
                if not raw:
                    continue
                where = f"CSV line {line}, column {col[what] + 1} ({what})"
                try:
                    value = float(raw)
                except ValueError:
                    raise BadInputError(f"{raw[:40]!r} is not a number", where=where) from None
                if not (math.isfinite(value) and value >= 0):
                    raise BadInputError(f"{raw[:40]!r}: a quantity is a finite number >= 0", where=where)
                target[cid] = value
        if not supply and not demand:
            what = "a header but no rows" if len(rows) == 1 else "no quantities"
            raise BadInputError(
                f"the CSV has {what}; nothing was submitted (the council's proposal stands)",
                where="CSV line 2",
            )
        return supply, demand

    # ---- closing rounds ----------------------------------------------------------------------------

    def close(self, viewer: Viewer | None, cycle_id: int, number: int, *, reason: str = "board") -> dict[str, Any]:
        """Close round ``number`` of a cycle: stored proposals plus modelled ones for councils that
        did not answer, one step of the engine, the next round open at the new prices unless
        converged. Closing a closed round answers its stored result and changes nothing."""
        if viewer is not None:
            viewer.require_board()
        eng = self.p.cycles.engine(cycle_id)
        self.p.books.sync()  # this process's proposals have their log receipts on their rows
        with self.p.db.write() as s:
            cycle = self.p.cycles.get(s, cycle_id)
            rnd = s.scalar(
                select(m.Round).where(m.Round.cycle_id == cycle_id, m.Round.number == number).with_for_update()
            )
            if rnd is None:
                last = s.scalar(select(func.max(m.Round.number)).where(m.Round.cycle_id == cycle_id)) or 0
                if number > 0 and last:
                    raise ConflictError(
                        f"round {number} is not open yet; round {last} is the latest", where=f"cycle {cycle_id}"
                    )
                raise NotFoundError(f"cycle {cycle_id} has no round {number}")
            if rnd.status == "closed":
                return dict(rnd.result or {})
            result, outcome = self._compute(s, eng, cycle, rnd, viewer, reason)
            rnd.status, rnd.closed_at = "closed", utcnow()
            rnd.closed_by = None if viewer is None else viewer.account_id
            rnd.result, rnd.max_imbalance = result, outcome.max_imbalance
            next_deadline = None
            if outcome.converged:
                cycle.status = "converged"
            elif number >= cycle.max_rounds:
                cycle.status = "stopped"
            else:
                gap = None if rnd.deadline is None else rnd.deadline - rnd.opened_at
                opened = utcnow()
                next_deadline = None if gap is None else opened + gap
                s.add(
                    m.Round(
                        cycle_id=cycle_id,
                        number=number + 1,
                        opened_at=opened,
                        prices=outcome.next_prices,
                        state=outcome.next_state,
                        deadline=next_deadline,
                    )
                )
            audit(s, viewer, "close-round", f"cycle {cycle_id} round {number} ({reason})")
            round_id = rnd.id
        self.p.books.publish([Publication("round-result", {"id": round_id, **result}, m.Round.__table__, round_id)])
        if next_deadline is not None:
            self.p.jobs.round_deadline(cycle_id, number + 1, next_deadline)
        return result

    def _compute(
        self, s: Session, eng: Any, cycle: m.Cycle, rnd: m.Round, viewer: Viewer | None, reason: str
    ) -> tuple[dict[str, Any], Any]:
        """The round's result from the proposals stored in it (read in the closing transaction)."""
        councils = {
            r.id: (r.code, r.kind)
            for r in s.execute(
                select(m.Council.id, m.Council.code, m.Council.kind).where(m.Council.cycle_id == cycle.id)
            )
        }
        latest = _latest_proposals(s, rnd.id)  # in id order
        submitted = {councils[c][0]: (councils[c][1], supply, demand) for _, c, supply, demand, _ in latest}
        out = eng.close(rnd.prices, rnd.state, submitted)
        result = {
            "cycle": cycle.id,
            "round": rnd.number,
            "prices": rnd.prices,
            "supply": out.supply,
            "demand": out.demand,
            "imbalance": out.imbalance,
            "next_prices": out.next_prices,
            "max_imbalance": out.max_imbalance,
            "threshold": cycle.threshold,
            "converged": out.converged,
            "answered": sorted(out.answered),
            "proposals": {councils[c][0]: pid for pid, c, _, _, _ in latest},
            "proposal_entries": {councils[c][0]: index for _, c, _, _, index in latest if index is not None},
            "modelled": out.modelled,
            "consumer_demand": out.consumer_demand,
            "closed_by": reason if viewer is None else viewer.username,
        }
        return result, out

    def close_due(self, cycle_id: int | None = None) -> int:
        """Close every open round whose deadline has passed; how many this call closed or found closed."""
        with self.p.db.read() as s:
            q = select(m.Round.cycle_id, m.Round.number).where(
                m.Round.status == "open", m.Round.deadline.is_not(None), m.Round.deadline <= utcnow()
            )
            if cycle_id is not None:
                q = q.where(m.Round.cycle_id == cycle_id)
            due = list(s.execute(q))
        for cid, number in due:
            self.close(None, cid, number, reason="deadline")
        return len(due)

    def run(self, viewer: Viewer, cycle_id: int, limit: int = 200) -> dict[str, Any]:
        """Close rounds one after another (councils that do not answer get modelled proposals) until
        the procedure converges, the round cap or ``limit`` rounds."""
        viewer.require_board()
        if not 1 <= limit <= 10_000:
            raise BadInputError(f"limit {limit} must be between 1 and 10000", where="limit")
        last: dict[str, Any] = {}
        for _ in range(limit):
            rnd = self.current(cycle_id)
            if rnd is None:
                break
            last = self.close(viewer, cycle_id, rnd.number, reason="run")
        if not last:
            raise ConflictError("no round is open in this cycle", where=f"cycle {cycle_id}")
        return last


def _latest_proposals(s: Session, round_id: int) -> list[tuple[int, int, Any, Any, int | None]]:
    """(id, council id, supply, demand, log index) of the latest proposal of every council in a round,
    in id order, as plain tuples: closing a round of many councils builds no ORM objects, and the
    quantities are read as JSON text and parsed by orjson (several times faster than the driver's
    json module, which took most of a 100,000-council close)."""
    p = m.Proposal.__table__
    latest = select(func.max(p.c.id)).where(p.c.round_id == round_id).group_by(p.c.council_id).scalar_subquery()
    rows = s.connection().execute(
        select(p.c.id, p.c.council_id, cast(p.c.supply, Text), cast(p.c.demand, Text), p.c.ledger_index)
        .where(p.c.id.in_(latest))
        .order_by(p.c.id)
    )
    loads = orjson.loads
    return [(pid, council, loads(supply), loads(demand), index) for pid, council, supply, demand, index in rows]


def _csv_rows(reader: Any) -> list[tuple[int, list[str]]]:
    """Every row of a CSV reader with the line it starts on; a malformed file refused naming the line."""
    rows: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for fields in reader:
            if any(len(f) > CSV_FIELD_LIMIT for f in fields):
                raise BadInputError(f"a field is longer than {CSV_FIELD_LIMIT} characters", where=f"CSV line {line}")
            rows.append((line, fields))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise BadInputError(f"malformed CSV ({exc})", where=f"CSV line {line}") from None
    if not rows:
        raise BadInputError("the CSV is empty; the header is commodity,supply,demand", where="CSV line 1")
    return rows
