"""The regime simulator: command planning, market socialism and democratic planning on one
economy, year by year, with every behavioural assumption explicit (:mod:`.params`).

- :mod:`.params`: every behavioural parameter with its default, unit, source and the range the
  sensitivity analysis explores.
- :mod:`.institutions`: what differs between the regimes, and nothing else.
- :mod:`.state`: array state over enterprises and sectors (input-output technology).
- :mod:`.regimes`: the shared rules (:mod:`.regimes.rules`), the planned economy both planned
  regimes run (:mod:`.regimes.planned`), command planning, market socialism (1987 law),
  democratic planning and its participatory procedure on the year's products
  (:mod:`.regimes.planning`).
- :mod:`.measures`: what each regime reports each year.
- :mod:`.run`: :func:`simulate` (regimes x seeds, process-parallel), :func:`sweep`.
- :mod:`.experiments`: pipe, ratchet, complexity, closures, audit, sensitivity.
- :mod:`.sensitivity`: Sobol' (or Morris) indices of the regimes' ranking (SALib, an extra).
- :mod:`.calibrate`: the calibration script, its fitted targets and the held-out figures.
- :mod:`.reports`: workplace implementation reports from the command-regime manager model.
- :mod:`.managers`: the ratchet, the bonus rule and concealment (Weitzman 1976, 1980).

Imports only the core (``economy``, ``compute``, ``procedures``) and numpy/scipy/pyarrow.
"""

from glasnost.simulate.params import Params, SimulationError, parameter_table
from glasnost.simulate.reports import workplace_reports
from glasnost.simulate.run import demo_comparison, run_regime, simulate, sweep

__all__ = [
    "Params",
    "SimulationError",
    "demo_comparison",
    "parameter_table",
    "run_regime",
    "simulate",
    "sweep",
    "workplace_reports",
]
