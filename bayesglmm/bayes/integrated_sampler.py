"""The marginal sampler's pipeline: ML start -> quadrature points -> Laplace posterior -> NUTS.

1. An ML fit (the ML engine's Laplace fit unless one is given) supplies the start of the
   posterior mode search and the conditional modes that start every Newton solve inside the
   likelihood; the ML engine's automatic rule at its estimates the default number of points.
2. The Laplace posterior (:mod:`.laplace_posterior`) of the marginal program: the mode and
   Hessian of the log-posterior over the unconstrained (β, log σ, LKJ coordinates).  The rule
   is checked again at the mode; where it asks for more points, the program and the mode are
   recomputed with them.
3. NUTS on the marginal program, each chain started at a draw of the Laplace posterior and the
   dense metric adapted from its covariance.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC

from .. import _jax  # noqa: F401
from ..core.data import distinct_groups, grouped_data, padded_groups, zero_padded
from ..core.distinct_rule import rule_for_spec
from ..core.parameter_map import cholesky_from_scales, scales_from_cholesky
from ..core.shapes import ChunkShape, FixedColumnPadding, stable_shape
from ..core.smallmat import semidefinite_cholesky
from ..errors import SingularFitWarning, SpecError
from ..model.parameters import BETA_SITE, cholesky_site, innovations_site, sd_site
from ..model.spec import ModelSpec
from .integrated_program import MarginalProgram, compile_marginal_program
from .laplace_posterior import LaplacePosterior, laplace_posterior
from .options import MCMCDriver, NUTSKernel
from .program import Program, beta_from_sites, correlation_cholesky, extra_from_sites, family_sites, fixed_effect_sites
from .sampling import run_nuts, sample_stats


@dataclass(frozen=True)
class MarginalSetup:
    """What the marginal sampler starts from."""

    program: MarginalProgram
    ml_fit: object  # MLFit
    laplace: LaplacePosterior
    seconds_ml: float
    seconds_laplace: float


def _site_values(ml_fit, program: Program, marginal_program: MarginalProgram) -> dict:
    """The ML estimates as values of the model's sites (β, SDs, correlation factors, σ)."""
    phi = FixedColumnPadding(marginal_program.n_fixed, marginal_program.marginal.n_fixed).embed(
        ml_fit.optimization.final_parameters
    )
    beta, chol_G, log_dispersion = marginal_program.marginal.unpack(jnp.asarray(phi))
    (factor,) = program.factors
    sd_raw, corr = scales_from_cholesky(chol_G)
    values = {**fixed_effect_sites(program.priors, beta), sd_site(factor.group): np.maximum(sd_raw, 0.05)}
    corr = 0.95 * corr + 0.05 * np.eye(len(sd_raw))  # off a boundary, where the LKJ coordinates are infinite
    for k, block in enumerate(factor.correlated_blocks):
        values[cholesky_site(factor.group, k)] = np.linalg.cholesky(corr[np.ix_(block, block)])
    values = {**values, **family_sites(program.priors, program.family.extra_value(log_dispersion))}
    return marginal_program.own_sites(values)


def _spherical_modes(ml_fit) -> np.ndarray:
    """The ML fit's conditional modes as spherical random effects, u = Λ⁺b (:mod:`bayesglmm.core.modes`).

    Λ the Cholesky factor of the estimated G with a positive diagonal, as the program's
    diag(σ) L; the pseudo-inverse keeps a singular estimate finite.
    """
    return np.asarray(ml_fit.modes) @ np.linalg.pinv(semidefinite_cholesky(ml_fit.G)).T


def _natural_values(program: Program, sites: dict):
    """(β, G, σ or None) at values of the program's sites (β, SDs, correlation factors, σ)."""
    (factor,) = program.factors
    g = factor.group
    sd = np.asarray(sites[sd_site(g)])
    chol_corr = correlation_cholesky(
        factor, [jnp.asarray(sites[cholesky_site(g, k)]) for k in range(len(factor.correlated_blocks))]
    )
    chol_G = cholesky_from_scales(sd, np.asarray(chol_corr))
    return (
        np.asarray(beta_from_sites(program.priors, sites)),
        chol_G @ chol_G.T,
        extra_from_sites(program.priors, sites),
    )


