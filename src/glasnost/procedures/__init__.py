"""Iterative planning procedures: a round engine, Hahnel's participatory procedure and a
labour-time procedure with consumer feedback.

- :class:`Board` runs rounds: every council group (:class:`Behaviour`) proposes at the posted
  prices, the board aggregates supply and demand, measures imbalances and applies a
  :class:`PriceRule`; every round is kept in a :class:`History` (Parquet via ``to_parquet``).
- :mod:`glasnost.procedures.hahnel`: Hahnel's model (Cobb-Douglas worker and consumer councils,
  the published price rule, second year, increasing returns).
- :mod:`glasnost.procedures.labour_time`: the plan from the calculator, consumer goods handed
  out for labour certificates at clearing prices, targets moved by price/value ratios.
- :class:`ExternalCouncils`: proposals arriving one by one from outside, with a default for the
  councils that did not answer.

The core imports no web, database or plotting code.
"""

from glasnost.procedures.engine import (
    Balance,
    Behaviour,
    Board,
    History,
    PriceRule,
    ProcedureError,
    Proposal,
    Round,
    RoundContext,
    RuleStep,
    imbalance_of,
)
from glasnost.procedures.external import ExternalCouncils
from glasnost.procedures.hahnel import (
    CobbDouglasConsumers,
    CobbDouglasWorkers,
    HahnelEconomy,
    HahnelPriceRule,
    HahnelRun,
    WorkerCouncils,
    hahnel_board,
    increasing_returns,
    load_hahnel,
    perturb_exponents,
    run_hahnel,
    save_hahnel,
)
from glasnost.procedures.labour_time import (
    CertificateConsumers,
    PlannedProduction,
    TargetFeedbackRule,
    labour_time_board,
    run_labour_time,
)
from glasnost.procedures.participate import PROCEDURES, Participation, participate

__all__ = [
    "PROCEDURES",
    "Balance",
    "Behaviour",
    "Board",
    "CertificateConsumers",
    "CobbDouglasConsumers",
    "CobbDouglasWorkers",
    "ExternalCouncils",
    "HahnelEconomy",
    "HahnelPriceRule",
    "HahnelRun",
    "History",
    "Participation",
    "PlannedProduction",
    "PriceRule",
    "ProcedureError",
    "Proposal",
    "Round",
    "RoundContext",
    "RuleStep",
    "TargetFeedbackRule",
    "WorkerCouncils",
    "hahnel_board",
    "imbalance_of",
    "increasing_returns",
    "labour_time_board",
    "load_hahnel",
    "participate",
    "perturb_exponents",
    "run_hahnel",
    "run_labour_time",
    "save_hahnel",
]
