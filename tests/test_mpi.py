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
from extra_support import missing_extra

pytest.importorskip("mpi4py", reason=missing_extra("mpi", "mpi4py"))

from glasnost.compute import gross_output, labour_values
from glasnost.compute.mpi import halo_sizes, locality_order, row_cuts
from glasnost.data.synthetic import generate, random_technology
from glasnost.economy import load, save

MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason=missing_extra("mpi", "mpiexec (from the mpich wheel)"))

SCRIPT = """
import sys
import numpy as np
from mpi4py import MPI
from glasnost.compute.mpi import gross_output_mpi, labour_values_mpi
from glasnost.economy import load

economy = load(sys.argv[1])
v = labour_values_mpi(economy)
g = gross_output_mpi(economy)
va = labour_values_mpi(economy, exchange="allgather")
ga = gross_output_mpi(economy, exchange="allgather")
vr = labour_values_mpi(economy, order="rcm")
if MPI.COMM_WORLD.rank == 0:
    np.savez(
        sys.argv[2], by_input=v.by_input, gross=g.gross, resid=max(v.report.residual, g.report.residual),
        by_input_allgather=va.by_input, gross_allgather=ga.gross, by_input_rcm=vr.by_input,
        method=v.report.method,
    )
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
    assert str(got["method"]) == "mpi-deflated (2 ranks, halo)"
    np.testing.assert_allclose(got["by_input"], v.by_input, rtol=1e-12, atol=1e-12 * np.abs(v.by_input).max())
    np.testing.assert_allclose(got["gross"], g.gross, rtol=1e-12, atol=1e-12 * np.abs(g.gross).max())
    np.testing.assert_allclose(got["by_input_rcm"], v.by_input, rtol=1e-12, atol=1e-12 * np.abs(v.by_input).max())
    # the halo exchange delivers the entries the allgather does (the halo sweep runs glasnost's
    # fused kernel where it is built, the allgather one scipy's product: close, not identical)
    np.testing.assert_allclose(
        got["by_input_allgather"], got["by_input"], rtol=1e-12, atol=1e-12 * np.abs(v.by_input).max()
    )
    np.testing.assert_allclose(got["gross_allgather"], got["gross"], rtol=1e-12, atol=1e-12 * np.abs(g.gross).max())


@pytest.mark.parametrize(
    ("version", "method"),
    [(2, "mpi-deflated (2 ranks, halo, row blocks read per rank)"), (1, "mpi-deflated (2 ranks, halo)")],
)
def test_values_command_with_mpi(economy_dir: Path, tmp_path: Path, version: int, method: str) -> None:
    if version == 1:  # a version 1 directory is loaded whole on every rank, as before
        economy_dir = save(load(economy_dir), tmp_path / "v1", schema_version=1)
    result = _run(sys.executable, "-m", "glasnost.cli", "values", str(economy_dir), "--mpi", "--json")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 0 alone prints
    got = json.loads(lines[0])
    assert got["method"] == method
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


HALO_SCRIPT = """
import json, sys
import numpy as np
import scipy.sparse as sp
from mpi4py import MPI
from glasnost.compute.mpi import DistributedMatrix

comm = MPI.COMM_WORLD
# rows 0-2 on rank 0, rows 3-5 on rank 1; M[i, j] = 10 i + j + 1 at the listed columns
pattern = {0: [0, 4], 1: [1, 2, 5], 2: [3], 3: [0], 4: [2, 4], 5: [2, 5]}
rows = [i for i, cols in pattern.items() for _ in cols]
cols = [j for c in pattern.values() for j in c]
M = sp.csr_array(([10.0 * i + j + 1 for i, j in zip(rows, cols)], (rows, cols)), shape=(6, 6))
out = {}
for name in ("halo", "allgather", "halo-blocked", "allgather-blocked"):
    exchange, _, blocked = name.partition("-")
    # "blocked": the local product in column blocks of 2 (the cache blocking of large matrices)
    D = DistributedMatrix.from_matrix(
        M, comm, cuts=np.array([0, 3, 6]), exchange=exchange, column_block=2 if blocked else 10**6
    )
    x = np.arange(1.0, 7.0)[D.lo : D.hi]
    out[name] = {
        "blocks": len(D.local[np.dtype(np.float64)].parts),
        "whole": D.global_block().toarray().tolist(),
        "matvec": D.gather(D.matvec(x)).tolist(),
        "rmatvec": D.gather(D.rmatvec(x)).tolist(),
        "matvec32": D.gather(D.matvec(x.astype(np.float32)).astype(np.float64)).tolist(),
        "halo": D.halo,
    }
    if name == "halo":
        p = D.plan
        out["plan"] = [p.recv_global.tolist(), p.recv_counts.tolist(), p.send_local.tolist(), p.send_counts.tolist()]
