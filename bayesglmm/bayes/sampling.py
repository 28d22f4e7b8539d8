"""NUTS over a compiled program, with prior and posterior predictive draws.

Chains run in parallel across CPU devices when there are enough of them: the device
count must be set before JAX starts computing (:func:`set_cpu_devices`; the CLI does it).
With fewer devices than chains, the chains are vectorised on one device.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import jax
import numpy as np
import numpyro
from numpyro.infer import MCMC, NUTS, Predictive, log_likelihood
from numpyro.infer.hmc import HMCState

from .. import _jax  # noqa: F401
from ..model.parameters import BETA_SITE, CENTRED_INTERCEPT_SITE, CENTRED_SLOPES_SITE, cholesky_site, sd_site
from .options import MCMCDriver, NUTSKernel
from .priors import check_proper
from .program import Program


def set_cpu_devices(count: int | None = None) -> None:
    """Expose ``count`` CPU devices to JAX (default: all cores) so chains run in parallel.

    Takes effect only before JAX's first computation in the process.
    """
    numpyro.set_host_device_count(count or os.cpu_count() or 1)


def _default_progress() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


EXTRA_FIELDS = ("diverging", "num_steps", "accept_prob", "potential_energy", "energy", "adapt_state.step_size")


class CompiledNUTS(NUTS):
    """NumPyro's NUTS whose post-processing of a draw (constrained values and deterministic sites)
    is one compiled program taking the data as arguments.

    NumPyro's ``fori_collect`` applies it once, eagerly, to the initial state to learn the shapes
    of what it collects (numpyro/util.py, ``transform(init_val)``): op by op, that replays the whole
    model (244 XLA compilations in a 4-chain marginal fit, numpyro 0.22). Inside the sampling loop
    it is traced anyway, so compiling it changes nothing there. The data are arguments, not
    constants, so a model with arrays of the same shapes reuses the program (shared shapes).
    """

    def postprocess_fn(self, model_args, model_kwargs) -> Callable[[dict], dict]:
        parent = super()
        compiled = jax.jit(lambda values, args, kwargs: parent.postprocess_fn(args, kwargs)(values))
        return lambda values: compiled(values, model_args, model_kwargs)


class CompiledInitNUTS(CompiledNUTS):
    """:class:`CompiledNUTS` with the chains' initialisation compiled as one program.

    With several chains on one device (vectorised) or a single chain, NumPyro's ``HMC.init``
    finds the initial values and the first step size by running the model op by op (under
    ``vmap`` for several chains): hundreds of small XLA compilations, most of a fit's compilation
    (docs/measurements.md). Under ``jax.jit`` the same code compiles once, with the data and the
    initial metric as arguments (not constants), so another model with arrays of the same shapes
    runs the same program. NumPyro's own check that valid initial values were found is skipped
    under ``jit``, so it is made here.
    """

    def init(self, rng_key, num_warmup, init_params=None, model_args=(), model_kwargs=None) -> HMCState:
        model_kwargs = {} if model_kwargs is None else model_kwargs
        parent, metric = super(), self._inverse_mass_matrix

        def initialise(keys, params, args, kwargs, inverse_mass_matrix):
            self._inverse_mass_matrix = inverse_mass_matrix  # read by HMC.init only
            try:
                return parent.init(keys, num_warmup, params, args, kwargs)
            finally:
                self._inverse_mass_matrix = metric

        state = jax.jit(initialise)(rng_key, init_params, model_args, model_kwargs, metric)
        if not bool(np.all(np.isfinite(np.asarray(state.potential_energy)))):
            raise RuntimeError(
                "NUTS found no initial values with a finite log density for every chain; check the "
                "priors and the data, or give init values"
            )
        return state


def run_nuts(
    model,
    data: dict,
    kernel: NUTSKernel,
    driver: MCMCDriver,
    progress: bool | None = None,
    dense_mass=True,
    init_params: dict | None = None,
    inverse_mass_matrix=None,
) -> MCMC:
    """Sample the posterior of ``model(**data)`` by NUTS (Hoffman & Gelman 2014) with NumPyro's MCMC.

    ``driver.draws`` draws are kept per chain, every ``driver.thin``-th of ``draws * thin`` iterations.
    ``dense_mass``: NumPyro's argument (True, or a list of site groups with a dense metric), used
    when ``kernel.dense_mass`` is on; off, the metric is diagonal.
    ``init_params`` (unconstrained, one row per chain) and ``inverse_mass_matrix`` start
    the chains and the metric adaptation from a known approximation of the posterior.
    """
    chain_method = "parallel" if jax.local_device_count() >= driver.chains else "vectorized"
    # NumPyro initialises inside its pmap only for parallel chains; otherwise op by op unless compiled
    in_pmap = chain_method == "parallel" and driver.chains > 1
    nuts = (CompiledNUTS if in_pmap else CompiledInitNUTS)(
        model,
        target_accept_prob=kernel.target_accept,
        max_tree_depth=kernel.max_tree_depth,
        dense_mass=dense_mass if kernel.dense_mass else False,
        inverse_mass_matrix=inverse_mass_matrix,
    )
    mcmc = MCMC(
        nuts,
        num_warmup=driver.warmup,
        num_samples=driver.draws * driver.thin,
        num_chains=driver.chains,
        thinning=driver.thin,
        chain_method=chain_method,
        progress_bar=_default_progress() if progress is None else progress,
        jit_model_args=True,  # the data as arguments of the sampling loop, not constants (shared shapes)
    )
    mcmc.run(jax.random.PRNGKey(driver.seed), init_params=init_params, extra_fields=EXTRA_FIELDS, **data)
    return mcmc


def sample_stats(mcmc: MCMC) -> dict:
    """Per-draw sampler statistics (chain, draw) under ArviZ's names."""
    extra = {key: np.asarray(value) for key, value in mcmc.get_extra_fields(group_by_chain=True).items()}
    return {
        "diverging": extra["diverging"],
        "n_steps": extra["num_steps"],
        "tree_depth": np.floor(np.log2(np.maximum(extra["num_steps"], 1))).astype(int) + 1,
        "acceptance_rate": extra["accept_prob"],
        "lp": -extra["potential_energy"],
        "energy": extra["energy"],
        "step_size": extra["adapt_state.step_size"],
    }


