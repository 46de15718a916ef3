"""Checkpoints as C2SP signed notes: checked against other implementations' published vectors, a
from-scratch reading of the spec text, and a log written in the old storage format.

Vectors (copied here with their provenance, so the tests need nothing outside the repository):

* ``golang.org/x/mod/sumdb/note`` (Go's signed-note implementation), ``note.go`` package example and
  ``note_test.go``: the signer key ``PRIVATE+KEY+PeterNeumann+c74f20a3+...``, the verifier key, and the
  signed note it produces. Ed25519 is deterministic, so signing the same text must give the same line.
* A real checkpoint of the Certificate Transparency log ``arche2025h1.staging.ct.transparency.dev``
  with the cosignature of the witness ``remora.n621.de`` (type 0x04, ``cosignature/v1``), as quoted in
  the tests of a Python tlog client (``TestCheckpointVerification``), with the log's and the witness's
  verifier keys as published by their operators.
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import struct
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from glasnost.ledger import Ledger, generate_signing_key, public_key_hex, verify_log
from glasnost.ledger.canonical import canonical_json
from glasnost.ledger.checkpoint import Checkpoint
from glasnost.ledger.errors import LedgerError
from glasnost.ledger.keys import key_id
from glasnost.ledger.merkle import leaf_hash, root_from_leaf_hashes
from glasnost.ledger.note import (
    cosign,
    format_vkey,
    parse_note,
    parse_vkey,
    sign_line,
    verify_cosignature,
    verify_line,
)

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_LINE = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"  # noqa: E501

CT_CHECKPOINT = """arche2025h1.staging.ct.transparency.dev
1432088532
U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=

— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==
— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==
"""  # noqa: E501
CT_LOG_VKEY = "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
TIME = "2025-03-01T12:00:00Z"


def test_go_sumdb_note_vector_is_reproduced_byte_for_byte() -> None:
    raw = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert raw[0] == 1 and len(raw) == 33  # type 0x01, then the Ed25519 seed
    key = Ed25519PrivateKey.from_private_bytes(raw[1:])
    assert sign_line(GO_TEXT, "PeterNeumann", key).line() == GO_LINE
    assert format_vkey("PeterNeumann", 1, key.public_key()) == GO_VKEY
    verifier = parse_vkey(GO_VKEY)
    body, sigs = parse_note(GO_TEXT + "\n" + GO_LINE)
    assert body == GO_TEXT and verify_line(body, sigs[0], verifier.public_key)
    assert not verify_line(body.replace("answer", "Answer"), sigs[0], verifier.public_key)
    with pytest.raises(LedgerError, match="does not match the key"):
        parse_vkey(GO_VKEY.replace("c74f20a3", "c74f20a4"))


def test_a_real_ct_checkpoint_and_a_real_witness_cosignature_verify() -> None:
    body, sigs = parse_note(CT_CHECKPOINT)
    log, witness = parse_vkey(CT_LOG_VKEY), parse_vkey(REMORA_VKEY)
    assert [verify_line(body, s, log.public_key) for s in sigs] == [False, True, False, False, False, False]
    times = [verify_cosignature(body, s, witness) for s in sigs]
    assert times[4] is not None and times[:4] + times[5:] == [None] * 5
    assert times[4] == struct.unpack(">Q", base64.b64decode(sigs[4].line().split()[-1])[4:12])[0]
    forged = body.replace("1432088532", "1432088533")
    assert verify_cosignature(forged, sigs[4], witness) is None and not verify_line(forged, sigs[1], log.public_key)


def _independent_check(note: str, name: str, public: Ed25519PublicKey, sig_type: int) -> tuple[str, bytes]:
    """A reading of the C2SP signed-note and tlog-cosignature texts written from scratch (not glasnost's code):
    split at the last blank line, find the line '— <name> <base64>', check the key ID, verify Ed25519."""
    text, _, sigs = note.rpartition("\n\n")
    text += "\n"
    raw_pub = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id_bytes = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + raw_pub).digest()[:4]
    for line in sigs.splitlines():
        assert line.startswith("\u2014 ")
        who, blob = line[2:].split(" ")
        data = base64.b64decode(blob)
        if who == name and data[:4] == key_id_bytes:
            if sig_type == 1:
                public.verify(data[4:], text.encode())
            else:
                (t,) = struct.unpack(">Q", data[4:12])
                public.verify(data[12:], f"cosignature/v1\ntime {t}\n".encode() + text.encode())
            return text, data
    raise AssertionError(f"no signature line by {name}")


def test_a_glasnost_checkpoint_is_a_c2sp_checkpoint(tmp_path: Path) -> None:
    key, witness = generate_signing_key(), generate_signing_key()
    with Ledger.open(tmp_path / "log.sqlite") as log:
        receipts = [log.append("proposal", {"n": i}) for i in range(5)]
        cp = log.checkpoint(key, time=TIME, origin="planning.example.org/log")
    text, _ = _independent_check(cp.note(), "planning.example.org/log", key.public_key(), 1)
    lines = text.splitlines()
    assert lines[0] == "planning.example.org/log" and lines[1] == "5"
    assert base64.b64decode(lines[2]) == root_from_leaf_hashes([r.leaf_hash for r in receipts])
    assert lines[3] == f"time {TIME}" and len(lines) == 4
    # a witness's cosignature, checked the same way
    line = cosign(cp.body(), "witness.example/w1", witness, 1_700_000_000).line()
    cosigned = cp.note() + line
    _independent_check(cosigned, "witness.example/w1", witness.public_key(), 4)
    assert Checkpoint.from_note(cosigned).cosignatures == (line.rstrip("\n"),)
    with pytest.raises(InvalidSignature):
        _independent_check(cosigned.replace("\n5\n", "\n6\n"), "planning.example.org/log", key.public_key(), 1)


def _format_1_log(path: Path, key: Ed25519PrivateKey, n: int) -> None:
    """A log as glasnost wrote it before storage format 2 (the tables and the v1 checkpoint, by hand)."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE ledger_head (id INTEGER PRIMARY KEY CHECK (id = 0), size BIGINT NOT NULL, "
        "format INTEGER NOT NULL);"
        "CREATE TABLE ledger_entries (idx BIGINT PRIMARY KEY, kind TEXT NOT NULL, entry BLOB NOT NULL, "
        "leaf_hash BLOB NOT NULL);"
        "CREATE TABLE ledger_checkpoints (seq BIGINT PRIMARY KEY, tree_size BIGINT NOT NULL, root_hash BLOB NOT NULL, "
        "time TEXT NOT NULL, key_id TEXT NOT NULL, signature BLOB NOT NULL);"
        "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries BEGIN SELECT RAISE(ABORT, 'no'); END;"
    )
    hashes = []
    for i in range(n):
        data = canonical_json({"kind": "plan", "payload": {"n": i}})
        hashes.append(leaf_hash(data))
        conn.execute("INSERT INTO ledger_entries VALUES (?, 'plan', ?, ?)", (i, data, hashes[-1]))
    root = root_from_leaf_hashes(hashes)
    message = b"glasnost-checkpoint-v1\n" + canonical_json(
        {"key_id": key_id(key), "root_hash": root.hex(), "time": TIME, "tree_size": n})
    conn.execute("INSERT INTO ledger_checkpoints VALUES (0, ?, ?, ?, ?, ?)",
                 (n, root, TIME, key_id(key), key.sign(message)))
    conn.execute("INSERT INTO ledger_head VALUES (0, ?, 1)", (n,))
    conn.commit()
    conn.close()


def test_a_log_in_the_old_storage_format_verifies_and_is_migrated(tmp_path: Path) -> None:
    key = generate_signing_key()
    path = tmp_path / "old.sqlite"
    _format_1_log(path, key, 6)
    report = verify_log(path, public_key=public_key_hex(key))  # read as it is, not migrated
    assert report.ok, [str(p) for p in report.problems]
    assert any("old glasnost-checkpoint-v1 form" in n for n in report.notes)
    assert sqlite3.connect(path).execute("SELECT format FROM ledger_head").fetchone() == (1,)
    with Ledger.open(path) as log:  # opened for writing: migrated
        assert not log.checkpoints()[0].is_note
        log.append("plan", {"n": 6})
        new = log.checkpoint(key, time=TIME)
        assert new.is_note and new.tree_size == 7
    assert sqlite3.connect(path).execute("SELECT format FROM ledger_head").fetchone() == (2,)
    report = verify_log(path, public_key=key.public_key())
    assert report.ok and report.checkpoints == 2, [str(p) for p in report.problems]
    forged_old = generate_signing_key()
    assert not verify_log(path, public_key=forged_old.public_key()).ok
