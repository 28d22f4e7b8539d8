"""Alternating logistic regression (Carey, Zeger & Diggle 1993) for binary clustered responses.

The association is a log odds ratio per pair of occasions j < k, ψ_jk = z_jkᵀ α: one α for
all pairs (``alr-exch``) or one per pair (``alr-fullclust``, SAS ``logor=fullclust``).
Given the marginal means μ_j, μ_k and the odds ratio Ψ = e^ψ, the joint probability is
(Lipsitz, Laird & Harrington 1991)

    p11 = [a − √(a² − 4Ψ(Ψ − 1) μ_j μ_k)] / [2(Ψ − 1)],   a = 1 + (μ_j + μ_k)(Ψ − 1)

(μ_j μ_k when Ψ = 1). The two alternating steps:

  β: GEE with working covariance v_jj = μ_j(1 − μ_j), v_jk = p11_jk − μ_j μ_k (scale 1);
  α: logistic regression of y_j on y_k z_jk with offset log[(μ_j − p11)/(1 − μ_j − μ_k + p11)],
     i.e. E(y_j | y_k) = ζ_jk = expit(ψ_jk y_k + offset_jk), solving Σ y_k z_jk (y_j − ζ_jk) = 0.

Covariance of (β̂, α̂): the sandwich A⁻¹ (Σ_i u_i u_iᵀ) A⁻ᵀ with the block-triangular A of
the two estimating equations: H = Σ DᵀV⁻¹D for β and, for the α equation, its full
derivative in (β, α) by automatic differentiation (α and β enter ζ through the offsets as
well as through ψ; the Fisher-scoring weights of the α step omit that and would understate
the SEs by half).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .. import _jax  # noqa: F401  (float64)
import jax
import jax.numpy as jnp

from ..errors import ConvergenceWarning, SpecError
from .estimating import score_pieces


def _pairs(T: int):
    j, k = np.triu_indices(T, 1)
    return jnp.asarray(j), jnp.asarray(k)


def joint_success(mu_j, mu_k, log_or):
    """P(y_j = 1, y_k = 1) from the marginal means and the log odds ratio (see the module docstring)."""
    odds_ratio = jnp.exp(log_or)
    near_one = jnp.abs(log_or) < 1e-8
    safe = jnp.where(near_one, 2.0, odds_ratio)  # keeps the unused branch (and its gradient) finite
    a = 1.0 + (mu_j + mu_k) * (safe - 1.0)
    root = jnp.sqrt(jnp.maximum(a * a - 4.0 * safe * (safe - 1.0) * mu_j * mu_k, 0.0))
    return jnp.where(near_one, mu_j * mu_k, (a - root) / (2.0 * (safe - 1.0)))


def _means(beta, X, offset):
    return jax.nn.sigmoid(X @ beta + offset)


def _association_design(structure: str, T: int) -> np.ndarray:
    """z_jk for every pair j < k: a column of ones (exch) or the pair's indicator (fullclust)."""
    n_pairs = T * (T - 1) // 2
    return np.ones((n_pairs, 1)) if structure == "alr-exch" else np.eye(n_pairs)


@jax.jit
def alpha_scores(beta, alpha, X, offset, y, pair_mask, Z):
    """Per-cluster α scores Σ_{j<k} y_k z_jk (y_j − ζ_jk) (m, q) and their weights y_k² ζ(1 − ζ) (m, P)."""
    j, k = _pairs(X.shape[1])
    mu = _means(beta, X, offset)
    log_or = Z @ alpha
    p11 = joint_success(mu[:, j], mu[:, k], log_or)
    offset_jk = jnp.log(jnp.clip(mu[:, j] - p11, 1e-300)) - jnp.log(jnp.clip(1.0 - mu[:, j] - mu[:, k] + p11, 1e-300))
    zeta = jax.nn.sigmoid(log_or * y[:, k] + offset_jk)
    residual = jnp.where(pair_mask, y[:, k] * (y[:, j] - zeta), 0.0)
    weight = jnp.where(pair_mask, y[:, k] ** 2 * zeta * (1.0 - zeta), 0.0)
    return residual @ Z, weight


