"""Conditional modes of the spherical random effects, batched over all groups by Newton's method.

The random effects are written b = Λu with Λ = chol(G), lower triangular, and u ~ N(0, I)
(lme4's spherical random effects; Bates et al. 2015, "Fitting linear mixed-effects models
using lme4", section 3).  With z̃_r = Λᵀz_r, group i's joint log density is
    f_i(u) = Σ_{r∈i} log p(y_r | η_r) + log N(u; 0, I),   η_r = x_rᵀβ + o_r + z̃_rᵀu,
with gradient and negative Hessian
    g_i(u) = Σ_r z̃_r d1_r − u,   H_i(u) = Σ_r z̃_r z̃_rᵀ (−d2_r) + I,
d1, d2 the first two derivatives of the row log-likelihood in η.  All families here are
log-concave in η, so H_i ⪰ I and the damped Newton iteration converges.  Nothing here needs
G⁻¹ or log|G|: the iteration and the Laplace and quadrature formulas stay well conditioned
when G is singular (a zero variance, a correlation of ±1), where the precision of b does not
exist, and Λ may have a diagonal of either sign (:mod:`.covariance`).  The random effects on
their own scale are b̂ = Λû, with conditional covariance Λ H_i⁻¹ Λᵀ.

Derivatives with respect to (β, θ) pass through the mode exactly, by the implicit function
theorem: :func:`find_modes` iterates to convergence without gradients, and
:func:`differentiable_modes` returns û with a custom derivative rule: from g_i(û) = 0,
    dû_i = H_i(û)⁻¹ ∂g_i/∂(η_fixed, Λ, log σ) · d(η_fixed, Λ, log σ),
whose own derivatives (the rule is written in terms of û, so it applies again) give the exact
second derivatives the observed information needs; the ML fit's second-order program compiles and
runs faster so than through differentiable Newton steps from the converged modes, the former way
(docs/measurements.md).

JAX (0.10) loses such a rule when a loop (``lax.map``/``scan``) around it is differentiated in
reverse mode and the result differentiated again: the Hessian comes out wrong with no error.
So the ML objective differentiates inside its map over chunks, never through it
(:mod:`.objective`), and ``tests/ml/test_invariants.py`` checks the Hessian against finite
differences of the gradient.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.ops import segment_sum

from .. import _jax  # noqa: F401
from ..model.families import Family
from . import smallmat
from .data import GroupedData
from .newton import damped_newton


def group_sum(values, data: GroupedData) -> jax.Array:
    """Sum row values (n, ...) within groups -> (n_groups, ...)."""
    return segment_sum(values, data.group, num_segments=data.n_groups, indices_are_sorted=True)


def linear_predictor(eta_fixed, u, data: GroupedData, chol_G) -> jax.Array:
    """η_r = η_fixed_r + z̃_rᵀ u_{group(r)} = η_fixed_r + z_rᵀ (Λu)_{group(r)}; u (n_groups, q) -> (n,).

    Λ multiplies the per-group u, not the per-row z: the scaled design z̃ is never formed row
    by row (a slower second-order program on large data: docs/measurements.md).
    """
    return eta_fixed + jnp.sum(data.Z * smallmat.matvec(chol_G, u)[data.group], axis=-1)


def log_standard_normal(u) -> jax.Array:
    """log N(u; 0, I); u (..., q) -> (...)."""
    return -0.5 * u.shape[-1] * jnp.log(2.0 * jnp.pi) - 0.5 * jnp.sum(u**2, axis=-1)


def joint_log_density(
    u, eta_fixed, chol_G, log_dispersion, data: GroupedData, family: Family, constants: bool = True
) -> jax.Array:
    """f_i(u) for every group: (n_groups, q) -> (n_groups,).

    ``constants=False`` leaves out the terms of the row log-likelihoods that do not vary with η
    (:meth:`~bayesglmm.model.families.Family.loglik_parts`: log y!, NB's log Γ(y + θ) − log Γ(θ)):
    f_i up to a constant in u, all the mode search compares, without the log-gamma functions that
    were most of an NB2 AGQ evaluation's time (docs/measurements.md).
    """
    eta = linear_predictor(eta_fixed, u, data, chol_G)
    if constants:
        rows = family.row_loglik(data.y, eta, data.trials, log_dispersion, data.W)
    else:
        rows = family.row_loglik_parts(data.y, eta, data.trials, log_dispersion, data.W)[0]
    return group_sum(rows, data) + log_standard_normal(u)


def _gradient_and_hessian(u, eta_fixed, chol_G, log_dispersion, data, family, for_steps: bool = False):
    """g_i(u) = Λᵀ Σ_r z_r d1_r − u and H_i(u) = Λᵀ (Σ_r z_r z_rᵀ (−d2_r)) Λ + I (module docstring),
    as entries (:mod:`.smallmat`): g[a] (n_groups,), H[a][b] (n_groups,), computed on arrays or on
    entries by the number of groups (the static ``data.entries_from_groups``, :data:`~.data.ENTRIES_FROM_GROUPS`).

    ``for_steps``: the curvature of the Newton *steps*, −d2 floored at 0, so that H ⪰ I even where
    the family's log-likelihood is not concave in η (NB1 with large counts: its size μ/φ moves with
    η); the modes are the same, the line search keeps each step an ascent. The Laplace value and
    the modes' derivatives use the exact H (``for_steps=False``); for a concave family both agree.
    """
    q = u.shape[-1]
    eta = linear_predictor(eta_fixed, u, data, chol_G)
    d1, d2 = family.row_eta_derivatives(data.y, eta, data.trials, log_dispersion, data.W)
    if for_steps:
        d2 = jnp.minimum(d2, 0.0)
    if data.n_groups < data.entries_from_groups:
        gradient = smallmat.matvec(chol_G.T, group_sum(data.Z * d1[:, None], data)) - u
        information = group_sum(data.Z[:, :, None] * data.Z[:, None, :] * (-d2)[:, None, None], data)
        hessian = smallmat.congruence(chol_G, information) + jnp.eye(q, dtype=u.dtype)
        return [gradient[:, a] for a in range(q)], smallmat.entries(hessian)
    # Σ z_r d1_r and the lower triangle of Σ z_r z_rᵀ (−d2_r) in one segment sum
    pairs = [(j, k) for j in range(q) for k in range(j + 1)]
    rows = [data.Z[:, j] * d1 for j in range(q)] + [data.Z[:, j] * data.Z[:, k] * (-d2) for j, k in pairs]
    sums = group_sum(jnp.stack(rows, -1), data)
    information = [[None] * q for _ in range(q)]
    for column, (j, k) in enumerate(pairs, start=q):
        information[j][k] = information[k][j] = sums[:, column]
    lam = smallmat.entries(chol_G)
    gradient = [sum(lam[j][a] * sums[:, j] for j in range(q)) - u[:, a] for a in range(q)]
    information_times_lambda = [
        [sum(information[j][k] * lam[k][b] for k in range(q)) for b in range(q)] for j in range(q)
    ]
    hessian = [[None] * q for _ in range(q)]
    for a in range(q):
        for b in range(a + 1):
            congruence = sum(lam[j][a] * information_times_lambda[j][b] for j in range(q))  # (Λᵀ I Λ)_ab
            hessian[a][b] = hessian[b][a] = congruence + 1.0 if a == b else congruence
    return gradient, hessian


def _newton_step(u, eta_fixed, chol_G, log_dispersion, data, family):
    gradient, hessian = _gradient_and_hessian(u, eta_fixed, chol_G, log_dispersion, data, family, for_steps=True)
    return jnp.stack(smallmat.cho_solve_entries(smallmat.cholesky_entries(hessian), gradient), -1)


def find_modes(
    eta_fixed, chol_G, log_dispersion, data: GroupedData, family: Family, u_start, max_iter=100, tol=1e-10
) -> jax.Array:
    """Spherical modes û (n_groups, q) by damped Newton from ``u_start`` (or 0), without gradients.

    Each group halves its own step until f_i does not fall; the iteration stops
    when no group moves by more than ``tol``.
    """
    eta_fixed, chol_G, log_dispersion, u_start = jax.lax.stop_gradient((eta_fixed, chol_G, log_dispersion, u_start))

    def objective(u):  # f_i up to a constant in u: the comparisons of the line search need no more
        return joint_log_density(u, eta_fixed, chol_G, log_dispersion, data, family, constants=False)

    # A warm start (the modes at other parameters) can be far worse than zero where Λ is much
    # larger than where the start was found (u_start scaled by Λ overflows exp(η)); each group
    # starts from whichever of u_start and 0 has the higher f_i.
    start_value, zero_value = objective(u_start), objective(jnp.zeros_like(u_start))
    from_zero = ~(start_value >= zero_value)  # also where f_i(u_start) is NaN
    u_start = jnp.where(from_zero[:, None], 0.0, u_start)

    def step(u):
        return _newton_step(u, eta_fixed, chol_G, log_dispersion, data, family)

    return damped_newton(objective, step, u_start, max_iter, tol)


@partial(jax.custom_jvp, nondiff_argnums=(5,))
def _mode(u_converged, eta_fixed, chol_G, log_dispersion, data: GroupedData, family: Family):
    """û as a differentiable function of (η_fixed, Λ, log σ), given converged modes (module docstring)."""
    return jax.lax.stop_gradient(u_converged)


@_mode.defjvp
def _mode_jvp(family, primals, tangents):
    """dû = H⁻¹ (∂g/∂(η_fixed, Λ, log σ) · tangents), from g(û) = 0 and H = −∂g/∂u.

    û here is :func:`_mode` itself, so differentiating this rule again applies it again: the
    second derivatives of û (which the observed information needs) are exact too.
    """
    u_converged, eta_fixed, chol_G, log_dispersion, data = primals
    _, d_eta_fixed, d_chol_G, d_log_dispersion, _ = tangents  # û does not move with its start or the data
    u = _mode(u_converged, eta_fixed, chol_G, log_dispersion, data, family)

    def gradient_and_hessian(eta_fixed, chol_G, log_dispersion):
        return _gradient_and_hessian(u, eta_fixed, chol_G, log_dispersion, data, family)

    # one pass for H and ∂g·tangents (the unused tangent of H is dropped by the compiler)
    (_, hessian), (d_gradient, _) = jax.jvp(
        gradient_and_hessian, (eta_fixed, chol_G, log_dispersion), (d_eta_fixed, d_chol_G, d_log_dispersion)
    )
    return u, jnp.stack(smallmat.cho_solve_entries(smallmat.cholesky_entries(hessian), d_gradient), -1)


def differentiable_modes(
    u_converged, eta_fixed, chol_G, log_dispersion, data: GroupedData, family: Family
) -> tuple[jax.Array, jax.Array]:
    """(û, H at û) from converged modes, with the exact (implicit) derivatives of û in the parameters."""
    u = _mode(u_converged, eta_fixed, chol_G, log_dispersion, data, family)
    _, hessian = _gradient_and_hessian(u, eta_fixed, chol_G, log_dispersion, data, family)
    return u, smallmat.from_entries(hessian)


def random_effects_scale(u_hat, hessian, chol_G) -> tuple[jax.Array, jax.Array]:
    """The modes and conditional covariances on the scale of b: (Λû (m, q), Λ H⁻¹ Λᵀ (m, q, q))."""
    scale = smallmat.left_multiply(chol_G, smallmat.inverse_cholesky_factor(smallmat.cholesky(hessian)))  # Λ H⁻¹ᐟ²
    return smallmat.matvec(chol_G, u_hat), scale @ jnp.swapaxes(scale, -1, -2)
