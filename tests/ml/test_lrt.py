"""Likelihood-ratio test between nested fits."""

import pytest
from scipy import stats

from bayesglmm import SpecError, fit_ml, likelihood_ratio_test


def test_random_slope_lrt(amenorrhea_ri_spec, amenorrhea_laplace):
    smaller = fit_ml(amenorrhea_ri_spec, "laplace")
    test = likelihood_ratio_test(smaller, amenorrhea_laplace)
    assert test.df == 2  # var(time) and cov(intercept, time)
    assert test.statistic == pytest.approx(2 * (amenorrhea_laplace.loglik - smaller.loglik))
    assert test.p == pytest.approx(stats.chi2.sf(test.statistic, 2))
    assert test.p_boundary_mixture == pytest.approx(0.5 * stats.chi2.sf(test.statistic, 1) + 0.5 * test.p)
    assert "LR chi2" in str(test)


def test_lrt_refuses_different_approximations(amenorrhea_ri_spec, amenorrhea_agq11):
    with pytest.raises(SpecError, match="different approximations"):
        likelihood_ratio_test(fit_ml(amenorrhea_ri_spec, "laplace"), amenorrhea_agq11)
