"""Invariants of the ML engine: AGQ(1) = Laplace, row order and labels, qpoints convergence, gradients."""

import warnings

import numpy as np
import pytest

from bayesglmm.core.covariance import CovarianceStructure
from bayesglmm.core.data import chunked_data
from bayesglmm.core.group_likelihood import MarginalModel
from bayesglmm.ml import fit_ml
from bayesglmm.ml.evaluate import loglik_at, loglik_by_qpoints, phi_from
from bayesglmm.ml.objective import MarginalObjective
from bayesglmm.model.spec import ModelSpec

from ..conftest import AMENORRHEA

BETA = [-2.3, 0.5, 0.1, 0.9, -0.26]
G = [[4.0, 0.3], [0.3, 0.5]]


def test_one_point_agq_equals_laplace_at_any_parameters(amenorrhea_spec):
    laplace = loglik_at(amenorrhea_spec, BETA, G, "laplace")
    agq1 = loglik_at(amenorrhea_spec, BETA, G, "agq", 1)
    assert abs(laplace - agq1) < 1e-8


def test_one_point_agq_fit_equals_laplace_fit(epilepsy_spec, epilepsy_laplace):
    agq1 = fit_ml(epilepsy_spec, "agq", 1)
    assert abs(agq1.loglik - epilepsy_laplace.loglik) < 1e-8
    np.testing.assert_allclose(agq1.beta.values, epilepsy_laplace.beta.values, atol=1e-6)


def test_fit_does_not_depend_on_row_order_or_group_labels(amenorrhea, amenorrhea_laplace):
    shuffled = amenorrhea.sample(frac=1.0, random_state=7).reset_index(drop=True)
    shuffled["id"] = "woman-" + (5000 - shuffled["id"]).astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = ModelSpec.from_formula(AMENORRHEA, shuffled, "bernoulli")
    fit = fit_ml(spec, "laplace")
    assert abs(fit.loglik - amenorrhea_laplace.loglik) < 1e-8
    np.testing.assert_allclose(fit.beta.values, amenorrhea_laplace.beta.values, atol=1e-6)
    np.testing.assert_allclose(fit.G, amenorrhea_laplace.G, atol=1e-6)


def test_more_quadrature_points_converge(amenorrhea_spec, amenorrhea_agq11):
    table = loglik_by_qpoints(amenorrhea_agq11, amenorrhea_spec, (5, 11, 15, 21, 31))
    errors = [abs(table[k] - table[31]) for k in (5, 11, 15, 21)]
    assert errors[0] > 0.5  # 5 points are about one unit off for this binary model
    assert all(later <= earlier + 1e-9 for earlier, later in zip(errors, errors[1:]))
    assert errors[1] < 0.02


def test_loglik_is_finite_and_continuous_at_a_singular_covariance(epilepsy_spec):
    # The integral over the spherical random effects (b = Λu) needs no G⁻¹: at a correlation of
    # exactly 1 the log-likelihood is finite and the limit of nearby values: adding ε to the
    # slope variance changes it by about ε ∂ℓ/∂G₂₂ (∂ℓ/∂G₂₂ ≈ 2e4 here).
    beta = [1.0, -0.02, 0.05, -0.1]
    sd = np.array([0.7, 0.15])
    singular = np.outer(sd, sd)
    for method, qpoints in (("laplace", 1), ("agq", 5)):
        at_boundary = loglik_at(epilepsy_spec, beta, singular, method, qpoints)
        assert np.isfinite(at_boundary)
        changes = [
            abs(loglik_at(epilepsy_spec, beta, singular + np.diag([0.0, eps]), method, qpoints) - at_boundary)
            for eps in (1e-8, 1e-10)
        ]
        assert 1e-5 < changes[0] < 1e-3 and abs(changes[1] / changes[0] - 0.01) < 1e-3


