"""Simulation-based calibration (bayesglmm.compare.sbc; issue 22, item 8): ranks, their
uniformity test, resumption on the coverage study's machinery, and that a wrong prior shows."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesglmm import ModelSpec, SpecError, simulate
from bayesglmm.compare import BayesSettings, load_sbc, sbc_study
from bayesglmm.compare.sbc import summarise_ranks

PRIORS = {"beta": "normal(0, 1)", "sd": "half_normal(1)", "sigma": "half_normal(1)"}
WRONG = {**PRIORS, "sd": "half_normal(0.05)"}  # the fits' SD prior far tighter than the one the data come from


@pytest.fixture(scope="module")
def spec():
    """A small Gaussian random-intercept design: 12 groups of 5 (the response is replaced in every replicate)."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"g": np.repeat(np.arange(12), 5), "x": rng.normal(size=60)})
    formula = "y ~ x + (1 | g)"
    truth = {"beta[(Intercept)]": 0.2, "beta[x]": 0.5, "sd[g,(Intercept)]": 0.7, "sigma": 1.0}
    frame = simulate(formula, truth, frame, seed=1, family="gaussian")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ModelSpec.from_formula(formula, frame, "gaussian")


def _study(spec, out, sims, fit_priors=PRIORS, **options):
    return sbc_study(
        spec, out, sims=sims, priors=PRIORS, engine="laplace-posterior",
        bayes=BayesSettings("default", fit_priors, chains=2, draws=500), workers=1, progress=False, **options,
    )  # fmt: skip


def test_ranks_resume_and_summarise(spec, tmp_path):
    """Ranks lie in 0..L, one per parameter and replicate; a study extended on its folder runs
    only the new replicates (the first ones' files are untouched); the table's chi-square is
    scipy's on the binned ranks."""
    first = _study(spec, tmp_path / "sbc", 3, ranks=49, bins=5)
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "sbc" / "replicates").glob("r*.json")}
    study = _study(spec, tmp_path / "sbc", 5, ranks=49, bins=5)
    assert {
        p.name: p.stat().st_mtime_ns for p in (tmp_path / "sbc" / "replicates").glob("r*.json")
    }.items() >= stamps.items()
    assert len(first.ranks) == 3 * 4 and len(study.ranks) == 5 * 4
    ranks = study.ranks
    assert ranks["rank"].between(0, 49).all() and set(ranks["name"]) == set(study.table.index)
    counts, _ = np.histogram(ranks.loc[ranks["name"] == "sigma", "rank"], bins=np.linspace(0, 50, 6))
    assert study.table.loc["sigma", "p_value"] == pytest.approx(stats.chisquare(counts).pvalue)
    assert study.table.loc["sigma", "n"] == 5
    again = load_sbc(tmp_path / "sbc", bins=5)
    pd.testing.assert_frame_equal(again.table, study.table)
    assert json.loads(json.dumps(study.to_dict()))["plan"]["engine"] == "laplace-posterior"
    assert "Simulation-based calibration" in study.summary()


def test_a_wrong_prior_shows_in_the_ranks(spec, tmp_path):
    """Fitting with sd ~ half_normal(0.05) data whose SD was drawn from half_normal(1): the prior
    draw lies above most posterior draws, so its ranks pile up at L (measured over 6 replicates:
    mean rank 0.83 of L, where uniform ranks average 0.5; chi-square p < 1e-4)."""
    study = _study(spec, tmp_path / "wrong", 6, fit_priors=WRONG)
    assert study.table.loc["sd[g,(Intercept)]", "mean_rank"] > 0.7
    assert study.table.loc["sd[g,(Intercept)]", "p_value"] < 1e-3


def test_refusals(spec, tmp_path):
    with pytest.raises(SpecError, match="checks a Bayesian engine"):
        sbc_study(spec, tmp_path / "a", engine="agq")
    with pytest.raises(SpecError, match="prior draws need proper priors"):
        sbc_study(spec, tmp_path / "b", prior_set="brms")
    _study(spec, tmp_path / "c", 1)
    with pytest.raises(SpecError, match="holds a different study"):
        _study(spec, tmp_path / "c", 1, fit_priors=WRONG)


