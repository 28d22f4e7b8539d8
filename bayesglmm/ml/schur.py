"""The curvature H = −∇²f of the several-factor joint log density (:mod:`.crossed`) in factored form.

H = [[A, C], [Cᵀ, D]]: A block diagonal over the primary levels, C coupling a primary level to
the secondary levels it meets.  Eliminating the primary effects leaves S = D − Cᵀ A⁻¹ C, held
dense (m × m) or, when the primary factor nests in the only other one, as its diagonal blocks;
its derivatives go through :mod:`bayesglmm.core.spd`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.ops import segment_sum

from .. import _jax  # noqa: F401  (float64)
from ..core import smallmat
from ..core.spd import spd_log_det, spd_solve
from .crossed_data import CrossedData, split_secondary


@dataclass
class Curvature:
    """H at the current b in factored form: Cholesky factors of A_i, S and its Cholesky factor,
    and the row weights."""

    weights: jax.Array  # w_r = −∂² log p / ∂η², (n,)
    chol_A: jax.Array  # (n_levels_0, q0, q0)
    S: jax.Array  # the Schur complement D − Cᵀ A⁻¹ C: (m, m), or its blocks (n_levels_1, q1, q1) when nested
    chol_S: jax.Array  # its Cholesky factor, of the same shape
    V: list  # per secondary factor, L_i⁻¹ C_cell for each cell, (cells, q0, q_g)

    @property
    def nested(self) -> bool:
        return self.S.ndim == 3

    def log_det(self) -> jax.Array:
        log_det_S = jnp.sum(smallmat.log_det_from_cholesky(self.chol_S)) if self.nested else spd_log_det(self.S)
        return jnp.sum(smallmat.log_det_from_cholesky(self.chol_A)) + log_det_S

    def solve_S(self, r) -> jax.Array:
        """S⁻¹ r (:func:`spd_solve`; block by block when nested)."""
        if self.nested:
            return smallmat.cho_solve(self.chol_S, r.reshape(self.S.shape[:2])).reshape(-1)
        return spd_solve(self.S, self.chol_S, r)

    def S_inverse(self) -> jax.Array:
        """S⁻¹: dense (m, m), or its diagonal blocks (n_levels_1, q1, q1) when nested."""
        if not self.nested:
            return jax.scipy.linalg.cho_solve((self.chol_S, True), jnp.eye(self.S.shape[0], dtype=self.S.dtype))
        q = self.S.shape[1]
        eye = jnp.broadcast_to(jnp.eye(q), self.S.shape)
        return jnp.stack([smallmat.cho_solve(self.chol_S, eye[..., j]) for j in range(q)], -1)

    def inverse_blocks(self, S_inverse, rows, cols) -> jax.Array:
        """Blocks of ``S_inverse`` (:meth:`S_inverse`) at the row and column indices (p, a) and
        (p, b) of one secondary level each (the same level, all of its block, when nested): (p, a, b)."""
        if self.nested:
            return S_inverse[rows[:, 0] // self.S.shape[1]]
        return S_inverse[rows[:, :, None], cols[:, None, :]]

    def inverse_diagonal(self, S_inverse) -> jax.Array:
        """diag(S⁻¹), (m,), from ``S_inverse`` (:meth:`S_inverse`)."""
        if self.nested:
            return jnp.diagonal(S_inverse, axis1=1, axis2=2).reshape(-1)
        return jnp.diag(S_inverse)


def C_times(u, weights, data: CrossedData) -> jax.Array:
    """C u (n_levels_0, q0): Σ_{r in i} w_r z0_r (s_rᵀ u)."""
    secondary = sum(
        jnp.sum(Z * b[index], axis=-1) for Z, index, b in zip(data.Z[1:], data.index[1:], split_secondary(u, data))
    )
    return segment_sum(
        data.Z[0] * (weights * secondary)[:, None], data.index[0], data.n_levels[0], indices_are_sorted=True
    )


def C_transpose_times(v, weights, data: CrossedData) -> jax.Array:
    """Cᵀ v (m,) for v (n_levels_0, q0): Σ_r w_r (z0_rᵀ v_i(r)) s_r."""
    row = weights * jnp.sum(data.Z[0] * v[data.index[0]], axis=-1)
    parts = [
        segment_sum(Z * row[:, None], index, n) for Z, index, n in zip(data.Z[1:], data.index[1:], data.n_levels[1:])
    ]
    return jnp.concatenate([p.reshape(-1) for p in parts])


def schur_curvature(weights, precisions, data: CrossedData) -> Curvature:
    """Factor H = [[A, C], [Cᵀ, D]] at row weights w: chol(A_i) and chol(S), S = D − Cᵀ A⁻¹ C."""
    Z0, group = data.Z[0], data.index[0]
    A = (
        segment_sum(
            weights[:, None, None] * Z0[:, :, None] * Z0[:, None, :], group, data.n_levels[0], indices_are_sorted=True
        )
        + precisions[0]
    )
    chol_A = smallmat.cholesky(A)
    if data.nested:
        return _nested_curvature(weights, precisions, data, chol_A)
    m, starts = data.n_secondary, data.offsets()
    S = jnp.zeros((m, m), dtype=weights.dtype)
    # D: rows' w z_g z_hᵀ, and G_g⁻¹ on the diagonal blocks of each level.
    columns = [
        start + index[:, None] * Z.shape[1] + jnp.arange(Z.shape[1])
        for start, index, Z in zip(starts, data.index[1:], data.Z[1:])
    ]
    for g, (Zg, cols_g) in enumerate(zip(data.Z[1:], columns)):
        for Zh, cols_h in zip(data.Z[1:], columns):
            S = S.at[cols_g[:, :, None], cols_h[:, None, :]].add(
                weights[:, None, None] * Zg[:, :, None] * Zh[:, None, :]
            )
        q = Zg.shape[1]
        level_cols = starts[g] + jnp.arange(data.n_levels[g + 1])[:, None] * q + jnp.arange(q)
        S = S.at[level_cols[:, :, None], level_cols[:, None, :]].add(precisions[g + 1])
    # Cᵀ A⁻¹ C = Σ_i V_iᵀ V_i with V_i = L_i⁻¹ C_i, accumulated over cells (primary level, level of g).
    whitened_rows = smallmat.solve_lower(chol_A[group], Z0) * weights[:, None]  # w_r L_i⁻¹ z0_r, (n, q0)
    V = [
        segment_sum(whitened_rows[:, :, None] * Z[:, None, :], cells, cell_level.shape[0])
        for Z, cells, cell_level in zip(data.Z[1:], data.cells, data.cell_level)
    ]  # per factor g: (cells_g, q0, q_g)
    for g in range(len(V)):
        qg = data.Z[g + 1].shape[1]
        for h in range(len(V)):
            qh = data.Z[h + 1].shape[1]
            first, second = data.pairs[(g, h)]
            block = jnp.einsum("pag,pah->pgh", V[g][first], V[h][second])
            rows = starts[g] + data.cell_level[g][first][:, None] * qg + jnp.arange(qg)
            cols = starts[h] + data.cell_level[h][second][:, None] * qh + jnp.arange(qh)
            S = S.at[rows[:, :, None], cols[:, None, :]].add(-block)
    S = 0.5 * (S + S.T)
    return Curvature(weights, chol_A, S, jnp.linalg.cholesky(S), V)


def _nested_curvature(weights, precisions, data: CrossedData, chol_A) -> Curvature:
    """S's blocks when nested: per level l of the secondary factor, Σ_rows of l w z₁z₁ᵀ + G₁⁻¹
    minus V_cᵀV_c of the one cell c of each primary level inside l."""
    Z0, Z1, group, level = data.Z[0], data.Z[1], data.index[0], data.index[1]
    n1 = data.n_levels[1]
    D = segment_sum(weights[:, None, None] * Z1[:, :, None] * Z1[:, None, :], level, n1) + precisions[1]
    whitened_rows = smallmat.solve_lower(chol_A[group], Z0) * weights[:, None]
    V = segment_sum(whitened_rows[:, :, None] * Z1[:, None, :], data.cells[0], data.cell_level[0].shape[0])
    S = D - segment_sum(jnp.einsum("cag,cah->cgh", V, V), data.cell_level[0], n1)
    return Curvature(weights, chol_A, S, smallmat.cholesky(S), [V])
