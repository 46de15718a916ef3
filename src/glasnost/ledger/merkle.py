"""The Merkle tree of RFC 9162 (Certificate Transparency v2), section 2.1, with SHA-256.

* ``MTH({}) = SHA-256()``; ``MTH({d0}) = SHA-256(0x00 || d0)``;
* for ``n > 1``, with ``k`` the largest power of two smaller than ``n``,
  ``MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``.

:class:`MerkleTree` holds the leaf hashes and builds inclusion proofs (``PATH``, 2.1.3.1) and
consistency proofs (``PROOF``, 2.1.4.1) from them; :func:`verify_inclusion` and
:func:`verify_consistency` are the RFC's verification algorithms (2.1.3.2 and 2.1.4.2), step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from glasnost.ledger.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of a leaf."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """The leaf hashes of a log, with the hashes of complete aligned subtrees kept level by level.

    ``levels[h][i]`` is the hash of the complete subtree of ``2**h`` leaves starting at leaf
    ``i * 2**h``. Every subtree the RFC's recursion visits is either such a complete subtree or
    splits into one and a smaller remainder, so a root or proof costs O(log(n)**2) hashes.

    Parameters
    ----------
    leaf_hashes
        The leaf hashes in log order (each 32 bytes).
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append_hash(h)

    def __len__(self) -> int:
        return len(self.levels[0])

    def append_hash(self, h: bytes) -> None:
        """Add a leaf by its hash, completing every subtree it closes."""
        if len(h) != 32:
            raise ValueError(f"a leaf hash has 32 bytes, got {len(h)}")
        self.levels[0].append(h)
        level = 0
        while len(self.levels[level]) % 2 == 0:
            row = self.levels[level]
            parent = node_hash(row[-2], row[-1])
            if len(self.levels) == level + 1:
                self.levels.append([])
            self.levels[level + 1].append(parent)
            level += 1

    def append(self, data: bytes) -> bytes:
        """Add a leaf by its data; return its leaf hash."""
        h = leaf_hash(data)
        self.append_hash(h)
        return h

    def _subtree(self, lo: int, hi: int) -> bytes:
        """``MTH(D[lo:hi])`` for ``lo < hi`` where the RFC's recursion reaches it."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            return self.levels[n.bit_length() - 1][lo // n]
        k = _largest_power_of_two_below(n)
        return node_hash(self._subtree(lo, lo + k), self._subtree(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        """``MTH(D[0:size])``: the root of the tree of the first ``size`` leaves (all by default)."""
        size = len(self) if size is None else size
        if not 0 <= size <= len(self):
            raise ProofError(f"tree size {size} is outside the log's 0..{len(self)}")
        return EMPTY_ROOT if size == 0 else self._subtree(0, size)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = _largest_power_of_two_below(n)
        if m < k:
            return [*self._path(m, lo, lo + k), self._subtree(lo + k, hi)]
        return [*self._path(m - k, lo + k, hi), self._subtree(lo, lo + k)]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """``PATH(index, D[0:size])``: the audit path of leaf ``index`` in the tree of ``size`` leaves."""
        size = len(self) if size is None else size
        if not 0 <= size <= len(self):
            raise ProofError(f"tree size {size} is outside the log's 0..{len(self)}")
        if not 0 <= index < size:
            raise ProofError(f"leaf {index} is not in a tree of {size} entries", where=f"entry {index}")
        return self._path(index, 0, size)

    def _subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if whole else [self._subtree(lo, hi)]
        k = _largest_power_of_two_below(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, whole), self._subtree(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self._subtree(lo, lo + k)]

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """``PROOF(first, D[0:second])``: that the tree of ``first`` leaves is a prefix of that of ``second``.

        Empty when ``first`` is 0 or equals ``second`` (nothing to prove).
        """
        second = len(self) if second is None else second
        if not 0 <= second <= len(self):
            raise ProofError(f"tree size {second} is outside the log's 0..{len(self)}")
        if not 0 <= first <= second:
            raise ProofError(f"a tree of {first} entries cannot be a prefix of one of {second}")
        if first in (0, second):
            return []
        return self._subproof(first, 0, second, True)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of a sequence of leaf hashes, by the RFC's recursive definition (no cache)."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = _largest_power_of_two_below(n)
    return node_hash(root_from_leaf_hashes(hashes[:k]), root_from_leaf_hashes(hashes[k:]))


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162, 2.1.3.2: does ``proof`` show the leaf hash ``leaf`` at ``index`` in the tree with ``root``?

    Parameters
    ----------
    leaf
        The leaf hash (``SHA-256(0x00 || entry)``).
    index, tree_size
        The leaf's index and the size of the tree.
    proof
        The inclusion proof (audit path).
    root
        The tree's root hash.
    """
    if not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first_size: int, second_size: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> bool:
    """RFC 9162, 2.1.4.2: does ``proof`` show the tree ``first_root`` is a prefix of ``second_root``?

    A tree of 0 leaves is a prefix of every tree, and a tree is consistent with itself when the
    roots are equal; in both cases the proof must be empty.
    """
    if not 0 <= first_size <= second_size:
        return False
    if first_size == 0:
        return not proof and first_root == EMPTY_ROOT
    if first_size == second_size:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first_size & (first_size - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
