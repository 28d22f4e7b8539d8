"""The MBN small-sample adjustment of a sandwich covariance (Morel, Bokossa & Neerchal 2003).

For an estimator with "bread" Ω (the inverse of the information, or of B = Σ DᵀV⁻¹D for GEE)
and "meat" M = Σ_i u_i u_iᵀ over m independent clusters, SAS GLIMMIX ``EMPIRICAL=MBN`` (d = 2,
r = 1 by default) reports

    Ω_MBN = c Ω M Ω + δ_m φ Ω,
    c = (f − 1)/(f − k) · m/(m − 1),   φ = max{r, trace(Ω M)/k},
    δ_m = k/(m − k) if m > (d + 1) k, else 1/d,

with f observations and k the rank of Ω (the number of parameters). The first term is the
classical sandwich inflated by a degrees-of-freedom factor; the second adds a multiple of the
model-based covariance, of order 1/m, so the adjustment fades as clusters grow. GLIMMIX applies
it to the residual-based GEE-type sandwich and, for METHOD=LAPLACE/QUAD, to the likelihood-based
one built from the subjects' gradients; both engines here use this one function.
"""

from __future__ import annotations

import numpy as np


def mbn_covariance(
    omega: np.ndarray, meat: np.ndarray, n_obs: int, n_clusters: int, d: float = 2.0, r: float = 1.0
) -> np.ndarray:
    """SAS's MBN sandwich from the bread Ω (k, k) and the uncorrected meat M (module docstring).

    ``d ≥ 1`` and ``0 ≤ r ≤ 1`` are GLIMMIX's ``MBN(d=, r=)`` options. Needs at least two clusters
    and more observations than parameters.
    """
    k = int(np.linalg.matrix_rank(omega))
    m = n_clusters
    if m < 2 or n_obs <= k:
        raise ValueError(
            f"the MBN adjustment needs at least 2 clusters and more observations than parameters "
            f"({m} clusters, {n_obs} observations, {k} parameters)"
        )
    c = (n_obs - 1) / (n_obs - k) * m / (m - 1)
    phi = max(r, float(np.trace(omega @ meat)) / k)
    delta = k / (m - k) if m > (d + 1) * k else 1.0 / d
    return c * omega @ meat @ omega + delta * phi * omega
