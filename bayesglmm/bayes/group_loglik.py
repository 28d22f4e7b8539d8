"""Each group's marginal log-likelihood at every posterior draw, for leave-one-group-out LOO.

    log p(y_i | β, G, extra) = log ∫ p(y_i | b; β, extra) N(b; 0, G) db

by the ML engine's own adaptive Gauss–Hermite quadrature
(:func:`bayesglmm.core.group_likelihood.group_logliks`, re-centred at the conditional modes of
every draw).  PSIS-LOO on these values leaves out a whole subject; on the conditional
log-likelihood p(y_ij | b_i, …) it leaves out one observation of a subject whose effect b_i the
other observations have pinned down, which is unstable (many Pareto k > 0.7) and answers another
question (Vehtari et al. 2017; Merkle, Furr & Rabe-Hesketh 2019, "Bayesian comparison of latent
variable models: conditional versus marginal likelihoods").

One grouping factor (the integral over crossed factors does not split by group).
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401  (float64)
from ..core.covariance import CovarianceStructure
from ..core.data import distinct_groups, group_patterns, grouped_data
from ..core.group_likelihood import MarginalModel, group_logliks
from ..core.modes import find_modes
from ..core.quadrature import gauss_hermite_grid
from ..model.parameters import BETA_SITE, cholesky_site, innovations_site, sd_site
from ..model.spec import ModelSpec
from .draw_sharding import DrawSharding
from .integrated_program import parameter_vector
from .program import Program, beta_from_sites, correlation_cholesky, extra_from_sites

DRAWS_PER_BATCH = 64  # draws evaluated together: memory (draws x rows x nodes) against dispatch overhead


def group_marginal_logliks(spec: ModelSpec, program: Program, sites: dict, qpoints: int) -> np.ndarray:
    """log p(y_i | draw) for every draw and group (draws, n_groups), groups in the factor's level
    order; ``sites`` are flat draws of the full-latent program's sites (the innovations ``z``,
    the draws' spherical effects, start each mode search near its mode)."""
    (factor,) = program.factors
    structure = CovarianceStructure(len(factor.terms), factor.blocks)
    marginal = MarginalModel(program.family, structure, len(program.fixed_names), "laplace" if qpoints == 1 else "agq")
    g = factor.group
    names = [sd_site(g), *(cholesky_site(g, k) for k in range(len(factor.correlated_blocks)))]
    population = {name: jnp.asarray(sites[name]) for name in names + _family_sites(program) if name in sites}
    population[BETA_SITE] = beta_from_sites(program.priors, sites)

    def phi_of(draw):
        blocks = [draw[cholesky_site(g, k)] for k in range(len(factor.correlated_blocks))]
        extra = extra_from_sites(program.priors, draw)
        return parameter_vector(
            draw[BETA_SITE], draw[sd_site(g)], correlation_cholesky(factor, blocks), extra, marginal
        )

    phis = jax.jit(jax.vmap(phi_of))(population)
    layout = DrawSharding.of(phis.shape[0], DRAWS_PER_BATCH)
    nodes, log_weights = (jnp.asarray(a) for a in gauss_hermite_grid(qpoints, structure.q))
    # groups with identical rows have identical integrals: one per pattern (amenorrhea: 55 of 1151)
    data = grouped_data(spec)
    pattern = group_patterns(data)
    distinct, _, representative = distinct_groups(data, pattern)
    starts = np.asarray(sites[innovations_site(g)])[:, representative]
    values = _sharded_logliks(marginal, layout.batch_size)(
        layout.shard(phis), layout.shard(starts), distinct, nodes, log_weights
    )
    return np.asarray(layout.gather(values))[:, pattern]


@lru_cache(maxsize=16)
def _sharded_logliks(marginal: MarginalModel, batch_size: int):
    """The per-device program (cached: a refit of the same model compiles nothing)."""

    def per_device(phis, starts, data, nodes, log_weights):
        def one(args):
            phi, start = args
            beta, chol_G, extras = marginal.unpack(phi)
            modes = find_modes(data.X @ beta + data.offset, chol_G, extras, data, marginal.family, start)
            return group_logliks(phi, data, marginal, nodes, log_weights, modes)

        return jax.lax.map(one, (phis, starts), batch_size=batch_size)

    return jax.pmap(per_device, in_axes=(0, 0, None, None, None))


def _family_sites(program: Program) -> list[str]:
    priors = program.priors
    return ([priors.extra_name] if priors.sigma is not None else []) + (["zi"] if priors.zi else [])


def loo_qpoints(spec: ModelSpec, program: Program, sites: dict) -> int:
    """The ML engine's automatic number of points (:func:`~bayesglmm.ml.evaluate.qpoints_rule_at`)
    at the posterior means: the full-latent sampler's choice for the marginal log-likelihoods."""
    from ..ml.evaluate import qpoints_rule_at

    (factor,) = program.factors
    g = factor.group
    mean = {name: np.mean(np.asarray(value), axis=0) for name, value in sites.items()}
    blocks = [jnp.asarray(mean[cholesky_site(g, k)]) for k in range(len(factor.correlated_blocks))]
    chol = mean[sd_site(g)][:, None] * np.asarray(correlation_cholesky(factor, blocks))
    extra = extra_from_sites(program.priors, mean)
    qpoints, _ = qpoints_rule_at(
        spec, np.mean(np.asarray(beta_from_sites(program.priors, sites)), axis=0), chol @ chol.T, extra
    )
    return int(qpoints)
