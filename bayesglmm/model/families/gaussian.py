"""Gaussian responses with the identity link and a residual SD σ = exp(θ):
log p(y | η) = −log σ − log(2π)/2 − (y − η)²/(2σ²)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from ... import _jax  # noqa: F401  (float64)
from .base import ExtraParameter, Family

if TYPE_CHECKING:
    import numpyro.distributions as dist


class Gaussian(Family):
    """Measurements (R/brms ``gaussian``, SAS ``dist=normal``)."""

    name = "gaussian"
    label = "Gaussian"
    links = ("identity",)
    extra_parameters = (
        ExtraParameter("sigma", "Residual SD", "half_student_t(3, 2.5)", "residual standard deviation"),
    )
    r_name = "gaussian"
    brms_name = "gaussian"
    sas_name = "normal"

    def sas_scale(self, estimate, se, se_empirical) -> tuple[str, float, float, float]:
        """GLIMMIX prints the residual variance σ² ("Residual"); SE by the delta method, 2σ se."""
        return "Residual (SAS: sigma^2)", estimate**2, 2 * estimate * se, 2 * estimate * se_empirical

    def loglik(self, y, eta, trials, log_dispersion=0.0) -> jax.Array:
        sigma2 = jnp.exp(2.0 * log_dispersion)
        return -log_dispersion - 0.5 * jnp.log(2.0 * jnp.pi) - 0.5 * (y - eta) ** 2 / sigma2

    def eta_derivatives(self, y, eta, trials, log_dispersion=0.0) -> tuple[jax.Array, jax.Array]:
        precision = jnp.exp(-2.0 * log_dispersion)
        return (y - eta) * precision, -precision * jnp.ones_like(eta)

    def start_extra(self, y, mean, trials) -> float:
        return float(np.log(max(np.std(y - mean), 1e-8)))

    def start_random_sd(self, extra) -> float:
        return float(np.exp(extra))

    def quasi_likelihood(self, y, mu, trials) -> float:
        return float(-0.5 * np.sum((y - mu) ** 2))

    def distribution(self, eta, trials, extra=None) -> dist.Distribution:
        import numpyro.distributions as dist  # here, not at import: only the Bayesian engine needs NumPyro

        return dist.Normal(eta, extra)

    def simulate(self, rng, eta, trials, extra=None) -> np.ndarray:
        return rng.normal(eta, extra)
