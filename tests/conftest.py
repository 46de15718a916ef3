"""Shared set-up of the test suite: the published data, the optional parts, and the skip policy.

- The published data the tests check against are in ``tests/data`` (``data_dir``).
- Tests marked ``postgresql`` need the server at 127.0.0.1:5432; where it does not answer they
  skip and say so. Leave them out with ``-m "not postgresql"``. The mark is added to every test
  parametrised with ``"postgresql"`` or using a fixture named ``postgresql``; a module of
  PostgreSQL-only tests sets it itself (and ``service_support.make_backend`` skips alike).
- Tests marked ``browser`` need Debian's chromium at /usr/bin/chromium (and Playwright, in the
  ``test`` extra); without it they skip and say how to install it. Leave them out with
  ``-m "not browser"``.
- ``GLASNOST_NO_SKIPS=1`` (or ``--no-skips``) turns every skip into a failure: ``.ci/run`` installs
  every extra and prerequisite, so there a skip means a test that did not run when it should.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from extra_support import CHROMIUM, browser_problem, postgresql_problem
from hypothesis import settings as hypothesis_settings

# CI runs the property and fuzz tests on a fixed sequence of examples (HYPOTHESIS_PROFILE=ci in
# .ci/run), so that a submission passes or fails for what it changed; locally they explore anew
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

DATA = Path(__file__).resolve().parent / "data"
NO_SKIPS_ENV = "GLASNOST_NO_SKIPS"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The published data the tests check against, kept in the repository (see data/README.md)."""
    return DATA


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-skips",
        action="store_true",
        default=False,
        help=f"fail every test that skips (also: {NO_SKIPS_ENV}=1); .ci/run uses it",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: needs the PostgreSQL server at 127.0.0.1:5432")
    config.addinivalue_line("markers", "browser: needs Debian's chromium at /usr/bin/chromium")


def no_skips(config: pytest.Config) -> bool:
    return bool(config.getoption("--no-skips")) or os.environ.get(NO_SKIPS_ENV, "") not in ("", "0")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"glasnost: PostgreSQL tests: {postgresql_problem() or 'server answers'}",
        f"glasnost: browser tests: {browser_problem() or f'chromium at {CHROMIUM}'}",
        f"glasnost: skips {'FAIL' if no_skips(config) else 'are allowed'} ({NO_SKIPS_ENV}, --no-skips)",
    ]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        parametrised = callspec is not None and "postgresql" in callspec.params.values()
        if parametrised or "postgresql" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgresql)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgresql") and (problem := postgresql_problem()):
        pytest.skip(problem)
    if item.get_closest_marker("browser") and (problem := browser_problem()):
        pytest.skip(problem)


# ---- the skip policy ---------------------------------------------------------------------------


def _skip_reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _as_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = _skip_reason(report.longrepr).removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"skipped, which {NO_SKIPS_ENV}=1 / --no-skips forbids: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and no_skips(item.config):
        _as_failure(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and no_skips(collector.config):
        _as_failure(report)  # a whole module skipped, e.g. by pytest.importorskip at its top
