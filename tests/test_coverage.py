"""Simulation from a spec, and the coverage study: its arithmetic, resumption and parallel runs."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec, SpecError
from bayesglmm.cli import main
from bayesglmm.compare import coverage_study, load_study
from bayesglmm.compare.coverage import summarise_replicates
from bayesglmm.model.simulate import simulate, simulate_response

TRUTH = {
    "beta[(Intercept)]": -0.5,
    "beta[time]": 0.3,
    "beta[time:trt]": 0.4,
    "sd[id,(Intercept)]": 1.0,
    "sd[id,time]": 0.5,
    "corr[id,(Intercept),time]": 0.0,
}


def _design(n_groups=100, visits=4, seed=0, family="bernoulli"):
    """A longitudinal design: n_groups subjects x visits, half treated; the response is replaced by simulation."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_groups), visits),
            "time": np.tile(np.arange(visits), n_groups),
            "trt": np.repeat(np.arange(n_groups) % 2, visits),
            "y": rng.integers(0, 2, n_groups * visits),
        }
    )
    return ModelSpec.from_formula("y ~ time + trt:time + (1 + time | id)", frame, family)


@pytest.fixture(scope="module")
def design():
    return _design()


def test_simulation_keeps_the_design_and_follows_the_model():
    spec = _design(4000, 2, family="poisson")
    truth = {**TRUTH, "beta[time]": 0.0, "beta[time:trt]": 0.0, "sd[id,time]": 0.0}
    simulated = simulate_response(spec, truth, 7)
    assert simulated.fixed is spec.fixed and simulated.random is spec.random and simulated.nobs == spec.nobs
    np.testing.assert_array_equal(simulated.y, simulate_response(spec, truth, 7).y)  # reproducible
    # E[y] = exp(beta0 + sd^2 / 2) under a log-normal random intercept; within 4 Monte Carlo SEs
    expected = np.exp(-0.5 + 0.5)
    assert abs(simulated.y.mean() - expected) < 4 * simulated.y.std() / np.sqrt(spec.nobs)
    # both visits share the subject's intercept: the within-subject correlation is clearly positive
    pairs = simulated.y.reshape(-1, 2)
    assert np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1] > 0.2


def test_simulation_on_a_new_design():
    # cluster sizes from 1 to 100, as registries have; the design's own y column is not needed
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 101, 300)
    frame = pd.DataFrame({"id": np.repeat(np.arange(300), sizes), "trt": np.repeat(np.arange(300) % 2, sizes)})
    frame["time"] = frame.groupby("id").cumcount() / 10.0
    formula = "y ~ time + trt:time + (1 + time | id)"
    simulated = simulate(formula, TRUTH, frame, seed=11)
    assert list(simulated.columns) == ["id", "trt", "time", "y"] and "y" not in frame.columns
    assert set(np.unique(simulated["y"])) <= {0.0, 1.0}
    # the same draws as simulate_response on the spec of that design, and from a ModelSpec as from a formula
    spec = ModelSpec.from_formula(formula, simulated, "bernoulli")
    np.testing.assert_array_equal(simulated["y"], simulate_response(spec, TRUTH, 11).y)
    np.testing.assert_array_equal(simulated["y"], simulate(spec, TRUTH, frame, seed=11)["y"])
    # with the random effects switched off, P(y = 1) = expit(eta) row by row: the mean within 4 Monte Carlo SEs
    flat = {**TRUTH, "sd[id,(Intercept)]": 0.0, "sd[id,time]": 0.0}
    y = simulate(formula, flat, frame, seed=12)["y"].to_numpy()
    p = 1 / (1 + np.exp(-(-0.5 + 0.3 * frame["time"] + 0.4 * frame["time"] * frame["trt"]).to_numpy()))
    assert abs(y.mean() - p.mean()) < 4 * np.sqrt(np.sum(p * (1 - p))) / len(p)
    with pytest.raises(SpecError, match="missing values"):
        simulate(formula, TRUTH, frame.assign(time=frame["time"].where(frame["id"] != 0)))


def test_simulation_needs_every_parameter(design):
    with pytest.raises(SpecError, match=r"corr\[id,\(Intercept\),time\]"):
        simulate_response(design, {k: v for k, v in TRUTH.items() if not k.startswith("corr")}, 0)
    with pytest.raises(SpecError, match="valid correlation"):
        simulate_response(design, {**TRUTH, "corr[id,(Intercept),time]": 1.5}, 0)


