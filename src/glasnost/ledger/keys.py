"""Ed25519 keys that sign checkpoints: make, save, load, name."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from glasnost.ledger.errors import LedgerError

__all__ = [
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "generate_signing_key",
    "key_id",
    "load_or_create_signing_key",
    "load_public_key",
    "load_signing_key",
    "public_key_hex",
    "write_keypair",
]


def generate_signing_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 signing key (from the operating system's random source)."""
    return Ed25519PrivateKey.generate()


def public_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key as 64 hex digits (what ``glasnost verify --key`` accepts)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The key's name in checkpoints: SHA-256 of the raw public key, hex."""
    return hashlib.sha256(bytes.fromhex(public_key_hex(key))).hexdigest()


def write_keypair(key: Ed25519PrivateKey, path: str | Path) -> tuple[Path, Path]:
    """Write the private key (PKCS#8 PEM, mode 0600) to ``path`` and the public key (hex) to ``path.pub``.

    Returns
    -------
    tuple of Path
        The private and the public key files.
    """
    path = Path(path)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    pub = path.with_name(path.name + ".pub")
    pub.write_text(public_key_hex(key) + "\n")
    return path, pub


def load_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """Read a private key written by :func:`write_keypair` (PKCS#8 PEM, unencrypted)."""
    path = Path(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise
    except (ValueError, TypeError) as exc:
        raise LedgerError(f"not an unencrypted PEM private key ({exc})", where=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise LedgerError(f"the key is {type(key).__name__}, not Ed25519", where=str(path))
    return key


def load_or_create_signing_key(path: str | Path) -> tuple[Ed25519PrivateKey, bool]:
    """The signing key in ``path``, or a fresh one written there (with ``path.pub``) if there is none.

    Returns
    -------
    tuple
        The key, and True when it was created now (say so, and show its public half).
    """
    path = Path(path)
    if path.exists():
        return load_signing_key(path), False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_signing_key()
    write_keypair(key, path)
    return key, True


def load_public_key(source: str | Path | bytes | Ed25519PublicKey) -> Ed25519PublicKey:
    """A public key from 64 hex digits, 32 raw bytes, or a file holding hex digits or a PEM public key.

    Raises
    ------
    LedgerError
        Naming the file or text that is no Ed25519 public key.
    """
    if isinstance(source, Ed25519PublicKey):
        return source
    if isinstance(source, bytes):
        if len(source) != 32:
            raise LedgerError(f"a raw Ed25519 public key has 32 bytes, got {len(source)}")
        return Ed25519PublicKey.from_public_bytes(source)
    text = str(source).strip()
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text) and not Path(text).exists():
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    path = Path(text)
    data = path.read_bytes()
    stripped = data.strip()
    if len(stripped) == 64:
        try:
            return Ed25519PublicKey.from_public_bytes(bytes.fromhex(stripped.decode("ascii")))
        except ValueError:
            pass
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise LedgerError(f"neither 64 hex digits nor a PEM public key ({exc})", where=str(path)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise LedgerError(f"the key is {type(key).__name__}, not Ed25519", where=str(path))
    return key
