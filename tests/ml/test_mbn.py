"""The MBN-adjusted empirical covariance of ML fits (SAS GLIMMIX ``empirical=mbn`` with
METHOD=LAPLACE/QUAD: Morel, Bokossa & Neerchal's adjustment of the likelihood-based sandwich).

No SAS was at hand for a printed value, so the checks are (1) the adjustment's pieces from the
fit's own bread and meat, with c, δ and φ written out as GLIMMIX documents them, and (2) its
purpose: a visible inflation with a few clusters that fades as the clusters grow.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec, fit_ml


def test_mbn_is_glimmix_formula_on_the_epilepsy_fit(epilepsy_laplace):
    fit = epilepsy_laplace
    inference = fit.inference
    omega = inference.cov_phi_model
    meat = np.linalg.solve(omega, np.linalg.solve(omega, inference.cov_phi_empirical).T)  # H Ω M Ω H = M
    k, m, f = omega.shape[0], fit.ngroups, fit.nobs
    c = (f - 1) / (f - k) * m / (m - 1)
    delta = k / (m - k) if m > 3 * k else 0.5
    phi = max(1.0, np.trace(omega @ meat) / k)
    # the reported quantities' covariances are J Cov(φ) Jᵀ, linear in Cov(φ): both terms map alike
    expected = c * inference.cov_empirical + delta * phi * inference.cov_model
    np.testing.assert_allclose(inference.cov_mbn, expected, rtol=1e-8, atol=1e-14)
    assert c > 1 and delta > 0
    table = fit.fixed_effects(correction="mbn")
    assert (table["se_empirical"] > fit.fixed_effects()["se_empirical"]).all()
    np.testing.assert_allclose(table["upper"] - table["estimate"], 1.959964 * table["se_empirical"], rtol=1e-6)
    assert fit.type3(correction="mbn")["chi2"].iloc[0] < fit.type3(empirical=True)["chi2"].iloc[0]
    record = fit.to_dict()["fixed"][0]
    assert record["se_mbn"] == pytest.approx(table["se_empirical"].iloc[0], rel=1e-12)
    with pytest.raises(ValueError, match="correction must be 'mbn'"):
        fit.fixed_effects(correction="kc")


def _random_intercepts(n_clusters: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), 5)
    x = rng.normal(size=cluster.size)
    eta = -0.3 + 0.5 * x + rng.normal(0, 0.8, n_clusters)[cluster]
    return pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "x": x, "g": cluster})


def test_mbn_inflation_fades_as_clusters_grow():
    """With 12 clusters the MBN SE of the slope exceeds the classical sandwich's by several
    percent (δ_m = 1/2 there); with 2,000 clusters the two agree within 0.5%."""
    ratios = {}
    for n_clusters in (12, 2000):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = ModelSpec.from_formula("y ~ x + (1 | g)", _random_intercepts(n_clusters, 1), "bernoulli")
            fit = fit_ml(spec, "laplace", empirical=True)
        table = fit.fixed_effects(correction="mbn")
        ratios[n_clusters] = table.loc["x", "se_empirical"] / fit.fixed_effects().loc["x", "se_empirical"]
    assert ratios[12] > 1.05
    assert 1.0 < ratios[2000] < 1.005
