"""The pymrio loader on pymrio's bundled test system, checked against the raw tables."""

from __future__ import annotations

import numpy as np
import pytest
from extra_support import missing_extra

pymrio = pytest.importorskip("pymrio", reason=missing_extra("mrio", "pymrio"))

from glasnost.compute import gross_output, labour_values  # noqa: E402
from glasnost.data.mrio import load_mrio  # noqa: E402


def test_test_system_coefficients_and_labour() -> None:
    io = pymrio.load_test()
    Z, Y = io.Z.to_numpy(), io.Y.to_numpy()
    x = Z.sum(axis=1) + Y.sum(axis=1)
    s = load_mrio(None, "test", labour="Value Added")
    assert s.size == 48 and s.ids[0] == "reg1/food"
    # column j of A: Z[:, j] / x[j], entry by entry
    j = 5
    np.testing.assert_allclose(s.A[:, j], Z[:, j] / x[j], rtol=1e-15)
    va = io.factor_inputs.F.to_numpy()[0]
    np.testing.assert_allclose(s.labour, va / x, rtol=1e-15)
    economy = s.to_economy()
    g = gross_output(economy, s.final_demand, method="direct")
    # the table's own total output is the gross output of its final demand
    np.testing.assert_allclose(g.gross, x, rtol=1e-10)
    v = labour_values(economy, method="direct")
    # v (I - A) = l by numpy's dense solver on the raw tables
    expected = np.linalg.solve((np.eye(48) - Z / x).T, va / x)
    np.testing.assert_allclose(v.labour, expected, rtol=1e-12)


def test_no_labour_row_is_marked() -> None:
    s = load_mrio(None, "test")
    assert not s.labour_known.any() and np.isnan(s.labour).all()
    assert len(s.summary()["products_without_labour"]) == 48


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        load_mrio("/nonexistent/IOT_2019_pxp.zip", "exiobase3")
