"""The marginal program: NUTS over (β, σ, L) with the random effects integrated out by quadrature.

    β ~ prior;  σ ~ positive prior;  L ~ LKJCholesky(q, η)     (the full-latent program's sites and priors)
    log p(y | β, σ, L) = Σ_i log ∫ p(y_i | b; β) N(b; 0, G) db,    G = diag(σ) L Lᵀ diag(σ)

The integral is the ML engine's own :func:`bayesglmm.core.group_likelihood.group_logliks` (fully
adaptive Gauss–Hermite quadrature, re-centred at the conditional modes for every parameter
value), added to the log density with ``numpyro.factor``.  The sampler then moves in the
p + q(q+1)/2 dimensions of the population parameters only, free of the funnel between the
random effects and their SDs that slows full-latent samplers.  With enough points the
posterior is exact; the quadrature error is measured by raising the points.

The conditional modes are found at every evaluation by damped Newton from ``mode_start``
(the spherical modes at the ML estimates, close to those anywhere in the posterior's bulk).

Groups with identical rows are integrated once and counted as often as they occur
(:func:`~bayesglmm.core.data.distinct_groups`): the sum is the same, and binary outcomes with few
visits repeat few patterns (amenorrhea: 55 integrals per evaluation instead of 1151).

Shared shapes (issue 23): the sampler's programs (NUTS's start, its warm-up and sampling loop, the
Laplace posterior's gradient) are compiled for the shapes of the model's arguments, and they take
the data as arguments (not as constants), so another model of the same structure reuses them when
its arrays have the same shapes. The distinct groups' rows and groups and β are padded to a
:func:`~bayesglmm.core.shapes.stable_shape` (padded groups have no rows and a count of 0; padded
rows sit in no group; β to the next multiple of 4 above p), fixed buckets rather than the ML
engine's choice among the shapes the process has compiled, so that a seed's draws do not depend
on the models fitted before. Unlike the ML engine's, the padded coefficients cannot be held at zero: NUTS moves
in every coordinate of its state. They are sampled with their zero design columns, so the data
say nothing about them and their posterior is their prior, the same proper prior as the model's
coefficients (padding applies only when all coefficients have one proper prior, without brms's
centred intercept): the model's own parameters have exactly the posterior of the unpadded model,
independent of the padded coordinates (tested: the log density to 1e-10, the Laplace posterior's
mode and covariance to the optimiser's tolerance). The draws are not the same *draws* as without padding -- the sampler's path
through a larger space differs -- and the padded coordinates are dropped from everything reported
(:meth:`MarginalProgram.own_sites`), with their prior removed from the log density (``lp``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro

from .. import _jax  # noqa: F401
from ..core.covariance import CovarianceStructure
from ..core.data import GroupedData, distinct_groups, padded_groups, zero_padded
from ..core.group_likelihood import MarginalModel, group_logliks
from ..core.modes import find_modes
from ..core.parameter_map import phi_from_scales
from ..core.quadrature import gauss_hermite_grid
from ..core.shapes import ChunkShape, stable_shape
from ..model.families import Family
from ..model.parameters import BETA_SITE
from .priors import PriorSet
from .program import FactorMeta, family_parameters, fixed_effects, random_effect_scales

FACTOR_SITE = "marginal_loglik"


@dataclass(frozen=True)
class MarginalProgram:
    """A NumPyro program with the random effects integrated out: ``model(**data)``.

    ``data`` (the model's arguments) holds the rows of the distinct groups sorted by group
    (:class:`~bayesglmm.core.data.GroupedData`), how many groups each stands for, the Gauss–Hermite
    grid of ``qpoints`` points per dimension and the Newton start of the modes, padded to shared
    shapes (module docstring).  ``groups`` and ``mode_start`` are every group's rows and start,
    for the random-effect draws.  ``n_fixed``: the model's coefficients, the first ``n_fixed`` of
    the program's β (``marginal.n_fixed`` entries; ``padding_prior`` the padded ones' prior).
    """

    model: object
    data: dict
    marginal: MarginalModel
    qpoints: int
    groups: GroupedData
    mode_start: jax.Array
    n_fixed: int
    padding_prior: object = None  # the padded coefficients' Prior (None: not padded)

    @property
    def padded(self) -> bool:
        return self.marginal.n_fixed > self.n_fixed

    def own_sites(self, sites: dict) -> dict:
        """Draws or values of the program's sites with the padded coefficients dropped from β."""
        if not self.padded or BETA_SITE not in sites:
            return sites
        return {**sites, BETA_SITE: sites[BETA_SITE][..., : self.n_fixed]}

    def padded_sites(self, sites: dict) -> dict:
        """Values of the model's sites with β padded by zeros: a point of the program's space."""
        if not self.padded:
            return sites
        return {**sites, BETA_SITE: zero_padded(np.asarray(sites[BETA_SITE], dtype=float), self.marginal.n_fixed)}

    def padding_log_prior(self, beta_draws) -> np.ndarray:
        """log p(β_padded) at each draw (..., padded β): what the padded coordinates add to the log density."""
        if not self.padded:
            return np.zeros(np.shape(beta_draws)[:-1])
        return np.asarray(_padding_log_prior(self.padding_prior)(jnp.asarray(beta_draws)[..., self.n_fixed :]))


