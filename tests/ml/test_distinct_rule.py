"""The automatic rule on the distinct groups (core/distinct_rule.py) is the ML objective's rule:
the same table of −2ℓ by number of points, the same choice (reference: ``qpoints_rule_at``, which
evaluates every group with the ML objective's programs)."""

import warnings

import numpy as np
import pytest

from bayesglmm import ModelSpec, datasets, fit_ml
from bayesglmm.core.covariance import CovarianceStructure
from bayesglmm.core.data import distinct_groups, grouped_data
from bayesglmm.core.distinct_rule import rule_on_distinct
from bayesglmm.errors import SingularFitWarning
from bayesglmm.ml.evaluate import qpoints_rule_at

CASES = {
    # binary, 1151 groups of which 55 distinct: the case the distinct groups are for
    "amenorrhea": ("y ~ time + time2 + trt:time + trt:time2 + (1 + time | id)", datasets.load_amenorrhea, "bernoulli"),
    # counts with an extra parameter (the NB2 shape) and an offset; every group distinct
    "epilepsy_nb2": ("y ~ time + trt + trt:time + offset(t) + (1 + time | id)", datasets.load_epilepsy, "nbinom2"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule_on_distinct_groups_is_the_ml_engines_rule(case):
    formula, load, family = CASES[case]
    spec = ModelSpec.from_formula(formula, load(), family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        fit = fit_ml(spec, "laplace")
    estimates = fit.params()["estimate"]
    extra = spec.family.extra_from_params(lambda name: float(estimates[name]))
    # off the boundary the NB2 fit sits at (corr = +1), where the rule's table is ill-conditioned
    G = 0.9 * fit.G + 0.1 * np.diag(np.diag(fit.G))
    beta = fit.beta.to_numpy() + 0.05
    expected, expected_table = qpoints_rule_at(spec, beta, G, extra)
    distinct, counts, _ = distinct_groups(grouped_data(spec))
    factor = spec.random[0]
    structure = CovarianceStructure(factor.q, factor.blocks)
    chosen, table = rule_on_distinct(spec.family, structure, beta, G, extra, distinct, counts)
    assert chosen == expected
    assert list(table) == list(expected_table)[: len(table)] and len(table) >= 2
    for k in table:
        np.testing.assert_allclose(table[k], expected_table[k], rtol=1e-10, atol=1e-7)


def test_ml_automatic_points_use_the_distinct_groups_where_groups_repeat(monkeypatch):
    # amenorrhea: 55 distinct groups of 1151, so fit_ml's rule runs on them; its table at the
    # fit's estimates equals the objective's rule's there
    from bayesglmm.core import distinct_rule
    from bayesglmm.ml import point_rule

    formula, load, family = CASES["amenorrhea"]
    spec = ModelSpec.from_formula(formula, load(), family)
    calls = []
    original = distinct_rule.rule_on_distinct_phi

    def counted(*args, **kwargs):
        calls.append(args[2])
        return original(*args, **kwargs)

    monkeypatch.setattr(point_rule, "rule_on_distinct_phi", counted)
    fit = fit_ml(spec, "agq", "auto")
    assert len(calls) >= 2  # at the Laplace estimates, then at each AGQ stage's estimates
    expected, expected_table = qpoints_rule_at(spec, fit.beta.to_numpy(), fit.G, None)
    assert fit.qpoints == expected
    for k, value in fit.optimization.qpoints_table.items():
        np.testing.assert_allclose(value, expected_table[k], rtol=1e-10, atol=1e-6)


def test_counts_without_repeated_groups_keep_the_objectives_rule():
    from bayesglmm.ml.point_rule import distinct_for_rule

    formula, load, family = CASES["epilepsy_nb2"]
    assert distinct_for_rule(ModelSpec.from_formula(formula, load(), family)) is None  # 59 of 59 distinct
    formula, load, family = CASES["amenorrhea"]
    assert distinct_for_rule(ModelSpec.from_formula(formula, load(), family)) is not None
