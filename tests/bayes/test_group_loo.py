"""Leave-one-group-out LOO from each group's marginal log-likelihood (issue 22, item 2).

On the seed's epilepsy model the conditional log-likelihood gives PSIS-LOO with dozens of Pareto
k above the threshold (measured: 54 of 295 observations, full sampler, 4 x 1000 draws); the
marginal one (random effects integrated by the ML engine's adaptive quadrature) gives none of 59
subjects (max k 0.51).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from bayesglmm import ModelSpec, SpecError
from bayesglmm.bayes import compile_program, fit_bayes, loo_compare
from bayesglmm.bayes.group_loglik import group_marginal_logliks
from bayesglmm.ml.evaluate import loglik_at

EPILEPSY = "y ~ time + trt + trt:time + offset(t) + (1 + time | id)"


def _correlation_matrices(pairs):
    """(..., 1) draws of the one correlation of (1 + time | id) as (..., 2, 2) matrices."""
    r = np.asarray(pairs)[..., 0]
    return np.stack([np.stack([np.ones_like(r), r], -1), np.stack([r, np.ones_like(r)], -1)], -2)


def _fit(spec, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short runs: ESS warnings
        return fit_bayes(spec, "brms_proper", progress=False, predictive=False, **options)


@pytest.fixture(scope="module")
def epilepsy_marginal(epilepsy):
    spec = ModelSpec.from_formula(EPILEPSY, epilepsy, "poisson")
    return spec, _fit(spec, sampler="marginal", chains=2, draws=400, warmup=300, seed=3)


def test_group_logliks_sum_to_the_ml_engines_loglik_at_each_draw(epilepsy_marginal):
    """Σ_i y_marginal[i] at a draw = the ML engine's ℓ(β, G) there, same points (exact: one engine)."""
    spec, post = epilepsy_marginal
    marginal = post.idata.log_likelihood["y_marginal"]
    assert marginal.dims == ("chain", "draw", "id") and marginal.shape == (2, 400, 59)
    p = post.idata.posterior
    for chain, draw in [(0, 5), (1, 399)]:
        beta = p["beta"].values[chain, draw]
        sd, corr = p["sd_id"].values[chain, draw], _correlation_matrices(p["corr_id"].values[chain, draw])
        G = corr * np.outer(sd, sd)
        qpoints = post.record["qpoints"]
        expected = loglik_at(spec, beta, G, "agq", qpoints)
        assert float(marginal.values[chain, draw].sum()) == pytest.approx(expected, abs=1e-8)


def test_marginal_loo_is_usable_where_the_conditional_one_is_not(epilepsy_marginal):
    _, post = epilepsy_marginal
    table = post.loo()
    assert list(table.index) == ["y", "y_marginal"] and table.loc["y_marginal", "n"] == 59
    assert table.loc["y", "k > threshold"] >= 20  # measured 55 of 295
    assert table.loc["y_marginal", "k > threshold"] <= 1  # measured 0 of 59, max k 0.69 (800 draws)
    assert np.isfinite(table.loc["y_marginal", "elpd_loo"])
    assert "constant_data" in post.idata.groups() and post.idata.constant_data["group_id"].shape == (295,)


def test_every_sampler_stores_the_group_loglik_and_crossed_models_do_not(epilepsy):
    spec = ModelSpec.from_formula("y ~ time + trt + (1 | id)", epilepsy, "poisson")
    full = _fit(spec, sampler="full", chains=1, draws=100, warmup=100)
    assert full.idata.log_likelihood["y_marginal"].shape == (1, 100, 59)
    assert np.all(np.isfinite(full.idata.log_likelihood["y_marginal"].values))
    off = _fit(spec, sampler="full", chains=1, draws=50, warmup=50, group_loglik=False)
    assert "y_marginal" not in off.idata.log_likelihood
    with pytest.raises(SpecError, match="group_loglik=True"):
        loo_compare({"with": full, "without": off})


