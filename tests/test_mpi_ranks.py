"""``plan --method large --mpi`` and ``participate --mpi`` on a version 2 directory under real
``mpiexec``: each rank reads only its block of processes, and the answers are the one-process
answers (1, 2 and 3 ranks)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from extra_support import missing_extra

pytest.importorskip("mpi4py", reason=missing_extra("mpi", "mpi4py"))

from glasnost.compute.largeplan import large_plan
from glasnost.data.synthetic import generate
from glasnost.economy import load, save

MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason=missing_extra("mpi", "mpiexec (from the mpich wheel)"))

ROW_GROUP = 2048

PLAN_SCRIPT = """
import json, sys
import numpy as np
from mpi4py import MPI
from glasnost.compute.largeplan_blocks import large_plan_from_directory
from glasnost.compute.mpi import large_plan_mpi
from glasnost.economy import load

blocks = large_plan_from_directory(sys.argv[1])
whole = large_plan_mpi(load(sys.argv[1]))  # every rank loading the whole economy, as for version 1
if MPI.COMM_WORLD.rank == 0:
    np.savez(sys.argv[2], **{f"{name}_{key}": getattr(plan, key)
             for name, plan in (("blocks", blocks), ("whole", whole))
             for key in ("objective", "dual_bound", "activity", "prices", "net_output", "capacity_rents")},
             ids=blocks.process_ids.astype("U64"))
    print(json.dumps({"blocks": blocks.extra, "whole": whole.extra}))
"""

BLOCK_SCRIPT = """
import sys
import numpy as np
from mpi4py import MPI
from glasnost.compute.mpi_blocks import read_rank_block

block = read_rank_block(sys.argv[1], MPI.COMM_WORLD)
np.savez(f"{sys.argv[2]}-{MPI.COMM_WORLD.rank}.npz", first=block.first, last=block.last,
         rows_read=block.stats.rows_read, outputs=block.outputs.toarray(), inputs=block.inputs.toarray(),
         capacity=block.capacity(), ids=block.process_ids().astype("U64"))
"""


def _mpiexec(ranks: int, *args: str) -> subprocess.CompletedProcess[str]:
    assert MPIEXEC is not None
    return subprocess.run(
        [MPIEXEC, "-n", str(ranks), sys.executable, *args], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def economy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two processes per product, capacities and labour binding: six pivoting rounds with
    explicit rows; consumer councils for Hahnel's procedure; many coefficient row groups."""
    import glasnost.economy.io_v2 as io_v2

    directory = tmp_path_factory.mktemp("ranks") / "economy"
    economy = generate(3000, seed=3, processes_per_product=2, capacity_slack=1.02, labour_slack=1.0, councils=12)
    old, io_v2.ROW_GROUP_ROWS = io_v2.ROW_GROUP_ROWS, ROW_GROUP
    try:
        save(economy, directory)
    finally:
        io_v2.ROW_GROUP_ROWS = old
    return directory


@pytest.fixture(scope="module")
def serial_plan(economy_dir: Path):
    return large_plan(load(economy_dir), time_limit=None)


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_plan_per_rank_equals_one_process(economy_dir: Path, serial_plan, tmp_path: Path, ranks: int) -> None:
    script = tmp_path / "plan.py"
    script.write_text(PLAN_SCRIPT)
    result = _mpiexec(ranks, str(script), str(economy_dir), str(tmp_path / "out.npz"))
    assert result.returncode == 0, result.stderr
    extra = json.loads(result.stdout.strip().splitlines()[-1])
    got = np.load(tmp_path / "out.npz")
    s = serial_plan
    assert extra["blocks"]["status"] == "optimal" and extra["blocks"]["ranks"] == ranks
    # the same pivoting as the one process (several rounds of it): rounds and Leontief solves
    assert extra["blocks"]["rounds"] == s.extra["rounds"] >= 3
    assert extra["blocks"]["solves"] == s.extra["solves"]
    np.testing.assert_array_equal(got["ids"], s.process_ids.astype("U64"))
    # the dual bound (from explicit prices) is the one process's
    assert float(got["blocks_dual_bound"]) == pytest.approx(s.dual_bound, rel=1e-11)
    # the plan is the whole-load MPI path's (the same distributed solver)
    for key in ("objective", "activity", "prices", "net_output", "capacity_rents"):
        a, b = got[f"blocks_{key}"], got[f"whole_{key}"]
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * max(np.abs(b).max(), 1.0), err_msg=key)
    # and the one process's within the certificate: both feasible, both below the other's bound
    z = float(got["blocks_objective"])
    assert z <= s.dual_bound * (1 + 1e-12) and s.objective <= float(got["blocks_dual_bound"]) * (1 + 1e-12)
    assert z == pytest.approx(s.objective, rel=1e-8)
    np.testing.assert_allclose(got["blocks_prices"], s.prices, rtol=1e-9, atol=1e-9 * np.abs(s.prices).max())


