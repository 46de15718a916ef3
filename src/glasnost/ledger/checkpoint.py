"""Signed checkpoints: a tree size, its root hash and a time, signed with Ed25519.

The signed message is ``b"glasnost-checkpoint-v1\\n"`` followed by the canonical JSON (see
:mod:`glasnost.ledger.canonical`) of the object
``{"key_id": <hex>, "root_hash": <hex>, "time": <RFC 3339 UTC, "YYYY-MM-DDTHH:MM:SSZ">, "tree_size": <int>}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from glasnost.ledger.canonical import canonical_json
from glasnost.ledger.errors import LedgerError
from glasnost.ledger.keys import key_id as key_id_of

__all__ = ["DOMAIN", "Checkpoint", "format_time"]

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
        SHA-256 of the signer's raw public key, hex.
    signature
        Ed25519 signature (64 bytes) of :meth:`message`.
    """

    tree_size: int
    root_hash: bytes
    time: str
    key_id: str
    signature: bytes

    @classmethod
    def sign(
        cls, tree_size: int, root_hash: bytes, key: Ed25519PrivateKey, time: datetime | str | None = None
    ) -> Checkpoint:
        """Sign a tree head with ``key``."""
        unsigned = cls(tree_size, root_hash, format_time(time), key_id_of(key), b"")
        return cls(tree_size, root_hash, unsigned.time, unsigned.key_id, key.sign(unsigned.message()))

    def message(self) -> bytes:
        """The exact bytes that are signed."""
        return DOMAIN + canonical_json(
            {"key_id": self.key_id, "root_hash": self.root_hash.hex(), "time": self.time, "tree_size": self.tree_size}
        )

    def signed_by(self, public_key: Ed25519PublicKey) -> bool:
        """True when the checkpoint names ``public_key`` as its signer (whether or not the signature holds)."""
        return self.key_id == key_id_of(public_key)

    def verify_signature(self, public_key: Ed25519PublicKey) -> bool:
        """True when the signature is ``public_key``'s over :meth:`message`."""
        try:
            public_key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (hashes and signature as hex)."""
        return {
            "key_id": self.key_id,
            "root_hash": self.root_hash.hex(),
            "signature": self.signature.hex(),
            "time": self.time,
            "tree_size": self.tree_size,
        }

    @classmethod
    def from_json(cls, obj: Any, *, where: str | None = None) -> Checkpoint:
        """Read :meth:`to_json`'s form; raise :class:`LedgerError` naming ``where`` if malformed."""
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
