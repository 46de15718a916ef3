"""Secret ballots and secret signatures for elections and recall petitions.

Ballots are sealed as the plan-variant vote's are (:mod:`glasnost.service.votes`, the same vault
and cipher, ``docs/ballots.md``): ChaCha20-Poly1305 under a key per election kept in the vault,
sealed under the platform's master secret; the key is deleted when the election closes.

A signature is a keyed hash (HMAC-SHA-256) of the signer's account under a key per petition, kept
in the vault too and deleted when the petition closes: while it is open the platform can tell that
a member signed already (a second signature is refused) but nothing in the database lists who
signed; once it closes, nobody can tell at all (``docs/elections.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from glasnost.db.vault import Vault

__all__ = ["ElectionBox", "PetitionMarks"]

_NONCE = 12


class ElectionBox:
    """The sealed ballot box of one election (its key in the vault while voting is open)."""

    def __init__(self, vault: Vault, election_id: int) -> None:
        self.vault = vault
        self.name = f"election-box:{election_id}"
        self.label = f"election {election_id}".encode()

    def create(self) -> None:
        self.vault.get_or_create(self.name, lambda: secrets.token_bytes(32))

    def _cipher(self) -> ChaCha20Poly1305 | None:
        key = self.vault.get(self.name)
        return None if key is None else ChaCha20Poly1305(key)

    def seal(self, choice: list[Any], key_sealed: bytes | None = None) -> bytes | None:
        """The ballot sealed (None when the box is closed: no key). ``key_sealed``: the key's sealed
        bytes when the caller read them already (one query less per ballot)."""
        if key_sealed is not None:
            cipher: ChaCha20Poly1305 | None = ChaCha20Poly1305(self.vault.open_sealed(self.name, key_sealed))
        else:
            cipher = self._cipher()
        if cipher is None:
            return None
        nonce = secrets.token_bytes(_NONCE)
        return nonce + cipher.encrypt(nonce, json.dumps(choice).encode(), self.label)

    def open(self, sealed: list[bytes]) -> list[list[Any]]:
        cipher = self._cipher()
        assert cipher is not None, "the box's key is gone"
        return [json.loads(cipher.decrypt(b[:_NONCE], b[_NONCE:], self.label)) for b in sealed]

    def destroy(self) -> None:
        self.vault.delete(self.name)


class PetitionMarks:
    """The keyed marks of one petition's signers."""

    def __init__(self, vault: Vault, petition_id: int) -> None:
        self.vault = vault
        self.name = f"recall-petition:{petition_id}"

    def create(self) -> None:
        self.vault.get_or_create(self.name, lambda: secrets.token_bytes(32))

    def mark(self, account_id: int) -> str | None:
        """The signer's mark (None when the petition's key is gone: it is closed)."""
        key = self.vault.get(self.name)
        if key is None:
            return None
        return hmac.new(key, str(account_id).encode(), hashlib.sha256).hexdigest()

    def destroy(self) -> None:
        self.vault.delete(self.name)