every = comm.gather(out, root=0)
if comm.rank == 0:
    json.dump(every, open(sys.argv[1], "w"))
"""


def test_halo_lists_on_a_hand_built_matrix(tmp_path: Path) -> None:
    script = tmp_path / "halo.py"
    script.write_text(HALO_SCRIPT)
    result = _run(sys.executable, str(script), str(tmp_path / "out.json"))
    assert result.returncode == 0, result.stderr
    rank0, rank1 = json.loads((tmp_path / "out.json").read_text())
    rows = [0, 0, 1, 1, 1, 2, 3, 4, 4, 5, 5]
    cols = [0, 4, 1, 2, 5, 3, 0, 2, 4, 2, 5]
    M = np.zeros((6, 6))
    M[rows, cols] = [10.0 * i + j + 1 for i, j in zip(rows, cols, strict=True)]
    # by hand: rank 0's rows read columns 3, 4, 5 of rank 1; rank 1's rows read columns 0, 2 of rank 0
    assert rank0["plan"] == [[3, 4, 5], [0, 3], [0, 2], [0, 2]]
    assert rank1["plan"] == [[0, 2], [2, 0], [0, 1, 2], [3, 0]]
    assert (rank0["halo"]["halo"], rank1["halo"]["halo"]) == (3, 2)
    assert (rank0["allgather"]["halo"], rank1["allgather"]["halo"]) == (3, 3)
    # products by hand: x = (1..6), M[i, j] = 10 i + j + 1
    by_hand = [1 * 1 + 5 * 5, 12 * 2 + 13 * 3 + 16 * 6, 24 * 4, 31 * 1, 43 * 3 + 45 * 5, 53 * 3 + 56 * 6]
    by_hand_t = [1 * 1 + 31 * 4, 12 * 2, 13 * 2 + 43 * 5 + 53 * 6, 24 * 3, 5 * 1 + 45 * 5, 16 * 2 + 56 * 6]
    for name in ("halo", "allgather", "halo-blocked", "allgather-blocked"):
        for rank, got in enumerate((rank0[name], rank1[name])):
            assert got["matvec"] == by_hand
            assert got["matvec32"] == by_hand
            assert got["rmatvec"] == by_hand_t
            # this rank's rows back with global columns, whatever the blocking
            np.testing.assert_array_equal(got["whole"], M[3 * rank : 3 * rank + 3])
    # widths 6 (rank 0: 3 own + 3 halo) and 5 (rank 1) or 6 (allgather) in blocks of 2 columns
    assert [rank0["halo-blocked"]["blocks"], rank1["halo-blocked"]["blocks"]] == [3, 3]
    assert rank0["halo"]["blocks"] == 1 and rank0["allgather-blocked"]["blocks"] == 3


def test_receive_lists_without_mpi() -> None:
    from glasnost.compute.mpi import HaloPlan

    halo, counts = HaloPlan.receive_lists(np.array([0, 7, 2, 7, 9, 4, 1]), np.array([0, 3, 6, 10]), 1)
    assert halo.tolist() == [0, 1, 2, 7, 9]  # rank 1 owns 3-5; 7 twice counts once
    assert counts.tolist() == [3, 0, 2]


@pytest.fixture(scope="module")
def plan_economy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # two processes per product, capacities and labour binding: the optimiser pivots
    directory = tmp_path_factory.mktemp("mpi-plan") / "economy"
    save(generate(4000, seed=3, processes_per_product=2, capacity_slack=1.5, labour_slack=1.0), directory)
    return directory


def test_plan_command_with_mpi(plan_economy_dir: Path) -> None:
    from glasnost.compute.largeplan import large_plan

    result = _run(sys.executable, "-m", "glasnost.cli", "plan", str(plan_economy_dir), "--mpi", "--json")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 0 alone prints
    got = json.loads(lines[0])
    economy = load(plan_economy_dir)
    serial = large_plan(economy, time_limit=None)
    assert got["method"] == serial.method
    assert got["objective"] == pytest.approx(serial.objective, rel=1e-12)
    assert got["dual_bound"] == pytest.approx(serial.dual_bound, rel=1e-12)
    activity = np.array(list(got["activity"].values()))
    np.testing.assert_allclose(activity, serial.activity, rtol=1e-9, atol=1e-9 * np.abs(serial.activity).max())


STALL_SCRIPT = """
import sys
import numpy as np
import scipy.sparse as sp
from mpi4py import MPI
from glasnost.compute.mpi import DistributedLeontief

