"""Hahnel's procedure with councils over ``mpiexec -n 2`` ranks agrees with the serial run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from extra_support import missing_extra

pytest.importorskip("mpi4py", reason=missing_extra("mpi", "mpi4py"))

from glasnost.data.pequod import load_experiment
from glasnost.procedures import ProcedureError, run_hahnel
from glasnost.procedures.mpi import participate_mpi

MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason=missing_extra("mpi", "mpiexec (from the mpich wheel)"))

SCRIPT = """
import sys
import numpy as np
from mpi4py import MPI
from glasnost.data.pequod import load_experiment
from glasnost.procedures.mpi import run_hahnel_mpi

run = run_hahnel_mpi(load_experiment(sys.argv[1]), years=2, seed=5)
h = run.years[-1]
out = {
    "prices": h.stack("prices"), "supply": h.stack("supply"), "demand": h.stack("demand"),
    "rounds": np.array([len(y) for y in run.years]),
    "local_workers": np.array([h.rounds[-1].proposals["workers"].ids.size]),
}
if MPI.COMM_WORLD.rank == 0:
    out["ids"] = h.rounds[-1].proposals["workers"].ids.astype("U64")
    out["output"] = h.council_column("workers", "output")
    out["effort"] = h.council_column("workers", "effort")
np.savez(sys.argv[2] + f"-{MPI.COMM_WORLD.rank}.npz", **out)
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MPIEXEC, "-n", "2", *args], capture_output=True, text=True, timeout=300, check=False)


def test_partitioned_councils_agree_with_serial(data_dir: Path, tmp_path: Path) -> None:
    source = data_dir / "pequod" / "dep1ex01.clj.gz"
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    result = _run(sys.executable, str(script), str(source), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    rank0, rank1 = (np.load(tmp_path / f"out-{r}.npz") for r in (0, 1))
    serial = run_hahnel(load_experiment(source), years=2, seed=5)
    h = serial.years[-1]
    assert rank0["rounds"].tolist() == [len(y) for y in serial.years]
    for got in (rank0, rank1):  # every rank holds the same board
        np.testing.assert_allclose(got["prices"], h.stack("prices"), rtol=1e-12)
        np.testing.assert_allclose(got["supply"], h.stack("supply"), rtol=1e-12)
        np.testing.assert_allclose(got["demand"], h.stack("demand"), rtol=1e-12)
    # the councils were split (each rank proposed for part of them) and gathered back in order on rank 0
    assert 0 < int(rank1["local_workers"][0]) < 3000
    np.testing.assert_array_equal(rank0["ids"], h.rounds[-1].proposals["workers"].ids.astype("U64"))
    np.testing.assert_allclose(rank0["output"], h.council_column("workers", "output"), rtol=1e-12)
    np.testing.assert_allclose(rank0["effort"], h.council_column("workers", "effort"), rtol=1e-12)


def test_participate_command_with_mpi(data_dir: Path, tmp_path: Path) -> None:
    source = str(data_dir / "pequod" / "dep1ex02.clj.gz")
    args = ["participate", source, "--years", "1", "--json"]
    result = _run(sys.executable, "-m", "glasnost.cli", *args, "--mpi", "--out", str(tmp_path / "mpi"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 0 alone reports
    serial = subprocess.run(
        [sys.executable, "-m", "glasnost.cli", *args, "--out", str(tmp_path / "serial")],
        capture_output=True, text=True, timeout=300, check=True,
    )
    got, want = json.loads(lines[0]), json.loads(serial.stdout.splitlines()[-1])
    assert got["rounds"] == want["rounds"] and got["converged"] == want["converged"]
    np.testing.assert_allclose(list(got["prices"].values()), list(want["prices"].values()), rtol=1e-12)
    # the per-council table written by rank 0 holds every council of every round
    mpi_rows = pq.read_table(tmp_path / "mpi" / "year-1" / "proposals.parquet").num_rows
    assert mpi_rows == pq.read_table(tmp_path / "serial" / "year-1" / "proposals.parquet").num_rows


def test_only_hahnel_is_partitioned(data_dir: Path) -> None:
    he = load_experiment(data_dir / "pequod" / "dep1ex01.clj.gz")
    with pytest.raises(ProcedureError, match="labour-time"):
        participate_mpi(he, procedure="labour-time")
