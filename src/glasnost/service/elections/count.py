"""Counting an election's ballots (pure: no web or database code).

* One seat (a workplace's manager, a by-election): ranked ballots counted by Schulze, the
  platform's own implementation (:func:`glasnost.procedures.voting.schulze`; tested against
  ``pref_voting``), ties broken by the order candidates stood in.
* Several seats (a council's delegation): approval ballots, seats filled by sequential Phragmén
  (``abcvoting``'s ``seqphragmen``, resolute: ties go to the candidate who stood first), so that a
  group of members that approves its own candidates wins seats in proportion to its size.
* A recall: "yes" or "no"; it passes when more ballots say yes than no.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from glasnost.procedures.voting import BallotError, approval, break_ties, schulze

__all__ = ["RECALL_CHOICES", "BallotError", "check_choice", "count"]

RECALL_CHOICES = ("yes", "no")


def check_choice(rule: str, candidates: Sequence[str], choice: list[Any]) -> list[Any]:
    """The ballot as counted (raises :class:`BallotError` naming what is wrong)."""
    if not isinstance(choice, list):
        raise BallotError("a ballot is a list")
    if rule == "schulze":
        ranking = [[g] if isinstance(g, str) else list(g) for g in choice]
        if not ranking:
            raise BallotError("rank at least one candidate")
        schulze(candidates, [ranking])
        return ranking
    if rule == "seq-phragmen":
        picked = [str(c) for c in choice]
        if len(set(picked)) != len(picked):
            raise BallotError("a ballot approves a candidate twice")
        approval(candidates, [picked])
        return sorted(picked)
    if len(choice) != 1 or choice[0] not in RECALL_CHOICES:
        raise BallotError("answer yes or no")
    return [choice[0]]


def count(rule: str, candidates: Sequence[str], seats: int, ballots: Sequence[list[Any]]) -> dict[str, Any]:
    """The tally: ``elected`` (candidates, in the order the seats were filled) and the figures."""
    if rule == "schulze":
        return _schulze(candidates, ballots)
    if rule == "seq-phragmen":
        return _phragmen(candidates, seats, ballots)
    yes = sum(1 for b in ballots if b == ["yes"])
    no = len(ballots) - yes
    return {"method": "majority", "ballots": len(ballots), "yes": yes, "no": no, "passed": yes > no, "elected": []}


def _schulze(candidates: Sequence[str], ballots: Sequence[list[Any]]) -> dict[str, Any]:
    if not candidates:
        return {"method": "schulze", "ballots": len(ballots), "elected": []}
    result = schulze(candidates, ballots)
    winner = break_ties(list(result.winners), candidates)
    return {**result.to_json(), "elected": [winner]}


def phragmen_committee(candidates: Sequence[str], seats: int, ballots: Sequence[list[str]]) -> list[str]:
    """Sequential Phragmén by abcvoting (identical ballots grouped, weighted by how many cast them)."""
    from abcvoting import abcrules
    from abcvoting.preferences import Profile, Voter

    if len(candidates) <= seats:
        return list(candidates)
    index = {c: i for i, c in enumerate(candidates)}
    profile = Profile(len(candidates))
    for approved, weight in Counter(tuple(sorted(b)) for b in ballots if b).items():
        profile.add_voter(Voter({index[c] for c in approved}, weight=weight))
    if len(profile) == 0:  # a contested post nobody voted on stays open
        return []
    (committee,) = abcrules.compute("seqphragmen", profile, seats, resolute=True)
    # abcvoting returns the set; the seats' order is by approvals (then standing order), for the page
    counts = Counter(c for b in ballots for c in b)
    chosen = [candidates[i] for i in committee]
    return sorted(chosen, key=lambda c: (-counts[c], index[c]))


def _phragmen(candidates: Sequence[str], seats: int, ballots: Sequence[list[str]]) -> dict[str, Any]:
    counts = approval(candidates, ballots).to_json()["counts"] if candidates else {}
    return {
        "method": "seq-phragmen",
        "ballots": len(ballots),
        "seats": seats,
        "approvals": counts,
        "elected": phragmen_committee(candidates, seats, ballots) if candidates else [],
    }
