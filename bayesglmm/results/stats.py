"""Normal and chi-square tail probabilities (scipy.special: cheaper to import than scipy.stats)."""

from __future__ import annotations

import numpy as np
from scipy.special import chdtrc, ndtr

Z_975 = 1.959963984540054


def two_sided_normal_p(z) -> np.ndarray:
    """P(|Z| > |z|) for a standard normal Z."""
    return 2.0 * ndtr(-np.abs(np.asarray(z, dtype=float)))


def chi2_upper_p(statistic, df) -> np.ndarray:
    """P(X > statistic) for X ~ chi-square(df)."""
    return chdtrc(df, statistic)
