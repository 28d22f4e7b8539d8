"""Response distributions and link functions, as pure JAX functions.

A :class:`Family` is a frozen, hashable description (so it can be a static
argument of ``jax.jit``).  ``loglik`` returns the per-row log-likelihood with
all normalising constants, so log-likelihoods, AIC and BIC are comparable with
glmmTMB, lme4 (for Bernoulli data) and SAS GLIMMIX.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _jax  # noqa: F401  (float64)
from .errors import SpecError
import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln, log_ndtr, ndtr, ndtri

LINKS = ("logit", "probit", "cloglog", "log", "identity")
DEFAULT_LINK = {"bernoulli": "logit", "binomial": "logit", "poisson": "log", "gaussian": "identity"}
ALLOWED_LINKS = {
    "bernoulli": ("logit", "probit", "cloglog"),
    "binomial": ("logit", "probit", "cloglog"),
    "poisson": ("log",),
    "gaussian": ("identity",),
}


def inverse_link(link: str, eta):
    """Mean as a function of the linear predictor, mu = g^{-1}(eta)."""
    if link == "logit":
        return jax.nn.sigmoid(eta)
    if link == "probit":
        return ndtr(eta)
    if link == "cloglog":
        return -jnp.expm1(-jnp.exp(eta))
    if link == "log":
        return jnp.exp(eta)
    if link == "identity":
        return eta
    raise ValueError(f"unknown link {link!r}; choose one of {', '.join(LINKS)}")


def link_function(link: str, mu):
    """The link itself, eta = g(mu): the inverse of :func:`inverse_link`, differentiable in JAX."""
    if link == "logit":
        return jnp.log(mu) - jnp.log1p(-mu)
    if link == "probit":
        return ndtri(mu)
    if link == "cloglog":
        return jnp.log(-jnp.log1p(-mu))
    if link == "log":
        return jnp.log(mu)
    if link == "identity":
        return mu
    raise ValueError(f"unknown link {link!r}; choose one of {', '.join(LINKS)}")


@jax.custom_jvp
def softplus(x):
    """log(1 + e^x) without overflow: max(x, 0) + log1p(e^{−|x|}).

    Four times faster on CPU than ``jax.nn.softplus`` (a ``logaddexp`` with NaN and infinity
    checks); it is the innermost operation of quadrature. The derivative is given explicitly
    as the logistic function: autodiff of max and |x| would give 0 instead of 1/2 at x = 0.
    """
    return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    return softplus(x), jax.nn.sigmoid(x) * x_dot


def _log_p_and_log_1mp(link: str, eta):
    """(log p, log(1 - p)) for a binary-type link, computed without cancellation."""
    if link == "probit":
        return log_ndtr(eta), log_ndtr(-eta)
    if link == "cloglog":
        exp_eta = jnp.exp(eta)
        return jnp.log(-jnp.expm1(-exp_eta)), -exp_eta
    raise ValueError(f"link {link!r} is not a binomial link")


@dataclass(frozen=True)
class Family:
    """A response distribution with its link.

    ``name`` is ``bernoulli`` (0/1 response), ``binomial`` (successes out of
    ``trials``), ``poisson`` (counts) or ``gaussian`` (with a residual SD).
    """

    name: str
    link: str

    def __post_init__(self):
        if self.name not in ALLOWED_LINKS:
            raise SpecError(
                f"unknown family {self.name!r}; choose one of {', '.join(ALLOWED_LINKS)}"
            )
        if self.link not in ALLOWED_LINKS[self.name]:
            raise SpecError(
                f"link {self.link!r} is not available for family {self.name!r}; "
                f"choose one of {', '.join(ALLOWED_LINKS[self.name])}"
            )

    @property
    def has_dispersion(self) -> bool:
        """True when the family has a free scale parameter (Gaussian residual SD)."""
        return self.name == "gaussian"

    @property
    def is_binomial(self) -> bool:
        return self.name in ("bernoulli", "binomial")

    def loglik(self, y, eta, trials, log_dispersion=0.0):
        """Per-row log-likelihood log p(y | eta), all constants included.

        binomial: log C(n, y) + y log p + (n - y) log(1 - p), p = g^{-1}(eta);
        poisson:  y eta - exp(eta) - log y!  (log link);
        gaussian: -log(sigma) - log(2 pi)/2 - (y - eta)^2 / (2 sigma^2), sigma = exp(log_dispersion).
        """
        if self.is_binomial:
            log_choose = gammaln(trials + 1.0) - gammaln(y + 1.0) - gammaln(trials - y + 1.0)
            if self.link == "logit":  # y log p + (n - y) log(1 - p) = y eta - n log(1 + e^eta)
                return log_choose + y * eta - trials * softplus(eta)
            log_p, log_1mp = _log_p_and_log_1mp(self.link, eta)
            # xlogy-style guards: 0 * log(0) terms must be 0, not nan.
            success = jnp.where(y > 0, y * log_p, 0.0)
            failure = jnp.where(trials - y > 0, (trials - y) * log_1mp, 0.0)
            return log_choose + success + failure
        if self.name == "poisson":
            return y * eta - jnp.exp(eta) - gammaln(y + 1.0)
        sigma2 = jnp.exp(2.0 * log_dispersion)
        return -log_dispersion - 0.5 * jnp.log(2.0 * jnp.pi) - 0.5 * (y - eta) ** 2 / sigma2

    def eta_derivatives(self, y, eta, trials, log_dispersion=0.0):
        """First and second derivatives of ``loglik`` in eta, elementwise.

        Closed forms for the canonical links (logit: y − n p and −n p (1 − p);
        log: y − μ and −μ; identity: (y − η)/σ² and −1/σ²), automatic
        differentiation for probit and cloglog.
        """
        if self.link == "logit":
            p = jax.nn.sigmoid(eta)
            return y - trials * p, -trials * p * (1.0 - p)
        if self.link == "log":
            mu = jnp.exp(eta)
            return y - mu, -mu
        if self.link == "identity":
            precision = jnp.exp(-2.0 * log_dispersion)
            return (y - eta) * precision, -precision * jnp.ones_like(eta)
        first = jax.grad(lambda e: jnp.sum(self.loglik(y, e, trials, log_dispersion)))
        return jax.jvp(first, (eta,), (jnp.ones_like(eta),))

    def start_eta(self, y: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """A linear predictor close to the data, to start the GLM fit (as R's mustart)."""
        if self.is_binomial:
            p = (y + 0.5) / (trials + 1.0)
            return np.asarray(link_function(self.link, p))
        if self.name == "poisson":
            return np.log(y + 0.1)
        return np.asarray(y, dtype=float)


def make_family(name: str, link: str | None = None) -> Family:
    """Family from its name and optional link (default: the canonical one).

    The family is required (as lme4's ``glmer``): a default would silently fit counts or
    measurements as 0/1 data.
    """
    if name is None:
        raise SpecError(f"the family is required (as in lme4's glmer): choose one of {', '.join(DEFAULT_LINK)}")
    if not isinstance(name, str):
        raise SpecError(f"family must be a name ({', '.join(DEFAULT_LINK)}), got {type(name).__name__} {name!r}")
    if link is not None and not isinstance(link, str):
        raise SpecError(f"link must be a name ({', '.join(LINKS)}), got {type(link).__name__} {link!r}")
    key = name.lower()
    if key not in DEFAULT_LINK:
        raise SpecError(f"unknown family {name!r}; choose one of {', '.join(DEFAULT_LINK)}")
    return Family(key, (link or DEFAULT_LINK[key]).lower())
