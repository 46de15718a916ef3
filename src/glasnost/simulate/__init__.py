"""The regime simulator: command planning, market socialism and democratic planning on one
economy, year by year, with every behavioural assumption explicit (:mod:`.params`).

- :mod:`.params`: every behavioural parameter with its default, unit and source.
- :mod:`.state`: array state over enterprises and sectors (input-output technology).
- :mod:`.regimes`: command planning, market socialism (1987 law), democratic planning.
- :mod:`.measures`: what each regime reports each year.
- :mod:`.run`: :func:`simulate` (regimes x seeds, process-parallel), :func:`sweep`.
- :mod:`.experiments`: pipe, ratchet, complexity, closures, audit.
- :mod:`.calibrate`: the calibration script, its targets and tolerances.
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
