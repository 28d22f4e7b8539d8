"""Families: log-likelihoods against scipy.stats, eta derivatives against autodiff."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, ndtr

from bayesglmm.model.families import inverse_link, make_family

ETA = np.linspace(-4.0, 3.0, 8)


@pytest.mark.parametrize(
    "link, mean",
    [("logit", expit), ("probit", ndtr), ("cloglog", lambda e: 1 - np.exp(-np.exp(e)))],
)
def test_binomial_loglik_matches_scipy(link, mean):
    y, n = np.array([0, 1, 2, 5, 3, 0, 7, 1.0]), np.array([1, 1, 4, 5, 9, 2, 7, 3.0])
    family = make_family("binomial", link)
    got = np.asarray(family.loglik(jnp.asarray(y), jnp.asarray(ETA), jnp.asarray(n)))
    # scipy forms 1 - p by subtraction (cloglog at eta = 3 loses ~7 digits there); ours does not
    np.testing.assert_allclose(got, stats.binom.logpmf(y, n, mean(ETA)), rtol=1e-8)
    np.testing.assert_allclose(np.asarray(inverse_link(link, jnp.asarray(ETA))), mean(ETA), rtol=1e-12)


def test_poisson_and_gaussian_loglik_match_scipy():
    y = np.array([0, 1, 2, 5, 3, 0, 7, 1.0])
    poisson = make_family("poisson")
    got = np.asarray(poisson.loglik(jnp.asarray(y), jnp.asarray(ETA), 1.0))
    np.testing.assert_allclose(got, stats.poisson.logpmf(y, np.exp(ETA)), rtol=1e-12)
    gaussian = make_family("gaussian")
    got = np.asarray(gaussian.loglik(jnp.asarray(y), jnp.asarray(ETA), 1.0, np.log(1.7)))
    np.testing.assert_allclose(got, stats.norm.logpdf(y, ETA, 1.7), rtol=1e-12)


@pytest.mark.parametrize(
    "name, link",
    [
        ("bernoulli", "logit"),
        ("binomial", "probit"),
        ("binomial", "cloglog"),
        ("poisson", "log"),
        ("gaussian", "identity"),
    ],
)
def test_eta_derivatives_match_autodiff(name, link):
    family = make_family(name, link)
    y = jnp.array([0, 1, 1, 0, 1, 0, 1, 1.0]) if family.is_binomial else jnp.arange(8.0)
    n = jnp.ones(8)
    d1, d2 = family.eta_derivatives(y, jnp.asarray(ETA), n, 0.3)

    def total(e):
        return jnp.sum(family.loglik(y, e, n, 0.3))

    np.testing.assert_allclose(d1, jax.grad(total)(jnp.asarray(ETA)), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d2, jnp.diag(jax.hessian(total)(jnp.asarray(ETA))), rtol=1e-8, atol=1e-12)


def test_unknown_family_and_link_are_explained():
    with pytest.raises(ValueError, match="unknown family 'weibull'"):  # gamma exists since issue 21
        make_family("weibull")
    with pytest.raises(ValueError, match="link 'log' is not available for family 'bernoulli'"):
        make_family("bernoulli", "log")
