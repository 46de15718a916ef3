"""Schema version 2 of the economy directory: the same answers as version 1, migration, bad
files named by file, row and id, cached checks keyed by content, one block of processes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from glasnost.compute import gross_output, labour_values
from glasnost.data.synthetic import generate
from glasnost.economy import EconomyError, NotProductiveError, load, migrate, save
from glasnost.economy.io import schema_version
from glasnost.economy.io_v2 import read_process_block
from glasnost.economy.model import Economy


@pytest.fixture(scope="module")
def economy() -> Economy:
    return generate(3000, processes_per_product=2, capacity_slack=2.0, seed=4)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    A = np.array([[0.1, 0.2, 0.0], [0.3, 0.1, 0.2], [0.0, 0.1, 0.1]])
    economy = Economy.from_leontief(
        A, [[0.5, 0.4, 0.3]], ids=["grain", "tools", "bread"], supply=[100.0], targets=[1, 0, 2]
    )
    return save(economy, tmp_path / "economy")


def rewrite(path: Path, column: str, row: int, value: object) -> None:
    table = pq.read_table(path)
    values = table.column(column).to_pylist()
    values[row] = value
    idx = table.column_names.index(column)
    dtype = table.schema.field(idx).type
    dtype = dtype.value_type if pa.types.is_dictionary(dtype) else dtype
    pq.write_table(table.set_column(idx, column, pa.array(values, type=dtype)), path)


def coefficient_row(directory: Path, process: int, commodity: int, role: int) -> int:
    rows = pq.read_table(directory / "coefficients.parquet").to_pylist()
    return next(
        i for i, r in enumerate(rows) if (r["process"], r["commodity"], r["role"]) == (process, commodity, role)
    )


def test_versions_1_and_2_give_the_same_answers(economy: Economy, tmp_path: Path) -> None:
    v1 = load(save(economy, tmp_path / "v1", schema_version=1))
    v2 = load(save(economy, tmp_path / "v2"))
    assert (schema_version(tmp_path / "v1"), schema_version(tmp_path / "v2")) == (1, 2)
    for a, b in ((v1, v2), (economy, v2)):
        assert list(a.commodities.ids) == list(b.commodities.ids)
        assert list(a.processes.workplaces) == list(b.processes.workplaces)
        assert (a.processes.inputs != b.processes.inputs).nnz == 0
        assert (a.processes.outputs != b.processes.outputs).nnz == 0
    vals1, vals2 = labour_values(v1), labour_values(v2)
    np.testing.assert_allclose(vals2.labour, vals1.labour, rtol=1e-12, atol=0)
    np.testing.assert_allclose(gross_output(v2).gross, gross_output(v1).gross, rtol=1e-12, atol=0)


def test_councils_capital_and_names_survive(tmp_path: Path) -> None:
    from glasnost.data.demo import demo_economy

    economy = demo_economy()
    back = load(save(economy, tmp_path / "demo"))
    assert list(back.commodities.names) == list(economy.commodities.names)
    assert list(back.commodities.units) == list(economy.commodities.units)
    assert back.councils is not None and economy.councils is not None
    assert (back.councils.preferences != economy.councils.preferences).nnz == 0
    for name in ("capital", "depreciation"):
        a, b = getattr(economy.processes, name), getattr(back.processes, name)
        assert (a is None) == (b is None)
        if a is not None:
            assert (a != b).nnz == 0


def test_migrate_rewrites_version_1(economy: Economy, tmp_path: Path) -> None:
    directory = save(economy, tmp_path / "old", schema_version=1)
    before = labour_values(load(directory)).labour
    assert migrate(directory) == (1, 2)
    assert schema_version(directory) == 2
    np.testing.assert_allclose(labour_values(load(directory)).labour, before, rtol=1e-12, atol=0)
    assert migrate(directory) == (2, 2)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("value", -0.2, r"row {row} \(make-tools\): negative value"),
        ("value", float("nan"), r"row {row} \(make-tools\): NaN value"),
        ("commodity", 99, r"row {row} \(make-tools\): commodity position 99 is not between 0 and 3"),
        ("role", 7, r"row {row} \(make-tools\): role code 7 is not 0 \(output\)"),
        ("process", -1, r"row {row}: process position -1 is not between 0 and 2"),
    ],
)
def test_corrupt_coefficients_name_file_row_and_id(saved: Path, column: str, value: object, message: str) -> None:
    row = coefficient_row(saved, 1, 0, 1)  # tools use grain
    rewrite(saved / "coefficients.parquet", column, row, value)
    with pytest.raises(EconomyError, match=r"coefficients.parquet: " + message.format(row=row)):
        load(saved)


def test_corrupt_tables_name_file_and_row(saved: Path) -> None:
    rewrite(saved / "commodities.parquet", "supply", 3, -5.0)
    with pytest.raises(EconomyError, match=r"commodities.parquet: row 3 \(labour\): negative supply"):
        load(saved)


def test_edited_ids_are_checked_again(saved: Path) -> None:
    rewrite(saved / "commodity_ids.parquet", "id", 2, "grain")  # the digest no longer matches
    with pytest.raises(EconomyError, match=r"commodity_ids.parquet: duplicate commodity id 'grain' \(rows 0, 2\)"):
        load(saved)


def test_unreadable_and_missing_files(saved: Path) -> None:
    (saved / "coefficients.parquet").write_bytes(b"not parquet")
    with pytest.raises(EconomyError, match=r"coefficients.parquet: not a readable Parquet file"):
        load(saved)
    (saved / "process_ids.parquet").unlink()
    with pytest.raises(EconomyError, match=r"process_ids.parquet: file is missing"):
        load(saved)


def test_cached_productiveness_is_keyed_by_content(tmp_path: Path) -> None:
    # column sums above 1 but productive: the check needs the block's spectral radius
    A = np.array([[0.1, 1.1, 0.0], [0.5, 0.1, 0.0], [0.0, 0.0, 0.2]])
    directory = save(Economy.from_leontief(A, ids=["a", "b", "c"]), tmp_path / "eco")
    cached = json.loads((directory / "manifest.json").read_text())["checks"]["productive"]
    assert cached["radius"] == pytest.approx(0.1 + np.sqrt(0.55), rel=1e-9)
    row = coefficient_row(directory, 0, 1, 1)  # a uses b: 0.5 -> 0.95 makes the block unproductive
    rewrite(directory / "coefficients.parquet", "value", row, 0.95)
    with pytest.raises(NotProductiveError) as info:
        load(directory)
    assert sorted(info.value.culprits) == ["a", "b"]


def test_a_lying_cache_is_not_believed(tmp_path: Path) -> None:
    A = np.array([[0.1, 1.1], [0.5, 0.1]])
    directory = save(Economy.from_leontief(A, ids=["a", "b"]), tmp_path / "eco")
    row = coefficient_row(directory, 0, 1, 1)
    rewrite(directory / "coefficients.parquet", "value", row, 0.95)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["checks"]["productive"]["radius"] = 0.5  # a stale radius under a stale digest
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(NotProductiveError):
        load(directory)


def test_a_block_of_processes_is_exactly_the_whole_loads_rows(economy: Economy, tmp_path: Path) -> None:
    import glasnost.economy.io_v2 as io_v2

    io_v2.ROW_GROUP_ROWS, old = 4096, io_v2.ROW_GROUP_ROWS
    try:
        directory = save(economy, tmp_path / "blocks")
    finally:
        io_v2.ROW_GROUP_ROWS = old
    whole = load(directory)
    groups = pq.ParquetFile(directory / "coefficients.parquet").metadata.num_row_groups
    assert groups > 10
    first, last = 1700, 2400
    block = read_process_block(directory, first, last)
    assert block.rows_read < pq.ParquetFile(directory / "coefficients.parquet").metadata.num_rows / 5
    assert len(block.row_groups) < groups
    for role, matrix in ((0, whole.processes.outputs), (1, whole.processes.inputs)):
        sel = block.rows.role == role
        expected = matrix[first:last].tocoo()
        rows = block.rows
        got = sorted(zip(rows.process[sel] - first, rows.commodity[sel], rows.value[sel], strict=True))
        want = sorted(zip(expected.row, expected.col, expected.data, strict=True))
        assert got == want


def test_rows_in_any_order_load_the_same_and_duplicates_are_named(saved: Path) -> None:
    before = load(saved)
    table = pq.read_table(saved / "coefficients.parquet")
    shuffled = table.take(pa.array(np.random.default_rng(0).permutation(table.num_rows)))
    pq.write_table(shuffled, saved / "coefficients.parquet")
    after = load(saved)
    assert (after.processes.inputs != before.processes.inputs).nnz == 0
    np.testing.assert_array_equal(labour_values(after).labour, labour_values(before).labour)
    pq.write_table(pa.concat_tables([shuffled, shuffled.slice(0, 1)]), saved / "coefficients.parquet")
    with pytest.raises(EconomyError, match=r"coefficients.parquet: rows .*duplicate coefficient"):
        load(saved)


def test_values_of_a_loaded_economy_trust_the_loads_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader's productiveness check (here from the directory's cache: column sums above 1,
    so it is the strong-components check) is not done again when the values are solved."""
    import glasnost.compute.values as values_module

    A = np.array([[0.1, 1.1, 0.0], [0.5, 0.1, 0.0], [0.0, 0.0, 0.2]])
    directory = save(Economy.from_leontief(A, ids=["a", "b", "c"]), tmp_path / "eco")
    economy = load(directory)

    def refuse(*args: object, **kwargs: object) -> float:
        raise AssertionError("checked again")

    monkeypatch.setattr(values_module, "check_productive", refuse)
    v = labour_values(economy)
    labour = economy.technique.primary.toarray()[0]
    np.testing.assert_allclose(v.labour, np.linalg.solve((np.eye(3) - A).T, labour), rtol=1e-12)
    # another technique than the one the load checked is still checked
    other = economy.with_technique(economy.processes.ids)
    with pytest.raises(AssertionError, match="checked again"):
        labour_values(economy, technique=other)
