"""Bad input, from files on disk: every error names the file, the row and the id."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from glasnost.economy import EconomyError, NotProductiveError, load, save
from glasnost.economy.model import Economy


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    A = np.array([[0.1, 0.2, 0.0], [0.3, 0.1, 0.2], [0.0, 0.1, 0.1]])
    economy = Economy.from_leontief(
        A, [[0.5, 0.4, 0.3]], ids=["grain", "tools", "bread"], supply=[100.0], targets=[1, 0, 2]
    )
    return save(economy, tmp_path / "economy", schema_version=1)


def rewrite(path: Path, column: str, row: int, value: object) -> None:
    table = pq.read_table(path)
    values = table.column(column).to_pylist()
    values[row] = value
    idx = table.column_names.index(column)
    field = table.schema.field(idx)
    dtype = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
    pq.write_table(table.set_column(idx, column, pa.array(values, type=dtype)), path)


def input_row(directory: Path, process: str, commodity: str) -> int:
    table = pq.read_table(directory / "coefficients.parquet").to_pylist()
    return next(
        i
        for i, r in enumerate(table)
        if r["process"] == process and r["commodity"] == commodity and r["role"] == "input"
    )


def test_round_trip(saved: Path) -> None:
    economy = load(saved)
    assert list(economy.commodities.ids) == ["grain", "tools", "bread", "labour"]
    np.testing.assert_allclose(economy.technique.A.toarray()[1, 0], 0.3)
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["schema_version"] == 1


def test_unknown_commodity_id(saved: Path) -> None:
    row = input_row(saved, "make-bread", "tools")
    rewrite(saved / "coefficients.parquet", "commodity", row, "spanners")
    with pytest.raises(EconomyError, match=rf"coefficients.parquet.*unknown commodity id.*'spanners' \(row {row}\)"):
        load(saved)


@pytest.mark.parametrize(("value", "word"), [(-0.2, "negative"), (float("nan"), "NaN"), (float("inf"), "infinite")])
def test_bad_coefficient(saved: Path, value: float, word: str) -> None:
    row = input_row(saved, "make-tools", "grain")
    rewrite(saved / "coefficients.parquet", "value", row, value)
    with pytest.raises(EconomyError, match=rf"coefficients.parquet: row {row} \(make-tools\): {word} value"):
        load(saved)


def test_negative_supply(saved: Path) -> None:
    rewrite(saved / "commodities.parquet", "supply", 3, -5.0)
    with pytest.raises(EconomyError, match=r"commodities.parquet: row 3 \(labour\): negative supply"):
        load(saved)


def test_duplicate_commodity_id(saved: Path) -> None:
    rewrite(saved / "commodities.parquet", "id", 2, "grain")
    with pytest.raises(EconomyError, match=r"commodities.parquet: duplicate commodity id 'grain' \(rows 0, 2\)"):
        load(saved)


def test_duplicate_process_id(saved: Path) -> None:
    rewrite(saved / "processes.parquet", "id", 1, "make-grain")
    with pytest.raises(EconomyError, match=r"processes.parquet: duplicate process id 'make-grain'"):
        load(saved)


def test_product_that_no_process_makes(saved: Path) -> None:
    table = pq.read_table(saved / "coefficients.parquet")
    rows = [r for r in table.to_pylist() if not (r["role"] == "output" and r["commodity"] == "tools")]
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), saved / "coefficients.parquet")
    with pytest.raises(EconomyError, match=r"no process makes the produced commodity tools"):
        load(saved)


def test_unproductive_group_is_named(tmp_path: Path) -> None:
    # tools and bread feed each other: 0.9 x 1.2 > 1, while grain alone is fine
    A = np.array([[0.1, 0.2, 0.0], [0.0, 0.1, 0.9], [0.0, 1.2, 0.1]])
    economy = Economy.from_leontief(A, ids=["grain", "tools", "bread"], check_productive=False)
    directory = save(economy, tmp_path / "unproductive")
    with pytest.raises(NotProductiveError) as info:
        load(directory)
    assert sorted(info.value.culprits) == ["bread", "tools"]
    assert info.value.spectral_radius == pytest.approx(0.1 + np.sqrt(0.9 * 1.2), rel=1e-9)
    assert str(directory) in str(info.value)


def test_self_using_product_is_named() -> None:
    with pytest.raises(NotProductiveError, match=r"\[tools\]"):
        Economy.from_leontief([[0.1, 0.0], [0.0, 1.05]], ids=["grain", "tools"])


def test_missing_and_corrupt_files(saved: Path) -> None:
    (saved / "processes.parquet").write_bytes(b"not parquet")
    with pytest.raises(EconomyError, match=r"processes.parquet: not a readable Parquet file"):
        load(saved)
    (saved / "processes.parquet").unlink()
    with pytest.raises(EconomyError, match=r"processes.parquet: file is missing"):
        load(saved)


def test_wrong_schema_version(saved: Path) -> None:
    manifest = json.loads((saved / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (saved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EconomyError, match=r"manifest.json: schema version 99 is not supported"):
        load(saved)


def test_failed_save_keeps_the_earlier_economy(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    other = Economy.from_leontief([[0.5]], ids=["only"])
    calls = {"n": 0}
    real = pq.write_table

    def failing(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real(*args, **kwargs)

    monkeypatch.setattr(pq, "write_table", failing)
    with pytest.raises(OSError, match="disk full"):
        save(other, saved)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["economy"]  # no temporary left
    assert list(load(saved).commodities.ids) == ["grain", "tools", "bread", "labour"]


def test_economy_is_immutable(saved: Path) -> None:
    economy = load(saved)
    with pytest.raises(ValueError, match="read-only"):
        economy.commodities.supply[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        economy.processes.inputs.data[0] = 1.0
    with pytest.raises(AttributeError):
        economy.name = "other"  # type: ignore[misc]


def test_in_memory_errors_name_the_entry() -> None:
    with pytest.raises(EconomyError, match=r"negative input coefficient: make-b / a = -0.1"):
        Economy.from_leontief([[0.1, -0.1], [0.0, 0.2]], ids=["a", "b"])
    with pytest.raises(EconomyError, match=r"NaN supply: labour"):
        Economy.from_leontief([[0.1]], supply=[float("nan")])
