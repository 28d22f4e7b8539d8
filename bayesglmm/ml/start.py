"""Starting values: a GLM fit by iteratively reweighted least squares (no random effects).

The GLM's coefficients start the Laplace fit, as lme4 starts ``glmer`` from
``glm``; the Laplace estimates in turn start adaptive quadrature.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, ndtr

from ..families import Family


def _mean_and_derivative(link: str, eta: np.ndarray):
    if link == "logit":
        mu = expit(eta)
        return mu, mu * (1.0 - mu)
    if link == "probit":
        return ndtr(eta), np.exp(-0.5 * eta**2) / np.sqrt(2.0 * np.pi)
    if link == "cloglog":
        return -np.expm1(-np.exp(eta)), np.exp(eta - np.exp(eta))
    if link == "log":
        mu = np.exp(eta)
        return mu, mu
    return eta, np.ones_like(eta)


def glm_start(family: Family, X, y, trials, offset, iterations: int = 25):
    """(beta, log residual SD or 0) of the GLM ``y ~ X`` by IRLS (McCullagh & Nelder 1989, 2.5)."""
    eta = np.clip(family.start_eta(y, trials), -15, 15)
    response = y / trials if family.is_binomial else y
    beta = np.zeros(X.shape[1])
    for _ in range(iterations):
        mu, dmu = _mean_and_derivative(family.link, eta)
        dmu = np.maximum(dmu, 1e-10)
        if family.is_binomial:
            variance = np.maximum(mu * (1.0 - mu), 1e-10) / trials
        elif family.name == "poisson":
            variance = np.maximum(mu, 1e-10)
        else:
            variance = np.ones_like(mu)
        weights = dmu**2 / variance
        working = eta - offset + (response - mu) / dmu
        sqrt_w = np.sqrt(weights)
        new_beta = np.linalg.lstsq(X * sqrt_w[:, None], working * sqrt_w, rcond=None)[0]
        eta = np.clip(X @ new_beta + offset, -30, 30)
        converged = np.max(np.abs(new_beta - beta)) < 1e-8
        beta = new_beta
        if converged:
            break
    log_sd = 0.0
    if family.has_dispersion:
        log_sd = float(np.log(max(np.std(y - eta), 1e-8)))
    return beta, log_sd
