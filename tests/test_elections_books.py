"""Elections bound to the public log (issue 18): after an election and a recall the books check clean;
a count, a ballot, a receipt, a term's holder or a recall's outcome changed in the database after
the close is named by ``Platform.check_books()``, ``glasnost admin check-books`` and ``glasnost
verify --database`` (table, row, what differs), and putting the row back makes the books agree
again. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from election_support import WORKPLACE, elect, members
from fastapi.testclient import TestClient
from service_support import BOARD, bearer, make_backend
from sqlalchemy import delete, insert, select, update
from typer.testing import CliRunner

from glasnost.cli import app as cli
from glasnost.service.elections import models as e


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from make_backend(request.param, tmp_path)


def _differences(p: Any) -> list[str]:
    return [str(f) for f in p.check_books(grace=0) if not getattr(f, "pending", False)]


def _run(backend: Any) -> tuple[TestClient, dict[str, int]]:
    """A delegates election (two seats of three candidates) and a recall of one winner that passes."""
    from glasnost.service.app import create_app

    client = TestClient(create_app(backend.settings(jobs=False)))
    client.__enter__()
    client.app.state.platform.accounts.create(*BOARD, board=True)
    board = bearer(client, *BOARD)
    cycle = client.post("/api/cycles", json={"name": "books"}, headers=board).json()["id"]
    people = members(client, board, cycle, WORKPLACE, [f"m{i}" for i in range(10)])
    r = client.post(f"/api/cycles/{cycle}/elections", json={"council": WORKPLACE, "post": "delegates", "seats": 2},
                    headers=board)
    election = r.json()["id"]
    for name in ("m0", "m1", "m2"):
        client.post(f"/api/elections/{election}/candidates", json={}, headers=people[name])
    tally = elect(client, board, election, [["m0"]] * 5 + [["m1"]] * 3 + [["m2"]] * 2, people)
    assert tally["elected"] == ["m0", "m1"]
    holders = client.get(f"/api/cycles/{cycle}/elections").json()["councils"][0]["holders"]
    term = next(h["term"] for h in holders if h["holder"] == "m1")
    client.post(f"/api/terms/{term}/signatures", headers=people["m5"])
    vote = client.post(f"/api/terms/{term}/signatures", headers=people["m6"]).json()["election"]
    for name, answer in [("m2", "yes"), ("m3", "yes"), ("m4", "no")]:
        client.post(f"/api/elections/{vote}/ballots", json={"choice": [answer]}, headers=people[name])
    assert client.post(f"/api/elections/{vote}/close", headers=board).json()["passed"]
    return client, {"election": election, "vote": vote, "term": term}


def test_an_election_and_a_recall_keep_the_books_and_every_tampering_is_named(backend: Any, tmp_path: Path) -> None:
    client, ids = _run(backend)
    p = client.app.state.platform
    election, vote, term = ids["election"], ids["vote"], ids["term"]
    assert _differences(p) == []
    with p.db.read() as s:
        row = s.get(e.Election, election)
        tally = dict(row.tally)
        ballot = s.execute(select(e.ElectionBallot.__table__).where(e.ElectionBallot.election_id == election,
                                                                    e.ElectionBallot.position == 3)).one()._asdict()
        receipt = s.scalar(select(e.ElectionReceipt.receipt_hash).where(e.ElectionReceipt.election_id == election))
        recall_tally = dict(s.get(e.Election, vote).tally)
        holder = s.get(e.Term, term).account_id
    petition_where = e.RecallPetition.election_id == vote
    cases: list[tuple[Any, ...]] = [
        (  # the elected list swapped for the runner-up
            lambda s: s.execute(update(e.Election).where(e.Election.id == election)
                                .values(tally={**tally, "elected": ["m0", "m2"]})),
            lambda s: s.execute(update(e.Election).where(e.Election.id == election).values(tally=tally)),
            [f"elections row {election}", "tally['elected'][1] is 'm2' but the log says 'm1'"],
        ),
        (  # one candidate's approvals
            lambda s: s.execute(update(e.Election).where(e.Election.id == election).values(
                tally={**tally, "approvals": {**tally["approvals"], "m2": 9}})),
            lambda s: s.execute(update(e.Election).where(e.Election.id == election).values(tally=tally)),
            [f"elections row {election}", "tally['approvals']['m2'] is 9 but the log says 2"],
        ),
        (  # a published ballot deleted
            lambda s: s.execute(delete(e.ElectionBallot).where(e.ElectionBallot.id == ballot["id"])),
            lambda s: s.execute(insert(e.ElectionBallot).values(**ballot)),
            ["election_ballots (position 3)", "is in the log but missing from the table",
             f"choice {ballot['choice']!r}"],
        ),
        (  # a ballot changed
            lambda s: s.execute(update(e.ElectionBallot).where(e.ElectionBallot.id == ballot["id"])
                                .values(choice=["m2"] if ballot["choice"] != ["m2"] else ["m0"])),
            lambda s: s.execute(update(e.ElectionBallot).where(e.ElectionBallot.id == ballot["id"])
                                .values(choice=ballot["choice"])),
            [f"election_ballots row {ballot['id']}", "choice[0] is"],
        ),
        (  # a receipt deleted
            lambda s: s.execute(delete(e.ElectionReceipt).where(e.ElectionReceipt.receipt_hash == receipt)),
            lambda s: s.execute(insert(e.ElectionReceipt).values(receipt_hash=receipt, election_id=election)),
            ["election_receipts", f"receipt_hash {receipt!r}", "missing from the table"],
        ),
        (  # the recalled term given to another member
            lambda s: s.execute(update(e.Term).where(e.Term.id == term)
                                .values(account_id=p.accounts.account_id("m9"))),
            lambda s: s.execute(update(e.Term).where(e.Term.id == term).values(account_id=holder)),
            [f"terms row {term}", "is not in its log entry (holder 'm9')"],
            ["terms (holder 'm1')", "is in the log but missing from the table"],
        ),
        (  # the recall's outcome
            lambda s: s.execute(update(e.RecallPetition).where(petition_where).values(status="failed")),
            lambda s: s.execute(update(e.RecallPetition).where(petition_where).values(status="passed")),
            ["recall_petitions row", "status is 'failed' but the log says 'passed'"],
        ),
        (
            lambda s: s.execute(update(e.Election).where(e.Election.id == vote)
                                .values(tally={**recall_tally, "yes": 1, "passed": False})),
            lambda s: s.execute(update(e.Election).where(e.Election.id == vote).values(tally=recall_tally)),
            [f"elections row {vote}", "tally['yes'] is 1 but the log says 2",
             "tally['passed'] is False but the log says True"],
        ),
    ]
    for tamper, restore, *lines in cases:  # each list of words: one difference found says them all
        with p.db.write() as s:
            tamper(s)
        found = _differences(p)
        assert len(found) == len(lines), (lines, found)
        for words in lines:
            assert any(all(w in f for w in words) for f in found), (words, found)
        with p.db.write() as s:
            restore(s)
        assert _differences(p) == [], lines
    # the command lines name it too: check-books (a platform of its own on the same database and
    # log) and verify --database (the log checked against its signing key, then the tables)
    public_key = client.get("/api/log").json()["public_key"]
    with p.db.write() as s:
        s.execute(delete(e.ElectionBallot).where(e.ElectionBallot.id == ballot["id"]))
    client.__exit__(None, None, None)
    source = backend.settings().ledger_source()
    log_args = [source, "--schema", backend.schema] if backend.schema else [source]
    r = CliRunner().invoke(cli, ["verify", *log_args, "--key", public_key, "--database", backend.url])
    assert r.exit_code != 0 and "Traceback" not in r.output, r.output
    assert any("election_ballots (position 3)" in line and "missing from the table" in line
               for line in r.output.splitlines()), r.output
    secret = str(backend.directory / "master-secret")
    args = ["admin", "check-books", "--database", backend.url, "--secret-file", secret]
    if backend.schema:
        args += ["--schema", backend.schema]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code != 0 and "Traceback" not in r.output, r.output
    assert any("election_ballots (position 3)" in line and "missing from the table" in line
               for line in r.output.splitlines()), r.output
