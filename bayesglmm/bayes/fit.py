"""fit_bayes and laplace_fit: spec -> NumPyro program -> posterior draws -> BayesFit.

Samplers (``sampler=``):

* ``"auto"`` (the default): the marginal sampler where it applies and is cheap enough, else the
  full-latent one, by the rule of :mod:`.sampler_choice` (printed, and kept in the fit's record);
* ``"full"``: NUTS on the full-latent program (every random effect sampled);
* ``"marginal"``: NUTS on the population parameters with the random effects integrated out by
  adaptive Gauss–Hermite quadrature (:mod:`.marginal`), then the random effects drawn from
  their exact conditional posterior at every draw (:mod:`.conditional`).

:func:`laplace_fit` is the Gaussian approximation at the posterior mode of the marginal
program (:mod:`.laplace_posterior`), with the same random-effect step.  All three give the same
posterior groups, so every summary, plot and comparison treats them alike.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import replace

import jax
import numpy as np

from .. import _jax  # noqa: F401
from ..errors import SpecError
from ..model.parameters import BETA_SITE, corr_site, effects_site
from ..model.spec import ModelSpec
from ..options import check_bool, check_choice, check_int, check_qpoints
from ..results.bayesfit import BayesFit
from ..results.sampler_record import SamplerRecord
from .convert import to_inference_data
from .group_loglik import group_marginal_logliks
from .integrated_sampler import laplace_log_density, population_to_latent, prepare_marginal, sample_marginal
from .options import NUTSOptions
from .priors import check_proper
from .program import Program, compile_program
from .sampler_choice import choose_sampler
from .sampling import (
    global_sites,
    pointwise_log_likelihood,
    posterior_predictive,
    prior_predictive,
    run_nuts,
    sample_stats,
)

SAMPLERS = ("auto", "full", "marginal")
DEFAULT_WARMUP = {"full": 1000, "marginal": 500}
LAPLACE_CHAINS = 4


def fit_bayes(
    spec: ModelSpec,
    prior_set: str = "default",
    priors: dict | None = None,
    sampler: str = "auto",
    qpoints: int | None = None,
    chains: int = 4,
    warmup: int | None = None,
    draws: int = 1000,
    seed: int = 0,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    dense_mass: bool = True,
    progress: bool | None = None,
    predictive: bool = True,
    prior_draws: int = 0,
    thin: int = 1,
    re_steps: int = 20,
    ml_fit=None,
    group_loglik: bool = True,
) -> BayesFit:
    """Bayesian fit of ``spec`` by NUTS.

    ``prior_set`` names a prior set (``default``, ``brms``); ``priors`` overrides it per
    class or term (see :mod:`bayesglmm.bayes.priors`).  ``sampler``: ``"auto"`` (the marginal
    sampler where it applies and is cheap, else the full one: :mod:`.sampler_choice`; the choice
    is printed unless ``progress=False``), ``"full"`` (every random
    effect sampled) or ``"marginal"`` (random effects integrated out by quadrature with
    ``qpoints`` per dimension, by default the ML engine's automatic choice at the ML estimates;
    ``ml_fit`` reuses an ML fit of the same spec).  ``warmup`` defaults to 1000 (full) or 500
    (marginal, whose metric starts from the Laplace posterior).  ``re_steps``: independence
    Metropolis steps per random-effect draw (marginal).  ``predictive`` adds posterior
    predictive draws; ``prior_draws`` > 0 adds the prior and prior predictive.  ``group_loglik``
    adds each group's marginal log-likelihood at every draw (``log_likelihood["y_marginal"]``,
    one grouping factor; leave-one-group-out LOO, :meth:`BayesFit.loo`).  ``dense_mass``: a dense
    metric (the default; in the full-latent sampler over the population parameters, diagonal over
    the random effects) or ``False`` for a diagonal one (Stan's ``diag_e``, brms's default).
    """
    check_choice("sampler", sampler, SAMPLERS)
    qpoints = _checked_qpoints(qpoints)
    options = NUTSOptions(chains, warmup, draws, thin, seed, target_accept, max_tree_depth, dense_mass)  # checks all
    check_int("prior_draws", prior_draws, 0)
    check_int("re_steps", re_steps, 1)
    check_bool("group_loglik", group_loglik)
    if sampler == "full" and (qpoints is not None or ml_fit is not None):
        raise SpecError("qpoints and ml_fit apply to sampler='marginal' (or 'auto') only")
    started = time.perf_counter()
    program = compile_program(spec, prior_set, priors)  # checks the priors before any fit
    if prior_draws:
        check_proper(program.priors)
    record = SamplerRecord(max_tree_depth=max_tree_depth, dense_mass=dense_mass)
    rule_qpoints = None
    if sampler == "auto":
        choice = choose_sampler(spec, qpoints, ml_fit)
        sampler, ml_fit = choice.sampler, choice.ml_fit if choice.sampler == "marginal" else None
        rule_qpoints = choice.rule_qpoints
        record = replace(record, sampler_choice=choice.reason)
        if progress is not False:
            print(f"sampler='auto' chose '{sampler}': {choice.reason}", file=sys.stderr)
    driver = options.driver(DEFAULT_WARMUP[sampler])
    warmup = driver.warmup
    if sampler == "full":
        mcmc = run_nuts(
            program.model, program.data, options.kernel, driver, progress, dense_mass=[global_sites(program)]
        )
        latent = jax.block_until_ready(mcmc.get_samples())  # JAX dispatches asynchronously: wait before timing
        stats = sample_stats(mcmc)
    else:
        setup = prepare_marginal(spec, program, qpoints, ml_fit, rule_qpoints)
        sampling_started = time.perf_counter()
        mcmc, population, stats = sample_marginal(setup, options.kernel, driver, progress)
        sampling_seconds = time.perf_counter() - sampling_started
        latent, acceptance = population_to_latent(program, population, setup, seed, re_steps)
        record = replace(
            record,
            qpoints=setup.program.qpoints,
            re_acceptance=acceptance,
            re_steps=re_steps,
            seconds_ml=setup.seconds_ml,
            seconds_laplace=setup.seconds_laplace,
            seconds_nuts=sampling_seconds,
        )
    seconds = time.perf_counter() - started
    loo_spec = spec if group_loglik else None
    idata = _inference_data(program, latent, chains, stats, predictive, prior_draws, seed, loo_spec, record.qpoints)
    fit = BayesFit.from_run(
        spec=spec,
        program=program,
        idata=idata,
        sampler=sampler,
        chains=chains,
        draws=draws,
        warmup=warmup,
        thin=thin,
        seed=seed,
        target_accept=target_accept,
        divergences=int(np.sum(stats["diverging"])),
        seconds=seconds,
        record=record,
    )
    for message in fit.diagnostic_messages():
        warnings.warn(message, fit.warning_category, stacklevel=2)
    return fit


def laplace_fit(
    spec: ModelSpec,
    prior_set: str = "default",
    priors: dict | None = None,
    qpoints: int | None = None,
    draws: int = 4000,
    seed: int = 0,
    predictive: bool = True,
    re_steps: int = 20,
    ml_fit=None,
    group_loglik: bool = True,
) -> BayesFit:
    """The Laplace posterior: N(mode, H⁻¹) of the marginal program's log-posterior, as draws.

    In the unconstrained coordinates of the samplers (log SDs, LKJ coordinates), so the
    reported SDs and correlations stay in their ranges; ``draws`` independent draws, with
    random effects drawn as in the marginal sampler.  Seconds where NUTS takes minutes:
    a first look, and the marginal sampler's start.
    """
    qpoints = _checked_qpoints(qpoints)
    NUTSOptions(draws=draws, seed=seed)
    check_int("re_steps", re_steps, 1)
    check_bool("group_loglik", group_loglik)
    started = time.perf_counter()
    program = compile_program(spec, prior_set, priors)
    setup = prepare_marginal(spec, program, qpoints, ml_fit)
    population = setup.program.own_sites(setup.laplace.draws(jax.random.PRNGKey(seed), draws))
    latent, acceptance = population_to_latent(program, population, setup, seed, re_steps)
    seconds = time.perf_counter() - started
    chains = _independent_chains(draws)
    idata = _inference_data(
        program, latent, chains, None, predictive, 0, seed, spec if group_loglik else None, setup.program.qpoints
    )
    laplace = setup.laplace
    fit = _independent_draws_fit(
        spec,
        program,
        idata,
        "laplace",
        draws,
        seed,
        seconds,
        record=SamplerRecord(
            qpoints=setup.program.qpoints,
            re_acceptance=acceptance,
            re_steps=re_steps,
            mode_converged=laplace.converged,
            mode_gradient_norm=laplace.gradient_norm,
            hessian_positive_definite=laplace.positive_definite,
            log_posterior_at_mode=laplace_log_density(setup),
        ),
    )
    for message in fit.diagnostic_messages():
        warnings.warn(message, fit.warning_category, stacklevel=2)
    return fit


def prior_fit(
    spec: ModelSpec, prior_set: str = "default", priors: dict | None = None, draws: int = 1000, seed: int = 0
) -> BayesFit:
    """Draws from the prior and the prior predictive, without the data's likelihood (brms's
    ``sample_prior = "only"``): a :class:`BayesFit` whose posterior group holds the prior draws and
    whose posterior predictive holds replicated responses on the spec's design, so that
    ``summary()``, ``params()`` and :func:`~bayesglmm.compare.ppcheck.pp_check` show what the
    priors imply before any data are used. Nothing is sampled by MCMC: seconds, not a refit.
    The draws come as 4 chains when ``draws`` divides by 4 (as the Laplace posterior's).
    """
    NUTSOptions(draws=draws, seed=seed)
    started = time.perf_counter()
    program = compile_program(spec, prior_set, priors)
    check_proper(program.priors)
    chains = _independent_chains(draws)
    drawn = prior_predictive(program, draws, seed + 2)
    predicted = np.asarray(drawn.pop("y"))
    posterior = {name: _by_chain(value, chains) for name, value in drawn.items()}
    idata = to_inference_data(program, posterior, None, None, _by_chain(predicted, chains))
    return _independent_draws_fit(
        spec, program, idata, "prior", draws, seed, time.perf_counter() - started, SamplerRecord()
    )


def _independent_chains(draws: int) -> int:
    """Independent draws are stored as LAPLACE_CHAINS "chains" when they divide evenly, so that
    ArviZ's R-hat (about 1 for independent draws) and its shape checks work with their defaults."""
    return LAPLACE_CHAINS if draws % LAPLACE_CHAINS == 0 else 1


def _independent_draws_fit(
    spec, program, idata, sampler: str, draws: int, seed: int, seconds: float, record: SamplerRecord
):
    """The :class:`BayesFit` of independent draws (Laplace posterior, prior): no warm-up, no NUTS."""
    chains = _independent_chains(draws)
    return BayesFit.from_run(
        spec=spec,
        program=program,
        idata=idata,
        sampler=sampler,
        chains=chains,
        draws=draws // chains,
        warmup=0,
        thin=1,
        seed=seed,
        target_accept=float("nan"),
        divergences=0,
        seconds=seconds,
        record=record,
    )


def _checked_qpoints(qpoints):
    """Points per dimension of the marginal samplers; ``"auto"`` or None: the ML engine's rule."""
    qpoints = check_qpoints("qpoints", qpoints)
    return None if qpoints == "auto" else qpoints


def _by_chain(values, chains: int):
    values = np.asarray(values)
    return values.reshape((chains, values.shape[0] // chains) + values.shape[1:])


def _inference_data(
    program: Program,
    latent: dict,
    chains: int,
    stats,
    predictive: bool,
    prior_draws: int,
    seed: int,
    spec: ModelSpec | None = None,
    qpoints: int | None = None,
):
    """The posterior groups from flat draws of the full-latent program's sites; with ``spec`` (one
    grouping factor) also each group's marginal log-likelihood at ``qpoints`` (None: the ML
    engine's rule at the posterior means), :mod:`.group_loglik`."""
    derived = [effects_site(f.group) for f in program.factors] + [
        corr_site(f.group) for f in program.factors if f.correlated_blocks
    ]
    if program.priors.centring is not None:
        derived.append(BETA_SITE)  # a deterministic site: the Laplace posterior's draws lack it
    computed = posterior_predictive(program, latent, seed + 1, return_sites=derived + (["y"] if predictive else []))
    sites = {**latent, **{name: computed[name] for name in derived}}
    posterior = {name: _by_chain(value, chains) for name, value in sites.items()}
    log_lik = _by_chain(pointwise_log_likelihood(program, sites), chains)
    predicted = _by_chain(computed["y"], chains) if predictive else None
    prior = prior_predictive(program, prior_draws, seed + 2) if prior_draws else None
    by_group = None
    if spec is not None and len(program.factors) == 1:
        by_group = _by_chain(group_marginal_logliks(spec, program, latent, qpoints), chains)
    return to_inference_data(program, posterior, stats, log_lik, predicted, prior, by_group)
