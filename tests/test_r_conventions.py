"""R's formula and data conventions where users bring them (issue 18, item 9).

Before this change ``I(age^2)`` was refused ("Unexpected character: ^"), ``log(x)`` failed inside
formulae, ``scale(x)`` divided by the population SD, a yes/no response was refused, backticked
names were not columns, and ``b:a + a:b`` was a rank-deficient pair of columns.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesglmm import DataWarning, ModelSpec, SpecError


@pytest.fixture
def frame():
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(20), 5)
    return pd.DataFrame(
        {
            "g": g,
            "age": rng.uniform(20, 60, g.size),
            "week": np.tile(np.arange(5), 20),
            "arm": np.where(g % 2, "drug", "placebo"),
            "y": rng.integers(0, 2, g.size),
            "dose level": rng.normal(size=g.size),
        }
    )


def _spec(formula, frame, family="bernoulli"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return ModelSpec.from_formula(formula, frame, family)


def test_powers_and_functions_as_r_writes_them(frame):
    spec = _spec("y ~ age + I(age^2) + log(age) + (1 | g)", frame)
    assert spec.fixed_names == ("(Intercept)", "age", "I(age^2)", "log(age)")
    np.testing.assert_allclose(spec.fixed.X[:, 2], frame["age"] ** 2, rtol=1e-14)
    np.testing.assert_allclose(spec.fixed.X[:, 3], np.log(frame["age"]), rtol=1e-14)


def test_scale_uses_the_sample_sd(frame):
    spec = _spec("y ~ scale(age) + (1 | g)", frame)
    expected = (frame["age"] - frame["age"].mean()) / frame["age"].std(ddof=1)  # R: sd() divides by n - 1
    np.testing.assert_allclose(spec.fixed.X[:, 1], expected, rtol=1e-13)
    assert spec.fixed_names[1] == "scale(age)"


def test_logical_terms_are_named_as_r_names_them(frame):
    spec = _spec("y ~ I(week > 2) + (1 | g)", frame)
    assert spec.fixed_names == ("(Intercept)", "I(week > 2)TRUE")
    np.testing.assert_array_equal(spec.fixed.X[:, 1], (frame["week"] > 2).astype(float))
    flags = _spec("y ~ late + (1 | g)", frame.assign(late=frame["week"] > 2))
    assert flags.fixed_names == ("(Intercept)", "lateTRUE")


def test_backticked_names(frame):
    spec = _spec("y ~ `dose level` + (1 | g)", frame)
    assert spec.fixed_names == ("(Intercept)", "`dose level`")  # R's model.matrix keeps the backticks
    np.testing.assert_allclose(spec.fixed.X[:, 1], frame["dose level"])
    renamed = frame.rename(columns={"y": "an outcome", "g": "the group"})
    spec = _spec("`an outcome` ~ week + (1 | `the group`)", renamed)
    assert spec.response == "an outcome" and spec.random[0].group == "the group"


def test_a_repeated_interaction_is_one_term(frame):
    spec = _spec("y ~ week:age + age:week + (1 | g)", frame)
    assert spec.fixed_names == ("(Intercept)", "week:age")


@pytest.mark.parametrize("values, event", [(("no", "yes"), "yes"), (("n", "y"), "y")])
def test_factor_response_takes_the_first_level_as_failure(frame, values, event):
    labelled = frame.assign(y=np.where(frame["y"] == 1, values[1], values[0]))
    with pytest.warns(DataWarning, match=rf"{event!r} is the event \(1\) and {values[0]!r} the failure"):
        spec = ModelSpec.from_formula("y ~ week + (1 | g)", labelled, "bernoulli")
    np.testing.assert_array_equal(spec.y, frame["y"].to_numpy(dtype=float))
    reordered = labelled.assign(y=pd.Categorical(labelled["y"], categories=[values[1], values[0]]))
    with pytest.warns(DataWarning):
        flipped = ModelSpec.from_formula("y ~ week + (1 | g)", reordered, "bernoulli")
    np.testing.assert_array_equal(flipped.y, 1.0 - frame["y"].to_numpy(dtype=float))
    with pytest.raises(SpecError, match="exactly two"):
        ModelSpec.from_formula("y ~ week + (1 | g)", labelled.assign(y=frame["week"].astype(str)), "bernoulli")


def test_factor_levels_and_reference_follow_r(frame):
    spec = _spec("y ~ arm + (1 | g)", frame)
    assert spec.fixed_names == ("(Intercept)", "armplacebo")  # sorted levels, the first is the reference
    categorical = frame.assign(arm=pd.Categorical(frame["arm"], categories=["placebo", "drug"]))
    assert _spec("y ~ arm + (1 | g)", categorical).fixed_names == ("(Intercept)", "armdrug")  # factor level order


def test_nested_fixed_effects_are_named_as_r_or_refused(frame):
    nested = frame.assign(a=np.where(frame["g"] < 10, "1", "2"), b=np.where(frame["week"] % 2, "2", "1"))
    assert _spec("y ~ a + a:b + (1 | g)", nested).fixed_names == ("(Intercept)", "a2", "a1:b2", "a2:b2")  # R's names
    with pytest.raises(SpecError, match="write nested fixed effects out, e.g. 'a \\+ a:b'"):
        _spec("y ~ a/b + (1 | g)", nested)  # formulae mislabels a/b: refused rather than misnamed
