"""A family added from the tests, without a change to any engine module (issue 20's proof of the design).

Two families are registered here with :func:`bayesglmm.register_family`:

- ``autodiff-poisson``: the Poisson log-likelihood written again, with no closed-form η
  derivatives (the base class's automatic differentiation). Its Laplace and AGQ fits must equal
  the built-in Poisson fits: the engines use nothing but the Family interface.
- ``identity-poisson``: Poisson counts with the identity link μ = η (a positive linear predictor),
  a family the package does not have. Its AGQ log-likelihood at the estimates is checked against
  the marginal likelihood integrated independently by ``scipy.integrate.quad``, and NUTS runs on it.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
from jax.scipy.special import gammaln
from scipy import integrate, stats

from bayesglmm import ModelSpec, fit_ml, register_family
from bayesglmm.bayes import fit_bayes
from bayesglmm.model.families import FAMILIES, Family, check_counts


class _PoissonPieces(Family):
    """The Poisson pieces both test families share (the mean is g⁻¹(η))."""

    def check_response(self, y, name, trials=None, trials_name=None):
        check_counts(y, name, "counts")
        return y, np.ones_like(y)

    def loglik(self, y, eta, trials, log_dispersion=0.0):
        mu = self.inverse_link(eta)
        return y * jnp.log(mu) - mu - gammaln(y + 1.0)

    def glm_variance(self, mean, trials):
        return np.maximum(mean, 1e-10)

    def variance(self, mu, trials):
        return mu

    def quasi_likelihood(self, y, mu, trials):
        return float(np.sum(np.where(y > 0, y * np.log(mu), 0.0) - mu))

    def distribution(self, eta, trials, extra=None):
        return dist.Poisson(self.inverse_link(eta))

    def simulate(self, rng, eta, trials, extra=None):
        return rng.poisson(np.asarray(self.inverse_link(eta))).astype(float)


class AutodiffPoisson(_PoissonPieces):
    name = "autodiff-poisson"
    label = "Poisson (test family, autodiff derivatives)"
    links = ("log",)

    def start_eta(self, y, trials):
        return np.log(y + 0.1)


class IdentityPoisson(_PoissonPieces):
    name = "identity-poisson"
    label = "Poisson, identity link (test family)"
    links = ("identity",)

    def start_eta(self, y, trials):
        return y + 0.5

    def inverse_link(self, eta):
        return jnp.maximum(eta, 1e-10)  # the linear predictor must stay positive


@pytest.fixture(scope="module", autouse=True)
def _registered():
    for family in (AutodiffPoisson, IdentityPoisson):
        register_family(family)
    yield
    for family in (AutodiffPoisson, IdentityPoisson):
        FAMILIES.pop(family.name)


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.mark.parametrize("method, qpoints", [("laplace", None), ("agq", 7)])
def test_a_registered_family_fits_as_the_builtin_one(epilepsy, method, qpoints):
    formula = "y ~ time + trt + trt:time + offset(t) + (1 | id)"
    builtin = _quiet(fit_ml, ModelSpec.from_formula(formula, epilepsy, "poisson"), method, qpoints)
    plugged = _quiet(fit_ml, ModelSpec.from_formula(formula, epilepsy, "autodiff-poisson"), method, qpoints)
    assert plugged.family == "autodiff-poisson"
    assert plugged.loglik == pytest.approx(builtin.loglik, abs=1e-6)
    np.testing.assert_allclose(plugged.params()["estimate"], builtin.params()["estimate"], rtol=1e-5, atol=1e-7)
    assert "autodiff derivatives" in plugged.summary()


def _identity_data(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups, per_group = 40, 6
    g = np.repeat(np.arange(groups), per_group)
    x = rng.uniform(0, 1, g.size)
    mean = 4.0 + 3.0 * x + rng.normal(0, 1.0, groups)[g]
    return pd.DataFrame({"y": rng.poisson(np.maximum(mean, 0.1)), "x": x, "g": g})


def test_an_unknown_link_family_fits_and_its_likelihood_is_right():
    """AGQ(15) ℓ at the estimates = Σ_i log ∫ Π_j Poisson(y_ij; β0 + β1 x_ij + b) N(b; 0, σ²) db by quad."""
    data = _identity_data()
    fit = _quiet(fit_ml, ModelSpec.from_formula("y ~ x + (1 | g)", data, "identity-poisson"), "agq", 15)
    assert fit.converged and fit.link == "identity"
    beta, sd = fit.beta.to_numpy(), float(np.sqrt(fit.G[0, 0]))
    assert 3.0 < beta[0] < 5.5 and 1.0 < beta[1] < 5.0 and 0.4 < sd < 1.8  # truth 4, 3, 1

    def group_loglik(frame):
        mean = beta[0] + beta[1] * frame["x"].to_numpy()
        y = frame["y"].to_numpy()

        def integrand(b):
            return np.exp(np.sum(stats.poisson.logpmf(y, np.maximum(mean + b, 1e-10)))) * stats.norm.pdf(b, 0, sd)

        value, _ = integrate.quad(integrand, -8 * sd, 8 * sd, epsabs=0, epsrel=1e-11, limit=200)
        return np.log(value)

    exact = sum(group_loglik(frame) for _, frame in data.groupby("g"))
    assert fit.loglik == pytest.approx(exact, abs=1e-5)


def test_nuts_samples_a_registered_family():
    spec = ModelSpec.from_formula("y ~ x + (1 | g)", _identity_data(), "identity-poisson")
    ml = _quiet(fit_ml, spec, "agq", 15)
    posterior = _quiet(fit_bayes, spec, chains=1, warmup=300, draws=300, seed=1, progress=False)
    table = posterior.params()
    for name in ("beta[(Intercept)]", "beta[x]"):
        assert abs(table.loc[name, "mean"] - ml.params().loc[name, "estimate"]) < 3 * table.loc[name, "sd"]
    assert posterior.family == "identity-poisson"


def test_gee_with_a_registered_family_equals_the_builtin_one(epilepsy):
    from bayesglmm.gee import fit_gee

    formula = "y ~ time + trt + trt:time + offset(t)"
    builtin = _quiet(fit_gee, formula, epilepsy, "poisson", cluster="id", corr="exchangeable")
    plugged = _quiet(fit_gee, formula, epilepsy, "autodiff-poisson", cluster="id", corr="exchangeable")
    np.testing.assert_allclose(plugged.beta, builtin.beta, rtol=1e-10)
    np.testing.assert_allclose(plugged.fixed_effects()["se"], builtin.fixed_effects()["se"], rtol=1e-10)
    assert plugged.qic == pytest.approx(builtin.qic, rel=1e-10)
