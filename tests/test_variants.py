"""Plan variants: feasible scale plans whose figures agree with a hand computation."""

from __future__ import annotations

import numpy as np
import pytest

from glasnost.compute import PlanError
from glasnost.compute.variants import VariantSpec, plan_variants
from glasnost.economy import Commodities, Economy, Kind, Processes


def _tiny() -> Economy:
    # bread (private) and parks (public) from labour: 1 h per loaf, 2 h per park; 10 h of labour
    import scipy.sparse as sp

    commodities = Commodities.build(
        ["bread", "parks", "labour"],
        kinds=np.array([Kind.GOOD, Kind.PUBLIC_GOOD, Kind.LABOUR], np.uint8),
        supply=np.array([0.0, 0.0, 10.0]),
        targets=np.array([1.0, 1.0, 0.0]),
    )
    processes = Processes(
        ids=np.array(["bake", "garden"]),
        workplaces=np.array(["bakery", "gardens"]),
        capacity=np.full(2, np.inf),
        outputs=sp.csr_array(np.array([[1.0, 0, 0], [0, 1.0, 0]])),
        inputs=sp.csr_array(np.array([[0, 0, 1.0], [0, 0, 2.0]])),
    )
    return Economy.build(commodities, processes, None, name="tiny")


def test_variants_match_hand_computation() -> None:
    economy = _tiny()
    demand = np.array([2.0, 1.0, 0.0])
    specs = [
        VariantSpec("a", "as asked", ""),
        VariantSpec("p", "public", "", public=2.0),
        VariantSpec("i", "invest", "", investment=0.2),
    ]
    a, p, i = plan_variants(economy, demand, specs=specs)
    # z (2 loaves + 1 park) uses 2z + 2z = 4z hours <= 10: z = 2.5
    assert a.plan.objective == pytest.approx(2.5)
    np.testing.assert_allclose(a.plan.net_output[:2], [5.0, 2.5], rtol=1e-7)
    # z (2 loaves + 2 parks) uses 2z + 4z = 6z <= 10: z = 5/3
    assert p.plan.objective == pytest.approx(10 / 6)
    # 20% of labour set aside: 4z <= 8, z = 2
    assert i.plan.objective == pytest.approx(2.0)
    assert i.to_json()["reserved"] == {"labour": pytest.approx(2.0)}


def test_bad_variant_is_named() -> None:
    with pytest.raises(PlanError, match="variant 'x'"):
        plan_variants(_tiny(), np.array([1.0, 1.0, 0.0]), specs=[VariantSpec("x", "", "", investment=1.5)])
    with pytest.raises(PlanError, match="finite"):
        plan_variants(_tiny(), np.array([np.nan, 1.0, 0.0]))
