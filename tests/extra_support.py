"""Skipping a test for an optional extra of glasnost that is not installed, saying which extra::

    pytest.importorskip("pymrio", reason=missing_extra("mrio", "pymrio"))

Only these skips are expected; everything else the tests need is in the ``test`` extra. Under
``GLASNOST_NO_SKIPS=1`` (what ``.ci/run`` sets) every skip fails instead (see conftest.py).
"""

from __future__ import annotations


def missing_extra(extra: str, what: str) -> str:
    """The skip reason for ``what`` (a module or a program) of the optional extra ``extra``."""
    return f"{what} not found: the optional extra '{extra}' is not installed (pip install -e '.[{extra}]')"

