"""Bernoulli (0/1) and binomial (successes out of trials) responses; links logit, probit, cloglog.

log p(y | η) = log C(n, y) + y log p + (n − y) log(1 − p), p = g⁻¹(η); for the logit link
y η − n log(1 + e^η), with the derivatives y − n p and −n p (1 − p) in closed form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, log_ndtr

from ... import _jax  # noqa: F401  (float64)
from ...errors import SpecError
from .base import Family, check_counts

if TYPE_CHECKING:
    import numpyro.distributions as dist


@jax.custom_jvp
def softplus(x) -> jax.Array:
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
    """(log p, log(1 − p)) for the probit and cloglog links, computed without cancellation."""
    if link == "probit":
        return log_ndtr(eta), log_ndtr(-eta)
    exp_eta = jnp.exp(eta)
    return jnp.log(-jnp.expm1(-exp_eta)), -exp_eta


class _Binomial(Family):
    """What Bernoulli and binomial share: the likelihood in n trials (n = 1 for Bernoulli)."""

    links = ("logit", "probit", "cloglog")
    r_name = "binomial"

    def constant_response(self, y, trials) -> str | None:
        if np.all(y == 0) or np.all(y == trials):
            value = "0 (no events)" if np.all(y == 0) else ("1" if np.all(trials == 1) else "the number of trials")
            return (
                f"is {value} in every row used: the model cannot be estimated (the intercept diverges); "
                "check the coding of the response or the rows selected"
            )
        return None

    def separation_sides(self, y, trials) -> np.ndarray | None:
        return np.where(y <= 0, -1, np.where(y >= trials, 1, 0))

    def loglik(self, y, eta, trials, log_dispersion=0.0) -> jax.Array:
        kernel, log_choose = self.loglik_parts(y, eta, trials, log_dispersion)
        return kernel + log_choose

    def loglik_parts(self, y, eta, trials, log_dispersion=0.0) -> tuple[jax.Array, jax.Array]:
        """(y log p + (n − y) log(1 − p), log C(n, y)): the three log-gamma functions of the
        binomial coefficient once per row, not once per quadrature node."""
        log_choose = gammaln(trials + 1.0) - gammaln(y + 1.0) - gammaln(trials - y + 1.0)
        if self.link == "logit":  # y log p + (n − y) log(1 − p) = y η − n log(1 + e^η)
            return y * eta - trials * softplus(eta), log_choose
        log_p, log_1mp = _log_p_and_log_1mp(self.link, eta)
        # xlogy-style guards: 0 · log(0) terms must be 0, not NaN
        success = jnp.where(y > 0, y * log_p, 0.0)
        failure = jnp.where(trials - y > 0, (trials - y) * log_1mp, 0.0)
        return success + failure, log_choose

    def eta_derivatives(self, y, eta, trials, log_dispersion=0.0) -> tuple[jax.Array, jax.Array]:
        if self.link == "logit":
            p = jax.nn.sigmoid(eta)
            return y - trials * p, -trials * p * (1.0 - p)
        return super().eta_derivatives(y, eta, trials, log_dispersion)

    def start_eta(self, y, trials) -> np.ndarray:
        return self.link_object.numpy_link((y + 0.5) / (trials + 1.0))

    def glm_response(self, y, trials) -> np.ndarray:
        return y / trials

    def glm_variance(self, mean, trials) -> np.ndarray:
        return np.maximum(mean * (1.0 - mean), 1e-10) / trials

    def variance(self, mu, trials) -> jax.Array:
        return mu * (1.0 - mu / trials)

    def quasi_likelihood(self, y, mu, trials) -> float:
        p = np.clip(mu / trials, 1e-300, 1 - 1e-16)
        return float(
            np.sum(np.where(y > 0, y * np.log(p), 0.0) + np.where(trials - y > 0, (trials - y) * np.log1p(-p), 0.0))
        )

    def simulate(self, rng, eta, trials, extra=None) -> np.ndarray:
        return rng.binomial(trials.astype(np.int64), np.asarray(self.inverse_link(eta))).astype(float)


class Bernoulli(_Binomial):
    """0/1 responses (R ``binomial`` with a 0/1 response, SAS ``dist=binary``)."""

    name = "bernoulli"
    label = "Bernoulli (binary)"
    binary = True
    brms_name = "bernoulli"
    sas_name = "binary"

    def check_response(self, y, name, trials=None, trials_name=None) -> tuple[np.ndarray, np.ndarray]:
        values = set(np.unique(y).tolist())
        if not values <= {0.0, 1.0}:
            raise SpecError(
                f"column '{name}' has values {sorted(values)[:8]}; family 'bernoulli' needs 0/1 — "
                "for counts out of n use family='binomial' with trials='n_column' or cbind(successes, failures)"
            )
        return y, np.ones_like(y)

    def distribution(self, eta, trials, extra=None) -> dist.Distribution:
        import numpyro.distributions as dist  # here, not at import: only the Bayesian engine needs NumPyro

        if self.link == "logit":
            return dist.BernoulliLogits(eta)
        return dist.Bernoulli(probs=jnp.clip(self.inverse_link(eta), 1e-15, 1 - 1e-15))


class Binomial(_Binomial):
    """Successes out of ``trials`` (R ``cbind(s, f)`` or ``weights``, SAS ``events/trials``)."""

    name = "binomial"
    label = "Binomial"
    counts_of_trials = True
    brms_name = "binomial"
    sas_name = "binomial"

    def check_response(self, y, name, trials=None, trials_name=None) -> tuple[np.ndarray, np.ndarray]:
        n = np.asarray(trials, dtype=float)
        if np.any(n <= 0) or np.any(n != np.round(n)):
            raise SpecError(f"trials column '{trials_name}' must hold positive whole numbers")
        if np.all((y >= 0) & (y <= 1)) and np.any((y > 0) & (y < 1)):
            y = y * n  # proportions of successes
            if np.any(np.abs(y - np.round(y)) > 1e-6):
                raise SpecError(f"response '{name}' looks like proportions but y * {trials_name} is not a whole number")
            y = np.round(y)
        check_counts(y, name, "successes")
        if np.any(y > n):
            raise SpecError(f"response '{name}' exceeds the number of trials in '{trials_name}'")
        return y, n

    def distribution(self, eta, trials, extra=None) -> dist.Distribution:
        import numpyro.distributions as dist  # here, not at import: only the Bayesian engine needs NumPyro

        # NumPyro draws binomials with integer trials only (a float count fails inside its sampler
        # with "Indexer must have integer type"): the predictive draws need the cast
        total_count = jnp.asarray(trials).astype(jnp.int64)
        if self.link == "logit":
            return dist.BinomialLogits(eta, total_count=total_count)
        return dist.BinomialProbs(jnp.clip(self.inverse_link(eta), 1e-15, 1 - 1e-15), total_count=total_count)
