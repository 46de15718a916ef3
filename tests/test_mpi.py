"""The MPI backend under ``mpiexec -n 2`` agrees with the serial path to 1e-12."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("mpi4py")

from glasnost.compute import gross_output, labour_values
from glasnost.compute.mpi import halo_sizes, locality_order, row_cuts
from glasnost.data.synthetic import generate
from glasnost.economy import load, save

MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install mpich)")

SCRIPT = """
import sys
import numpy as np
from mpi4py import MPI
from glasnost.compute.mpi import gross_output_mpi, labour_values_mpi
from glasnost.economy import load

economy = load(sys.argv[1])
v = labour_values_mpi(economy)
g = gross_output_mpi(economy)
if MPI.COMM_WORLD.rank == 0:
    np.savez(sys.argv[2], by_input=v.by_input, gross=g.gross, resid=max(v.report.residual, g.report.residual))
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MPIEXEC, "-n", "2", *args], capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def economy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # large enough that the serial path iterates too, small enough for a test
    directory = tmp_path_factory.mktemp("mpi") / "economy"
    save(generate(6000, labour_types=2, seed=11), directory)
    return directory


def test_mpi_agrees_with_serial(economy_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    result = _run(sys.executable, str(script), str(economy_dir), str(tmp_path / "out.npz"))
    assert result.returncode == 0, result.stderr
    got = np.load(tmp_path / "out.npz")
    economy = load(economy_dir)
    v = labour_values(economy, method="direct")
    g = gross_output(economy, method="direct")
    assert float(got["resid"]) < 1e-12
    np.testing.assert_allclose(got["by_input"], v.by_input, rtol=1e-12, atol=1e-12 * np.abs(v.by_input).max())
    np.testing.assert_allclose(got["gross"], g.gross, rtol=1e-12, atol=1e-12 * np.abs(g.gross).max())


def test_values_command_with_mpi(economy_dir: Path) -> None:
    result = _run(sys.executable, "-m", "glasnost.cli", "values", str(economy_dir), "--mpi", "--json")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 0 alone prints
    got = json.loads(lines[0])
    assert got["method"] == "mpi-gmres (2 ranks)"
    economy = load(economy_dir)
    v = labour_values(economy, method="direct")
    np.testing.assert_allclose(np.array(list(got["labour_values"].values())), v.labour, rtol=1e-12)


def test_locality_order_shrinks_the_halo() -> None:
    # a banded technology (each product uses its neighbours) stored in a scrambled order
    n = 2000
    rng = np.random.default_rng(0)
    band = sp.diags_array([np.full(n - 1, 0.2), np.full(n - 1, 0.3)], offsets=[-1, 1], format="csr")
    p = rng.permutation(n)
    scrambled = sp.csr_array(band[p][:, p])
    q = locality_order(scrambled)
    ordered = sp.csr_array(scrambled[q][:, q])
    assert halo_sizes(scrambled, 2).sum() > 500
    assert halo_sizes(ordered, 2).sum() <= 4  # a band split in two touches one neighbour each way
    assert row_cuts(ordered, 2)[[0, -1]].tolist() == [0, n]
