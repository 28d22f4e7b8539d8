"""Negative binomial counts, log link, in glmmTMB's two parameterisations.

NB2 (glmmTMB ``nbinom2``, brms ``negbinomial``, GLMMadaptive ``negative.binomial``): Var = μ + μ²/θ,
θ the ``shape``;

    log p(y | η) = log Γ(y + θ) − log Γ(θ) − log y! + θ log(θ/(θ + μ)) + y log(μ/(θ + μ)),

written with l = log(1 + μ/θ) as θ log(θ/(θ + μ)) + y log(μ/(θ + μ)) = −θ l + y(η − log θ − l), so
that it stays accurate for θ ≫ μ (the Poisson limit) and θ ≪ μ (l by :func:`_nb2_terms`), with
its derivatives in η and log θ written out to second order (:func:`_nb2_kernel`).
Its η derivatives are y − (y + θ)p and −(y + θ)p(1 − p), p = μ/(θ + μ).

NB1 (glmmTMB ``nbinom1``): Var = μ(1 + φ), φ the dispersion ``phi``: the NB2 density with a size
θ_i = μ_i/φ that varies with the mean (derivatives by automatic differentiation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from ... import _jax  # noqa: F401  (float64)
from .base import ExtraParameter, Family, check_counts

if TYPE_CHECKING:
    import numpyro.distributions as dist


class _Counts(Family):
    """What NB2 and NB1 share: non-negative whole-number responses, the log link, a GLM start as Poisson."""

    links = ("log",)
    gee = False  # the shape enters the variance function: no GEE with a moment-estimated scale

    def check_response(self, y, name, trials=None, trials_name=None) -> tuple[np.ndarray, np.ndarray]:
        check_counts(y, name, f"counts for family '{self.name}'")
        return y, np.ones_like(y)

    def constant_response(self, y, trials) -> str | None:
        return "is 0 in every row used: the model cannot be estimated" if np.all(y == 0) else None

    def separation_sides(self, y, trials) -> np.ndarray | None:
        return np.where(y <= 0, -1, 0)

    def start_eta(self, y, trials) -> np.ndarray:
        return np.log(y + 0.1)

    def glm_variance(self, mean, trials) -> np.ndarray:
        return np.maximum(mean, 1e-10)  # the Poisson GLM starts β

    def variance(self, mu, trials) -> jax.Array:
        raise NotImplementedError(f"family {self.name!r} has no GEE variance function without its shape")

    def quasi_likelihood(self, y, mu, trials) -> float:
        raise NotImplementedError(f"family {self.name!r} has no quasi-likelihood for QIC")


def _nb2_terms(eta, log_theta):
    """θ, l = log(1 + x) and p = x/(1 + x) = μ/(θ + μ), x = μ/θ = e^{η − log θ}, from one exp, one
    log and one division. l to about one ulp for x ≥ 0 without XLA's log1p (slower on CPU:
    docs/measurements.md): log(u) − ((u − 1) − x)/u, u = 1 + x, the rounding of
    u corrected to first order (Goldberg 1991, "What every computer scientist should know about
    floating-point arithmetic", thm. 4)."""
    theta = jnp.exp(log_theta)
    x = jnp.exp(eta - log_theta)
    u = 1.0 + x
    reciprocal = 1.0 / u
    return theta, jnp.log(u) - ((u - 1.0) - x) * reciprocal, x * reciprocal


@jax.custom_jvp
def _nb2_kernel(y, eta, log_theta):
    """The η-dependent part of log NB2, −θ l + y(η − log θ − l) (module docstring), with its first
    and second derivatives in (η, log θ) written out (:func:`_nb2_kernel_gradient`): the AGQ
    objective's Hessian program evaluates them at every row and node, faster so than by automatic
    differentiation of the expression (docs/measurements.md). No derivatives in the counts y (data)."""
    theta, log_ratio, _ = _nb2_terms(eta, log_theta)
    return -theta * log_ratio + y * (eta - log_theta - log_ratio)


@_nb2_kernel.defjvp
def _nb2_kernel_jvp(primals, tangents):
    y, eta, log_theta = primals
    _, d_eta, d_log_theta = tangents
    d_by_eta, d_by_log_theta = _nb2_kernel_gradient(y, eta, log_theta)
    return _nb2_kernel(y, eta, log_theta), d_by_eta * d_eta + d_by_log_theta * d_log_theta


@jax.custom_jvp
def _nb2_kernel_gradient(y, eta, log_theta):
    """(∂k/∂η, ∂k/∂log θ) = (y − (y + θ)p, −θ l − ∂k/∂η), from ∂l/∂η = p = −∂l/∂log θ."""
    theta, log_ratio, p = _nb2_terms(eta, log_theta)
    by_eta = y - (y + theta) * p
    return by_eta, -theta * log_ratio - by_eta


@_nb2_kernel_gradient.defjvp
def _nb2_kernel_gradient_jvp(primals, tangents):
    """The Hessian of k in (η, log θ), from ∂p/∂η = p(1 − p) = −∂p/∂log θ and w = (y + θ)p(1 − p):
    ∂²k/∂η² = −w, ∂²k/∂η∂log θ = w − θp, ∂²k/∂log θ² = −θ l + 2θp − w."""
    y, eta, log_theta = primals
    _, d_eta, d_log_theta = tangents
    theta, log_ratio, p = _nb2_terms(eta, log_theta)
    w = (y + theta) * p * (1.0 - p)
    cross = w - theta * p
    by_log_theta_twice = -theta * log_ratio + 2.0 * theta * p - w
    gradient = _nb2_kernel_gradient(y, eta, log_theta)
    return gradient, (-w * d_eta + cross * d_log_theta, cross * d_eta + by_log_theta_twice * d_log_theta)


def _nb2_parts(y, eta, log_theta):
    """log NB2(y; μ = e^η, θ = e^{log θ}) (module docstring) as (the terms in η, the constants)."""
    theta = jnp.exp(log_theta)
    return _nb2_kernel(y, eta, log_theta), gammaln(y + theta) - gammaln(theta) - gammaln(y + 1.0)


def _nb2_loglik(y, eta, log_theta):
    """log NB2(y; μ = e^η, θ = e^{log θ}) with every constant."""
    kernel, constant = _nb2_parts(y, eta, log_theta)
    return kernel + constant


class NegativeBinomial2(_Counts):
    """Overdispersed counts, Var = μ + μ²/θ (glmmTMB ``nbinom2``, brms ``negbinomial``)."""

    name = "nbinom2"
    label = "Negative binomial (NB2: Var = mu + mu^2/shape)"
    aliases = ("negbinomial", "negative_binomial", "negative.binomial", "nb2", "negbin")
    extra_parameters = (ExtraParameter("shape", "Shape (NB2 theta)", "gamma(0.01, 0.01)", "negative binomial shape"),)
    r_name = "nbinom2"
    brms_name = "negbinomial"
    sas_name = "negbin"

    def loglik(self, y, eta, trials, log_dispersion=0.0) -> jax.Array:
        return _nb2_loglik(y, eta, log_dispersion)

    def loglik_parts(self, y, eta, trials, log_dispersion=0.0) -> tuple[jax.Array, jax.Array]:
        return _nb2_parts(y, eta, log_dispersion)

    def eta_derivatives(self, y, eta, trials, log_dispersion=0.0) -> tuple[jax.Array, jax.Array]:
        p = jax.nn.sigmoid(eta - log_dispersion)  # μ/(θ + μ)
        weight = y + jnp.exp(log_dispersion)
        return y - weight * p, -weight * p * (1.0 - p)

    def sas_scale(self, estimate, se, se_empirical) -> tuple[str, float, float, float]:
        """GLIMMIX ``dist=negbin`` prints Scale k = 1/θ (Var = μ + kμ²); SE by the delta method, se/θ²."""
        return "Scale (SAS k = 1/shape)", 1.0 / estimate, se / estimate**2, se_empirical / estimate**2

    def start_extra(self, y, mean, trials) -> float:
        """log θ from the moments of the Poisson GLM: Σ(y − μ)² − Σμ = Σμ²/θ."""
        excess = float(np.sum((y - mean) ** 2) - np.sum(mean))
        theta = float(np.sum(mean**2)) / excess if excess > 0 else 100.0
        return float(np.log(np.clip(theta, 0.05, 100.0)))

    def distribution(self, eta, trials, extra=None) -> dist.Distribution:
        import numpyro.distributions as dist  # here, not at import: only the Bayesian engine needs NumPyro

        return dist.NegativeBinomial2(jnp.exp(eta), extra)

    def simulate(self, rng, eta, trials, extra=None) -> np.ndarray:
        mu = np.exp(eta)
        return rng.negative_binomial(extra, extra / (extra + mu)).astype(float)


class NegativeBinomial1(_Counts):
    """Overdispersed counts, Var = μ(1 + φ) (glmmTMB ``nbinom1``)."""

    name = "nbinom1"
    label = "Negative binomial (NB1: Var = mu (1 + phi))"
    aliases = ("nb1",)
    extra_parameters = (ExtraParameter("phi", "Dispersion (NB1 phi)", "gamma(0.01, 0.01)", "NB1 dispersion"),)
    r_name = "nbinom1"
    brms_name = ""  # brms has no NB1
    sas_name = ""

    def loglik(self, y, eta, trials, log_dispersion=0.0) -> jax.Array:
        return _nb2_loglik(y, eta, eta - log_dispersion)  # size θ_i = μ_i/φ

    def start_extra(self, y, mean, trials) -> float:
        """log φ from the moments of the Poisson GLM: Σ(y − μ)² = (1 + φ) Σμ."""
        phi = float(np.sum((y - mean) ** 2) / np.sum(mean)) - 1.0
        return float(np.log(np.clip(phi, 0.01, 100.0)))

    def distribution(self, eta, trials, extra=None) -> dist.Distribution:
        import numpyro.distributions as dist  # here, not at import: only the Bayesian engine needs NumPyro

        mu = jnp.exp(eta)
        return dist.NegativeBinomial2(mu, mu / extra)

    def simulate(self, rng, eta, trials, extra=None) -> np.ndarray:
        size = np.exp(eta) / extra
        return rng.negative_binomial(size, 1.0 / (1.0 + extra)).astype(float)
