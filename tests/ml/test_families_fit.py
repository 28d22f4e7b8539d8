"""Fits checked against independent computations: Gaussian LMM closed form, probit/cloglog by brute force."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from bayesglmm import ModelSpec, SingularFitWarning, datasets, fit_ml, loglik_at


def _simulated_lmm(seed=3, n_groups=40, size=6):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), size)
    x = np.tile(np.linspace(0, 1, size), n_groups)
    b = rng.multivariate_normal([0, 0], [[0.8, 0.2], [0.2, 0.4]], n_groups)
    y = 1.0 + 0.5 * x + b[g, 0] + b[g, 1] * x + rng.normal(0, 0.6, g.size)
    return pd.DataFrame({"g": g, "x": x, "y": y})


def _exact_lmm_loglik(frame, beta, G, sigma):
    """Σ_i log N(y_i; X_i β, Z_i G Z_i' + σ² I), the closed-form LMM likelihood."""
    total = 0.0
    for _, rows in frame.groupby("g"):
        X = np.column_stack([np.ones(len(rows)), rows["x"]])
        V = X @ G @ X.T + sigma**2 * np.eye(len(rows))
        total += stats.multivariate_normal(X @ beta, V).logpdf(rows["y"].to_numpy())
    return total


def test_gaussian_family_is_the_closed_form_lmm_ml():
    frame = _simulated_lmm()
    spec = ModelSpec.from_formula("y ~ x + (1 + x | g)", frame, "gaussian")
    fit = fit_ml(spec, "laplace")
    sigma = fit.params().loc["sigma", "estimate"]
    exact = _exact_lmm_loglik(frame, fit.beta.values, fit.G, sigma)
    assert abs(fit.loglik - exact) < 1e-8  # Laplace is exact for a Gaussian response
    # and the estimates maximise the closed form: no coordinate move raises it
    for j in range(2):
        for step in (-1e-4, 1e-4):
            beta = fit.beta.values.copy()
            beta[j] += step
            assert _exact_lmm_loglik(frame, beta, fit.G, sigma) <= exact + 1e-9
    for step in (-1e-4, 1e-4):
        assert _exact_lmm_loglik(frame, fit.beta.values, fit.G, sigma + step) <= exact + 1e-9
        G = fit.G.copy()
        G[0, 0] += step
        assert _exact_lmm_loglik(frame, fit.beta.values, G, sigma) <= exact + 1e-9


@pytest.mark.parametrize("link", ["probit", "cloglog"])
def test_binomial_links_match_brute_force_integration(link):
    # ℓ by 15-point AGQ at parameter values near lme4's cbpp estimates vs adaptive scipy quadrature per herd
    spec = ModelSpec.from_formula(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", datasets.load_cbpp(), "binomial", link=link
    )
    beta, sd = np.array([-0.9, -0.5, -0.6, -0.8]), 0.4
    loglik = loglik_at(spec, beta, np.array([[sd**2]]), "agq", 15)
    eta_fixed = spec.fixed.X @ beta
    index = spec.random[0].index
    total = 0.0
    for level in range(len(spec.random[0].levels)):
        rows = index == level

        def integrand(b):
            p = {"probit": stats.norm.cdf, "cloglog": lambda e: -np.expm1(-np.exp(e))}[link](eta_fixed[rows] + b)
            return np.exp(np.sum(stats.binom.logpmf(spec.y[rows], spec.trials[rows], p))) * stats.norm.pdf(b, 0, sd)

        total += np.log(integrate.quad(integrand, -12 * sd, 12 * sd, epsabs=0, epsrel=1e-11, limit=200)[0])
    assert abs(loglik - total) < 1e-6


def test_boundary_fit_warns_and_says_what_to_try():
    frame = _simulated_lmm()
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.6, len(frame))
    noise -= pd.Series(noise).groupby(frame["g"]).transform("mean").to_numpy()  # group means equal: ML variance 0
    frame["y"] = 1.0 + 0.5 * frame["x"] + noise
    spec = ModelSpec.from_formula("y ~ x + (1 | g)", frame, "gaussian")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_ml(spec, "laplace")
    assert fit.is_singular
    # Newton reaches the boundary (the SD is a signed coordinate, 0 an interior point)
    assert fit.optimization.status == 0 and fit.random_sd[0] < 1e-8
    messages = [str(w.message) for w in caught if issubclass(w.category, SingularFitWarning)]
    assert messages and "consider removing a random term" in messages[0]


def test_uncorrelated_effects_fit_a_diagonal_covariance(epilepsy_spec, epilepsy):
    spec = ModelSpec.from_formula("y ~ time + trt + trt:time + offset(t) + (1 + time || id)", epilepsy, "poisson")
    fit = fit_ml(spec, "laplace")
    assert fit.covariance_type == "vc"
    assert fit.G[0, 1] == 0.0
    # GLIMMIX type=vc labels the variances by their terms; the SD rows are told apart (issue 18)
    assert list(fit.covariance_parameters()["label"]) == ["(Intercept)", "time", "SD(Intercept)", "SD(time)"]
    assert fit.n_params == 6
