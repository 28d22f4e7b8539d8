"""NB2 on the seed's epilepsy model by both samplers, against brms's posterior
(../shared/reference/brms_ref_epil_negbinomial.csv: brms 2.18, 4 chains x 5000 draws after 1000
warm-up; normal(0, 10) on b, student_t(3, 0, 2.5) on sd, lkj(1), gamma(0.01, 0.01) on shape —
bayesglmm's ``brms`` prior set).

Measured (2 chains x 1000 draws, seed 1): full-latent means within 0.05 brms SDs but the
correlation (0.01), SDs within 4%; marginal within 0.1 SDs, SDs within 5%; no divergences.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from bayesglmm import ModelSpec
from bayesglmm.bayes import fit_bayes

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "brms_ref_epil_negbinomial.csv"
NAMES = {  # brms's names -> the common ones
    "b_Intercept": "beta[(Intercept)]",
    "b_time": "beta[time]",
    "b_trt": "beta[trt]",
    "b_time:trt": "beta[time:trt]",
    "sd_id__Intercept": "sd[id,(Intercept)]",
    "sd_id__time": "sd[id,time]",
    "cor_id__Intercept__time": "corr[id,(Intercept),time]",
    "shape": "shape",
}


def _brms() -> pd.DataFrame:
    table = pd.read_csv(REFERENCE, index_col=0)
    return table.rename(index=NAMES)


def _compare(fit, mean_tol: float, sd_tol: float) -> None:
    ref, table = _brms(), fit.params()
    for name in NAMES.values():
        assert abs(table.loc[name, "mean"] - ref.loc[name, "mean"]) < mean_tol * ref.loc[name, "sd"], name
        assert table.loc[name, "sd"] == pytest.approx(ref.loc[name, "sd"], rel=sd_tol), name
    assert fit.divergences == 0


def _fit(epilepsy, sampler, chains, draws, warmup=None):
    spec = ModelSpec.from_formula("y ~ time + trt + trt:time + offset(t) + (1 + time | id)", epilepsy, "nbinom2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_bayes(
            spec,
            prior_set="brms_proper",
            sampler=sampler,
            chains=chains,
            draws=draws,
            warmup=warmup,
            seed=1,
            progress=False,
        )


def test_nb2_full_latent_short_run_agrees_with_brms(epilepsy):
    """A short run (2 x 600 draws after 500 warm-up): means within 0.3 brms SDs, SDs within 20%."""
    fit = _fit(epilepsy, "full", 2, 600, 500)
    _compare(fit, 0.3, 0.2)
    assert "shape" in fit.parameter_names and "shape" in fit.idata.posterior
    assert fit.priors[-1] == ("shape", "gamma(0.01, 0.01)")


@pytest.mark.slow  # 4 chains x 2500 draws by both samplers, about 3 minutes on 2 cores
@pytest.mark.parametrize("sampler", ["full", "marginal"])
def test_nb2_posterior_matches_brms(epilepsy, sampler):
    """At brms's precision: means within 0.1 posterior SD, SDs within 10%, R-hat <= 1.01."""
    fit = _fit(epilepsy, sampler, 4, 2500)
    _compare(fit, 0.1, 0.1)
    assert (fit.params()["r_hat"] <= 1.01).all()
