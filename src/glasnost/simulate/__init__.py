"""The regime simulator: command planning, market socialism and democratic planning on one
economy, year by year, with every behavioural assumption explicit (:mod:`.params`).

- :mod:`.reports`: workplace implementation reports from the command-regime manager model.
- :mod:`.managers`: the ratchet, the bonus rule and concealment (Weitzman 1976, 1980).

Imports only the core (``economy``, ``compute``, ``procedures``) and numpy/scipy/pyarrow.
"""

from glasnost.simulate.params import Params, SimulationError, parameter_table
from glasnost.simulate.reports import workplace_reports

__all__ = ["Params", "SimulationError", "parameter_table", "workplace_reports"]
