"""Gamma responses (positive, right-skewed), log or inverse link, with a shape α:
y ~ Gamma(α, rate α/μ), Var = μ²/α (brms ``Gamma``; glmmTMB ``Gamma`` reports sigma = 1/√α);

    log p(y | η) = α log α − log Γ(α) + (α − 1) log y − α log μ − α y/μ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from ... import _jax  # noqa: F401  (float64)
from ...errors import SpecError
from .base import ExtraParameter, Family

if TYPE_CHECKING:
    import numpyro.distributions as dist


class Gamma(Family):
    """Positive measurements (R/glmmTMB ``Gamma``, brms ``Gamma``, SAS ``dist=gamma``)."""

    name = "gamma"
    label = "Gamma"
    links = ("log", "inverse")
    aliases = ("Gamma",)
    extra_parameters = (ExtraParameter("shape", "Shape (Gamma alpha)", "gamma(0.01, 0.01)", "Gamma shape"),)
    r_name = "Gamma"
    brms_name = "Gamma"
    sas_name = "gamma"

    def check_response(self, y, name, trials=None, trials_name=None) -> tuple[np.ndarray, np.ndarray]:
        bad = np.flatnonzero(y <= 0)
        if bad.size:
            raise SpecError(
                f"column '{name}' has {bad.size} value(s) <= 0 (e.g. {y[bad[:5]].tolist()}); family 'gamma' needs "
                "positive values — drop or recode them, or use a family for zeros (a hurdle or Tweedie model)"
            )
        return y, np.ones_like(y)

    def loglik(self, y, eta, trials, log_dispersion=0.0) -> jax.Array:
        kernel, constant = self.loglik_parts(y, eta, trials, log_dispersion)
        return kernel + constant

    def loglik_parts(self, y, eta, trials, log_dispersion=0.0) -> tuple[jax.Array, jax.Array]:
        """(−k log μ − k y/μ, k log k − log Γ(k) + (k − 1) log y), k the shape."""
        shape = jnp.exp(log_dispersion)
        log_mu = eta if self.link == "log" else -jnp.log(eta)
        kernel = -shape * (log_mu + y * jnp.exp(-log_mu))
        return kernel, shape * log_dispersion - gammaln(shape) + (shape - 1.0) * jnp.log(y)

    def eta_derivatives(self, y, eta, trials, log_dispersion=0.0) -> tuple[jax.Array, jax.Array]:
        if self.link == "log":
            shape, ratio = jnp.exp(log_dispersion), y * jnp.exp(-eta)
            return shape * (ratio - 1.0), -shape * ratio
        return super().eta_derivatives(y, eta, trials, log_dispersion)

    def start_eta(self, y, trials) -> np.ndarray:
        return np.log(y) if self.link == "log" else 1.0 / y

    def glm_variance(self, mean, trials) -> np.ndarray:
        return np.maximum(mean, 1e-10) ** 2

    def start_extra(self, y, mean, trials) -> float:
        """log α from the GLM's squared coefficient of variation: 1/α = mean(((y − μ)/μ)²)."""
        cv2 = float(np.mean(((y - mean) / mean) ** 2))
        return float(np.log(np.clip(1.0 / max(cv2, 1e-8), 0.01, 1e4)))

    def variance(self, mu, trials) -> jax.Array:
        return mu**2

    def quasi_likelihood(self, y, mu, trials) -> float:
        return float(np.sum(-y / mu - np.log(mu)))

    def distribution(self, eta, trials, extra=None) -> dist.Distribution:
        import numpyro.distributions as dist  # here, not at import: only the Bayesian engine needs NumPyro

        mu = jnp.exp(eta) if self.link == "log" else 1.0 / eta
        return dist.Gamma(extra, extra / mu)

    def simulate(self, rng, eta, trials, extra=None) -> np.ndarray:
        mu = np.exp(eta) if self.link == "log" else 1.0 / eta
        return rng.gamma(extra, mu / extra)
