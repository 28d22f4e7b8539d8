"""Random-effects covariance G(theta), G = L L^T, theta the elements of the Cholesky factor L.

G is block diagonal; each block is unstructured, G_b = L_b L_b^T with L_b lower
triangular.  lme4's ``||`` (SAS ``type=vc``) is one 1x1 block per effect.

Two parameterisations of the diagonal of L:

- signed (the default, the one-factor engine): theta is the diagonal itself, of
  either sign.  G is smooth and even in each diagonal element, so a singular G
  (a zero variance, a correlation of ±1) is an ordinary interior point, at
  diagonal 0, that Newton's method reaches in a few steps.  It needs a
  likelihood that stays finite at a singular G: the spherical random effects
  of :mod:`.modes`.  lme4 uses the same elements with a lower bound of 0.
- log (``log_diagonal=True``, the several-factor engine, whose joint mode works
  on the scale of b and needs G⁻¹): the diagonal is exp(theta) (Pinheiro & Bates
  1996, "Unconstrained parametrizations for variance-covariance matrices").  A
  singular G is then infinitely far: an optimiser drifts towards it, log L_jj
  falling by ½ per Newton step.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401


@dataclass(frozen=True)
class CovarianceStructure:
    """Block structure of a q x q covariance; ``blocks`` partitions range(q)."""

    q: int
    blocks: tuple[tuple[int, ...], ...]
    log_diagonal: bool = False

    @property
    def n_theta(self) -> int:
        return sum(len(b) * (len(b) + 1) // 2 for b in self.blocks)

    def _theta_positions(self):
        """(row, col, is_diagonal) of each theta element, block by block, lower triangle row-wise."""
        positions = []
        for block in self.blocks:
            for a, row in enumerate(block):
                for col in block[: a + 1]:
                    positions.append((row, col, row == col))
        return positions

    def cholesky(self, theta) -> jax.Array:
        """Lower-triangular L (q, q) with G = L L^T."""
        rows, cols, diagonal = (np.array(v) for v in zip(*self._theta_positions()))
        values = jnp.where(diagonal, jnp.exp(theta), theta) if self.log_diagonal else theta
        return jnp.zeros((self.q, self.q), dtype=theta.dtype).at[rows, cols].set(values)

    def theta(self, chol_G) -> jax.Array:
        """The inverse of :meth:`cholesky`: theta from a lower-triangular L (positive diagonal
        for ``log_diagonal``)."""
        rows, cols, diagonal = (np.array(v) for v in zip(*self._theta_positions()))
        values = chol_G[rows, cols]
        if not self.log_diagonal:
            return values
        # log only where diagonal: a log of a negative off-diagonal would poison the gradient with NaN
        return jnp.where(diagonal, jnp.log(jnp.where(diagonal, values, 1.0)), values)

    def start_theta(self, sd: np.ndarray) -> np.ndarray:
        """theta for a diagonal G with the given standard deviations."""
        scale = np.log if self.log_diagonal else np.asarray
        return np.array([scale(sd[row]) if diag else 0.0 for row, _, diag in self._theta_positions()])

    def covariance_pairs(self) -> list[tuple[int, int]]:
        """(i, j), i > j, of the covariances that are free (inside one block)."""
        return [(row, col) for row, col, diag in self._theta_positions() if not diag]
