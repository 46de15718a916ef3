"""The command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from glasnost.cli import app
from glasnost.compute import labour_values
from glasnost.economy import load

runner = CliRunner()


def test_demo_writes_a_report(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "glasnost.cli", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Optimum:" in proc.stdout
    report = (tmp_path / "demo" / "index.html").read_text()
    assert "Participatory year:" in proc.stdout
    for figure in ("plan-vs-targets.png", "valuations.png", "labour-use.png", "imbalance.png"):
        assert figure in report
        assert (tmp_path / "demo" / figure).stat().st_size > 1000
    economy = load(tmp_path / "demo" / "economy")
    assert economy.describe()["produced"] == 20
    # the demo's public log verifies, and a changed byte in it does not
    log, key = tmp_path / "demo" / "ledger.jsonl", tmp_path / "demo" / "ledger-key.pub"
    ok = runner.invoke(app, ["verify", str(log), "--key", str(key)])
    assert ok.exit_code == 0, ok.output
    lines = log.read_text().splitlines()
    lines[3] = lines[3].replace("round", "rounD", 1)
    log.write_text("\n".join(lines) + "\n")
    bad = runner.invoke(app, ["verify", str(log), "--key", str(key)])
    assert bad.exit_code == 1
    assert "entry 2" in bad.output


def test_generate_values_plan_round_trip(tmp_path: Path) -> None:
    directory = tmp_path / "eco"
    result = runner.invoke(
        app, ["generate", "300", "--out", str(directory), "--processes", "2", "--capacity-slack", "1.5", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["values", str(directory), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    economy = load(directory)
    expected = labour_values(economy)
    assert data["labour_values"]["p7"] == pytest.approx(float(expected.labour[7]), rel=1e-12)
    assert data["residual"] < 1e-10
    result = runner.invoke(app, ["plan", str(directory), "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["gap"] < 1e-7
    assert plan["dual_bound"] == pytest.approx(plan["objective"], rel=1e-7)


def test_plan_of_five_year_tables(data_dir: Path) -> None:
    result = runner.invoke(app, ["plan", str(data_dir / "cockshott-5yearplan"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert round(data["objective"], 5) == 7.33645
    assert round(data["fulfilment"]["year1"], 6) == 0.159221


def test_bad_directory_is_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["values", str(tmp_path)])
    assert result.exit_code == 1
    assert "not an economy directory" in result.output
    assert "Traceback" not in result.output


def test_values_out_parquet(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    directory = tmp_path / "eco"
    assert runner.invoke(app, ["generate", "50", "--out", str(directory), "--labour-types", "2"]).exit_code == 0
    result = runner.invoke(app, ["values", str(directory), "--out", str(tmp_path / "v.parquet")])
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "v.parquet")
    total = np.asarray(table.column("embodied:labour-0")) + np.asarray(table.column("embodied:labour-1"))
    np.testing.assert_allclose(total, table.column("labour_value").to_numpy(), rtol=1e-12)


def test_unproductive_economy_names_the_group(tmp_path: Path) -> None:
    from glasnost.economy import Economy, save

    economy = Economy.from_leontief([[0.5, 0.6], [0.9, 0.5]], ids=["coal", "steel"], check_productive=False)
    save(economy, tmp_path / "bad")
    result = runner.invoke(app, ["values", str(tmp_path / "bad")])
    assert result.exit_code == 1
    assert "[coal, steel]" in result.output
    assert "spectral radius" in result.output


def test_migrate_rewrites_a_version_1_directory(tmp_path: Path) -> None:
    from glasnost.data.synthetic import generate as make
    from glasnost.economy import save
    from glasnost.economy.io import schema_version

    directory = save(make(500, seed=3), tmp_path / "old", schema_version=1)
    before = labour_values(load(directory)).labour
    result = runner.invoke(app, ["migrate", str(directory)])
    assert result.exit_code == 0, result.output
    assert "schema version 1 -> 2" in " ".join(result.output.split())  # rich wraps lines
    assert schema_version(directory) == 2
    np.testing.assert_allclose(labour_values(load(directory)).labour, before, rtol=1e-12, atol=0)
    again = runner.invoke(app, ["migrate", str(directory)])
    assert again.exit_code == 0 and "already schema version 2" in " ".join(again.output.split())
    missing = runner.invoke(app, ["migrate", str(tmp_path / "nowhere")])
    assert missing.exit_code != 0 and "no manifest.json" in " ".join(missing.output.split())


def test_values_imports_no_platform_and_help_lists_every_command() -> None:
    """``glasnost values`` builds only what it needs (no SQLAlchemy, no control or simulation
    command modules); ``glasnost --help`` still lists the lazily built commands and groups."""
    probe = (
        "import sys\n"
        "from glasnost.cli import app\n"
        "sys.argv = ['glasnost', 'values', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('sqlalchemy', 'glasnost.service.cli', 'glasnost.control.cli',"
        " 'glasnost.simulate.cli') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    listed = runner.invoke(app, ["--help"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    names = [line.split()[1] for line in listed.output.splitlines() if line.startswith("│ ") and len(line.split()) > 2]
    for name in ("values", "generate", "serve", "worker", "simulate", "witness", "admin", "control"):
        assert name in names, listed.output
    # commands before groups, as when every module registered itself at import
    assert names.index("simulate") < names.index("witness") < names.index("admin") < names.index("control")
    for command in (["admin", "--help"], ["control", "--help"], ["serve", "--help"], ["simulate", "--help"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output


def test_a_command_sets_numpys_pages_and_arrows_pool(tmp_path: Path) -> None:
    """``glasnost`` commands allocate large arrays on ordinary pages and Arrow buffers from
    jemalloc (where pyarrow has it), unless the environment chose; the answer is the same."""
    probe = (
        "import sys\n"
        "import numpy as np, pyarrow as pa\n"
        "from glasnost.cli import app\n"
        "sys.argv = ['glasnost', 'generate', '300', '--out', sys.argv[1]]\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "from numpy._core.multiarray import _set_madvise_hugepage\n"
        "print(_set_madvise_hugepage(False), pa.default_memory_pool().backend_name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NUMPY_MADVISE_HUGEPAGE", "ARROW_DEFAULT_MEMORY_POOL")}
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "eco")], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    hugepages_were_on, pool = proc.stdout.strip().splitlines()[-1].split()
    assert hugepages_were_on == "False"  # the command had switched numpy's huge pages off
    import pyarrow as pa

    try:
        pa.jemalloc_memory_pool()
        assert pool == "jemalloc"
    except (NotImplementedError, pa.ArrowNotImplementedError):
        assert pool in ("mimalloc", "system")
    chosen = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "eco2")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "NUMPY_MADVISE_HUGEPAGE": "1", "ARROW_DEFAULT_MEMORY_POOL": "system"},
    )
    assert chosen.stdout.strip().splitlines()[-1].split() == ["True", "system"]
    assert load(tmp_path / "eco").describe() == load(tmp_path / "eco2").describe()
