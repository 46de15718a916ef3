"""The plan calculator: pure functions over an :class:`~glasnost.economy.Economy`.

- :func:`gross_output`: gross output for a final demand, ``(I - A) x = d``;
- :func:`labour_values`: vertically integrated labour and resources, ``v = v A + l``;
- :func:`optimal_plan`: Kantorovich's optimal plan with choice of technique, with shadow prices;
- :func:`large_plan`: the same for large economies, exploiting the Leontief structure, certified;
- :func:`harmony_plan`: Cockshott's harmony algorithm, a fast approximate planner;
- :func:`multi_year_plan`: plans over years with capital stocks, investment and depreciation;
- :class:`LeontiefSystem`: a prepared solver for repeated solves.

Every result says how it was obtained (method, iterations, residual or duality gap, time).
"""

from glasnost.compute.harmony import HarmonyPlan, harmony_plan
from glasnost.compute.largeplan import large_plan
from glasnost.compute.linear import LeontiefSystem, SolveReport
from glasnost.compute.lp import InfeasiblePlanError, PlanError, UnboundedPlanError
from glasnost.compute.multiyear import MultiYearPlan, multi_year_plan
from glasnost.compute.plan import optimal_plan
from glasnost.compute.result import Plan
from glasnost.compute.values import GrossOutput, Values, gross_output, labour_values

__all__ = [
    "GrossOutput",
    "HarmonyPlan",
    "InfeasiblePlanError",
    "LeontiefSystem",
    "MultiYearPlan",
    "Plan",
    "PlanError",
    "SolveReport",
    "UnboundedPlanError",
    "Values",
    "gross_output",
    "harmony_plan",
    "labour_values",
    "large_plan",
    "multi_year_plan",
    "optimal_plan",
]
