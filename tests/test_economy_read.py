"""Reading schema version 2 fast: the compiled scan and split of the coefficient rows against
numpy's (the same matrices; on any bad row the same message), strings laid out from Arrow's
buffers against Python's own strings, numbers read from Arrow's buffers, and no pandas."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import glasnost.economy.arrow as arrow
import glasnost.economy.files as files
import glasnost.economy.io_v2 as io_v2
from glasnost.economy import Economy, EconomyError, load, native, save
from glasnost.economy.files import numbers, string_array
from glasnost.economy.model import STRING

compiled = pytest.mark.skipif(
    native.kernels is None, reason="glasnost.economy._kernels is not built (python setup.py build_ext --inplace)"
)


def coefficient_table(
    m: int, n: int, *, capital: bool, depreciation: bool, density: float = 0.05, seed: int = 0
) -> pa.Table:
    """Random coefficient rows sorted as the writer leaves them: each (process, role) pair's
    commodities drawn from a dense random mask, whose nonzeros come out in that order."""
    rng = np.random.default_rng(seed)
    roles = 3 if capital else 2
    pair, commodity = np.nonzero(rng.random((m * roles, n)) < density)
    process, role = pair // roles, pair % roles
    columns = {
        "process": pa.array(process.astype(np.int32)),
        "commodity": pa.array(commodity.astype(np.int32)),
        "role": pa.array(role.astype(np.int8)),
        "value": pa.array(rng.random(pair.size) * 2),
    }
    if depreciation:  # on capital rows only, null elsewhere (as the writer stores it)
        columns["depreciation"] = pa.array(rng.random(pair.size), mask=role != 2)
    return pa.table(columns)


def written(table: pa.Table, directory: Path, row_group_size: int = 10_000) -> Path:
    path = directory / "coefficients.parquet"
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def split(path: Path, shape: tuple[int, int], *, compiled: bool) -> dict[str, sp.csr_array | None]:
    process_ids = np.array([f"p{i}" for i in range(shape[0])], dtype=STRING)
    commodity_ids = np.array([f"c{j}" for j in range(shape[1])], dtype=STRING)
    return io_v2.coefficient_matrices(path, shape, process_ids, commodity_ids, compiled=compiled)


def assert_same_matrices(a: dict[str, sp.csr_array | None], b: dict[str, sp.csr_array | None]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        assert (x is None) == (y is None), key
        if x is None or y is None:
            continue
        assert x.shape == y.shape
        for part in ("indptr", "indices", "data"):
            u, v = getattr(x, part), getattr(y, part)
            assert u.dtype == v.dtype, (key, part)
            np.testing.assert_array_equal(u, v, err_msg=f"{key} {part}")
        assert x.has_sorted_indices and y.has_sorted_indices


def rows_by_role(table: pa.Table, role: int, shape: tuple[int, int], column: str = "value") -> np.ndarray:
    """The dense matrix of one role's rows, straight from the table's Python values."""
    dense = np.zeros(shape)
    for r in table.to_pylist():
        if r["role"] == role:
            dense[r["process"], r["commodity"]] = r[column] if r.get(column) is not None else 0.0
    return dense


@compiled
@pytest.mark.parametrize(("capital", "depreciation"), [(False, False), (True, True), (True, False)])
@pytest.mark.parametrize("row_group_size", [10_000, 1 << 20])
def test_the_compiled_split_equals_numpys(
    tmp_path: Path, capital: bool, depreciation: bool, row_group_size: int
) -> None:
    # 30,000 processes of ~10 rows: several of the kernel's blocks of 65,536 rows, in one row
    # group or in many (the split's state carried from one to the next)
    shape = (30_000, 40)
    table = coefficient_table(*shape, capital=capital, depreciation=depreciation, density=0.1)
    assert table.num_rows > 3 * 65_536
    path = written(table, tmp_path, row_group_size)
    fast = io_v2._streamed_matrices(path, shape)
    assert fast is not None
    assert_same_matrices(fast, split(path, shape, compiled=False))
    assert (fast["capital"] is None) == (not capital)


@compiled
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_split_on_threads_equals_numpys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    """The kernel's blocks on several threads: each block's place from the counts of the
    blocks before it, in one row group and across groups."""
    shape = (30_000, 40)
    table = coefficient_table(*shape, capital=True, depreciation=True, density=0.1, seed=3)
    monkeypatch.setattr(io_v2, "SPLIT_THREADS", threads)
    for row_group_size in (100_000, 1 << 20):
        path = written(table, tmp_path, row_group_size)
        assert_same_matrices(io_v2._streamed_matrices(path, shape), split(path, shape, compiled=False))
    bad = written(corrupt(table, "value", 200_000, -1.0), tmp_path, 100_000)
    assert io_v2._streamed_matrices(bad, shape) is None


@compiled
def test_the_compiled_split_matches_the_rows_themselves(tmp_path: Path) -> None:
    shape = (40, 12)
    table = coefficient_table(*shape, capital=True, depreciation=True, density=0.3, seed=1)
    mats = split(written(table, tmp_path, row_group_size=17), shape, compiled=True)
    for role, name in enumerate(io_v2.ROLES):
        np.testing.assert_array_equal(mats[name].toarray(), rows_by_role(table, role, shape))
    np.testing.assert_array_equal(mats["depreciation"].toarray(), rows_by_role(table, 2, shape, "depreciation"))


@compiled
@pytest.mark.parametrize("shape", [(0, 3), (5, 3)])
def test_no_rows_split_alike(tmp_path: Path, shape: tuple[int, int]) -> None:
    path = written(coefficient_table(*shape, capital=True, depreciation=True).slice(0, 0), tmp_path)
    fast = io_v2._streamed_matrices(path, shape)
    assert fast is not None and fast["capital"] is None
    assert fast["output"].nnz == 0 and fast["output"].indptr.tolist() == [0] * (shape[0] + 1)
    assert_same_matrices(fast, split(path, shape, compiled=False))


def corrupt(table: pa.Table, column: str, row: int, value: object) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    index = table.column_names.index(column)
    return table.set_column(index, column, pa.array(values, type=table.schema.field(index).type))


def small_table() -> tuple[pa.Table, tuple[int, int], int, int]:
    """(table, shape, a capital row, an input row)."""
    shape = (6, 5)
    table = coefficient_table(*shape, capital=True, depreciation=True, density=0.5, seed=2)
    role = table.column("role").to_numpy()
    return table, shape, int(np.flatnonzero(role == 2)[1]), int(np.flatnonzero(role == 1)[1])


BAD_ROWS = [
    ("process", -1, "input", r"row {row}: process position -1 is not between 0 and 5"),
    ("process", 6, "input", r"row {row}: process position 6 is not between 0 and 5"),
    ("commodity", 5, "input", r"row {row} \(p{p}\): commodity position 5 is not between 0 and 4"),
    ("commodity", -3, "input", r"row {row} \(p{p}\): commodity position -3 is not between 0 and 4"),
    ("role", 3, "input", r"row {row} \(p{p}\): role code 3 is not 0 \(output\), 1 \(input\) or 2 \(capital\)"),
    ("role", -1, "input", r"row {row} \(p{p}\): role code -1 is not 0"),
    ("value", float("nan"), "input", r"row {row} \(p{p}\): NaN value nan"),
    ("value", -0.5, "input", r"row {row} \(p{p}\): negative value -0.5"),
    ("value", float("inf"), "input", r"row {row} \(p{p}\): infinite value inf"),
    ("depreciation", 1.5, "capital", r"row {row} \(p{p}\): depreciation 1.5 is not a share between 0 and 1"),
    ("depreciation", -0.1, "capital", r"row {row} \(p{p}\): depreciation -0.1 is not a share"),
    ("depreciation", float("nan"), "capital", r"row {row} \(p{p}\): depreciation nan is not a share"),
    ("depreciation", None, "capital", r"row {row} \(p{p}\): depreciation nan is not a share"),
]


@compiled
@pytest.mark.parametrize(("column", "value", "where", "message"), BAD_ROWS)
def test_a_bad_row_gets_numpys_message(tmp_path: Path, column: str, value: object, where: str, message: str) -> None:
    table, shape, capital_row, input_row = small_table()
    row = capital_row if where == "capital" else input_row
    p = table.column("process")[row].as_py()
    path = written(corrupt(table, column, row, value), tmp_path, row_group_size=4)
    assert io_v2._streamed_matrices(path, shape) is None  # the compiled split finds it
    errors = []
    for fast in (True, False):
        with pytest.raises(EconomyError, match=message.format(row=row, p=p)) as info:
            split(path, shape, compiled=fast)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


@compiled
def test_depreciation_off_capital_rows_is_not_read(tmp_path: Path) -> None:
    table, shape, _, input_row = small_table()
    (tmp_path / "odd").mkdir()
    odd = written(corrupt(table, "depreciation", input_row, 7.0), tmp_path / "odd", row_group_size=4)
    assert_same_matrices(io_v2._streamed_matrices(odd, shape), split(written(table, tmp_path), shape, compiled=False))


@compiled
@pytest.mark.parametrize("row_group_size", [4, 1000])
def test_rows_out_of_order_take_numpys_way_to_the_same_matrices(tmp_path: Path, row_group_size: int) -> None:
    table, shape, _, _ = small_table()
    want = split(written(table, tmp_path), shape, compiled=False)
    for first in (3, 4):  # a swap inside a row group of 4, and one across two
        order = np.arange(table.num_rows)
        order[[first, first + 1]] = order[[first + 1, first]]
        path = written(table.take(pa.array(order)), tmp_path, row_group_size)
        assert io_v2._streamed_matrices(path, shape) is None
        assert_same_matrices(split(path, shape, compiled=True), want)
    path = written(pa.concat_tables([table, table.slice(table.num_rows - 1, 1)]), tmp_path, row_group_size)
    with pytest.raises(EconomyError, match="duplicate coefficient"):
        split(path, shape, compiled=True)


@compiled
def test_columns_stored_as_other_types_take_numpys_way(tmp_path: Path) -> None:
    table, shape, _, _ = small_table()
    wide = table.set_column(2, "role", table.column("role").cast(pa.int64()))
    path = written(wide, tmp_path)
    assert io_v2._streamed_matrices(path, shape) is None
    assert_same_matrices(split(path, shape, compiled=True), split(written(table, tmp_path), shape, compiled=False))


# ---- strings and numbers ----------------------------------------------------------------------

ids = st.lists(st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["", "a\0b", "end\0", "\0"])), max_size=40)


def python_strings(values: list[str | None], fill: str) -> np.ndarray:
    return np.array([fill if v is None else v for v in values], dtype=STRING)


@pytest.fixture(params=["compiled", "numpy", "numpy, bytes decoded as ASCII"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The three ways to fixed-width strings: the kernel, numpy, and numpy where its cast of
    bytes would not keep UTF-8 (non-ASCII strings then go through Python)."""
    if request.param == "compiled" and native.kernels is None:
        pytest.skip("glasnost.economy._kernels is not built")
    monkeypatch.setattr(files, "BLOCK_BYTES", 40)  # the kernel's layout in blocks of a few strings
    if request.param != "compiled":
        monkeypatch.setattr(native, "kernels", None)
    if "ASCII" in request.param:
        monkeypatch.setattr(files, "_bytes_cast_keeps_utf8", lambda: False)
    return request.param


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=ids, fill=st.sampled_from(["", "unit", "é"]))
def test_strings_are_pythons_strings(way: str, values: list[str | None], fill: str) -> None:
    want = python_strings(values, fill)
    for arr in (pa.array(values, pa.string()), pa.array(values, pa.large_string())):
        np.testing.assert_array_equal(string_array(arr, fill=fill), want)
        chunked = pa.chunked_array([arr.slice(0, len(values) // 2), arr.slice(len(values) // 2)], arr.type)
        np.testing.assert_array_equal(string_array(chunked, fill=fill), want)
        np.testing.assert_array_equal(string_array(arr.dictionary_encode(), fill=fill), want)
    if values:  # a slice starts inside Arrow's buffers
        np.testing.assert_array_equal(string_array(pa.array(values, pa.string()).slice(1), fill=fill), want[1:])


@pytest.mark.parametrize(
    ("values", "fast"),
    [
        (["p0", "p1", "make-p999999-0", ""], True),
        (["grâin", "€", "𝄞x"], "if UTF-8 is kept"),
        (["ends in zero\0"], False),
        (["", ""], True),
    ],
)
def test_which_strings_take_the_fixed_width_way(way: str, values: list[str], fast: bool | str) -> None:
    arr = pa.array(values)
    expect = fast if isinstance(fast, bool) else files._bytes_cast_keeps_utf8()
    assert (files._fixed_width(arr) is not None) == expect
    np.testing.assert_array_equal(string_array(arr), np.array(values, dtype=STRING))


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.text(max_size=12), max_size=40))
def test_numpy_strings_become_arrows_strings(values: list[str]) -> None:
    strings = np.array(values, dtype=STRING)
    got = arrow.arrow_strings(strings)
    assert got.type == pa.string() and got.equals(pa.array(values, pa.string()))
    mask = np.arange(len(values)) % 3 == 1  # every third a null
    with_nulls = [None if m else v for v, m in zip(values, mask, strict=True)]
    assert arrow.arrow_strings(strings, mask).equals(pa.array(with_nulls, pa.string()))
    fast = arrow._ascii_buffers(strings) is not None if values else False
    # the laid-out way takes ASCII strings with no zero character at their end, and no others
    plain = all(v.isascii() and not v.endswith("\0") for v in values) and any(values)
    assert fast == (plain and arrow.fits_fixed_width(len(values), max(map(len, values)), sum(map(len, values))))


def test_strings_far_longer_than_most_go_through_python() -> None:
    values = ["a"] * 100_000 + ["b" * 2000]
    arr = pa.array(values)
    assert files._fixed_width(arr) is None  # 100,001 x 2,000 bytes for 0.1 MB of strings
    np.testing.assert_array_equal(string_array(arr), np.array(values, dtype=STRING))


@given(
    values=st.lists(st.one_of(st.none(), st.floats(allow_nan=False)), max_size=30),
    split_at=st.integers(0, 30),
)
def test_numbers_are_the_columns_values(values: list[float | None], split_at: int) -> None:
    arr = pa.array(values, pa.float64())
    chunked = pa.chunked_array([arr.slice(0, split_at), arr.slice(split_at)], pa.float64())
    want = np.array([-1.0 if v is None else v for v in values])
    for column in (arr, chunked):
        np.testing.assert_array_equal(numbers(column, fill=-1.0), want)
    if values and None not in values:
        got = numbers(pa.array(values, pa.float64()).slice(1))
        np.testing.assert_array_equal(got, want[1:])
    ints = pa.array([None if v is None else int(i) for i, v in enumerate(values)], pa.int32())
    np.testing.assert_array_equal(numbers(ints, fill=-7), [-7 if v is None else i for i, v in enumerate(values)])


def test_loading_does_not_import_pandas(tmp_path: Path) -> None:
    """Arrow imports pandas (0.14 s) on its first conversion to or from numpy; the reader makes
    none. (The councils' validation still does: an economy without them here.)"""
    economy = economy_with_capital()
    assert (economy.commodities.names != economy.commodities.ids).any()
    directory = save(dataclasses.replace(economy, councils=None), tmp_path / "demo")
    code = (
        "import sys; from glasnost.economy import load; "
        f"e = load({str(directory)!r}, check_productive=False); "
        "print(e.processes.capital.nnz, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(economy.processes.capital.nnz), "False"]


def economy_with_capital() -> Economy:
    from glasnost.data.demo import demo_economy

    demo = demo_economy()
    inputs = demo.processes.inputs
    capital = sp.csr_array((inputs.data * 2, inputs.indices, inputs.indptr), shape=inputs.shape)
    depreciation = sp.csr_array((np.linspace(0, 1, inputs.nnz), inputs.indices, inputs.indptr), shape=inputs.shape)
    processes = dataclasses.replace(demo.processes, capital=capital, depreciation=depreciation)
    return dataclasses.replace(demo, processes=processes)


def test_without_the_kernels_the_same_economy_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = save(economy_with_capital(), tmp_path / "eco")
    fast = load(directory)
    monkeypatch.setattr(native, "kernels", None)
    slow = load(directory)
    for a, b in ((fast.commodities, slow.commodities), (fast.processes, slow.processes)):
        for field in dataclasses.fields(a):
            x, y = getattr(a, field.name), getattr(b, field.name)
            if sp.issparse(x):
                assert_same_matrices({field.name: x}, {field.name: y})
            else:
                np.testing.assert_array_equal(x, y)
                assert x.dtype == y.dtype


def test_an_earlier_tables_error_comes_first(tmp_path: Path) -> None:
    """The coefficient file is split on a thread beside while the tables before it are read;
    their errors are still the ones reported, and a bad coefficient row is named as ever."""
    directory = save(economy_with_capital(), tmp_path / "eco")
    coefficients = pq.read_table(directory / "coefficients.parquet")
    pq.write_table(corrupt(coefficients, "value", 5, -1.0), directory / "coefficients.parquet")
    with pytest.raises(EconomyError, match=r"coefficients.parquet: row 5 \(.*\): negative value -1.0"):
        load(directory)
    commodities = pq.read_table(directory / "commodities.parquet")
    pq.write_table(corrupt(commodities, "supply", 2, -3.0), directory / "commodities.parquet")
    with pytest.raises(EconomyError, match=r"commodities.parquet: row 2 \(.*\): negative supply -3.0"):
        load(directory)


@pytest.mark.parametrize(
    ("values", "dtype", "arrow_type"),
    [
        ([0, 1, 2, 3], "int32", None),
        ([0, 1, 2**31 - 1], "int64", pa.int32()),
        ([0.5, -1.0, float("inf"), float("nan")], "float64", None),
        ([1, 2, 255], "uint8", pa.uint8()),
        ([0.0, 2.0, 4.0, 6.0], "float64 with a stride", pa.float64()),
        ([True, False], "bool", None),
    ],
)
def test_numbers_become_arrows_numbers(values: list, dtype: str, arrow_type: pa.DataType | None) -> None:
    array = np.array(values, dtype=dtype.split()[0])
    if "stride" in dtype:
        array = np.repeat(array, 2)[::2]
    got = arrow.arrow_numbers(array, arrow_type)
    want = pa.array(array, arrow_type)
    assert got.type == want.type and got.null_count == want.null_count == 0
    np.testing.assert_array_equal(got.to_numpy(zero_copy_only=False), want.to_numpy(zero_copy_only=False))


def test_writing_a_directory_and_values_imports_no_pandas(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from glasnost.cli import app\n"
        f"sys.argv = ['glasnost', 'generate', '2000', '--out', {str(tmp_path / 'e')!r}]\n"
        "try: app()\nexcept SystemExit: pass\n"
        f"sys.argv = ['glasnost', 'values', {str(tmp_path / 'e')!r}, '--out', {str(tmp_path / 'v.parquet')!r}]\n"
        "try: app()\nexcept SystemExit: pass\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    assert pq.read_table(tmp_path / "v.parquet").num_rows == 2000
