"""The GEE estimating equations for β, their Fisher-scoring step and the sandwich.

For cluster i with mean μ_i(β), D_i = ∂μ_i/∂βᵀ and working covariance V_i:

    U(β) = Σ_i D_iᵀ V_i⁻¹ (y_i − μ_i) = 0,      H = Σ_i D_iᵀ V_i⁻¹ D_i,
    β ← β + H⁻¹ U,   model-based cov H⁻¹,   robust cov H⁻¹ (Σ_i U_i U_iᵀ) H⁻¹

(Liang & Zeger 1986). Empty slots get D = 0, residual 0 and an identity row/column of V,
so they drop out of every sum.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from .. import _jax  # noqa: F401  (float64)
from ..model.families import Family


@partial(jax.jit, static_argnames=("family",))
def mean_pieces(beta, X, offset, trials, mask, family: Family) -> tuple[jax.Array, jax.Array, jax.Array]:
    """μ (n × g⁻¹(η)), dμ/dη and the family's variance function v(μ) per slot (1 in empty slots)."""
    eta = X @ beta + offset
    p, dp = jax.jvp(family.inverse_link, (eta,), (jnp.ones_like(eta),))
    mu, dmu = trials * p, trials * dp
    return mu, jnp.where(mask, dmu, 0.0), jnp.where(mask, family.variance(mu, trials), 1.0)


@jax.jit
def score_pieces(X, dmu, V, residual, mask) -> tuple[jax.Array, jax.Array]:
    """Per-cluster scores U_i (m, p) and the information H (p, p) for a working covariance V (m, T, T)."""
    both = mask[:, :, None] & mask[:, None, :]
    V = jnp.where(both, V, jnp.eye(V.shape[-1]))
    D = dmu[..., None] * X
    solved = jnp.linalg.solve(V, jnp.concatenate([D, jnp.where(mask, residual, 0.0)[..., None]], axis=-1))
    U = jnp.einsum("itp,it->ip", D, solved[..., -1])
    H = jnp.einsum("itp,itq->pq", D, solved[..., :-1])
    return U, H


def working_covariance(structure: str, alpha, scale: float, v, T: int) -> jax.Array:
    """V_i = φ A_i^{1/2} R(α) A_i^{1/2} (m, T, T), A_i = diag v(μ_i), R kept valid
    (:func:`~.correlation.valid_correlation`)."""
    from .correlation import correlation_matrix, valid_correlation

    R = jnp.asarray(valid_correlation(correlation_matrix(structure, alpha, T)))
    root = jnp.sqrt(v)
    return scale * root[:, :, None] * R * root[:, None, :]
