"""Signed notes (C2SP ``signed-note``) and witness cosignatures (C2SP ``tlog-cosignature``, Ed25519).

A signed note is a text ending in a newline, a blank line, and one or more signature lines
``— <key name> <base64(4-byte key hash || signature)>`` (em dash U+2014, space). The key hash of an
Ed25519 key is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``; the signature is Ed25519 over
the text. A witness cosignature (type ``0x04``) has key hash ``SHA-256(name || 0x0A || 0x04 ||
public key)[:4]`` and signs ``"cosignature/v1\\ntime <T>\\n" || text`` where ``T`` is the POSIX time
of signing, which is sent in front of the signature as 8 bytes, big-endian.

A verifier key ("vkey") is written ``<name>+<key hash, 8 hex digits>+<base64(type || public key)>``,
the form Go's ``golang.org/x/mod/sumdb/note`` and the C2SP witness tools read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from glasnost.ledger.errors import LedgerError

__all__ = [
    "COSIGNATURE",
    "ED25519",
    "NoteSignature",
    "Verifier",
    "cosign",
    "format_vkey",
    "key_hash",
    "load_verifier",
    "parse_note",
    "parse_vkey",
    "sign_line",
    "verify_cosignature",
    "verify_line",
]

ED25519 = 0x01
COSIGNATURE = 0x04
DASH = "\u2014 "
_NAME = re.compile(r"[^\s+]+")
_MAX_SIGNATURES = 64


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(name: str, sig_type: int, public_key: Ed25519PublicKey) -> bytes:
    """``SHA-256(name || 0x0A || type || public key)[:4]``: the key hash a signature line carries."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + _raw(public_key)).digest()[:4]


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise LedgerError(f"key name {name!r} must be non-empty, without spaces or '+'")


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key hash, and the signature bytes after the hash."""

    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        """The line as written in a note (with its final newline)."""
        return f"{DASH}{self.name} {base64.b64encode(self.key_hash + self.signature).decode('ascii')}\n"


@dataclass(frozen=True)
class Verifier:
    """A key that verifies note signatures: its name, type (0x01 log, 0x04 witness) and public key."""

    name: str
    sig_type: int
    public_key: Ed25519PublicKey

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.sig_type, self.public_key)

    def vkey(self) -> str:
        """The ``name+hash+base64`` form (see :func:`format_vkey`)."""
        return format_vkey(self.name, self.sig_type, self.public_key)

    def matches(self, sig: NoteSignature) -> bool:
        """True when the signature line names this key (name and key hash), whether or not it verifies."""
        return sig.name == self.name and sig.key_hash == self.key_hash


def format_vkey(name: str, sig_type: int, public_key: Ed25519PublicKey) -> str:
    """``<name>+<key hash hex>+<base64(type || public key)>``."""
    _check_name(name)
    data = base64.b64encode(bytes([sig_type]) + _raw(public_key)).decode("ascii")
    return f"{name}+{key_hash(name, sig_type, public_key).hex()}+{data}"


def parse_vkey(text: str) -> Verifier:
    """Read a verifier key ``name+hash+base64(type || key)`` (types 0x01 and 0x04, Ed25519).

    Raises
    ------
    LedgerError
        Naming what is wrong: the form, the type, or a key hash that does not match the key.
    """
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise LedgerError(f"not a verifier key name+hash+key ({text[:60]!r})")
    name, hash_hex, data = parts
    try:
        _check_name(name)
        claimed = bytes.fromhex(hash_hex)
        raw = base64.b64decode(data, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise LedgerError(f"not a verifier key ({exc})", where=name) from None
    if len(claimed) != 4 or len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE):
        raise LedgerError("not an Ed25519 verifier key (type 0x01 or 0x04, 32-byte key, 4-byte hash)", where=name)
    verifier = Verifier(name, raw[0], Ed25519PublicKey.from_public_bytes(raw[1:]))
    if verifier.key_hash != claimed:
        raise LedgerError(f"key hash {hash_hex} does not match the key (it is {verifier.key_hash.hex()})", where=name)
    return verifier


def load_verifier(source: str | Path) -> Verifier:
    """A verifier key given as text or as a file holding it."""
    text = str(source)
    path = Path(text)
    if "+" not in text or (path.exists() and path.is_file()):
        try:
            text = path.read_text("utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise LedgerError(f"cannot read a verifier key ({exc})", where=str(source)) from None
    return parse_vkey(text)


def parse_note(text: str, *, where: str | None = None) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text (with the final newline) and its signature lines.

    Raises
    ------
    LedgerError
        If the note is not valid UTF-8 text of the signed-note form.
    """
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise LedgerError("a signed note may hold no control characters but newlines", where=where)
    if not text.endswith("\n"):
        raise LedgerError("a signed note ends with a newline", where=where)
    cut = text.rfind("\n\n")
    if cut < 0:
        raise LedgerError("no blank line between the note's text and its signatures", where=where)
    body, lines = text[: cut + 1], text[cut + 2 :].splitlines()
    if not lines or len(lines) > _MAX_SIGNATURES:
        raise LedgerError(f"a signed note has 1..{_MAX_SIGNATURES} signature lines, not {len(lines)}", where=where)
    signatures = []
    for n, line in enumerate(lines, start=1):
        if not line.startswith(DASH):
            raise LedgerError(f"signature line {n} does not start with an em dash and a space", where=where)
        name, _, data = line[len(DASH) :].rpartition(" ")
        try:
            _check_name(name)
            raw = base64.b64decode(data, validate=True)
        except (LedgerError, ValueError, binascii.Error) as exc:
            raise LedgerError(f"signature line {n} is malformed ({exc})", where=where) from None
        if len(raw) < 5:
            raise LedgerError(f"signature line {n} is too short", where=where)
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return body, signatures


