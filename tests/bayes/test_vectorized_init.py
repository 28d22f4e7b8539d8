"""More chains than devices: the chains run vectorised, and their initialisation is one compiled
program (:class:`bayesglmm.bayes.sampling.CompiledInitNUTS`), not NumPyro's op-by-op ``vmap``."""

import warnings

import jax
import numpy as np
import pandas as pd

from bayesglmm import ModelSpec
from bayesglmm.bayes import fit_bayes

from ..compile_events import compile_events


def test_vectorised_chains_start_from_one_compiled_program():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(15), 4)
    frame = pd.DataFrame({"g": g, "x": rng.normal(size=g.size)})
    frame["y"] = 1.0 + 0.5 * frame.x + rng.normal(0, 0.7, 15)[g] + rng.normal(0, 0.5, g.size)
    spec = ModelSpec.from_formula("y ~ x + (1 | g)", frame, "gaussian")
    chains = jax.local_device_count() + 1  # one more than the devices: vectorised
    with compile_events() as compiles, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_bayes(
            spec,
            "brms_proper",
            sampler="full",
            chains=chains,
            warmup=300,
            draws=300,
            seed=3,
            progress=False,
            predictive=False,
            group_loglik=False,
        )
    beta = np.asarray(fit.idata.posterior["beta"])
    assert beta.shape[:2] == (chains, 300)
    # measured with numpyro 0.22: 166 compilations with the eager start, 83 with the compiled one
    assert len(compiles) < 120, len(compiles)
    # every chain samples the same posterior: chain means agree within their Monte Carlo error
    slope = beta[..., 1]
    assert np.ptp(slope.mean(axis=1)) < 6 * slope.std() / np.sqrt(300 / 4)
    assert abs(slope.mean() - 0.5) < 0.3
