"""The public log (open books): an append-only Merkle tree log in the form of RFC 9162.

Every proposal, round result, plan, vote receipt, report, confirmation and correction is an
entry: a kind and a JSON payload, hashed as canonical JSON (:mod:`glasnost.ledger.canonical`).
Signed checkpoints (Ed25519) fix the tree's root at a size and time; inclusion and consistency
proofs and their verification follow RFC 9162. Storage is a SQLite file or PostgreSQL.

>>> from glasnost.ledger import Ledger, generate_signing_key, verify_log  # doctest: +SKIP
>>> key = generate_signing_key()  # doctest: +SKIP
>>> with Ledger.open("log.sqlite") as log:  # doctest: +SKIP
...     receipt = log.append("proposal", {"council": "w1"})
...     log.checkpoint(key)
...     log.export("log.jsonl")
>>> verify_log("log.jsonl", public_key=key.public_key()).ok  # doctest: +SKIP
True

The ledger imports nothing of planning.
"""

from glasnost.ledger.canonical import canonical_json, format_float, parse_canonical
from glasnost.ledger.checkpoint import Checkpoint
from glasnost.ledger.errors import CanonicalJSONError, LedgerError, ProofError
from glasnost.ledger.keys import (
    generate_signing_key,
    key_id,
    load_or_create_signing_key,
    load_public_key,
    load_signing_key,
    public_key_hex,
    write_keypair,
)
from glasnost.ledger.log import Entry, InclusionProof, Ledger, Receipt, entry_bytes
from glasnost.ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from glasnost.ledger.verify import Problem, VerifyReport, verify_log

__all__ = [
    "EMPTY_ROOT",
    "CanonicalJSONError",
    "Checkpoint",
    "Entry",
    "InclusionProof",
    "Ledger",
    "LedgerError",
    "MerkleTree",
    "Problem",
    "ProofError",
    "Receipt",
    "VerifyReport",
    "canonical_json",
    "entry_bytes",
    "format_float",
    "generate_signing_key",
    "key_id",
    "leaf_hash",
    "load_or_create_signing_key",
    "load_public_key",
    "load_signing_key",
    "node_hash",
    "parse_canonical",
    "public_key_hex",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
    "verify_log",
    "write_keypair",
]
