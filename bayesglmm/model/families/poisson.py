"""Poisson counts with the log link: log p(y | η) = y η − e^η − log y!."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from ... import _jax  # noqa: F401  (float64)
from .base import Family, check_counts

if TYPE_CHECKING:
    import numpyro.distributions as dist


class Poisson(Family):
    """Counts (R/brms ``poisson``, SAS ``dist=poisson``)."""

    name = "poisson"
    label = "Poisson"
    links = ("log",)
    r_name = "poisson"
    brms_name = "poisson"
    sas_name = "poisson"

    def check_response(self, y, name, trials=None, trials_name=None) -> tuple[np.ndarray, np.ndarray]:
        check_counts(y, name, "counts for family 'poisson'")
        return y, np.ones_like(y)

    def constant_response(self, y, trials) -> str | None:
        return "is 0 in every row used: the model cannot be estimated" if np.all(y == 0) else None

    def separation_sides(self, y, trials) -> np.ndarray | None:
        return np.where(y <= 0, -1, 0)

    def loglik(self, y, eta, trials, log_dispersion=0.0) -> jax.Array:
        kernel, constant = self.loglik_parts(y, eta, trials, log_dispersion)
        return kernel + constant

    def loglik_parts(self, y, eta, trials, log_dispersion=0.0) -> tuple[jax.Array, jax.Array]:
        """(y η − e^η, −log y!)."""
        return y * eta - jnp.exp(eta), -gammaln(y + 1.0)

    def eta_derivatives(self, y, eta, trials, log_dispersion=0.0) -> tuple[jax.Array, jax.Array]:
        mu = jnp.exp(eta)
        return y - mu, -mu

    def start_eta(self, y, trials) -> np.ndarray:
        return np.log(y + 0.1)

    def glm_variance(self, mean, trials) -> np.ndarray:
        return np.maximum(mean, 1e-10)

    def variance(self, mu, trials) -> jax.Array:
        return mu

    def quasi_likelihood(self, y, mu, trials) -> float:
        return float(np.sum(np.where(y > 0, y * np.log(mu), 0.0) - mu))

    def distribution(self, eta, trials, extra=None) -> dist.Distribution:
        import numpyro.distributions as dist  # here, not at import: only the Bayesian engine needs NumPyro

        return dist.Poisson(jnp.exp(eta))

    def simulate(self, rng, eta, trials, extra=None) -> np.ndarray:
        return rng.poisson(np.asarray(self.inverse_link(eta))).astype(float)
