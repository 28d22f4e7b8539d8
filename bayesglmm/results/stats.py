"""Normal and chi-square tail probabilities (scipy.special: cheaper to import than scipy.stats), Wald tests."""

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


def wald_type3(beta: np.ndarray, cov: np.ndarray, terms) -> list[dict]:
    """Wald chi-square tests that all coefficients of each model term are zero (F = chi2/df).

    ``terms``: (label, column indices) pairs; the intercept is skipped. Equals SAS's type III
    Wald tests when a term's columns are not contained in a higher-order term with
    treatment-coded factors; with such factors it tests the term at the others' reference level.
    """
    rows = []
    for label, columns in terms:
        if label == "(Intercept)":
            continue
        cols = list(columns)
        b = beta[cols]
        chi2 = float(b @ np.linalg.solve(cov[np.ix_(cols, cols)], b))
        rows.append(
            {
                "term": label,
                "df": len(cols),
                "chi2": chi2,
                "F": chi2 / len(cols),
                "p": float(chi2_upper_p(chi2, len(cols))),
            }
        )
    return rows
