"""The plan calculator: pure functions over an :class:`~glasnost.economy.Economy`.

- :func:`gross_output`: gross output for a final demand, ``(I - A) x = d``;
- :func:`labour_values`: vertically integrated labour and resources, ``v = v A + l``;
- :func:`optimal_plan`: Kantorovich's optimal plan with choice of technique, with shadow prices;
- :func:`multi_year_plan`: plans over years with capital stocks, investment and depreciation;
- :class:`LeontiefSystem`: a prepared solver for repeated solves.

Every result says how it was obtained (method, iterations, residual or duality gap, time).
"""

from glasnost.compute.linear import LeontiefSystem, SolveReport
from glasnost.compute.lp import InfeasiblePlanError, PlanError, UnboundedPlanError
from glasnost.compute.multiyear import MultiYearPlan, multi_year_plan
from glasnost.compute.plan import Plan, optimal_plan
from glasnost.compute.values import GrossOutput, Values, gross_output, labour_values

__all__ = [
    "GrossOutput",
    "InfeasiblePlanError",
    "LeontiefSystem",
    "MultiYearPlan",
    "Plan",
    "PlanError",
    "SolveReport",
    "UnboundedPlanError",
    "Values",
    "gross_output",
    "labour_values",
    "multi_year_plan",
    "optimal_plan",
]
