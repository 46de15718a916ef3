"""A reader for the small subset of lp_solve's LP syntax that reference-plan.lp uses (tests only).

Statements end with ';'. The first is the objective (``max:`` or ``min:``); the others are
constraints ``expr (<=|>=|=) expr`` where each side is a sum of ``[coefficient] variable`` and
constant terms. Every variable is non-negative (lp_solve's default).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from glasnost.compute.lp import INF, solve_lp

TERM = re.compile(r"([+-]?)\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)?\s*([A-Za-z_][A-Za-z0-9_]*)?")


def parse_side(text: str) -> tuple[dict[str, float], float]:
    coefs: dict[str, float] = {}
    constant = 0.0
    text = text.strip()
    pos = 0
    while pos < len(text):
        m = TERM.match(text, pos)
        if not m or m.end() == pos:
            if text[pos].isspace():
                pos += 1
                continue
            raise ValueError(f"cannot parse {text[pos:]!r}")
        sign = -1.0 if m.group(1) == "-" else 1.0
        number = float(m.group(2)) if m.group(2) else None
        name = m.group(3)
        if name:
            coefs[name] = coefs.get(name, 0.0) + sign * (number if number is not None else 1.0)
        elif number is not None:
            constant += sign * number
        pos = m.end()
    return coefs, constant


def solve_lp_solve_file(path: Path) -> tuple[float, dict[str, float]]:
    statements = [s.strip() for s in path.read_text().split(";") if s.strip()]
    sense, objective_text = statements[0].split(":", 1)
    objective, _ = parse_side(objective_text)
    names: dict[str, int] = {}
    rows, cols, vals, lower, upper = [], [], [], [], []
    for k, statement in enumerate(statements[1:]):
        op = next(o for o in ("<=", ">=", "=") if o in statement)
        left, right = statement.split(op)
        lc, lk = parse_side(left)
        rc, rk = parse_side(right)
        for name, value in [*lc.items(), *((n, -v) for n, v in rc.items())]:
            rows.append(k)
            cols.append(names.setdefault(name, len(names)))
            vals.append(value)
        rhs = rk - lk
        lower.append(rhs if op in (">=", "=") else -INF)
        upper.append(rhs if op in ("<=", "=") else INF)
    for name in objective:
        names.setdefault(name, len(names))
    n = len(names)
    M = sp.csc_array((vals, (rows, cols)), shape=(len(lower), n))
    c = np.zeros(n)
    for name, value in objective.items():
        c[names[name]] = value
    sol = solve_lp(
        c,
        M,
        np.array(lower),
        np.array(upper),
        np.zeros(n),
        np.full(n, INF),
        maximize=sense.strip().lower().startswith("max"),
        method="simplex",
    )
    return sol.objective, {name: float(sol.x[i]) for name, i in names.items()}
