"""The ModelSpec compiled to a NumPyro program (full latent: every random effect is sampled).

    β ~ prior;  for each grouping factor g and each of its covariance blocks:
        σ_g ~ positive prior (one per term),  L_g ~ LKJCholesky(q_block, η) (correlated blocks),
        z_gi ~ N(0, I),  b_gi = diag(σ_g) L_g z_gi            (non-centred);
    η_r = x_r β + o_r + Σ_g z_gr^T b_{g, level(r)};   y_r ~ family(η_r)    (vectorised over rows)

The program is a plain function: ``Program.model(**Program.data)`` runs it, so a user can hand
it to any NumPyro inference algorithm.  Correlation matrices (``corr_g`` = L Lᵀ) and random
effects (``b_g``) are recorded as deterministic sites.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from .. import _jax  # noqa: F401
from ..errors import SpecError
from ..model.families import Family
from ..model.parameters import (
    BETA_SITE,
    CENTRED_INTERCEPT_SITE,
    CENTRED_SLOPES_SITE,
    cholesky_site,
    common_name,
    corr_site,
    correlation_pairs,
    effects_site,
    innovations_site,
    sd_site,
)
from ..model.spec import ModelSpec
from .priors import Prior, PriorSet, resolve_priors


@dataclass(frozen=True)
class FactorMeta:
    """Static description of one grouping factor's random effects."""

    group: str
    terms: tuple[str, ...]
    levels: tuple[str, ...]
    blocks: tuple[tuple[int, ...], ...]

    @property
    def correlated_blocks(self) -> tuple[tuple[int, ...], ...]:
        """Blocks with more than one effect: each has an LKJ-distributed correlation factor."""
        return tuple(block for block in self.blocks if len(block) > 1)


@dataclass(frozen=True)
class Program:
    """A compiled NumPyro program: ``model(**data)`` (``y=None`` samples the response)."""

    model: object
    data: dict
    priors: PriorSet
    factors: tuple[FactorMeta, ...]
    fixed_names: tuple[str, ...]
    family: Family


def fixed_effects(priors: PriorSet) -> jax.Array:
    """Sample β with its priors: one vector site, or with brms's centred intercept
    (:class:`~.priors.Centring`) the centred intercept α and the other coefficients b as sites and
    β = (α − x̄ᵀb at the intercept, b elsewhere) as a deterministic one."""
    centring = priors.centring
    if centring is None:
        return numpyro.sample(BETA_SITE, vector_distribution(priors.beta, "beta"))
    k = centring.index
    alpha = numpyro.sample(CENTRED_INTERCEPT_SITE, priors.beta[k].distribution())
    others = [j for j in range(len(priors.beta)) if j != k]
    if not others:
        return numpyro.deterministic(BETA_SITE, alpha[..., None])
    b = numpyro.sample(CENTRED_SLOPES_SITE, vector_distribution(tuple(priors.beta[j] for j in others), "beta"))
    return numpyro.deterministic(BETA_SITE, _uncentred(alpha, b, centring))


def _uncentred(alpha, b, centring) -> jax.Array:
    """β from the centred intercept α and the other coefficients b: β₀ = α − x̄ᵀb, inserted at the intercept's column."""
    k = centring.index
    intercept = alpha - b @ jnp.asarray(np.delete(np.asarray(centring.means), k))
    return jnp.concatenate([b[..., :k], intercept[..., None], b[..., k:]], axis=-1)


def fixed_effect_sites(priors: PriorSet, beta) -> dict:
    """The sampled sites of :func:`fixed_effects` at a value of β (its inverse): for starts."""
    beta = np.asarray(beta, dtype=float)
    centring = priors.centring
    if centring is None:
        return {BETA_SITE: beta}
    k = centring.index
    others = np.delete(beta, k, axis=-1)
    alpha = beta[..., k] + others @ np.delete(np.asarray(centring.means), k)
    return {CENTRED_INTERCEPT_SITE: alpha, **({CENTRED_SLOPES_SITE: others} if others.shape[-1] else {})}