rng = np.random.default_rng(4)
def block(m):
    B = sp.random_array((m, m), density=0.05, rng=rng, format="csc") + sp.eye_array(m, k=1) + sp.eye_array(m, k=1 - m)
    return B @ sp.diags_array(0.9 / np.asarray(B.sum(axis=0)).ravel())  # every column sums to 0.9: rho = 0.9
# two such industries barely trading: two eigenvalues near 0.9, only one of which deflation removes
A = sp.csr_array(sp.block_diag([block(400), block(500)]) + 1e-4 * sp.random_array((900, 900), density=0.01, rng=rng))
d = rng.random(900)
x, sweeps, residual, method = DistributedLeontief(A).solve(d)
if MPI.COMM_WORLD.rank == 0:
    np.savez(sys.argv[1], A=A.toarray(), d=d, x=x, residual=residual, method=method)
"""


def test_stalled_deflation_finishes_with_gmres(tmp_path: Path) -> None:
    script = tmp_path / "stall.py"
    script.write_text(STALL_SCRIPT)
    result = _run(sys.executable, str(script), str(tmp_path / "out.npz"))
    assert result.returncode == 0, result.stderr
    got = np.load(tmp_path / "out.npz")
    assert str(got["method"]) == "deflated+gmres"
    want = np.linalg.solve(np.eye(900) - got["A"], got["d"])
    assert float(got["residual"]) < 1e-12
    np.testing.assert_allclose(got["x"], want, rtol=1e-11)


SWEEP_SCRIPT = """
import json, sys
import numpy as np
import scipy.sparse as sp
from mpi4py import MPI
from glasnost.compute.mpi import DistributedMatrix, row_cuts
from glasnost.data.synthetic import random_technology

comm = MPI.COMM_WORLD
M = sp.csr_array(random_technology(20_000, 10, seed=9))
cuts = row_cuts(M, comm.Get_size())
lo, hi = int(cuts[comm.Get_rank()]), int(cuts[comm.Get_rank() + 1])
rng = np.random.default_rng(0)
x, r, w = (rng.random(20_000) for _ in range(3))
out = {}
for dtype in (np.float64, np.float32):
    for block in (1_000_000, 3_000):  # one column block, and seven
        D = DistributedMatrix.from_matrix(M, comm, cuts=cuts, column_block=block)
        s = np.empty(hi - lo, dtype)
        sums = D.residual_into(r[lo:hi].astype(dtype), x[lo:hi].astype(dtype), s, w[lo:hi].astype(dtype))
        whole = np.empty(20_000)
        comm.Allgatherv(s.astype(np.float64), [whole, np.diff(cuts), cuts[:-1], MPI.DOUBLE])
        key = f"{np.dtype(dtype).name}/{block}"
        parts = len(D.local[np.dtype(dtype)].parts)
        out[key] = {"parts": parts, "s": whole.tolist(), "sums": list(sums)}
if comm.Get_rank() == 0:
    json.dump(out, open(sys.argv[1], "w"))
"""


def test_the_sweep_over_column_blocks_equals_the_residual(tmp_path: Path) -> None:
    # a rank's sweep over one and over seven column blocks, on both ranks, against scipy serially
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP_SCRIPT)
    result = _run(sys.executable, str(script), str(tmp_path / "out.json"))
    assert result.returncode == 0, result.stderr
    got = json.loads((tmp_path / "out.json").read_text())
    M = sp.csr_array(random_technology(20_000, 10, seed=9))
    rng = np.random.default_rng(0)
    x, r, w = (rng.random(20_000) for _ in range(3))
    expect = r - x + M @ x
    for key, rtol in (
        ("float64/1000000", 1e-13),
        ("float64/3000", 1e-13),
        ("float32/1000000", 1e-5),
        ("float32/3000", 1e-5),
    ):
        one = got[key]
        assert one["parts"] == (1 if key.endswith("1000000") else 7)
        np.testing.assert_allclose(one["s"], expect, rtol=rtol, atol=rtol * np.abs(expect).max())
        np.testing.assert_allclose(one["sums"], [expect @ expect, w @ expect], rtol=10 * rtol)
