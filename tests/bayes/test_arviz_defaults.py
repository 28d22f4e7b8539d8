"""ArviZ with no arguments on every kind of fit: az.summary and az.plot_trace give one row per
population parameter (each once, no NaN R-hat, no random effects), the random effects are in their
own group, and a saved fit reads back the same (issue 22, item 3)."""

import warnings

import arviz as az
import matplotlib
import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec, simulate
from bayesglmm.bayes import fit_bayes, laplace_fit
from bayesglmm.results.bayesfit import BayesFit

matplotlib.use("Agg")

EPILEPSY = "y ~ time + trt + trt:time + offset(t) + (1 + time | id)"


def _crossed_spec():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": np.repeat(np.arange(8), 5), "b": np.tile(np.arange(5), 8), "x": rng.normal(size=40)})
    formula = "y ~ x + (1 | a) + (1 | b)"
    truth = {"beta[(Intercept)]": 0.7, "beta[x]": 0.3, "sd[a,(Intercept)]": 0.5, "sd[b,(Intercept)]": 0.4}
    return ModelSpec.from_formula(formula, simulate(formula, truth, frame, seed=2, family="poisson"), "poisson")


def _fit(kind, epilepsy, cbpp_frame):
    short = dict(chains=2, warmup=150, draws=100, seed=1, progress=False, predictive=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short runs: ESS warnings
        if kind == "full, correlated effects":
            return fit_bayes(ModelSpec.from_formula(EPILEPSY, epilepsy, "poisson"), sampler="full", **short)
        if kind == "marginal, NB2 with its shape":
            return fit_bayes(ModelSpec.from_formula(EPILEPSY, epilepsy, "nbinom2"), sampler="marginal", **short)
        if kind == "laplace posterior, binomial with trials":
            spec = ModelSpec.from_formula(
                "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp_frame, "binomial"
            )
            return laplace_fit(spec, draws=400, seed=1, predictive=False)
        return fit_bayes(_crossed_spec(), sampler="full", **short)


KINDS = (
    "full, correlated effects",
    "marginal, NB2 with its shape",
    "laplace posterior, binomial with trials",
    "full, crossed factors",
)


@pytest.fixture(scope="module")
def cbpp_frame():
    from bayesglmm import datasets

    return datasets.load_cbpp()


@pytest.mark.parametrize("kind", KINDS)
def test_summary_and_trace_with_no_arguments(kind, epilepsy, cbpp_frame, capsys, tmp_path):
    fit = _fit(kind, epilepsy, cbpp_frame)
    capsys.readouterr()
    table = az.summary(fit.idata)
    assert "Shape validation failed" not in capsys.readouterr().err  # the Laplace draws come as 4 chains
    assert len(table) == len(fit.parameter_names), table.index.tolist()  # every parameter once, nothing else
    assert table.index.is_unique and not table["r_hat"].isna().any()
    assert not any(row.startswith("b_") for row in table.index)
    np.testing.assert_allclose(table["mean"].to_numpy(), fit.params()["mean"].to_numpy(), atol=1.5e-3)  # same order

    axes = az.plot_trace(fit.idata)
    assert axes.shape == (len(fit.idata.posterior.data_vars), 2)
    matplotlib.pyplot.close("all")

    levels = sum(fit.ngroups.values())
    effects = az.summary(fit.idata, group="random_effects")
    terms = {"full, correlated effects": 2, "marginal, NB2 with its shape": 2}.get(kind, 1)
    assert len(effects) == levels * terms and all(row.startswith("b_") for row in effects.index)

    fit.save(tmp_path / "fit.nc")
    again = BayesFit.load(tmp_path / "fit.nc")
    assert "random_effects" in again.idata.groups()
    pd.testing.assert_frame_equal(again.params(), fit.params())