def beta_from_sites(priors: PriorSet, sites: dict) -> jax.Array:
    """β from draws of the sampled sites (leading draw axes kept), or the deterministic β itself
    where the draws carry it (the samplers' output; the Laplace posterior's draws do not)."""
    if BETA_SITE in sites:
        return jnp.asarray(sites[BETA_SITE])
    alpha = jnp.asarray(sites[CENTRED_INTERCEPT_SITE])
    if CENTRED_SLOPES_SITE not in sites:
        return alpha[..., None]
    return _uncentred(alpha, jnp.asarray(sites[CENTRED_SLOPES_SITE]), priors.centring)


def vector_distribution(priors: tuple[Prior, ...], name: str) -> dist.Distribution:
    """One NumPyro distribution for a vector of parameters (β, a factor's SDs, zi coefficients):
    one batched distribution when every entry has the same prior family, else their product
    (:class:`IndependentPriors`; :func:`~.priors.resolve_priors` has checked that they share a support)."""
    families = {prior.family for prior in priors}
    if len(families) > 1:
        return IndependentPriors([prior.distribution() for prior in priors])
    if families == {"flat"}:
        return dist.ImproperUniform(constraints.real, (), (len(priors),))
    args = tuple(np.array([prior.args[i] for prior in priors]) for i in range(len(priors[0].args)))
    return Prior(priors[0].family, args).distribution().to_event(1)


class IndependentPriors(dist.Distribution):
    """Independent priors of different families on the entries of one vector site, e.g. a Student-t
    intercept with normal slopes: log p(v) = Σ_k log p_k(v_k). The entries share one support
    (real or positive), which NUTS's unconstraining transform needs."""

    arg_constraints = {}

    def __init__(self, components: list):
        self.components = components
        supports = {type(c.support) for c in components}
        if len(supports) != 1:
            raise SpecError(f"priors with different supports cannot share a vector: {sorted(map(str, components))}")
        self._support = constraints.independent(components[0].support, 1)
        super().__init__(batch_shape=(), event_shape=(len(components),))

    @constraints.dependent_property(is_discrete=False, event_dim=1)
    def support(self) -> constraints.Constraint:
        return self._support

    def sample(self, key, sample_shape=()) -> jax.Array:
        keys = jax.random.split(key, len(self.components))
        return jnp.stack([c.sample(k, sample_shape) for c, k in zip(self.components, keys)], axis=-1)

    def log_prob(self, value) -> jax.Array:
        return sum(c.log_prob(value[..., k]) for k, c in enumerate(self.components))


def likelihood(family: Family, eta, trials, extra=None, covariates=None) -> dist.Distribution:
    """The response distribution at linear predictor eta (vectorised over rows): the family's own."""
    return family.row_distribution(eta, trials, extra, covariates)


def family_parameters(family: Family, priors: PriorSet) -> jax.Array | tuple | None:
    """Sample the family's extra parameters: its one positive parameter (σ, shape, φ) or None, and
    with zero inflation (that value, γ) — π sampled itself when constant (γ = logit π), else γ."""
    extra = numpyro.sample(priors.extra_name, priors.sigma.distribution()) if priors.sigma is not None else None
    if not priors.zi:
        return extra
    if priors.zi_names == ("zi",):
        pi = numpyro.sample("zi", priors.zi[0].distribution())
        return extra, jnp.log(pi / (1.0 - pi))[..., None]
    return extra, numpyro.sample("zi", vector_distribution(priors.zi, "zi"))


def random_effect_scales(factor: FactorMeta, priors: PriorSet) -> tuple[jax.Array, jax.Array]:
    """Sample one factor's SDs and correlation Cholesky factors; return (σ (q,), L (q, q)).

    L is the Cholesky factor of the correlation matrix, block diagonal over the factor's
    covariance blocks (identity where effects are uncorrelated); G = diag(σ) L Lᵀ diag(σ).
    Records ``corr_GROUP``, the entries of L Lᵀ below the diagonal within the correlated blocks
    (:func:`~bayesglmm.model.parameters.correlation_pairs`), when some block is correlated.
    """
    g = factor.group
    sd = numpyro.sample(sd_site(g), vector_distribution(priors.sd[g], common_name("sd", g)))
    factors = [
        numpyro.sample(cholesky_site(g, k), dist.LKJCholesky(len(block), concentration=prior.args[0]))
        for k, (block, prior) in enumerate(zip(factor.correlated_blocks, priors.corr[g]))
    ]
    chol = correlation_cholesky(factor, factors)
    if factors:
        rows, columns = np.array(correlation_pairs(factor.blocks)).T
        numpyro.deterministic(corr_site(g), (chol @ chol.T)[..., rows, columns])
    return sd, chol