def test_gradient_matches_finite_differences(epilepsy_spec):
    factor = epilepsy_spec.random[0]
    structure = CovarianceStructure(factor.q, factor.blocks)
    data = chunked_data(epilepsy_spec)
    phi = phi_from(structure, [1.0, -0.02, 0.05, -0.1], [[0.5, 0.02], [0.02, 0.03]])
    for method, qpoints in (("laplace", 1), ("agq", 7)):
        objective = MarginalObjective(MarginalModel(epilepsy_spec.family, structure, 4, method), data, qpoints)
        _, modes = objective.evaluate(phi, objective.initial_modes())
        _, gradient = objective.value_and_gradient(phi, modes)
        step = 1e-5
        numeric = []
        for j in range(phi.size):
            shift = np.zeros_like(phi)
            shift[j] = step
            up, _ = objective.evaluate(phi + shift, modes)
            down, _ = objective.evaluate(phi - shift, modes)
            numeric.append((up - down) / (2 * step))
        np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method, qpoints", [("laplace", 1), ("agq", 5)])
def test_hessian_matches_finite_differences_of_gradient(epilepsy_spec, method, qpoints):
    """The exact Hessian (through the modes' implicit derivatives, :mod:`bayesglmm.core.modes`)
    against central differences of the gradient with the modes found again at each point."""
    factor = epilepsy_spec.random[0]
    structure = CovarianceStructure(factor.q, factor.blocks)
    data = chunked_data(epilepsy_spec)
    phi = phi_from(structure, [1.0, -0.02, 0.05, -0.1], [[0.5, 0.02], [0.02, 0.03]])
    objective = MarginalObjective(MarginalModel(epilepsy_spec.family, structure, 4, method), data, qpoints)
    _, modes = objective.evaluate(phi, objective.initial_modes())
    _, _, hessian, scores = objective.derivatives(phi, modes)
    step = 1e-5
    columns = []
    for j in range(phi.size):
        shift = np.zeros_like(phi)
        shift[j] = step
        up = objective.value_and_gradient(phi + shift, objective.evaluate(phi + shift, modes)[1])[1]
        down = objective.value_and_gradient(phi - shift, objective.evaluate(phi - shift, modes)[1])[1]
        columns.append((up - down) / (2 * step))
    np.testing.assert_allclose(hessian, np.array(columns).T, rtol=1e-4, atol=1e-4)
    # per-group scores add up to minus the gradient of -loglik
    _, gradient = objective.value_and_gradient(phi, modes)
    np.testing.assert_allclose(-scores.sum(axis=0), gradient, atol=1e-8)


def test_agq_stage_by_newton_and_by_bfgs_agree(epilepsy_spec):
    """Small data take Newton steps with exact Hessians in the AGQ stage, large data BFGS steps
    (core.point_rule.compilation_dominates, MLOptions.one_program_up_to); both reach the same optimum."""
    from bayesglmm.ml.options import MLOptions

    newton = fit_ml(epilepsy_spec, "agq", 5)
    bfgs = fit_ml(epilepsy_spec, options=MLOptions("agq", 5, one_program_up_to=0))
    assert newton.optimization.optimizer == "modified Newton, exact Hessian"
    assert bfgs.optimization.optimizer == "BFGS from the Laplace Hessian"
    assert newton.optimization.converged and bfgs.optimization.converged
    np.testing.assert_allclose(bfgs.params()["estimate"], newton.params()["estimate"], rtol=1e-6, atol=1e-8)
    assert abs(bfgs.loglik - newton.loglik) < 1e-8


def test_auto_qpoints_chooses_enough_points(amenorrhea_spec):
    fit = fit_ml(amenorrhea_spec, "agq", "auto")
    assert fit.qpoints >= 11
    assert fit.loglik >= -1926.21
    table = fit.optimization.qpoints_table  # -2 loglik at the final estimates, k = 1, 3, 5, ...
    ks = list(table)
    next_k = ks[ks.index(fit.qpoints) + 1]
    assert abs(table[fit.qpoints] - table[next_k]) < 0.01
    assert all(abs(table[k] - table[next]) >= 0.01 for k, next in zip(ks, ks[1:]) if k < fit.qpoints)


