"""GEE against geepack (../shared/reference/seed_fits.json), the GLM identity, and bad input."""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesglmm import SpecError
from bayesglmm.gee import fit_gee

AMENORRHEA_MEAN = "y ~ time + time2 + trt:time + trt:time2"
EPILEPSY_MEAN = "y ~ time + trt + trt:time + offset(t)"


def _quiet_gee(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_gee(*args, **kwargs)


@pytest.mark.parametrize("corr", ["exchangeable", "unstructured"])
def test_amenorrhea_matches_geepack(amenorrhea, reference, corr):
    # tolerances from the issue: estimates 1e-4, robust SEs 1%, working correlations 1e-3
    ref = reference["amenorrhea"]["gee_geepack"][corr]
    fit = _quiet_gee(AMENORRHEA_MEAN, amenorrhea, "bernoulli", cluster="id", within="time", corr=corr)
    table = fit.fixed_effects()
    np.testing.assert_allclose(table["estimate"], ref["beta"], atol=1e-4)
    np.testing.assert_allclose(table["se"], ref["se"], rtol=0.01)
    alpha = ref["alpha"] if corr == "exchangeable" else [ref["alpha"][k] for k in ("1:2", "1:3", "1:4", "2:3", "2:4", "3:4")]
    np.testing.assert_allclose(fit.association["estimate"], np.atleast_1d(alpha), atol=1e-3)
    assert fit.nobs == 3616 and fit.n_clusters == 1151 and fit.converged


def test_epilepsy_exchangeable_poisson_with_offset_matches_geepack(epilepsy, reference):
    ref = reference["epilepsy"]["gee_geepack_exchangeable"]
    fit = _quiet_gee(EPILEPSY_MEAN, epilepsy, "poisson", cluster="id", corr="exchangeable")
    table = fit.fixed_effects()
    np.testing.assert_allclose(table["estimate"], ref["beta"], atol=1e-4)
    np.testing.assert_allclose(table["se"], ref["se"], rtol=0.01)
    assert fit.association.loc["alpha", "estimate"] == pytest.approx(ref["alpha"], abs=1e-3)


def _glm_sandwich(X, y, offset):
    """Poisson GLM by Newton (numpy), its cluster sandwich, written out independently."""
    beta = np.zeros(X.shape[1])
    for _ in range(50):
        mu = np.exp(X @ beta + offset)
        beta = beta + np.linalg.solve(X.T @ (mu[:, None] * X), X.T @ (y - mu))
    mu = np.exp(X @ beta + offset)
    return beta, np.linalg.inv(X.T @ (mu[:, None] * X)), mu


def test_independence_equals_glm_with_cluster_sandwich(epilepsy):
    fit = _quiet_gee(EPILEPSY_MEAN, epilepsy, "poisson", cluster="id", corr="independence")
    X = np.column_stack([np.ones(len(epilepsy)), epilepsy["time"], epilepsy["trt"], epilepsy["trt"] * epilepsy["time"]])
    y, offset = epilepsy["y"].to_numpy(float), epilepsy["t"].to_numpy()
    beta, bread, mu = _glm_sandwich(X, y, offset)
    scores = pd.DataFrame(X * (y - mu)[:, None]).groupby(epilepsy["id"].to_numpy()).sum().to_numpy()
    robust = bread @ scores.T @ scores @ bread
    np.testing.assert_allclose(fit.beta, beta, rtol=1e-8)
    np.testing.assert_allclose(fit.cov_robust, robust, rtol=1e-6)
    # model-based: the GLM information scaled by the Pearson scale sum r^2 / N
    np.testing.assert_allclose(fit.cov_model, bread * fit.scale, rtol=1e-6)


def test_results_do_not_depend_on_row_order(epilepsy):
    shuffled = epilepsy.sample(frac=1.0, random_state=3)
    first = _quiet_gee(EPILEPSY_MEAN, epilepsy, "poisson", cluster="id", within="time", corr="ar1")
    second = _quiet_gee(EPILEPSY_MEAN, shuffled, "poisson", cluster="id", within="time", corr="ar1")
    np.testing.assert_allclose(first.beta, second.beta, rtol=1e-9)
    np.testing.assert_allclose(first.cov_robust, second.cov_robust, rtol=1e-8)
    assert 0 < first.association.loc["alpha", "estimate"] < 1


def test_bad_input_is_a_clear_error(amenorrhea):
    with pytest.raises(SpecError, match="cluster column 'patient'"):
        fit_gee(AMENORRHEA_MEAN, amenorrhea, "bernoulli", cluster="patient")
    with pytest.raises(SpecError, match="needs cluster="):
        fit_gee(AMENORRHEA_MEAN, amenorrhea, "bernoulli")
    doubled = pd.concat([amenorrhea, amenorrhea.iloc[:1]])
    with pytest.raises(SpecError, match="repeats the value"):
        _quiet_gee(AMENORRHEA_MEAN, doubled, "bernoulli", cluster="id", within="time", corr="exchangeable")
    with pytest.raises(SpecError, match="fixed part only"):
        fit_gee(AMENORRHEA_MEAN + " + (1 | id)", amenorrhea, "bernoulli", cluster="id")
    with pytest.raises(SpecError, match="unknown working correlation"):
        fit_gee(AMENORRHEA_MEAN, amenorrhea, "bernoulli", cluster="id", corr="toeplitz")
