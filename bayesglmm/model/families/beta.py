"""Beta responses (proportions strictly inside (0, 1)), logit link, in the mean–precision
parameterisation of glmmTMB's ``beta_family`` and brms's ``Beta`` (Ferrari & Cribari-Neto 2004):
y ~ Beta(μφ, (1 − μ)φ), Var = μ(1 − μ)/(1 + φ), φ the precision ``phi``;

    log p(y | η) = log Γ(φ) − log Γ(μφ) − log Γ((1 − μ)φ) + (μφ − 1) log y + ((1 − μ)φ − 1) log(1 − y).
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


class Beta(Family):
    """Proportions in (0, 1) (glmmTMB ``beta_family``, brms ``Beta``, SAS ``dist=beta``)."""

    name = "beta"
    label = "Beta (mean-precision)"
    links = ("logit", "probit", "cloglog")
    aliases = ("beta_family", "Beta")
    extra_parameters = (ExtraParameter("phi", "Precision (Beta phi)", "gamma(0.01, 0.01)", "Beta precision"),)
    r_name = "beta_family"
    brms_name = "Beta"
    sas_name = "beta"

    def check_response(self, y, name, trials=None, trials_name=None) -> tuple[np.ndarray, np.ndarray]:
        outside = np.flatnonzero((y < 0) | (y > 1))
        if outside.size:
            raise SpecError(
                f"column '{name}' has {outside.size} value(s) outside [0, 1] (e.g. {y[outside[:5]].tolist()}); "
                "family 'beta' models proportions strictly between 0 and 1"
            )
        edge = np.flatnonzero((y == 0) | (y == 1))
        if edge.size:
            raise SpecError(
                f"column '{name}' has {int(np.sum(y == 0))} value(s) exactly 0 and {int(np.sum(y == 1))} exactly 1: "
                "the Beta density is 0 there. Use a zero/one-inflated model, or shrink the values into (0, 1) "
                "as Smithson & Verkuilen (2006): (y (n - 1) + 0.5) / n"
            )
        return y, np.ones_like(y)

    def loglik(self, y, eta, trials, log_dispersion=0.0) -> jax.Array:
        phi = jnp.exp(log_dispersion)
        mu = self.inverse_link(eta)
        a, b = mu * phi, (1.0 - mu) * phi
        return gammaln(phi) - gammaln(a) - gammaln(b) + (a - 1.0) * jnp.log(y) + (b - 1.0) * jnp.log1p(-y)

    def start_eta(self, y, trials) -> np.ndarray:
        return self.link_object.numpy_link(np.clip(y, 1e-4, 1 - 1e-4))

    def glm_variance(self, mean, trials) -> np.ndarray:
        return np.maximum(mean * (1.0 - mean), 1e-10)

    def start_extra(self, y, mean, trials) -> float:
        """log φ from the moments: 1 + φ = Σ μ(1 − μ) / Σ (y − μ)²."""
        spread = float(np.sum((y - mean) ** 2))
        phi = float(np.sum(mean * (1.0 - mean))) / spread - 1.0 if spread > 0 else 100.0
        return float(np.log(np.clip(phi, 0.5, 1e4)))

    def variance(self, mu, trials) -> jax.Array:
        return mu * (1.0 - mu)  # times the scale 1/(1 + φ), which GEE estimates by moments

    def quasi_likelihood(self, y, mu, trials) -> float:
        mu = np.clip(mu, 1e-300, 1 - 1e-16)
        return float(np.sum(y * np.log(mu) + (1.0 - y) * np.log1p(-mu)))

    def distribution(self, eta, trials, extra=None) -> dist.Distribution:
        import numpyro.distributions as dist  # here, not at import: only the Bayesian engine needs NumPyro

        return dist.BetaProportion(jnp.clip(self.inverse_link(eta), 1e-12, 1 - 1e-12), extra)

    def simulate(self, rng, eta, trials, extra=None) -> np.ndarray:
        mu = np.asarray(jax.device_get(self.inverse_link(jnp.asarray(eta))))
        return rng.beta(mu * extra, (1.0 - mu) * extra)
