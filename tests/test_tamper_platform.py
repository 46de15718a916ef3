"""The platform's own figures bound to its public log: proposals, round results, plan variants, the
vote's rules, ballots, receipts and tally, each tampered with in the database (with the owner's
rights, without the log's signing key) and named by ``glasnost verify LOG --key K --database URL``
and by ``glasnost admin check-books``; on SQLite, on PostgreSQL, and against an exported log.

One platform is built per form (a cycle of the demo economy run to convergence with two delegates'
proposals, plan variants, a vote of two ballots); each test tampers, checks, and puts the rows back.

The publication window: rows are committed first and published a moment later (the outbox of
:mod:`glasnost.service.openbooks`). A row whose entry is in the log but not yet recorded on it is
compared with that entry and only noted; a row not in the log at all is noted as *not yet published*
while younger than the grace period (60 s) and is a failure after it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_support import BOARD, Backend, bearer, delegate, make_backend
from sqlalchemy import delete, insert, select, update
from typer.testing import CliRunner

from glasnost.cli import app as cli
from glasnost.db.engine import Database, utcnow
from glasnost.ledger import Ledger
from glasnost.service import models as m

runner = CliRunner()

BALLOTS = {
    "alice": (["invest", "public"], [["invest"], ["public", "as-asked"]]),
    "bob": (["public"], [["public"], ["invest"], ["as-asked"], ["private"]]),
}


@dataclass
class Books:
    """A platform's database and log after one cycle, and a tamperer's hands on the tables."""

    backend: Backend
    form: str
    public_key: str
    log_args: list[str]
    cycle: int
    undo: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.db = Database(self.backend.settings())

    # ---- reading and tampering (SQLAlchemy Core: the same statements on both databases)
    def rows(self, table: Any, *where: Any) -> list[dict[str, Any]]:
        with self.db.read() as s:
            return [dict(r._mapping) for r in s.execute(select(table).where(*where))]

    def change(self, table: Any, where: Any, **values: Any) -> None:
        """Set ``values`` on the rows ``where`` selects; put back at the end of the test."""
        old = self.rows(table, where)
        assert old, f"nothing in {table.name} to change"
        key = table.primary_key.columns.values()[0]
        with self.db.write() as s:
            s.execute(update(table).where(where).values(**values))

        def restore() -> None:
            with self.db.write() as s:
                for row in old:
                    s.execute(update(table).where(key == row[key.name]).values(**row))

        self.undo.append(restore)

    def delete(self, table: Any, where: Any) -> list[dict[str, Any]]:
        old = self.rows(table, where)
        assert old, f"nothing in {table.name} to delete"
        with self.db.write() as s:
            s.execute(delete(table).where(where))

        def restore() -> None:
            with self.db.write() as s:
                s.execute(insert(table), old)

        self.undo.append(restore)
        return old

    def add(self, table: Any, **values: Any) -> Any:
        with self.db.write() as s:
            new_id = s.execute(insert(table).values(**values).returning(table.c.id)).scalar_one()
        self.undo.append(lambda: self._remove(table, new_id))
        return new_id

    def _remove(self, table: Any, row_id: Any) -> None:
        with self.db.write() as s:
            s.execute(delete(table).where(table.c.id == row_id))

    # ---- the checks
    def verify(self) -> tuple[int, list[str]]:
        r = runner.invoke(cli, ["verify", *self.log_args, "--key", self.public_key, "--database", self.backend.url])
        assert "Traceback" not in r.output, r.output
        return r.exit_code, r.output.splitlines()

    def check_books(self) -> tuple[int, list[str]]:
        args = ["admin", "check-books", "--database", self.backend.url,
                "--secret-file", str(self.backend.directory / "master-secret")]
        if self.backend.schema:
            args += ["--schema", self.backend.schema]
        r = runner.invoke(cli, args)
        assert "Traceback" not in r.output, r.output
        return r.exit_code, r.output.splitlines()


def _build(backend: Backend) -> tuple[int, str]:
    """One cycle: two delegates' proposals (one revised), rounds to convergence, variants, a vote."""
    from glasnost.service.app import create_app

    app = create_app(backend.settings())
    app.state.platform.accounts.create(*BOARD, board=True)
    with TestClient(app) as client:
        board = bearer(client, *BOARD)
        cycle = client.post("/api/cycles", json={"name": "bound"}, headers=board).json()["id"]
        worker = delegate(client, board, cycle, "make-agriculture-0", "alice")
        consumer = delegate(client, board, cycle, "neighbourhood-1", "bob")
        for who, body in ((worker, {"council": "make-agriculture-0", "supply": {"agriculture": 2.0},
                                    "demand": {"mining": 0.2}}),
                          (consumer, {"council": "neighbourhood-1", "demand": {"fishing": 0.1}}),
                          (worker, {"council": "make-agriculture-0", "supply": {"agriculture": 1.5},
                                    "demand": {"mining": 0.1}})):
            r = client.post(f"/api/cycles/{cycle}/proposals", json=body, headers=who)
            assert r.status_code == 201, r.text
        client.post(f"/api/cycles/{cycle}/rounds/1/close", headers=board)
        client.post(f"/api/cycles/{cycle}/rounds/run", json={"limit": 300}, headers=board)
        assert client.post(f"/api/cycles/{cycle}/variants", headers=board).status_code in (200, 201)
        client.post(f"/api/cycles/{cycle}/vote/open", headers=board)
        alice = bearer(client, "alice", "alice-pw-123")
        for name, (approve, ranking) in BALLOTS.items():
            r = client.post(f"/api/cycles/{cycle}/vote/ballots", json={"approve": approve, "ranking": ranking},
                            headers=alice if name == "alice" else consumer)
            assert r.status_code == 201, r.text
        assert client.post(f"/api/cycles/{cycle}/vote/close", headers=board).status_code == 200
        public_key = client.get("/api/log").json()["public_key"]
    return cycle, public_key


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "export"])
def books(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Books]:
    tmp = tmp_path_factory.mktemp(request.param)
    for backend in make_backend("postgresql" if request.param == "postgresql" else "sqlite", tmp):
        cycle, public_key = _build(backend)
        source = backend.settings().ledger_source()
        log_args = [source, "--schema", backend.schema] if backend.schema else [source]
        if request.param == "export":
            with Ledger.open(source, create=False) as ledger:
                log_args = [str(ledger.export(tmp / "log.jsonl"))]
        b = Books(backend, request.param, public_key, log_args, cycle)
        yield b
        b.db.dispose()


