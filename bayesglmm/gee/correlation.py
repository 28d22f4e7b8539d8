"""Working correlation structures of GEE and their moment estimators.

From Pearson residuals e_ij = (y_ij − μ_ij)/√v(μ_ij) and the scale φ = Σ e²/N (geepack's
estimator: no degrees-of-freedom correction), with P_jk = Σ_i e_ij e_ik and N_jk the
number of clusters observed at both occasions j and k (Liang & Zeger 1986; geepack):

    exchangeable   α = Σ_{j<k} P_jk / (φ Σ_{j<k} N_jk)               R_jk = α
    ar1 ("lag1")   α = Σ_j P_{j,j+1} / (φ Σ_j N_{j,j+1})              R_jk = α^|j−k|
    ar1 ("pairs")  α solves Σ_{j<k} d α^(d−1) (P_jk/φ − N_jk α^d) = 0, d = |j − k|
    unstructured   α_jk = P_jk / (φ N_jk)                            R_jk = α_jk
    independence   —                                                  R = I

The two AR(1) estimators: ``lag1`` is the lag-one moment estimator of Liang & Zeger (1986) and
SAS PROC GENMOD (``type=ar(1)``); ``pairs`` is geepack's, the least-squares fit of α^d to the
residual products of *all* pairs, Σ_i Σ_{j<k} (e_ij e_ik / φ − α^|j−k|)² minimised (its
correlation estimating equation with identity weights). They differ when the correlation does
not decay geometrically (geepack's ``ohio`` data: 0.399 by lag one, 0.491 by all pairs).
"""

from __future__ import annotations

import numpy as np

from ..errors import SpecError

STRUCTURES = ("independence", "exchangeable", "ar1", "unstructured")
AR1_ESTIMATORS = ("lag1", "pairs")


def pair_products(residuals: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P (T, T): Σ_i e_ij e_ik over clusters observed at both; N (T, T): how many such clusters."""
    e = np.where(mask, residuals, 0.0)
    m = mask.astype(float)
    return e.T @ e, m.T @ m


def estimate_scale(residuals: np.ndarray, mask: np.ndarray) -> float:
    """φ = Σ e² / N over observed slots."""
    return float(np.sum(np.where(mask, residuals, 0.0) ** 2) / mask.sum())


def _ar1_all_pairs(P: np.ndarray, N: np.ndarray, scale: float) -> float:
    """geepack's AR(1) α: the root in (−1, 1) of Σ_{j<k} d α^(d−1) (P_jk/φ − N_jk α^d) (module docstring)."""
    from scipy.optimize import brentq

    j, k = np.triu_indices(P.shape[0], 1)
    d, products, counts = (k - j).astype(float), P[j, k] / scale, N[j, k]

    def score(alpha: float) -> float:
        return float(np.sum(d * alpha ** (d - 1) * (products - counts * alpha**d)))

    low, high = -1.0 + 1e-9, 1.0 - 1e-9
    if score(low) * score(high) > 0:  # no interior root: the boundary nearer the data
        return high if score(high) > 0 else low
    return brentq(score, low, high, xtol=1e-14)


def estimate_alpha(
    structure: str, residuals: np.ndarray, mask: np.ndarray, scale: float, ar1: str = "lag1"
) -> np.ndarray:
    """The moment estimate of the structure's parameters (empty for independence)."""
    P, N = pair_products(residuals, mask)
    upper = np.triu_indices(P.shape[0], 1)
    if structure == "independence":
        return np.zeros(0)
    if structure == "exchangeable":
        return np.array([P[upper].sum() / (scale * max(N[upper].sum(), 1.0))])
    if structure == "ar1" and ar1 == "pairs":
        return np.array([_ar1_all_pairs(P, N, scale)])
    if structure == "ar1":
        lag = np.arange(P.shape[0] - 1)
        return np.array([P[lag, lag + 1].sum() / (scale * max(N[lag, lag + 1].sum(), 1.0))])
    if structure == "unstructured":
        if (N[upper] == 0).any():
            j, k = (int(v[0]) for v in np.nonzero(np.triu(N == 0, 1)))
            raise SpecError(
                f"no cluster is observed at both occasions {j + 1} and {k + 1}: "
                "an unstructured working correlation cannot be estimated; use exchangeable or ar1"
            )
        return P[upper] / (scale * N[upper])
    raise SpecError(f"unknown working correlation {structure!r}; choose one of {', '.join(STRUCTURES)}")


def correlation_matrix(structure: str, alpha: np.ndarray, T: int) -> np.ndarray:
    """R(α), T × T, indexed by occasion."""
    R = np.eye(T)
    if structure == "exchangeable":
        R = np.full((T, T), float(alpha[0]))
        np.fill_diagonal(R, 1.0)
    elif structure == "ar1":
        lags = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
        R = float(alpha[0]) ** lags
    elif structure == "unstructured":
        upper = np.triu_indices(T, 1)
        R[upper] = alpha
        R[(upper[1], upper[0])] = alpha
    return R


def valid_correlation(R: np.ndarray, bound: float = 0.999, floor: float = 1e-8) -> np.ndarray:
    """R with its correlations kept inside (−1, 1) (clipped to ±``bound``) and, if it is then
    (near-)singular, its eigenvalues raised to ``floor`` in magnitude: moment estimates of an
    unstructured correlation from a poor start can leave the valid range and make the iteration
    diverge. An invertible R inside the range is used as it is, even when it is indefinite, as
    geepack does (so the two agree where geepack's estimate is not positive definite)."""
    off = ~np.eye(R.shape[0], dtype=bool)
    R = np.where(off, np.clip(R, -bound, bound), 1.0)
    values, vectors = np.linalg.eigh(R)
    if np.min(np.abs(values)) >= floor:
        return R
    raised = (vectors * np.where(np.abs(values) < floor, floor, values)) @ vectors.T
    root = np.sqrt(np.diag(raised))
    return raised / np.outer(root, root)


def alpha_names(structure: str, occasion_labels) -> list[str]:
    """``alpha`` for one parameter, ``alpha[j,k]`` (occasion labels) for unstructured."""
    if structure == "independence":
        return []
    if structure in ("exchangeable", "ar1"):
        return ["alpha"]
    T = len(occasion_labels)
    return [f"alpha[{occasion_labels[j]},{occasion_labels[k]}]" for j, k in zip(*np.triu_indices(T, 1))]
