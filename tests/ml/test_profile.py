"""Profile-likelihood intervals (bayesglmm.ml.profile) against lme4's confint(method = "profile").

References: lme4 1.1 (Debian r-cran-lme4), Laplace, level 0.95, by ``tests/ml/r/profile_confint.R``
(run 2026-12-03). Tolerance: 1% of each interval's width (issue 24); lme4 interpolates its
profile by splines on its own grid, we by monotone cubic interpolation on ours.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec, datasets, fit_ml, profile_intervals
from bayesglmm.errors import SpecError

LME4_EPILEPSY = {  # logLik -955.111543287
    "sd[id,(Intercept)]": (0.60309294047, 0.890051872162),
    "corr[id,(Intercept),time]": (-0.11772137150, 0.517100024813),
    "sd[id,time]": (0.10669075496, 0.188302698887),
    "beta[(Intercept)]": (0.81746420950, 1.386728204170),
    "beta[time]": (-0.09083249137, 0.043948382993),
    "beta[trt]": (-0.37352529080, 0.408983501980),
    "beta[time:trt]": (-0.18902962807, -0.001740541224),
}
LME4_CBPP = {  # logLik -92.0265663895
    "sd[herd,(Intercept)]": (0.3460732033, 1.0999746482),
    "beta[(Intercept)]": (-1.9012119549, -0.9477540060),
    "beta[period2]": (-1.6167832557, -0.4077630678),
    "beta[period3]": (-1.8010243656, -0.5115360713),
    "beta[period4]": (-2.5007505630, -0.8007553153),
}


def _check_against(table: pd.DataFrame, reference: dict):
    assert sorted(table.index) == sorted(reference)
    for name, (lower, upper) in reference.items():
        width = upper - lower
        assert abs(table.loc[name, "lower"] - lower) < 0.01 * width, name
        assert abs(table.loc[name, "upper"] - upper) < 0.01 * width, name


@pytest.fixture(scope="module")
def epilepsy_profile(epilepsy_spec, epilepsy_laplace):
    return profile_intervals(epilepsy_spec, epilepsy_laplace)


def test_epilepsy_vector_random_effects_match_lme4(epilepsy_profile, epilepsy_laplace):
    _check_against(epilepsy_profile.table, LME4_EPILEPSY)
    estimates = epilepsy_laplace.params()["estimate"]
    np.testing.assert_allclose(epilepsy_profile.table["estimate"], estimates[epilepsy_profile.table.index], rtol=1e-8)


def test_profiles_are_monotone_and_zero_at_the_estimate(epilepsy_profile):
    for name, trace in epilepsy_profile.zeta.groupby("parameter"):
        trace = trace.sort_values("value")
        assert np.all(np.diff(trace["zeta"]) > 0), name
        at_estimate = trace.loc[np.isclose(trace["value"], epilepsy_profile.table.loc[name, "estimate"]), "zeta"]
        assert len(at_estimate) == 1 and at_estimate.iloc[0] == 0.0
        assert trace["zeta"].min() < -1.96 and trace["zeta"].max() > 1.96  # the walk passed both limits


def test_cbpp_binomial_with_trials_matches_lme4():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = ModelSpec.from_formula(
            "cbind(incidence, size - incidence) ~ period + (1 | herd)", datasets.load_cbpp(), "binomial"
        )
    fit = fit_ml(spec, "laplace")
    _check_against(profile_intervals(spec, fit).table, LME4_CBPP)
    # by AGQ the intervals move with the likelihood (SD 0.648 against Laplace's 0.642), and the
    # profile is the AGQ fit's own: its SD interval holds the AGQ estimate, not lme4's limits
    agq = fit_ml(spec, "agq", 25)
    table = profile_intervals(spec, agq, parameters=["sd[herd,(Intercept)]"]).table
    row = table.loc["sd[herd,(Intercept)]"]
    assert row["lower"] < agq.params().loc["sd[herd,(Intercept)]", "estimate"] < row["upper"]
    assert abs(row["upper"] - LME4_CBPP["sd[herd,(Intercept)]"][1]) > 0.005  # not the Laplace profile


# y ~ x + (1 | g), Poisson, 20 groups of 5 (simulated with SD 0.15): the likelihood at SD 0 lies
# within the 95% cut-off of the maximum (SD 0.208), so the interval reaches the boundary.
SMALL_SD_COUNTS = [
    0,
    5,
    1,
    5,
    8,
    3,
    2,
    0,
    3,
    3,
    2,
    4,
    6,
    1,
    3,
    1,
    4,
    1,
    5,
    3,
    3,
    0,
    3,
    3,
    2,
    6,
    3,
    2,
    3,
    3,
    0,
    2,
    1,
    2,
    2,
    2,
    4,
    2,
    4,
    0,
    0,
    2,
    2,
    3,
    3,
    4,
    8,
    6,
    7,
    7,
    2,
    3,
    4,
    3,
    6,
    3,
    3,
    3,
    3,
    0,
    3,
    2,
    3,
    6,
    3,
    2,
    1,
    4,
    1,
    5,
    2,
    2,
    3,
    2,
    4,
    3,
    4,
    2,
    3,
    1,
    1,
    4,
    2,
    3,
    4,
    3,
    1,
    4,
    4,
    3,
    2,
    1,
    1,
    3,
    7,
    0,
    0,
    4,
    2,
    3,
]
LME4_SMALL_SD = {  # lme4: "sd_(Intercept)|g 0.00000000000 0.3819351667"
    "sd[g,(Intercept)]": (0.0, 0.3819351667),
    "beta[(Intercept)]": (0.85233618654, 1.1670177604),
    "beta[x]": (0.07032443601, 0.4007320298),
}


def test_an_sd_whose_interval_reaches_zero_has_lower_limit_zero():
    frame = pd.DataFrame(
        {"g": np.repeat(np.arange(20), 5), "x": np.tile(np.linspace(-1, 1, 5), 20), "y": SMALL_SD_COUNTS}
    )
    spec = ModelSpec.from_formula("y ~ x + (1 | g)", frame, "poisson")
    fit = fit_ml(spec, "laplace")
    result = profile_intervals(spec, fit)
    _check_against(result.table, LME4_SMALL_SD)
    assert result.table.loc["sd[g,(Intercept)]", "lower"] == 0.0
    trace = result.zeta[result.zeta["parameter"] == "sd[g,(Intercept)]"]
    assert trace["zeta"].min() > -1.96  # the profile stays above the cut-off down to the boundary


def test_bad_requests_are_refused(epilepsy_spec, epilepsy_laplace, amenorrhea_spec):
    with pytest.raises(SpecError, match="no parameter 'sd\\[id,age\\]' to profile; the fit has beta"):
        profile_intervals(epilepsy_spec, epilepsy_laplace, parameters=["sd[id,age]"])
    with pytest.raises(SpecError, match="level must be between 0 and 1"):
        profile_intervals(epilepsy_spec, epilepsy_laplace, level=95)
    with pytest.raises(SpecError, match="not made from this spec"):
        profile_intervals(amenorrhea_spec, epilepsy_laplace)


def test_confint_gives_wald_at_any_level_and_the_profile(epilepsy_laplace, epilepsy_profile):
    wald = epilepsy_laplace.confint()
    params = epilepsy_laplace.params()
    np.testing.assert_allclose(wald[["lower", "upper"]], params.loc[wald.index, ["lower", "upper"]], rtol=1e-12)
    wide = epilepsy_laplace.confint(level=0.99, parameters=["beta[trt]", "sd[id,time]"])
    assert list(wide.index) == ["beta[trt]", "sd[id,time]"]
    for name in wide.index:
        assert wide.loc[name, "lower"] < wald.loc[name, "lower"] and wide.loc[name, "upper"] > wald.loc[name, "upper"]
    se = params.loc["beta[trt]", "se"]
    np.testing.assert_allclose(wide.loc["beta[trt]", "upper"] - wide.loc["beta[trt]", "estimate"], 2.5758293 * se)
    profile = epilepsy_laplace.confint("profile", parameters=["corr[id,(Intercept),time]"])
    np.testing.assert_allclose(profile, epilepsy_profile.table.loc[["corr[id,(Intercept),time]"]], rtol=1e-6)
    with pytest.raises(SpecError, match="method must be one of wald, profile, boot"):
        epilepsy_laplace.confint("bayes")
    with pytest.raises(SpecError, match="no parameter 'sd\\[id,age\\]'"):
        epilepsy_laplace.confint(parameters=["sd[id,age]"])


def test_profile_plot_draws_each_profile_with_its_limits(epilepsy_profile):
    import matplotlib

    matplotlib.use("Agg")
    from bayesglmm.compare import profile_plot

    names = ["sd[id,time]", "corr[id,(Intercept),time]"]
    figure = profile_plot(epilepsy_profile, names)
    axes = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == names
    for ax, name in zip(axes, names):
        x, zeta = ax.lines[0].get_data()
        trace = epilepsy_profile.zeta[epilepsy_profile.zeta["parameter"] == name].sort_values("value")
        np.testing.assert_allclose(x, trace["value"])
        np.testing.assert_allclose(zeta, trace["zeta"])
        vertical = sorted(line.get_xdata()[0] for line in ax.lines[1:] if line.get_xdata()[0] == line.get_xdata()[1])
        row = epilepsy_profile.table.loc[name]
        np.testing.assert_allclose(vertical, sorted([row["lower"], row["estimate"], row["upper"]]))
    with pytest.raises(SpecError, match="no profile of 'beta\\[age\\]'"):
        profile_plot(epilepsy_profile, ["beta[age]"])


def test_the_cli_prints_and_writes_the_profile(tmp_path, capsys, epilepsy):
    import json
    from pathlib import Path

    from bayesglmm.cli import main

    out = tmp_path / "fit.json"
    spec_file = Path(__file__).resolve().parents[2] / "models" / "epilepsy.toml"
    assert main(["fit", str(spec_file), "--method", "laplace", "--profile", "--json", str(out)]) == 0
    assert "Profile-likelihood 95% intervals" in capsys.readouterr().out
    intervals = json.loads(out.read_text())["profile_intervals"]
    _check_against(pd.DataFrame(intervals).T[["lower", "upper"]].astype(float), LME4_EPILEPSY)
    # NB2 on the same data is a singular fit (correlation +1, glmmTMB's too): the correlation's
    # profile starts at the boundary, its interval reaches +1
    csv = tmp_path / "epilepsy.csv"
    epilepsy.to_csv(csv, index=False)
    formula = "y ~ time + trt + trt:time + offset(t) + (1 + time | id)"
    command = ["fit", "--formula", formula, "--data", str(csv), "--family", "nbinom2", "--profile", "--json", str(out)]
    assert main(command) == 0
    corr = json.loads(out.read_text())["profile_intervals"]["corr[id,(Intercept),time]"]
    assert corr["estimate"] > 0.999 and corr["upper"] == 1.0 and corr["lower"] < 0.9
    # refused before any fit: several grouping factors, or another engine
    crossed = ["fit", "--formula", "y ~ time + (1 | id) + (1 | trt)", "--data", str(csv), "--family", "poisson"]
    assert main([*crossed, "--profile"]) == 2
    assert "--profile needs one grouping factor" in capsys.readouterr().err
    assert main([*command[:-2], "--engine", "gee"]) == 2
    assert "--profile gives profile-likelihood intervals of an ML fit" in capsys.readouterr().err


def test_profile_engines_report_profile_intervals(epilepsy_spec, epilepsy_profile):
    # compare() and the coverage study fit engines by name; "-profile" swaps in the profile intervals
    from bayesglmm.compare.engines import fit_engine, parse_engines

    assert parse_engines("laplace-profile,agq-profile,agq7-profile") == (
        "laplace-profile",
        "agq-profile",
        "agq7-profile",
    )
    with pytest.raises(SpecError, match="unknown engine 'nuts-profile'"):
        parse_engines("nuts-profile")
    view = fit_engine(epilepsy_spec, "laplace-profile").comparison_columns()
    assert view.method == "laplace-profile" and view.interval == "profile likelihood"
    expected = epilepsy_profile.table
    np.testing.assert_allclose(
        view.table.loc[expected.index, ["lower", "upper"]], expected[["lower", "upper"]], rtol=1e-6
    )
