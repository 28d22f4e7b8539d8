"""fit_bayes: spec -> NumPyro program -> NUTS -> BayesFit (ArviZ data and tables)."""

from __future__ import annotations

import time
import warnings

import numpy as np

from .. import _jax  # noqa: F401
import jax

from ..spec import ModelSpec
from .convert import to_inference_data
from .program import compile_program
from .sampling import posterior_predictive, prior_predictive, run_nuts


def fit_bayes(
    spec: ModelSpec,
    prior_set: str = "default",
    priors: dict | None = None,
    chains: int = 4,
    warmup: int = 1000,
    draws: int = 1000,
    seed: int = 0,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    progress: bool | None = None,
    predictive: bool = True,
    prior_draws: int = 0,
    thin: int = 1,
):
    """Bayesian fit of ``spec`` by NUTS on the full-latent program (every random effect sampled).

    ``prior_set`` names a prior set (``default``, ``brms``); ``priors`` overrides it per
    class or term (see :mod:`bayesglmm.bayes.priors`).  ``predictive`` adds posterior
    predictive draws; ``prior_draws`` > 0 adds the prior and prior predictive.
    """
    from ..results.bayesfit import BayesFit

    started = time.perf_counter()
    program = compile_program(spec, prior_set, priors)
    mcmc = run_nuts(program, chains, warmup, draws, seed, target_accept, max_tree_depth, progress, thin=thin)
    samples = jax.block_until_ready(mcmc.get_samples())  # JAX dispatches asynchronously: wait before timing
    seconds = time.perf_counter() - started
    predicted = posterior_predictive(program, samples, seed + 1) if predictive else None
    prior = prior_predictive(program, prior_draws, seed + 2) if prior_draws else None
    idata = to_inference_data(program, mcmc, predicted, prior)
    divergences = int(np.sum(mcmc.get_extra_fields()["diverging"]))
    fit = BayesFit.from_run(
        spec=spec,
        program=program,
        idata=idata,
        sampler="nuts",
        chains=chains,
        draws=draws,
        warmup=warmup,
        thin=thin,
        seed=seed,
        target_accept=target_accept,
        divergences=divergences,
        seconds=seconds,
    )
    for message in fit.diagnostic_messages():
        warnings.warn(message, fit.warning_category, stacklevel=2)
    return fit
