"""compare(): the table carries each fit's own numbers, and on the amenorrhea model AGQ and the
posterior agree while Laplace is flagged (its random-intercept SD is too small)."""

import json

import numpy as np
import pytest

from bayesglmm.cli import main
from bayesglmm.compare import compare

ML_COLUMNS = {"estimate": "estimate", "se": "se", "se_empirical": "se_empirical", "lower": "lower", "upper": "upper"}
BAYES_COLUMNS = {"estimate": "mean", "median": "q50", "se": "sd", "lower": "q2.5", "upper": "q97.5"}


@pytest.fixture(scope="module")
def comparison(amenorrhea_laplace, amenorrhea_agq11, amenorrhea_brms_posterior):
    return compare(amenorrhea_laplace, amenorrhea_agq11, amenorrhea_brms_posterior)


def test_table_numbers_are_the_fits_own(comparison, amenorrhea_laplace, amenorrhea_agq11, amenorrhea_brms_posterior):
    for label, fit, columns in [
        ("laplace", amenorrhea_laplace, ML_COLUMNS),
        ("agq11", amenorrhea_agq11, ML_COLUMNS),
        ("nuts", amenorrhea_brms_posterior, BAYES_COLUMNS),
    ]:
        own = fit.params()
        rows = comparison.table.xs(label, level="fit")
        assert set(rows.index) == set(own.index), label  # nothing missing, nothing extra
        for column, source in columns.items():
            np.testing.assert_array_equal(
                rows.loc[own.index, column].to_numpy(), own[source].to_numpy(), err_msg=f"{label} {column}"
            )
    reference = amenorrhea_agq11.params()
    nuts = comparison.table.xs("nuts", level="fit").loc[reference.index]
    posterior = amenorrhea_brms_posterior.params().loc[reference.index]
    # the posterior mean for coefficients, the median for the skewed SDs and correlation (compare/table.py)
    skewed = [name.startswith(("sd[", "corr[")) for name in reference.index]
    point = np.where(skewed, posterior["q50"], posterior["mean"])
    np.testing.assert_array_equal(nuts["std_diff"], (point - reference["estimate"]) / reference["se"])
    assert list(nuts["compared"]) == ["median" if s else "estimate" for s in skewed]
    np.testing.assert_array_equal(nuts["se_ratio"], posterior["sd"] / reference["se"])
    assert comparison.table.xs("agq11", level="fit")["std_diff"].isna().all()  # the reference itself


def test_agq_and_posterior_agree_and_laplace_is_flagged(comparison):
    assert comparison.reference == "agq11"
    nuts = comparison.table.xs("nuts", level="fit")
    assert (nuts["std_diff"].abs() < 0.5).all(), nuts["std_diff"]
    assert nuts["se_ratio"].between(0.8, 1.25).all(), nuts["se_ratio"]
    assert not nuts["flag"].any()
    flagged = comparison.flagged()
    assert ("sd[id,(Intercept)]", "laplace") in flagged.index
    laplace_sd = comparison.table.loc[("sd[id,(Intercept)]", "laplace")]
    assert laplace_sd["std_diff"] < -0.5  # visibly lower than the quadrature estimate
    assert "laplace: sd[id,(Intercept)]" in comparison.summary()


def test_wide_view_and_thresholds(comparison, amenorrhea_laplace, amenorrhea_agq11):
    wide = comparison.wide("estimate")
    assert list(wide.columns) == ["laplace", "agq11", "nuts"]
    assert wide.index[0] == "beta[(Intercept)]"
    lenient = compare(amenorrhea_laplace, amenorrhea_agq11, max_std_diff=5, se_ratio_range=(0.1, 10))
    assert lenient.flagged().empty
    against_laplace = compare(amenorrhea_laplace, amenorrhea_agq11, reference="laplace")
    assert against_laplace.table.xs("laplace", level="fit")["std_diff"].isna().all()


def test_bad_calls_say_what_is_wrong(amenorrhea_agq11, amenorrhea_laplace, epilepsy_laplace):
    with pytest.raises(ValueError, match="one model"):
        compare(amenorrhea_agq11, epilepsy_laplace)
    with pytest.raises(ValueError, match="not one of the fits"):
        compare(amenorrhea_agq11, reference="nuts")
    with pytest.raises(TypeError, match="MLFit, BayesFit or GEEFit"):
        compare(amenorrhea_agq11, object())
    with pytest.raises(ValueError, match="labels"):
        compare(amenorrhea_agq11, amenorrhea_laplace, labels=["a"])
    assert list(compare(amenorrhea_laplace, amenorrhea_laplace).fits) == ["laplace", "laplace#2"]


def test_plots_show_every_parameter_on_its_natural_scale(comparison, tmp_path):
    forest = comparison.plot(tmp_path / "forest.png")
    assert (tmp_path / "forest.png").stat().st_size > 10_000
    labels = [t.get_text() for ax in forest.axes for t in ax.get_yticklabels()]
    assert set(labels) == set(comparison.wide().index)
    assert [ax.get_title(loc="left") for ax in forest.axes] == ["Fixed effects", "Random-effect SDs", "Correlations"]
    densities = comparison.plot_densities(tmp_path / "densities.png")
    assert (tmp_path / "densities.png").stat().st_size > 10_000
    sd_panel = next(ax for ax in densities.axes if ax.get_title() == "sd[id,(Intercept)]")
    assert len(sd_panel.lines) == 3  # the posterior and two normal approximations
    lo, hi = sd_panel.get_xlim()
    assert 0 < lo < 2.0 < hi < 4.0  # SD scale (estimate about 2.2; on the log scale all would lie below 1.5)


def test_cli_compare_writes_json_and_plot(tmp_path):
    out, png = tmp_path / "compare.json", tmp_path / "forest.png"
    code = main(
        [
            "compare",
            "models/epilepsy.toml",
            "--engines",
            "laplace,agq5,laplace-posterior",
            "--json",
            str(out),
            "--plot",
            str(png),
            "--quiet",
        ]
    )
    assert code == 0 and png.stat().st_size > 10_000
    result = json.loads(out.read_text())
    assert result["reference"] == "agq5"
    assert [f["label"] for f in result["fits"]] == ["laplace", "agq5", "laplace-posterior"]
    names = {row["name"] for row in result["rows"]}
    assert "sd[id,(Intercept)]" in names and "corr[id,(Intercept),time]" in names
    assert main(["compare", "models/epilepsy.toml", "--engines", "agq,gibbs"]) == 2
