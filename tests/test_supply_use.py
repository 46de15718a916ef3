"""Make-use to symmetric tables, checked against coefficients worked out by hand on a 3x3 example."""

from __future__ import annotations

import numpy as np
import pytest

from glasnost.compute import labour_values
from glasnost.data.supply_use import SupplyUse, symmetric
from glasnost.economy import EconomyError

# Industries I1..I3 (rows of the make table), commodities c1..c3.
# I2 makes c1 as a secondary product: q = (120, 80, 50), g = (100, 100, 50).
MAKE = np.array([[100.0, 0.0, 0.0], [20.0, 80.0, 0.0], [0.0, 0.0, 50.0]])
USE = np.array([[10.0, 1.0, 5.0], [30.0, 10.0, 10.0], [0.0, 40.0, 5.0]])
WAGES = np.array([30.0, 20.0, 10.0])


def tables(labour: np.ndarray = WAGES) -> SupplyUse:
    ids = np.array(["c1", "c2", "c3"])
    return SupplyUse(
        commodities=ids,
        industries=np.array(["I1", "I2", "I3"]),
        make=MAKE,
        use=USE,
        final_demand=np.array([50.0, 20.0, 30.0]),
        labour=labour,
        commodity_names=ids,
        industry_names=np.array(["I1", "I2", "I3"]),
        source="3x3 example",
    )


def test_industry_technology_by_hand() -> None:
    # D = V diag(q)^-1: c1 is 5/6 from I1, 1/6 from I2. B = U diag(g)^-1.
    # column c1 = 5/6 (0.10, 0.30, 0) + 1/6 (0.01, 0.10, 0.40) = (0.085, 0.2666.., 0.0666..)
    # column c2 = B[:, I2] = (0.01, 0.10, 0.40); column c3 = B[:, I3] = (0.10, 0.20, 0.10)
    expected = np.array([[0.085, 0.01, 0.10], [1.6 / 6, 0.10, 0.20], [0.4 / 6, 0.40, 0.10]])
    s = symmetric(tables(), "industry")
    np.testing.assert_allclose(s.A, expected, rtol=0, atol=1e-15)
    # wages per unit of industry output (0.3, 0.2, 0.2) carried by the market shares
    np.testing.assert_allclose(s.labour, [5 / 6 * 0.3 + 1 / 6 * 0.2, 0.2, 0.2], atol=1e-15)
    assert s.negatives == []
    assert s.labour_known.all()


def test_commodity_technology_by_hand_reports_negative() -> None:
    # U = A V^T: I1 makes only c1 -> A[:, c1] = U[:, I1] / 100 = (0.1, 0.3, 0);
    # I2: 20 A[:, c1] + 80 A[:, c2] = (1, 10, 40) -> A[:, c2] = (-1, 4, 40) / 80
    # I3: A[:, c3] = U[:, I3] / 50. Labour: 100 l1 = 30, 20 l1 + 80 l2 = 20, 50 l3 = 10.
    expected = np.array([[0.1, -0.0125, 0.1], [0.3, 0.05, 0.2], [0.0, 0.5, 0.1]])
    s = symmetric(tables(), "commodity")
    np.testing.assert_allclose(s.A, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(s.labour, [0.3, 0.175, 0.2], atol=1e-15)
    assert s.negatives == [("c1", "c2", pytest.approx(-0.0125, abs=1e-15))]
    assert s.summary()["negative_coefficients"] == 1
    with pytest.raises(EconomyError, match=r"c1 / c2 = -0.0125"):
        s.to_economy()
    economy = s.to_economy(negatives="zero")
    assert economy._meta["import"]["negatives"] == [["c1", "c2", pytest.approx(-0.0125)]]
    # the clipped coefficient is zero in the economy, the others as computed
    A = economy.technique.A.toarray()
    assert A[0, 1] == 0.0 and A[1, 1] == pytest.approx(0.05)


def test_labour_values_of_the_converted_table() -> None:
    s = symmetric(tables(), "industry")
    economy = s.to_economy()
    v = labour_values(economy, method="direct")
    # v (I - A) = l, solved independently by numpy's dense solver
    expected = np.linalg.solve((np.eye(3) - s.A).T, s.labour)
    np.testing.assert_allclose(v.labour, expected, rtol=1e-13)


def test_missing_labour_figure_is_marked_not_zero() -> None:
    s = symmetric(tables(np.array([30.0, np.nan, 10.0])), "industry")
    # c1 and c2 are (partly) made by I2, which has no figure; c3 is not
    assert s.labour_known.tolist() == [False, False, True]
    assert np.isnan(s.labour[:2]).all() and s.labour[2] == pytest.approx(0.2)
    assert s.summary()["products_without_labour"] == ["c1", "c2"]
    s_ct = symmetric(tables(np.array([np.nan, 20.0, 10.0])), "commodity")
    # c2's coefficients subtract I1's inputs (through c1), so c2 is unknown too
    assert s_ct.labour_known.tolist() == [False, False, True]


def test_commodity_with_no_output_becomes_primary_input() -> None:
    make = MAKE.copy()
    make = np.hstack([make, np.zeros((3, 1))])
    use = np.vstack([USE, [[2.0, 0.0, 5.0]]])
    su = SupplyUse(
        commodities=np.array(["c1", "c2", "c3", "imports"]),
        industries=np.array(["I1", "I2", "I3"]),
        make=make,
        use=use,
        final_demand=np.zeros(4),
        labour=WAGES,
        commodity_names=np.array(["c1", "c2", "c3", "imports"]),
        industry_names=np.array(["I1", "I2", "I3"]),
    )
    s = symmetric(su, "industry")
    assert s.ids.tolist() == ["c1", "c2", "c3"] and s.not_produced.tolist() == ["imports"]
    # 2 of I1's 100 and 5 of I3's 50: (5/6 * 0.02, 0, 0.1)
    np.testing.assert_allclose(s.not_produced_use, [[5 / 6 * 0.02, 0.0, 0.1]], atol=1e-15)
    economy = s.to_economy()
    assert "not-produced:imports" in set(economy.commodities.ids.tolist())


def test_bad_tables_name_the_entry() -> None:
    bad = MAKE.copy()
    bad[1, 2] = -1.0
    with pytest.raises(EconomyError, match="I2 / c3"):
        SupplyUse(
            commodities=np.array(["c1", "c2", "c3"]),
            industries=np.array(["I1", "I2", "I3"]),
            make=bad,
            use=USE,
            final_demand=np.zeros(3),
            labour=WAGES,
            commodity_names=np.array(["c1", "c2", "c3"]),
            industry_names=np.array(["I1", "I2", "I3"]),
        )
    with pytest.raises(ValueError, match="assumption"):
        symmetric(tables(), "hybrid")  # type: ignore[arg-type]
