"""Secrets kept with the database, sealed (encrypted and authenticated) under a master secret that
is not in the database: the public log's signing key, a vote's ballot-box key.

Every process of a platform reads the same secrets from the database, so they sign with one key
(a log stays verifiable whichever process wrote it). The master secret comes from the environment
(``GLASNOST_SECRET``) or a file named in the settings; a process given another master secret cannot
open the vault and refuses to start (:class:`VaultError`).

Sealing: ChaCha20-Poly1305 under a key derived from the master secret by HKDF-SHA256, a random
96-bit nonce per secret, the secret's name as associated data (a sealed value moved to another
name does not open).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import DateTime, LargeBinary, String, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from glasnost.db.engine import Base, Database, utcnow
from glasnost.db.settings import Settings
from glasnost.economy.errors import GlasnostError

__all__ = ["LOG_KEY", "SealedSecret", "Vault", "VaultError", "log_signing_key", "master_secret"]

LOG_KEY = "log-signing-key"
"""The vault's name for the Ed25519 key that signs the public log's checkpoints."""

_NONCE = 12


class VaultError(GlasnostError):
    """The vault cannot be opened (wrong master secret) or a master secret is unusable."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class SealedSecret(Base):
    __tablename__ = "sealed_secrets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def master_secret(value: str | None, file: Path | None) -> bytes:
    """The master secret: ``value`` (e.g. ``GLASNOST_SECRET``) if given, else the contents of
    ``file``, which is created with 32 random bytes (mode 0600) when it does not exist."""
    if value:
        if len(value) < 16:
            raise VaultError("the master secret (GLASNOST_SECRET) needs at least 16 characters")
        return value.encode()
    if file is None:
        raise VaultError("no master secret: set GLASNOST_SECRET or name a secret file")
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    data = file.read_bytes()
    if len(data) < 16:
        raise VaultError(f"the secret file holds {len(data)} bytes; it needs at least 16", where=str(file))
    return data


class Vault:
    """Named secrets in ``sealed_secrets``, sealed under ``master``."""

    def __init__(self, database: Database, master: bytes) -> None:
        self.database = database
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"glasnost sealed secret").derive(master)
        self._aead = ChaCha20Poly1305(key)

    def _seal(self, name: str, value: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aead.encrypt(nonce, value, name.encode())

    def _open(self, name: str, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], name.encode())
        except InvalidTag:
            raise VaultError(
                f"the secret {name!r} in the database was sealed under another master secret: give this process "
                "the same GLASNOST_SECRET (or secret file) as the processes that made it"
            ) from None

    def open_sealed(self, name: str, sealed: bytes) -> bytes:
        """A secret whose sealed bytes the caller read in its own query (``sealed_secrets.sealed``), opened."""
        return self._open(name, bytes(sealed))

    def get(self, name: str) -> bytes | None:
        with self.database.read() as s:
            sealed = s.scalar(select(SealedSecret.sealed).where(SealedSecret.name == name))
        return None if sealed is None else self._open(name, sealed)

    def get_or_create(self, name: str, make: Callable[[], bytes]) -> bytes:
        """The secret under ``name``; the first caller's ``make()`` if there is none yet (processes
        starting together agree on one: the insert that loses the race does nothing)."""
        found = self.get(name)
        if found is not None:
            return found
        table = SealedSecret.__table__
        with self.database.write() as s:
            conn = s.connection()
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(
                dialect.insert(table)
                .values(name=name, sealed=self._seal(name, make()), created_at=utcnow())
                .on_conflict_do_nothing(index_elements=[table.c.name])
            )
        found = self.get(name)
        assert found is not None
        return found

    def delete(self, name: str) -> None:
        with self.database.write() as s:
            s.execute(delete(SealedSecret).where(SealedSecret.name == name))


def log_signing_key(database: Database, settings: Settings) -> tuple[Ed25519PrivateKey, bool]:
    """The platform's log signing key from the vault, and whether it was made now. Made at the first
    call, from the PEM file at ``settings.signing_key_path()`` when one exists (so a log signed
    before keys moved into the database stays valid), else fresh; its public half is then written
    beside that path (``<path>.pub``). Every process and command of a
    platform (``glasnost serve``, ``glasnost control import``) signs with this one key."""
    vault = Vault(database, master_secret(settings.secret, settings.master_secret_path()))
    old = settings.signing_key_path()
    made = False

    def make() -> bytes:
        nonlocal made
        made = True
        if old.exists():
            key = serialization.load_pem_private_key(old.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise VaultError(f"the key is {type(key).__name__}, not Ed25519", where=str(old))
        else:
            key = Ed25519PrivateKey.generate()
        return key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    key = Ed25519PrivateKey.from_private_bytes(vault.get_or_create(LOG_KEY, make))
    if made:  # its public half where people look for it, for glasnost verify --key
        public = old.with_name(old.name + ".pub")
        public.parent.mkdir(parents=True, exist_ok=True)
        raw_public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        public.write_text(raw_public.hex() + "\n")
    return key, made
