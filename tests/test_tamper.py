"""The tamper suite: each tampering of the log, and of the report tables, as its own test, on a SQLite
log, a PostgreSQL log and an exported log; each is detected with the right entry, span or checkpoint
named (``glasnost verify --key``, ``glasnost control check``, ``glasnost verify --database``).

The log: 12 entries with checkpoints signed after entries 4, 8 and 12 (checkpoints 0, 1, 2). The
tamperer has the database owner's rights (drops the append-only triggers) or the export file, but
not the signing key.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_ledger_store import PG_URL, TIME, Backend, _postgres_available, fill, make_backend
from typer.testing import CliRunner

from glasnost.cli import app
from glasnost.ledger import Ledger, generate_signing_key, leaf_hash, public_key_hex
from glasnost.ledger.checkpoint import Checkpoint

runner = CliRunner()
FORGED = b'{"kind":"plan","payload":{"forged":true}}'


class Log:
    """A built log in one form, and what a tamperer does to it."""

    def __init__(self, form: str, backend: Backend, tmp: Path, key: Any) -> None:
        self.form, self.backend, self.key, self.tmp = form, backend, key, tmp
        with backend.open() as log:
            for _ in range(3):
                fill(log, 4)
                log.checkpoint(key, time=TIME)
            self.checkpoints = log.checkpoints()
            if form == "export":
                self.path = log.export(tmp / "log.jsonl")
        if form != "export":
            backend.sql("DROP TRIGGER " + ("ledger_entries_no_update" if backend.schema is None
                                           else "ledger_entries_append_only ON ledger_entries"))
            backend.sql("DROP TRIGGER " + ("ledger_checkpoints_no_update" if backend.schema is None
                                           else "ledger_checkpoints_append_only ON ledger_checkpoints"))
            if backend.schema is None:
                backend.sql("DROP TRIGGER ledger_entries_no_delete")
                backend.sql("DROP TRIGGER ledger_checkpoints_no_delete")

    # ---- the export's lines
    def _lines(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.path.read_text("utf-8").splitlines()]

    def _write(self, lines: list[dict[str, Any]]) -> None:
        self.path.write_text("".join(json.dumps(x) + "\n" for x in lines), "utf-8")

    # ---- tamperings
    def change_entry(self, i: int, data: bytes, *, rehash: bool) -> None:
        if self.form == "export":
            lines = self._lines()
            lines[1 + i]["entry"] = data.decode()
            if rehash:
                lines[1 + i]["leaf_hash"] = leaf_hash(data).hex()
            self._write(lines)
        elif rehash:
            self.backend.sql("UPDATE ledger_entries SET entry = ?, leaf_hash = ? WHERE idx = ?",
                             (data, leaf_hash(data), i))
        else:
            self.backend.sql("UPDATE ledger_entries SET entry = ? WHERE idx = ?", (data, i))

    def delete_entry(self, i: int) -> None:
        if self.form == "export":
            self._write([x for x in self._lines() if not (x.get("type") == "entry" and x["index"] == i)])
        else:
            self.backend.sql("DELETE FROM ledger_entries WHERE idx = ?", (i,))

    def append_entry(self, data: bytes) -> None:
        """What someone who can write the database (but has no key) appends: a well-formed entry."""
        if self.form == "export":
            lines = self._lines()
            n = lines[0]["tree_size"]
            lines[0]["tree_size"] = n + 1
            lines.insert(1 + n, {"entry": data.decode(), "index": n, "kind": "plan", "leaf_hash": leaf_hash(data).hex(),
                                 "type": "entry"})
            self._write(lines)
        else:
            with self.backend.open() as log:
                log.append("plan", json.loads(data)["payload"])

    def truncate(self, size: int) -> None:
        if self.form == "export":
            lines = self._lines()
            lines[0]["tree_size"] = size
            self._write([x for x in lines if x.get("type") != "entry" or x["index"] < size])
        else:
            self.backend.sql("DELETE FROM ledger_entries WHERE idx >= ?", (size,))
            self.backend.sql("UPDATE ledger_head SET size = ?", (size,))

    def drop_checkpoint(self, seq: int | None = None) -> None:
        if self.form == "export":
            cps = [x for x in self._lines() if x.get("type") == "checkpoint"]
            gone = cps if seq is None else [cps[seq]]
            self._write([x for x in self._lines() if x not in gone])
        elif seq is None:
            self.backend.sql("DELETE FROM ledger_checkpoints")
        else:
            self.backend.sql("DELETE FROM ledger_checkpoints WHERE seq = ?", (seq,))

    def put_checkpoint(self, seq: int, cp: Checkpoint) -> None:
        """Replace checkpoint ``seq`` (an index past the end appends one)."""
        if self.form == "export":
            lines = self._lines()
            where = [k for k, x in enumerate(lines) if x.get("type") == "checkpoint"]
            line = {"type": "checkpoint", **cp.to_json()}
            if seq < len(where):
                lines[where[seq]] = line
            else:
                lines.append(line)
            self._write(lines)
            return
        fields = (cp.tree_size, cp.root_hash, cp.time, cp.key_id, cp.signature, cp.note())
        if self.backend.sql("SELECT seq FROM ledger_checkpoints WHERE seq = ?", (seq,)):
            self.backend.sql("UPDATE ledger_checkpoints SET tree_size = ?, root_hash = ?, time = ?, key_id = ?, "
                             "signature = ?, note = ? WHERE seq = ?", (*fields, seq))
        else:
            self.backend.sql("INSERT INTO ledger_checkpoints (tree_size, root_hash, time, key_id, signature, note, "
                             "seq) VALUES (?, ?, ?, ?, ?, ?, ?)", (*fields, seq))

    # ---- checking
    def args(self) -> list[str]:
        if self.form == "export":
            return [str(self.path)]
        return [str(self.backend.source)] + (["--schema", self.backend.schema] if self.backend.schema else [])

    def verify(self, *extra: str, key: bool = True) -> tuple[int, list[str]]:
        result = runner.invoke(app, ["verify", *self.args(), *(["--key", public_key_hex(self.key)] if key else []),
                                     *extra])
        assert "Traceback" not in result.output
        return result.exit_code, result.output.splitlines()


@pytest.fixture(params=["sqlite", "postgresql", "export"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Log]:
    key = generate_signing_key()
    for backend in make_backend("sqlite" if request.param == "export" else request.param, tmp_path):
        yield Log(request.param, backend, tmp_path, key)


def _has(lines: list[str], start: str, *parts: str) -> bool:
    return any(ln.startswith(start) and all(p in ln for p in parts) for ln in lines)


def test_the_untouched_log_is_ok(log: Log) -> None:
    code, lines = log.verify()
    assert code == 0 and lines[-1].startswith("ok:"), lines


def test_a_changed_entry(log: Log) -> None:
    log.change_entry(5, FORGED, rehash=False)
    code, lines = log.verify()
    assert code == 1 and lines[0].startswith("entry 5: recorded leaf hash"), lines


def test_a_changed_entry_with_its_hash_recomputed(log: Log) -> None:
    log.change_entry(6, FORGED, rehash=True)
    code, lines = log.verify()
    assert code == 1
    assert _has(lines, "checkpoint 1 (size 8", "root recomputed from entries 0..7")
    assert _has(lines, "checkpoint 1", "entries 4..7 differs", "a checkpoint of size 4 still holds")
    assert not _has(lines, "checkpoint 0")


def test_a_deleted_entry(log: Log) -> None:
    log.delete_entry(9)
    code, lines = log.verify()
    assert code == 1 and lines[0] == "entry 9: missing (deleted, or never written)"
    assert _has(lines, "checkpoint 2 (size 12")


def test_an_entry_appended_after_the_last_checkpoint(log: Log) -> None:
    log.append_entry(FORGED)
    code, lines = log.verify()
    assert code == 1 and lines[0].startswith("entries 12..12: not covered by any checkpoint signed by the given key")


def test_the_last_checkpoint_stripped(log: Log) -> None:
    log.drop_checkpoint(2)
    code, lines = log.verify()
    assert code == 1 and lines[0].startswith("entries 8..11: not covered by any checkpoint signed by the given key "
                                             "(the latest covers entries 0..7)"), lines


def test_a_checkpoint_stripped_and_an_entry_rewritten_with_its_hash(log: Log) -> None:
    log.drop_checkpoint(2)
    log.change_entry(10, FORGED, rehash=True)
    code, lines = log.verify()
    assert code == 1 and lines[0].startswith("entries 8..11: not covered")


def test_every_checkpoint_stripped(log: Log) -> None:
    log.drop_checkpoint()
    code, lines = log.verify()
    assert code == 1 and lines[0].startswith("entries 0..11: not covered by any checkpoint signed by the given key")


def test_a_bad_signature(log: Log) -> None:
    cp = log.checkpoints[1]
    log.put_checkpoint(1, Checkpoint(cp.tree_size, cp.root_hash, cp.time, cp.key_id, bytes([cp.signature[0] ^ 1])
                                     + cp.signature[1:], cp.origin))
    code, lines = log.verify()
    assert code == 1 and _has(lines, f"checkpoint 1 (size 8, {TIME}): signature does not verify")


def test_a_changed_time(log: Log) -> None:
    cp = log.checkpoints[2]
    log.put_checkpoint(2, Checkpoint(cp.tree_size, cp.root_hash, "2024-01-01T00:00:00Z", cp.key_id, cp.signature,
                                     cp.origin))
    code, lines = log.verify()
    assert code == 1 and _has(lines, "checkpoint 2 (size 12, 2024-01-01T00:00:00Z): signature does not verify")


def test_a_replayed_checkpoint(log: Log) -> None:
    log.put_checkpoint(3, log.checkpoints[0])
    code, lines = log.verify()
    assert code == 1 and _has(lines, "checkpoint 3 (size 4): the log shrank: checkpoint 2 had size 12")


def test_the_whole_log_re_signed_with_another_key(log: Log) -> None:
    forger = generate_signing_key()
    log.change_entry(3, b'{"kind":"plan-variant","payload":{"forged":true}}', rehash=True)  # a careful forger
    with Ledger.open(log.tmp / "scratch.sqlite") as scratch:  # the forger's roots over the forged entries
        fill(scratch, 3)
        scratch.append("plan-variant", {"forged": True})
        fill(scratch, 4)  # the log was written as three fills of 4: these are the same entries
        fill(scratch, 4)
        roots = {n: scratch.root(n) for n in (4, 8, 12)}
    for seq, size in enumerate((4, 8, 12)):
        log.put_checkpoint(seq, Checkpoint.sign(size, roots[size], forger, TIME, origin=log.checkpoints[0].origin))
    code, lines = log.verify()
    assert code == 1
    assert _has(lines, f"checkpoint 0 (size 4, {TIME}): signed by key", "not by the given key")
    assert _has(lines, "entries 0..11: not covered by any checkpoint signed by the given key")
    code, lines = log.verify(key=False)  # without the key: consistent, but never "ok"
    assert code == 3 and lines[-1].startswith("UNAUTHENTICATED"), lines


def test_one_checkpoint_re_signed_is_flagged_even_without_a_key(log: Log) -> None:
    cp = log.checkpoints[1]
    log.put_checkpoint(1, Checkpoint.sign(cp.tree_size, cp.root_hash, generate_signing_key(), TIME, origin=cp.origin))
    code, lines = log.verify(key=False)
    assert code == 1 and _has(lines, "checkpoint 1: signed by key", "the signing key changed")
    assert _has(lines, "checkpoint 2: signed by key", "the signing key changed")


def test_a_truncated_log_is_caught_by_a_checkpoint_held_from_earlier(log: Log) -> None:
    held = log.tmp / "held.json"
    held.write_text(json.dumps(log.checkpoints[2].to_json()))
    log.truncate(8)
    log.drop_checkpoint(2)
    code, lines = log.verify()
    assert code == 0  # the log alone cannot show it lost its end: what is left is covered and signed
    code, lines = log.verify("--checkpoint", str(held))
    assert code == 1 and _has(lines, f"checkpoint file held.json (size 12, {TIME}): covers 12 entries but only "
                                     "entries 0..7 can be read")


def test_two_entries_swapped(log: Log) -> None:
    data = {}
    with Ledger.open(log.tmp / "copy.sqlite") as copy:
        fill(copy, 12)
        data = {i: copy.entry(i).data for i in (1, 2)}
    log.change_entry(1, data[2], rehash=True)
    log.change_entry(2, data[1], rehash=True)
    code, lines = log.verify()
    assert code == 1 and _has(lines, "checkpoint 0 (size 4", "root recomputed from entries 0..3")
    assert _has(lines, "checkpoint 0", "entries 0..3 differs")


# ---- the report tables, bound to the log ------------------------------------------------------------

REPORTS = """kind,period,workplace,product,quantity,counterparty
output,1,mill,flour,100,
delivery,1,mill,flour,80,bakery
receipt,1,bakery,flour,75,mill
output,1,bakery,bread,100,
output,2,mill,flour,90,
output,2,bakery,bread,95,
"""
MORE = """kind,period,workplace,product,quantity
output,3,mill,flour,91
output,3,farm,grain,300
"""


class Platform:
    """A platform database with two imported batches, its log, and raw SQL on its tables."""

    def __init__(self, form: str, tmp: Path) -> None:
        self.form, self.tmp = form, tmp
        if form == "postgresql":
            self.schema = f"glasnost_tamper_{uuid.uuid4().hex[:12]}"
            self.db = ["-d", PG_URL, "--schema", self.schema]
            self.log_args = [PG_URL, "--schema", self.schema]
        else:
            self.schema = None
            self.db = ["-d", str(tmp / "p.sqlite")]
            self.log_args = [str(tmp / "p-log.sqlite")]
        for name, text in (("r.csv", REPORTS), ("more.csv", MORE)):
            (tmp / name).write_text(text)
            r = runner.invoke(app, ["control", "import", str(tmp / name), *self.db])
            assert r.exit_code == 0, r.output
        self.pub = public_key_hex_of(tmp / "p-key.pub" if form != "postgresql" else Path("glasnost-service-key.pub"))
        if form == "export":
            with Ledger.open(tmp / "p-log.sqlite") as ledger:
                self.log_args = [str(ledger.export(tmp / "p-log.jsonl"))]

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return Backend(self.tmp / "p.sqlite" if self.schema is None else PG_URL, self.schema).sql(statement, params)

    def check(self) -> tuple[int, list[str]]:
        r = runner.invoke(app, ["control", "check", *self.db, "--json"])
        assert "Traceback" not in r.output
        return r.exit_code, r.output.splitlines()

    def verify(self) -> tuple[int, list[str]]:
        r = runner.invoke(app, ["verify", *self.log_args, "--key", self.pub, "--database",
                                self.db[1]])
        assert "Traceback" not in r.output
        return r.exit_code, r.output.splitlines()


def public_key_hex_of(path: Path) -> str:
    return path.read_text().strip()


@pytest.fixture(params=["sqlite", "postgresql", "export"])
def platform(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    monkeypatch.chdir(tmp_path)  # a PostgreSQL platform keeps its key in the working directory
    if request.param == "postgresql":
        reason = _postgres_available()
        if reason:  # pragma: no cover
            pytest.skip(reason)
    p = Platform(request.param, tmp_path)
    yield p
    if p.schema is not None:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{p.schema}" CASCADE')


def test_untouched_tables_agree_with_the_log(platform: Platform) -> None:
    code, lines = platform.check()
    assert code == 0 and json.loads(lines[-1])["lines"] == 8
    code, lines = platform.verify()
    assert code == 0, lines


def test_an_edited_report_line(platform: Platform) -> None:
    (row_id, entry), = platform.sql("SELECT id, log_index FROM control_lines WHERE kind = 'receipt'")
    platform.sql("UPDATE control_lines SET quantity = 80 WHERE id = ?", (row_id,))
    expected = f"control_lines row {row_id} (log entry {entry}): quantity is 80.0 but the log says 75"
    code, lines = platform.check()
    assert code == 1 and expected in lines and "nothing was computed" in lines[-1], lines
    code, lines = platform.verify()
    assert code == 1 and _has(lines, f"control_lines row {row_id} (log entry {entry}): quantity is 80.0"), lines


def test_a_re_pointed_report_row(platform: Platform) -> None:
    rows = platform.sql("SELECT id, log_index FROM control_reports ORDER BY id")
    (first, a), (_, b) = rows[0], rows[1]
    platform.sql("UPDATE control_reports SET log_index = ? WHERE id = ?", (b, first))
    code, lines = platform.check()
    assert code == 1
    assert _has(lines, f"control_reports row {first} (log entry {b}): ", "but the log says")
    assert _has(lines, f"control_reports (its row) (log entry {a}): is in the log but missing from the table")
    code, lines = platform.verify()
    assert code == 1 and _has(lines, f"control_reports row {first} (log entry {b})")


def test_a_deleted_batch(platform: Platform) -> None:
    platform.sql("DELETE FROM control_lines WHERE batch_id = 2")
    code, lines = platform.check()
    missing = [ln for ln in lines if "control_lines (line " in ln and "is in the log but missing from the table" in ln]
    assert code == 1 and len(missing) == 2, lines  # both lines of the second batch, each named
    assert _has(lines, "control_lines (line 3) (log entry ", "product 'grain'", "quantity 300")
    code, lines = platform.verify()
    assert code == 1 and sum("missing from the table" in ln for ln in lines) == 2


def test_a_row_with_no_entry(platform: Platform) -> None:
    platform.sql("INSERT INTO control_lines (batch_id, line, kind, period, workplace, product, variant, grade, "
                 "quantity, counterparty) VALUES (1, 99, 'output', 1, 'ghost', 'flour', '', '', 500, '')")
    code, lines = platform.check()
    assert code == 1 and _has(lines, "control_lines row ", ": has no log entry")
