"""Small-sample corrections of the GEE sandwich (issue 19, item 3): Mancl–DeRouen and
Kauermann–Carroll against R's clubSandwich 0.5.8 (CR3, CR2; CR0 is the uncorrected sandwich),
at the independence working correlation where GEE is a GLM. R script: tests/gee/r/clubsandwich_small_sample.R.
"""

import numpy as np
import pandas as pd
import pytest

from bayesglmm.gee import fit_gee

CLUBSANDWICH_EPILEPSY = {  # glm(y ~ time + trt + trt:time, family = poisson), 59 clusters
    "beta": [3.1814743905512, -0.3748443172804, 0.0373814371191, -0.0510024508691],
    None: [0.1601634541030, 0.0528810611921, 0.2333123199417, 0.0816589561955],  # CR0
    "kc": [0.1632331914332, 0.0538594122712, 0.2375248774568, 0.0830584512957],  # CR2
    "md": [0.1660954338846, 0.0548396190140, 0.2414969990389, 0.0845078863191],  # CR3
}


def test_corrections_match_clubsandwich(epilepsy):
    fit = fit_gee("y ~ time + trt + trt:time", epilepsy, "poisson", cluster="id", corr="independence")
    np.testing.assert_allclose(fit.beta, CLUBSANDWICH_EPILEPSY["beta"], rtol=1e-8)
    for correction in (None, "md"):
        np.testing.assert_allclose(
            fit.fixed_effects(correction=correction)["se"],
            CLUBSANDWICH_EPILEPSY[correction],
            rtol=1e-6,
            err_msg=str(correction),
        )
    # Kauermann-Carroll takes (I - H)^(-1/2) in the whitened metric V^(-1/2); clubSandwich's CR2
    # (Bell & McCaffrey) the inverse root of its target-weighted B_i = Phi^(1/2)(Phi - X M X')Phi^(1/2).
    # They differ unless the two commute: here by 0.01-0.07% (on amenorrhea's 1151 clusters, 1e-7).
    np.testing.assert_allclose(fit.fixed_effects(correction="kc")["se"], CLUBSANDWICH_EPILEPSY["kc"], rtol=1e-3)
    assert {"se_md", "se_kc"} <= set(fit.to_dict()["fixed"][0])


def test_corrections_grow_the_ses_and_fade_as_clusters_grow():
    """MD > KC > uncorrected, and the inflation falls towards 1 as clusters grow (each cluster's
    leverage ~ p / K): exchangeable GEE on simulated clustered binary data, 20 against 2000 clusters."""
    ratios = {}
    for clusters in (20, 2000):
        rng = np.random.default_rng(1)
        g = np.repeat(np.arange(clusters), 5)
        x = rng.normal(size=g.size)
        u = rng.normal(size=clusters)[g]
        y = (rng.random(g.size) < 1 / (1 + np.exp(-(-0.3 + 0.8 * x + u)))).astype(int)
        fit = fit_gee("y ~ x", pd.DataFrame({"g": g, "x": x, "y": y}), "bernoulli", cluster="g", corr="exchangeable")
        robust = fit.fixed_effects()["se"].to_numpy()
        md, kc = (fit.fixed_effects(correction=c)["se"].to_numpy() for c in ("md", "kc"))
        assert np.all(md > kc) and np.all(kc > robust)
        ratios[clusters] = md / robust
    assert np.all(ratios[20] > 1.04) and np.all(ratios[2000] < 1.001)
    with pytest.raises(ValueError, match="correction must be"):
        fit.fixed_effects(correction="firoeeq")


def test_mbn_is_sas_formula(epilepsy):
    """c Ω M Ω + δ φ Ω with SAS GLIMMIX's definitions (d = 2, r = 1): 295 observations, 59 clusters,
    k = 4 columns, so c = 294/291 · 59/58 and δ = 4/55 (m > 3k); φ = max(1, trace(Ω M)/4)."""
    fit = fit_gee("y ~ time + trt + trt:time", epilepsy, "poisson", cluster="id", corr="exchangeable")
    omega, robust = fit.cov_model, fit.cov_robust
    meat = np.linalg.solve(omega, np.linalg.solve(omega, robust).T).T  # M = Ω⁻¹ V_R Ω⁻¹
    c, delta = 294 / 291 * 59 / 58, 4 / 55
    phi = max(1.0, np.trace(omega @ meat) / 4)
    np.testing.assert_allclose(fit.cov_corrected["mbn"], c * robust + delta * phi * omega, rtol=1e-8)
    assert np.all(fit.fixed_effects(correction="mbn")["se"] > fit.fixed_effects()["se"])
