"""Starting values: a GLM fit by iteratively reweighted least squares (no random effects).

The GLM's coefficients start the Laplace fit, as lme4 starts ``glmer`` from
``glm``; the Laplace estimates in turn start adaptive quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.families import Family


@dataclass(frozen=True)
class GLMFit:
    """The GLM ``y ~ X`` by IRLS (McCullagh & Nelder 1989, 2.5), what the ML fit takes from it.

    ``beta`` and ``extra`` (the family's extra parameter's unconstrained start, or 0, from
    :meth:`Family.start_extra`) start the fit; ``row_scores`` are each row's contribution
    u_i = (r_i − μ_i) μ'_i / V(μ_i) to the GLM's score Xᵀu at the estimate (r the response on the
    mean's scale): Xᵀu ≈ 0 there and sign(u_i) = sign(r_i − μ_i), a certificate that the data are
    not separated (:func:`bayesglmm.model.identifiability.scores_rule_out_separation`)."""

    beta: np.ndarray
    extra: float | np.ndarray
    row_scores: np.ndarray


def glm_fit(family: Family, X, y, trials, offset, iterations: int = 25) -> GLMFit:
    """:class:`GLMFit` of ``y ~ X`` with ``offset``, one IRLS run for the start and the certificate."""
    beta, eta = _irls(family, X, y, trials, offset, iterations)
    mu, dmu = family.link_object.mean_and_slope(eta)
    scores = (family.glm_response(y, trials) - mu) * dmu / family.glm_variance(mu, trials)
    return GLMFit(beta, family.start_extra(y, mu, trials), scores)


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