def sign_line(body: str, name: str, key: Ed25519PrivateKey) -> NoteSignature:
    """An Ed25519 (type 0x01) signature of a note's text by ``key`` under ``name``."""
    _check_name(name)
    return NoteSignature(name, key_hash(name, ED25519, key.public_key()), key.sign(body.encode("utf-8")))


def verify_line(body: str, sig: NoteSignature, public_key: Ed25519PublicKey) -> bool:
    """True when ``sig`` is an Ed25519 (type 0x01) signature of ``body`` by ``public_key`` under its name."""
    if sig.key_hash != key_hash(sig.name, ED25519, public_key) or len(sig.signature) != 64:
        return False
    try:
        public_key.verify(sig.signature, body.encode("utf-8"))
    except InvalidSignature:
        return False
    return True


def _cosigned_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode("ascii") + body.encode("utf-8")


def cosign(body: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> NoteSignature:
    """A ``cosignature/v1`` (type 0x04) of a checkpoint's text by a witness, at POSIX time ``timestamp``."""
    _check_name(name)
    if not 0 <= timestamp < 2**63:
        raise LedgerError(f"timestamp {timestamp} is outside 0..2**63-1")
    signature = key.sign(_cosigned_message(body, timestamp))
    return NoteSignature(name, key_hash(name, COSIGNATURE, key.public_key()), struct.pack(">Q", timestamp) + signature)


def verify_cosignature(body: str, sig: NoteSignature, witness: Verifier) -> int | None:
    """The cosignature's timestamp when ``sig`` is ``witness``'s valid cosignature of ``body``, else None."""
    if witness.sig_type != COSIGNATURE or not witness.matches(sig) or len(sig.signature) != 72:
        return None
    (timestamp,) = struct.unpack(">Q", sig.signature[:8])
    if timestamp >= 2**63:
        return None
    try:
        witness.public_key.verify(sig.signature[8:], _cosigned_message(body, timestamp))
    except InvalidSignature:
        return None
    return timestamp
