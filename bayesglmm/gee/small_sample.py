"""Small-sample corrections of the GEE sandwich: Mancl & DeRouen (2001) and Kauermann & Carroll (2001).

The robust covariance B⁻¹ (Σ_i u_i u_iᵀ) B⁻¹, u_i = D_iᵀ V_i⁻¹ r_i, B = Σ_i D_iᵀ V_i⁻¹ D_i, is biased
downwards with few clusters because each residual r_i is shrunk by its cluster's leverage. In
the whitened form D̃_i = V_i^{-1/2} D_i, r̃_i = V_i^{-1/2} r_i, H̃_ii = D̃_i B⁻¹ D̃_iᵀ (the cluster's
hat matrix), the corrections replace u_i by

    Mancl–DeRouen (clubSandwich CR3)                                  u_i = D̃_iᵀ (I − H̃_ii)⁻¹ r̃_i
    Kauermann–Carroll                                                 u_i = D̃_iᵀ (I − H̃_ii)^{-1/2} r̃_i

(the symmetric inverse square root). Both grow the SEs and tend to the uncorrected sandwich as
the clusters grow (each H̃_ii → 0). Checked against R's clubSandwich at the independence working
correlation, where GEE is a GLM: Mancl–DeRouen equals its CR3 to 1e-6; Kauermann–Carroll is
within 0.1% of its CR2 (Bell & McCaffrey's, whose square root is taken in another metric), and
the uncorrected sandwich equals CR0 (tests/gee/test_small_sample.py).

MBN (Morel, Bokossa & Neerchal 2003), as SAS GLIMMIX ``EMPIRICAL=MBN`` defines it, with Ω = B⁻¹
and M = Σ_i u_i u_iᵀ: :func:`bayesglmm.core.sandwich.mbn_covariance` (formula there). No external
value was available to check it against (SAS was not at hand); its test checks the formula's
pieces and that it fades as clusters grow.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401  (float64)
from ..core.sandwich import mbn_covariance


def _inverse_root(matrix):
    """The symmetric matrix^{-1/2} (NaN where the matrix is not positive definite)."""
    values, vectors = jnp.linalg.eigh(0.5 * (matrix + matrix.T))
    root = jnp.where(values > 0, 1.0 / jnp.sqrt(jnp.where(values > 0, values, 1.0)), jnp.nan)
    return (vectors * root) @ vectors.T


@jax.jit
def _scores(X, dmu, V, residual, mask, B_inv):
    both = mask[:, :, None] & mask[:, None, :]
    V = jnp.where(both, V, jnp.eye(V.shape[-1]))
    D = dmu[..., None] * X
    r = jnp.where(mask, residual, 0.0)

    def one(D_i, V_i, r_i):
        W = _inverse_root(V_i)
        Dt, rt = W @ D_i, W @ r_i
        leverage = jnp.eye(V_i.shape[0]) - Dt @ B_inv @ Dt.T
        md = Dt.T @ jnp.linalg.solve(leverage, rt)
        kc = Dt.T @ (_inverse_root(leverage) @ rt)
        return md, kc

    return jax.vmap(one)(D, V, r)


def corrected_covariances(X, dmu, V, residual, mask, H, U) -> dict[str, np.ndarray]:
    """``{"md", "kc", "mbn"}``: the corrected sandwiches (p, p) of the module docstring.

    Shapes: X (m, T, p), dmu / residual / mask (m, T), V (m, T, T) working covariances, H (p, p) = B,
    U (m, p) the uncorrected per-cluster scores.
    """
    B_inv = jnp.linalg.inv(jnp.asarray(H))
    md, kc = _scores(*(jnp.asarray(a) for a in (X, dmu, V, residual)), jnp.asarray(mask), B_inv)
    covariances = {name: np.asarray(B_inv @ (u.T @ u) @ B_inv) for name, u in (("md", md), ("kc", kc))}
    U = np.asarray(U)
    covariances["mbn"] = mbn_covariance(np.asarray(B_inv), U.T @ U, int(np.asarray(mask).sum()), U.shape[0])
    return covariances
