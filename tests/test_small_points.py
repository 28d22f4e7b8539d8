"""Smaller points from the first-hour trial (issue 18, item 7): names a user reads in warnings,
tables and JSON."""

import json
import math

import arviz as az
import numpy as np
import pytest

import bayesglmm
from bayesglmm import BayesFit, fit_ml
from bayesglmm.results.io import dump_json


def test_package_names():
    assert "soon" not in bayesglmm.__doc__
    assert bayesglmm.BayesFit is BayesFit and callable(BayesFit.load)


def test_random_intercept_labels_are_distinct(amenorrhea_ri_spec):
    table = fit_ml(amenorrhea_ri_spec, "laplace").covariance_parameters()
    assert list(table["label"]) == ["UN(1,1)", "SD(Intercept)"]


def test_json_carries_what_the_summary_prints(amenorrhea_agq11):
    record = json.loads(amenorrhea_agq11.to_json())
    assert record["se_used"] == "empirical" and record["hessian_positive_definite"] is True
    assert {row["term"] for row in record["odds_ratios"]} == {"time", "time2", "time:trt", "time2:trt"}
    assert [row["term"] for row in record["type3"]] == ["time", "time2", "time:trt", "time2:trt"]
    fixed = {row["term"]: row for row in record["fixed"]}
    table = amenorrhea_agq11.fixed_effects()
    assert fixed["time:trt"]["lower"] == pytest.approx(table.loc["time:trt", "lower"], rel=1e-12)
    assert isinstance(record["warnings"], list) and record["compile_seconds"] >= 0


def test_json_keeps_infinity_apart_from_not_computed():
    record = json.loads(dump_json({"upper": math.inf, "lower": -math.inf, "se": math.nan, "x": 1.5}))
    assert record == {"upper": "inf", "lower": "-inf", "se": None, "x": 1.5}


def test_fit_records_its_warnings_and_compilation(amenorrhea):
    from bayesglmm import ModelSpec

    frame = amenorrhea.dropna(subset=["y"])
    one = frame.groupby("id")["time"].max().idxmax()  # a woman seen at the last visit
    frame = frame.assign(z=(frame["id"] == one) * frame["time"])
    spec = ModelSpec.from_formula("y ~ time + z + (1 | id)", frame, "bernoulli")
    with pytest.warns(bayesglmm.InferenceWarning):
        fit = fit_ml(spec, "laplace", empirical=True)
    assert any(message.startswith("InferenceWarning: fixed-effect column(s) 'z'") for message in fit.messages)
    assert "of them compiling JAX programs" in fit.summary() or fit.optimization.compile_seconds < 0.05


def _fit_with_draws(values: np.ndarray, names: list[str]) -> BayesFit:
    terms = [name[len("beta[") : -1] for name in names]  # beta[TERM] names: the posterior's beta over term
    idata = az.from_dict(posterior={"beta": values}, coords={"term": terms}, dims={"beta": ["term"]})
    return BayesFit(
        formula="y ~ 1",
        family="bernoulli",
        link="logit",
        idata=idata,
        sampler="full",
        chains=2,
        draws=values.shape[1],
        warmup=0,
        thin=1,
        seed=0,
        target_accept=0.8,
        divergences=0,
        seconds=0.0,
        priors=(),
        nobs=1,
        ngroups={},
        parameter_names=tuple(names),
    )


def test_diagnostic_warnings_name_the_worst_parameters_first():
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(2, 500, 6))
    walk = np.cumsum(rng.normal(size=(2, 500)), axis=1)
    draws[:, :, 5] = walk + np.array([[0.0], [3.0]])  # the last parameter mixes worst
    draws[:, :, 4] = 0.3 * walk + rng.normal(size=(2, 500))  # then this one
    names = [f"beta[x{i}]" for i in range(6)]
    messages = _fit_with_draws(draws, names).diagnostic_messages()
    rhat = next(m for m in messages if m.startswith("R-hat"))
    assert rhat.index("beta[x5]") < rhat.index("beta[x4]")
    assert "(> 1.01)" not in rhat and "limit 1.01" in rhat
    ess = next(m for m in messages if m.startswith("effective sample size"))
    assert ess.split(" for ")[1].startswith("beta[x5]")