def test_plan_command_reads_per_rank(economy_dir: Path, serial_plan) -> None:
    result = _mpiexec(2, "-m", "glasnost.cli", "plan", str(economy_dir), "--method", "large", "--mpi", "--json")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 0 alone prints
    got = json.loads(lines[0])
    assert got["dual_bound"] == pytest.approx(serial_plan.dual_bound, rel=1e-11)
    assert got["objective"] == pytest.approx(serial_plan.objective, rel=1e-8)
    assert list(got["activity"]) == [str(i) for i in serial_plan.process_ids]


def test_each_rank_reads_exactly_its_rows(economy_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(BLOCK_SCRIPT)
    result = _mpiexec(3, str(script), str(economy_dir), str(tmp_path / "block"))
    assert result.returncode == 0, result.stderr
    economy = load(economy_dir)
    p = economy.processes
    process = pq.read_table(economy_dir / "coefficients.parquet", columns=["process"]).column(0).to_numpy()
    edges = []
    for r in range(3):
        got = np.load(tmp_path / f"block-{r}.npz")
        lo, hi = int(got["first"]), int(got["last"])
        edges.append((lo, hi))
        np.testing.assert_array_equal(got["outputs"], p.outputs[lo:hi].toarray())
        np.testing.assert_array_equal(got["inputs"], p.inputs[lo:hi].toarray())
        np.testing.assert_array_equal(got["capacity"], p.capacity[lo:hi])
        np.testing.assert_array_equal(got["ids"], p.ids[lo:hi].astype("U64"))
        own = int(((process >= lo) & (process < hi)).sum())
        assert own <= int(got["rows_read"]) <= own + 2 * ROW_GROUP  # its rows and the groups its edges cut
    assert edges == [(0, 2000), (2000, 4000), (4000, 6000)]


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_participate_per_rank_equals_one_process(economy_dir: Path, tmp_path: Path, ranks: int) -> None:
    args = ["participate", str(economy_dir), "--years", "3", "--max-rounds", "25", "--increasing-returns", "--json"]
    result = _mpiexec(ranks, "-m", "glasnost.cli", *args, "--mpi", "--out", str(tmp_path / "mpi"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 0 alone reports
    serial = subprocess.run(
        [sys.executable, "-m", "glasnost.cli", *args, "--out", str(tmp_path / "serial")],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    got, want = json.loads(lines[0]), json.loads(serial.stdout.splitlines()[-1])
    assert got["rounds_per_year"] == want["rounds_per_year"]
    # prices span 13 orders of magnitude; the ranks add the councils' figures in another order
    np.testing.assert_allclose(list(got["prices"].values()), list(want["prices"].values()), rtol=1e-10)
    for year in (1, 3):  # every council of every round, gathered on rank 0 in council order
        name = f"year-{year}/proposals.parquet"
        mine, theirs = pq.read_table(tmp_path / "mpi" / name), pq.read_table(tmp_path / "serial" / name)
        assert mine.num_rows == theirs.num_rows
        assert mine.column_names == theirs.column_names
        for column in mine.column_names:
            a, b = (t.column(column).to_numpy(zero_copy_only=False) for t in (mine, theirs))
            if a.dtype.kind == "f":
                np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=column)
            else:
                np.testing.assert_array_equal(a, b, err_msg=column)


def _corrupt(source: Path, target: Path) -> int:
    """A copy of ``source`` with a negative coefficient in the last rank's block; its file row."""
    shutil.copytree(source, target)
    path = target / "coefficients.parquet"
    table = pq.read_table(path)
    row = table.num_rows - 10
    value = table.column("value").to_numpy().copy()
    value[row] = -1.0
    table = table.set_column(table.column_names.index("value"), "value", pa.array(value))
    pq.write_table(table, path, row_group_size=ROW_GROUP)
    return row


@pytest.mark.parametrize("command", [["plan", "--method", "large"], ["participate", "--years", "1", "--out", "."]])
def test_a_corrupt_block_stops_every_rank_naming_the_file(
    economy_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    bad = tmp_path / "bad"
    row = _corrupt(economy_dir, bad)
    name, *options = command
    result = _mpiexec(2, "-m", "glasnost.cli", name, str(bad), *options, "--mpi", "--json")
    assert result.returncode != 0
    message = " ".join((result.stdout + result.stderr).split())
    assert str(bad / "coefficients.parquet") in message
    assert f"row {row}" in message and "bad value" in message
