"""Counting votes on plan variants: approval voting and the Schulze method (pure, no web code).

A ballot names candidates by id. An approval ballot is a set of approved candidates. A ranked
ballot is a list of groups, best first, each group a list of candidates ranked equal; candidates a
ballot leaves out rank below every candidate it names, equal among themselves.

Schulze (M. Schulze, "A new monotonic, clone-independent, reversal symmetric, and
Condorcet-consistent single-winner election method", Social Choice and Welfare 36, 2011): ``d[i, j]``
is the number of voters who rank i above j; a path's strength is its weakest link, links counted
only where ``d[i, j] > d[j, i]`` (winning votes); ``p[i, j]`` is the strongest path from i to j
(Floyd-Warshall, vectorised over i and j). Candidate i beats j when ``p[i, j] > p[j, i]``; the
winners are the candidates no one beats. Ties among winners (and in approval counts) are broken
by a stated rule (:func:`break_ties`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from glasnost.procedures.engine import ProcedureError

__all__ = [
    "ApprovalResult",
    "BallotError",
    "SchulzeResult",
    "approval",
    "break_ties",
    "pairwise",
    "rank_matrix",
    "schulze",
    "strongest_paths",
]


class BallotError(ProcedureError):
    """A ballot names an unknown candidate or names one twice."""


@dataclass(frozen=True)
class ApprovalResult:
    """Approval counts per candidate (in the candidates' order) and the candidates with the most."""

    candidates: tuple[str, ...]
    counts: np.ndarray
    winners: tuple[str, ...]
    ballots: int

    def to_json(self) -> dict[str, object]:
        return {
            "method": "approval",
            "ballots": self.ballots,
            "counts": {c: int(n) for c, n in zip(self.candidates, self.counts, strict=True)},
            "winners": list(self.winners),
        }


@dataclass(frozen=True)
class SchulzeResult:
    """The Schulze count: pairwise preferences ``d``, strongest paths ``p``, winners and an order.

    ``order`` lists the candidates from best to worst by the number of candidates each beats
    (Schulze's ranking; equal counts keep the candidates' order)."""

    candidates: tuple[str, ...]
    d: np.ndarray
    p: np.ndarray
    winners: tuple[str, ...]
    order: tuple[str, ...]
    ballots: int

    def to_json(self) -> dict[str, object]:
        c = self.candidates
        return {
            "method": "schulze",
            "ballots": self.ballots,
            "pairwise": {a: {b: int(self.d[i, j]) for j, b in enumerate(c) if i != j} for i, a in enumerate(c)},
            "strongest_paths": {a: {b: int(self.p[i, j]) for j, b in enumerate(c) if i != j} for i, a in enumerate(c)},
            "winners": list(self.winners),
            "order": list(self.order),
        }


def _index(candidates: Sequence[str]) -> dict[str, int]:
    index = {str(c): i for i, c in enumerate(candidates)}
    if len(index) != len(candidates):
        raise BallotError(f"the candidates {list(candidates)} name one twice")
    return index


def approval(candidates: Sequence[str], ballots: Iterable[Iterable[str]]) -> ApprovalResult:
    """Count approval ballots; raises :class:`BallotError` naming the ballot (from 1) and candidate."""
    index = _index(candidates)
    counts = np.zeros(len(index), np.int64)
    n = 0
    for n, ballot in enumerate(ballots, start=1):
        seen = set()
        for c in ballot:
            i = index.get(str(c))
            if i is None:
                raise BallotError(f"ballot {n} approves {c!r}, which is not a candidate")
            if i in seen:
                raise BallotError(f"ballot {n} approves {c!r} twice")
            seen.add(i)
            counts[i] += 1
    best = counts.max() if counts.size else 0
    winners = tuple(str(c) for c, k in zip(candidates, counts, strict=True) if k == best)
    return ApprovalResult(tuple(str(c) for c in candidates), counts, winners, n)


def rank_matrix(candidates: Sequence[str], ballots: Iterable[Sequence[Sequence[str]]]) -> np.ndarray:
    """(ballots x candidates) rank positions (0 = best; unnamed candidates get the worst rank)."""
    index = _index(candidates)
    m = len(index)
    rows = []
    for n, ballot in enumerate(ballots, start=1):
        row = np.full(m, m, np.int64)
        for level, group in enumerate(ballot):
            for c in [group] if isinstance(group, str) else group:
                i = index.get(str(c))
                if i is None:
                    raise BallotError(f"ballot {n} ranks {c!r}, which is not a candidate")
                if row[i] != m:
                    raise BallotError(f"ballot {n} ranks {c!r} twice")
                row[i] = level
        rows.append(row)
    return np.vstack(rows) if rows else np.zeros((0, m), np.int64)


def pairwise(ranks: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """``d[i, j]``: (weighted) number of ballots ranking i strictly above j."""
    above = (ranks[:, :, None] < ranks[:, None, :]).astype(np.int64)
    if weights is None:
        return above.sum(axis=0)
    return np.tensordot(np.asarray(weights, np.int64), above, axes=1)


def strongest_paths(d: np.ndarray) -> np.ndarray:
    """Strengths of the strongest paths (winning votes), Floyd-Warshall over intermediate k."""
    p = np.where(d > d.T, d, 0)
    np.fill_diagonal(p, 0)
    for k in range(p.shape[0]):
        p = np.maximum(p, np.minimum(p[:, k : k + 1], p[k : k + 1, :]))
        np.fill_diagonal(p, 0)
    return p


def schulze(
    candidates: Sequence[str], ballots: Iterable[Sequence[Sequence[str]]], weights: Sequence[int] | None = None
) -> SchulzeResult:
    """Count ranked ballots by the Schulze method (``weights``: how many voters cast each ballot)."""
    ranks = rank_matrix(candidates, ballots)
    w = None if weights is None else np.asarray(weights, np.int64)
    if w is not None and w.shape != (ranks.shape[0],):
        raise BallotError(f"{w.size} weights for {ranks.shape[0]} ballots")
    d = pairwise(ranks, w)
    p = strongest_paths(d)
    beats = p > p.T
    beaten = beats.any(axis=0)
    names = tuple(str(c) for c in candidates)
    winners = tuple(c for c, b in zip(names, beaten, strict=True) if not b)
    wins = beats.sum(axis=1)
    order = tuple(names[i] for i in np.argsort(-wins, kind="stable"))
    total = int(ranks.shape[0] if w is None else w.sum())
    return SchulzeResult(names, d, p, winners, order, total)


def break_ties(tied: Sequence[str], candidates: Sequence[str], *, approvals: ApprovalResult | None = None) -> str:
    """One winner among ``tied``: the most approvals (when given), then the earliest in ``candidates``
    (the order the board published the variants in, frozen when the vote opened)."""
    if not tied:
        raise BallotError("no candidate to choose from")
    position = {str(c): i for i, c in enumerate(candidates)}
    counts = {} if approvals is None else dict(zip(approvals.candidates, approvals.counts.tolist(), strict=True))
    return min(tied, key=lambda c: (-counts.get(c, 0), position[c]))
