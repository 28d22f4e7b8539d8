"""Prior syntax, named sets, overrides and their errors."""

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec, SpecError
from bayesglmm.bayes.priors import parse_prior, resolve_priors


@pytest.fixture(scope="module")
def spec():
    frame = pd.DataFrame({"y": [0, 1, 1, 0, 1, 0] * 4, "x": np.arange(24.0) % 3, "g": np.repeat(np.arange(6), 4)})
    return ModelSpec.from_formula("y ~ x + (1 + x | g)", frame, "bernoulli")


def test_brms_set_is_brms_proper_defaults(spec):
    priors = resolve_priors(spec, "brms")
    assert [str(p) for p in priors.beta] == ["normal(0, 10)", "normal(0, 10)"]
    assert [str(p) for p in priors.sd["g"]] == ["half_student_t(3, 2.5)"] * 2
    assert [str(p) for p in priors.corr["g"]] == ["lkj(1)"]
    assert priors.sigma is None


def test_overrides_most_specific_name_wins(spec):
    priors = resolve_priors(
        spec,
        "default",
        {"beta": "normal(0, 2)", "beta[x]": "normal(1, 0.5)", "sd[g,x]": "half_normal(1)", "corr[g]": "lkj(4)"},
    )
    assert [str(p) for p in priors.beta] == ["normal(0, 2)", "normal(1, 0.5)"]
    assert [str(p) for p in priors.sd["g"]] == ["half_student_t(3, 2.5)", "half_normal(1)"]
    assert str(priors.corr["g"][0]) == "lkj(4)"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"beta[z]": "normal(0, 1)"}, "no parameter named beta\\[z\\]"),
        ({"sd": "normal(0, 1)"}, "a standard deviation needs one of"),
        ({"beta": "lkj(2)"}, "a coefficient needs one of"),
        ({"beta": "normal(0, -1)"}, "must be positive"),
        ({"beta": "gauss(0, 1)"}, "cannot read the prior"),
        ({"beta": "normal(0)"}, "takes 2 argument"),
        ({"sigma": "half_normal(1)"}, "has no sigma"),
    ],
)
def test_invalid_priors_are_explained(spec, overrides, message):
    with pytest.raises(SpecError, match=message):
        resolve_priors(spec, "default", overrides)


def test_unknown_prior_set(spec):
    with pytest.raises(SpecError, match="unknown prior set 'stan'"):
        resolve_priors(spec, "stan")


def test_parse_prior_round_trips():
    assert str(parse_prior(" student_t( 3, 0 , 2.5 ) ")) == "student_t(3, 0, 2.5)"
