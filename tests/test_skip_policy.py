"""The skip policy of conftest.py: under GLASNOST_NO_SKIPS=1 (or --no-skips) a test that skips
fails, whether it skips itself, by a marker, in a fixture or for its whole module; without it the
same tests skip and the run passes. Checked by running pytest on small files in a subprocess."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

SKIPPING = {
    "test_in_body.py": """
import pytest

def test_skips():
    pytest.skip("needs something absent")
""",
    "test_by_marker.py": """
import pytest

@pytest.mark.skipif(True, reason="marked to skip")
def test_marked():
    pass
""",
    "test_in_fixture.py": """
import pytest

@pytest.fixture
def absent():
    pytest.skip("the fixture's resource is absent")

def test_uses_it(absent):
    pass
""",
    "test_whole_module.py": """
import pytest

pytest.importorskip("glasnost_no_such_module_at_all", reason="the optional extra 'nothing' is not installed")

def test_never_collected():
    pass
""",
}
HARMLESS = """
import pytest

def test_passes():
    assert 1 + 1 == 2

@pytest.mark.xfail(reason="known to fail", strict=True)
def test_expected_failure():
    assert False
"""


def _run(directory: Path, *args: str, no_skips: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GLASNOST_NO_SKIPS"}
    if no_skips is not None:
        env["GLASNOST_NO_SKIPS"] = no_skips
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-rA",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(directory),
            *args,
            str(directory),
        ],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A copy of this suite's conftest.py (and the module it imports) beside one harmless test file."""
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    shutil.copy(TESTS / "extra_support.py", tmp_path / "extra_support.py")
    (tmp_path / "test_harmless.py").write_text(HARMLESS)
    return tmp_path


@pytest.mark.parametrize("name", sorted(SKIPPING))
def test_a_skip_passes_without_the_policy_and_fails_under_it(suite: Path, name: str) -> None:
    (suite / name).write_text(SKIPPING[name])
    allowed = _run(suite)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "1 skipped" in allowed.stdout and "1 passed" in allowed.stdout and "1 xfailed" in allowed.stdout
    for forbidden in (_run(suite, no_skips="1"), _run(suite, "--no-skips")):
        assert forbidden.returncode != 0, forbidden.stdout
        assert "skipped" not in forbidden.stdout.splitlines()[-1], forbidden.stdout  # the summary counts none
        assert "GLASNOST_NO_SKIPS=1 / --no-skips forbids" in forbidden.stdout
        reason = {
            "test_in_body.py": "needs something absent",
            "test_by_marker.py": "marked to skip",
            "test_in_fixture.py": "the fixture's resource is absent",
            "test_whole_module.py": "the optional extra 'nothing' is not installed",
        }[name]
        assert reason in forbidden.stdout, forbidden.stdout


def test_without_skips_the_policy_changes_nothing(suite: Path) -> None:
    for run in (_run(suite), _run(suite, no_skips="1"), _run(suite, no_skips="0")):
        assert run.returncode == 0, run.stdout + run.stderr
        assert run.stdout.splitlines()[-1].count("passed") == 1 and "1 xfailed" in run.stdout


def test_zero_means_off(suite: Path) -> None:
    (suite / "test_in_body.py").write_text(SKIPPING["test_in_body.py"])
    run = _run(suite, no_skips="0")
    assert run.returncode == 0 and "1 skipped" in run.stdout, run.stdout


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free now, and nothing listens on it once closed


def test_postgresql_and_browser_tests_say_what_is_missing(suite: Path) -> None:
    """Where PostgreSQL does not answer and chromium is absent, their tests skip naming them and
    how to leave them out; ``-m`` leaves them out; under the policy they fail."""
    support = (TESTS / "extra_support.py").read_text()
    assert 'POSTGRESQL = ("127.0.0.1", 5432)' in support and 'CHROMIUM = Path("/usr/bin/chromium")' in support
    support = support.replace('("127.0.0.1", 5432)', f'("127.0.0.1", {_closed_port()})')
    support = support.replace('Path("/usr/bin/chromium")', f"Path({str(suite / 'no-chromium')!r})")
    (suite / "extra_support.py").write_text(support)
    (suite / "test_harmless.py").unlink()
    (suite / "test_parts.py").write_text(PARTS)
    run = _run(suite)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 4 skipped" in run.stdout, run.stdout
    assert "PostgreSQL does not answer at 127.0.0.1" in run.stdout and "-m 'not postgresql'" in run.stdout
    assert "chromium is not installed" in run.stdout and "apt-get install chromium" in run.stdout
    left_out = _run(suite, "-m", "not postgresql and not browser")
    assert left_out.returncode == 0 and "1 passed, 1 skipped, 3 deselected" in left_out.stdout, left_out.stdout
    forbidden = _run(suite, no_skips="1")
    summary = forbidden.stdout.splitlines()[-1]  # three skip at setup (errors), one in its body (failed)
    assert forbidden.returncode != 0 and "1 failed, 1 passed, 3 errors" in summary, forbidden.stdout


PARTS = """
import pytest
from extra_support import postgresql_problem

@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param

def test_on_each_backend(backend):
    pass

@pytest.fixture
def postgresql():
    return "a server"

def test_by_fixture_name(postgresql):
    pass

def test_by_a_helper_that_needs_the_server():  # like service_support.make_backend
    if problem := postgresql_problem():
        pytest.skip(problem)

@pytest.mark.browser
def test_in_a_browser():
    pass
"""


def test_ci_runs_the_tests_under_the_policy() -> None:
    lines = (TESTS.parent / ".ci" / "run").read_text().splitlines()
    runs = [line for line in lines if "-m pytest" in line and not line.lstrip().startswith("#")]
    assert runs and all("GLASNOST_NO_SKIPS=1" in line for line in runs), runs
