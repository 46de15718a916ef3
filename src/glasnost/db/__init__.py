"""The database layer every stateful part stands on: engine and sessions (:mod:`~glasnost.db.engine`),
settings (:mod:`~glasnost.db.settings`) and migrations (``migrations/``, one Alembic branch per part).

It sits below both :mod:`glasnost.service` and :mod:`glasnost.control` and imports neither.
"""

from glasnost.db.engine import Base, Database, migrate, utcnow
from glasnost.db.settings import DEFAULT_DATABASE, Settings

# the database layer's own tables, registered on Base
from glasnost.db import limits as _limits  # noqa: F401  isort: skip
from glasnost.db import vault as _vault  # noqa: F401  isort: skip

__all__ = ["DEFAULT_DATABASE", "Base", "Database", "Settings", "migrate", "utcnow"]