def global_sites(program: Program) -> tuple[str, ...]:
    """The few population-level sites (β or brms's centred intercept and the other coefficients, SDs,
    correlation factors, σ), not the random effects."""
    centring = program.priors.centring
    if centring is None:
        sites = [BETA_SITE]
    else:
        sites = [CENTRED_INTERCEPT_SITE] + ([CENTRED_SLOPES_SITE] if len(program.fixed_names) > 1 else [])
    for factor in program.factors:
        sites.append(sd_site(factor.group))
        sites += [cholesky_site(factor.group, k) for k in range(len(factor.correlated_blocks))]
    if program.priors.sigma is not None:
        sites.append(program.priors.extra_name)
    if program.priors.zi:
        sites.append("zi")
    return tuple(sites)


def _without_response(program: Program) -> dict:
    return {key: value for key, value in program.data.items() if key != "y"}


def posterior_predictive(program: Program, samples: dict, seed: int = 1, return_sites=("y",)) -> dict:
    """The program's ``return_sites`` at every posterior draw (default the response): {site: (draws, ...)}.

    ``samples`` holds the program's latent sites (β, SDs, correlation factors, z, σ), flat over draws.
    """
    predictive = Predictive(program.model, posterior_samples=samples, return_sites=list(return_sites))
    return predictive(jax.random.PRNGKey(seed), **_without_response(program))


def pointwise_log_likelihood(program: Program, samples: dict) -> np.ndarray:
    """log p(y_r | draw) per draw and row (draws, n): the conditional log-likelihood, for LOO/WAIC."""
    return np.asarray(log_likelihood(program.model, samples, **program.data)["y"])


def prior_predictive(program: Program, draws: int = 500, seed: int = 2) -> dict:
    """Draws of all parameters and the response from the prior (proper priors only: :func:`~.priors.check_proper`)."""
    check_proper(program.priors)
    predictive = Predictive(program.model, num_samples=draws)
    return predictive(jax.random.PRNGKey(seed), **_without_response(program))
