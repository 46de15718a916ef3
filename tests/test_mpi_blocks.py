"""Under ``mpiexec -n 2`` each rank reads only its block of a version 2 directory's
coefficients and the answer is the one process's, to 1e-12."""

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

from glasnost.compute import gross_output, labour_values
from glasnost.data.synthetic import generate
from glasnost.economy import load, save

MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason=missing_extra("mpi", "mpiexec (from the mpich wheel)"))

SCRIPT = """
import json, sys
import numpy as np
from mpi4py import MPI
from glasnost.compute.mpi_blocks import values_from_directory

sol = values_from_directory(sys.argv[1])
s = sol.stats
stats = MPI.COMM_WORLD.gather(
    {"rows_read": s.rows_read, "total": s.total_rows, "processes": list(s.processes), "products": list(s.products)},
    root=0,
)
if MPI.COMM_WORLD.rank == 0:
    np.savez(sys.argv[2], by_input=sol.values.by_input, gross=sol.gross.gross, primary_use=sol.gross.primary_use,
             resid=max(sol.values.report.residual, sol.gross.report.residual))
    print(json.dumps(stats))
"""


@pytest.fixture(scope="module")
def economy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import glasnost.economy.io_v2 as io_v2

    directory = tmp_path_factory.mktemp("blocks") / "economy"
    old, io_v2.ROW_GROUP_ROWS = io_v2.ROW_GROUP_ROWS, 4096  # many row groups at a test's size
    try:
        save(generate(6000, labour_types=2, processes_per_product=2, seed=11), directory)
    finally:
        io_v2.ROW_GROUP_ROWS = old
    return directory


def test_each_rank_reads_its_block_and_gets_the_serial_answer(economy_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [MPIEXEC, "-n", "2", sys.executable, str(script), str(economy_dir), str(tmp_path / "out.npz")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    coefficients = pq.read_table(economy_dir / "coefficients.parquet")
    process = coefficients.column("process").to_numpy()
    total = coefficients.num_rows
    for s in stats:
        lo, hi = s["processes"]
        own = int(((process >= lo) & (process < hi)).sum())
        # the rows of its processes, plus at most the two row groups its edges cut into
        assert own <= s["rows_read"] <= own + 2 * 4096
        assert s["rows_read"] < 0.7 * total
    assert sum(s["processes"][1] - s["processes"][0] for s in stats) == 12000
    got = np.load(tmp_path / "out.npz")
    economy = load(economy_dir)
    v = labour_values(economy, method="direct")
    g = gross_output(economy, method="direct")
    assert float(got["resid"]) < 1e-12
    np.testing.assert_allclose(got["by_input"], v.by_input, rtol=1e-12, atol=1e-12 * np.abs(v.by_input).max())
    np.testing.assert_allclose(got["gross"], g.gross, rtol=1e-12, atol=1e-12 * np.abs(g.gross).max())
    np.testing.assert_allclose(got["primary_use"], g.primary_use, rtol=1e-11)