def test_grids_padded_to_powers_of_two_give_the_same_deviances(epilepsy_spec):
    """Large data pad each grid to the next power of two instead of the largest grid (ml/point_rule.py):
    zero-weight nodes change nothing, so the rule's table is the same either way."""
    from bayesglmm.core.point_rule import padded_size
    from bayesglmm.ml import point_rule as auto

    structure = CovarianceStructure(2, ((0, 1),))
    phi = phi_from(structure, [1.0, -0.02, 0.05, -0.1], [[0.5, 0.02], [0.02, 0.03]])
    model = MarginalModel(epilepsy_spec.family, structure, 4, "laplace")
    objective = MarginalObjective(model, chunked_data(epilepsy_spec), 1)
    qpoints = [1, 3, 5, 7]
    one_program = auto.deviance_by_qpoints(phi, objective.initial_modes(), objective.chunks, model, qpoints)
    assert [padded_size(k**2, 49, 10**7) for k in qpoints] == [1, 16, 32, 49]
    by_powers = auto.deviance_by_qpoints(
        phi, objective.initial_modes(), objective.chunks, model, qpoints, one_program_up_to=0
    )
    assert list(by_powers) == qpoints
    np.testing.assert_allclose(list(by_powers.values()), list(one_program.values()), rtol=1e-12)


class _BoundaryAtInfinity:
    """f(x) = −tanh(x₀) + (x₁ − 1)²: the optimum of x₀ is at +∞, as a correlation of ±1 is in
    unconstrained coordinates; f flattens long before its gradient reaches an absolute tolerance."""

    def evaluate(self, x, aux):
        return -np.tanh(x[0]) + (x[1] - 1) ** 2, aux

    def value_and_gradient(self, x, aux):
        return self.evaluate(x, aux)[0], np.array([-1 / np.cosh(x[0]) ** 2, 2 * (x[1] - 1)])

    def derivatives(self, x, aux):
        value, gradient = self.value_and_gradient(x, aux)
        hessian = np.diag([2 * np.tanh(x[0]) / np.cosh(x[0]) ** 2, 2.0])
        return value, gradient, hessian, None


def test_a_flat_optimum_at_a_boundary_counts_as_converged():
    # The rule serves the several-factor engine, whose log-Cholesky coordinates put a singular G
    # at infinity; the one-factor engine reaches it (test_boundary_fit_at_scale_...).
    from bayesglmm.ml.optimise import minimize

    result = minimize(_BoundaryAtInfinity(), np.array([0.5, 0.0]), None, gtol=1e-8)
    assert result.status == 4 and result.converged  # flat: not "iteration limit" or "line search failed"
    assert np.max(np.abs(result.gradient)) > 1e-8 and abs(result.x[1] - 1) < 1e-8
    assert result.value + 1 < 1e-4  # within the flat tolerance of the supremum


class _RoundedQuadratic:
    """f(x) = 45649.96 + 500 |x|², whose value rounds 2 ulp (1.5e-11) high near the optimum, as a
    sum of 10⁴ terms may: there Newton's predicted decrease is below the rounding."""

    def evaluate(self, x, aux):
        rounding = 1.5e-11 if np.max(np.abs(x)) < 1e-9 else 0.0
        return 45649.96 + 500.0 * float(x @ x) + rounding, aux

    def derivatives(self, x, aux):
        return self.evaluate(x, aux)[0], 1000.0 * x, 1000.0 * np.eye(x.size), None


def test_newton_steps_below_the_objectives_rounding_are_taken():
    # The full step is taken when its predicted decrease is below the objective's resolution
    # (optimise.RESOLUTION) and the value does not visibly rise. The Armijo test alone rejected
    # it and halved the step, and the fit stopped at a gradient above tolerance ("no step decreases
    # the objective further"): seen on a 5-chunk fit stopping at 2.6e-5 where 1 chunk reached 3e-11.
    from bayesglmm.ml.optimise import minimize

    result = minimize(_RoundedQuadratic(), np.array([5e-8, -3e-8]), None, gtol=1e-6)
    assert result.status == 0 and np.max(np.abs(result.gradient)) <= 1e-6


