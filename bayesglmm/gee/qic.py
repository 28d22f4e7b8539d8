"""QIC and QICu (Pan 2001), as SAS PROC GENMOD prints them in "GEE Fit Criteria".

With μ̂ the fitted means of a GEE fit, Q(μ̂; I) the quasi-likelihood under independence,
Ω_I = Σ_i D_iᵀ A_i⁻¹ D_i / φ the model-based information of the independence model at β̂
(A_i = diag v(μ̂_ij)) and V_R the fit's robust covariance,

    QIC  = −2 Q(μ̂; I) + 2 trace(Ω_I V_R),        QICu = −2 Q(μ̂; I) + 2p.

Quasi-likelihoods (McCullagh & Nelder 1989, Table 9.1; SAS's "Quasi-likelihood Functions"):
binomial Σ y log μ + (n − y) log(1 − μ) (μ the probability), Poisson Σ y log μ − μ, normal
−½ Σ (y − μ)² / φ. φ is 1 for the binomial and Poisson families (GENMOD's default) and the
fit's Pearson scale for the normal. Checked against SAS: the unstructured fit of the
respiratory example has QIC 512.34 in SAS and here.
"""

from __future__ import annotations

import numpy as np

from .. import _jax  # noqa: F401  (float64)
import jax.numpy as jnp

from .estimating import mean_pieces, variance_name


def quasi_likelihood(family_name: str, y, probability, trials) -> float:
    """Q(μ; I) summed over rows (see the module docstring); ``probability`` is g⁻¹(η)."""
    if family_name in ("bernoulli", "binomial"):
        p = np.clip(probability, 1e-300, 1 - 1e-16)
        return float(np.sum(np.where(y > 0, y * np.log(p), 0.0) + np.where(trials - y > 0, (trials - y) * np.log1p(-p), 0.0)))
    mu = trials * probability
    if family_name == "poisson":
        return float(np.sum(np.where(y > 0, y * np.log(mu), 0.0) - mu))
    return float(-0.5 * np.sum((y - mu) ** 2))


def qic(spec, beta: np.ndarray, cov_robust: np.ndarray, scale: float) -> tuple[float, float]:
    """(QIC, QICu) of a GEE fit of ``spec`` with estimates ``beta`` and robust covariance."""
    family, trials = spec.family, spec.trials
    ones = jnp.ones(spec.nobs, dtype=bool)
    mu, dmu, variance = (np.asarray(a) for a in mean_pieces(jnp.asarray(beta), jnp.asarray(spec.fixed.X),
                                                             jnp.asarray(spec.offset), jnp.asarray(trials), ones,
                                                             family.link, variance_name(family)))
    phi = float(scale) if variance_name(family) == "gaussian" else 1.0
    q = quasi_likelihood(family.name, spec.y, mu / trials, trials) / phi
    information = spec.fixed.X.T @ ((dmu**2 / (variance * phi))[:, None] * spec.fixed.X)
    return -2.0 * q + 2.0 * float(np.trace(information @ cov_robust)), -2.0 * q + 2.0 * spec.fixed.X.shape[1]
