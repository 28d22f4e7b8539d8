"""Normal and chi-square tail probabilities (scipy.special: cheaper to import than scipy.stats), Wald tests."""

from __future__ import annotations

import numpy as np
from scipy.special import chdtrc, ndtr

Z_975 = 1.959963984540054


def wald_interval(estimate: float, se: float, scale: str, z: float = Z_975) -> tuple[float, float]:
    """The Wald interval (95%: ``z`` = 1.96) built on ``scale`` and mapped back, so that it stays in
    the parameter's range: ``identity`` (β), ``log`` (SDs and positive family parameters:
    exp(log θ̂ ± 1.96 se/θ̂)), ``logit`` (a probability: logit π̂ ± 1.96 se/(π̂(1 − π̂))),
    ``fisher`` (a correlation: tanh(atanh r̂ ± 1.96 se/(1 − r̂²)))."""
    if scale == "identity":
        return estimate - z * se, estimate + z * se
    if scale == "log":
        half = z * se / estimate if estimate > 0 else np.inf
        with np.errstate(over="ignore"):  # an SD at the boundary: the interval reaches infinity
            return estimate * np.exp(-half), estimate * np.exp(half)
    if scale == "logit":
        with np.errstate(divide="ignore", over="ignore"):  # π̂ at 0: the interval is [0, 0]
            logit, half = np.log(estimate / (1 - estimate)), z * se / max(estimate * (1 - estimate), 1e-300)
            return 1 / (1 + np.exp(-(logit - half))), 1 / (1 + np.exp(-(logit + half)))
    centre, half = np.arctanh(np.clip(estimate, -0.999999, 0.999999)), z * se / max(1 - estimate**2, 1e-12)
    return np.tanh(centre - half), np.tanh(centre + half)


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