def test_summary_arithmetic():
    rows = [
        {
            "replicate": r,
            "engine": "agq",
            "name": "beta[x]",
            "estimate": est,
            "se": 0.1,
            "lower": est - 0.2,
            "upper": est + 0.2,
            "converged": r != 2,
            "error": None,
        }
        for r, est in enumerate([0.9, 1.1, 1.3, 1.0])
    ]
    rows.append({"replicate": 4, "engine": "agq", "name": None, "error": "FloatingPointError: boom"})
    table = summarise_replicates(pd.DataFrame(rows), {"beta[x]": 1.0}).loc[("agq", "beta[x]")]
    assert table["n"] == 4 and table["not_converged"] == 1 and table["failed"] == 1
    assert table["coverage"] == 0.75  # 1.3 +- 0.2 misses 1.0
    assert table["coverage_mcse"] == pytest.approx(np.sqrt(0.75 * 0.25 / 4))
    assert table["bias"] == pytest.approx(0.075) and table["rmse"] == pytest.approx(np.sqrt(0.11 / 4))


def test_scaled_down_study_covers_the_truth(design, tmp_path):
    # 30 replicates of the 100 x 4 Bernoulli design: Laplace Wald intervals of the fixed effects
    # cover the truth in most replicates (the full 200-replicate AGQ study is in benchmarks/coverage.py)
    study = coverage_study(
        design, tmp_path / "study", ["laplace"], sims=30, truth=TRUTH, seed=1, workers=1, progress=False
    )
    fixed = study.table.loc["laplace"].loc[[name for name in TRUTH if name.startswith("beta")]]
    assert (fixed["n"] == 30).all()
    assert (fixed["coverage"] >= 0.8).all(), fixed
    assert (fixed["bias"].abs() < 3 * fixed["sd_estimate"] / np.sqrt(30)).all(), fixed
    assert "Coverage study" in study.summary()


def test_interrupted_study_resumes_to_the_same_table(design, tmp_path):
    whole = coverage_study(
        design, tmp_path / "whole", ["laplace", "agq3"], sims=4, truth=TRUTH, seed=5, workers=1, progress=False
    )
    # an interruption leaves some replicates on disk: simulate it by running the first two only ...
    partial = tmp_path / "partial"
    coverage_study(design, partial, ["laplace", "agq3"], sims=2, truth=TRUTH, seed=5, workers=1, progress=False)
    # ... and by deleting a finished replicate; then resume, in two worker processes
    shutil.copytree(partial, tmp_path / "other")
    (partial / "replicates" / "r00001.json").unlink()
    resumed = coverage_study(
        design, partial, ["laplace", "agq3"], sims=4, truth=TRUTH, seed=5, workers=2, progress=False
    )
    pd.testing.assert_frame_equal(resumed.table, whole.table)
    pd.testing.assert_frame_equal(load_study(partial).table, whole.table)
    with pytest.raises(SpecError, match="different study"):
        coverage_study(design, tmp_path / "other", ["laplace"], sims=4, truth=TRUTH, seed=5, workers=1, progress=False)


def test_cli_coverage(tmp_path):
    spec_file = tmp_path / "model.toml"
    data = tmp_path / "data.csv"
    spec = _design(40, 3)
    pd.DataFrame(
        {
            "id": np.repeat(np.arange(40), 3),
            "time": np.tile(np.arange(3), 40),
            "trt": np.repeat(np.arange(40) % 2, 3),
            "y": spec.y.astype(int),
        }
    ).to_csv(data, index=False)
    spec_file.write_text(f'[model]\nformula = "y ~ time + (1 | id)"\nfamily = "bernoulli"\n[data]\nfile = "{data}"\n')
    out = tmp_path / "json"
    assert (
        main(
            [
                "coverage",
                str(spec_file),
                "--engines",
                "laplace",
                "--sims",
                "3",
                "--out",
                str(tmp_path / "study"),
                "--workers",
                "1",
                "--json",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["plan"]["sims"] == 3 and {row["name"] for row in result["table"]} == {
        "beta[(Intercept)]",
        "beta[time]",
        "sd[id,(Intercept)]",
    }
    assert main(["coverage", str(spec_file), "--engines", "nope", "--out", str(tmp_path / "x")]) == 2
