"""Type III generalized score tests for GEE (issue 19, item 5) against statsmodels 0.15's
``GEE.compare_score_test`` (the same Rotnitzky-Jewell/Boos statistic), computed once with

    full = smf.gee("y ~ time + trt + trt:time", "id", epi, family=Poisson(), cov_struct=Independence(), offset=epi["t"])
    full.compare_score_test(smf.gee("y ~ time + trt", ...).fit())      # trt:time
    full.compare_score_test(smf.gee("y ~ time + trt:time", ...).fit()) # trt

on bayesglmm.model.datasets.load_epilepsy() (statsmodels is not a dependency; the numbers are stored).
Independence only: statsmodels' exchangeable moments divide by N - p where geepack (and this
project) divide by N, so their exchangeable statistics differ slightly (0.461 there).
"""

import pytest

from bayesglmm.gee import fit_gee

STATSMODELS_INDEPENDENCE = {"time:trt": 0.41080310265888537, "trt": 0.007918366879507067}


def test_score_tests_match_statsmodels(epilepsy):
    fit = fit_gee(
        "y ~ time + trt + trt:time + offset(t)",
        epilepsy,
        "poisson",
        cluster="id",
        corr="independence",
        score_tests=True,
    )
    table = fit.type3(kind="score")
    for term, statistic in STATSMODELS_INDEPENDENCE.items():
        assert table.loc[term, "chi2"] == pytest.approx(statistic, rel=1e-6)
        assert table.loc[term, "df"] == 1
    wald = fit.type3()
    assert table.loc["time:trt", "chi2"] == pytest.approx(wald.loc["time:trt", "chi2"], rel=0.3)  # same order
    exchangeable = fit_gee(
        "y ~ time + trt + trt:time + offset(t)",
        epilepsy,
        "poisson",
        cluster="id",
        corr="exchangeable",
        score_tests=True,
    )
    assert exchangeable.type3(kind="score").loc["time:trt", "chi2"] == pytest.approx(0.46145446170294746, rel=0.05)
    with pytest.raises(ValueError, match="score_tests=True"):
        fit_gee("y ~ time + offset(t)", epilepsy, "poisson", cluster="id").type3(kind="score")
