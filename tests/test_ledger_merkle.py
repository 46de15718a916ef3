"""The Merkle tree against RFC 6962's known answers, a naive recursive MTH, and the RFC's verifiers."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasnost.ledger import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# The test leaves of the Certificate Transparency reference implementation (RFC 6962).
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
# Root of the first n leaves, n = 1..8 (CT / transparency-dev reference test data).
RFC6962_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Inclusion and consistency proofs of the same reference data.
KNOWN_PATHS = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
KNOWN_CONSISTENCY = {
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (6, 7): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}

N = 64


def rfc_tree() -> MerkleTree:
    t = MerkleTree()
    for d in RFC6962_LEAVES:
        t.append(d)
    return t


def big_tree(n: int = N) -> MerkleTree:
    t = MerkleTree()
    for i in range(n):
        t.append(f"leaf {i}".encode())
    return t


BIG = big_tree()


# A second, independent implementation: the RFC's recursive definitions over a list of leaf data.
def naive_mth(data: list[bytes]) -> bytes:
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(data[:k]) + naive_mth(data[k:])).digest()


def naive_path(m: int, data: list[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, data[:k]), naive_mth(data[k:])]
    return [*naive_path(m - k, data[k:]), naive_mth(data[:k])]


def naive_subproof(m: int, data: list[bytes], whole: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if whole else [naive_mth(data)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, data[:k], whole), naive_mth(data[k:])]
    return [*naive_subproof(m - k, data[k:], False), naive_mth(data[:k])]


def flip(b: bytes, bit: int) -> bytes:
    bit %= 8 * len(b)
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_rfc6962_roots() -> None:
    t = rfc_tree()
    assert t.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert t.root(3).hex() == "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
    for n, expected in enumerate(RFC6962_ROOTS, start=1):
        assert t.root(n).hex() == expected
        assert root_from_leaf_hashes([leaf_hash(d) for d in RFC6962_LEAVES[:n]]).hex() == expected
    assert t.root(0) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_rfc6962_known_proofs() -> None:
    t = rfc_tree()
    for (i, n), path in KNOWN_PATHS.items():
        assert [p.hex() for p in t.inclusion_proof(i, n)] == path
        assert verify_inclusion(leaf_hash(RFC6962_LEAVES[i]), i, n, [bytes.fromhex(p) for p in path], t.root(n))
    for (m, n), proof in KNOWN_CONSISTENCY.items():
        assert [p.hex() for p in t.consistency_proof(m, n)] == proof
        assert verify_consistency(m, n, [bytes.fromhex(p) for p in proof], t.root(m), t.root(n))


def test_every_root_and_proof_matches_the_recursive_definition() -> None:
    data = [f"leaf {i}".encode() for i in range(N)]
    for n in range(N + 1):
        assert BIG.root(n) == naive_mth(data[:n])
        for i in range(n):
            assert BIG.inclusion_proof(i, n) == naive_path(i, data[:n])
        for m in range(1, n):
            assert BIG.consistency_proof(m, n) == naive_subproof(m, data[:n], True)


def test_every_inclusion_proof_up_to_64_verifies() -> None:
    for n in range(1, N + 1):
        root = BIG.root(n)
        for i in range(n):
            proof = BIG.inclusion_proof(i, n)
            assert verify_inclusion(BIG.levels[0][i], i, n, proof, root)
            other = BIG.levels[0][(i + 1) % n]
            assert n == 1 or not verify_inclusion(other, i, n, proof, root)
            assert not verify_inclusion(BIG.levels[0][i], i, n, proof, BIG.root(n - 1))


def test_every_consistency_proof_up_to_64_verifies() -> None:
    for n in range(N + 1):
        for m in range(n + 1):
            proof = BIG.consistency_proof(m, n)
            assert verify_consistency(m, n, proof, BIG.root(m), BIG.root(n))
            if 0 < m < n:
                assert not verify_consistency(m, n, proof, BIG.root(m), BIG.root(n - 1))
                assert not verify_consistency(m, n, proof[:-1], BIG.root(m), BIG.root(n))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_inclusion_flipped_bit_fails(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, N), label="size")
    i = data.draw(st.integers(0, n - 1), label="index")
    bit = data.draw(st.integers(0, 255), label="bit")
    leaf, root, proof = BIG.levels[0][i], BIG.root(n), BIG.inclusion_proof(i, n)
    assert verify_inclusion(leaf, i, n, proof, root)
    assert not verify_inclusion(flip(leaf, bit), i, n, proof, root)
    assert not verify_inclusion(leaf, i, n, proof, flip(root, bit))
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1), label="proof element")
        bad = [*proof[:k], flip(proof[k], bit), *proof[k + 1 :]]
        assert not verify_inclusion(leaf, i, n, bad, root)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_consistency_flipped_bit_fails(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, N), label="second size")
    m = data.draw(st.integers(1, n - 1), label="first size")
    bit = data.draw(st.integers(0, 255), label="bit")
    proof = BIG.consistency_proof(m, n)
    r1, r2 = BIG.root(m), BIG.root(n)
    assert verify_consistency(m, n, proof, r1, r2)
    assert not verify_consistency(m, n, proof, flip(r1, bit), r2)
    assert not verify_consistency(m, n, proof, r1, flip(r2, bit))
    k = data.draw(st.integers(0, len(proof) - 1), label="proof element")
    bad = [*proof[:k], flip(proof[k], bit), *proof[k + 1 :]]
    assert not verify_consistency(m, n, bad, r1, r2)


def test_proofs_outside_the_tree_are_refused() -> None:
    t = rfc_tree()
    with pytest.raises(ProofError, match="entry 8"):
        t.inclusion_proof(8, 8)
    with pytest.raises(ProofError, match="outside"):
        t.root(9)
    with pytest.raises(ProofError, match="prefix"):
        t.consistency_proof(5, 3)
    assert not verify_inclusion(t.levels[0][0], 3, 3, [], t.root(3))
    assert not verify_consistency(3, 2, [], t.root(3), t.root(2))
    assert verify_consistency(4, 4, [], t.root(4), t.root(4))
    assert not verify_consistency(4, 4, [], t.root(4), t.root(5))
