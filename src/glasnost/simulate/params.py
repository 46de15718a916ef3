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

__all__ = ["Params", "SimulationError", "parameter_table"]


class SimulationError(GlasnostError):
    """Bad input to the simulator: the message names the parameter, regime or experiment."""


def _p(default: Any, unit: str, meaning: str, source: str) -> Any:
    return field(default=default, metadata={"unit": unit, "meaning": meaning, "source": source})


@dataclass(frozen=True)
class Params:
    """Behavioural parameters (defaults calibrated; see :func:`parameter_table`)."""

    # --- the economy --------------------------------------------------------------------
    enterprises_per_sector: int = _p(50, "enterprises", "enterprises in each sector", "modelling choice")
    tfp_dispersion: float = _p(0.078, "log sd", "dispersion of enterprise productivity (well vs poorly equipped)",
        "calibrated: 13% loss-making at fixed prices in 1987 (Law 1987)",
    )
    size_dispersion: float = _p(0.8, "log sd", "dispersion of enterprise size", "modelling choice")
    labour_saving: float = _p(0.0377, "1/yr", "fall of labour needed per unit of output (technical progress)",
                              "calibrated: Soviet growth path (Easterly-Fischer 1995)")
    capacity_slack: float = _p(1.05, "ratio", "initial capacity / gross output for needs", "modelling choice")
    output_capital_ratio: float = _p(1.0, "1/yr", "gross output per unit of capital (base prices)",
                                     "calibrated: Soviet growth ~5%/yr in the 1950s (Easterly-Fischer 1995)")
    depreciation: float = _p(0.05, "1/yr", "capital depreciation", "Easterly-Fischer 1995")
    planned_profit_rate: float = _p(0.05, "fraction", "fixed price = (1 + rate) x sector average cost",
                                    "Soviet price formation (cost-plus), Berliner 1957")
    variant_share: float = _p(0.3, "fraction", "enterprises whose product has a lighter, better variant",
                              "modelling choice (the essay's pipe)")
    lightness: float = _p(0.25, "fraction", "the light variant weighs this much less", "the essay: a pipe 25% lighter")
    betterness: float = _p(0.10, "fraction", "the light variant gives this much more use", "the essay: 'and better'")
    products: float = _p(1.0e4, "products", "distinct products to coordinate in year 0", "modelling choice")
    product_elasticity: float = _p(1.1738, "elasticity", "products grow with capital^elasticity (complexity)",
                                   "calibrated: Soviet growth slowdown (Easterly-Fischer 1995)")
    # --- command planning ---------------------------------------------------------------
    ratchet: float = _p(0.5, "lambda", "next target = target + lambda (reported output - target)", "Weitzman 1980")
    discount_mean: float = _p(0.65, "beta", "mean manager discount factor: 0.9 a year times ~0.72 chance of "
                              "staying in the post (short tenures)", "Weitzman 1980; Berliner 1957 (turnover)")
    discount_sd: float = _p(0.10, "beta sd", "spread of manager discount factors", "modelling choice")
    safety_margin: float = _p(0.005, "fraction", "concealing managers aim this far above target (100.5%)",
                              "Berliner 1957 (plans fulfilled at just over 100%)")
    safety_reserve: float = _p(0.15, "fraction", "capacity a concealing manager keeps off its report",
                               "Berliner 1957 ('safety factor')")
    tautness: float = _p(1.0, "ratio", "initial target / reported capacity (>1: taut planning)", "Kornai 1980")
    indicator: str = _p("roubles", "-", "gross indicator steering the variant: roubles, tonnes or use",
                        "Soviet val (gross output in roubles)")
    padding_limit: float = _p(0.10, "fraction", "padding (pripiski) of a short-falling report, at most",
                              "Berliner 1957")
    hierarchy_levels: int = _p(3, "levels", "levels reports pass on the way up", "Berliner 1957")
    hierarchy_inflation: float = _p(0.005, "fraction/level", "inflation of reported growth at each level",
                                    "Khanin (hierarchy padding)")
    hidden_inflation: float = _p(0.0302, "1/yr", "rouble index inflation from 'new' cost-plus products",
                                 "calibrated: Khanin 84.4x official vs 6.6x true")
    hoarding: float = _p(0.10, "fraction", "inputs hoarded above need (lost to final use)", "Kornai 1980")
    soft_budget: bool = _p(True, "-", "losses covered by subsidies (soft budget constraint)", "Kornai 1986")
    product_dispersion: float = _p(1.0, "log sd", "spread of the number of products across sectors",
                                   "modelling choice")
    balances: float = _p(3.584e4, "products", "material balances the bureau can coordinate",
                         "calibrated: Soviet growth slowdown (Gosplan ~2000 balances, scaled)")
    mismatch_loss: float = _p(0.8999, "fraction", "output lost on the uncoordinated share of products",
                              "calibrated: Soviet growth slowdown")
    investment_rate: float = _p(0.25, "fraction", "initial investment / output", "Easterly-Fischer 1995")
    growth_target: float = _p(0.05, "1/yr", "growth the bureau aims for", "Soviet five-year plans")
    investment_response: float = _p(0.3, "1/yr per 1/yr", "rise of the investment rate per point of growth "
                                    "shortfall", "modelling choice (Easterly-Fischer 1995: rate rising)")
    investment_rate_max: float = _p(0.40, "fraction", "cap on the investment rate", "Easterly-Fischer 1995")
    quality_decay: float = _p(0.02, "1/yr", "quality drifts down without feedback", "Kornai 1980")
    new_incentive: bool = _p(False, "-", "Weitzman's new Soviet incentive model instead of the classic bonus",
                             "Weitzman 1976")
    nsim_alpha: float = _p(0.3, "bonus/unit", "NSIM bonus per unit above own proposal (alpha < b)", "Weitzman 1976")
    nsim_b: float = _p(0.5, "bonus/unit", "NSIM bonus per unit of own proposal", "Weitzman 1976")
    nsim_gamma: float = _p(0.7, "bonus/unit", "NSIM penalty per unit below own proposal (gamma > b)",
                           "Weitzman 1976")
    substitution_use: float = _p(0.5, "fraction", "use value of a good taken instead of the one wanted "
                                 "(forced substitution)", "Kornai 1980")
    queue_hours: float = _p(2.0, "hours/week", "hours in queues per household at a 10% shortage", "Kornai 1980")
    # --- market socialism (1987 law) -------------------------------------------------------
    markup: float = _p(0.15, "fraction", "price mark-up over unit cost", "Law 1987 (enterprise price setting)")
    price_adjustment: float = _p(0.3, "1/yr", "speed of price moves towards mark-up and inventories",
                                 "modelling choice")
    demand_elasticity: float = _p(4.0, "-", "price elasticity of an enterprise's share in its sector",
                                  "modelling choice")
    retained_share: float = _p(0.5, "fraction", "share of profit paid out as wage bonus", "Law 1987")
    closures: bool = _p(True, "-", "loss-makers close after closure_years loss years", "Law 1987")
    closure_years: int = _p(3, "years", "consecutive loss years before closure", "Law 1987")
    subsidy_share: float = _p(0.2, "fraction", "subsidised consumer prices (food, transport, housing)",
                              "Law 1987 / price reform plans")
    subsidy_phase_years: int = _p(5, "years", "years to phase out consumer subsidies", "Law 1987")
    layoff_tolerance: float = _p(0.05, "fraction", "surplus workforce kept before lay-offs", "modelling choice")
    layoff_rate: float = _p(0.15, "1/yr", "most of a workforce laid off in one year (notice, transfers)",
                            "modelling choice")
    hiring_rate: float = _p(0.5, "1/yr", "share of vacancies filled from the unemployed each year",
                            "modelling choice")
    ward_vanek: bool = _p(False, "-", "labour-managed firms maximise income per worker", "Ward 1958, Vanek 1970")
    ward_vanek_hiring: float = _p(0.1727, "fraction", "share of vacancies a labour-managed firm fills",
                                  "calibrated: Yugoslav unemployment 1957-77")
    labour_force_growth: float = _p(0.012, "1/yr", "growth of the labour force",
                                    "Easterly-Fischer 1995 (USSR 1960-89); Yugoslav runs: calibrate.YUGOSLAV (fitted)")
    initial_unemployment: float = _p(0.0, "fraction", "unemployment at the start",
                                     "USSR 1987: none officially; Yugoslav runs: calibrate.YUGOSLAV (fitted)")
    unemployment_benefit: float = _p(0.3, "x mean wage paid", "income of an unemployed household (replacement "
                                     "rate of the mean wage enterprises actually paid last year)",
                                     "modelling choice: the RSFSR employment law of 1991 paid the registered "
                                     "unemployed 75%/60%/45% of their former wage (about 0.57 over a first year); "
                                     "many were not registered")
    credit_share: float = _p(0.05, "fraction", "bank credit for investment, share of value added a year",
                             "Law 1987 (Gosbank credits to self-financing enterprises); modelling choice")
    goszakaz: bool = _p(True, "-", "state orders (goszakaz) buy a share of each enterprise's last output "
                        "in the first reform years (switch)", "Law 1987; Ericson 1988")
    goszakaz_share: float = _p(0.6, "fraction", "share of last year's output the state orders in the first "
                               "reform year, falling linearly to 0 after goszakaz_years",
                               "modelling choice: state orders were to cover most output in 1988 and shrink "
                               "(Ericson 1988; Gregory-Stuart 2001)")
    goszakaz_years: int = _p(3, "years", "years of state orders (1988-90)", "Law 1987; Gregory-Stuart 2001")
    spending_floor: float = _p(0.97, "ratio", "nominal spending falls at most to this share of last year's "
                               "(the budget's deficit spending)", "modelling choice (USSR budget deficits 1987-90)")
    market_quality_response: float = _p(0.05, "1/yr", "quality gain under competition", "modelling choice")
    market_investment_share: float = _p(0.7, "fraction", "share of profit after bonuses the enterprise "
                                        "invests (the rest goes to the budget)", "Law 1987 (normatives)")
    # --- democratic planning ----------------------------------------------------------------
    audit_probability: float = _p(0.3, "probability/yr", "chance that open books catch concealed capacity",
                                  "modelling choice (cross-checked public reports)")
    audit_penalty: float = _p(2.0, "bonus units/unit", "sanction per unit of concealment found",
                              "modelling choice")
    cross_check_probability: float = _p(0.9, "probability", "chance that receivers' reports contradict a padded "
                                        "one (reconciliation of open books)", "modelling choice")
    democratic_ratchet: float = _p(0.5, "lambda", "plans also build on last year's reports", "as ratchet")
    quality_feedback: float = _p(0.15, "1/yr", "quality gain from consumer ratings entering the plan",
                                 "modelling choice")
    procedure: str = _p("hahnel", "-", "participatory procedure for the annual plan", "Hahnel")
    council_returns: float = _p(0.80, "sum of exponents", "returns to scale of each simulated worker council in "
                                "Hahnel's procedure (sum of its input exponents, capped at this)",
                                "the published experiments (pequod dep1ex01-03): 0.76-0.84, mean 0.80")
    round_cap: int = _p(60, "rounds", "cap on planning rounds a year", "modelling choice")
    meeting_hours_per_round: float = _p(1.0, "hours/worker", "meeting time each planning round costs",
                                        "modelling choice")
    hours_per_year: float = _p(1800.0, "hours", "working hours per worker per year", "modelling choice")
    plan_samples: int = _p(6, "years", "distinct planning years run through the procedure, then reused",
                           "modelling choice (speed)")
    democratic_investment_rate: float = _p(0.25, "fraction", "investment / output chosen by the plan",
                                           "as command")
    democratic_coverage: float = _p(1.0, "fraction", "share of products the calculator coordinates (1: all)",
                                    "assumption of the essay; glasnost.compute solves 10^6+ products")
    frictional_unemployment: float = _p(0.01, "fraction", "workers between plan-assigned jobs",
                                        "modelling choice")
    plan_closure_share: float = _p(0.005, "1/yr", "worst-equipped share the plan retires each year",
                                   "modelling choice")

    def with_(self, **changes: Any) -> Params:
        """A copy with ``changes``; unknown names raise :class:`SimulationError`."""
        known = {f.name: f for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise SimulationError(f"unknown parameter {name!r} (see glasnost.simulate.params.Params)")
            default = known[name].default
            if isinstance(default, bool):
                changes[name] = _as_bool(name, value)
            elif isinstance(default, int):
                changes[name] = int(value)
            elif isinstance(default, float):
                changes[name] = float(value)
        return replace(self, **changes)


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
