"""No silent worse optimum, no silent unconverged quadrature (issue 18, item 8).

The data: 300 subjects x 7 visits of a rare binary outcome (intercept -3, 60% of visits missing),
a random intercept with SD 4 and a random slope in time, ``(1 + time | id)``. There the Laplace
optimum (-2LL 752.7) is far from the AGQ one (780.2) and, before this change, the 11-point AGQ
stage started from it stopped at a local maximum: 11-point loglik -390.2435 against -390.0760
from a start with the SDs scaled by 1.5. A brute-force integration (a fixed 241 x 241 grid per
subject, independent of the project's quadrature, agreeing with 51-point AGQ to 1e-4) confirms
that the better 11-point optimum is better in the exact likelihood too (-390.1163 against -390.3567).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from bayesglmm import ConvergenceWarning, ModelSpec, fit_ml, loglik_at
from bayesglmm.core.covariance import CovarianceStructure
from bayesglmm.core.data import chunked_data, single_factor
from bayesglmm.core.group_likelihood import MarginalModel
from bayesglmm.ml.fit import _agq_stage
from bayesglmm.ml.objective import MarginalObjective

QUADRATURE_WARNING = "quadrature has not converged"


def _sparse_binary(seed=9, n=300, visits=7):
    rng = np.random.default_rng(seed)
    sd0, sd1, rho = 4.0, 0.8, 0.3
    G = np.array([[sd0**2, rho * sd0 * sd1], [rho * sd0 * sd1, sd1**2]])
    b = rng.multivariate_normal([0, 0], G, size=n)
    idx, t = np.repeat(np.arange(n), visits), np.tile(np.arange(visits) / 2.0, n)
    trt = np.repeat(np.arange(n) % 2, visits)
    eta = -3 + 0.5 * t - 0.4 * trt * t + b[idx, 0] + b[idx, 1] * t
    y = (rng.random(n * visits) < 1 / (1 + np.exp(-eta))).astype(int)
    keep = rng.random(n * visits) > 0.6
    frame = pd.DataFrame({"id": idx, "time": t, "trt": trt, "y": y})[keep]
    return ModelSpec.from_formula("y ~ time + trt:time + (1 + time | id)", frame, "bernoulli")


def _brute_force_loglik(spec, beta, L, n=241, width=9.0):
    """Σ_i log ∫ p(y_i | b) N(b; 0, L Lᵀ) db on a fixed n x n grid over ±width of u, b = L u (valid
    for a singular L Lᵀ)."""
    factor = spec.random[0]
    x = np.linspace(-width, width, n)
    U = np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
    log_w = 2 * np.log(x[1] - x[0]) - 0.5 * (U**2).sum(1) - np.log(2 * np.pi)
    B = U @ L.T
    eta_fixed = spec.fixed.X @ beta
    total = 0.0
    for i in range(len(factor.levels)):
        rows = factor.index == i
        eta = eta_fixed[rows, None] + factor.Z[rows] @ B.T
        total += logsumexp((spec.y[rows, None] * eta - np.logaddexp(0, eta)).sum(0) + log_w)
    return total


def _beta_L(x, p):
    return x[:p], np.array([[x[p], 0.0], [x[p + 1], x[p + 2]]])


@pytest.fixture(scope="module")
def sparse():
    return _sparse_binary()


def test_agq_stage_finds_the_better_optimum(sparse):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        laplace = fit_ml(sparse, "laplace")
        fit = fit_ml(sparse, "agq", 11)
    factor, p = single_factor(sparse), sparse.fixed.X.shape[1]
    objective = MarginalObjective(
        MarginalModel(sparse.family, CovarianceStructure(factor.q, factor.blocks), p, "agq"), chunked_data(sparse), 11
    )
    from bayesglmm.ml.optimise import OptimumResult

    start = OptimumResult(laplace.optimization.final_parameters, 0.0, np.zeros(p + 3), 0, 0, objective.initial_modes())
    only_laplace_start, _ = _agq_stage(objective, start, None, True, 1e-6, p, several_starts=False)
    assert -only_laplace_start.value == pytest.approx(-390.2435, abs=2e-3)  # the local maximum, as before
    assert fit.loglik == pytest.approx(-390.0760, abs=2e-3) and fit.converged
    old_beta, old_L = _beta_L(only_laplace_start.x, p)
    new_beta, new_L = _beta_L(fit.optimization.final_parameters, p)
    exact_old, exact_new = _brute_force_loglik(sparse, old_beta, old_L), _brute_force_loglik(sparse, new_beta, new_L)
    assert loglik_at(sparse, old_beta, old_L @ old_L.T, "agq", 51) == pytest.approx(
        exact_old, abs=1e-3
    )  # brute force right
    assert exact_new > exact_old + 0.2  # -390.1163 against -390.3567


def test_fixed_qpoints_warns_when_the_quadrature_has_not_converged(sparse, amenorrhea_spec, epilepsy_agq50):
    with pytest.warns(
        ConvergenceWarning, match=rf"{QUADRATURE_WARNING} at 11 points: .* with 11 points and .* with 15"
    ):
        fit_ml(sparse, "agq", 11)
    with pytest.warns(ConvergenceWarning, match=rf"{QUADRATURE_WARNING} at 5 points: .*with 7 \(a change of -1\.6"):
        fit = fit_ml(amenorrhea_spec, "agq", 5)
    assert list(fit.optimization.qpoints_table) == [5, 7]
    assert not [m for m in epilepsy_agq50.messages if QUADRATURE_WARNING in m]
    table = epilepsy_agq50.optimization.qpoints_table
    assert abs(table[50] - table[51]) < 0.01
