"""Batched linear algebra for many small (q x q) symmetric positive-definite matrices.

The random-effects dimension q is small and static, so the Cholesky
factorisation and triangular solves are unrolled over q and vectorised over
groups: plain elementwise arithmetic that XLA fuses, with cheap derivatives of
any order, instead of one LAPACK call per group.
"""

from __future__ import annotations

from .. import _jax  # noqa: F401
import jax.numpy as jnp


def cholesky(A):
    """Lower Cholesky factor of A (..., q, q) (Cholesky–Banachiewicz, unrolled)."""
    q = A.shape[-1]
    L = [[None] * q for _ in range(q)]
    for i in range(q):
        for j in range(i + 1):
            s = A[..., i, j]
            for k in range(j):
                s = s - L[i][k] * L[j][k]
            L[i][j] = jnp.sqrt(s) if i == j else s / L[j][j]
    zero = jnp.zeros_like(A[..., 0, 0])
    return jnp.stack([jnp.stack([L[i][j] if j <= i else zero for j in range(q)], -1) for i in range(q)], -2)


def matvec(M, v):
    """M v for one M (q, q) and many v (..., q), unrolled over q.

    Products with one small M are elementwise products and sums here, not ``matmul``/``einsum``,
    which XLA fuses with their neighbours.  Measured on the 500k-row Laplace fit of
    ``benchmarks/scale.py``: 28.3 s in this form (``matvec`` unrolled, the others broadcast),
    29.5 s with ``einsum``, 30.2 s with all three unrolled (a larger program to compile).
    """
    q = M.shape[-1]
    return jnp.stack([sum(M[i, j] * v[..., j] for j in range(q)) for i in range(q)], -1)


def left_multiply(M, A):
    """M A for one M (q, q) and many A (..., q, k), as broadcast products and sums (see :func:`matvec`)."""
    return jnp.sum(M[:, :, None] * A[..., None, :, :], axis=-2)


def congruence(M, A):
    """Mᵀ A M for one M (q, q) and many A (..., q, q)."""
    AM = jnp.swapaxes(left_multiply(M.T, jnp.swapaxes(A, -1, -2)), -1, -2)  # A M = (Mᵀ Aᵀ)ᵀ
    return left_multiply(M.T, AM)


def log_det_from_cholesky(L):
    """log|A| from its Cholesky factor L (..., q, q) -> (...)."""
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)


def solve_lower(L, b):
    """Solve L x = b, L (..., q, q) lower triangular, b (..., q)."""
    q = L.shape[-1]
    x = []
    for i in range(q):
        s = b[..., i]
        for k in range(i):
            s = s - L[..., i, k] * x[k]
        x.append(s / L[..., i, i])
    return jnp.stack(x, -1)


def solve_upper_transposed(L, b):
    """Solve L^T x = b, L (..., q, q) lower triangular, b (..., q)."""
    q = L.shape[-1]
    x = [None] * q
    for i in reversed(range(q)):
        s = b[..., i]
        for k in range(i + 1, q):
            s = s - L[..., k, i] * x[k]
        x[i] = s / L[..., i, i]
    return jnp.stack(x, -1)


def cho_solve(L, b):
    """Solve A x = b given A = L L^T; L (..., q, q), b (..., q)."""
    return solve_upper_transposed(L, solve_lower(L, b))


def inverse_cholesky_factor(L):
    """Lower Cholesky factor of A^{-1} given A = L L^T (..., q, q).

    A^{-1} = L^{-T} L^{-1}; its lower Cholesky factor is obtained by factorising
    the explicit inverse (q is small, so this is cheap and keeps the factor
    lower triangular as in the quadrature formulas).
    """
    q = L.shape[-1]
    eye = jnp.broadcast_to(jnp.eye(q, dtype=L.dtype), L.shape)
    columns = [cho_solve(L, eye[..., :, j]) for j in range(q)]
    inverse = jnp.stack(columns, -1)
    return cholesky(0.5 * (inverse + jnp.swapaxes(inverse, -1, -2)))
