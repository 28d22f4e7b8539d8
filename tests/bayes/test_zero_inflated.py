"""Zero inflation in the Bayesian programs: the full-latent program's density, both samplers, predictions.

The data are ``tests/ml/data/zinb_sim.csv`` (simulated ZINB, 60 groups x 8; truth in
tests/ml/r/zero_inflated.R).  brms is not installed where these tests were written, so the
samplers are checked against each other (two independent computations of one posterior: the
full-latent program samples every random effect, the marginal one integrates them by quadrature)
and the programs' densities against scipy.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density
from scipy import stats
from scipy.special import expit, logit

from bayesglmm import ModelSpec, fit_ml
from bayesglmm.bayes import compile_program, fit_bayes

DATA = Path(__file__).resolve().parents[1] / "ml" / "data" / "zinb_sim.csv"
FORMULA = "y ~ x + trt + (1 | g)"


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return pd.read_csv(DATA)


def _zip_loglik(y, eta, pi) -> float:
    count = stats.poisson.logpmf(y, np.exp(eta))
    return float(np.sum(np.where(y == 0, np.log(pi + (1 - pi) * np.exp(count)), np.log1p(-pi) + count)))


@pytest.mark.parametrize("zi", ["~ 1", "~ trt"])
def test_full_latent_density_moves_with_the_zero_inflation_as_scipy_says(simulated, zi):
    """Two points that differ only in the zero-inflation parameters: the program's log density
    changes by the ZIP log-likelihood's change (scipy) plus the zi prior's (beta(1, 1) on a
    constant π: zero; logistic(0, 1) on each zi coefficient)."""
    spec = ModelSpec.from_formula(FORMULA, simulated, "poisson", zi=zi)
    program = compile_program(spec)
    rng = np.random.default_rng(3)
    z = rng.normal(size=(60, 1))
    base = {"beta": np.array([0.4, 0.3, -0.5]), "sd_g": np.array([0.6]), "z_g": z}
    eta = spec.fixed.X @ base["beta"] + 0.6 * z[spec.random[0].index, 0]
    if zi == "~ 1":
        points, pis, prior = [{"zi": 0.2}, {"zi": 0.45}], [0.2, 0.45], [0.0, 0.0]
    else:
        gammas = [np.array([-1.0, 0.5]), np.array([-0.3, -0.8])]
        points = [{"zi": gamma} for gamma in gammas]
        pis = [expit(spec.zi_X @ gamma) for gamma in gammas]
        prior = [stats.logistic.logpdf(gamma).sum() for gamma in gammas]
    values = [float(log_density(program.model, (), program.data, {**base, **point})[0]) for point in points]
    expected = [_zip_loglik(spec.y, eta, pi) + p for pi, p in zip(pis, prior)]
    assert values[1] - values[0] == pytest.approx(expected[1] - expected[0], abs=1e-8)


def test_prior_table_names_the_zero_inflation_priors(simulated):
    spec = ModelSpec.from_formula(FORMULA, simulated, "nbinom2", zi="~ trt")
    program = compile_program(spec, "brms_proper", {"zi[trt]": "normal(0, 1)"})
    table = dict(program.priors.table(program.fixed_names, program.factors))
    assert table["shape"] == "gamma(0.01, 0.01)"
    assert table["zi[(Intercept)]"] == "logistic(0, 1)" and table["zi[trt]"] == "normal(0, 1)"
    constant = compile_program(ModelSpec.from_formula(FORMULA, simulated, "zinbinom2"))
    assert dict(constant.priors.table(constant.fixed_names, constant.factors))["zi"] == "beta(1, 1)"


def test_bayesian_predictions_are_the_zero_inflated_mean(simulated):
    """Response-scale predictions average (1 − π) μ over the draws: typical rows of trt 0 and 1."""
    spec = ModelSpec.from_formula(FORMULA, simulated, "nbinom2", zi="~ trt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short run
        post = fit_bayes(
            spec, sampler="full", chains=1, warmup=150, draws=100, seed=2, progress=False, predictive=False
        )
    rows = pd.DataFrame({"x": [0.0, 0.0], "trt": [0, 1], "g": [1, 1]})
    beta = post.idata.posterior["beta"].values.reshape(-1, 3)
    gamma = post.idata.posterior["zi"].values.reshape(-1, 2)
    expected = [
        np.mean((1 - expit(gamma[:, 0] + gamma[:, 1] * t)) * np.exp(beta[:, 0] + beta[:, 2] * t)) for t in (0, 1)
    ]
    got = post.predict(rows, kind="typical")["estimate"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.slow
def test_full_latent_and_marginal_samplers_agree_on_zinb(simulated):
    """ZINB with a constant π, 2 chains x 1500 draws each: posterior means within 0.15 posterior SD
    of each other and SDs within 15%, no divergences; both near the ML estimates (within 1 SD).
    Measured (seeds 1): every mean within 0.1 SD."""
    spec = ModelSpec.from_formula(FORMULA, simulated, "zinbinom2")
    ml = fit_ml(spec, "laplace")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [
            fit_bayes(
                spec, sampler=s, chains=2, draws=1500, seed=1, progress=False, ml_fit=ml if s == "marginal" else None
            )
            for s in ("full", "marginal")
        ]
    full, marginal = (fit.params() for fit in fits)
    for name in full.index:
        assert abs(full.loc[name, "mean"] - marginal.loc[name, "mean"]) < 0.15 * full.loc[name, "sd"], name
        assert marginal.loc[name, "sd"] == pytest.approx(full.loc[name, "sd"], rel=0.15), name
        assert abs(full.loc[name, "mean"] - ml.params().loc[name, "estimate"]) < full.loc[name, "sd"], name
    assert all(fit.divergences == 0 for fit in fits)
    assert logit(full.loc["zi", "mean"]) < 0
