"""What differs between the regimes: their institutions, and nothing else.

Every regime runs the same rules (:mod:`glasnost.simulate.regimes.rules`) with the same
behavioural parameters; an :class:`Institutions` record says what each regime's managers or
councils are paid for and what each regime's planners, auditors and buyers can see. Giving one
regime another's institutions (``--param command_audit=0.3`` and so on) gives it the other's
effects: the symmetry tests (``tests/test_simulate_rules.py``) check that.

Institutions (command / market / democratic):

- reward, which steers the variant: the gross ``indicator`` / profit / use value on open books;
- ratchet of targets on reports: ``ratchet`` / none (no targets) / ``democratic_ratchet``;
- audits a year: ``command_audit`` / none / ``audit_probability``;
- cross-checks of reports: ``command_cross_check`` / none / ``cross_check_probability``;
- users' ratings that reach producers: ``command_ratings`` (0) / ``market_ratings`` (0) /
  ``rating_coverage``;
- buyers free to switch supplier: none / ``market_buyer_choice`` / ``democratic_buyer_choice`` (0);
- pay link (effort): ``command_pay_link`` / last year's profit bonuses over the wage bill /
  ``democratic_pay_link`` (0, equal pay);
- budget: ``soft_budget`` (soft) / hard unless ``closures`` is off / ``democratic_soft_budget``
  (hard);
- jobs: guaranteed / hired to vacancies / guaranteed;
- coordination: the bureau's ``balances`` / prices / the participatory procedure;
- report hierarchy: ``hierarchy_levels`` / none / none (open books).
"""

from __future__ import annotations

from dataclasses import dataclass

from glasnost.simulate.params import Params, SimulationError

__all__ = ["Institutions", "institutions"]


@dataclass(frozen=True)
class Institutions:
    """The institutions of one regime (see the module table).

    Attributes
    ----------
    name : str
    reward : str
        What producers are paid for: ``roubles``, ``tonnes`` (gross indicators), ``use`` (use
        value measured on open books) or ``profit``.
    ratchet : float
        Next target = target + ratchet (reported - target); 0: no plan targets (no reason to
        hide capacity or pad reports).
    audit : float
        Chance a year that an enterprise's books are audited (hidden capacity found, costs
        ``audit_hours``).
    cross_check : float
        Chance that a padded report is contradicted by its receivers' reports.
    ratings : float
        Share of output whose users' ratings reach the producer's pay or plan.
    buyer_choice : float
        Share of buyers free to go to another supplier.
    pay_link : float or None
        Share of pay that moves with the workplace's result; ``None``: measured each year from
        the bonuses actually paid (market).
    soft_budget : bool
        Losses covered: no closures, hoarding costs the enterprise nothing.
    job_guarantee : bool
        The unemployed are placed whether or not capacity needs them.
    hierarchy_levels : int
        Levels reports pass on the way up (each inflates growth by ``hierarchy_inflation``).
    """

    name: str
    reward: str
    ratchet: float
    audit: float
    cross_check: float
    ratings: float
    buyer_choice: float
    pay_link: float | None
    soft_budget: bool
    job_guarantee: bool
    hierarchy_levels: int


def institutions(regime: str, p: Params) -> Institutions:
    """The institutions of ``regime`` under parameters ``p``."""
    if regime == "command":
        return Institutions("command", p.indicator, p.ratchet, p.command_audit, p.command_cross_check,
                            p.command_ratings, 0.0, p.command_pay_link, p.soft_budget, True, p.hierarchy_levels)
    if regime == "market":
        return Institutions("market", "profit", 0.0, 0.0, 0.0, p.market_ratings, p.market_buyer_choice, None,
                            not p.closures, False, 0)
    if regime == "democratic":
        return Institutions("democratic", "use", p.democratic_ratchet, p.audit_probability,
                            p.cross_check_probability, p.rating_coverage, p.democratic_buyer_choice,
                            p.democratic_pay_link,
                            p.democratic_soft_budget, True, 0)
    raise SimulationError(f"unknown regime {regime!r} (choose from command, market, democratic)")
