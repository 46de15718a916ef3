"""The command-regime manager: targets, the ratchet, the bonus rule and what managers report.

Vectorised over enterprises. The classic Soviet bonus pays ``b1`` per unit of output above the
target and charges ``b2 > b1`` per unit below it; the bureau ratchets the next target,
``T' = T + lambda (y_reported - T)`` (Weitzman 1980). One extra unit produced this year earns
``b1`` now and raises every later target by ``lambda``, which costs ``b1 lambda`` in each later
year, worth ``b1 lambda beta / (1 - beta)`` at discount factor ``beta``. So a manager produces
all it can only while ``lambda beta / (1 - beta) < 1``; otherwise it aims just above the target
(``safety_margin``, Berliner's "safety factor") and hides the rest of its capacity, reporting a
capacity no bigger than what it produces. A manager whose true capacity falls short of the
target pads its report (pripiski) by up to ``padding_limit`` to escape the penalty ``b2``.

Under Weitzman's (1976) new Soviet incentive model the manager proposes its own target and is
paid ``b`` per unit of proposal, ``alpha < b`` per unit above it and charged ``gamma > b`` below
it; with ``alpha < b < gamma`` the proposal that maximises the bonus is the true capacity, so
nobody conceals (the function checks the inequality rather than assuming it).
"""

from __future__ import annotations

import numpy as np

__all__ = ["command_output", "conceals", "discount_factors", "next_target", "pads", "ratchet_cost"]


def discount_factors(rng: np.random.Generator, n: int, mean: float, sd: float) -> np.ndarray:
    """Managers' discount factors, normal around ``mean`` and clipped to [0.5, 0.99]."""
    return np.clip(rng.normal(mean, sd, n), 0.5, 0.99)


def ratchet_cost(beta: np.ndarray, ratchet: float) -> np.ndarray:
    """Present cost of one unit produced above target, in units of this year's bonus ``b1``."""
    return ratchet * beta / (1.0 - beta)


def conceals(
    beta: np.ndarray,
    ratchet: float,
    *,
    new_incentive: bool = False,
    alpha: float = 0.3,
    b: float = 0.5,
    gamma: float = 0.7,
) -> np.ndarray:
    """Which managers hide capacity: the ratchet costs more than the bonus on extra output.

    Under the new Soviet incentive model, concealment pays only if the bonus schedule breaks
    ``alpha < b < gamma`` (then under-proposing or over-proposing beats the truth).
    """
    if new_incentive:
        honest_optimal = alpha < b < gamma
        return np.full(beta.shape, not honest_optimal)
    return ratchet_cost(beta, ratchet) > 1.0


def command_output(
    capacity: np.ndarray, target: np.ndarray, concealing: np.ndarray, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """(output, reported capacity): concealers aim at ``target (1 + margin)``; others produce all.

    Concealers report the capacity they use; honest managers report their true capacity.
    """
    aimed = np.minimum(capacity, target * (1.0 + margin))
    output = np.where(concealing, aimed, capacity)
    reported_capacity = np.where(concealing, aimed, capacity)
    return output, reported_capacity


def pads(output: np.ndarray, target: np.ndarray, limit: float) -> np.ndarray:
    """Reported output: a short-falling manager pads up to the target, by ``limit`` at most."""
    short = output < target
    padded = np.minimum(target, output * (1.0 + limit))
    return np.where(short, padded, output)


def next_target(target: np.ndarray, reported: np.ndarray, ratchet: float) -> np.ndarray:
    """Weitzman's ratchet: ``T + lambda (reported - T)``."""
    return target + ratchet * (reported - target)
