"""``glasnost verify``: a sound log passes; tampering, bad signatures, forks and false receipts are named."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_ledger_store import TIME, Backend, fill, make_backend
from typer.testing import CliRunner

from glasnost.cli import app
from glasnost.ledger import (
    Ledger,
    generate_signing_key,
    load_signing_key,
    public_key_hex,
    verify_log,
    write_keypair,
)

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path)


@pytest.fixture
def key():
    return generate_signing_key()


def build(backend: Backend, key, n: int = 12, every: int = 4) -> list:
    """A log of ``n`` entries with a checkpoint after every ``every`` entries."""
    receipts = []
    with backend.open() as log:
        for start in range(0, n, every):
            receipts += fill(log, min(every, n - start))
            log.checkpoint(key, time=TIME)
    return receipts


def source_args(backend: Backend) -> list[str]:
    return [str(backend.source)] + (["--schema", backend.schema] if backend.schema else [])


def run(*args: str):
    return runner.invoke(app, ["verify", *args])


def test_a_sound_log_passes(backend: Backend, key, tmp_path: Path) -> None:
    receipts = build(backend, key)
    receipt_file = receipts[5].write(tmp_path / "r5.json")
    result = run(
        *source_args(backend),
        "--key",
        public_key_hex(key),
        "--receipt",
        str(receipt_file),
        "--receipt",
        receipts[0].leaf_hash.hex(),
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("ok:")
    assert "12 entries, 3 checkpoints, 2 receipts" in result.output


def test_a_changed_row_is_named(backend: Backend, key) -> None:
    build(backend, key)
    backend.drop_guards()
    backend.sql("UPDATE ledger_entries SET entry = ? WHERE idx = 5", (b'{"kind":"round-result","payload":{"n":500}}',))
    report = verify_log(backend.source, public_key=key.public_key(), schema=backend.schema)
    assert not report.ok
    assert report.problems[0].index == 5
    assert str(report.problems[0]).startswith("entry 5: recorded leaf hash")
    # the checkpoints after the change fail, the one before still holds and bounds the range
    text = "\n".join(map(str, report.problems))
    assert "checkpoint 0" not in text
    assert "checkpoint 1 (size 8" in text and "entries 4..7 differs" in text
    result = run(*source_args(backend), "--key", public_key_hex(key))
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("entry 5: ")


def test_a_change_with_a_recomputed_leaf_hash_is_caught_by_the_checkpoints(backend: Backend, key) -> None:
    build(backend, key)
    backend.drop_guards()
    forged = b'{"kind":"round-result","payload":{"n":500}}'
    backend.sql(
        "UPDATE ledger_entries SET entry = ?, leaf_hash = ? WHERE idx = 6",
        (forged, hashlib.sha256(b"\x00" + forged).digest()),
    )
    report = verify_log(backend.source, public_key=key.public_key(), schema=backend.schema)
    lines = [str(p) for p in report.problems]
    assert any(ln.startswith("checkpoint 1 (size 8") and "root recomputed" in ln for ln in lines)
    assert any("entries 4..7 differs" in ln for ln in lines)
    assert not any(ln.startswith("checkpoint 0") for ln in lines)


def test_a_deleted_row_is_named(backend: Backend, key) -> None:
    build(backend, key)
    backend.drop_guards()
    backend.sql("DELETE FROM ledger_entries WHERE idx = 9")
    result = run(*source_args(backend), "--key", public_key_hex(key))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "entry 9: missing (deleted, or never written)"
    assert any(ln.startswith("checkpoint 2 (size 12") for ln in lines)
    assert lines[-1].startswith("FAILED")


def test_a_tampered_export_line_is_named(key, tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "log.sqlite") as log:
        fill(log, 7)
        log.checkpoint(key, time=TIME)
        path = log.export(tmp_path / "log.jsonl")
    lines = path.read_text("utf-8").splitlines()
    line = json.loads(lines[3 + 1])
    line["entry"] = line["entry"].replace('"n":3', '"n":33')
    lines[4] = json.dumps(line)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    result = run(str(path), "--key", public_key_hex(key))
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("entry 3: recorded leaf hash")


def test_signatures_are_checked_against_the_given_key(backend: Backend, key, tmp_path: Path) -> None:
    build(backend, key, n=4, every=4)
    other = generate_signing_key()
    priv, pub = write_keypair(other, tmp_path / "other.key")
    assert public_key_hex(load_signing_key(priv)) == public_key_hex(other) == pub.read_text().strip()
    result = run(*source_args(backend), "--key", str(pub))
    assert result.exit_code == 1
    assert "checkpoint 0 (size 4, 2025-03-01T12:00:00Z): signed by key" in result.output
    with backend.open() as log:
        path = log.export(tmp_path / "log.jsonl")
    lines = path.read_text("utf-8").splitlines()
    cp = json.loads(lines[-1])
    body, sig_line = cp["note"].split("\n\n")
    name, sig = sig_line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 1  # one bit of the Ed25519 signature (after the 4-byte key hash)
    cp["note"] = f"{body}\n\n{name} {base64.b64encode(bytes(raw)).decode()}\n"
    cp["signature"] = bytes(raw[4:]).hex()  # a careful tamperer keeps the fields beside the note in step
    lines[-1] = json.dumps(cp)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    result = run(str(path), "--key", public_key_hex(key))
    assert result.exit_code == 1
    assert "checkpoint 0 (size 4, 2025-03-01T12:00:00Z): signature does not verify" in result.output
    unchecked = run(str(path))
    assert unchecked.exit_code == 3  # without a key the signature is not checked: unauthenticated, never "ok"
    assert "signatures were not checked" in unchecked.output
    assert unchecked.output.splitlines()[-1].startswith("UNAUTHENTICATED:")


def test_receipts_must_be_in_the_log(backend: Backend, key, tmp_path: Path) -> None:
    receipts = build(backend, key, n=10, every=8)
    with backend.open() as log:
        proof = log.inclusion_proof(receipts[3])
        good = proof.write(tmp_path / "proof.json")
        bad_obj = proof.to_json()
        bad_obj["path"][0] = "00" * 32
        (tmp_path / "bad.json").write_text(json.dumps(bad_obj))
    stranger = hashlib.sha256(b"\x00not in the log").hexdigest()
    result = run(*source_args(backend), "--key", public_key_hex(key), "--receipt", str(good))
    assert result.exit_code == 0, result.output
    result = run(*source_args(backend), "--receipt", stranger, "--receipt", str(tmp_path / "bad.json"))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"receipt {stranger[:16]}...: no entry of the log has leaf hash {stranger[:16]}..." in lines
    assert "receipt bad.json: its inclusion proof of entry 3 in a tree of 10 does not verify" in lines


def test_a_held_checkpoint_of_a_forked_log_is_reported(key, tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "a.sqlite") as a, Ledger.open(tmp_path / "b.sqlite") as b:
        fill(a, 6)
        fill(b, 5)
        b.append("plan", {"other": True})
        held_a = a.checkpoint(key, time=TIME)
        held_b = b.checkpoint(key, time=TIME)
        fill(a, 3)
        a.checkpoint(key, time=TIME)
    (tmp_path / "cp_a.json").write_text(json.dumps(held_a.to_json()))
    (tmp_path / "cp_b.json").write_text(json.dumps(held_b.to_json()))
    ok = run(str(tmp_path / "a.sqlite"), "--key", public_key_hex(key), "--checkpoint", str(tmp_path / "cp_a.json"))
    assert ok.exit_code == 0, ok.output
    fork = run(str(tmp_path / "a.sqlite"), "--key", public_key_hex(key), "--checkpoint", str(tmp_path / "cp_b.json"))
    assert fork.exit_code == 1
    assert fork.output.splitlines()[0].startswith("checkpoint file cp_b.json (size 6, 2025-03-01T12:00:00Z): root")


def test_unreadable_sources_are_one_line_errors(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nothing.jsonl"))
    assert result.exit_code == 1
    assert "no such log file" in result.output
    (tmp_path / "x.jsonl").write_text('{"hello": 1}\n')
    result = run(str(tmp_path / "x.jsonl"))
    assert result.exit_code == 1
    assert "not a glasnost-log export" in result.output


# ---- coverage is part of validity ------------------------------------------------------------


def test_an_entry_appended_after_the_last_checkpoint_is_named(backend: Backend, key) -> None:
    build(backend, key)
    with backend.open() as log:
        log.append("plan", {"forged": True})  # whoever can write the database, without the key
    result = run(*source_args(backend), "--key", public_key_hex(key))
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("entries 12..12: not covered by any checkpoint signed by the given")
    assert result.output.splitlines()[-1].startswith("FAILED")


def test_a_stripped_checkpoint_leaves_its_entries_uncovered(backend: Backend, key) -> None:
    build(backend, key)
    backend.sql("DROP TRIGGER " + ("ledger_checkpoints_no_delete" if backend.schema is None
                                   else "ledger_checkpoints_append_only ON ledger_checkpoints"))
    backend.sql("DELETE FROM ledger_checkpoints WHERE seq = 2")
    report = verify_log(backend.source, public_key=key.public_key(), schema=backend.schema)
    assert [str(p) for p in report.problems] == [
        "entries 8..11: not covered by any checkpoint signed by the given key (the latest covers entries 0..7): "
        "they could have been appended or rewritten by anyone"
    ]
    backend.sql("DELETE FROM ledger_checkpoints")
    report = verify_log(backend.source, public_key=key.public_key(), schema=backend.schema)
    assert str(report.problems[0]).startswith("entries 0..11: not covered by any checkpoint signed by the given key")


def test_without_a_key_a_change_of_signing_key_is_flagged(key, tmp_path: Path) -> None:
    other = generate_signing_key()
    with Ledger.open(tmp_path / "log.sqlite") as log:
        fill(log, 4)
        log.checkpoint(key, time=TIME)
        fill(log, 4)
        log.checkpoint(other, time=TIME)
    result = run(str(tmp_path / "log.sqlite"))
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("checkpoint 1: signed by key ")
    assert "the signing key changed" in result.output
    both = run(str(tmp_path / "log.sqlite"), "--key", public_key_hex(key), "--key", public_key_hex(other))
    assert both.exit_code == 0, both.output  # a rotation between two keys the verifier trusts
    assert "both keys were given: a rotation" in both.output


def test_an_empty_or_truncated_file_is_named(key, tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    result = run(str(tmp_path / "empty.jsonl"), "--key", public_key_hex(key))
    assert result.exit_code == 1
    assert f"{tmp_path / 'empty.jsonl'}: the file is empty" in result.output
    with Ledger.open(tmp_path / "log.sqlite") as log:
        fill(log, 300)
        log.checkpoint(key, time=TIME)
    data = (tmp_path / "log.sqlite").read_bytes()
    (tmp_path / "cut.sqlite").write_bytes(data[: len(data) // 3])
    result = run(str(tmp_path / "cut.sqlite"), "--key", public_key_hex(key))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"{tmp_path / 'cut.sqlite'}" in result.output and "damaged or truncated" in result.output


def test_an_empty_log_with_a_key_is_not_ok(key, tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "log.sqlite") as log:
        path = log.export(tmp_path / "log.jsonl")
    result = run(str(path), "--key", public_key_hex(key))
    assert result.exit_code == 1
    assert "the log: has no checkpoint signed by the given key" in result.output


def test_control_import_signs_with_a_key_it_creates_and_receipts_verify(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("kind,period,workplace,product,quantity,counterparty\n"
                                    "output,1,mill,flour,120,\ndelivery,1,mill,flour,120,bakery\n"
                                    "receipt,1,bakery,flour,60,mill\n")
    db = str(tmp_path / "p.sqlite")
    r = runner.invoke(app, ["control", "import", str(tmp_path / "r.csv"), "-d", db,
                            "--receipts", str(tmp_path / "receipts.jsonl")])
    assert r.exit_code == 0, r.output
    public = (tmp_path / "p-key.pub").read_text().strip()
    assert f"its public key, which anyone checks the log with (glasnost verify --key), is {public}" in r.output
    result = run(str(tmp_path / "p-log.sqlite"), "--key", str(tmp_path / "p-key.pub"),
                 "--receipt", str(tmp_path / "receipts.jsonl"))
    assert result.exit_code == 0, result.output
    assert "3 entries, 1 checkpoints, 2 receipts" in result.output
    # a second import signs with the same key, and says nothing about creating one
    (tmp_path / "r2.csv").write_text("kind,period,workplace,product,quantity\noutput,2,mill,flour,100\n")
    r = runner.invoke(app, ["control", "import", str(tmp_path / "r2.csv"), "-d", db])
    assert r.exit_code == 0 and "created the log's signing key" not in r.output
    assert run(str(tmp_path / "p-log.sqlite"), "--key", public).exit_code == 0
    lines = (tmp_path / "receipts.jsonl").read_text().splitlines()
    lines[1] = json.dumps({**json.loads(lines[1]), "leaf_hash": "0" * 64})
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    result = run(str(tmp_path / "p-log.sqlite"), "--key", public, "--receipt", str(tmp_path / "bad.jsonl"))
    assert result.exit_code == 1
    assert "receipt bad.jsonl line 2: entry 1 should have leaf hash 0000000000000000..." in result.output