def test_uniformity_summary_on_known_ranks():
    """Exactly uniform ranks give chi-square 0 and p = 1; ranks all at L give mean rank 1."""
    uniform = pd.DataFrame({"name": "a", "rank": np.repeat(np.arange(10), 3)})
    table = summarise_ranks(uniform, L=9, bins=10)
    assert table.loc["a", "chi2"] == 0 and table.loc["a", "p_value"] == pytest.approx(1.0)
    piled = summarise_ranks(pd.DataFrame({"name": "a", "rank": np.full(30, 9)}), L=9, bins=10)
    assert piled.loc["a", "mean_rank"] == 1.0 and piled.loc["a", "p_value"] < 1e-10


@pytest.mark.slow  # 200 marginal-sampler fits, about 16 minutes on 2 cores (the numbers are in docs/compare.md)
def test_two_hundred_replicates_of_the_sampler_are_uniform(spec, tmp_path):
    """The exact sampler (``bayes``: the marginal one here) passes: every parameter's ranks are
    uniform at 200 replicates (chi-square p > 0.01)."""
    right = sbc_study(
        spec, tmp_path / "right", sims=200, priors=PRIORS, engine="bayes",
        bayes=BayesSettings("default", PRIORS, chains=2, draws=500), progress=False,
    )  # fmt: skip
    assert (right.table["p_value"] > 0.01).all(), right.table


@pytest.mark.slow  # 200 Laplace-posterior fits and 100 with a wrong prior, about 6 minutes on 2 cores
def test_the_check_finds_an_approximation_and_a_wrong_prior(spec, tmp_path):
    """SBC fails where it must: the Laplace posterior (a Gaussian at the mode in log sigma) puts
    sigma too low with 12 groups of 5 (measured: mean rank 0.59, p = 0.006 at 200 replicates), and
    a far too tight SD prior piles the SD's ranks at L."""
    laplace = sbc_study(
        spec, tmp_path / "laplace", sims=200, priors=PRIORS, engine="laplace-posterior",
        bayes=BayesSettings("default", PRIORS, chains=2, draws=500), progress=False,
    )  # fmt: skip
    assert laplace.table.loc["sigma", "p_value"] < 0.05 and laplace.table.loc["sigma", "mean_rank"] > 0.55
    wrong = sbc_study(
        spec, tmp_path / "wrong", sims=100, priors=PRIORS, engine="laplace-posterior",
        bayes=BayesSettings("default", WRONG, chains=2, draws=500), progress=False,
    )  # fmt: skip
    assert wrong.table.loc["sd[g,(Intercept)]", "p_value"] < 0.01


def test_command_line(tmp_path, capsys):
    """`bayesglmm sbc` on a CSV: the default set's priors draw the parameters and fit them."""
    from bayesglmm.cli import main

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"g": np.repeat(np.arange(10), 4), "x": rng.normal(size=40), "y": rng.normal(size=40)})
    frame.to_csv(tmp_path / "d.csv", index=False)
    command = ["sbc", "--formula", "y ~ x + (1 | g)", "--data", str(tmp_path / "d.csv"), "--family", "gaussian"]
    options = ["--engine", "laplace-posterior", "--sims", "2", "--ranks", "19", "--workers", "1", "--quiet"]
    out = ["--out", str(tmp_path / "study"), "--json", str(tmp_path / "sbc.json"), "--plot", str(tmp_path / "sbc.png")]
    assert main(command + options + out) == 0
    table = json.loads((tmp_path / "sbc.json").read_text())["table"]
    assert {row["name"] for row in table} == {"beta[(Intercept)]", "beta[x]", "sd[g,(Intercept)]", "sigma"}
    assert all(row["n"] == 2 for row in table) and (tmp_path / "sbc.png").stat().st_size > 0
    with pytest.raises(SystemExit) as exit_status:  # argparse's own refusal: status 2 and a usage line
        main(command + ["--engine", "agq", "--out", str(tmp_path / "x")])
    assert exit_status.value.code == 2 and "invalid choice: 'agq'" in capsys.readouterr().err