@pytest.mark.slow  # 20,000 groups, 20 s; the default run checks a smaller boundary fit (test_families_fit)
def test_boundary_fit_at_scale_converges_and_warns_singular():
    # 20,000 subjects x 5 visits; the slope SD is weakly identified (visits span 0.8) and the
    # optimum is a correlation of +-1.  In log-Cholesky coordinates the fit drifted towards it
    # (log L22 falling by 1/2 per Newton step, the log-likelihood changing by 1e-6 while the
    # gradient wandered up to 0.04: 28 iterations, 80 s, "line search failed"; then 20 iterations
    # and the flat-optimum rule).  With L22 itself a coordinate, the boundary is L22 = 0, an
    # interior point that Newton's method reaches with the gradient below tolerance.
    import pandas as pd

    from bayesglmm import ModelSpec, SingularFitWarning, simulate_response

    n, visits = 20000, 5
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), visits),
            "time": np.tile(np.arange(visits) / visits, n),
            "trt": np.repeat(np.arange(n) % 2, visits),
            "y": np.tile([0, 1], n * visits // 2),
        }
    )
    truth = {
        "beta[(Intercept)]": -1.0,
        "beta[time]": 0.3,
        "beta[time:trt]": 0.4,
        "sd[id,(Intercept)]": 1.5,
        "sd[id,time]": 0.4,
        "corr[id,(Intercept),time]": 0.2,
    }
    spec = simulate_response(
        ModelSpec.from_formula("y ~ time + trt:time + (1 + time | id)", frame, "bernoulli"), truth, 1
    )
    with pytest.warns(SingularFitWarning):
        fit = fit_ml(spec, "laplace")
    assert fit.optimization.status == 0 and fit.optimization.iterations < 12
    assert abs(fit.params().loc["sd[id,(Intercept)]", "estimate"] - 1.5) < 0.15


def test_modes_do_not_depend_on_a_warm_start_that_overflows(epilepsy_spec):
    # The marginal sampler warm-starts every Newton solve from the ML modes; at a draw with a far
    # larger Λ (here an intercept SD of 148, met by a NUTS chain in warm-up) that start puts
    # exp(η) past overflow. Each group then starts from 0 instead: the modes are the same as from 0
    # (before, the solve stayed at the start and the log density was -6e131 instead of -1852).
    import jax.numpy as jnp

    from bayesglmm.core.data import grouped_data
    from bayesglmm.core.modes import find_modes

    data = grouped_data(epilepsy_spec)
    eta_fixed = data.X @ jnp.array([6.673, -0.741, -20.601, 1.098]) + data.offset
    chol_G = jnp.array([[148.1, 0.0], [0.05, 0.087]])
    zeros = jnp.zeros((data.n_groups, 2))
    from_zero = find_modes(eta_fixed, chol_G, 0.0, data, epilepsy_spec.family, zeros)
    from_far = find_modes(eta_fixed, chol_G, 0.0, data, epilepsy_spec.family, zeros + 5.0)
    np.testing.assert_allclose(np.asarray(from_far), np.asarray(from_zero), atol=1e-8)


def test_newton_steps_on_arrays_and_on_entries_agree(epilepsy_spec):
    # The Newton steps of the modes take one of two forms by the number of groups (the static field
    # GroupedData.entries_from_groups); the seed data have too few groups for the entries form, so
    # it is asked for here (AGQ: the modes, their Hessians and the Laplace-scaled grid all come from
    # those steps). The threshold is part of the data's pytree structure, hence of the compile key:
    # no cache needs clearing.
    import dataclasses

    factor = epilepsy_spec.random[0]
    structure = CovarianceStructure(factor.q, factor.blocks)
    phi = phi_from(structure, [1.0, -0.02, 0.05, -0.1], [[0.5, 0.02], [0.02, 0.03]])

    def derivatives(entries_from_groups):
        chunks = chunked_data(epilepsy_spec)
        chunks = dataclasses.replace(
            chunks, data=dataclasses.replace(chunks.data, entries_from_groups=entries_from_groups)
        )
        objective = MarginalObjective(MarginalModel(epilepsy_spec.family, structure, 4, "agq"), chunks, 5)
        return objective.derivatives_all(phi, objective.evaluate(phi, objective.initial_modes())[1])

    on_arrays = derivatives(10**9)
    on_entries = derivatives(0)
    for key in ("value", "gradient", "hessian", "scores", "modes", "conditional_sds"):
        np.testing.assert_allclose(
            getattr(on_entries, key), getattr(on_arrays, key), rtol=1e-9, atol=1e-12, err_msg=key
        )
