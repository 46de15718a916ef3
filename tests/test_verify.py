"""``glasnost verify``: a sound log passes; tampering, bad signatures, forks and false receipts are named."""

from __future__ import annotations

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
    cp["signature"] = ("00" if cp["signature"][:2] != "00" else "11") + cp["signature"][2:]
    lines[-1] = json.dumps(cp)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    result = run(str(path), "--key", public_key_hex(key))
    assert result.exit_code == 1
    assert "checkpoint 0 (size 4, 2025-03-01T12:00:00Z): signature does not verify" in result.output
    unchecked = run(str(path))
    assert unchecked.exit_code == 0  # without a key the signature is not checked, and a note says so
    assert "signatures were not checked" in unchecked.output


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
