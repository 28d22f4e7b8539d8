"""Conditional modes of the random effects, batched over all groups by Newton's method.

For group i, f_i(b) = sum_{r in i} log p(y_r | eta_r) + log N(b; 0, G) with
eta_r = x_r^T beta + o_r + z_r^T b.  Its gradient and negative Hessian are
    g_i(b) = sum_r z_r d1_r - G^{-1} b,   H_i(b) = sum_r z_r z_r^T (-d2_r) + G^{-1},
d1, d2 the first two derivatives of the row log-likelihood in eta.  All
families here are log-concave in eta, so H_i is positive definite and the
damped Newton iteration converges.

Derivatives with respect to (beta, theta) pass through the mode exactly:
:func:`find_modes` iterates to convergence without gradients, then
:func:`refine_modes` takes two plain Newton steps with gradients on.  The
Newton map has zero Jacobian at its fixed point, so one step gives exact first
and two steps exact second derivatives of b_hat (the implicit-function
derivatives), which the observed information needs.
"""

from __future__ import annotations

from .. import _jax  # noqa: F401
import jax
import jax.numpy as jnp
from jax.ops import segment_sum

from ..families import Family
from . import smallmat
from .data import GroupedData


def group_sum(values, data: GroupedData):
    """Sum row values (n, ...) within groups -> (n_groups, ...)."""
    return segment_sum(values, data.group, num_segments=data.n_groups, indices_are_sorted=True)


def linear_predictor(eta_fixed, b, data: GroupedData):
    """eta_r = eta_fixed_r + z_r^T b_{group(r)}; b (n_groups, q) -> (n,)."""
    return eta_fixed + jnp.sum(data.Z * b[data.group], axis=-1)


def log_normal_density(b, chol_G):
    """log N(b; 0, G), G = L L^T; b (..., q) -> (...)."""
    q = chol_G.shape[0]
    whitened = smallmat.solve_lower(jnp.broadcast_to(chol_G, b.shape[:-1] + (q, q)), b)
    log_det = jnp.sum(jnp.log(jnp.diag(chol_G)))
    return -0.5 * q * jnp.log(2.0 * jnp.pi) - log_det - 0.5 * jnp.sum(whitened**2, axis=-1)


def joint_log_density(b, eta_fixed, chol_G, log_dispersion, data: GroupedData, family: Family):
    """f_i(b) for every group: (n_groups, q) -> (n_groups,)."""
    eta = linear_predictor(eta_fixed, b, data)
    rows = family.loglik(data.y, eta, data.trials, log_dispersion)
    return group_sum(rows, data) + log_normal_density(b, chol_G)


def precision_matrix(chol_G):
    """G^{-1} from its Cholesky factor (q, q)."""
    q = chol_G.shape[0]
    return jax.scipy.linalg.cho_solve((chol_G, True), jnp.eye(q, dtype=chol_G.dtype))


def _gradient_and_hessian(b, eta_fixed, G_inv, log_dispersion, data, family):
    eta = linear_predictor(eta_fixed, b, data)
    d1, d2 = family.eta_derivatives(data.y, eta, data.trials, log_dispersion)
    gradient = group_sum(data.Z * d1[:, None], data) - b @ G_inv
    outer = data.Z[:, :, None] * data.Z[:, None, :]
    hessian = group_sum(outer * (-d2)[:, None, None], data) + G_inv
    return gradient, hessian


def _newton_step(b, eta_fixed, G_inv, log_dispersion, data, family):
    gradient, hessian = _gradient_and_hessian(b, eta_fixed, G_inv, log_dispersion, data, family)
    return smallmat.cho_solve(smallmat.cholesky(hessian), gradient)


def find_modes(eta_fixed, chol_G, log_dispersion, data: GroupedData, family: Family, b_start, max_iter=100, tol=1e-10):
    """Modes (n_groups, q) by damped Newton from ``b_start``, without gradients.

    Each group halves its own step until f_i does not fall; the iteration stops
    when no group moves by more than ``tol``.
    """
    eta_fixed, chol_G, log_dispersion, b_start = jax.lax.stop_gradient(
        (eta_fixed, chol_G, log_dispersion, b_start)
    )
    G_inv = precision_matrix(chol_G)

    def objective(b):
        return joint_log_density(b, eta_fixed, chol_G, log_dispersion, data, family)

    def body(state):
        b, value, iteration, _ = state
        step = _newton_step(b, eta_fixed, G_inv, log_dispersion, data, family)

        def worse(candidate):
            return ~jnp.isfinite(candidate) | (candidate < value - 1e-12 * (1.0 + jnp.abs(value)))

        def halve(carry):
            alpha, candidate, k = carry
            alpha = jnp.where(worse(candidate), 0.5 * alpha, alpha)
            return alpha, objective(b + alpha[:, None] * step), k + 1

        alpha, candidate, _ = jax.lax.while_loop(
            lambda carry: jnp.any(worse(carry[1])) & (carry[2] < 30),
            halve,
            (jnp.ones(b.shape[0], dtype=b.dtype), objective(b + step), 0),
        )
        stay = worse(candidate)  # no improving step found for this group
        moved = jnp.where(stay[:, None], 0.0, alpha[:, None] * step)
        return b + moved, jnp.where(stay, value, candidate), iteration + 1, jnp.max(jnp.abs(moved))

    state = (b_start, objective(b_start), 0, jnp.inf)
    b, *_ = jax.lax.while_loop(lambda s: (s[2] < max_iter) & (s[3] > tol), body, state)
    return b


def refine_modes(b_converged, eta_fixed, chol_G, log_dispersion, data: GroupedData, family: Family):
    """Two differentiable Newton steps from converged modes; returns (b_hat, H at b_hat)."""
    G_inv = precision_matrix(chol_G)
    b = jax.lax.stop_gradient(b_converged)
    for _ in range(2):
        b = b + _newton_step(b, eta_fixed, G_inv, log_dispersion, data, family)
    _, hessian = _gradient_and_hessian(b, eta_fixed, G_inv, log_dispersion, data, family)
    return b, hessian
