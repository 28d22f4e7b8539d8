"""The marginal log-likelihood of a one-factor GLMM — the one implementation.

    ℓ(β, θ) = Σ_i log ∫ p(y_i | b; β) N(b; 0, G(θ)) db

by the Laplace approximation or adaptive Gauss–Hermite quadrature.  The ML
optimiser, the inference step and the Bayesian marginal sampler all call
:func:`group_logliks`; nothing else computes this integral.

Parameter vector φ = (β (p), θ (the elements of chol G, :mod:`.covariance`), log σ (Gaussian
family only)).  The integral is taken over the spherical random effects u, b = Λu
(:mod:`.modes`), so it is finite and smooth in θ up to and at a singular G.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from .. import _jax  # noqa: F401
from ..model.families import Family
from . import parameter_map, smallmat
from .covariance import CovarianceStructure
from .data import GroupedData
from .laplace import laplace_log_integral
from .modes import differentiable_modes, find_modes, group_sum, joint_log_density, linear_predictor, log_standard_normal
from .quadrature import agq_log_integral

METHODS = ("laplace", "agq")


@dataclass(frozen=True)
class MarginalModel:
    """Static description of the objective (hashable, a ``jit`` static argument)."""

    family: Family
    covariance: CovarianceStructure
    n_fixed: int
    method: str = "laplace"

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")

    @property
    def n_params(self) -> int:
        return self.n_fixed + self.covariance.n_theta + self.family.n_extra

    @property
    def covariances(self) -> tuple[CovarianceStructure, ...]:
        """The covariance structure of each grouping factor (one here)."""
        return (self.covariance,)

    def unpack_factors(self, phi) -> tuple[jax.Array, tuple[jax.Array, ...], jax.Array]:
        """φ -> (β, (chol(G),), log σ): the several-factor form :func:`~.inference.report_values` reads."""
        return parameter_map.unpack(phi, self.n_fixed, self.covariances, self.family)

    def unpack(self, phi) -> tuple[jax.Array, jax.Array, jax.Array]:
        """φ -> (β, chol(G), log σ) (:func:`~.parameter_map.unpack`)."""
        beta, (chol_G,), log_dispersion = self.unpack_factors(phi)
        return beta, chol_G, log_dispersion


def group_logliks(phi, data: GroupedData, model: MarginalModel, nodes, log_weights, modes=None) -> jax.Array:
    """Per-group marginal log-likelihoods (n_groups,) at φ.

    ``nodes`` (K, q) and ``log_weights`` (K,) are the Gauss–Hermite product grid
    (:func:`~.quadrature.gauss_hermite_grid`); ignored for ``method="laplace"``.
    ``modes``: converged spherical modes û at φ (:mod:`.modes`), if already known (the Newton
    iteration is then skipped; derivatives stay exact); else found from zero.
    """
    beta, chol_G, log_dispersion = model.unpack(phi)
    family = model.family
    eta_fixed = data.X @ beta + data.offset
    if modes is None:
        zeros = jnp.zeros((data.n_groups, model.covariance.q), dtype=eta_fixed.dtype)
        modes = find_modes(eta_fixed, chol_G, log_dispersion, data, family, zeros)
    u_hat, hessian = differentiable_modes(modes, eta_fixed, chol_G, log_dispersion, data, family)
    if model.method == "laplace":
        f_hat = joint_log_density(u_hat, eta_fixed, chol_G, log_dispersion, data, family)
        return laplace_log_integral(f_hat, hessian)

    def joint_at_nodes(u_hat, scale):  # (m, K)
        # Row r of group i at node k: η_rk = η_r(û_i) + √2 (z_rᵀ Λ L_i) x_k, one matmul over nodes.
        eta_hat = linear_predictor(eta_fixed, u_hat, data, chol_G)
        z_scaled = jnp.sqrt(2.0) * jnp.einsum("nq,nqj->nj", data.Z, smallmat.left_multiply(chol_G, scale)[data.group])
        eta = jnp.concatenate([eta_hat[:, None], z_scaled], axis=1) @ _with_ones(nodes).T
        rows, constant = family.row_loglik_parts(data.y[:, None], eta, data.trials[:, None], log_dispersion, data.W)
        # Materialise the rows before the scatter of the group sum: fused into it, they are
        # computed element by element (twice as slow on CPU). The terms free of η (log y!,
        # log Γ(y + θ)) are summed once per row, not once per node.
        at_nodes = group_sum(jax.lax.optimization_barrier(rows), data) + _log_prior_at_nodes(u_hat, scale, nodes)
        return at_nodes + group_sum(constant, data)

    return agq_log_integral(u_hat, hessian, nodes, log_weights, joint_at_nodes)


def _with_ones(a):
    """[1, a] column-wise: (K, d) -> (K, 1 + d)."""
    return jnp.concatenate([jnp.ones((a.shape[0], 1), a.dtype), a], axis=1)


def _log_prior_at_nodes(u_hat, scale, nodes):
    """log N(u_ik; 0, I) at u_ik = û_i + √2 L_i x_k, as one (m, K) matrix product.

        |û_i + √2 L_i x_k|² = |û_i|² + 2√2 (L_iᵀ û_i)·x_k + 2 vec(L_iᵀ L_i)·vec(x_k x_kᵀ),
    a per-group coefficient row times a per-node feature column.
    """
    q = u_hat.shape[-1]
    coefficients = jnp.concatenate(
        [
            jnp.sum(u_hat**2, axis=-1, keepdims=True),
            2.0 * jnp.sqrt(2.0) * jnp.einsum("mil,mi->ml", scale, u_hat),
            2.0 * jnp.einsum("mil,mij->mlj", scale, scale).reshape(-1, q * q),
        ],
        axis=1,
    )
    features = jnp.concatenate([nodes, (nodes[:, :, None] * nodes[:, None, :]).reshape(-1, q * q)], axis=1)
    return log_standard_normal(jnp.zeros(q, u_hat.dtype)) - 0.5 * (coefficients @ _with_ones(features).T)