def parameter_vector(beta, sd, chol_corr, extra, marginal: MarginalModel) -> jax.Array:
    """The ML engine's φ of ``marginal`` from the sampled values (:func:`~bayesglmm.core.parameter_map.phi_from_scales`)."""
    return phi_from_scales(beta, sd, chol_corr, extra, marginal.covariance, marginal.family)


def marginal_glmm_model(
    data: GroupedData,
    counts,
    nodes,
    log_weights,
    mode_start,
    *,
    priors: PriorSet,
    factor: FactorMeta,
    family: Family,
    marginal: MarginalModel,
) -> None:
    """The NumPyro model: priors as the full-latent program, the quadrature likelihood as a factor."""
    beta = fixed_effects(priors)
    sd, chol_corr = random_effect_scales(factor, priors)
    extra = family_parameters(family, priors)
    phi = parameter_vector(beta, sd, chol_corr, extra, marginal)
    beta, chol_G, log_dispersion = marginal.unpack(phi)
    modes = find_modes(data.X @ beta + data.offset, chol_G, log_dispersion, data, family, mode_start)
    numpyro.factor(FACTOR_SITE, jnp.sum(counts * group_logliks(phi, data, marginal, nodes, log_weights, modes)))


def compile_marginal_program(
    data: GroupedData,
    factor: FactorMeta,
    priors: PriorSet,
    family: Family,
    n_fixed: int,
    qpoints: int,
    mode_start,
    shared_shapes: bool = True,
    distinct: tuple | None = None,
) -> MarginalProgram:
    """The marginal program for one grouping factor, ``qpoints`` per dimension (1: Laplace);
    ``mode_start`` (n_groups, q) for every group of ``data``; ``shared_shapes``: padded to
    :func:`~bayesglmm.core.shapes.stable_shape` (module docstring), or the data's own shapes;
    ``distinct``: :func:`~bayesglmm.core.data.distinct_groups` of ``data`` when the caller has it."""
    structure = CovarianceStructure(len(factor.terms), factor.blocks)
    distinct, counts, representative = distinct_groups(data) if distinct is None else distinct
    padding_prior = _padding_prior(priors)
    shape = ChunkShape(distinct.y.shape[0], distinct.n_groups, n_fixed)
    shape = stable_shape(shape, padding_prior is not None) if shared_shapes else shape
    padded_priors = replace(priors, beta=priors.beta + (padding_prior,) * (shape.fixed_columns - n_fixed))
    marginal = MarginalModel(family, structure, shape.fixed_columns, "laplace" if qpoints == 1 else "agq")
    nodes, log_weights = gauss_hermite_grid(qpoints, structure.q)
    model = partial(marginal_glmm_model, priors=padded_priors, factor=factor, family=family, marginal=marginal)
    mode_start = np.asarray(mode_start)
    arrays = {
        "data": padded_groups(distinct, shape),
        "counts": jax.device_put(zero_padded(counts.astype(float), shape.groups)),
        "nodes": jax.device_put(nodes),
        "log_weights": jax.device_put(log_weights),
        "mode_start": jax.device_put(zero_padded(mode_start[representative], shape.groups, axis=0)),
    }
    padded = padding_prior if shape.fixed_columns > n_fixed else None
    return MarginalProgram(model, arrays, marginal, qpoints, data, jax.device_put(mode_start), n_fixed, padded)


@lru_cache(maxsize=8)
def _padding_log_prior(prior):
    """Σ_k log p(β_k) over the last axis, one compiled program (op by op: ten small compilations)."""
    return jax.jit(lambda padded: jnp.sum(prior.distribution().log_prob(padded), axis=-1))


def _padding_prior(priors: PriorSet):
    """The prior of padded coefficients: the coefficients' one proper prior, or None (no padding)
    when they have several, or brms's flat prior, or its centred intercept (module docstring)."""
    if priors.centring is not None or len(set(priors.beta)) != 1 or priors.beta[0].family == "flat":
        return None
    return priors.beta[0]
