"""Signed checkpoints: a tree size, its root hash and a time, signed with Ed25519.

A checkpoint is a C2SP ``tlog-checkpoint``: a signed note (C2SP ``signed-note``) whose text is

.. code-block:: text

    <origin>
    <tree size, decimal>
    <root hash, base64>
    time <RFC 3339 UTC, YYYY-MM-DDTHH:MM:SSZ>

followed by a blank line and the log's signature line ``— <origin> base64(key hash || Ed25519
signature of the text)``, then any witnesses' cosignature lines (C2SP ``tlog-cosignature``). The
fourth line is an extension line (the form allows them): it keeps the checkpoint's time signed.
Existing transparency tools (Go's ``sumdb/note``, ``transparency-dev/formats``, the C2SP witnesses)
read and verify it.

Logs written before this form have checkpoints of the old form (``origin`` is None): the signed
message is ``b"glasnost-checkpoint-v1\\n"`` followed by the canonical JSON of
``{"key_id", "root_hash", "time", "tree_size"}``; they are still read and checked.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from glasnost.ledger.canonical import canonical_json
from glasnost.ledger.errors import LedgerError
from glasnost.ledger.keys import key_id as key_id_of
from glasnost.ledger.note import (
    ED25519,
    NoteSignature,
    Verifier,
    key_hash,
    parse_note,
    sign_line,
    verify_cosignature,
    verify_line,
)

__all__ = ["DOMAIN", "Checkpoint", "default_origin", "format_time"]

_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")

DOMAIN = b"glasnost-checkpoint-v1\n"


def format_time(when: datetime | str | None = None) -> str:
    """RFC 3339 UTC time to the second (``2025-01-31T12:00:00Z``); now if ``when`` is None."""
    if isinstance(when, str):
        try:
            parsed = datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise LedgerError(f"time {when!r} is not of the form YYYY-MM-DDTHH:MM:SSZ") from None
        return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")
    when = datetime.now(UTC) if when is None else when
    if when.tzinfo is None:
        raise LedgerError("a checkpoint time needs a time zone (use UTC)")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_origin(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The origin line of a log that was given none: ``glasnost.log/`` and the first 16 hex digits of its key id."""
    return f"glasnost.log/{key_id_of(key)[:16]}"


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the log had ``tree_size`` entries with root ``root_hash`` at ``time``.

    Attributes
    ----------
    tree_size
        Number of entries covered.
    root_hash
        ``MTH`` of those entries (32 bytes).
    time
        RFC 3339 UTC, to the second.
    key_id
        Which key signed: the note key hash (8 hex digits) in the note form; SHA-256 of the raw
        public key (64 hex digits) in the old form.
    signature
        Ed25519 signature (64 bytes) of :meth:`message`.
    origin
        The log's origin line (the note form), or None for the old form.
    cosignatures
        Witnesses' cosignature lines (``— <name> <base64>``, without the newline), as collected.
    """

    tree_size: int
    root_hash: bytes
    time: str
    key_id: str
    signature: bytes
    origin: str | None = None
    cosignatures: tuple[str, ...] = ()

    @classmethod
    def sign(
        cls,
        tree_size: int,
        root_hash: bytes,
        key: Ed25519PrivateKey,
        time: datetime | str | None = None,
        *,
        origin: str | None = None,
    ) -> Checkpoint:
        """Sign a tree head with ``key`` as a signed note with origin ``origin`` (default: :func:`default_origin`)."""
        origin = default_origin(key) if origin is None else origin
        unsigned = cls(tree_size, root_hash, format_time(time), "", b"", origin)
        line = sign_line(unsigned.body(), origin, key)
        return replace(unsigned, key_id=line.key_hash.hex(), signature=line.signature)

    @property
    def is_note(self) -> bool:
        """True for the C2SP note form, False for the old glasnost-checkpoint-v1 form."""
        return self.origin is not None

    def body(self) -> str:
        """The note's text (what the log signs and witnesses cosign); note form only."""
        if self.origin is None:
            raise LedgerError("an old-form checkpoint has no note text")
        root = base64.b64encode(self.root_hash).decode("ascii")
        return f"{self.origin}\n{self.tree_size}\n{root}\ntime {self.time}\n"

    def message(self) -> bytes:
        """The exact bytes that are signed."""
        if self.origin is not None:
            return self.body().encode("utf-8")
        return DOMAIN + canonical_json(
            {"key_id": self.key_id, "root_hash": self.root_hash.hex(), "time": self.time, "tree_size": self.tree_size}
        )

    def log_signature(self) -> NoteSignature:
        """The log's own signature line (note form)."""
        return NoteSignature(self.origin or "", bytes.fromhex(self.key_id), self.signature)

    def note(self, *, cosigned: bool = True) -> str:
        """The whole signed note: text, blank line, the log's signature and (by default) the cosignatures."""
        lines = self.log_signature().line() + "".join(c + "\n" for c in (self.cosignatures if cosigned else ()))
        return self.body() + "\n" + lines

    def signed_by(self, public_key: Ed25519PublicKey) -> bool:
        """True when the checkpoint names ``public_key`` as its signer (whether or not the signature holds)."""
        if self.origin is not None:
            return self.key_id == key_hash(self.origin, ED25519, public_key).hex()
        return self.key_id == key_id_of(public_key)

    def verify_signature(self, public_key: Ed25519PublicKey) -> bool:
        """True when the signature is ``public_key``'s over :meth:`message`."""
        if self.origin is not None:
            return verify_line(self.body(), self.log_signature(), public_key)
        try:
            public_key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True

    def with_cosignatures(self, lines: list[str] | tuple[str, ...]) -> Checkpoint:
        """The same checkpoint with these cosignature lines added (each once)."""
        kept = list(self.cosignatures)
        kept += [ln.rstrip("\n") for ln in lines if ln.rstrip("\n") not in kept]
        return replace(self, cosignatures=tuple(kept))

    def cosigned_by(self, witnesses: list[Verifier] | tuple[Verifier, ...]) -> list[tuple[Verifier, int]]:
        """The given witnesses whose valid cosignature the checkpoint carries, each with its time (POSIX)."""
        if self.origin is None or not self.cosignatures:
            return []
        sigs = []
        for line in self.cosignatures:  # one by one: a malformed line (anyone may post one) spoils no other
            try:
                sigs += parse_note(self.body() + "\n" + line + "\n")[1]
            except LedgerError:
                continue
        found: list[tuple[Verifier, int]] = []
        for w in witnesses:
            times = [t for t in (verify_cosignature(self.body(), s, w) for s in sigs) if t is not None]
            if times:
                found.append((w, max(times)))
        return found

    @classmethod
    def from_note(cls, text: str, *, where: str | None = None) -> Checkpoint:
        """Read a checkpoint in the note form (as :meth:`note` writes it); raise naming ``where`` if malformed.

        The first signature line named after the origin is the log's; the other lines are kept as
        cosignatures.
        """
        body, sigs = parse_note(text, where=where)
        lines = body[:-1].split("\n")
        if len(lines) < 3 or not all(lines):
            raise LedgerError("a checkpoint's text is at least three non-empty lines", where=where)
        origin, size_text, root_text, *extensions = lines
        if not _SIZE.fullmatch(size_text):
            raise LedgerError(f"tree size {size_text!r} is not a decimal number without leading zeros", where=where)
        try:
            root = base64.b64decode(root_text, validate=True)
        except (ValueError, binascii.Error):
            root = b""
        if len(root) != 32:
            raise LedgerError(f"root hash {root_text!r} is not the base64 of 32 bytes", where=where)
        times = [e.removeprefix("time ") for e in extensions if e.startswith("time ")]
        if len(times) != 1 or len(extensions) != 1:
            raise LedgerError("a glasnost checkpoint has one extension line, 'time YYYY-MM-DDTHH:MM:SSZ'", where=where)
        own = next((s for s in sigs if s.name == origin), None)
        if own is None:
            raise LedgerError(f"no signature line by the log ({origin})", where=where)
        cp = cls(int(size_text), root, format_time(times[0]), own.key_hash.hex(), own.signature, origin)
        if cp.body() != body:
            raise LedgerError("the checkpoint's text is not in its one written form", where=where)
        others = tuple(s.line().rstrip("\n") for s in sigs if s is not own)
        return replace(cp, cosignatures=others)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (hashes and signature as hex; in the note form also the note itself)."""
        obj: dict[str, Any] = {
            "key_id": self.key_id,
            "root_hash": self.root_hash.hex(),
            "signature": self.signature.hex(),
            "time": self.time,
            "tree_size": self.tree_size,
        }
        if self.origin is not None:
            obj["origin"] = self.origin
            obj["note"] = self.note()
        return obj

    @classmethod
    def from_json(cls, obj: Any, *, where: str | None = None) -> Checkpoint:
        """Read :meth:`to_json`'s form (the note, when there is one, is what counts); raise
        :class:`LedgerError` naming ``where`` if malformed."""
        if isinstance(obj, dict) and "note" in obj:
            if not isinstance(obj["note"], str):
                raise LedgerError("malformed checkpoint (note is not text)", where=where)
            return cls.from_note(obj["note"], where=where)
        try:
            size = obj["tree_size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError(f"tree_size {size!r} is not a whole number >= 0")
            root = bytes.fromhex(obj["root_hash"])
            if len(root) != 32:
                raise ValueError("root_hash is not 32 bytes")
            signature = bytes.fromhex(obj["signature"])
            return cls(size, root, format_time(str(obj["time"])), str(obj["key_id"]), signature)
        except (KeyError, TypeError, ValueError, LedgerError) as exc:
            raise LedgerError(f"malformed checkpoint ({exc})", where=where) from None
