"""The one map between the engines' parameter vector φ and the natural parameters (β, G, extra).

    φ = (β (p), θ (the elements of chol G by blocks, :mod:`.covariance`), the family's tail)

The tail holds the family's extra parameters on their unconstrained scale
(:meth:`~bayesglmm.model.families.Family.extras_vector`: log σ, log shape, the zero-inflation
coefficients); the engines read it as one value (:meth:`~bayesglmm.model.families.Family.extras_from`)
and the family turns that into its natural ``extra`` (:meth:`~bayesglmm.model.families.Family.extra_value`).
The ML engine optimises φ; the samplers hold β, the SDs and the correlation matrix's Cholesky
factor, whose product is chol G (:func:`phi_from_scales`, :func:`scales_from_cholesky`). Everything
that turns one of these forms into another goes through this module; the common names of the
parameters live in :mod:`bayesglmm.model.parameters`, the samplers' site names there too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..model.families import Family
from .covariance import CovarianceStructure
from .smallmat import semidefinite_cholesky


def unpack(phi, n_fixed: int, covariances: tuple[CovarianceStructure, ...], family: Family) -> tuple:
    """φ -> (β, (chol G_g of each grouping factor, in order), the family's value in the engines);
    with several factors φ holds each factor's θ_g in turn (:mod:`bayesglmm.ml.crossed`)."""
    position, cholesky = n_fixed, []
    for covariance in covariances:
        cholesky.append(covariance.cholesky(phi[position : position + covariance.n_theta]))
        position += covariance.n_theta
    return phi[:n_fixed], tuple(cholesky), family.extras_from(phi[position:])


def phi_from_natural(covariance: CovarianceStructure, beta, G, extra=None, family: Family | None = None) -> np.ndarray:
    """φ from natural values (numpy): β, the covariance G (q, q) (a semidefinite Cholesky factor per
    block, so a singular G maps to the boundary θ), and with ``family`` its natural ``extra``
    (the Gaussian σ, the NB2 shape, …; for zero inflation (shape or None, zi coefficients)); without
    ``family``, ``extra`` is a residual SD σ and the tail log σ."""
    G = np.asarray(G, dtype=float)
    chol_G = np.zeros_like(G)
    for block in covariance.blocks:
        chol_G[np.ix_(block, block)] = semidefinite_cholesky(G[np.ix_(block, block)])
    theta = np.asarray(covariance.theta(chol_G))
    if family is not None:
        tail = np.asarray(family.extras_vector(extra)) if family.n_extra else []
    else:
        tail = [] if extra is None else [np.log(extra)]
    return np.concatenate([np.asarray(beta, dtype=float), theta, tail])


def phi_from_scales(beta, sd, chol_corr, extra, covariance: CovarianceStructure, family: Family) -> jax.Array:
    """φ (JAX, differentiable) from the samplers' values: β, the SDs (q,), the correlation matrix's
    Cholesky factor (q, q) (chol G = diag(sd) chol_corr) and the family's natural ``extra``."""
    parts = [beta, covariance.theta(cholesky_from_scales(sd, chol_corr))]
    if family.n_extra:
        parts.append(family.extras_vector(extra))
    return jnp.concatenate(parts)


def cholesky_from_scales(sd, chol_corr) -> jax.Array:
    """chol G = diag(sd) · chol R from the SDs (..., q) and the correlation matrix's Cholesky factor
    (..., q, q), for one draw or a batch."""
    return sd[..., :, None] * chol_corr


def scales_from_cholesky(chol_G) -> tuple[np.ndarray, np.ndarray]:
    """(SDs, correlation matrix) of G = Λ Λᵀ from any square root Λ with rows z_r: sd_r = |z_r|,
    R = Λ Λᵀ / (sd sdᵀ) (numpy; an SD of zero gives NaN correlations in its row, as G has none)."""
    chol_G = np.asarray(chol_G)
    sd = np.sqrt(np.sum(chol_G**2, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sd, (chol_G @ chol_G.T) / np.outer(sd, sd)
