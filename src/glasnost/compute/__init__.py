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

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from glasnost.compute.harmony import HarmonyPlan, harmony_plan
    from glasnost.compute.largeplan import large_plan
    from glasnost.compute.linear import LeontiefSystem, SolveReport
    from glasnost.compute.lp import InfeasiblePlanError, PlanError, UnboundedPlanError
    from glasnost.compute.multiyear import MultiYearPlan, multi_year_plan
    from glasnost.compute.plan import optimal_plan
    from glasnost.compute.result import Plan
    from glasnost.compute.values import GrossOutput, Values, gross_output, labour_values

# each name is imported from its module when first asked for: a command that computes labour
# values does not import the planners (scipy.linalg and HiGHS: 0.1-0.2 s of its start)
_HOMES = {
    "harmony": ("HarmonyPlan", "harmony_plan"),
    "largeplan": ("large_plan",),
    "linear": ("LeontiefSystem", "SolveReport"),
    "lp": ("InfeasiblePlanError", "PlanError", "UnboundedPlanError"),
    "multiyear": ("MultiYearPlan", "multi_year_plan"),
    "plan": ("optimal_plan",),
    "result": ("Plan",),
    "values": ("GrossOutput", "Values", "gross_output", "labour_values"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})


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
