"""Data that cannot identify the model are called out, not reported as converged (issue 18, item 2).

Before this change: a constant response, separated data and singleton groups fitted and said
"converged" (separation stopped at iteration 0 with the starting variance); the slope and
one-cluster cases passed silently.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ConvergenceWarning, InferenceWarning, ModelSpec, SpecError, fit_ml
from bayesglmm.gee import fit_gee
from bayesglmm.ml.start import glm_fit
from bayesglmm.model.families import make_family
from bayesglmm.model.identifiability import scores_rule_out_separation, separated_columns


def separation_sides(family: str, y, trials):
    """The family's sides of the separation LP (the family object answers it)."""
    return make_family(family).separation_sides(y, trials)


def _frame(seed=1, groups=30, size=6):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), size)
    return pd.DataFrame(
        {
            "g": g,
            "x": rng.normal(size=g.size),
            "t": np.tile(np.arange(size), groups),
            "coin": rng.integers(0, 2, g.size),
        }
    ), rng


@pytest.mark.parametrize("family, value", [("bernoulli", 0), ("bernoulli", 1), ("poisson", 0)])
def test_constant_response_is_an_error(family, value):
    frame, _ = _frame()
    with pytest.raises(SpecError, match="response 'y' is .* in every row used"):
        ModelSpec.from_formula("y ~ x + (1 | g)", frame.assign(y=value), family)


def test_complete_separation_is_not_converged():
    frame, _ = _frame()
    spec = ModelSpec.from_formula("y ~ x + (1 | g)", frame.assign(y=(frame["x"] > 0).astype(int)), "bernoulli")
    with pytest.warns(ConvergenceWarning, match="separated by 'x'"):
        fit = fit_ml(spec, "laplace")
    assert not fit.converged
    assert fit.to_dict()["converged"] is False


def test_quasi_complete_separation_by_a_factor_is_not_converged():
    frame, rng = _frame()
    y = np.where(frame["x"] > 0, 1, frame["coin"])  # every row with x > 0 is an event
    spec = ModelSpec.from_formula("y ~ I(x > 0) + (1 | g)", frame.assign(y=y), "bernoulli")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_ml(spec, "laplace")
    assert not fit.converged
    assert "I(x > 0)TRUE" in fit.optimization.message


def test_separation_lp_on_textbook_cases():
    X = np.column_stack([np.ones(6), [1.0, 2, 3, 4, 5, 6]])
    assert separated_columns(
        X, ["(Intercept)", "x"], separation_sides("bernoulli", np.array([0, 0, 0, 1, 1, 1.0]), np.ones(6))
    ) == ["x"]
    overlap = np.array([0, 1, 0, 1, 0, 1.0])
    assert separated_columns(X, ["(Intercept)", "x"], separation_sides("bernoulli", overlap, np.ones(6))) == []
    # Poisson: a level with only zero counts sends its coefficient to -infinity
    level = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1.0]])
    counts = np.array([2, 0, 3, 0, 0, 0.0])
    assert separated_columns(level, ["(Intercept)", "b"], separation_sides("poisson", counts, np.ones(6))) == ["b"]
    assert separated_columns(level, ["(Intercept)", "b"], separation_sides("poisson", counts + 1, np.ones(6))) == []


def _scores(family: str, X, y):
    n = np.ones(len(y))
    return glm_fit(make_family(family), X, y, n, np.zeros(len(y))).row_scores


def test_glm_scores_certify_no_separation_exactly_where_the_lp_finds_none():
    # The certificate (Stiemke's theorem, identifiability module) may only skip the LP where the LP
    # finds no separation: on random designs, separated, quasi-separated and overlapping, the
    # answer with the scores equals the LP's, and the scores certify every overlapping design.
    rng = np.random.default_rng(3)
    certified = 0
    for case in range(60):
        n = int(rng.integers(8, 200))
        X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 3, n)])
        names = ["(Intercept)", "x", "k"]
        kind = case % 3
        if kind == 0:  # complete separation by a direction
            y = (X @ rng.normal(size=3) > 0).astype(float)
        elif kind == 1:  # quasi-complete: every row with k == 2 is an event
            y = np.where(X[:, 2] == 2, 1.0, rng.integers(0, 2, n))
        else:
            y = rng.integers(0, 2, n).astype(float)
        if y.min() == y.max():
            continue
        sides = separation_sides("bernoulli", y, np.ones(n))
        scores = _scores("bernoulli", X, y)
        lp = separated_columns(X, names, sides)
        assert separated_columns(X, names, sides, scores) == lp
        if scores_rule_out_separation(X / np.abs(X).max(axis=0), sides, scores):
            certified += 1
            assert lp == []
    assert certified >= 12  # most overlapping designs skip the LP


def test_glm_scores_never_certify_a_separated_textbook_case():
    X = np.column_stack([np.ones(6), [1.0, 2, 3, 4, 5, 6]])
    y = np.array([0, 0, 0, 1, 1, 1.0])
    sides = separation_sides("bernoulli", y, np.ones(6))
    assert not scores_rule_out_separation(X / 6, sides, _scores("bernoulli", X, y))
    assert separated_columns(X, ["(Intercept)", "x"], sides, _scores("bernoulli", X, y)) == ["x"]
    level = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1.0]])
    counts = np.array([2, 0, 3, 0, 0, 0.0])
    poisson_sides = separation_sides("poisson", counts, np.ones(6))
    assert not scores_rule_out_separation(level, poisson_sides, _scores("poisson", level, counts))
    assert scores_rule_out_separation(
        level, separation_sides("poisson", counts + 1, np.ones(6)), _scores("poisson", level, counts + 1)
    )


def test_singleton_groups_with_a_random_intercept_are_refused_for_binary_data():
    frame, _ = _frame()
    frame = frame.assign(y=frame["coin"], row=np.arange(len(frame)))
    with pytest.raises(SpecError, match="every level of 'row' has one row"):
        ModelSpec.from_formula("y ~ x + (1 | row)", frame, "bernoulli")
    ModelSpec.from_formula("t ~ x + (1 | row)", frame, "poisson")  # an observation-level effect is fine for counts


def test_random_slope_constant_within_groups_is_refused():
    frame, _ = _frame()
    frame = frame.assign(y=frame["coin"], arm=frame["g"] % 2)
    with pytest.raises(SpecError, match=r"random slope 'arm' is constant within every level of 'g'.*\(1 \+ arm \| g\)"):
        ModelSpec.from_formula("y ~ x + (1 + arm | g)", frame, "bernoulli")
    ModelSpec.from_formula("y ~ x + (0 + arm | g)", frame, "bernoulli")  # without an intercept it is identifiable


def test_a_column_varying_in_one_cluster_warns_for_sandwich_ses():
    frame, _ = _frame()
    frame = frame.assign(y=frame["coin"], z=(frame["g"] == 3) * frame["t"] * 1.0)
    spec = ModelSpec.from_formula("y ~ x + z + (1 | g)", frame, "bernoulli")
    with pytest.warns(InferenceWarning, match="'z' vary in only one level of 'g'"):
        fit_ml(spec, "laplace", empirical=True)
    with pytest.warns(InferenceWarning, match="'z' vary in only one cluster of 'g'"):
        fit_gee("y ~ x + z", frame, "bernoulli", cluster="g")
    with warnings.catch_warnings():
        warnings.simplefilter("error", InferenceWarning)
        fit_ml(spec, "laplace")  # model-based SEs only: nothing to warn about