@pytest.fixture
def tampered(books: Books) -> Iterator[Books]:
    """The platform's books, with whatever the test changes put back afterwards."""
    yield books
    while books.undo:
        books.undo.pop()()


def _has(lines: list[str], *parts: str) -> bool:
    return any(all(p in line for p in parts) for line in lines)


def _failed(lines: list[str]) -> int:
    (summary,) = [ln for ln in lines if ln.startswith(("FAILED", "ok:", "UNAUTHENTICATED"))]
    found = re.search(r"; (\d+) problems", summary)
    return int(found.group(1)) if found else 0


def test_untouched_books_agree_with_the_log(tampered: Books) -> None:
    code, lines = tampered.verify()
    assert code == 0, lines
    if tampered.form != "export":
        code, lines = tampered.check_books()
        assert code == 0 and lines[-1].startswith("ok: every stored row agrees"), lines


def test_an_edited_proposal_quantity(tampered: Books) -> None:
    p = m.Proposal.__table__
    row = tampered.rows(p, p.c.council_id.in_(select(m.Council.id).where(m.Council.code == "make-agriculture-0")))[-1]
    assert row["supply"] == {"agriculture": 1.5}
    tampered.change(p, p.c.id == row["id"], supply={"agriculture": 15.0})
    expected = (f"proposals row {row['id']} (log entry {row['ledger_index']}): supply['agriculture'] is 15.0 "
                "but the log says 1.5")
    code, lines = tampered.verify()
    assert code == 1 and expected in lines and _failed(lines) == 1, lines
    if tampered.form != "export":
        code, lines = tampered.check_books()
        assert code == 1 and expected in lines, lines


def test_a_deleted_proposal(tampered: Books) -> None:
    p = m.Proposal.__table__
    (gone,) = tampered.delete(p, p.c.id == _proposal_of(tampered, "neighbourhood-1"))
    code, lines = tampered.verify()
    assert code == 1 and _failed(lines) == 1, lines
    assert _has(lines, f"proposals (id {gone['id']}) (log entry {gone['ledger_index']}): is in the log but missing "
                "from the table", "demand {'fishing': 0.1}"), lines


def _proposal_of(books: Books, council: str) -> int:
    p = m.Proposal.__table__
    rows = books.rows(p, p.c.council_id.in_(select(m.Council.id).where(m.Council.code == council)))
    return int(rows[-1]["id"])


def _first_round(books: Books) -> dict[str, Any]:
    r = m.Round.__table__
    return books.rows(r, r.c.cycle_id == books.cycle, r.c.number == 1)[0]