def correlation_cholesky(factor: FactorMeta, block_factors) -> jax.Array:
    """The factor's correlation Cholesky factor (..., q, q) from those of its correlated blocks."""
    q = len(factor.terms)
    batch = block_factors[0].shape[:-2] if block_factors else ()
    chol = jnp.broadcast_to(jnp.eye(q), batch + (q, q))
    for block, L in zip(factor.correlated_blocks, block_factors):
        rows, cols = np.ix_(block, block)
        chol = chol.at[..., rows, cols].set(L)
    return chol


def family_sites(priors: PriorSet, extra) -> dict:
    """The sites of :func:`family_parameters` at a natural ``extra`` (its inverse): for starts."""
    sites = {}
    count, gamma = extra if priors.zi else (extra, None)
    if priors.sigma is not None:
        sites[priors.extra_name] = float(count)
    if priors.zi:
        gamma = np.asarray(gamma, dtype=float)
        sites["zi"] = float(1.0 / (1.0 + np.exp(-gamma[0]))) if priors.zi_names == ("zi",) else gamma
    return sites


def extra_from_sites(priors: PriorSet, sites: dict) -> jax.Array | tuple | None:
    """The natural ``extra`` of the family's distribution from draws of its sites (leading draw axes kept)."""
    count = jnp.asarray(sites[priors.extra_name]) if priors.sigma is not None else None
    if not priors.zi:
        return count
    zi = jnp.asarray(sites["zi"])
    return count, (jnp.log(zi / (1.0 - zi))[..., None] if priors.zi_names == ("zi",) else zi)


def glmm_model(X, offset, trials, Z, index, W, y=None, *, priors: PriorSet, factors, family: Family) -> None:
    """The NumPyro model; ``Z`` and ``index`` are tuples with one entry per grouping factor, ``W``
    the rows' zero-inflation design ((n, 0) without one)."""
    beta = fixed_effects(priors)
    eta = X @ beta + offset
    for factor, Z_g, index_g in zip(factors, Z, index):
        sd, chol = random_effect_scales(factor, priors)
        z = numpyro.sample(
            innovations_site(factor.group),
            dist.Normal(0.0, 1.0).expand([len(factor.levels), len(factor.terms)]).to_event(2),
        )
        b = numpyro.deterministic(effects_site(factor.group), (z @ chol.T) * sd)
        eta = eta + jnp.sum(Z_g * b[index_g], axis=-1)
    extra = family_parameters(family, priors)
    numpyro.sample("y", likelihood(family, eta, trials, extra, W), obs=y)


def compile_program(spec: ModelSpec, prior_set: str = "default", priors: dict | None = None) -> Program:
    """Compile ``spec`` with its priors to a NumPyro :class:`Program`."""
    resolved = resolve_priors(spec, prior_set, priors)
    if not spec.random:
        raise SpecError("the formula has no random-effect term such as (1 | group)")
    factors = tuple(FactorMeta(f.group, f.terms, f.levels, f.blocks) for f in spec.random)
    data = {
        "X": jnp.asarray(spec.fixed.X),
        "offset": jnp.asarray(spec.offset),
        "trials": jnp.asarray(spec.trials),
        "Z": tuple(jnp.asarray(f.Z) for f in spec.random),
        "index": tuple(jnp.asarray(f.index) for f in spec.random),
        "W": jnp.asarray(spec.zi_X),
        "y": jnp.asarray(spec.y),
    }
    model = partial(glmm_model, priors=resolved, factors=factors, family=spec.family)
    return Program(model, data, resolved, factors, spec.fixed.names, spec.family)
