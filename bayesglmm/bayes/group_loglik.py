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

from dataclasses import replace
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401  (float64)
from ..core.covariance import CovarianceStructure
from ..core.data import distinct_groups, group_patterns, grouped_data, padded_groups, zero_padded
from ..core.distinct_rule import rule_on_distinct
from ..core.group_likelihood import MarginalModel, group_logliks
from ..core.modes import find_modes
from ..core.quadrature import gauss_hermite_grid
from ..core.shapes import ChunkShape, stable_shape
from ..model.parameters import BETA_SITE, cholesky_site, innovations_site, sd_site
from ..model.spec import ModelSpec
from .draw_sharding import DrawSharding
from .integrated_program import parameter_vector
from .program import Program, beta_from_sites, correlation_cholesky, extra_from_sites


def group_marginal_logliks(spec: ModelSpec, program: Program, sites: dict, qpoints: int | None) -> np.ndarray:
    """log p(y_i | draw) for every draw and group (draws, n_groups), groups in the factor's level
    order; ``sites`` are flat draws of the full-latent program's sites (the innovations ``z``,
    the draws' spherical effects, start each mode search near its mode).  ``qpoints`` None: the
    rule's number at the posterior means (:func:`loo_rule_at_means`)."""
    # groups with identical rows have identical integrals: one per pattern (amenorrhea: 55 of 1151)
    data = grouped_data(spec)
    pattern = group_patterns(data)
    distinct, counts, representative = distinct_groups(data, pattern)
    if qpoints is None:
        qpoints = _rule_on_distinct(program, sites, distinct, counts)[0]
    (factor,) = program.factors
    marginal = _marginal_model(program, "laplace" if qpoints == 1 else "agq")
    structure = marginal.covariance
    g = factor.group
    names = [sd_site(g), *(cholesky_site(g, k) for k in range(len(factor.correlated_blocks)))]
    population = {name: jnp.asarray(sites[name]) for name in names + _family_sites(program) if name in sites}
    beta = beta_from_sites(program.priors, sites)
    starts = np.asarray(sites[innovations_site(g)])[:, representative]
    n_distinct = distinct.n_groups
    # shared shapes (:func:`~bayesglmm.core.shapes.stable_shape`): other formulas on these data reuse the program
    shape = stable_shape(ChunkShape(distinct.y.shape[0], n_distinct, marginal.n_fixed))
    distinct = padded_groups(distinct, shape)
    marginal = replace(marginal, n_fixed=shape.fixed_columns)
    starts = zero_padded(starts, shape.groups, axis=1)
    population[BETA_SITE] = zero_padded(beta, shape.fixed_columns)

    def phi_of(draw):
        blocks = [draw[cholesky_site(g, k)] for k in range(len(factor.correlated_blocks))]
        extra = extra_from_sites(program.priors, draw)
        return parameter_vector(
            draw[BETA_SITE], draw[sd_site(g)], correlation_cholesky(factor, blocks), extra, marginal
        )

    phis = jax.jit(jax.vmap(phi_of))(population)
    layout = DrawSharding.of(phis.shape[0], 1)
    nodes, log_weights = (jnp.asarray(a) for a in gauss_hermite_grid(qpoints, structure.q))
    values = _sharded_logliks(marginal)(layout.shard(phis), layout.shard(starts), distinct, nodes, log_weights)
    return np.asarray(layout.gather(values))[:, :n_distinct][:, pattern]


@lru_cache(maxsize=16)
def _sharded_logliks(marginal: MarginalModel):
    """The per-device program (cached: a refit of the same model compiles nothing).  Each device
    takes its draws one at a time (a scan): batches of draws (a ``vmap`` of the mode search's
    while loop inside the scan) took twice as long to compile and ran slower
    (docs/measurements.md)."""

    def per_device(phis, starts, data, nodes, log_weights):
        def one(args):
            phi, start = args
            beta, chol_G, extras = marginal.unpack(phi)
            modes = find_modes(data.X @ beta + data.offset, chol_G, extras, data, marginal.family, start)
            return group_logliks(phi, data, marginal, nodes, log_weights, modes)

        return jax.lax.map(one, (phis, starts))

    return jax.pmap(per_device, in_axes=(0, 0, None, None, None))


def _marginal_model(program: Program, method: str = "agq") -> MarginalModel:
    """The ML engine's model of ``program``'s one grouping factor."""
    (factor,) = program.factors
    structure = CovarianceStructure(len(factor.terms), factor.blocks)
    return MarginalModel(program.family, structure, len(program.fixed_names), method)


def _family_sites(program: Program) -> list[str]:
    priors = program.priors
    return ([priors.extra_name] if priors.sigma is not None else []) + (["zi"] if priors.zi else [])


def loo_qpoints(spec: ModelSpec, program: Program, sites: dict) -> int:
    """The number of points of :func:`loo_rule_at_means`."""
    return loo_rule_at_means(spec, program, sites)[0]


def loo_rule_at_means(spec: ModelSpec, program: Program, sites: dict) -> tuple[int, dict[int, float]]:
    """The ML engine's automatic number of points (:mod:`bayesglmm.core.point_rule`, with the ML
    options' defaults) at the posterior means: the full-latent sampler's choice for the marginal
    log-likelihoods, and the rule's table of −2ℓ by number of points.

    −2ℓ is evaluated by :func:`~bayesglmm.core.distinct_rule.rule_deviance`, one small program over the distinct groups at one
    φ, not by the ML engine's objective: a full-latent fit has compiled no ML program, and this
    one, without the objective's chunks and derivatives and at XLA's quickest optimisation level,
    compiles in two thirds of its time (docs/measurements.md; benchmarks/loo_overhead.py)."""
    distinct, counts, _ = distinct_groups(grouped_data(spec))
    return _rule_on_distinct(program, sites, distinct, counts)


def _rule_on_distinct(program: Program, sites: dict, distinct, counts: np.ndarray) -> tuple[int, dict[int, float]]:
    """:func:`loo_rule_at_means` on the distinct groups (``distinct``, each standing for ``counts`` groups)."""
    beta, G, extra = _natural_at_means(program, sites)
    return rule_on_distinct(program.family, _marginal_model(program).covariance, beta, G, extra, distinct, counts)


def _natural_at_means(program: Program, sites: dict) -> tuple[np.ndarray, np.ndarray, object]:
    """(β, G, extra) at the posterior means of the sites: G = diag(sd) C Cᵀ diag(sd) from the mean
    SDs and the mean correlation Cholesky factor C of each block.  On the host in numpy: the same
    steps as JAX operations outside a program compile one small program each (18 here, 0.3 s)."""
    (factor,) = program.factors
    g = factor.group
    needed = [sd_site(g), *(cholesky_site(g, k) for k in range(len(factor.correlated_blocks)))]
    needed += [BETA_SITE] + _family_sites(program)
    mean = {name: np.mean(np.asarray(sites[name]), axis=0) for name in needed if name in sites}
    correlation = np.eye(len(factor.terms))
    for k, block in enumerate(factor.correlated_blocks):
        chol = mean[cholesky_site(g, k)]
        correlation[np.ix_(block, block)] = chol @ chol.T
    sd = mean[sd_site(g)]
    if BETA_SITE in sites:
        beta = mean[BETA_SITE]
    else:  # the Laplace posterior's draws of a centred intercept
        beta = np.mean(np.asarray(beta_from_sites(program.priors, sites)), axis=0)
    return beta, correlation * np.outer(sd, sd), extra_from_sites(program.priors, mean)
