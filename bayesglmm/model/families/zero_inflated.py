"""Zero-inflated Poisson and NB2 counts: a structural zero with probability π, else the count family.

    p(0) = π + (1 − π) f(0),   p(y) = (1 − π) f(y) for y > 0,   logit π_r = w_rᵀγ,

with f the Poisson or NB2 density at μ = e^η (glmmTMB ``family = poisson``/``nbinom2`` with
``ziformula``, brms ``zero_inflated_poisson``/``zero_inflated_negbinomial`` with ``zi ~``).  The
zero-inflation predictor w_rᵀγ has fixed effects only (the ``zi`` formula, ``~ 1`` for a constant
π); its design W reaches the likelihood as the ``covariates`` of every row.

The unconstrained extra parameters, in φ's order: the count family's (log θ for NB2), then γ.  A
constant π is reported as ``zi`` (brms's name) on the probability scale; the coefficients of a zi
formula as ``zi[term]`` on the logit scale (brms ``b_zi_term``, glmmTMB's zero-inflation model).

The η derivatives are closed forms from the count family's: at y > 0 they are f's; at y = 0, with
r = (1 − π) f(0)/p(0) (the chance that a zero came from the count part),
∂ℓ/∂η = r ∂log f(0)/∂η and ∂²ℓ/∂η² = r ∂²log f(0)/∂η² + r(1 − r)(∂log f(0)/∂η)² — not concave in
η, so Newton steps use the floored curvature (:mod:`bayesglmm.core.newton`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ... import _jax  # noqa: F401  (float64)
from .base import ExtraParameter, Family
from .negative_binomial import NegativeBinomial2
from .poisson import Poisson

if TYPE_CHECKING:
    import numpyro.distributions as dist

CONSTANT = ("(Intercept)",)  # the zi design of a constant zero-inflation probability
ZI = ExtraParameter("zi", "Zero-inflation probability", "beta(1, 1)", "zero-inflation probability")


def _broadcast_rows(values, like):
    """Per-row values (n,) as (n, 1, ...) to broadcast against ``like`` (n, K, ...) (quadrature nodes)."""
    return jnp.reshape(values, values.shape + (1,) * (jnp.ndim(like) - jnp.ndim(values)))


@dataclass(frozen=True)
class _ZeroInflated(Family):
    """A count family with zero inflation; ``zi_terms`` names the columns of the zi design."""

    zi_terms: tuple[str, ...] = CONSTANT

    count_family: ClassVar[Family]  # f, the count part
    links = ("log",)
    gee = False  # a likelihood parameter (π) besides the mean: no GEE

    # -- what the family is ---------------------------------------------------------------
    @property
    def constant_zi(self) -> bool:
        """True when π is one constant (zi = ~ 1), reported as ``zi`` on the probability scale."""
        return tuple(self.zi_terms) == CONSTANT

    @property
    def n_extra(self) -> int:
        return self.count_family.n_extra + len(self.zi_terms)

    def extras_from(self, tail) -> jax.Array:
        return tail[: self.n_extra]

    def reported_extras(self) -> tuple[tuple[str, str], ...]:
        count = tuple((p.name, p.label) for p in self.count_family.extra_parameters)
        if self.constant_zi:
            return count + ((ZI.name, ZI.label),)
        return count + tuple((f"zi[{term}]", f"Zero-inflation {term} (logit)") for term in self.zi_terms)

    def natural_extras(self, extras) -> jax.Array:
        count, gamma = self._split(extras)
        parts = [jnp.exp(count)[None]] if self.count_family.n_extra else []
        parts.append(jax.nn.sigmoid(gamma) if self.constant_zi else gamma)
        return jnp.concatenate(parts)

    def extras_vector(self, extra) -> jax.Array:
        count, gamma = extra
        parts = [self.count_family.extras_vector(count)] if self.count_family.n_extra else []
        return jnp.concatenate([*parts, jnp.atleast_1d(jnp.asarray(gamma, dtype=float))])

    def extra_value(self, extras) -> tuple:
        count, gamma = self._split(extras)
        return (self.count_family.extra_value(count) if self.count_family.n_extra else None), gamma

    def extra_from_params(self, value) -> tuple:
        """(the count family's natural extra or None, γ) from ``zi`` (a probability) or ``zi[term]``."""
        count = self.count_family.extra_from_params(value)
        if self.constant_zi:
            pi = value("zi")
            return count, np.array([np.log(pi / (1.0 - pi))])
        return count, np.array([value(f"zi[{term}]") for term in self.zi_terms])

    def _split(self, extras):
        """(the count family's extra value, γ) from the extra parameters."""
        extras = jnp.atleast_1d(extras)
        k = self.count_family.n_extra
        return (extras[0] if k else jnp.zeros((), extras.dtype)), extras[k:]

    def zi_logit(self, extras, covariates) -> jax.Array:
        """logit π per row: W γ (covariates (..., n_zi))."""
        return covariates @ self._split(extras)[1]

    # -- the response ---------------------------------------------------------------------
    def check_response(self, y, name, trials=None, trials_name=None) -> tuple[np.ndarray, np.ndarray]:
        return self.count_family.check_response(y, name, trials, trials_name)

    def constant_response(self, y, trials) -> str | None:
        return self.count_family.constant_response(y, trials)

    def separation_sides(self, y, trials) -> np.ndarray | None:
        return None  # zeros can come from π: η → −∞ does not make the likelihood unbounded

    # -- likelihood -----------------------------------------------------------------------
    def _covariates(self, covariates, y):
        """The rows' zi design; without one (a direct call) the constant π's column of ones."""
        if covariates is not None:
            return covariates
        if not self.constant_zi:
            raise ValueError(f"{self.name} with the zi terms {self.zi_terms} needs each row's covariates")
        return jnp.ones(jnp.shape(y)[:1] + (1,))

    def row_loglik(self, y, eta, trials, log_dispersion, covariates) -> jax.Array:
        return self.loglik(y, eta, trials, log_dispersion, covariates)

    def row_eta_derivatives(self, y, eta, trials, log_dispersion, covariates) -> tuple[jax.Array, jax.Array]:
        return self.eta_derivatives(y, eta, trials, log_dispersion, covariates)

    def row_loglik_parts(self, y, eta, trials, log_dispersion, covariates) -> tuple[jax.Array, jax.Array]:
        return self.loglik(y, eta, trials, log_dispersion, covariates), jnp.zeros_like(y)

    def row_distribution(self, eta, trials, extra, covariates) -> dist.Distribution:
        return self.distribution(eta, trials, extra, covariates)

    def row_simulate(self, rng, eta, trials, extra, covariates) -> np.ndarray:
        return self.simulate(rng, eta, trials, extra, covariates)

    def loglik(self, y, eta, trials, log_dispersion=0.0, covariates=None) -> jax.Array:
        covariates = self._covariates(covariates, y)
        count, _ = self._split(log_dispersion)
        zeta = _broadcast_rows(self.zi_logit(log_dispersion, covariates), eta)
        log_pi, log_not_pi = -jax.nn.softplus(-zeta), -jax.nn.softplus(zeta)
        count_part = log_not_pi + self.count_family.loglik(y, eta, trials, count)
        return jnp.where(y == 0, jnp.logaddexp(log_pi, count_part), count_part)

    def eta_derivatives(self, y, eta, trials, log_dispersion=0.0, covariates=None) -> tuple[jax.Array, jax.Array]:
        covariates = self._covariates(covariates, y)
        count, _ = self._split(log_dispersion)
        zeta = _broadcast_rows(self.zi_logit(log_dispersion, covariates), eta)
        d1, d2 = self.count_family.eta_derivatives(y, eta, trials, count)
        count_part = -jax.nn.softplus(zeta) + self.count_family.loglik(y, eta, trials, count)
        r = jnp.exp(count_part - jnp.logaddexp(-jax.nn.softplus(-zeta), count_part))  # P(count part | y = 0)
        zero = y == 0
        return jnp.where(zero, r * d1, d1), jnp.where(zero, r * d2 + r * (1.0 - r) * d1**2, d2)

    # -- GLM start ------------------------------------------------------------------------
    def start_eta(self, y, trials) -> np.ndarray:
        return self.count_family.start_eta(y, trials)

    def glm_variance(self, mean, trials) -> np.ndarray:
        return self.count_family.glm_variance(mean, trials)

    def start_extra(self, y, mean, trials) -> np.ndarray:
        """The count family's start, then logit π from the zeros the count GLM does not explain:
        π = (P̂(0) − mean f(0)) / (1 − mean f(0)) (Lambert 1992's moment start), at least 0.01."""
        count = np.atleast_1d(self.count_family.start_extra(y, mean, trials))[: self.count_family.n_extra]
        expected_zero = float(np.mean(np.exp(-mean)))
        pi = (float(np.mean(y == 0)) - expected_zero) / max(1.0 - expected_zero, 1e-8)
        pi = float(np.clip(pi, 0.01, 0.9))
        gamma = np.zeros(len(self.zi_terms))
        gamma[0] = np.log(pi / (1.0 - pi))  # the intercept (the first column of the zi design)
        return np.concatenate([count, gamma])

    # -- Bayes and simulation -------------------------------------------------------------
    def distribution(self, eta, trials, extra=None, covariates=None) -> dist.Distribution:
        """``extra``: (the count family's natural extra or None, γ)."""
        import numpyro.distributions as dist  # here, not at import: only the Bayesian engine needs NumPyro

        count, gamma = extra
        covariates = self._covariates(covariates, eta)
        return dist.ZeroInflatedDistribution(
            self.count_family.distribution(eta, trials, count), gate_logits=covariates @ gamma
        )

    def simulate(self, rng, eta, trials, extra=None, covariates=None) -> np.ndarray:
        count, gamma = extra
        covariates = self._covariates(covariates, eta)
        y = self.count_family.simulate(rng, eta, trials, count)
        pi = 1.0 / (1.0 + np.exp(-(np.asarray(covariates) @ np.asarray(gamma))))
        return np.where(rng.uniform(size=y.shape) < pi, 0.0, y)


class ZeroInflatedPoisson(_ZeroInflated):
    """Zero-inflated Poisson (glmmTMB ``poisson`` with ``ziformula``, brms ``zero_inflated_poisson``)."""

    name = "zipoisson"
    label = "Zero-inflated Poisson"
    count_family = Poisson("log")
    extra_parameters = (ZI,)
    aliases = ("zero_inflated_poisson", "zip", "zi_poisson", "zi.poisson")
    r_name = "poisson + ziformula"
    brms_name = "zero_inflated_poisson"


class ZeroInflatedNB2(_ZeroInflated):
    """Zero-inflated NB2 (glmmTMB ``nbinom2`` with ``ziformula``, brms ``zero_inflated_negbinomial``)."""

    name = "zinbinom2"
    label = "Zero-inflated negative binomial (NB2)"
    count_family = NegativeBinomial2("log")
    extra_parameters = (*NegativeBinomial2.extra_parameters, ZI)
    aliases = ("zero_inflated_negbinomial", "zinb", "zinb2", "zi_nbinom2")
    r_name = "nbinom2 + ziformula"
    brms_name = "zero_inflated_negbinomial"


ZERO_INFLATED = {"poisson": ZeroInflatedPoisson, "nbinom2": ZeroInflatedNB2}  # count family -> with zi


def zero_inflated(family: Family, zi_terms: tuple[str, ...]) -> Family:
    """``family`` with zero inflation on the zi design's columns ``zi_terms`` (SpecError for a family without one)."""
    from ...errors import SpecError

    if isinstance(family, _ZeroInflated):
        return type(family)(family.link, tuple(zi_terms))
    if family.name not in ZERO_INFLATED:
        raise SpecError(
            f"zero inflation (zi=) is available for the count families {', '.join(ZERO_INFLATED)}, not {family.name!r}"
        )
    return ZERO_INFLATED[family.name](family.link, tuple(zi_terms))
