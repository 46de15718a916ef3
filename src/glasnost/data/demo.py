"""The bundled demo economy: twenty named sectors, generated with a fixed seed.

The structure comes from :func:`glasnost.data.synthetic.generate` (a core of widely used
industries and a long tail, productive by construction), with two techniques for every product,
capacities, three labour types with a limited supply, two public goods and a handful of
consumer councils. Quantities are in base-price units of each sector's product; labour in
hours (millions of hours for a year's plan).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from glasnost.data.synthetic import generate
from glasnost.economy import Councils, Economy, Kind

SECTORS = [
    "agriculture",
    "fishing",
    "forestry",
    "mining",
    "energy",
    "water supply",
    "steel",
    "chemicals",
    "machinery",
    "electronics",
    "textiles",
    "food processing",
    "construction",
    "housing",
    "transport",
    "communications",
    "retail distribution",
    "culture",
    "health care",
    "education",
]
PUBLIC_GOODS = {"health care", "education"}
LABOUR_TYPES = ["general labour", "skilled trades", "professional"]
DEMO_SEED = 1987


def slug(name: str) -> str:
    return name.replace(" ", "-")


def demo_economy(seed: int = DEMO_SEED) -> Economy:
    """The demo economy (deterministic for a given seed)."""
    base = generate(
        len(SECTORS),
        inputs_per_product=5,
        labour_types=len(LABOUR_TYPES),
        processes_per_product=2,
        capacity_slack=1.3,
        final_share=1.0,
        labour_slack=1.1,
        seed=seed,
        names=[slug(s) for s in SECTORS],
        labour_names=[slug(s) for s in LABOUR_TYPES],
        name="demo",
    )
    c = base.commodities
    kinds = c.kinds.copy()
    kinds[[SECTORS.index(s) for s in PUBLIC_GOODS]] = Kind.PUBLIC_GOOD
    names = np.array([*SECTORS, *LABOUR_TYPES], dtype=c.names.dtype)
    units = np.array(["base-price unit"] * len(SECTORS) + ["million hours"] * len(LABOUR_TYPES), dtype=c.units.dtype)
    commodities = replace(c, kinds=kinds, names=names, units=units)
    rng = np.random.default_rng(seed + 1)
    n_councils = 6
    private = np.flatnonzero(kinds == Kind.GOOD)
    prefs = np.zeros((n_councils, len(c)))
    prefs[:, private] = rng.dirichlet(np.ones(private.size), n_councils) * (
        rng.random((n_councils, private.size)) < 0.7
    )
    councils = Councils(
        ids=np.array([f"neighbourhood-{i + 1}" for i in range(n_councils)], dtype=c.ids.dtype),
        members=rng.integers(200, 2000, n_councils).astype(np.float64),
        income=rng.uniform(50.0, 150.0, n_councils),
        preferences=sp.csr_array(prefs),
    )
    return Economy.build(commodities, base.processes, councils, name="demo")
