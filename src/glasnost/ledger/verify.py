"""Check a downloaded log, or a log database, without trusting whoever serves it.

:func:`verify_log` reads an export (JSON lines, see :meth:`glasnost.ledger.Ledger.export`), a SQLite
log file or a PostgreSQL log, and checks

* every entry: its bytes are canonical JSON of ``{"kind", "payload"[, "refers_to"]}``, its recorded
  leaf hash is the hash of its bytes, no index is missing or doubled, a reference points to an
  earlier entry whose leaf hash it names;
* every checkpoint: its root is recomputed from the entries (RFC 9162 ``MTH``), its Ed25519
  signature holds under the given public key, and each checkpoint is consistent with the one before
  (an RFC 9162 consistency proof built from the entries and checked by the RFC's algorithm);
  when a root does not match, the changed entries are narrowed to the range between the last
  checkpoint that still holds and the first that does not;
* checkpoints kept from earlier (files): signature, root at their size, consistency with the log;
* receipts (a leaf hash, or a receipt file from :meth:`Receipt.write` or :meth:`InclusionProof.write`):
  the entry is in the log, covered by a valid checkpoint (RFC 9162 inclusion proof checked by the
  RFC's algorithm), and a proof carried by the receipt file verifies.

Each problem is one line naming the entry, checkpoint, line or receipt. A running server is read
through its public endpoints by :mod:`glasnost.control.remote` and checked by :func:`check_log`.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from glasnost.ledger.canonical import parse_canonical
from glasnost.ledger.checkpoint import Checkpoint
from glasnost.ledger.errors import LedgerError
from glasnost.ledger.keys import key_id, load_public_key
from glasnost.ledger.log import EXPORT_FORMAT, KIND_PATTERN
from glasnost.ledger.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from glasnost.ledger.note import Verifier, load_verifier
from glasnost.ledger.store import is_database_url, open_store

__all__ = [
    "EXIT_CODES",
    "LogContents",
    "Problem",
    "StoredEntry",
    "VerifyReport",
    "check_log",
    "read_export",
    "verify_log",
]

SQLITE_MAGIC = b"SQLite format 3\x00"

EXIT_CODES = {
    0: "ok: every entry, checkpoint and receipt holds, and signed checkpoints (by a given key) cover every entry",
    1: "failed: at least one problem (each named on its own line), or the log could not be read at all",
    3: "unauthenticated: no problem found, but no public key was given, so nothing shows who signed the log",
}
"""Exit codes of ``glasnost verify`` (2 is a mistake in the command line itself)."""


@dataclass(frozen=True)
class Problem:
    """One thing that does not hold: where (an entry, checkpoint, line, receipt) and what."""

    where: str
    message: str
    index: int | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class VerifyReport:
    """The outcome of :func:`verify_log`.

    Attributes
    ----------
    source
        What was checked.
    entries, checkpoints, receipts
        How many of each were checked.
    problems
        Everything that does not hold, in the order found; empty when the log is sound.
    notes
        What was not checked and why (e.g. no public key given).
    authenticated
        True when the checkpoints were checked against keys given by the caller (not by whoever
        serves the log), so that a sound log is also known to be the log those keys signed.
    """

    source: str
    entries: int = 0
    checkpoints: int = 0
    receipts: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    authenticated: bool = False

    @property
    def sound(self) -> bool:
        """True when no problem was found (whether or not signatures could be checked)."""
        return not self.problems

    @property
    def ok(self) -> bool:
        """True when there is no problem and the log was checked against a given key."""
        return not self.problems and self.authenticated

    @property
    def status(self) -> str:
        """``"ok"``, ``"unauthenticated"`` (nothing wrong found, but no key to check who signed) or ``"failed"``."""
        if self.problems:
            return "failed"
        return "ok" if self.authenticated else "unauthenticated"

    @property
    def exit_code(self) -> int:
        """What ``glasnost verify`` exits with: 0 ok, 1 failed, 3 unauthenticated (see :data:`EXIT_CODES`)."""
        return {"ok": 0, "failed": 1, "unauthenticated": 3}[self.status]

    def summary(self) -> str:
        """One line: what was checked and whether it holds."""
        what = f"{self.entries} entries, {self.checkpoints} checkpoints, {self.receipts} receipts"
        if self.status == "ok":
            return f"ok: {self.source}: {what}; everything holds and is covered by signed checkpoints"
        if self.status == "unauthenticated":
            return (
                f"UNAUTHENTICATED: {self.source}: {what}; the entries and roots agree, but no public key was given "
                "(--key), so nothing shows who wrote or signed them"
            )
        return f"FAILED: {self.source}: {what}; {len(self.problems)} problems"


@dataclass
class StoredEntry:
    """One entry as read from wherever the log is kept (unchecked): index, stored kind, bytes, leaf hash."""

    index: int
    kind: str | None
    data: bytes | None
    leaf_hash: bytes | None
    place: str


@dataclass
class LogContents:
    """Everything read from a log, unchecked: recorded size, entries, checkpoints, problems met reading.

    :func:`check_log` checks it; readers for other places (a running server) fill one in.
    """

    where: str
    size: int | None = None
    rows: list[StoredEntry] = field(default_factory=list)
    checkpoints: list[tuple[str, Checkpoint]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


_FIELDS = ("tree_size", "root_hash", "time", "key_id", "signature")


def _short(h: bytes) -> str:
    return h.hex()[:16] + "..."


# ---- reading ----------------------------------------------------------------------------------


def read_export(path: Path) -> LogContents:
    """Read an export file (JSON lines) without checking it (:func:`check_log` checks it)."""
    log = LogContents(str(path))
    if path.stat().st_size == 0:
        raise LedgerError("the file is empty: not a glasnost log (an export has a header line)", where=str(path))
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            place = f"{path.name} line {lineno}"
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                log.problems.append(Problem(place, f"not a JSON line ({exc})"))
                continue
            if lineno == 1:
                if not isinstance(obj, dict) or obj.get("format") != EXPORT_FORMAT or obj.get("version") != 1:
                    raise LedgerError(
                        f"not a {EXPORT_FORMAT} export, version 1 (first line {raw[:80]!r})", where=str(path)
                    )
                size = obj.get("tree_size")
                log.size = size if isinstance(size, int) and size >= 0 else None
                if log.size is None:
                    log.problems.append(Problem(place, f"tree_size {size!r} is not a whole number"))
                continue
            kind = obj.get("type") if isinstance(obj, dict) else None
            if kind == "entry":
                try:
                    index = obj["index"]
                    if not isinstance(index, int) or index < 0:
                        raise ValueError(f"index {index!r} is not a whole number")
                    data = obj["entry"].encode("utf-8") if "entry" in obj else bytes.fromhex(obj["entry_hex"])
                    stored = bytes.fromhex(obj["leaf_hash"])
                except (KeyError, TypeError, ValueError, AttributeError, UnicodeEncodeError) as exc:
                    log.problems.append(Problem(place, f"malformed entry line ({exc})"))
                    continue
                log.rows.append(StoredEntry(index, obj.get("kind"), data, stored, place))
            elif kind == "checkpoint":
                n = sum(1 for _ in log.checkpoints)
                try:
                    cp = Checkpoint.from_json(obj, where=place)
                    log.checkpoints.append((f"checkpoint {n}", cp))
                    if cp.is_note and {k: obj.get(k) for k in _FIELDS} != {k: cp.to_json()[k] for k in _FIELDS}:
                        log.problems.append(Problem(place, "its fields (size, root, time, key, signature) differ from "
                                                           "its signed note"))
                except LedgerError as exc:
                    log.problems.append(Problem(place, str(exc).removeprefix(f"{place}: ")))
            else:
                log.problems.append(Problem(place, f"unknown line type {kind!r}"))
    return log


def _read_database(source: str | Path, schema: str | None) -> LogContents:
    try:
        return _read_store(source, schema)
    except sqlite3.Error as exc:  # a damaged file: the driver's own error, before any transaction
        message = f"not a readable SQLite log ({exc}; the file is damaged or truncated)"
        raise LedgerError(message, where=str(source)) from None


def _read_store(source: str | Path, schema: str | None) -> LogContents:
    store = open_store(source, schema=schema, create=False, read_only=True)
    try:
        log = LogContents(store.where)
        try:
            log.size = store.size()
        except LedgerError as exc:
            log.problems.append(Problem("ledger_head", str(exc)))
        for idx, kind, data, h in store.rows(0, None):
            log.rows.append(StoredEntry(idx, kind, data, h, f"row idx={idx}"))
        expected = 0
        cosigned = store.cosignatures()
        for seq, n, r, t, k, s, note in store.checkpoints():
            while expected < seq:
                log.problems.append(Problem(f"checkpoint {expected}", "missing (row deleted)"))
                expected += 1
            expected = seq + 1
            label = f"checkpoint {seq}"
            if note is None:
                log.checkpoints.append((label, Checkpoint(n, r, t, k, s)))
                continue
            try:
                cp = Checkpoint.from_note(note, where=label)
            except LedgerError as exc:
                log.problems.append(Problem(label, f"its signed note cannot be read ({exc})"))
                continue
            if (cp.tree_size, cp.root_hash, cp.time, cp.key_id, cp.signature) != (n, r, t, k, s):
                log.problems.append(Problem(label, "its columns (size, root, time, key, signature) differ from its "
                                                   "signed note"))
            log.checkpoints.append((label, cp.with_cosignatures(cosigned.get(seq, []))))
    finally:
        store.close()
    return log


def _read(source: str | Path, schema: str | None) -> LogContents:
    if is_database_url(source):
        return _read_database(source, schema)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no such log file: {path}")
    with open(path, "rb") as fh:
        magic = fh.read(len(SQLITE_MAGIC))
    if magic == SQLITE_MAGIC:
        return _read_database(path, schema)
    return read_export(path)


# ---- checking ---------------------------------------------------------------------------------


def _check_entries(log: LogContents, problems: list[Problem]) -> tuple[list[bytes | None], int]:
    """Check each row; return the recomputed leaf hashes by index and the count of entries present."""
    by_index: dict[int, StoredEntry] = {}
    for row in log.rows:
        if row.index in by_index:
            problems.append(
                Problem(f"entry {row.index}", f"appears twice ({by_index[row.index].place} and {row.place})", row.index)
            )
            continue
        by_index[row.index] = row
    top = max(by_index, default=-1) + 1
    expected = log.size if log.size is not None else top
    hashes: list[bytes | None] = [None] * max(expected, top)
    for i in range(len(hashes)):
        row = by_index.get(i)
        if row is None:
            if i < expected:
                problems.append(Problem(f"entry {i}", "missing (deleted, or never written)", i))
            continue
        if i >= expected:
            problems.append(Problem(f"entry {i}", f"beyond the log's recorded size of {expected} entries", i))
        assert row.data is not None
        h = leaf_hash(row.data)
        hashes[i] = h
        if row.leaf_hash is not None and row.leaf_hash != h:
            problems.append(
                Problem(
                    f"entry {i}",
                    f"recorded leaf hash {_short(row.leaf_hash)} but its content hashes to {_short(h)} "
                    "(the entry was changed)",
                    i,
                )
            )
        _check_structure(i, row, hashes, problems)
    return hashes, len(by_index)


def _check_structure(i: int, row: StoredEntry, hashes: list[bytes | None], problems: list[Problem]) -> None:
    where = f"entry {i}"
    try:
        obj = parse_canonical(row.data or b"", where=where)
    except LedgerError as exc:
        problems.append(Problem(where, str(exc).removeprefix(f"{where}: "), i))
        return
    if (
        not isinstance(obj, dict)
        or not {"kind", "payload"} <= obj.keys()
        or not obj.keys()
        <= {
            "kind",
            "payload",
            "refers_to",
        }
    ):
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        problems.append(Problem(where, f"is not an object with kind, payload and optional refers_to ({keys})", i))
        return
    kind = obj["kind"]
    if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
        problems.append(Problem(where, f"kind {kind!r} is not a valid kind name", i))
    elif row.kind is not None and row.kind != kind:
        problems.append(Problem(where, f"stored kind {row.kind!r} differs from the entry's kind {kind!r}", i))
    if "refers_to" in obj:
        ref = obj["refers_to"]
        try:
            j = ref["index"]
            named = bytes.fromhex(ref["leaf_hash"])
            if not isinstance(j, int) or isinstance(j, bool):
                raise TypeError("index is not a whole number")
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(Problem(where, f"malformed refers_to ({exc})", i))
            return
        if not 0 <= j < i:
            problems.append(Problem(where, f"refers to entry {j}, which is not an earlier entry", i))
        elif hashes[j] is not None and hashes[j] != named:
            problems.append(
                Problem(
                    where,
                    f"refers to entry {j} by leaf hash {_short(named)}, but entry {j} hashes to {_short(hashes[j])}",
                    i,
                )  # type: ignore[arg-type]
            )


Keys = Sequence[Ed25519PublicKey]


def _keys(public_key: Any) -> list[Ed25519PublicKey]:
    """None, one key (any form :func:`load_public_key` reads) or several, as a list of keys."""
    if public_key is None:
        return []
    if isinstance(public_key, list | tuple):
        return [load_public_key(k) for k in public_key]
    return [load_public_key(public_key)]


def _check_checkpoint(
    label: str,
    cp: Checkpoint,
    tree: MerkleTree,
    n_entries: int,
    keys: Keys,
    problems: list[Problem],
) -> tuple[bool, bool]:
    """Signature and root of one checkpoint: (its root matches the entries, it is signed by a given key)."""
    where = f"{label} (size {cp.tree_size}, {cp.time})"
    signed = False
    if keys:
        matching = [k for k in keys if cp.signed_by(k)]
        if not matching:
            named = ", ".join(f"{key_id(k)[:16]}..." for k in keys)
            problems.append(Problem(where, f"signed by key {cp.key_id[:16]}..., not by the given key ({named})"))
        elif not cp.verify_signature(matching[0]):
            problems.append(Problem(where, "signature does not verify against the given public key"))
        else:
            signed = True
    if cp.tree_size > len(tree):
        problems.append(
            Problem(
                where,
                f"covers {cp.tree_size} entries but only entries 0..{len(tree) - 1} can be read "
                f"(entry {len(tree)} is missing; {n_entries} present)",
            )
        )
        return False, signed
    root = tree.root(cp.tree_size)
    if root != cp.root_hash:
        problems.append(
            Problem(
                where,
                f"root recomputed from entries 0..{cp.tree_size - 1} is {_short(root)} but the "
                f"checkpoint says {_short(cp.root_hash)}",
            )
        )
        return False, signed
    return True, signed


def _read_receipts(spec: str) -> list[tuple[str, dict[str, Any]]]:
    """A leaf hash, a receipt file (one JSON object), or JSON lines of receipts (``control import --receipts``)."""
    text = spec.strip()
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text) and not Path(text).exists():
        return [(f"receipt {text[:16]}...", {"leaf_hash": text})]
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"no such receipt file (nor a 64-digit hex leaf hash): {spec}")
    try:
        content = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise LedgerError(f"not a JSON receipt ({exc})", where=str(path)) from None
    try:
        objs = [(f"receipt {path.name}", json.loads(content))]
    except ValueError:  # JSON lines: one receipt per line
        objs = []
        for n, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                objs.append((f"receipt {path.name} line {n}", json.loads(line)))
            except ValueError as exc:
                raise LedgerError(f"line {n} is not a JSON receipt ({exc})", where=str(path)) from None
    if not objs:
        raise LedgerError("the receipt file is empty", where=str(path))
    for label, obj in objs:
        if not isinstance(obj, dict) or "leaf_hash" not in obj:
            raise LedgerError("a receipt needs at least a leaf_hash", where=label.removeprefix("receipt "))
    return objs


def _check_receipt(
    label: str,
    obj: dict[str, Any],
    hashes: list[bytes | None],
    tree: MerkleTree,
    valid: list[Checkpoint],
    keys: Keys,
    problems: list[Problem],
) -> None:
    try:
        leaf = bytes.fromhex(obj["leaf_hash"])
        index = obj.get("index")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise ValueError(f"index {index!r} is not a whole number")
    except (TypeError, ValueError) as exc:
        problems.append(Problem(label, f"malformed receipt ({exc})"))
        return
    if index is None:
        index = next((i for i, h in enumerate(hashes) if h == leaf), None)
        if index is None:
            problems.append(Problem(label, f"no entry of the log has leaf hash {_short(leaf)}"))
            return
    elif index >= len(hashes) or hashes[index] != leaf:
        have = hashes[index] if index < len(hashes) else None
        got = _short(have) if have is not None else "nothing"
        problems.append(
            Problem(label, f"entry {index} should have leaf hash {_short(leaf)} but the log has {got}", index)
        )
        return
    covering = [cp for cp in valid if cp.tree_size > index]
    if not covering:
        kind = "signed checkpoint" if keys else "checkpoint"
        problems.append(Problem(label, f"entry {index} is not covered by any valid {kind}", index))
    else:
        cp = covering[-1]
        proof = tree.inclusion_proof(index, cp.tree_size)
        if not verify_inclusion(leaf, index, cp.tree_size, proof, cp.root_hash):  # pragma: no cover - a bug if so
            problems.append(
                Problem(
                    label,
                    f"inclusion proof of entry {index} in checkpoint of size {cp.tree_size} does not verify",
                    index,
                )
            )
    if "path" in obj:
        try:
            size, root = int(obj["tree_size"]), bytes.fromhex(obj["root_hash"])
            path = [bytes.fromhex(p) for p in obj["path"]]
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(Problem(label, f"malformed inclusion proof ({exc})", index))
            return
        if not verify_inclusion(leaf, index, size, path, root):
            problems.append(
                Problem(label, f"its inclusion proof of entry {index} in a tree of {size} does not verify", index)
            )
        elif size > len(tree) or tree.root(size) != root:
            problems.append(
                Problem(
                    label, f"the tree of {size} entries it was proven in (root {_short(root)}) is not the log's", index
                )
            )
        if "checkpoint" in obj:
            try:
                cp = Checkpoint.from_json(obj["checkpoint"], where=label)
            except LedgerError as exc:
                problems.append(Problem(label, str(exc).removeprefix(f"{label}: "), index))
                return
            if cp.tree_size != size or cp.root_hash != root:
                problems.append(Problem(label, "its checkpoint is not the tree its proof is for", index))
            if keys and not any(cp.signed_by(k) and cp.verify_signature(k) for k in keys):
                problems.append(
                    Problem(label, "its checkpoint's signature does not verify against the given key", index)
                )


def verify_log(
    source: str | Path,
    *,
    public_key: Any = None,
    receipts: list[str] | tuple[str, ...] = (),
    checkpoints: list[str | Path] | tuple[str | Path, ...] = (),
    schema: str | None = None,
    witnesses: Sequence[Any] = (),
    quorum: int | None = None,
) -> VerifyReport:
    """Check a log: entries, checkpoint roots, signatures, coverage, consistency, receipts (see the module).

    Parameters
    ----------
    source
        An export file (JSON lines), a SQLite log file, or a ``postgresql://`` URL.
    public_key
        The log's Ed25519 public key (hex, file, bytes or key), or a list of them (a log whose key
        was rotated). With a key, signed checkpoints must cover every entry; without one,
        signatures cannot be checked and the report is ``unauthenticated`` at best.
    receipts
        Leaf hashes (64 hex digits) or receipt files (one JSON object, or JSON lines) whose
        entries must be in the log.
    checkpoints
        Checkpoint files (JSON, :meth:`Checkpoint.to_json`) kept from earlier: each must be signed,
        match the log at its size, and be consistent with the log's latest checkpoint.
    schema
        PostgreSQL only: the schema the log's tables are in.
    witnesses
        Witnesses' verifier keys (``name+hash+base64``, or files holding one): the latest
        checkpoint must carry valid cosignatures of ``quorum`` of them.
    quorum
        How many of the witnesses must have cosigned (default: all of them).

    Returns
    -------
    VerifyReport
        ``ok`` when everything holds and is covered by checkpoints signed by a given key;
        otherwise one :class:`Problem` per fault.

    Raises
    ------
    FileNotFoundError, LedgerError
        When the source, key, receipt or checkpoint file cannot be read at all (empty, damaged).
    """
    return check_log(_read(source, schema), _keys(public_key), receipts=receipts, checkpoints=checkpoints,
                     witnesses=witnesses, quorum=quorum)


def _check_key_changes(log: LogContents, keys: Keys, report: VerifyReport) -> None:
    """Name every checkpoint whose signing key differs from the one before it."""
    old = [label for label, cp in log.checkpoints if not cp.is_note]
    if old:
        report.notes.append(
            f"{len(old)} checkpoints ({old[0]} .. {old[-1]}) are in the old glasnost-checkpoint-v1 form, from before "
            "the log's storage was migrated; they are checked all the same"
        )
    for (plabel, prev), (label, cp) in itertools.pairwise(log.checkpoints):
        if keys:
            a, b = _key_name(prev, keys), _key_name(cp, keys)
            if a is not None and b is not None and a != b:
                report.notes.append(f"{label}: signed by key {b[:16]}..., {plabel} by key {a[:16]}... (both keys were "
                                    "given: a rotation)")
        elif prev.is_note != cp.is_note:
            report.notes.append(f"{label}: the first checkpoint in the note form; whether its key is that of {plabel} "
                                "cannot be told without --key")
        elif (prev.key_id, prev.origin) != (cp.key_id, cp.origin):
            who = f"key {cp.key_id[:16]}" + (f" as {cp.origin}" if cp.origin else "")
            before = f"key {prev.key_id[:16]}" + (f" as {prev.origin}" if prev.origin else "")
            report.problems.append(
                Problem(label, f"signed by {who}, but {plabel} was signed by {before}: the signing key changed "
                               "(was the log re-signed by someone else?)")
            )


def _key_name(cp: Checkpoint, keys: Keys) -> str | None:
    """The key id of the given key that signed ``cp``, if any."""
    return next((key_id(k) for k in keys if cp.signed_by(k)), None)


def _check_quorum(
    latest: Checkpoint | None, log: LogContents, witnesses: list[Verifier], quorum: int | None, report: VerifyReport
) -> None:
    """The latest valid checkpoint must carry cosignatures of ``quorum`` of the given witnesses."""
    if not witnesses:
        return
    need = len(witnesses) if quorum is None else quorum
    if not 1 <= need <= len(witnesses):
        raise LedgerError(f"a quorum of {need} out of {len(witnesses)} witnesses cannot be met (1..{len(witnesses)})")
    if latest is None:
        report.problems.append(Problem("the log", "no valid checkpoint for witnesses to have cosigned"))
        return
    label = next((lb for lb, cp in log.checkpoints if cp == latest), "the latest checkpoint")
    where = f"{label} (size {latest.tree_size}, {latest.time})"
    if not latest.is_note:
        report.problems.append(Problem(where, "is in the old form, which witnesses do not cosign"))
        return
    cosigned = {w.name for w, _ in latest.cosigned_by(witnesses)}
    if len(cosigned) < need:
        missing = sorted(w.name for w in witnesses if w.name not in cosigned)
        report.problems.append(Problem(
            where,
            f"cosigned by {len(cosigned)} of the given witnesses, {need} needed (not by {', '.join(missing)}): no "
            "quorum of witnesses saw this tree; it may be a view of the log shown to you alone",
            latest.tree_size,
        ))
    else:
        report.notes.append(f"{where}: cosigned by {', '.join(sorted(cosigned))} ({len(cosigned)} of "
                            f"{len(witnesses)}, {need} needed)")


def _check_coverage(n: int, valid: list[Checkpoint], keys: Keys, report: VerifyReport) -> None:
    """With keys, signed checkpoints must cover every entry (and there must be one); else say what is uncovered."""
    covered = max((cp.tree_size for cp in valid), default=None)
    signed = "signed by the given key" if keys else "that holds"
    if covered is None:
        message = (
            f"not covered by any checkpoint {signed}: nothing shows these entries are the ones the log's keeper "
            "signed (a checkpoint was removed, or none was ever signed)"
        )
        where = f"entries 0..{n - 1}" if n else "the log"
        if not n:
            message = f"has no checkpoint {signed}: an empty log proves nothing"
    elif covered < n:
        where = f"entries {covered}..{n - 1}"
        message = (
            f"not covered by any checkpoint {signed} (the latest covers entries 0..{covered - 1}): "
            "they could have been appended or rewritten by anyone"
        )
    else:
        return
    if keys:
        report.problems.append(Problem(where, message, covered or 0))
    elif n:
        report.notes.append(f"{where}: {message}")


def check_log(
    log: LogContents,
    key: Ed25519PublicKey | Keys | None,
    *,
    receipts: list[str] | tuple[str, ...] = (),
    checkpoints: list[str | Path] | tuple[str | Path, ...] = (),
    witnesses: Sequence[Any] = (),
    quorum: int | None = None,
) -> VerifyReport:
    """Check log contents however they were read (see :func:`verify_log`, which reads them from a source).

    ``key`` is None, one public key or a list of them; with keys the report is authenticated.
    """
    keys: list[Ed25519PublicKey] = [] if key is None else list(key) if isinstance(key, list | tuple) else [key]
    report = VerifyReport(log.where, authenticated=bool(keys))
    problems = report.problems
    problems.extend(log.problems)
    hashes, n_entries = _check_entries(log, problems)
    report.entries = n_entries
    tree = MerkleTree()
    for h in hashes:
        if h is None:
            break
        tree.append_hash(h)
    if not keys:
        report.notes.append("checkpoint signatures were not checked: no public key given (--key)")

    held: list[tuple[int, Checkpoint]] = []
    signed: list[Checkpoint] = []
    failed: list[tuple[str, Checkpoint]] = []
    previous: tuple[str, Checkpoint, bool] | None = None
    for label, cp in log.checkpoints:
        ok, by_key = _check_checkpoint(label, cp, tree, n_entries, keys, problems)
        (held.append((cp.tree_size, cp)) if ok else failed.append((label, cp)))
        if ok and by_key:
            signed.append(cp)
        if previous is not None:
            plabel, pcp, pok = previous
            if cp.tree_size < pcp.tree_size:
                problems.append(
                    Problem(f"{label} (size {cp.tree_size})", f"the log shrank: {plabel} had size {pcp.tree_size}")
                )
            elif ok and pok:
                proof = tree.consistency_proof(pcp.tree_size, cp.tree_size)
                if not verify_consistency(pcp.tree_size, cp.tree_size, proof, pcp.root_hash, cp.root_hash):
                    problems.append(Problem(label, f"not consistent with {plabel}"))  # pragma: no cover
        previous = (label, cp, ok)
    report.checkpoints = len(log.checkpoints)
    for label, cp in failed:
        if cp.tree_size > len(tree):
            continue
        below = max((n for n, _ in held if n < cp.tree_size), default=0)
        problems.append(
            Problem(
                label,
                f"so at least one of entries {below}..{cp.tree_size - 1} differs from what was signed"
                + (f" (a checkpoint of size {below} still holds)" if below else ""),
            )
        )
    _check_key_changes(log, keys, report)
    valid = sorted(signed if keys else (cp for _, cp in held), key=lambda c: c.tree_size)
    expected = log.size if log.size is not None else len(hashes)
    _check_coverage(max(expected, len(hashes)), valid, keys, report)

    latest = valid[-1] if valid else None
    _check_quorum(latest, log, [load_verifier(w) if not isinstance(w, Verifier) else w for w in witnesses],
                  quorum, report)
    for spec in checkpoints:
        path = Path(spec)
        try:
            obj = json.loads(path.read_text("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise LedgerError(f"not a JSON checkpoint ({exc})", where=str(path)) from None
        cp = Checkpoint.from_json(obj.get("checkpoint", obj) if isinstance(obj, dict) else obj, where=str(path))
        label = f"checkpoint file {path.name}"
        holds, _ = _check_checkpoint(label, cp, tree, n_entries, keys, problems)
        if holds and latest is not None and cp.tree_size <= latest.tree_size:
            proof = tree.consistency_proof(cp.tree_size, latest.tree_size)
            if not verify_consistency(cp.tree_size, latest.tree_size, proof, cp.root_hash, latest.root_hash):
                problems.append(Problem(label, "not consistent with the latest checkpoint"))  # pragma: no cover
        report.checkpoints += 1

    for spec in receipts:
        for label, obj in _read_receipts(spec):
            _check_receipt(label, obj, hashes, tree, valid, keys, problems)
            report.receipts += 1
    return report