@jax.jit
def working_covariance(beta, alpha, X, offset, mask, Z):
    """V_i of the β step (μ(1 − μ) on the diagonal, p11 − μ_j μ_k off it), μ, and dμ/dη (0 in empty slots)."""
    T = X.shape[1]
    j, k = _pairs(T)
    mu = _means(beta, X, offset)
    cov = joint_success(mu[:, j], mu[:, k], Z @ alpha) - mu[:, j] * mu[:, k]
    V = jnp.zeros((X.shape[0], T, T)).at[:, j, k].set(cov).at[:, k, j].set(cov)
    slope = mu * (1.0 - mu)  # logit link: dμ/dη = v(μ)
    return V + jax.vmap(jnp.diag)(slope), mu, jnp.where(mask, slope, 0.0)


def solve_alr(spec, layout, structure: str, max_iter: int, tol: float) -> dict:
    """Alternate one scoring step for β and one for α until both settle; then the joint sandwich."""
    if spec.family.name != "bernoulli" or spec.family.link != "logit":
        raise SpecError("alternating logistic regression needs a binary response with the logit link "
                        "(family='bernoulli'); for counts or proportions use exchangeable or unstructured GEE")
    T = layout.n_occasions
    if T < 2:
        raise SpecError("alternating logistic regression needs clusters with at least two occasions")
    X, offset, y = (jnp.asarray(a) for a in (layout.X, layout.offset, layout.y))
    mask = jnp.asarray(layout.mask)
    j, k = _pairs(T)
    pair_mask = mask[:, j] & mask[:, k]
    if structure == "alr-fullclust" and bool((~pair_mask).all(axis=0).any()):
        raise SpecError("some pair of occasions is never observed together: logor=fullclust cannot estimate its "
                        "odds ratio; use alr-exch")
    Z = jnp.asarray(_association_design(structure, T))
    beta, alpha, converged = jnp.zeros(X.shape[-1]), jnp.zeros(Z.shape[1]), False
    for iteration in range(1, max_iter + 1):
        V, mu, dmu = working_covariance(beta, alpha, X, offset, mask, Z)
        U, H = score_pieces(X, dmu, V, y - mu, mask)
        beta_step = jnp.linalg.solve(H, U.sum(axis=0))
        beta = beta + beta_step
        scores, weight = alpha_scores(beta, alpha, X, offset, y, pair_mask, Z)
        alpha_step = jnp.linalg.solve(jnp.einsum("ip,pq,pr->qr", weight, Z, Z), scores.sum(axis=0))
        alpha = alpha + alpha_step
        size = float(jnp.maximum(jnp.max(jnp.abs(beta_step)), jnp.max(jnp.abs(alpha_step))))
        if size < tol * (1.0 + float(jnp.max(jnp.abs(jnp.concatenate([beta, alpha]))))):
            converged = True
            break
    if not converged:
        warnings.warn(f"alternating logistic regression did not converge in {max_iter} iterations: "
                      "an odds ratio may be at 0 or infinity (a pair of occasions with an empty 2x2 cell); "
                      "try alr-exch", ConvergenceWarning, stacklevel=3)
    V, mu, dmu = working_covariance(beta, alpha, X, offset, mask, Z)
    U_beta, H_beta = score_pieces(X, dmu, V, y - mu, mask)
    U_alpha = alpha_scores(beta, alpha, X, offset, y, pair_mask, Z)[0]
    # the α equation's full derivative: α and β enter ζ through ψ and through the offsets (p11)
    total = lambda b, a: alpha_scores(b, a, X, offset, y, pair_mask, Z)[0].sum(axis=0)  # noqa: E731
    cross, H_alpha = jax.jacfwd(total, argnums=(0, 1))(beta, alpha)
    p, q = H_beta.shape[0], alpha.shape[0]
    A = jnp.block([[H_beta, jnp.zeros((p, q))], [-cross, -H_alpha]])
    u = jnp.concatenate([U_beta, U_alpha], axis=1)
    A_inv = jnp.linalg.inv(A)
    cov = np.asarray(A_inv @ (u.T @ u) @ A_inv.T)
    labels = layout.occasion_labels
    names = ["logor"] if structure == "alr-exch" else [f"logor[{labels[a]},{labels[b]}]" for a, b in zip(np.asarray(j), np.asarray(k))]
    association = pd.DataFrame({"estimate": np.asarray(alpha), "se": np.sqrt(np.diag(cov)[p:])}, index=names)
    return {"beta": np.asarray(beta), "H": np.asarray(H_beta), "U": np.asarray(U_beta), "cov_robust": cov[:p, :p],
            "scale": 1.0, "association": association, "working_correlation": None, "iterations": iteration,
            "converged": converged}
