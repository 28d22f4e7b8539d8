"""NUTS over a compiled program, with prior and posterior predictive draws.

Chains run in parallel across CPU devices when there are enough of them: the device
count must be set before JAX starts computing (:func:`set_cpu_devices`; the CLI does it).
With fewer devices than chains, the chains are vectorised on one device.
"""

from __future__ import annotations

import os
import sys

from .. import _jax  # noqa: F401
import jax
import numpyro
from numpyro.infer import MCMC, NUTS, Predictive

from .program import Program


def set_cpu_devices(count: int | None = None) -> None:
    """Expose ``count`` CPU devices to JAX (default: all cores) so chains run in parallel.

    Takes effect only before JAX's first computation in the process.
    """
    numpyro.set_host_device_count(count or os.cpu_count() or 1)


def _default_progress() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def run_nuts(
    program: Program,
    chains: int = 4,
    warmup: int = 1000,
    draws: int = 1000,
    seed: int = 0,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    progress: bool | None = None,
    dense_global: bool = True,
    thin: int = 1,
) -> MCMC:
    """Sample the posterior of ``program`` by NUTS (Hoffman & Gelman 2014) with NumPyro's MCMC.

    ``draws`` draws are kept per chain, every ``thin``-th of ``draws * thin`` iterations.
    ``dense_global`` adapts a dense mass matrix over the population-level sites
    (β, SDs, correlation factors), a diagonal one over the random effects.
    """
    kernel = NUTS(
        program.model,
        target_accept_prob=target_accept,
        max_tree_depth=max_tree_depth,
        dense_mass=[global_sites(program)] if dense_global else False,
    )
    chain_method = "parallel" if jax.local_device_count() >= chains else "vectorized"
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=draws * thin,
        num_chains=chains,
        thinning=thin,
        chain_method=chain_method,
        progress_bar=_default_progress() if progress is None else progress,
    )
    mcmc.run(jax.random.PRNGKey(seed), **program.data, extra_fields=("diverging", "num_steps"))
    return mcmc


def global_sites(program: Program) -> tuple[str, ...]:
    """The few population-level sites (β, SDs, correlation factors, σ), not the random effects."""
    sites = ["beta"]
    for factor in program.factors:
        sites.append(f"sd_{factor.group}")
        sites += [f"L_{factor.group}_{k}" for k, block in enumerate(b for b in factor.blocks if len(b) > 1)]
    if program.family.has_dispersion:
        sites.append("sigma")
    return tuple(sites)


def _without_response(program: Program) -> dict:
    return {key: value for key, value in program.data.items() if key != "y"}


def posterior_predictive(program: Program, samples: dict, seed: int = 1) -> dict:
    """Draws of the response at every posterior draw: {"y": (draws, n)}."""
    predictive = Predictive(program.model, posterior_samples=samples, return_sites=["y"])
    return predictive(jax.random.PRNGKey(seed), **_without_response(program))


def prior_predictive(program: Program, draws: int = 500, seed: int = 2) -> dict:
    """Draws of all parameters and the response from the prior."""
    predictive = Predictive(program.model, num_samples=draws)
    return predictive(jax.random.PRNGKey(seed), **_without_response(program))
