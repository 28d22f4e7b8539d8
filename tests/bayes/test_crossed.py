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

import bayesglmm as bg
from bayesglmm.bayes import fit_bayes

FORMULA = "y ~ x + (1 | patient) + (1 | site)"


def test_crossed_posterior_agrees_with_the_laplace_fit():
    rng = np.random.default_rng(21)
    design = pd.DataFrame(
        {"patient": np.repeat(np.arange(300), 4), "site": rng.integers(0, 30, 1200), "x": rng.normal(size=1200)}
    )
    truth = {"beta[(Intercept)]": 0.8, "beta[x]": 0.3, "sd[patient,(Intercept)]": 0.5, "sd[site,(Intercept)]": 0.4}
    spec = bg.ModelSpec.from_formula(FORMULA, bg.simulate(FORMULA, truth, design, seed=22, family="poisson"), "poisson")
    ml = bg.fit_ml(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bayes = fit_bayes(spec, chains=2, warmup=300, draws=300, seed=1, predictive=False)
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
