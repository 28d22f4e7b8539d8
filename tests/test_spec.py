"""ModelSpec validation: every bad input gives an error or warning naming the problem and the column."""

import numpy as np
import pandas as pd
import pytest

from bayesglmm import DataWarning, FormulaError, ModelSpec, SpecError, fit_ml


@pytest.fixture
def frame():
    rng = np.random.default_rng(1)
    n_groups, size = 30, 4
    data = pd.DataFrame(
        {
            "g": np.repeat(np.arange(n_groups), size),
            "x": np.tile(np.arange(size, dtype=float), n_groups),
            "dose": np.repeat(rng.choice(["low", "high", "none"], n_groups), size),
        }
    )
    eta = -0.5 + 0.3 * data["x"] + np.repeat(rng.normal(0, 0.8, n_groups), size)
    data["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    data["count"] = rng.poisson(np.exp(eta))
    data["n"] = 5
    data["k"] = rng.binomial(5, 1 / (1 + np.exp(-eta)))
    return data


def test_names_follow_r_model_matrix(frame):
    spec = ModelSpec.from_formula("y ~ dose * x + (1 + x | g)", frame, "bernoulli", reference={"dose": "none"})
    assert spec.fixed.names == ("(Intercept)", "dosehigh", "doselow", "x", "dosehigh:x", "doselow:x")
    spec = ModelSpec.from_formula("y ~ x:dose + x + (1 | g)", frame, "bernoulli")
    assert spec.fixed.names[:2] == ("(Intercept)", "x")  # terms ordered by degree, as R
    assert spec.fixed.terms[-1][0] == "x:dose"


def test_unknown_column_is_named(frame):
    with pytest.raises(SpecError, match="'weight' not found"):
        ModelSpec.from_formula("y ~ x + weight + (1 | g)", frame, "bernoulli")


def test_bernoulli_needs_zero_one(frame):
    with pytest.raises(SpecError, match="column 'count' has values .*bernoulli.* needs 0/1"):
        ModelSpec.from_formula("count ~ x + (1 | g)", frame, "bernoulli")


def test_poisson_rejects_negative_and_fractional_counts(frame):
    bad = frame.assign(count=frame["count"].astype(float))
    bad.loc[3, "count"] = -1
    with pytest.raises(SpecError, match="'count' has negative values"):
        ModelSpec.from_formula("count ~ x + (1 | g)", bad, "poisson")
    bad.loc[3, "count"] = 1.5
    with pytest.raises(SpecError, match="'count' has non-integer values"):
        ModelSpec.from_formula("count ~ x + (1 | g)", bad, "poisson")


def test_trials_must_be_positive(frame):
    with pytest.raises(SpecError, match="trials column 'n'"):
        ModelSpec.from_formula("k ~ x + (1 | g)", frame.assign(n=0), "binomial", trials="n")
    with pytest.raises(SpecError, match="needs the number of trials"):
        ModelSpec.from_formula("k ~ x + (1 | g)", frame, "binomial")


def test_missing_values_are_dropped_and_counted(frame):
    holes = frame.assign(y=frame["y"].astype(float), x=frame["x"].astype(float))
    holes.loc[[0, 5, 9], "y"] = np.nan
    holes.loc[[9, 20], "x"] = np.nan
    with pytest.warns(DataWarning, match=r"4 of 120 rows dropped .*y: 3, x: 2.*116 observations used"):
        spec = ModelSpec.from_formula("y ~ x + (1 | g)", holes, "bernoulli")
    assert (spec.data.nobs_read, spec.nobs) == (120, 116)
    assert spec.data.dropped_missing == {"y": 3, "x": 2}


@pytest.mark.parametrize(
    "formula, message",
    [
        ("y ~ x + (1 + x | g", "unbalanced"),
        ("y x", "needs a response and '~'"),
        ("y ~ x + 1 | g", "need parentheses"),
        ("y ~ x + ( | g)", "cannot read the random-effect term"),
        ("log(y) ~ x + (1 | g)", "must be a column name"),
        ("y ~ x + $ + (1 | g)", "cannot build the design"),
    ],
)
def test_unparseable_formulas(frame, formula, message):
    with pytest.raises(FormulaError, match=message):
        ModelSpec.from_formula(formula, frame, "bernoulli")


def test_grouping_factor_with_one_level(frame):
    with pytest.raises(SpecError, match="grouping factor 'g' has only one level"):
        ModelSpec.from_formula("y ~ x + (1 | g)", frame.assign(g=1), "bernoulli")


def test_rank_deficient_design_names_the_column(frame):
    with pytest.raises(SpecError, match="rank deficient.*'x2' is a linear combination"):
        ModelSpec.from_formula("y ~ x + x2 + (1 | g)", frame.assign(x2=2 * frame["x"] + 1), "bernoulli")


def test_ml_engine_needs_a_random_effect_term(frame):
    # (several grouping factors: tests/ml/test_crossed.py)
    spec = ModelSpec.from_formula("y ~ x", frame, "bernoulli")
    with pytest.raises(SpecError, match="no random-effect term"):
        fit_ml(spec)


def test_nested_bars_expand_as_lme4(frame):
    spec = ModelSpec.from_formula("y ~ x + (1 | dose/g)", frame, "bernoulli")
    assert [factor.group for factor in spec.random] == ["dose", "dose:g"]


def test_double_bar_gives_independent_blocks(frame):
    spec = ModelSpec.from_formula("y ~ x + (1 + x || g)", frame, "bernoulli")
    assert spec.random[0].blocks == ((0,), (1,))
    assert spec.random[0].structure == "vc"


def test_binomial_with_a_binary_response_is_bernoulli(frame):
    """R's convention (glm, glmer): family binomial with a 0/1 response and no trials is Bernoulli;
    counts without trials are still an error (test above). The CLI's former error case for it."""
    spec = ModelSpec.from_formula("y ~ x + (1 | g)", frame, "binomial")
    assert spec.family.name == "bernoulli" and spec.family.link == "logit"
    probit = ModelSpec.from_formula("y ~ x + (1 | g)", frame, "binomial", link="probit")
    assert probit.family.name == "bernoulli" and probit.family.link == "probit"


def test_binomial_response_forms_agree(frame):
    cbind = ModelSpec.from_formula("cbind(k, n - k) ~ x + (1 | g)", frame, "binomial")
    counts = ModelSpec.from_formula("k ~ x + (1 | g)", frame, "binomial", trials="n")
    proportions = ModelSpec.from_formula("p ~ x + (1 | g)", frame.assign(p=frame["k"] / 5), "binomial", trials="n")
    for spec in (counts, proportions):
        np.testing.assert_array_equal(spec.y, cbind.y)
        np.testing.assert_array_equal(spec.trials, cbind.trials)
    fit_cbind, fit_prop = fit_ml(cbind), fit_ml(proportions)
    assert abs(fit_cbind.loglik - fit_prop.loglik) < 1e-9


def test_spec_arrays_are_read_only(frame):
    spec = ModelSpec.from_formula("y ~ x + (1 | g)", frame, "bernoulli")
    with pytest.raises(ValueError):
        spec.y[0] = 2.0