@pytest.mark.slow
def test_marginal_loo_agrees_with_refits_without_each_subject(epilepsy, epilepsy_marginal):
    """For the 3 subjects with the largest Pareto k: PSIS's elpd_i against the exact
    log p(y_i | y_-i) = log mean_s p(y_i | θ_s) over draws of a refit without subject i (marginal
    sampler, 2 x 1000 draws each), within 0.3 each."""
    spec, _ = epilepsy_marginal
    post = _fit(spec, sampler="marginal", chains=2, draws=1000, seed=4)
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = az.loo(post.idata, var_name="y_marginal", pointwise=True)
    levels = list(post.idata.log_likelihood["id"].values)
    worst = np.argsort(np.asarray(loo.pareto_k))[-3:]
    program = compile_program(spec, "brms_proper")
    for i in worst:
        rest = epilepsy[epilepsy["id"].astype(str) != str(levels[i])]
        refit = _fit(
            ModelSpec.from_formula(EPILEPSY, rest, "poisson"), sampler="marginal", chains=2, draws=1000, seed=5
        )
        p = refit.idata.posterior
        S = p.sizes["chain"] * p.sizes["draw"]
        sites = {
            "beta": p["beta"].values.reshape(S, -1),
            "sd_id": p["sd_id"].values.reshape(S, -1),
            "L_id_0": np.linalg.cholesky(_correlation_matrices(p["corr_id"].values.reshape(S, 1))),
            "z_id": np.zeros((S, 59, 2)),
        }
        values = group_marginal_logliks(spec, program, sites, post.record["qpoints"])[:, i]
        exact = logsumexp(values) - np.log(S)
        assert float(loo.loo_i.values[i]) == pytest.approx(exact, abs=0.3), (levels[i], float(loo.pareto_k[i]))


def test_loo_table_is_a_frame(epilepsy_marginal):
    assert isinstance(epilepsy_marginal[1].loo(), pd.DataFrame)


def test_identical_groups_share_one_integral_and_keep_their_own_column(amenorrhea_spec, amenorrhea_brms_posterior):
    """Amenorrhea's 1151 women have 55 distinct row patterns: the integrals are computed once per
    pattern and put back in every woman's column; their sum at a draw is the ML engine's ℓ there
    (the full sampler's points come from the rule at the posterior means)."""
    post = amenorrhea_brms_posterior
    marginal = post.idata.log_likelihood["y_marginal"].values
    assert marginal.shape[-1] == 1151 and len(np.unique(marginal[0, 0].round(10))) < 100
    p = post.idata.posterior
    beta, sd, corr = p["beta"].values[1, 9], p["sd_id"].values[1, 9], _correlation_matrices(p["corr_id"].values[1, 9])
    from bayesglmm.bayes.group_loglik import loo_qpoints

    program = compile_program(amenorrhea_spec, "brms_proper")
    flat = {name: p[name].values.reshape(-1, *p[name].shape[2:]) for name in ("beta", "sd_id")}
    flat["L_id_0"] = np.linalg.cholesky(_correlation_matrices(p["corr_id"].values.reshape(-1, 1)))
    qpoints = loo_qpoints(amenorrhea_spec, program, flat)
    expected = loglik_at(amenorrhea_spec, beta, corr * np.outer(sd, sd), "agq", qpoints)
    assert float(marginal[1, 9].sum()) == pytest.approx(expected, abs=1e-8)


def test_the_full_samplers_rule_is_the_ml_engines_at_the_posterior_means(amenorrhea_spec, amenorrhea_brms_posterior):
    """The full-latent sampler chooses its points with a small program of its own (one φ, the
    distinct groups, no ML objective compiled): its table of −2ℓ by number of points and its choice
    equal the ML engine's rule at the same values (``qpoints_rule_at``)."""
    from bayesglmm.bayes.group_loglik import loo_rule_at_means
    from bayesglmm.ml.evaluate import qpoints_rule_at

    p = amenorrhea_brms_posterior.idata.posterior
    program = compile_program(amenorrhea_spec, "brms_proper")
    flat = {name: p[name].values.reshape(-1, *p[name].shape[2:]) for name in ("beta", "sd_id")}
    flat["L_id_0"] = np.linalg.cholesky(_correlation_matrices(p["corr_id"].values.reshape(-1, 1)))
    chosen, table = loo_rule_at_means(amenorrhea_spec, program, flat)
    L = flat["L_id_0"].mean(axis=0) * flat["sd_id"].mean(axis=0)[:, None]
    ml_chosen, ml_table = qpoints_rule_at(amenorrhea_spec, flat["beta"].mean(axis=0), L @ L.T)
    assert chosen == ml_chosen and list(table) == list(ml_table) and len(table) >= 3
    np.testing.assert_allclose(list(table.values()), list(ml_table.values()), rtol=1e-10)
