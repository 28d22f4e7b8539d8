"""The full-latent Bayesian engine on crossed random effects, against the several-factor Laplace fit.

Poisson counts (mean about 2.5) on 300 patients x 4 visits at 30 sites: the Laplace
approximation is accurate there, and with flat-ish default priors and this much data the
posterior is close to the likelihood, so posterior means must lie within 0.5 ML SEs of the ML
estimates and posterior SDs within 30% of the ML SEs (NUTS 2 x 300 draws: Monte Carlo error
about 0.06 posterior SDs on a mean).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.bayes import fit_bayes

FORMULA = "y ~ x + (1 | patient) + (1 | site)"


TRUTH = {"beta[(Intercept)]": 0.8, "beta[x]": 0.3, "sd[patient,(Intercept)]": 0.5, "sd[site,(Intercept)]": 0.4}


@pytest.fixture(scope="module")
def fits():
    rng = np.random.default_rng(21)
    design = pd.DataFrame(
        {"patient": np.repeat(np.arange(300), 4), "site": rng.integers(0, 30, 1200), "x": rng.normal(size=1200)}
    )
    frame = bg.simulate(FORMULA, TRUTH, design, seed=22, family="poisson")
    spec = bg.ModelSpec.from_formula(FORMULA, frame, "poisson")
    ml = bg.fit_ml(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bayes = fit_bayes(spec, chains=2, warmup=300, draws=300, seed=1, predictive=False)
    return frame, ml, bayes


def test_crossed_posterior_agrees_with_the_laplace_fit(fits):
    _, ml, bayes = fits
    truth = TRUTH
    assert bayes.sampler == "full" and "2 grouping factors" in bayes.record["sampler_choice"]  # sampler="auto"
    assert bayes.divergences == 0
    ml_table, posterior = ml.params(), bayes.params()
    for name in truth:
        estimate, se = ml_table.loc[name, "estimate"], ml_table.loc[name, "se"]
        assert abs(posterior.loc[name, "mean"] - estimate) < 0.5 * se, name
        assert 0.7 < posterior.loc[name, "sd"] / se < 1.3, name
    random = bayes.idata.random_effects["b_site"].mean(("chain", "draw")).values.ravel()
    modes = ml.conditional_modes("site")["(Intercept)"].values
    assert np.corrcoef(random, modes)[0, 1] > 0.95  # the same sites, in the same order


def test_predictions_use_every_factors_draws(fits):
    # Conditional: exp(xᵀβ + b_patient + b_site) per draw, averaged; marginal: per draw the
    # average over both factors' normal effects (a 2-D product rule here, 1-D in the package).
    frame, _, bayes = fits
    rows = frame.iloc[[0, 5, 1199]]
    post, effects = bayes.idata.posterior, bayes.idata.random_effects
    beta = post["beta"].values.reshape(-1, 2)
    b_patient = effects["b_patient"].values.reshape(beta.shape[0], -1)
    b_site = effects["b_site"].values.reshape(beta.shape[0], -1)
    patient_at = {str(v): i for i, v in enumerate(effects["patient"].values)}
    site_at = {str(v): i for i, v in enumerate(effects["site"].values)}
    eta = beta[:, :1] + beta[:, 1:] * rows["x"].values
    conditional = np.exp(
        eta
        + b_patient[:, [patient_at[str(p)] for p in rows["patient"]]]
        + b_site[:, [site_at[str(s)] for s in rows["site"]]]
    )
    predicted = bayes.predict(rows)
    np.testing.assert_allclose(predicted["estimate"].values, conditional.mean(axis=0), rtol=1e-10)
    sd_patient = post["sd_patient"].values.reshape(-1)
    sd_site = post["sd_site"].values.reshape(-1)
    # exp is log-normal: E exp(η + b₁ + b₂) = exp(η + (σ₁² + σ₂²)/2) exactly
    marginal = np.exp(eta + 0.5 * (sd_patient**2 + sd_site**2)[:, None])
    np.testing.assert_allclose(
        bayes.predict(rows, kind="marginal")["estimate"].values, marginal.mean(axis=0), rtol=1e-8
    )