def test_a_round_result_with_edited_prices(tampered: Books) -> None:
    rnd = _first_round(tampered)
    result = copy.deepcopy(rnd["result"])
    logged = result["next_prices"]["agriculture"]
    result["next_prices"]["agriculture"] = logged * 1.1
    tampered.change(m.Round.__table__, m.Round.__table__.c.id == rnd["id"], result=result)
    code, lines = tampered.verify()
    assert code == 1 and _failed(lines) == 1, lines
    assert _has(lines, f"rounds row {rnd['id']} (log entry {rnd['ledger_index']}): result['next_prices']"
                f"['agriculture'] is {logged * 1.1!r} but the log says {logged!r}"), lines


def test_a_round_whose_posted_prices_were_edited(tampered: Books) -> None:
    rnd = _first_round(tampered)
    prices = {**rnd["prices"], "mining": 1.0}
    tampered.change(m.Round.__table__, m.Round.__table__.c.id == rnd["id"], prices=prices)
    code, lines = tampered.verify()
    assert code == 1 and _has(lines, f"rounds row {rnd['id']}", "prices['mining'] is 1.0 but the log says 700"), lines


def test_a_round_result_with_an_edited_answered_list(tampered: Books) -> None:
    rnd = _first_round(tampered)
    assert rnd["result"]["answered"] == ["make-agriculture-0", "neighbourhood-1"]
    result = {**rnd["result"], "answered": ["make-agriculture-0"]}
    tampered.change(m.Round.__table__, m.Round.__table__.c.id == rnd["id"], result=result)
    code, lines = tampered.verify()
    assert code == 1 and _has(lines, f"rounds row {rnd['id']} (log entry {rnd['ledger_index']}): result['answered'] "
                              "is ['make-agriculture-0'] but the log says ['make-agriculture-0', 'neighbourhood-1']")
    if tampered.form != "export":
        code, lines = tampered.check_books()
        assert code == 1 and _has(lines, f"rounds row {rnd['id']}", "result['answered']"), lines


def test_an_edited_plan_variant(tampered: Books) -> None:
    v = m.PlanVariant.__table__
    row = tampered.rows(v, v.c.key == "public")[0]
    data = copy.deepcopy(row["data"])
    data["scale"] = 2 * data["scale"]
    tampered.change(v, v.c.id == row["id"], data=data)
    code, lines = tampered.verify()
    assert code == 1 and _has(lines, f"plan_variants row {row['id']} (log entry {row['ledger_index']}): "
                              "data['scale'] is"), lines


def test_an_edited_ballot(tampered: Books) -> None:
    b = m.Ballot.__table__
    rows = tampered.rows(b)
    target = next(r for r in rows if r["approval"] == ["public"])
    tampered.change(b, b.c.id == target["id"], approval=["invest"])
    code, lines = tampered.verify()
    assert code == 1 and _failed(lines) == 1, lines
    assert _has(lines, f"ballots row {target['id']} (log entry {target['ledger_index']}): approval[0] is 'invest' "
                "but the log says 'public'"), lines


def test_two_ballots_swapped(tampered: Books) -> None:
    b = m.Ballot.__table__
    first, second = sorted(tampered.rows(b), key=lambda r: r["position"])
    tampered.change(b, b.c.id == first["id"], approval=second["approval"], ranking=second["ranking"])
    tampered.change(b, b.c.id == second["id"], approval=first["approval"], ranking=first["ranking"])
    code, lines = tampered.verify()
    assert code == 1 and _failed(lines) == 2, lines
    assert _has(lines, f"ballots row {first['id']} (log entry {first['ledger_index']}): approval is",
                "ranking is"), lines


def test_a_removed_receipt(tampered: Books) -> None:
    r = m.VoteReceipt.__table__
    (gone,) = tampered.delete(r, r.c.receipt_hash == min(x["receipt_hash"] for x in tampered.rows(r)))
    code, lines = tampered.verify()
    assert code == 1 and _failed(lines) == 1, lines
    assert _has(lines, f"vote_receipts (receipt_hash '{gone['receipt_hash']}') (log entry {gone['ledger_index']}): "
                "is in the log but missing from the table"), lines


def test_an_edited_tally(tampered: Books) -> None:
    v = m.Vote.__table__
    (vote,) = tampered.rows(v, v.c.cycle_id == tampered.cycle)
    assert vote["tally"]["winner"] == "public"
    tampered.change(v, v.c.id == vote["id"], tally={**vote["tally"], "winner": "invest"})
    code, lines = tampered.verify()
    assert code == 1 and _failed(lines) == 1
    assert _has(lines, f"votes row {vote['id']} (log entry {vote['ledger_index']}): tally['winner'] is 'invest' but "
                "the log says 'public'"), lines
    if tampered.form != "export":
        code, lines = tampered.check_books()
        assert code == 1 and _has(lines, f"votes row {vote['id']}", "tally['winner']"), lines


