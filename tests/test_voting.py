"""Approval and Schulze counts against published examples and a second method."""

from __future__ import annotations

import numpy as np
import pytest

from glasnost.procedures.voting import BallotError, approval, break_ties, schulze


def _ballots(spec: list[tuple[int, str]]) -> tuple[list[list[str]], list[int]]:
    return [list(order) for _, order in spec], [n for n, _ in spec]


def test_wikipedia_45_voters_winner_e() -> None:
    # Wikipedia, "Schulze method", example with 45 voters and 5 candidates: the winner is E,
    # and the published tables of d[*,*] and p[*,*]
    ballots, weights = _ballots(
        [(5, "ACBED"), (5, "ADECB"), (8, "BEDAC"), (3, "CABED"), (7, "CAEBD"), (2, "CBADE"), (7, "DCEBA"), (8, "EBADC")]
    )
    result = schulze("ABCDE", ballots, weights)
    d_published = np.array(
        [[0, 20, 26, 30, 22], [25, 0, 16, 33, 18], [19, 29, 0, 17, 24], [15, 12, 28, 0, 14], [23, 27, 21, 31, 0]]
    )
    p_published = np.array(
        [[0, 28, 28, 30, 24], [25, 0, 28, 33, 24], [25, 29, 0, 29, 24], [25, 28, 28, 0, 24], [25, 28, 28, 31, 0]]
    )
    np.testing.assert_array_equal(result.d, d_published)
    np.testing.assert_array_equal(result.p, p_published)
    assert result.winners == ("E",)
    assert result.order == ("E", "A", "C", "B", "D")
    assert result.ballots == 45


def test_schulze_paper_example_1_winner_d() -> None:
    # Schulze (2011), section 3.1, example 1: 30 voters, candidate D is the unique winner
    ballots, weights = _ballots([(8, "ACDB"), (2, "BADC"), (4, "CDBA"), (4, "DBAC"), (3, "DCBA")])
    assert schulze("ABCD", ballots, weights).winners == ("D",)


def test_condorcet_winner_always_wins_schulze() -> None:
    # a second method: whenever some candidate beats every other head to head (counted directly
    # from the ballots), Schulze must elect exactly that candidate
    rng = np.random.default_rng(7)
    found = 0
    for _ in range(300):
        m, n = int(rng.integers(3, 6)), int(rng.integers(1, 12))
        names = [f"v{i}" for i in range(m)]
        ballots = [[names[i] for i in rng.permutation(m)] for _ in range(n)]
        head = {
            (a, b): sum(bal.index(a) < bal.index(b) for bal in ballots) for a in names for b in names if a != b
        }
        condorcet = [a for a in names if all(head[a, b] > head[b, a] for b in names if b != a)]
        if condorcet:
            found += 1
            assert schulze(names, ballots).winners == (condorcet[0],)
    assert found > 100


def test_ties_partial_ballots_and_approval() -> None:
    # an even split gives two Schulze winners; the tie rule takes the most approvals, then the order
    result = schulze(["a", "b"], [[["a"], ["b"]], [["b"], ["a"]]])
    assert set(result.winners) == {"a", "b"}
    appr = approval(["a", "b", "c"], [["a", "b"], ["b"], ["c", "b"]])
    assert appr.counts.tolist() == [1, 3, 1] and appr.winners == ("b",)
    assert break_ties(["a", "b"], ["a", "b"], approvals=appr) == "b"
    assert break_ties(["c", "a"], ["a", "b", "c"]) == "a"
    # a partial ballot ranks the candidates it leaves out below the ones it names, equal among themselves
    partial = schulze(["a", "b", "c"], [[["b"]]])
    assert partial.d.tolist() == [[0, 0, 0], [1, 0, 1], [0, 0, 0]]


@pytest.mark.parametrize(
    ("ballot", "message"), [([["x"]], "'x', which is not a candidate"), ([["a"], ["a"]], "ranks 'a' twice")]
)
def test_bad_ballots_are_named(ballot: list[list[str]], message: str) -> None:
    with pytest.raises(BallotError, match=message):
        schulze(["a", "b"], [[["a"], ["b"]], ballot])
    with pytest.raises(BallotError, match="ballot 2"):
        schulze(["a", "b"], [[["a"], ["b"]], ballot])
