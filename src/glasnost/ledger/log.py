"""The public log: an append-only list of entries under a Merkle tree, with signed checkpoints.

An entry is the canonical JSON (:mod:`glasnost.ledger.canonical`) of the object
``{"kind": <kind>, "payload": <any JSON value>}``, and for an entry that corrects or answers an
earlier one, also ``"refers_to": {"index": <earlier index>, "leaf_hash": <its leaf hash, hex>}``.
Its leaf in the tree is ``SHA-256(0x00 || entry bytes)`` (RFC 9162). Nothing is ever edited: a
correction is a new entry that refers to the old one.

The ledger knows nothing of planning: a kind is any short lower-case name
(``proposal``, ``round-result``, ``plan``, ``vote-receipt``, ...) and a payload any JSON value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from glasnost.ledger.canonical import canonical_json, parse_canonical
from glasnost.ledger.checkpoint import Checkpoint
from glasnost.ledger.errors import LedgerError, ProofError
from glasnost.ledger.merkle import MerkleTree, leaf_hash, verify_inclusion
from glasnost.ledger.store import Store, open_store

__all__ = ["EXPORT_FORMAT", "KIND_PATTERN", "Entry", "InclusionProof", "Ledger", "Receipt", "entry_bytes"]

KIND_PATTERN = re.compile(r"[a-z][a-z0-9._-]{0,63}")
EXPORT_FORMAT = "glasnost-log"


def entry_bytes(kind: str, payload: Any, refers_to: tuple[int, bytes] | None = None) -> bytes:
    """The canonical bytes of an entry (what its leaf hash is taken over).

    Parameters
    ----------
    kind
        Lower-case name matching ``[a-z][a-z0-9._-]{0,63}``.
    payload
        Any value :func:`canonical_json` accepts.
    refers_to
        ``(index, leaf hash)`` of the earlier entry this one corrects or answers.
    """
    if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
        raise LedgerError(f"entry kind {kind!r} is not a lower-case name of at most 64 characters ([a-z][a-z0-9._-]*)")
    obj: dict[str, Any] = {"kind": kind, "payload": payload}
    if refers_to is not None:
        obj["refers_to"] = {"index": refers_to[0], "leaf_hash": refers_to[1].hex()}
    return canonical_json(obj)


@dataclass(frozen=True)
class Receipt:
    """What an author keeps after appending: the entry's index and leaf hash.

    With a later checkpoint, :meth:`Ledger.inclusion_proof` proves the entry is in the log.
    """

    index: int
    leaf_hash: bytes
    kind: str

    def to_json(self) -> dict[str, Any]:
        """``{"index", "kind", "leaf_hash"}`` (hash in hex)."""
        return {"index": self.index, "kind": self.kind, "leaf_hash": self.leaf_hash.hex()}

    def write(self, path: str | Path) -> Path:
        """Write the receipt as a JSON file (what ``glasnost verify --receipt`` reads)."""
        path = Path(path)
        path.write_bytes(canonical_json(self.to_json()) + b"\n")
        return path


@dataclass(frozen=True)
class InclusionProof:
    """An RFC 9162 inclusion proof of one entry in the tree of a checkpoint.

    Attributes
    ----------
    index, leaf_hash
        The entry.
    tree_size, root_hash
        The tree it is proven in.
    path
        The audit path, leaf to root.
    checkpoint
        The signed checkpoint of that tree, if the proof was made against one.
    """

    index: int
    leaf_hash: bytes
    tree_size: int
    root_hash: bytes
    path: tuple[bytes, ...]
    checkpoint: Checkpoint | None = None

    def verify(self) -> bool:
        """RFC 9162 2.1.3.2 over this proof (and the checkpoint's root agrees, if there is one)."""
        if self.checkpoint is not None and (
            self.checkpoint.root_hash != self.root_hash or self.checkpoint.tree_size != self.tree_size
        ):
            return False
        return verify_inclusion(self.leaf_hash, self.index, self.tree_size, self.path, self.root_hash)

    def to_json(self) -> dict[str, Any]:
        """A receipt file with its proof (``glasnost verify --receipt`` reads it)."""
        obj: dict[str, Any] = {
            "index": self.index,
            "leaf_hash": self.leaf_hash.hex(),
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "path": [p.hex() for p in self.path],
        }
        if self.checkpoint is not None:
            obj["checkpoint"] = self.checkpoint.to_json()
        return obj

    def write(self, path: str | Path) -> Path:
        """Write :meth:`to_json` as a file."""
        path = Path(path)
        path.write_bytes(canonical_json(self.to_json()) + b"\n")
        return path


@dataclass(frozen=True)
class Entry:
    """One entry of the log as stored."""

    index: int
    kind: str
    payload: Any
    data: bytes
    leaf_hash: bytes
    refers_to: int | None = field(default=None)


class Ledger:
    """An append-only public log in SQLite or PostgreSQL. Open with :meth:`open`.

    Examples
    --------
    >>> from glasnost.ledger import Ledger, generate_signing_key
    >>> with Ledger.open(tmp_path / "log.sqlite") as log:  # doctest: +SKIP
    ...     receipt = log.append("proposal", {"council": "w1", "offer": {"steel": 3.5}})
    ...     cp = log.checkpoint(generate_signing_key())
    ...     log.export(tmp_path / "log.jsonl")
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._tree = MerkleTree()
        size = self._store.size()
        self._sync_from(self._store.leaf_hashes(0, size), size)

    @classmethod
    def open(cls, source: str | Path, *, schema: str | None = None, create: bool = True) -> Ledger:
        """Open the log at a SQLite file path or a ``postgresql://`` URL, creating it if needed.

        Parameters
        ----------
        source
            A file path (SQLite, WAL mode) or a PostgreSQL URL.
        schema
            PostgreSQL only: a schema to keep the tables in (created if missing).
        create
            If False, a missing log is an error instead of being created.
        """
        return cls(open_store(source, schema=schema, create=create))

    @property
    def where(self) -> str:
        """The file or URL of the log."""
        return self._store.where

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        self._store.close()

    # ---- reading --------------------------------------------------------------------------

    def _sync_from(self, rows: Sequence[tuple[int, bytes]], size: int) -> None:
        for idx, h in rows:
            if idx >= size:
                break
            if idx != len(self._tree):
                raise LedgerError("missing from the database", where=f"{self.where}: entry {len(self._tree)}")
            self._tree.append_hash(h)
        if len(self._tree) != size:
            raise LedgerError("missing from the database", where=f"{self.where}: entry {len(self._tree)}")

    def _catch_up(self, size: int, cur: Any = None) -> None:
        if size > len(self._tree):
            self._sync_from(self._store.leaf_hashes(len(self._tree), size, cur), size)

    @property
    def appends_in_one_statement(self) -> bool:
        """True when the store appends in one statement (PostgreSQL), which a writer in the same
        database can also call in its own transaction (:data:`~glasnost.ledger.store.PG_APPEND_CALL`)."""
        return self._store.appends_in_one_statement

    @property
    def size(self) -> int:
        """Number of entries."""
        size = self._store.size()
        self._catch_up(size)
        return size

    def __len__(self) -> int:
        return self.size

    def entry(self, index: int) -> Entry:
        """The entry at ``index``."""
        rows = self._store.rows(index, index + 1) if index >= 0 else []
        if not rows:
            raise LedgerError(f"no such entry (the log has {self.size})", where=f"entry {index}")
        return self._entry(rows[0])

    def entries(self, start: int = 0, stop: int | None = None, *, batch: int = 10_000) -> Iterator[Entry]:
        """The entries ``start <= index < stop`` in order, read in batches."""
        stop = self.size if stop is None else stop
        for lo in range(start, stop, batch):
            for row in self._store.rows(lo, min(lo + batch, stop)):
                yield self._entry(row)

    def _entry(self, row: tuple[int, str, bytes, bytes]) -> Entry:
        idx, _kind, data, h = row
        obj = parse_canonical(data, where=f"entry {idx}")
        refers = obj.get("refers_to")
        return Entry(idx, obj["kind"], obj["payload"], data, h, None if refers is None else int(refers["index"]))

    def find(self, leaf_hash: bytes) -> int | None:
        """The index of the first entry with this leaf hash (a receipt), or None."""
        self.size  # noqa: B018 (catch up with entries appended elsewhere)
        try:
            return self._tree.levels[0].index(leaf_hash)
        except ValueError:
            return None

    def root(self, size: int | None = None) -> bytes:
        """The Merkle tree hash of the first ``size`` entries (all by default)."""
        current = self.size
        return self._tree.root(current if size is None else size)

    # ---- appending ------------------------------------------------------------------------

    def append(self, kind: str, payload: Any, *, refers_to: int | None = None) -> Receipt:
        """Append one entry in its own transaction.

        Parameters
        ----------
        kind
            Lower-case name (``proposal``, ``plan``, ``correction``, ...).
        payload
            Any canonical-JSON value (see :mod:`glasnost.ledger.canonical`).
        refers_to
            Index of an earlier entry this one corrects or answers.

        Returns
        -------
        Receipt
            The new entry's index and leaf hash.
        """
        return self.append_many([(kind, payload, refers_to)])[0]

    def correct(self, index: int, payload: Any, *, kind: str = "correction") -> Receipt:
        """Append a correction of entry ``index``: a new entry referring to it (the old one stays)."""
        return self.append(kind, payload, refers_to=index)

    def append_many(self, items: Iterable[tuple[str, Any] | tuple[str, Any, int | None]]) -> list[Receipt]:
        """Append several entries in one transaction: all of them or, on any error, none.

        Parameters
        ----------
        items
            ``(kind, payload)`` or ``(kind, payload, refers_to)`` tuples.
        """
        items = [(it[0], it[1], it[2] if len(it) > 2 else None) for it in items]  # type: ignore[misc]
        ready: list[bytes] = []
        for n, (kind, payload, _) in enumerate(items):
            try:
                ready.append(entry_bytes(kind, payload))  # refuse bad input before taking the lock
            except LedgerError as exc:
                raise type(exc)(str(exc), where=f"item {n} to append") from None

        if not items:
            return []
        if self._store.appends_in_one_statement and all(refers_to is None for _, _, refers_to in items):
            return self._append_independent([kind for kind, _, _ in items], ready)

        def rows_for(size: int, cur: Any) -> tuple[list[tuple[int, str, bytes, bytes]], list[Receipt]]:
            self._catch_up(size, cur)
            rows: list[tuple[int, str, bytes, bytes]] = []
            hashes: list[bytes] = []
            for n, (kind, payload, refers_to) in enumerate(items):
                idx = size + n
                ref = None
                if refers_to is not None:
                    if not isinstance(refers_to, int) or not 0 <= refers_to < idx:
                        raise LedgerError(
                            f"refers to entry {refers_to}, which is not an earlier entry", where=f"entry {idx}"
                        )
                    ref_hash = self._tree.levels[0][refers_to] if refers_to < size else hashes[refers_to - size]
                    ref = (refers_to, ref_hash)
                data = ready[n] if ref is None else entry_bytes(kind, payload, ref)
                h = leaf_hash(data)
                hashes.append(h)
                rows.append((idx, kind, data, h))
            return rows, [Receipt(r[0], r[3], r[1]) for r in rows]

        receipts: list[Receipt] = self._store.append(rows_for)
        for r in receipts:
            self._tree.append_hash(r.leaf_hash)
        return receipts

    def _append_independent(self, kinds: list[str], entries: list[bytes]) -> list[Receipt]:
        """Entries that refer to no other: their bytes do not depend on where they land, so the store
        places them in one statement. Entries other processes appended before them are read into the
        tree when it is next read (every reader catches up first), not under the head's lock."""
        hashes = [leaf_hash(data) for data in entries]
        start = self._store.append_entries(kinds, entries, hashes)  # type: ignore[attr-defined]
        if start == len(self._tree):
            for h in hashes:
                self._tree.append_hash(h)
        return [Receipt(start + n, h, kind) for n, (kind, h) in enumerate(zip(kinds, hashes, strict=True))]

    # ---- checkpoints and proofs ---------------------------------------------------------------

    def checkpoint(
        self, signing_key: Ed25519PrivateKey, *, time: datetime | str | None = None, origin: str | None = None
    ) -> Checkpoint:
        """Sign and store a checkpoint of the whole log as it is now (a C2SP signed note).

        Before signing, the stored entries are checked against the latest earlier checkpoint, so
        a log whose history was rewritten in the database is not signed over.

        Parameters
        ----------
        signing_key
            The log's Ed25519 key.
        time
            The checkpoint's time (UTC; now by default).
        origin
            The log's origin line. Default: that of the latest checkpoint in the note form, else
            :func:`glasnost.ledger.checkpoint.default_origin` of the key (the origin identifies the
            log; it stays when the key is rotated).
        """
        previous = self.checkpoints()
        if origin is None:
            origin = next((cp.origin for cp in reversed(previous) if cp.origin is not None), None)

        def make(size: int) -> tuple[tuple[Any, ...], Checkpoint]:
            self._catch_up(size)
            if previous:
                last = previous[-1]
                if last.tree_size > size or self._tree.root(last.tree_size) != last.root_hash:
                    raise LedgerError(
                        f"the stored entries no longer match checkpoint {len(previous) - 1} (size {last.tree_size}); "
                        "refusing to sign (run glasnost verify)",
                        where=self.where,
                    )
            cp = Checkpoint.sign(size, self._tree.root(size), signing_key, time, origin=origin)
            return (cp.tree_size, cp.root_hash, cp.time, cp.key_id, cp.signature, cp.note()), cp

        return self._store.add_checkpoint(make)

    def checkpoints(self) -> list[Checkpoint]:
        """Every stored checkpoint, oldest first, with the cosignatures collected for it."""
        cosigned = self._store.cosignatures()
        out = []
        for seq, n, r, t, k, s, note in self._store.checkpoints():
            cp = Checkpoint(n, r, t, k, s) if note is None else Checkpoint.from_note(note, where=f"checkpoint {seq}")
            out.append(cp.with_cosignatures(cosigned.get(seq, [])) if seq in cosigned else cp)
        return out

    def latest_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint, or None."""
        cps = self.checkpoints()
        return cps[-1] if cps else None

    def add_cosignatures(self, checkpoint: Checkpoint, lines: Sequence[str]) -> Checkpoint:
        """Keep witnesses' cosignature lines of one of the log's checkpoints (published with it).

        The lines are stored as given: whoever reads them checks them against the witnesses' keys
        they trust (:meth:`Checkpoint.cosigned_by`).

        Raises
        ------
        LedgerError
            If the log has no checkpoint with this note text.
        """
        rows = self._store.checkpoints()
        seq = next((row[0] for row in rows if row[6] is not None and
                    Checkpoint.from_note(row[6]).body() == checkpoint.body()), None)
        if seq is None:
            raise LedgerError(f"no checkpoint of size {checkpoint.tree_size} with this root here", where=self.where)
        self._store.add_cosignatures(seq, [ln.rstrip("\n") for ln in lines])
        return next(cp for i, cp in enumerate(self.checkpoints()) if rows[i][0] == seq)

    def inclusion_proof(self, entry: int | Receipt, checkpoint: Checkpoint | int | None = None) -> InclusionProof:
        """Prove an entry is in the tree of a checkpoint (the latest by default) or of a tree size.

        Raises
        ------
        ProofError
            If the entry is not covered (its index is not below the tree size).
        """
        index = entry.index if isinstance(entry, Receipt) else entry
        size = self.size
        cp: Checkpoint | None
        if checkpoint is None:
            cp = self.latest_checkpoint()
            if cp is None:
                raise ProofError("no checkpoint yet: sign one with Ledger.checkpoint", where=f"entry {index}")
            tree_size = cp.tree_size
        elif isinstance(checkpoint, Checkpoint):
            cp, tree_size = checkpoint, checkpoint.tree_size
        else:
            cp, tree_size = None, checkpoint
        if tree_size > size:
            raise ProofError(f"tree size {tree_size} is beyond the log's {size} entries")
        path = tuple(self._tree.inclusion_proof(index, tree_size))
        return InclusionProof(index, self._tree.levels[0][index], tree_size, self._tree.root(tree_size), path, cp)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """RFC 9162 consistency proof that the tree of ``first`` entries is a prefix of that of ``second``."""
        size = self.size
        return self._tree.consistency_proof(first, size if second is None else second)

    # ---- export ---------------------------------------------------------------------------

    def export(self, path: str | Path, *, batch: int = 10_000) -> Path:
        """Write the whole log as JSON lines (the format :func:`glasnost.ledger.verify_log` reads).

        The file's lines, each itself canonical JSON:

        1. ``{"format": "glasnost-log", "hash": "sha-256", "tree_size": n, "version": 1}``
        2. one line per entry, by index:
           ``{"entry": <the entry's canonical JSON as a string>, "index": i, "kind": k, "leaf_hash": <hex>,
           "type": "entry"}``; the entry's bytes are exactly the UTF-8 of the ``entry`` string;
        3. one line per checkpoint, oldest first: ``{"type": "checkpoint", "tree_size", "root_hash", "time",
           "key_id", "signature"}`` (hex).

        Entries ``0 .. size-1`` are copied as stored (unchecked), so a damaged database gives a file in
        which ``glasnost verify`` finds the same damage; an entry whose stored bytes are not UTF-8 is
        written with ``"entry_hex"`` instead of ``"entry"``. The file is written to a temporary name and
        renamed.
        """
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        checkpoints = self.checkpoints()  # read before the size, so a concurrent append cannot outrun them
        size = self._store.size()
        with open(tmp, "wb") as fh:
            fh.write(canonical_json({"format": EXPORT_FORMAT, "hash": "sha-256", "tree_size": size, "version": 1}))
            fh.write(b"\n")
            for lo in range(0, size, batch):
                for idx, kind, data, h in self._store.rows(lo, min(lo + batch, size)):
                    line: dict[str, Any] = {"index": idx, "kind": kind, "leaf_hash": h.hex(), "type": "entry"}
                    try:
                        line["entry"] = data.decode("utf-8")
                    except UnicodeDecodeError:  # a damaged row: keep its bytes, as hex
                        line["entry_hex"] = data.hex()
                    fh.write(canonical_json(line))
                    fh.write(b"\n")
            for cp in checkpoints:
                fh.write(canonical_json({"type": "checkpoint", **cp.to_json()}))
                fh.write(b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path