def test_edited_vote_rules(tampered: Books) -> None:
    v = m.Vote.__table__
    (vote,) = tampered.rows(v, v.c.cycle_id == tampered.cycle)
    tampered.change(v, v.c.id == vote["id"], rules={**vote["rules"], "decides": "approval"})
    code, lines = tampered.verify()
    assert code == 1 and _has(lines, f"votes row {vote['id']} (log entry ", "rules['decides'] is 'approval' but "
                              "the log says 'schulze'"), lines


def test_a_swapped_economy(tampered: Books) -> None:
    c = m.Cycle.__table__
    (cycle,) = tampered.rows(c, c.c.id == tampered.cycle)
    tampered.change(c, c.c.id == cycle["id"], economy=cycle["economy"] + b"\0")
    code, lines = tampered.verify()
    assert code == 1 and _has(lines, f"cycles row {cycle['id']} (log entry ", "economy_sha256 is"), lines


def test_a_proposal_with_no_entry(tampered: Books) -> None:
    """A proposal row nobody published: noted while it could still be on its way, a failure after."""
    p = m.Proposal.__table__
    model = tampered.rows(p, p.c.id == _proposal_of(tampered, "neighbourhood-1"))[0]
    fresh = {k: v for k, v in model.items() if k not in ("id", "ledger_index", "leaf_hash", "idempotency_key")}
    new_id = tampered.add(p, **{**fresh, "created_at": utcnow(), "demand": {"fishing": 9.0}})
    code, lines = tampered.verify()
    assert code == 0, lines
    assert _has(lines, f"note: proposals row {new_id}: not in the log yet (committed ", "not counted as a problem")
    tampered.change(p, p.c.id == new_id, created_at=utcnow() - timedelta(hours=2))
    code, lines = tampered.verify()
    assert code == 1 and _failed(lines) == 1, lines
    assert _has(lines, f"proposals row {new_id}: has no log entry (committed 2 h ago; "), lines


def test_a_receipt_not_yet_recorded_is_compared_with_its_entry(tampered: Books) -> None:
    """A crash between the log's append and the row's update: the row is matched to its entry by id."""
    p = m.Proposal.__table__
    pid = _proposal_of(tampered, "neighbourhood-1")
    (row,) = tampered.rows(p, p.c.id == pid)
    tampered.change(p, p.c.id == pid, ledger_index=None, leaf_hash=None)
    code, lines = tampered.verify()
    assert code == 0 and _has(lines, f"note: proposals row {pid} (log entry {row['ledger_index']}): in the log, but "
                              "the entry is not recorded on the row yet"), lines
    tampered.change(p, p.c.id == pid, demand={"fishing": 0.2})
    code, lines = tampered.verify()
    assert code == 1 and _has(lines, f"proposals row {pid} (log entry {row['ledger_index']}): demand['fishing'] is "
                              "0.2 but the log says 0.1"), lines


def test_check_books_runs_recovery_first(tampered: Books) -> None:
    """check-books starts the platform, which records the receipt a crash left unrecorded (the export
    form's platform is the SQLite one behind the export)."""
    p = m.Proposal.__table__
    pid = _proposal_of(tampered, "neighbourhood-1")
    (row,) = tampered.rows(p, p.c.id == pid)
    tampered.change(p, p.c.id == pid, ledger_index=None, leaf_hash=None)
    code, lines = tampered.check_books()
    assert code == 0 and lines[-1] == "ok: every stored row agrees with the public log (0 not yet published)", lines
    (after,) = tampered.rows(p, p.c.id == pid)
    assert (after["ledger_index"], after["leaf_hash"]) == (row["ledger_index"], row["leaf_hash"])


def test_a_restart_after_a_checkpoint_publishes_no_result_for_an_open_round(tmp_path: Path) -> None:
    """A platform starts again over a log it signed (its checkpoints name the key by the signed note's
    key hash: the start-up check once compared it with the SHA-256 key id and refused every restart);
    and recovery publishes closed rounds only: an open round has no result (it once got an empty one)."""
    from glasnost.service.app import create_app

    for backend in make_backend("sqlite", tmp_path):
        app = create_app(backend.settings())
        app.state.platform.accounts.create(*BOARD, board=True)
        with TestClient(app) as client:
            board = bearer(client, *BOARD)
            assert client.post("/api/cycles", json={"name": "open"}, headers=board).status_code == 201
            assert client.get("/api/log").json()["checkpoint"] is not None  # signed
        for _ in range(2):  # two restarts
            with TestClient(create_app(backend.settings())):
                pass
        with Ledger.open(backend.settings().ledger_source(), create=False) as ledger:
            kinds = [e.kind for e in ledger.entries()]
        db = Database(backend.settings())
        with db.read() as s:
            statuses = list(s.scalars(select(m.Round.status)))
        db.dispose()
        assert kinds == ["cycle"] and statuses == ["open"]
