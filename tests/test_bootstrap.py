"""The parametric bootstrap (bayesglmm.compare.bootstrap): its arithmetic on the replicates, and
that a resumed run (replicates lost, as to a killed worker) gives the same intervals."""

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec, SpecError, fit_ml
from bayesglmm.compare import parametric_bootstrap

COUNTS = [0, 5, 1, 5, 8, 3, 2, 0, 3, 3, 2, 4, 6, 1, 3, 1, 4, 1, 5, 3, 3, 0, 3, 3, 2, 6, 3, 2, 3, 3]


@pytest.fixture(scope="module")
def small_fit():
    frame = pd.DataFrame({"g": np.repeat(np.arange(10), 3), "x": np.tile([-1.0, 0.0, 1.0], 10), "y": COUNTS})
    return fit_ml(ModelSpec.from_formula("y ~ x + (1 | g)", frame, "poisson"), "laplace")


def test_bootstrap_summarises_its_replicates(small_fit, tmp_path):
    result = parametric_bootstrap(small_fit, tmp_path / "boot", sims=12, seed=5, workers=1, progress=False)
    table, replicates = result.table, result.study.replicates
    assert result.study.plan.truth == pytest.approx(small_fit.params()["estimate"].to_dict())  # simulated at θ̂
    for name, row in table.iterrows():
        values = replicates.loc[replicates["name"] == name, "estimate"].to_numpy()
        low, high = np.quantile(values, [0.025, 0.975])
        estimate = small_fit.params().loc[name, "estimate"]
        assert row["n"] == 12 and row["failed"] == 0
        assert row["bias"] == pytest.approx(values.mean() - estimate)
        assert row["se_boot"] == pytest.approx(values.std(ddof=1))
        assert (row["percentile_lower"], row["percentile_upper"]) == pytest.approx((low, high))
        assert (row["basic_lower"], row["basic_upper"]) == pytest.approx((2 * estimate - high, 2 * estimate - low))
    assert len(set(replicates.loc[replicates["name"] == "beta[x]", "estimate"])) == 12  # 12 distinct data sets


def test_a_resumed_bootstrap_equals_an_uninterrupted_one(small_fit, tmp_path):
    whole = parametric_bootstrap(small_fit, tmp_path / "whole", sims=8, seed=1, workers=1, progress=False)
    parts = tmp_path / "parts"
    parametric_bootstrap(small_fit, parts, sims=8, seed=1, workers=1, progress=False)
    lost = sorted((parts / "replicates").glob("*.json"))[2:5]  # as if their worker had been killed
    for path in lost:
        path.unlink()
    resumed = parametric_bootstrap(small_fit, parts, sims=8, seed=1, workers=1, progress=False)
    pd.testing.assert_frame_equal(resumed.table, whole.table)


def test_bootstrap_needs_an_ml_fit_with_its_spec(small_fit, tmp_path):
    from dataclasses import replace

    with pytest.raises(SpecError, match="takes an ML fit made in this session"):
        parametric_bootstrap(replace(small_fit, spec=None), tmp_path / "x", sims=2, workers=1)
    with pytest.raises(SpecError, match="level must"):
        parametric_bootstrap(small_fit, tmp_path / "y", sims=2, workers=1, level=1.5)


def test_fit_bootstrap_and_confint_boot_are_the_bootstrap_of_the_fit(small_fit, tmp_path):
    """``fit.bootstrap`` is :func:`parametric_bootstrap` (same seeds, same table); ``confint('boot')``
    takes its percentile intervals (lme4's default ``boot.type = "perc"``) or, asked, the basic
    ones, at the level asked; without ``out`` the replicates go to a new temporary folder."""
    direct = parametric_bootstrap(small_fit, tmp_path / "direct", sims=10, seed=2, workers=1, progress=False)
    method = small_fit.bootstrap(sims=10, out=tmp_path / "method", seed=2, workers=1, progress=False)
    pd.testing.assert_frame_equal(method.table, direct.table)
    assert method.folder == tmp_path / "method"

    intervals = small_fit.confint("boot", sims=10, out=tmp_path / "method", seed=2, workers=1, progress=False)
    assert list(intervals.columns) == ["estimate", "lower", "upper"]
    np.testing.assert_allclose(intervals["lower"], direct.table["percentile_lower"])
    np.testing.assert_allclose(intervals["upper"], direct.table["percentile_upper"])
    basic = small_fit.confint("boot", 0.8, ["beta[x]"], boot_type="basic", sims=10, seed=2, workers=1, progress=False)
    values = direct.study.replicates.query("name == 'beta[x]'")["estimate"].to_numpy()
    estimate = small_fit.params().loc["beta[x]", "estimate"]
    low, high = np.quantile(values, [0.1, 0.9])
    assert list(basic.index) == ["beta[x]"]
    assert (basic.loc["beta[x]", "lower"], basic.loc["beta[x]", "upper"]) == pytest.approx(
        (2 * estimate - high, 2 * estimate - low)
    )


def test_bootstrap_options_belong_to_method_boot(small_fit):
    with pytest.raises(SpecError, match="sims apply to method='boot' only"):
        small_fit.confint("wald", sims=10)
    with pytest.raises(SpecError, match="boot_type must be one of"):
        small_fit.confint("boot", boot_type="bca")


def test_a_fit_started_at_its_estimates_ends_there_in_fewer_iterations(small_fit):
    """``fit_ml(..., start=)`` (lme4's ``start``): from the estimates the Laplace stage needs fewer
    Newton iterations than from the GLM and reaches the same optimum (to the optimiser's
    tolerance); a start by common names is the same as the fit; a start with a parameter missing
    is refused by name; a singular start falls back to the GLM start."""
    spec = small_fit.spec
    from_glm = small_fit.optimization.stages[-1][2]
    started = fit_ml(spec, "laplace", start=small_fit)
    assert started.optimization.stages[-1][2] < from_glm
    np.testing.assert_allclose(started.params()["estimate"], small_fit.params()["estimate"], atol=1e-6)
    by_name = fit_ml(spec, "laplace", start=small_fit.params()["estimate"].to_dict())
    assert by_name.optimization.stages == started.optimization.stages
    with pytest.raises(SpecError, match=r"no value for sd\[g,\(Intercept\)\]"):
        fit_ml(spec, "laplace", start={"beta[(Intercept)]": 1.0, "beta[x]": 0.0})
    with pytest.raises(SpecError, match="start must be an ML fit or parameter values by name"):
        fit_ml(spec, "laplace", start=[0.5, 0.2, 0.3])
    singular = {**small_fit.params()["estimate"].to_dict(), "sd[g,(Intercept)]": 0.0}
    assert fit_ml(spec, "laplace", start=singular).optimization.stages == small_fit.optimization.stages


def test_the_bootstraps_refits_start_at_the_estimates(small_fit, tmp_path):
    import json

    parametric_bootstrap(small_fit, tmp_path / "boot", sims=2, seed=0, workers=1, progress=False)
    assert json.loads((tmp_path / "boot" / "study.json").read_text())["start_at_truth"] is True