def prepare_marginal(
    spec: ModelSpec, program: Program, qpoints: int | None = None, ml_fit=None, rule_qpoints: int | None = None
) -> MarginalSetup:
    """ML fit, quadrature points and Laplace posterior of the marginal program of ``spec``.

    ``qpoints=None`` takes an AGQ ``ml_fit``'s points, or else the ML engine's automatic rule
    on the distinct groups (:mod:`~bayesglmm.core.distinct_rule`): at the ML estimates (a Laplace fit unless
    ``ml_fit`` is given) and again at the posterior mode, raising the points and recomputing the
    Laplace posterior until the rule holds there (``rule_qpoints``: the rule's points at
    ``ml_fit``'s estimates when the caller has them already, :class:`~.sampler_choice.SamplerChoice`).
    The mode search with the quadrature likelihood
    does the work of an AGQ refit, which this saves (seconds of compilation: docs/measurements.md).
    """
    from ..ml import fit_ml

    if len(spec.random) != 1:
        raise SpecError(
            f"the marginal sampler integrates one grouping factor out; this model has {len(spec.random)}. "
            "Use sampler='full' for nested or crossed random effects"
        )
    if qpoints is not None and (not isinstance(qpoints, (int, np.integer)) or qpoints < 1):
        raise SpecError(f"qpoints must be a positive whole number or None (the ML engine's rule), got {qpoints!r}")
    started = time.perf_counter()
    data = grouped_data(spec)
    distinct = distinct_groups(data)  # the program's and the rule's (:mod:`~bayesglmm.core.distinct_rule`)
    if ml_fit is None:
        with warnings.catch_warnings():  # the ML fit's singular-fit warning is about its SEs, not the posterior
            warnings.simplefilter("ignore", SingularFitWarning)
            ml_fit = fit_ml(spec, "laplace")
    if qpoints is None and ml_fit.method == "agq":
        qpoints = ml_fit.qpoints
    automatic = qpoints is None
    if automatic and rule_qpoints is not None:
        qpoints = rule_qpoints
    elif automatic:
        estimates = ml_fit.params()["estimate"]
        sigma = spec.family.extra_from_params(lambda name: float(estimates[name]))
        qpoints = rule_for_spec(spec, ml_fit.beta.to_numpy(), ml_fit.G, sigma, distinct[:2])
    seconds_ml = time.perf_counter() - started

    started = time.perf_counter()
    mode_start = _spherical_modes(ml_fit)
    values = None
    while True:
        marginal_program = compile_marginal_program(
            data,
            program.factors[0],
            program.priors,
            spec.family,
            len(program.fixed_names),
            int(qpoints),
            mode_start,
            distinct=distinct,
        )
        values = _site_values(ml_fit, program, marginal_program) if values is None else values
        laplace = laplace_posterior(
            marginal_program.model, marginal_program.data, marginal_program.padded_sites(values)
        )
        if not automatic:
            break
        values = marginal_program.own_sites(laplace.mode_sites())
        chosen = rule_for_spec(spec, *_natural_values(program, values), distinct[:2])
        if chosen <= qpoints:
            break
        qpoints = chosen
    return MarginalSetup(marginal_program, ml_fit, laplace, seconds_ml, time.perf_counter() - started)


def _laplace_metric(covariance, dense: bool) -> jax.Array:
    """The Laplace posterior's covariance as the metric the adaptation starts from: all of it, or
    its diagonal for a diagonal metric."""
    covariance = jnp.asarray(covariance)
    return covariance if dense else jnp.diagonal(covariance)


