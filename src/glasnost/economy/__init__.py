"""The economy model every part of glasnost shares.

Commodities (goods, public goods, natural resources, labour types) with stable string ids;
production processes with sparse output, input and capital coefficients; consumer councils.
An :class:`Economy` is validated when built and immutable afterwards; :func:`save` and
:func:`load` move it to and from a directory of Parquet files with a JSON manifest.
"""

from glasnost.economy.errors import EconomyError, GlasnostError, NotProductiveError
from glasnost.economy.io import SCHEMA_VERSION, load, migrate, save
from glasnost.economy.model import (
    Commodities,
    Councils,
    Economy,
    Kind,
    Processes,
    Technique,
    as_ids,
    check_productive,
    index_of,
)

__all__ = [
    "SCHEMA_VERSION",
    "Commodities",
    "Councils",
    "Economy",
    "EconomyError",
    "GlasnostError",
    "Kind",
    "NotProductiveError",
    "Processes",
    "Technique",
    "as_ids",
    "check_productive",
    "index_of",
    "load",
    "migrate",
    "save",
]
