"""Batched linear algebra for many small (q x q) symmetric positive-definite matrices.

The random-effects dimension q is small and static, so the Cholesky
factorisation and triangular solves are unrolled over q and vectorised over
groups: plain elementwise arithmetic that XLA fuses, with cheap derivatives of
any order, instead of one LAPACK call per group.

Each algorithm is written once on *entries*: a matrix as nested lists of arrays ``A[i][j]``
(one value per group), a vector as a list ``b[i]`` (structure of arrays).  The array functions
(..., q, q) wrap them.  The Newton steps of :mod:`.modes` stay on entries for many groups (see
there why not for few).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401


def entries(A) -> list:
    """(..., q, q) array -> nested lists of (...) arrays."""
    q = A.shape[-1]
    return [[A[..., i, j] for j in range(q)] for i in range(q)]


def from_entries(A) -> jax.Array:
    """Nested lists of (...) arrays (``None`` above the diagonal of a triangular factor) -> (..., q, q)."""
    zero = jnp.zeros_like(A[0][0])
    return jnp.stack([jnp.stack([zero if a is None else a for a in row], -1) for row in A], -2)


def cholesky_entries(A) -> list:
    """Lower Cholesky factor of A (Cholesky–Banachiewicz) on entries; only A's lower triangle is read."""
    q = len(A)
    L = [[None] * q for _ in range(q)]
    for i in range(q):
        for j in range(i + 1):
            s = A[i][j]
            for k in range(j):
                s = s - L[i][k] * L[j][k]
            L[i][j] = jnp.sqrt(s) if i == j else s / L[j][j]
    return L


def solve_lower_entries(L, b) -> list:
    """Solve L x = b on entries (forward substitution)."""
    x = []
    for i in range(len(b)):
        s = b[i]
        for k in range(i):
            s = s - L[i][k] * x[k]
        x.append(s / L[i][i])
    return x


def solve_upper_transposed_entries(L, b) -> list:
    """Solve Lᵀ x = b on entries (back substitution)."""
    q = len(b)
    x = [None] * q
    for i in reversed(range(q)):
        s = b[i]
        for k in range(i + 1, q):
            s = s - L[k][i] * x[k]
        x[i] = s / L[i][i]
    return x


def cho_solve_entries(L, b) -> list:
    """Solve A x = b given A = L Lᵀ, on entries."""
    return solve_upper_transposed_entries(L, solve_lower_entries(L, b))


def cholesky(A) -> jax.Array:
    """Lower Cholesky factor of A (..., q, q)."""
    return from_entries(cholesky_entries(entries(A)))


def matvec(M, v) -> jax.Array:
    """M v for one M (q, q) and many v (..., q), unrolled over q.

    Products with one small M are elementwise products and sums here, not ``matmul``/``einsum``,
    which XLA fuses with their neighbours: the fastest of the forms tried on the 500k-row Laplace
    fit of ``benchmarks/scale.py`` (docs/measurements.md).
    """
    q = M.shape[-1]
    return jnp.stack([sum(M[i, j] * v[..., j] for j in range(q)) for i in range(q)], -1)


def left_multiply(M, A) -> jax.Array:
    """M A for one M (q, q) and many A (..., q, k), as broadcast products and sums (see :func:`matvec`)."""
    return jnp.sum(M[:, :, None] * A[..., None, :, :], axis=-2)


def congruence(M, A) -> jax.Array:
    """Mᵀ A M for one M (q, q) and many A (..., q, q)."""
    AM = jnp.swapaxes(left_multiply(M.T, jnp.swapaxes(A, -1, -2)), -1, -2)  # A M = (Mᵀ Aᵀ)ᵀ
    return left_multiply(M.T, AM)


def log_det_from_cholesky(L) -> jax.Array:
    """log|A| from its Cholesky factor L (..., q, q) -> (...)."""
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)


def solve_lower(L, b) -> jax.Array:
    """Solve L x = b, L (..., q, q) lower triangular, b (..., q)."""
    return jnp.stack(solve_lower_entries(entries(L), _vector_entries(b)), -1)


def solve_upper_transposed(L, b) -> jax.Array:
    """Solve L^T x = b, L (..., q, q) lower triangular, b (..., q)."""
    return jnp.stack(solve_upper_transposed_entries(entries(L), _vector_entries(b)), -1)


def cho_solve(L, b) -> jax.Array:
    """Solve A x = b given A = L L^T; L (..., q, q), b (..., q)."""
    return jnp.stack(cho_solve_entries(entries(L), _vector_entries(b)), -1)


def _vector_entries(b):
    return [b[..., i] for i in range(b.shape[-1])]


def inverse_cholesky_factor(L) -> jax.Array:
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


def semidefinite_cholesky(G: np.ndarray) -> np.ndarray:
    """Lower-triangular L with L Lᵀ = G for a positive *semi*-definite G (a singular fit's).

    Cholesky–Banachiewicz with a zero pivot allowed: a pivot that is 0 (to rounding) gives a
    zero column, which is exact for a singular G; for a positive-definite G this is the Cholesky
    factor.
    """
    q = G.shape[0]
    L = np.zeros_like(G)
    tolerance = 1e-12 * max(float(np.max(np.diag(G))), 1e-300)
    for j in range(q):
        pivot = G[j, j] - L[j, :j] @ L[j, :j]
        if pivot <= tolerance:
            continue
        L[j, j] = np.sqrt(pivot)
        L[j + 1 :, j] = (G[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]
    return L
