"""More chains than devices (vectorised) or a single chain: the initialisation is one compiled
program (:class:`bayesglmm.bayes.sampling.CompiledInitNUTS`), not NumPyro's op-by-op run of the
model (under ``vmap`` for vectorised chains)."""

import warnings

import jax
import numpy as np
import pandas as pd

from bayesglmm import ModelSpec
from bayesglmm.bayes import fit_bayes

from ..compile_events import compile_events


def _spec():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(15), 4)
    frame = pd.DataFrame({"g": g, "x": rng.normal(size=g.size)})
    frame["y"] = 1.0 + 0.5 * frame.x + rng.normal(0, 0.7, 15)[g] + rng.normal(0, 0.5, g.size)
    return ModelSpec.from_formula("y ~ x + (1 | g)", frame, "gaussian")


def _fit_counting_compilations(chains: int, draws: int, seed: int):
    """A short full-latent fit of :func:`_spec` and the number of compile events it caused."""
    with compile_events() as compiles, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_bayes(
            _spec(),
            "brms_proper",
            sampler="full",
            chains=chains,
            warmup=draws,
            draws=draws,
            seed=seed,
            progress=False,
            predictive=False,
            group_loglik=False,
        )
    return fit, len(compiles)


def test_vectorised_chains_start_from_one_compiled_program():
    chains = jax.local_device_count() + 1  # one more than the devices: vectorised
    fit, compiled = _fit_counting_compilations(chains, 300, 3)
    beta = np.asarray(fit.idata.posterior["beta"])
    assert beta.shape[:2] == (chains, 300)
    # measured with numpyro 0.22: 166 compilations with the eager start, 83 with the compiled one
    assert compiled < 120, compiled
    # every chain samples the same posterior: chain means agree within their Monte Carlo error
    slope = beta[..., 1]
    assert np.ptp(slope.mean(axis=1)) < 6 * slope.std() / np.sqrt(300 / 4)
    assert abs(slope.mean() - 0.5) < 0.3


def test_a_single_chain_starts_from_one_compiled_program(monkeypatch):
    """NumPyro runs a single chain's initialisation outside any program: op by op, one small XLA
    compilation per operation of the model (measured: 796 of a first marginal fit's compilations,
    121 with the compiled start; benchmarks/latency.py). The counts below are from this small
    model (numpyro 0.22): 307 compilations op by op, 46 compiled."""
    from bayesglmm.bayes import sampling

    jax.clear_caches()
    compiled_fit, compiled_count = _fit_counting_compilations(1, 200, 5)
    jax.clear_caches()
    monkeypatch.setattr(sampling, "CompiledInitNUTS", sampling.NUTS)  # NumPyro's own start
    eager_fit, eager_count = _fit_counting_compilations(1, 200, 5)
    assert compiled_count < eager_count / 2, (compiled_count, eager_count)
    # NumPyro draws the start's random numbers differently inside a program, so the chains differ;
    # they sample the same posterior: means within their Monte Carlo error (200 draws, ESS > 50)
    compiled_beta, eager_beta = (f.idata.posterior["beta"].values[0] for f in (compiled_fit, eager_fit))
    error = np.sqrt(compiled_beta.var(axis=0) / 50 + eager_beta.var(axis=0) / 50)
    assert np.all(np.abs(compiled_beta.mean(axis=0) - eager_beta.mean(axis=0)) < 4 * error)
    assert compiled_fit.divergences == 0
