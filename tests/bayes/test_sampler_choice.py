"""sampler="auto": the rule of bayesglmm.bayes.sampler_choice, and a fit that says what it chose."""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec, simulate
from bayesglmm.bayes import fit_bayes, sampler_choice
from bayesglmm.bayes.sampler_choice import MARGINAL_ROW_NODES, choose_sampler, distinct_rows


def test_amenorrhea_integrates_its_55_distinct_women(amenorrhea_spec):
    """1151 women, 4604 rows, but only 55 distinct row patterns (docs/bayes.md), which is what the
    marginal program integrates."""
    groups, rows = distinct_rows(amenorrhea_spec)
    assert groups == 55 and rows < 4604


def test_one_factor_small_grid_chooses_marginal(epilepsy_spec, epilepsy_laplace):
    choice = choose_sampler(epilepsy_spec, ml_fit=epilepsy_laplace)
    assert choice.sampler == "marginal" and choice.ml_fit is epilepsy_laplace
    assert "59 distinct groups, 295 rows" in choice.reason and f"<= {MARGINAL_ROW_NODES:,}" in choice.reason


def test_given_points_decide_without_a_fit(epilepsy_spec, monkeypatch):
    """With qpoints given, the cost is rows x points^q: 295 x 7^2 = 14,455 pairs; a budget below
    that picks the full sampler, and no ML fit is made either way."""
    assert choose_sampler(epilepsy_spec, qpoints=7).ml_fit is None
    monkeypatch.setattr(sampler_choice, "MARGINAL_ROW_NODES", 14_454)
    choice = choose_sampler(epilepsy_spec, qpoints=7)
    assert choice.sampler == "full" and "14,455 row-node pairs > 14,454" in choice.reason


def test_too_many_rows_choose_full_before_any_fit(epilepsy_spec, monkeypatch):
    monkeypatch.setattr(sampler_choice, "MARGINAL_ROW_NODES", 100)
    choice = choose_sampler(epilepsy_spec)
    assert choice.sampler == "full" and choice.ml_fit is None and "295 rows exceed 100" in choice.reason


def test_crossed_factors_choose_full():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": np.repeat(np.arange(6), 6), "b": np.tile(np.arange(6), 6), "x": rng.normal(size=36)})
    formula = "y ~ x + (1 | a) + (1 | b)"
    truth = {"beta[(Intercept)]": 0.5, "beta[x]": 0.2, "sd[a,(Intercept)]": 0.4, "sd[b,(Intercept)]": 0.3}
    data = simulate(formula, truth, frame, seed=1, family="poisson")
    choice = choose_sampler(ModelSpec.from_formula(formula, data, "poisson"))
    assert choice.sampler == "full" and "2 grouping factors (a, b)" in choice.reason


def test_auto_fit_records_prints_and_summarises_its_choice(epilepsy_spec, epilepsy_laplace, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short run: ESS warnings
        fit = fit_bayes(
            epilepsy_spec,
            "brms_proper",
            chains=1,
            warmup=100,
            draws=100,
            seed=1,
            predictive=False,
            ml_fit=epilepsy_laplace,
        )
    assert fit.sampler == "marginal" and fit.warmup == 100
    assert "sampler='auto' chose 'marginal': one grouping factor" in capsys.readouterr().err
    assert "Chosen by" in fit.summary() and fit.record["sampler_choice"].startswith("one grouping factor")


def test_auto_is_the_default_and_the_choice_is_quiet_without_progress(epilepsy_spec, monkeypatch, capsys):
    """The default sampler is "auto"; ``progress=False`` keeps the choice out of stderr (the
    fit's record and summary keep it). The full sampler is forced here by a tiny budget."""
    monkeypatch.setattr(sampler_choice, "MARGINAL_ROW_NODES", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_bayes(epilepsy_spec, chains=1, warmup=50, draws=50, seed=1, predictive=False, progress=False)
    assert fit.sampler == "full" and fit.warmup == 50
    assert "sampler='auto'" not in capsys.readouterr().err
    assert "exceed 100" in fit.record["sampler_choice"]


def test_an_unknown_sampler_is_refused_with_the_choices(epilepsy_spec):
    from bayesglmm import SpecError

    with pytest.raises(SpecError, match="sampler must be one of auto, full, marginal"):
        fit_bayes(epilepsy_spec, sampler="nuts")


def test_auto_evaluates_the_point_rule_once_at_the_ml_estimates(epilepsy_spec, epilepsy_laplace, monkeypatch):
    # The rule choose_sampler ran at the ML estimates is handed to the marginal sampler, which
    # then checks it at the posterior mode only (it used to run it at the ML estimates again).
    from bayesglmm.bayes import integrated_sampler
    from bayesglmm.core import distinct_rule

    calls = []
    rule = distinct_rule.rule_for_spec

    def counted(spec, beta, G, *args, **kwargs):
        calls.append(np.asarray(beta, dtype=float).copy())
        return rule(spec, beta, G, *args, **kwargs)

    monkeypatch.setattr(distinct_rule, "rule_for_spec", counted)  # choose_sampler's (imported when called)
    monkeypatch.setattr(integrated_sampler, "rule_for_spec", counted)  # the marginal sampler's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_bayes(
            epilepsy_spec,
            "brms_proper",
            chains=1,
            warmup=20,
            draws=20,
            predictive=False,
            progress=False,
            ml_fit=epilepsy_laplace,
            group_loglik=False,
        )
    at_estimates = [beta for beta in calls if np.allclose(beta, epilepsy_laplace.beta.to_numpy())]
    assert fit.sampler == "marginal" and len(at_estimates) == 1 and len(calls) >= 2
