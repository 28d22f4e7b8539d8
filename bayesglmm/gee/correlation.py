"""Working correlation structures of GEE and their moment estimators.

From Pearson residuals e_ij = (y_ij − μ_ij)/√v(μ_ij) and the scale φ = Σ e²/N (geepack's
estimator: no degrees-of-freedom correction), with P_jk = Σ_i e_ij e_ik and N_jk the
number of clusters observed at both occasions j and k (Liang & Zeger 1986; geepack):

    exchangeable   α = Σ_{j<k} P_jk / (φ Σ_{j<k} N_jk)               R_jk = α
    ar1            α = Σ_j P_{j,j+1} / (φ Σ_j N_{j,j+1})              R_jk = α^|j−k|
    unstructured   α_jk = P_jk / (φ N_jk)                            R_jk = α_jk
    independence   —                                                  R = I
"""

from __future__ import annotations

import numpy as np

from ..errors import SpecError

STRUCTURES = ("independence", "exchangeable", "ar1", "unstructured")


def pair_products(residuals: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P (T, T): Σ_i e_ij e_ik over clusters observed at both; N (T, T): how many such clusters."""
    e = np.where(mask, residuals, 0.0)
    m = mask.astype(float)
    return e.T @ e, m.T @ m


def estimate_scale(residuals: np.ndarray, mask: np.ndarray) -> float:
    """φ = Σ e² / N over observed slots."""
    return float(np.sum(np.where(mask, residuals, 0.0) ** 2) / mask.sum())


def estimate_alpha(structure: str, residuals: np.ndarray, mask: np.ndarray, scale: float) -> np.ndarray:
    """The moment estimate of the structure's parameters (empty for independence)."""
    P, N = pair_products(residuals, mask)
    upper = np.triu_indices(P.shape[0], 1)
    if structure == "independence":
        return np.zeros(0)
    if structure == "exchangeable":
        return np.array([P[upper].sum() / (scale * max(N[upper].sum(), 1.0))])
    if structure == "ar1":
        lag = np.arange(P.shape[0] - 1)
        return np.array([P[lag, lag + 1].sum() / (scale * max(N[lag, lag + 1].sum(), 1.0))])
    if structure == "unstructured":
        if (N[upper] == 0).any():
            j, k = (int(v[0]) for v in np.nonzero(np.triu(N == 0, 1)))
            raise SpecError(f"no cluster is observed at both occasions {j + 1} and {k + 1}: "
                            "an unstructured working correlation cannot be estimated; use exchangeable or ar1")
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


def alpha_names(structure: str, occasion_labels) -> list[str]:
    """``alpha`` for one parameter, ``alpha[j,k]`` (occasion labels) for unstructured."""
    if structure == "independence":
        return []
    if structure in ("exchangeable", "ar1"):
        return ["alpha"]
    T = len(occasion_labels)
    return [f"alpha[{occasion_labels[j]},{occasion_labels[k]}]" for j, k in zip(*np.triu_indices(T, 1))]
