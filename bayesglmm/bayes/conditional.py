"""Draws of the random effects from their exact conditional posterior, given population draws.

For a posterior draw (β, G) of the marginal sampler, the random effects of group i have the
conditional posterior  p(b_i | y_i, β, G) ∝ exp f_i(b),  f_i(b) = Σ_r log p(y_r | η_r(b)) + log N(b; 0, G).
The chains run on the spherical random effects u, b = Λu with Λ = chol(G) (:mod:`bayesglmm.core.modes`),
whose conditional is exp f_i(u), f_i(u) = Σ_r log p(y_r | η_r(Λu)) + log N(u; 0, I).  Each group
runs an independence Metropolis–Hastings chain (Tierney 1994) whose proposal is a multivariate
Student-t with ν = 4 degrees of freedom centred at the conditional mode û_i with scale L_i,
L_i L_iᵀ = H_i⁻¹ (the Laplace approximation, with heavier tails so that the weight p/proposal
stays bounded):

    u' = û_i + L_i t,  t ~ t_ν(0, I);   accept with probability min(1, w(u') / w(u)),
    w(u) = exp f_i(u) / t_ν(L_i⁻¹ (u − û_i)),

and the draw is b = Λu.
The chain starts from a proposal draw and its state after ``steps`` steps is the draw: its
distance to the exact conditional falls geometrically with the number of steps, at a rate set by
the rejection probability, reported as the acceptance rate.  The modes and H_i come from the ML
engine's Newton solver (:mod:`bayesglmm.core.modes`).
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401
from ..core import smallmat
from ..core.data import GroupedData
from ..core.modes import differentiable_modes, find_modes, joint_log_density
from ..model.families import Family
from .draw_sharding import DrawSharding

PROPOSAL_DF = 4


def _log_student_t_kernel(t, df):
    """log t_ν(t; 0, I) up to its constant, t (..., q)."""
    q = t.shape[-1]
    return -0.5 * (df + q) * jnp.log1p(jnp.sum(t**2, axis=-1) / df)


def _student_t(key, shape, df: int):
    """Standard multivariate Student-t draws (shape) = (..., q): a normal over sqrt(χ²_ν / ν).

    χ²_ν as a sum of ν squared normals (ν whole): no rejection loop as in a gamma sampler.
    """
    normal = jax.random.normal(key, shape[:-1] + (shape[-1] + df,))
    chi2 = jnp.sum(normal[..., shape[-1] :] ** 2, axis=-1)
    return normal[..., : shape[-1]] / jnp.sqrt(chi2 / df)[..., None]


def conditional_draw(
    key, beta, chol_G, log_dispersion, data: GroupedData, family: Family, mode_start, steps: int
) -> tuple[jax.Array, jax.Array]:
    """One draw of every group's random effects b (n_groups, q) at one (β, G), and the acceptance rate.

    ``mode_start``: spherical modes (n_groups, q) to start the Newton iteration from.
    """
    eta_fixed = data.X @ beta + data.offset
    modes = find_modes(eta_fixed, chol_G, log_dispersion, data, family, mode_start)
    u_hat, hessian = differentiable_modes(modes, eta_fixed, chol_G, log_dispersion, data, family)
    scale = smallmat.inverse_cholesky_factor(smallmat.cholesky(hessian))

    def propose(key):
        t = _student_t(key, u_hat.shape, PROPOSAL_DF)
        u = u_hat + jnp.einsum("mij,mj->mi", scale, t)
        log_weight = joint_log_density(u, eta_fixed, chol_G, log_dispersion, data, family) - _log_student_t_kernel(
            t, PROPOSAL_DF
        )
        return u, log_weight

    def step(state, key):
        u, log_weight = state
        proposal_key, accept_key = jax.random.split(key)
        u_new, log_weight_new = propose(proposal_key)
        log_uniform = jnp.log(jax.random.uniform(accept_key, log_weight.shape))
        accept = log_uniform < log_weight_new - log_weight
        state = (jnp.where(accept[:, None], u_new, u), jnp.where(accept, log_weight_new, log_weight))
        return state, jnp.mean(accept)

    start_key, *step_keys = jax.random.split(key, steps + 1)
    (u, _), accepted = jax.lax.scan(step, propose(start_key), jnp.stack(step_keys))
    return smallmat.matvec(chol_G, u), jnp.mean(accepted)


def conditional_draws(
    key,
    betas,
    chol_Gs,
    log_dispersions,
    data: GroupedData,
    family: Family,
    mode_start,
    steps: int = 20,
    batch_size: int = 32,
) -> tuple[jax.Array, jax.Array]:
    """Random-effect draws (S, n_groups, q) for S population draws, and the mean acceptance rate.

    ``betas`` (S, p), ``chol_Gs`` (S, q, q), ``log_dispersions`` (S,).  The draws are split over
    all local devices (CPU host devices run on separate cores) and evaluated at most ``batch_size``
    at a time on each to bound memory, in equal batches.
    """
    layout = DrawSharding.of(betas.shape[0], batch_size)
    keys = jax.random.split(key, layout.total)
    shard = layout.shard
    b, accepted = _sharded_draws(family, steps, layout.batch_size)(
        shard(keys), shard(betas), shard(chol_Gs), shard(log_dispersions), data, mode_start
    )
    return layout.gather(b), np.mean(layout.gather(accepted))


@lru_cache(maxsize=16)
def _sharded_draws(family: Family, steps: int, batch_size: int):
    """The per-device program: ``conditional_draw`` mapped over that device's draws."""

    def per_device(keys, betas, chol_Gs, log_dispersions, data, mode_start):
        def one(args):
            key, beta, chol_G, log_dispersion = args
            return conditional_draw(key, beta, chol_G, log_dispersion, data, family, mode_start, steps)

        return jax.lax.map(one, (keys, betas, chol_Gs, log_dispersions), batch_size=batch_size)

    return jax.pmap(per_device, in_axes=(0, 0, 0, 0, None, None))
