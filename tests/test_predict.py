"""Predictions: population averages against Monte Carlo, the zero-variance and identity-link
identities, conditional predictions against the fit's own linear predictor, GEE scoring, plots."""

import warnings

import numpy as np
import pytest
from scipy.special import expit

from bayesglmm import SpecError
from bayesglmm.gee import fit_gee
from bayesglmm.predict import odds_ratio_by_kind, predict, trajectory_grid, trajectory_plot
from bayesglmm.predict.core import population_average


def _grid():
    return trajectory_grid("time", [0, 1, 2, 3], "trt", [0, 1], time2=lambda f: f["time"] ** 2)


def test_population_average_matches_monte_carlo(amenorrhea_agq11):
    fit = amenorrhea_agq11
    grid = _grid()
    pa = predict(fit, grid, kind="marginal")["estimate"].to_numpy()
    beta = fit.beta.to_numpy()
    X = np.column_stack(
        [np.ones(8), grid["time"], grid["time2"], grid["trt"] * grid["time"], grid["trt"] * grid["time2"]]
    )
    Z = np.column_stack([np.ones(8), grid["time"]])
    b = np.random.default_rng(0).multivariate_normal(np.zeros(2), fit.G, size=2_000_000)
    monte_carlo = np.array([expit(X[i] @ beta + b @ Z[i]).mean() for i in range(8)])  # MC SE < 3.5e-4
    np.testing.assert_allclose(pa, monte_carlo, atol=1e-3)
    typical = predict(fit, grid, kind="typical")["estimate"].to_numpy()
    assert np.all(np.abs(pa - 0.5) < np.abs(typical - 0.5))  # attenuated towards 1/2


def test_zero_variance_and_identity_link_give_the_conditional_mean():
    eta = np.linspace(-3, 2, 7)
    Z = np.column_stack([np.ones(7), np.arange(7.0)])
    np.testing.assert_allclose(population_average(eta, Z, np.zeros((2, 2)), "logit"), expit(eta), rtol=1e-12)
    G = np.array([[1.0, 0.3], [0.3, 0.5]])
    np.testing.assert_allclose(population_average(eta, Z, G, "identity"), eta, atol=1e-12)
    # log link: E exp(eta + z'b) = exp(eta + z'Gz / 2)
    np.testing.assert_allclose(
        population_average(eta, Z, G, "log"), np.exp(eta + 0.5 * np.einsum("nq,qr,nr->n", Z, G, Z)), rtol=1e-9
    )


def test_conditional_predictions_use_each_groups_mode(amenorrhea, amenorrhea_agq11):
    fit = amenorrhea_agq11
    rows = amenorrhea.dropna(subset=["y"]).iloc[:12]
    conditional = predict(fit, rows, scale="link")
    modes = fit.conditional_modes()
    first = rows.iloc[0]
    b = fit.modes[fit.group_levels.index(str(rows["id"].iloc[0]))]
    beta = fit.beta
    eta = (
        beta["(Intercept)"]
        + beta["time"] * first["time"]
        + beta["time2"] * first["time2"]
        + first["trt"] * (beta["time:trt"] * first["time"] + beta["time2:trt"] * first["time2"])
        + b[0]
        + b[1] * first["time"]
    )
    assert conditional["estimate"].iloc[0] == pytest.approx(eta, rel=1e-10)
    new_subject = rows.assign(id=-1)
    np.testing.assert_allclose(
        predict(fit, new_subject, scale="link", new_groups="population")["estimate"],
        predict(fit, rows, scale="link", kind="typical")["estimate"],
    )
    with pytest.raises(SpecError, match=r"id level\(s\) not in the fit \(-1\).*new_groups='population'"):
        predict(fit, new_subject)
    assert len(modes) == fit.ngroups


def test_gee_predictions_are_the_plm_score(amenorrhea):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gee = fit_gee(
            "y ~ time + time2 + trt:time + trt:time2",
            amenorrhea,
            "bernoulli",
            cluster="id",
            within="time",
            corr="exchangeable",
        )
    grid = _grid()
    table = predict(gee, grid)
    X = np.column_stack(
        [np.ones(8), grid["time"], grid["time2"], grid["trt"] * grid["time"], grid["trt"] * grid["time2"]]
    )
    eta, se = X @ gee.beta, np.sqrt(np.einsum("np,pq,nq->n", X, gee.cov_robust, X))
    np.testing.assert_allclose(table["estimate"], expit(eta), rtol=1e-12)
    np.testing.assert_allclose(table["lower"], expit(eta - 1.959963984540054 * se), rtol=1e-12)
    with pytest.raises(SpecError, match="kind must be one of marginal"):
        predict(gee, grid, kind="conditional")


def test_bayesian_predictions_agree_with_ml(amenorrhea_brms_posterior, amenorrhea_agq11):
    grid = _grid()
    for kind in ("typical", "marginal"):
        bayes = predict(amenorrhea_brms_posterior, grid, kind=kind)
        ml = predict(amenorrhea_agq11, grid, kind=kind)
        assert np.all(np.abs(bayes["estimate"] - ml["estimate"]) < 0.5 * ml["se"] + 0.005), kind
        assert np.all((bayes["lower"] < bayes["estimate"]) & (bayes["estimate"] < bayes["upper"]))
    odds = odds_ratio_by_kind(
        amenorrhea_agq11, grid[grid["trt"] == 0].reset_index(drop=True), grid[grid["trt"] == 1].reset_index(drop=True)
    )
    # at time 3 the dose's conditional odds ratio is further from 1 than the population-averaged one
    assert abs(np.log(odds.loc[3, "typical"])) > abs(np.log(odds.loc[3, "marginal"])) > 0


def test_trajectory_plot_has_a_line_per_dose_and_fit(amenorrhea, amenorrhea_agq11, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gee = fit_gee(
            "y ~ time + time2 + trt:time + trt:time2",
            amenorrhea,
            "bernoulli",
            cluster="id",
            within="time",
            corr="exchangeable",
        )
    fits = {
        "GEE": (gee, "marginal"),
        "GLMM population-averaged": (amenorrhea_agq11, "marginal"),
        "GLMM typical subject": (amenorrhea_agq11, "typical"),
    }
    fig, table = trajectory_plot(
        fits,
        _grid(),
        "time",
        "trt",
        path=tmp_path / "traj.png",
        ylabel="P(amenorrhea)",
        group_labels={0: "low dose", 1: "high dose"},
    )
    assert (tmp_path / "traj.png").stat().st_size > 10_000
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 6 and ax.get_xlabel() == "time" and ax.get_ylabel() == "P(amenorrhea)"
    assert "GEE, high dose" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(table) == 24 and set(table["fit"]) == set(fits)


def test_cli_predict_writes_the_seed_plot(tmp_path):
    import json

    from bayesglmm.cli import main

    png, out = tmp_path / "gee.png", tmp_path / "gee.json"
    assert (
        main(
            ["predict", "models/amenorrhea.toml", "--engine", "gee", "--plot", str(png), "--json", str(out), "--quiet"]
        )
        == 0
    )
    rows = json.loads(out.read_text())
    assert png.stat().st_size > 10_000 and len(rows) == 26 and {row["trt"] for row in rows} == {0, 1}
    assert all(0 < row["lower"] < row["estimate"] < row["upper"] < 1 for row in rows)
    assert main(["predict", "models/epilepsy.toml", "--engine", "gee"]) == 2  # no [predict] grid: a clear error
