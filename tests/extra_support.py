"""What the tests need beyond glasnost's own code, and how a test says it is missing.

A test skips only where an optional extra of glasnost is not installed, naming the extra::

    pytest.importorskip("pymrio", reason=missing_extra("mrio", "pymrio"))

or where one of the two things ``pip`` cannot install is absent: the PostgreSQL server and
Debian's chromium (see the README, Testing). Under ``GLASNOST_NO_SKIPS=1`` (what ``.ci/run``
sets) every skip fails instead (see conftest.py).
"""

from __future__ import annotations

import importlib.util
import socket
from functools import cache
from pathlib import Path

POSTGRESQL = ("127.0.0.1", 5432)
CHROMIUM = Path("/usr/bin/chromium")


def missing_extra(extra: str, what: str) -> str:
    """The skip reason for ``what`` (a module or a program) of the optional extra ``extra``."""
    return f"{what} not found: the optional extra '{extra}' is not installed (pip install -e '.[{extra}]')"


@cache
def postgresql_problem() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None when the server answers."""
    host, port = POSTGRESQL
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        return (
            f"PostgreSQL does not answer at {host}:{port} ({exc.strerror or exc}): start it (README, Testing), "
            "or leave its tests out with -m 'not postgresql'"
        )
    return None


def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright not found: the optional extra 'test' is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return (
            f"Debian's chromium is not installed at {CHROMIUM} (sudo apt-get install chromium), "
            "or leave the browser tests out with -m 'not browser'"
        )
    return None