def sample_marginal(
    setup: MarginalSetup, kernel: NUTSKernel, driver: MCMCDriver, progress: bool | None
) -> tuple[MCMC, dict, dict]:
    """NUTS on the marginal program, started from the Laplace posterior.

    Returns (the run, its draws flat over chains, its per-draw statistics (:func:`.sampling.sample_stats`)),
    the draws and the log density ``lp`` without the padded coefficients (:mod:`.integrated_program`).
    """
    starts = setup.laplace.chain_starts(jax.random.PRNGKey(driver.seed + 3), driver.chains)
    mcmc = run_nuts(
        setup.program.model,
        setup.program.data,
        kernel,
        driver,
        progress=progress,
        dense_mass=True,
        init_params=starts if driver.chains > 1 else jax.tree_util.tree_map(lambda x: x[0], starts),
        inverse_mass_matrix=_laplace_metric(setup.laplace.covariance, kernel.dense_mass),
    )
    population = setup.program.own_sites(jax.block_until_ready(mcmc.get_samples()))
    stats = sample_stats(mcmc)
    if setup.program.padded:
        beta = mcmc.get_samples(group_by_chain=True)[BETA_SITE]
        stats["lp"] = stats["lp"] - setup.program.padding_log_prior(beta)
    return mcmc, population, stats


def laplace_log_density(setup: MarginalSetup) -> float:
    """log p(û | y) of the model (the Laplace posterior's, less the padded coefficients' prior at the mode)."""
    if not setup.program.padded:
        return setup.laplace.log_density
    beta = setup.laplace.unravel(jnp.asarray(setup.laplace.mode))[BETA_SITE]  # β's support is the real line
    return setup.laplace.log_density - float(setup.program.padding_log_prior(beta))


def population_to_latent(
    program: Program, population: dict, setup: MarginalSetup, seed: int, steps: int
) -> tuple[dict, float]:
    """Add random-effect draws to flat population draws, as the full-latent program's ``z`` sites.

    Returns (sites for the full-latent program, mean acceptance rate of the conditional sampler).
    """
    from .conditional import conditional_draws

    # to the host first: with fewer chains than devices the draws sit on the first `chains`
    # devices, and the conditional sampler's pmap over all devices refuses mixing placements
    population = {name: np.asarray(draws) for name, draws in population.items()}
    (factor,) = program.factors
    g = factor.group
    sd = jnp.asarray(population[sd_site(g)])
    chol_corr = correlation_cholesky(
        factor, [jnp.asarray(population[cholesky_site(g, k)]) for k in range(len(factor.correlated_blocks))]
    )
    chol_corr = jnp.broadcast_to(chol_corr, sd.shape + sd.shape[-1:])
    chol_G = cholesky_from_scales(sd, chol_corr)
    if program.family.n_extra:  # the engines' unconstrained extras per draw, (S,) or (S, m)
        extra = extra_from_sites(program.priors, population)
        log_dispersion = jax.vmap(program.family.extras_vector)(extra)
        log_dispersion = jax.vmap(program.family.extras_from)(log_dispersion)
    else:
        log_dispersion = jnp.zeros(sd.shape[0])
    groups, mode_start, n_groups = setup.program.groups, setup.program.mode_start, setup.program.groups.n_groups
    beta = beta_from_sites(program.priors, population)
    # shared shapes, as the marginal program's (padded groups have no rows, padded β is zero)
    shape = stable_shape(ChunkShape(groups.y.shape[0], n_groups, setup.program.marginal.n_fixed), pad_fixed=False)
    groups = padded_groups(groups, shape)
    mode_start = zero_padded(mode_start, shape.groups, axis=0)
    beta = zero_padded(beta, shape.fixed_columns)
    b, acceptance = conditional_draws(
        jax.random.PRNGKey(seed + 4), beta, chol_G, log_dispersion, groups, program.family, mode_start, steps
    )
    b = b[:, :n_groups]
    # b = (z Lᵀ) ∘ σ  (the full-latent program's non-centred form)  =>  zᵀ = L⁻¹ (b / σ)ᵀ
    scaled = jnp.swapaxes(b / sd[:, None, :], -1, -2)
    z = jnp.swapaxes(jax.scipy.linalg.solve_triangular(chol_corr, scaled, lower=True), -1, -2)
    return {**{k: jnp.asarray(v) for k, v in population.items()}, innovations_site(g): z}, float(acceptance)
