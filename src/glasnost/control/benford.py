"""Benford's law for first digits, as a reason to audit, never as proof.

Many sets of figures that span several orders of magnitude (outputs, deliveries, stocks of many
workplaces) have first digits ``d`` with frequency ``log10(1 + 1/d)``. Figures made up by people
often do not. Nigrini (*Benford's Law*, Wiley 2012, table 7.1) judges conformity of first digits by
the mean absolute deviation (MAD) of the digit proportions from Benford's: below 0.006 close
conformity, 0.006-0.012 acceptable, 0.012-0.015 marginally acceptable, above 0.015
nonconformity. The chi-square test (8 degrees of freedom) is given too, but with many figures it
rejects for trivial departures, which is why Nigrini prefers the MAD.

A nonconforming set is a reason to look closer (an audit), not evidence of falsification: honest
figures bounded in range (e.g. all between 100 and 199) do not follow Benford's law at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["BENFORD", "BenfordTest", "benford_test", "first_digits"]

BENFORD = np.log10(1.0 + 1.0 / np.arange(1, 10))
"""Expected proportions of first digits 1..9."""

NIGRINI_FIRST_DIGIT = ((0.006, "close conformity"), (0.012, "acceptable conformity"),
                       (0.015, "marginally acceptable conformity"), (np.inf, "nonconformity"))


def first_digits(values: np.ndarray) -> np.ndarray:
    """First significant digit (1..9) of each positive finite value; 0 for zero, negative or non-finite."""
    v = np.asarray(values, float)
    ok = np.isfinite(v) & (v > 0)
    out = np.zeros(v.shape, dtype=np.int64)
    x = v[ok]
    e = np.floor(np.log10(x))
    d = np.floor(x / 10.0**e).astype(np.int64)
    d = np.clip(d, 1, 9)  # guard against 9.999... rounding to 10
    out[ok] = d
    return out


@dataclass(frozen=True)
class BenfordTest:
    """First-digit test of a set of figures.

    Attributes
    ----------
    n
        Figures counted (positive ones).
    counts, observed, expected
        Count and proportion of each first digit 1..9, and Benford's proportions.
    chi2, p_value
        Pearson's chi-square statistic (8 degrees of freedom) and its p-value.
    mad
        Mean absolute deviation of the proportions (Nigrini).
    conformity
        Nigrini's label for the MAD.
    """

    n: int
    counts: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    chi2: float
    p_value: float
    mad: float
    conformity: str

    @property
    def audit(self) -> bool:
        """True when the MAD is above Nigrini's acceptable range: a reason to audit, not proof."""
        return self.mad > 0.012

    def summary(self) -> str:
        what = "a reason to audit (not proof of anything)" if self.audit else "no reason to audit from this test"
        return (
            f"Benford first digits over {self.n} figures: MAD {self.mad:.4f} ({self.conformity}), "
            f"chi-square {self.chi2:.1f} (8 df, p = {self.p_value:.3g}): {what}"
        )


def benford_test(values: np.ndarray) -> BenfordTest:
    """Compare the first digits of ``values`` (positive ones) with Benford's law.

    Raises
    ------
    ValueError
        With fewer than 10 positive figures (no meaningful test).
    """
    d = first_digits(values)
    d = d[d > 0]
    if d.size < 10:
        raise ValueError(f"a Benford test needs at least 10 positive figures, got {d.size}")
    counts = np.bincount(d, minlength=10)[1:]
    n = int(counts.sum())
    observed = counts / n
    expected_counts = BENFORD * n
    chi2 = float(np.sum((counts - expected_counts) ** 2 / expected_counts))
    mad = float(np.mean(np.abs(observed - BENFORD)))
    label = next(lab for bound, lab in NIGRINI_FIRST_DIGIT if mad <= bound)
    return BenfordTest(n, counts, observed, BENFORD.copy(), chi2, float(stats.chi2.sf(chi2, 8)), mad, label)
