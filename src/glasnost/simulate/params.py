"""Every behavioural parameter of the regime simulator: a default, a unit and a source.

:class:`Params` is one frozen dataclass; each field carries ``metadata`` with its unit, its
meaning and where the default comes from (a published figure, a model in the literature, or
"calibrated" with the name of the target in :mod:`glasnost.simulate.calibrate`). The report
prints :func:`parameter_table` so every run says which assumptions it used.

Sources cited (short keys used in the table):

- *Weitzman 1976*: M. Weitzman, "The New Soviet Incentive Model", Bell Journal of Economics 7(1).
- *Weitzman 1980*: M. Weitzman, "The 'Ratchet Principle' and Performance Incentives", Bell
  Journal of Economics 11(1): next target = target + lambda x (output - target).
- *Kornai 1980*: J. Kornai, Economics of Shortage; *Kornai 1986*: "The Soft Budget Constraint",
  Kyklos 39.
- *Berliner 1957*: J. Berliner, Factory and Manager in the USSR (safety factor, padding,
  "storming", reports inflated on the way up).
- *Khanin*: G. Khanin and V. Selyunin, "Lukavaya tsifra", Novy Mir 1987 no. 2; Khanin 1991:
  national income 1928-1985 grew 6.6x, official statistics 84.4x ("hidden inflation").
- *Easterly-Fischer 1995*: "The Soviet Economic Decline", World Bank Econ. Review 9(3):
  growth about 5%/yr in the 1950s-60s, about 2% from the late 1970s, investment rate rising.
- *Law 1987*: USSR Law on the State Enterprise (Association), 30 June 1987: self-financing,
  wages and investment from retained revenue, closure of persistently loss-making enterprises;
  about 13% of state enterprises were loss-making when it came into force (Aslund 1991,
  Gorbachev's Struggle for Economic Reform, ch. 5).
- *Ward 1958*: B. Ward, "The Firm in Illyria", AER 48(4); *Vanek 1970*: The General Theory of
  Labor-Managed Market Economies: the labour-managed firm maximises income per worker and hires
  less than a wage-paying firm.
- *Yugoslavia*: social-sector unemployment 4.9% (1957), 7.6% (1967), 12.1% (1977); Woodward
  1995, Socialist Unemployment, table A.1.
- *Ericson 1988*: R. Ericson, "The New Enterprise Law", Harriman Institute Forum 1(2): state
  orders (goszakaz) replace plan targets for a part of output, a part meant to shrink.
- *Gregory-Stuart 2001*: P. Gregory and R. Stuart, Russian and Soviet Economic Performance and
  Structure: the state order a guaranteed purchase of part of a plant's output, declining.
- *Hahnel*: R. Hahnel, participatory annual planning (``glasnost.procedures.hahnel``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from glasnost.economy.errors import GlasnostError

__all__ = ["Params", "SimulationError", "behavioural_ranges", "parameter_table"]


class SimulationError(GlasnostError):
    """Bad input to the simulator: the message names the parameter, regime or experiment."""


def _p(
    default: Any,
    unit: str,
    meaning: str,
    source: str,
    *,
    low: float | None = None,
    high: float | None = None,
    valid: tuple[float, float] | None = None,
) -> Any:
    """A parameter: ``low``..``high`` is the range the sensitivity analysis explores (a
    behavioural parameter's plausible range, with the reason in ``source``); ``valid`` the values
    the rules accept at all (checked by :meth:`Params.with_`)."""
    meta = {"unit": unit, "meaning": meaning, "source": source}
    if low is not None and high is not None:
        meta["range"] = (float(low), float(high))
    if valid is not None:
        meta["valid"] = valid
    return field(default=default, metadata=meta)


REMOVED = {
    "democratic_coverage": "democratic planning's coordination is what its procedure achieves on the year's "
                           "products (see mismatch_loss, round_cap)",
    "quality_feedback": "quality follows one rule in every regime: see quality_response, rating_coverage",
    "market_quality_response": "quality follows one rule in every regime: see quality_response, market_buyer_choice",
    "hoarding": "hoarding follows delivery failures and budgets: see hoarding_response, hard_budget_hoarding",
    "frictional_unemployment": "unemployment follows placement and closures: see hiring_rate",
    "plan_closure_share": "planned closures follow the accounts under a hard budget: see democratic_soft_budget",
}
"""Parameters of earlier versions and what replaced them (issue 16)."""

SHARE = (0.0, 1.0)
NON_NEGATIVE = (0.0, float("inf"))


@dataclass(frozen=True)
class Params:
    """Behavioural parameters (defaults calibrated; see :func:`parameter_table`).

    Three groups: the economy and the rules every regime shares (one parameter each, the same
    for every regime); the institutions of each regime (``command_*``, ``market_*``, the
    democratic ones), which are the only place the regimes differ; calibration-only settings.
    """

    # --- the economy --------------------------------------------------------------------
    enterprises_per_sector: int = _p(50, "enterprises", "enterprises in each sector", "modelling choice",
                                     valid=(1, float("inf")))
    tfp_dispersion: float = _p(0.078, "log sd", "dispersion of enterprise productivity (well vs poorly equipped)",
                               "set by an earlier fit (to 13% loss-making in 1987); now fixed", valid=NON_NEGATIVE)
    size_dispersion: float = _p(0.8, "log sd", "dispersion of enterprise size", "modelling choice",
                                valid=NON_NEGATIVE)
    labour_saving: float = _p(0.0455, "1/yr", "fall of labour needed per unit of output (technical progress)",
                              "calibrated: Soviet growth 5.7%/yr 1951-60 and 2.0%/yr 1981-85 (Ofer 1987)",
                              valid=(0.0, 0.99))
    capacity_slack: float = _p(1.05, "ratio", "initial capacity / gross output for needs", "modelling choice",
                               valid=(1e-9, float("inf")))
    output_capital_ratio: float = _p(1.0, "1/yr", "gross output per unit of capital (base prices)",
                                     "set by an earlier fit to Soviet growth (Easterly-Fischer 1995); now fixed",
                                     valid=(1e-9, float("inf")))
    depreciation: float = _p(0.05, "1/yr", "capital depreciation", "Easterly-Fischer 1995", valid=SHARE)
    planned_profit_rate: float = _p(0.15, "fraction", "fixed price = (1 + rate) x sector average cost",
                                    "Soviet cost-plus prices (Berliner 1957); the 1967 and 1982 price reforms aimed at "
                                    "a profit rate of about 15% (Bornstein 1987; there on capital, here on cost)",
                                    valid=(-0.99, float("inf")))
    price_revision_years: int = _p(15, "years", "planned regimes revise fixed prices to cost-plus every so many "
                                   "years (first in year 2, then 17 = 1967, 32 = 1982)",
                                   "Bornstein 1987: Soviet wholesale price reforms of 1967 and 1982",
                                   valid=(1, float("inf")))
    variant_share: float = _p(0.3, "fraction", "enterprises whose product has a lighter, better variant",
                              "modelling choice (the essay's pipe)", valid=SHARE)
    lightness: float = _p(0.25, "fraction", "the light variant weighs this much less", "the essay: a pipe 25% lighter",
                          valid=SHARE)
    betterness: float = _p(0.10, "fraction", "the light variant gives this much more use", "the essay: 'and better'",
                           valid=NON_NEGATIVE)
    products: float = _p(1.0e4, "products", "distinct products to coordinate in year 0", "modelling choice",
                         valid=(1.0, float("inf")))
    product_elasticity: float = _p(1.1738, "elasticity", "products grow with capital^elasticity (complexity)",
                                   "set by an earlier fit to the Soviet slowdown; now fixed", valid=NON_NEGATIVE)
    product_dispersion: float = _p(1.0, "log sd", "spread of the number of products across sectors",
                                   "modelling choice", valid=NON_NEGATIVE)
    mismatch_loss: float = _p(0.8999, "fraction", "output lost on the share of products no plan coordinates "
                              "(command: beyond the bureau's balances; democratic: the demand the procedure's "
                              "last round leaves unmet)", "set by an earlier fit to the Soviet slowdown (at its "
                              "bound); now fixed", valid=SHARE)
    labour_force_growth: float = _p(0.012, "1/yr", "growth of the labour force (entrants join the unemployed and "
                                    "are hired or placed like anyone else)",
                                    "Easterly-Fischer 1995 (USSR 1960-89); Yugoslav runs: calibrate.YUGOSLAV (fitted)",
                                    valid=(-0.99, float("inf")))
    initial_unemployment: float = _p(0.0, "fraction", "unemployment at the start",
                                     "USSR 1987: none officially; Yugoslav runs: calibrate.YUGOSLAV (fitted)",
                                     valid=(0.0, 0.99))
    hours_per_year: float = _p(1800.0, "hours", "working hours per worker per year", "modelling choice",
                               valid=(1e-9, float("inf")))
    # --- rules every regime shares (one parameter, the same in every regime) -------------------
    discount_mean: float = _p(0.65, "beta", "mean manager (or council) discount factor: 0.9 a year times ~0.72 "
                              "chance of staying in the post", "Weitzman 1980; Berliner 1957 (turnover)",
                              low=0.55, high=0.8, valid=(0.0, 0.99))
    discount_sd: float = _p(0.10, "beta sd", "spread of manager discount factors", "modelling choice",
                            valid=NON_NEGATIVE)
    safety_margin: float = _p(0.005, "fraction", "concealing managers aim this far above target (100.5%)",
                              "Berliner 1957 (plans fulfilled at just over 100%)", valid=NON_NEGATIVE)
    safety_reserve: float = _p(0.15, "fraction", "capacity a concealing manager keeps off its report",
                               "Berliner 1957 ('safety factor'); range: modelling choice", low=0.05, high=0.3,
                               valid=SHARE)
    padding_limit: float = _p(0.10, "fraction", "padding (pripiski) of a short-falling report, at most",
                              "Berliner 1957", valid=NON_NEGATIVE)
    audit_penalty: float = _p(2.0, "bonus units/unit", "sanction per unit of concealment or padding found",
                              "modelling choice", low=0.5, high=5.0, valid=NON_NEGATIVE)
    auditor_collusion: float = _p(0.0, "probability", "chance that an auditor who finds hidden capacity or a "
                                  "padded report is bought off and reports nothing (any regime's auditors)",
                                  "modelling choice: Soviet control bodies colluded with those they checked "
                                  "(Berliner 1957); 0 = incorruptible", low=0.0, high=0.5, valid=SHARE)
    audit_hours: float = _p(8.0, "hours/worker", "working time an audit takes from each worker of the audited "
                            "enterprise that year (books opened, questions answered)",
                            "modelling choice (one working day)", low=0.0, high=40.0, valid=NON_NEGATIVE)
    effort_gap: float = _p(0.18, "fraction", "effort lost where no pay moves with the workplace's result: effort = "
                           "1 - effort_gap x (1 - pay link); the same response in every regime",
                           "Lazear 2000 (AER 90(5)): piece rates raised output per worker 44% at Safelite, about "
                           "22% from the same workers' effort, so 1 - 1/1.22 = 0.18; range to 0: Craig-Pencavel 1995 "
                           "find worker cooperatives no less productive", low=0.0, high=0.22, valid=(0.0, 0.99))
    observed_pay_link: float = _p(0.15, "share", "pay link under which the starting economy's labour coefficients "
                                  "were observed (effort 1 there)", "the Soviet economy of year 0 (command_pay_link's "
                                  "default)", valid=SHARE)
    quality_response: float = _p(0.15, "1/yr", "rise of quality towards 1 per unit of quality signal (the share "
                                 "of producers' reward or plan that moves with what users say or do about quality)",
                                 "modelling choice: brackets the earlier democratic 0.15/yr and market 0.05/yr",
                                 low=0.02, high=0.3, valid=SHARE)
    quality_decay: float = _p(0.02, "1/yr", "quality drifts down towards quality_floor without feedback "
                              "(economising on quality pays under any output indicator)", "Kornai 1980",
                              low=0.0, high=0.05, valid=SHARE)
    quality_floor: float = _p(0.2, "0..1", "quality a product drifts down to without feedback", "modelling choice",
                              valid=SHARE)
    forecast_error: float = _p(0.05, "log sd", "error of each enterprise's forecast of its own capacity when the "
                               "plan (or its production schedule) is made: output below the plan leaves its "
                               "customers short of inputs; output above it finds no inputs allocated",
                               "modelling choice", low=0.0, high=0.15, valid=NON_NEGATIVE)
    hoarding_response: float = _p(1.0, "fraction per fraction", "inputs hoarded above need, per unit of last "
                                  "year's share of inputs not delivered (insurance against a repeat)",
                                  "Kornai 1980 (hoarding driven by shortage); modelling choice", low=0.0, high=2.0,
                                  valid=NON_NEGATIVE)
    hard_budget_hoarding: float = _p(0.5, "ratio", "hoarding under a hard budget relative to a soft one (stocks "
                                     "then cost the enterprise)", "Kornai 1986; modelling choice",
                                     low=0.0, high=1.0, valid=SHARE)
    salvage_share: float = _p(0.5, "fraction", "share of a closed enterprise's capital reused elsewhere",
                              "modelling choice", low=0.0, high=1.0, valid=SHARE)
    closure_years: int = _p(3, "years", "consecutive loss years before a hard-budget enterprise closes", "Law 1987",
                            valid=(1, float("inf")))
    hiring_rate: float = _p(0.5, "1/yr", "share of vacancies filled from the unemployed each year (where jobs are "
                            "guaranteed: share of the unemployed placed)", "modelling choice", low=0.2, high=0.9,
                            valid=SHARE)
    substitution_use: float = _p(0.5, "fraction", "use value of a good taken instead of the one wanted "
                                 "(forced substitution)", "Kornai 1980", low=0.2, high=0.8, valid=SHARE)
    queue_hours: float = _p(2.0, "hours/week", "hours in queues per household at a 10% shortage", "Kornai 1980",
                            valid=NON_NEGATIVE)
    unemployment_benefit: float = _p(0.3, "x mean wage paid", "income of an unemployed household (replacement "
                                     "rate of the mean wage enterprises actually paid last year)",
                                     "modelling choice: the RSFSR employment law of 1991 paid the registered "
                                     "unemployed 75%/60%/45% of their former wage (about 0.57 over a first year); "
                                     "many were not registered", valid=NON_NEGATIVE)
    # --- command planning: institutions ----------------------------------------------------------
    ratchet: float = _p(0.5, "lambda", "next target = target + lambda (reported output - target)", "Weitzman 1980",
                        low=0.2, high=0.8, valid=SHARE)
    tautness: float = _p(1.0, "ratio", "initial target / reported capacity (>1: taut planning)", "Kornai 1980",
                         valid=NON_NEGATIVE)
    indicator: str = _p("roubles", "-", "gross indicator steering the variant: roubles, tonnes or use",
                        "Soviet val (gross output in roubles)")
    hierarchy_levels: int = _p(3, "levels", "levels command reports pass on the way up", "Berliner 1957",
                               valid=(0, float("inf")))
    hierarchy_inflation: float = _p(0.005, "fraction/level", "inflation of reported growth at each level",
                                    "Khanin (hierarchy padding): a rate put in, not a mechanism", valid=NON_NEGATIVE)
    hidden_inflation: float = _p(0.0304, "1/yr", "rouble index inflation from 'new' cost-plus products: a fitted "
                                 "residual, not a mechanism",
                                 "calibrated: Khanin 84.4x official vs 6.6x true 1928-85, as a mean yearly gap over "
                                 "1950-85",
                                 valid=NON_NEGATIVE)
    soft_budget: bool = _p(True, "-", "command: losses covered by subsidies (soft budget constraint)", "Kornai 1986")
    balances: float = _p(7.06e4, "products", "material balances the bureau can coordinate",
                         "calibrated: Soviet growth 1951-60 and 1981-85 (Ofer 1987; Gosplan ~2000 balances, "
                         "scaled)", valid=NON_NEGATIVE)
    investment_rate: float = _p(0.25, "fraction", "initial investment / output", "Easterly-Fischer 1995",
                                valid=SHARE)
    growth_target: float = _p(0.05, "1/yr", "growth the bureau aims for", "Soviet five-year plans")
    investment_response: float = _p(0.3, "1/yr per 1/yr", "rise of the investment rate per point of growth "
                                    "shortfall", "modelling choice (Easterly-Fischer 1995: rate rising)",
                                    valid=NON_NEGATIVE)
    investment_rate_max: float = _p(0.40, "fraction", "cap on the investment rate", "Easterly-Fischer 1995",
                                    valid=SHARE)
    command_audit: float = _p(0.05, "probability/yr", "chance a year that the People's Control audits an "
                              "enterprise's capacity", "modelling choice (control bodies checked a few plants a "
                              "year each)", low=0.0, high=0.3, valid=SHARE)
    command_cross_check: float = _p(0.1, "probability", "chance that a padded command report is contradicted "
                                    "(closed books: only what passes the ministry)", "modelling choice",
                                    low=0.0, high=0.5, valid=SHARE)
    command_ratings: float = _p(0.0, "share", "share of output whose users' complaints reach the producer's "
                                "bonus (the complaints book did not)", "modelling choice (Kornai 1980)",
                                low=0.0, high=0.3, valid=SHARE)
    command_pay_link: float = _p(0.15, "share", "share of pay that moves with plan fulfilment (bonuses)",
                                 "modelling choice: bonuses were a minority of Soviet workers' earnings",
                                 low=0.0, high=0.4, valid=SHARE)
    new_incentive: bool = _p(False, "-", "Weitzman's new Soviet incentive model instead of the classic bonus",
                             "Weitzman 1976")
    nsim_alpha: float = _p(0.3, "bonus/unit", "NSIM bonus per unit above own proposal (alpha < b)", "Weitzman 1976")
    nsim_b: float = _p(0.5, "bonus/unit", "NSIM bonus per unit of own proposal", "Weitzman 1976")
    nsim_gamma: float = _p(0.7, "bonus/unit", "NSIM penalty per unit below own proposal (gamma > b)",
                           "Weitzman 1976")
    # --- market socialism (1987 law): institutions --------------------------------------------
    markup: float = _p(0.15, "fraction", "price mark-up over unit cost", "Law 1987 (enterprise price setting)",
                       valid=(-0.99, float("inf")))
    price_adjustment: float = _p(0.3, "1/yr", "speed of price moves towards mark-up and inventories",
                                 "modelling choice", valid=SHARE)
    normal_utilisation: float = _p(0.5, "fraction", "market prices spread fixed costs over at least this share of "
                                   "capacity (normal-cost pricing)", "Coutts-Godley-Nordhaus 1978 (normal-cost "
                                   "pricing); the share is a modelling choice", valid=SHARE)
    demand_elasticity: float = _p(4.0, "-", "price elasticity of an enterprise's share in its sector",
                                  "modelling choice", valid=NON_NEGATIVE)
    retained_share: float = _p(0.5, "fraction", "share of profit paid out as wage bonus (the market's pay link is "
                               "last year's bonuses over its wage bill)", "Law 1987", low=0.2, high=0.7, valid=SHARE)
    closures: bool = _p(True, "-", "market: loss-makers close after closure_years loss years", "Law 1987")
    market_buyer_choice: float = _p(1.0, "share", "share of buyers free to go to another supplier (quality signal "
                                    "times the share of demand that is met: in a seller's market nobody can choose)",
                                    "Kornai 1980 (seller's market); modelling choice", low=0.5, high=1.0,
                                    valid=SHARE)
    market_ratings: float = _p(0.0, "share", "share of output whose users' ratings are published and reach the "
                               "producer (none under the 1987 law)", "modelling choice", valid=SHARE)
    subsidy_share: float = _p(0.2, "fraction", "subsidised consumer prices (food, transport, housing)",
                              "Law 1987 / price reform plans", valid=SHARE)
    subsidy_phase_years: int = _p(5, "years", "years to phase out consumer subsidies", "Law 1987",
                                  valid=(0, float("inf")))
    layoff_tolerance: float = _p(0.05, "fraction", "surplus workforce kept before lay-offs", "modelling choice",
                                 valid=NON_NEGATIVE)
    layoff_rate: float = _p(0.15, "1/yr", "most of a workforce laid off in one year (notice, transfers)",
                            "modelling choice", valid=SHARE)
    ward_vanek: bool = _p(False, "-", "labour-managed firms maximise income per worker", "Ward 1958, Vanek 1970")
    ward_vanek_hiring: float = _p(0.1943, "fraction", "share of vacancies a labour-managed firm fills",
                                  "calibrated: Yugoslav unemployment 1957-77", valid=SHARE)
    credit_share: float = _p(0.05, "fraction", "bank credit for investment, share of value added a year",
                             "Law 1987 (Gosbank credits to self-financing enterprises); modelling choice",
                             valid=NON_NEGATIVE)
    goszakaz: bool = _p(True, "-", "state orders (goszakaz) buy a share of each enterprise's last output "
                        "in the first reform years (switch)", "Law 1987; Ericson 1988")
    goszakaz_share: float = _p(0.6, "fraction", "share of last year's output the state orders in the first "
                               "reform year, falling linearly to 0 after goszakaz_years",
                               "modelling choice: state orders were to cover most output in 1988 and shrink "
                               "(Ericson 1988; Gregory-Stuart 2001)", valid=NON_NEGATIVE)
    goszakaz_years: int = _p(3, "years", "years of state orders (1988-90)", "Law 1987; Gregory-Stuart 2001",
                             valid=(0, float("inf")))
    spending_floor: float = _p(0.97, "ratio", "nominal spending falls at most to this share of last year's "
                               "(the budget's deficit spending)", "modelling choice (USSR budget deficits 1987-90)",
                               valid=NON_NEGATIVE)
    market_investment_share: float = _p(0.7, "fraction", "share of profit after bonuses the enterprise "
                                        "invests (the rest goes to the budget)", "Law 1987 (normatives)",
                                        valid=SHARE)
    # --- democratic planning: institutions --------------------------------------------------
    audit_probability: float = _p(0.3, "probability/yr", "chance a year that open books are audited (hidden "
                                  "capacity found)", "modelling choice (cross-checked public reports)",
                                  low=0.05, high=0.5, valid=SHARE)
    cross_check_probability: float = _p(0.9, "probability", "chance that receivers' reports contradict a padded "
                                        "one (reconciliation of open books)", "modelling choice",
                                        low=0.3, high=1.0, valid=SHARE)
    rating_coverage: float = _p(0.5, "share", "share of output whose users' ratings are published and enter the "
                                "next plan (the democratic quality signal)", "modelling choice: the essay's "
                                "consumer ratings; how many products get rated is open", low=0.0, high=1.0,
                                valid=SHARE)
    democratic_buyer_choice: float = _p(0.0, "share", "share of buyers free to go to another supplier (0: goods "
                                        "are allocated by the plan)", "modelling choice", valid=SHARE)
    democratic_pay_link: float = _p(0.0, "share", "share of pay that moves with the workplace's result (0: equal "
                                    "pay per hour; Albert-Hahnel's pay for effort rated by co-workers would raise "
                                    "it)", "the essay (equal pay); range: modelling choice", low=0.0, high=0.5,
                                    valid=SHARE)
    democratic_soft_budget: bool = _p(False, "-", "democratic: losses covered by the plan (no closures)",
                                      "modelling choice: open books, no subsidies by default")
    democratic_ratchet: float = _p(0.5, "lambda", "plans also build on last year's reports", "as ratchet",
                                   low=0.2, high=0.8, valid=SHARE)
    procedure: str = _p("hahnel", "-", "participatory procedure for the annual plan", "Hahnel")
    council_returns: float = _p(0.80, "sum of exponents", "returns to scale of each simulated worker council in "
                                "Hahnel's procedure (sum of its input exponents, capped at this)",
                                "the published experiments (pequod dep1ex01-03): 0.76-0.84, mean 0.80",
                                low=0.76, high=0.84, valid=(0.01, 0.99))
    round_cap: int = _p(60, "rounds", "cap on planning rounds a year", "modelling choice", valid=(1, float("inf")))
    meeting_hours_per_round: float = _p(1.0, "hours/worker", "meeting time each planning round costs at 10^4 "
                                        "products", "modelling choice", low=0.25, high=4.0, valid=NON_NEGATIVE)
    meeting_product_elasticity: float = _p(0.0, "elasticity", "hours a round grow with (products / 10^4)^this: 0 "
                                           "if software aggregates what councils weigh, 1 if each product takes "
                                           "its own time", "modelling choice (the essay assumes software)",
                                           low=0.0, high=0.5, valid=NON_NEGATIVE)
    product_heterogeneity: float = _p(0.3, "log sd", "how much products of one sector differ in the procedure's "
                                      "economy (their councils' input exponents and consumers' tastes)",
                                      "modelling choice", low=0.1, high=0.6, valid=NON_NEGATIVE)
    product_drift: float = _p(0.025, "log sd/yr", "yearly change of every product's exponents between plans",
                              "the published year-to-year change (pequod: +0..0.004 on exponents near 0.1, "
                              "+-0.002 on 0.05-0.1), in proportion", low=0.01, high=0.05, valid=NON_NEGATIVE)
    plan_samples: int = _p(6, "years", "consecutive planning years run through the procedure per product count, "
                           "then drawn from", "modelling choice (speed)", valid=(1, float("inf")))
    plan_seeds: int = _p(3, "runs", "independent procedure runs per product count, shared by simulation seeds",
                         "modelling choice (speed)", valid=(1, float("inf")))
    democratic_investment_rate: float = _p(0.25, "fraction", "investment / output chosen by the plan",
                                           "as command", valid=SHARE)

    def with_(self, **changes: Any) -> Params:
        """A copy with ``changes``; unknown names raise :class:`SimulationError`."""
        known = {f.name: f for f in fields(self)}
        for name, value in changes.items():
            if name in REMOVED:
                raise SimulationError(f"parameter {name!r} was removed: {REMOVED[name]}")
            if name not in known:
                raise SimulationError(f"unknown parameter {name!r} (see glasnost.simulate.params.Params)")
            default = known[name].default
            try:
                if isinstance(default, bool):
                    changes[name] = _as_bool(name, value)
                elif isinstance(default, int):
                    changes[name] = int(value)
                elif isinstance(default, float):
                    changes[name] = float(value)
            except (TypeError, ValueError):
                raise SimulationError(f"parameter {name}: {value!r} is not a number") from None
            valid = known[name].metadata.get("valid")
            if valid is not None and not valid[0] <= changes[name] <= valid[1]:
                raise SimulationError(
                    f"parameter {name}: {changes[name]} is outside {_shown(valid)} ({known[name].metadata['unit']})"
                )
        return replace(self, **changes)


def _shown(bounds: tuple[float, float]) -> str:
    low, high = bounds
    return f"[{low:g}, {high:g}]" if high != float("inf") else f"{low:g} or more"


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise SimulationError(f"parameter {name}: {value!r} is not true/false")


def parameter_table(params: Params) -> list[list[object]]:
    """Rows ``[name, value, default, unit, meaning, source]`` for every parameter."""
    rows: list[list[object]] = []
    for f in fields(params):
        m = f.metadata
        rows.append([f.name, getattr(params, f.name), f.default, m["unit"], m["meaning"], m["source"]])
    return rows


def behavioural_ranges() -> dict[str, tuple[float, float]]:
    """Every behavioural parameter with the range the sensitivity analysis explores
    (``{name: (low, high)}``; the reason for each range is in its source)."""
    return {f.name: f.metadata["range"] for f in fields(Params) if "range" in f.metadata}
