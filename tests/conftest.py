"""Shared fixtures: seed data (through the data setting) and fits reused across tests.

Fits are session-scoped: each distinct model compiles once per test run.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

from bayesglmm.bayes import set_cpu_devices

set_cpu_devices(4)  # before JAX's first computation: NUTS chains run in parallel across host devices

from bayesglmm import datasets  # noqa: E402
from bayesglmm.config import DATA_ENV  # noqa: E402
from bayesglmm.ml import fit_ml  # noqa: E402
from bayesglmm.model.spec import ModelSpec  # noqa: E402

AMENORRHEA = "y ~ time + time2 + trt:time + trt:time2 + (1 + time | id)"
AMENORRHEA_RI = "y ~ time + time2 + trt:time + trt:time2 + (1 | id)"
EPILEPSY = "y ~ time + trt + trt:time + offset(t) + (1 + time | id)"
REFERENCE_FILE = "seed_fits.json"


def _data_dir() -> Path:
    value = os.environ.get(DATA_ENV)
    if not value or not Path(value).is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{DATA_ENV} must name the seed data folder in CI")
        pytest.skip(f"seed data not available: set {DATA_ENV}=../shared/data")
    return Path(value)


@pytest.fixture(scope="session")
def reference() -> dict:
    """R reference fits: ../shared/reference/seed_fits.json (beside the data folder)."""
    path = _data_dir().parent / "reference" / REFERENCE_FILE
    if not path.is_file():
        pytest.skip(f"reference fits not found at {path}")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def amenorrhea():
    _data_dir()
    return datasets.load_amenorrhea()


@pytest.fixture(scope="session")
def epilepsy():
    _data_dir()
    return datasets.load_epilepsy()


def _quiet_spec(formula, data, family, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ModelSpec.from_formula(formula, data, family, **kwargs)


@pytest.fixture(scope="session")
def amenorrhea_spec(amenorrhea):
    return _quiet_spec(AMENORRHEA, amenorrhea, "bernoulli")


@pytest.fixture(scope="session")
def amenorrhea_ri_spec(amenorrhea):
    return _quiet_spec(AMENORRHEA_RI, amenorrhea, "bernoulli")


@pytest.fixture(scope="session")
def epilepsy_spec(epilepsy):
    return _quiet_spec(EPILEPSY, epilepsy, "poisson")


@pytest.fixture(scope="session")
def amenorrhea_laplace(amenorrhea_spec):
    return fit_ml(amenorrhea_spec, "laplace")


@pytest.fixture(scope="session")
def amenorrhea_agq11(amenorrhea_spec):
    return fit_ml(amenorrhea_spec, "agq", 11, empirical=True)


@pytest.fixture(scope="session")
def epilepsy_laplace(epilepsy_spec):
    return fit_ml(epilepsy_spec, "laplace")


@pytest.fixture(scope="session")
def epilepsy_agq50(epilepsy_spec):
    return fit_ml(epilepsy_spec, "agq", 50, empirical=True)


@pytest.fixture(scope="session")
def amenorrhea_brms_posterior(amenorrhea_spec):
    """Full-latent NUTS under brms-style priors, a short run: 2 chains x 1000 draws after 500 warm-up.

    Enough for the comparisons and predictions that use it; the check at brms's precision is the
    slow ``test_amenorrhea_posterior_matches_brms``.  Measured with seeds 0-3: R-hat at most 1.06,
    means within 0.11 brms SDs of brms's, SDs within 8%.  With 500 draws sd(time) had a bulk ESS of
    14-55 and R-hat 1.02-1.11 over seeds 0-5 (too short for an R-hat check).
    """
    from bayesglmm.bayes import fit_bayes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_bayes(
            amenorrhea_spec, "brms_proper", sampler="full", chains=2, warmup=500, draws=1000, seed=0, predictive=False
        )


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    With every module's executables kept in memory, fresh-clone CI runs of the suite in one
    process died late inside XLA's compiler (abort or segfault, 2026-11-25), consistent with the
    process running out of memory. Session fixtures keep their fits; only programs go, and a later
    module that needs one again reads it from the on-disk compilation cache (``conftest.py``).
    """
    yield
    import gc

    import jax

    jax.clear_caches()
    gc.collect()
