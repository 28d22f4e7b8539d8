"""Likelihood-ratio test between two nested maximum-likelihood fits.

    LR = 2 (ℓ_larger − ℓ_smaller) ~ χ²(df),  df = difference in the number of parameters.

When the larger model adds random effects, the null puts a variance on the boundary of its
space and the χ²(df) p-value is conservative; the mixture ½χ²(df−1) + ½χ²(df) (Self & Liang
1987; Stram & Lee 1994, for adding one random effect with its covariances) is reported too.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SpecError
from ..results.stats import chi2_upper_p


@dataclass(frozen=True)
class LikelihoodRatioTest:
    statistic: float
    df: int
    p: float
    p_boundary_mixture: float | None  # when the fits differ in covariance parameters

    def __str__(self) -> str:
        text = f"LR chi2 = {self.statistic:.4f}, df = {self.df}, p = {self.p:.4g}"
        if self.p_boundary_mixture is not None:
            text += f" (boundary-corrected mixture p = {self.p_boundary_mixture:.4g})"
        return text


def likelihood_ratio_test(smaller, larger) -> LikelihoodRatioTest:
    """Test ``smaller`` (the null) against ``larger``; both fitted to the same rows by the same method."""
    if (smaller.nobs, smaller.family, smaller.link) != (larger.nobs, larger.family, larger.link):
        raise SpecError("the two fits must use the same observations, family and link")
    if (smaller.method, smaller.qpoints) != (larger.method, larger.qpoints):
        raise SpecError(
            f"the two fits use different approximations ({smaller.method}/{smaller.qpoints} vs "
            f"{larger.method}/{larger.qpoints}); refit both with the same method and qpoints"
        )
    df = larger.n_params - smaller.n_params
    if df <= 0:
        raise SpecError("the second fit must have more parameters than the first (the larger model)")
    statistic = max(2.0 * (larger.loglik - smaller.loglik), 0.0)
    p = float(chi2_upper_p(statistic, df))
    n_cov = [sum(1 for prm in fit.parameters if prm.kind in ("var", "cov")) for fit in (smaller, larger)]
    mixture = None
    if n_cov[1] > n_cov[0]:
        lower = float(chi2_upper_p(statistic, df - 1)) if df > 1 else float(statistic <= 0)
        mixture = 0.5 * lower + 0.5 * p
    return LikelihoodRatioTest(statistic, df, p, mixture)
