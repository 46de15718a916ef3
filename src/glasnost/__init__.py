"""glasnost: democratic economic planning.

The core packages are :mod:`glasnost.economy` (the data model), :mod:`glasnost.compute`
(the plan calculator) and :mod:`glasnost.procedures` (participatory procedures).
"""

__version__ = "0.1.0"
