"""Derivatives of a symmetric positive definite matrix's inverse, log-determinant and solves that
cost matrix products, not differentiated factorisations.

JAX differentiates ``cholesky`` and ``triangular_solve`` by their own rules, which for the second
derivatives of a Laplace log-likelihood through a dense m × m matrix cost dozens of m³ triangular
solves.  The rules here (Jacobi's formula, d(S⁻¹) = −S⁻¹ dS S⁻¹, implicit differentiation of
S x = r) give the same derivatives with one S⁻¹ dS S⁻¹ per direction for a log-determinant's
Hessian and O(m²) per direction for a solve (:mod:`bayesglmm.ml.schur`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import _jax  # noqa: F401  (float64)


@jax.custom_jvp
def spd_inverse(S) -> jax.Array:
    """S⁻¹ of a symmetric positive definite S by its Cholesky factor; the derivative
    d(S⁻¹) = −S⁻¹ dS S⁻¹ is two matrix products (JAX's rule differentiates the Cholesky
    factorisation and the triangular solves instead: several times the work)."""
    return jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(S), True), jnp.eye(S.shape[0], dtype=S.dtype))


@spd_inverse.defjvp
def _spd_inverse_jvp(primals, tangents):
    (S,), (dS,) = primals, tangents
    inverse = spd_inverse(S)
    return inverse, -inverse @ dS @ inverse


@jax.custom_jvp
def spd_log_det(S) -> jax.Array:
    """log|S| of a symmetric positive definite S, with d log|S| = tr(S⁻¹ dS) (Jacobi's formula):
    its gradient is S⁻¹ and its Hessian needs one S⁻¹ dS S⁻¹ per direction, the least that
    the second derivatives of a log-determinant can cost."""
    return 2.0 * jnp.sum(jnp.log(jnp.diag(jnp.linalg.cholesky(S))))


@spd_log_det.defjvp
def _spd_log_det_jvp(primals, tangents):
    (S,), (dS,) = primals, tangents
    return spd_log_det(S), jnp.sum(spd_inverse(S) * dS)


def spd_solve(S, chol_S, r) -> jax.Array:
    """S⁻¹ r, differentiated implicitly (``jax.lax.custom_linear_solve``): d(S⁻¹r) = S⁻¹(dr − dS S⁻¹r),
    matrix-vector products with the factor ``chol_S`` of S held fixed, so the first and second
    derivatives of a Newton step cost O(m²) per direction, not the O(m³) of differentiating the
    factorisation."""
    chol_S = jax.lax.stop_gradient(chol_S)
    return jax.lax.custom_linear_solve(
        lambda x: S @ x, r, solve=lambda _, b: jax.scipy.linalg.cho_solve((chol_S, True), b), symmetric=True
    )
