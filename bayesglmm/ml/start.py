"""Starting values: a GLM fit by iteratively reweighted least squares (no random effects).

The GLM's coefficients start the Laplace fit, as lme4 starts ``glmer`` from
``glm``; the Laplace estimates in turn start adaptive quadrature.
"""

from __future__ import annotations

import numpy as np

from ..model.families import Family


def glm_start(family: Family, X, y, trials, offset, iterations: int = 25) -> tuple[np.ndarray, float]:
    """(beta, the extra parameter's unconstrained start or 0) of the GLM ``y ~ X`` by IRLS
    (McCullagh & Nelder 1989, 2.5); the extra parameter from :meth:`Family.start_extra`."""
    beta, eta = _irls(family, X, y, trials, offset, iterations)
    return beta, family.start_extra(y, family.link_object.mean_and_slope(eta)[0], trials)


def glm_row_scores(family: Family, X, y, trials, offset, iterations: int = 25) -> np.ndarray:
    """Each row's contribution u_i = (r_i − μ_i) μ'_i / V(μ_i) to the GLM's score Xᵀu at its IRLS
    estimate (r the response on the mean's scale): Xᵀu ≈ 0 there, and sign(u_i) = sign(r_i − μ_i).
    Used as a certificate that the data are not separated
    (:func:`bayesglmm.model.identifiability.scores_rule_out_separation`)."""
    _, eta = _irls(family, X, y, trials, offset, iterations)
    mu, dmu = family.link_object.mean_and_slope(eta)
    return (family.glm_response(y, trials) - mu) * dmu / family.glm_variance(mu, trials)


def _irls(family: Family, X, y, trials, offset, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """(β, η) of the GLM after at most ``iterations`` IRLS steps (until β moves less than 1e-8)."""
    eta = np.clip(family.start_eta(y, trials), -15, 15)
    response = family.glm_response(y, trials)
    beta = np.zeros(X.shape[1])
    for _ in range(iterations):
        mu, dmu = family.link_object.mean_and_slope(eta)
        dmu = np.maximum(dmu, 1e-10)
        variance = family.glm_variance(mu, trials)
        weights = dmu**2 / variance
        working = eta - offset + (response - mu) / dmu
        sqrt_w = np.sqrt(weights)
        new_beta = np.linalg.lstsq(X * sqrt_w[:, None], working * sqrt_w, rcond=None)[0]
        eta = np.clip(X @ new_beta + offset, -30, 30)
        converged = np.max(np.abs(new_beta - beta)) < 1e-8
        beta = new_beta
        if converged:
            break
    return beta, eta
