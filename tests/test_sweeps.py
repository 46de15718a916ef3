"""Sweeps on a Dask local cluster agree with the same runs made one by one."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from extra_support import missing_extra

pytest.importorskip("dask.distributed", reason=missing_extra("dask", "dask.distributed"))

from glasnost.data.demo import demo_economy
from glasnost.economy import load, save
from glasnost.procedures import participate
from glasnost.sweeps import grid, sweep


def test_participate_sweep_on_local_cluster(tmp_path: Path) -> None:
    directory = save(demo_economy(1987), tmp_path / "economy")
    params = grid(threshold=[0.05, 0.03], procedure=["hahnel"])
    seen: list[int] = []
    table = sweep(
        "participate",
        directory,
        params,
        seeds=[0, 1],
        workers=2,
        out=tmp_path / "sweep.parquet",
        progress=lambda done, total: seen.append(done),
    )
    assert table.num_rows == 4 and seen[-1] == 4
    back = pq.read_table(tmp_path / "sweep.parquet")
    assert back.equals(table)
    rows = table.to_pylist()
    assert [(r["threshold"], r["seed"]) for r in rows] == [(0.05, 0), (0.05, 1), (0.03, 0), (0.03, 1)]
    economy = load(directory)
    for row in rows:
        direct = participate(economy, threshold=row["threshold"], seed=row["seed"], keep_proposals=False)
        assert row["error"] == ""
        assert row["rounds"] == direct.rounds
        assert row["max_imbalance_percent"] == pytest.approx(direct.max_imbalance_percent, rel=1e-12)


def test_unknown_task() -> None:
    with pytest.raises(ValueError, match="unknown sweep task"):
        sweep("regime", ".")
