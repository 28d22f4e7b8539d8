"""Every user error on the command line: exit status 2, one message naming the problem, no
traceback (issue 18, items 3 and 4). A third of the cases (every third, 23) run as their own
``bayesglmm`` process, four at a time; the others call the same entry point in this process (each
process pays ~1.5 s of imports: all 67 as processes took 106 s of a cold CI run, two thirds 74 s
of the suite's 9.5 minutes).

Before this change: ``empirical = "no"`` silently switched sandwich SEs on, ``chains = "four"``
crashed XLA, ``--chains 0`` and an unknown family showed tracebacks, ``--target-accept 1.5`` ran,
a bad CSV gave pandas' traceback, a missing output folder lost the fit at the end, and
``coverage --workers -1`` and ``compare --reference`` of a fit not compared failed late or not at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FORMULA = "y ~ x + (1 | g)"
GOOD_MODEL = '[model]\nformula = "y ~ x + (1 | g)"\nfamily = "bernoulli"\n[data]\nfile = "ok.csv"\n'


def _files(folder: Path) -> None:
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(40), 5)
    frame = pd.DataFrame(
        {"y": rng.integers(0, 2, g.size), "x": rng.normal(size=g.size), "g": g, "n": 5, "k": rng.integers(0, 6, g.size)}
    )
    frame.to_csv(folder / "ok.csv", index=False)
    frame.assign(y=frame["k"]).to_csv(folder / "counts012.csv", index=False)
    (folder / "empty.csv").write_text("")
    (folder / "header.csv").write_text("y,x,g\n")
    (folder / "latin1.csv").write_bytes("y,x,g,caf\xe9\n1,2,3,4\n".encode("latin-1"))
    (folder / "dup.csv").write_text("y,x,x,g\n1,2,3,4\n0,1,2,4\n")
    frame.assign(x=frame["x"].where(frame.index != 3, np.inf)).to_csv(folder / "inf.csv", index=False)
    (folder / "afolder").mkdir()
    (folder / "afile").write_text("not a folder")
    tomls = {
        "good": GOOD_MODEL,
        "invalid": "[model\nformula = ",
        "empirical_no": GOOD_MODEL + '[ml]\nempirical = "no"\n',
        "chains_four": GOOD_MODEL + '[bayes]\nchains = "four"\n',
        "target_accept": GOOD_MODEL + "[bayes]\ntarget_accept = 1.5\n",
        "sampler": GOOD_MODEL + '[bayes]\nsampler = "nuts"\n',
        "qpoints0": GOOD_MODEL + '[ml]\nmethod = "agq"\nqpoints = 0\n',
        "method": GOOD_MODEL + '[ml]\nmethod = "quad"\n',
        "unknown_key": GOOD_MODEL.replace('family = "bernoulli"', 'famly = "bernoulli"'),
        "unknown_section": GOOD_MODEL + "[mcmc]\nchains = 2\n",
        "no_family": GOOD_MODEL.replace('family = "bernoulli"\n', ""),
        "family_number": GOOD_MODEL.replace('family = "bernoulli"', "family = 3"),
        "reference": GOOD_MODEL.replace('family = "bernoulli"', 'family = "bernoulli"\nreference = "x"'),
        "corr": GOOD_MODEL + '[gee]\ncorr = "banded"\n',
        "data_missing": GOOD_MODEL.replace("ok.csv", "nothere.csv"),
        "thin": GOOD_MODEL + "[bayes]\nthin = 0\n",
        "dense_mass": GOOD_MODEL + '[bayes]\ndense_mass = "no"\n',
    }
    for name, text in tomls.items():
        (folder / f"{name}.toml").write_text(text)


def _formula(*extra, formula=FORMULA, data="ok.csv", family="bernoulli"):
    args = ["fit", "--formula", formula, "--data", data]
    return args + (["--family", family] if family else []) + list(extra)


CASES = {
    # CSV files
    "csv missing": (_formula(data="nothere.csv"), "nothere.csv not found"),
    "csv is a folder": (_formula(data="afolder"), "is a folder"),
    "csv empty": (_formula(data="empty.csv"), "empty.csv is empty"),
    "csv header only": (_formula(data="header.csv"), "no rows of data"),
    "csv not utf-8": (_formula(data="latin1.csv"), "not UTF-8"),
    "csv duplicate names": (_formula(data="dup.csv"), "duplicate column names ['x']"),
    "csv infinite covariate": (_formula(data="inf.csv"), "'x' (1 rows) have infinite values"),
    "column not found": (_formula(formula="y ~ dose + (1 | g)"), "column 'dose' not found"),
    # formulas
    "formula unbalanced": (_formula(formula="y ~ x + (1 | g"), "unbalanced '('"),
    "formula no tilde": (_formula(formula="y x"), "needs a response and '~'"),
    "formula response expression": (_formula(formula="log(y) ~ x + (1 | g)"), "must be a column name"),
    "formula bar without parentheses": (_formula(formula="y ~ x + 1 | g"), "need parentheses"),
    "formula empty group": (_formula(formula="y ~ x + (1 | )"), "cannot read the random-effect term"),
    "formula unknown function": (_formula(formula="y ~ foo(x) + (1 | g)"), "foo"),
    "formula subtracted bar": (_formula(formula="y ~ x - (1 | g)"), "cannot be subtracted"),
    # families and links
    "family unknown": (_formula(family="weibull"), "unknown family 'weibull'; choose one of bernoulli"),
    "family and link": (
        _formula("--link", "logit", family="poisson"),
        "link 'logit' is not available for family 'poisson'",
    ),
    "link unknown": (_formula("--link", "sqrt"), "link 'sqrt' is not available"),
    "family missing": (_formula(family=None), "--family is required"),
    "trials without binomial": (_formula("--trials", "n"), "--trials"),
    "bernoulli with counts": (_formula(data="counts012.csv"), "family 'bernoulli' needs 0/1"),
    "trials column missing": (
        _formula("--trials", "size", formula="k ~ x + (1 | g)", family="binomial"),
        "column 'size' not found",
    ),
    # TOML files
    "toml missing": (["fit", "nothere.toml"], "nothere.toml not found"),
    "toml invalid": (["fit", "invalid.toml"], "is not valid TOML"),
    "toml empirical string": (
        ["fit", "empirical_no.toml"],
        "[ml] of empirical_no.toml: empirical must be true or false",
    ),
    "toml chains string": (
        ["fit", "chains_four.toml", "--engine", "bayes"],
        "chains must be a whole number, got str 'four'",
    ),
    "toml target_accept": (["fit", "target_accept.toml"], "target_accept must satisfy 0.0 < target_accept < 1.0"),
    "toml sampler": (["fit", "sampler.toml"], "sampler must be one of auto, full, marginal, laplace"),
    "toml qpoints 0": (["fit", "qpoints0.toml"], "qpoints must be >= 1"),
    "toml method": (["fit", "method.toml"], "method must be one of laplace, agq"),
    "toml unknown key": (["fit", "unknown_key.toml"], "unknown key(s) ['famly'] in [model]"),
    "toml unknown section": (["fit", "unknown_section.toml"], "unknown section(s) ['mcmc']"),
    "toml no family": (["fit", "no_family.toml"], "needs a family"),
    "toml family not a string": (["fit", "family_number.toml"], "family must be a string"),
    "toml reference not a table": (["fit", "reference.toml"], "reference must be a table"),
    "toml gee corr": (["fit", "corr.toml", "--engine", "gee"], "corr must be one of independence"),
    "toml data file missing": (["fit", "data_missing.toml"], "nothere.csv not found"),
    "toml thin": (["fit", "thin.toml", "--engine", "bayes"], "thin must be >= 1"),
    "toml dense mass a string": (["fit", "dense_mass.toml", "--engine", "bayes"], "dense_mass must be true or false"),
    "toml is a folder": (["fit", "afolder"], "is a folder"),
    # sampler settings on the command line
    "chains 0": (_formula("--engine", "bayes", "--chains", "0"), "chains must be >= 1"),
    "chains not a number": (_formula("--engine", "bayes", "--chains", "four"), "--chains: invalid int value"),
    "draws 0": (_formula("--engine", "bayes", "--draws", "0"), "draws must be >= 1"),
    "warmup negative": (_formula("--engine", "bayes", "--warmup", "-1"), "warmup must be >= 0"),
    "thin 0": (_formula("--engine", "bayes", "--thin", "0"), "thin must be >= 1"),
    "target accept 1.5": (_formula("--engine", "bayes", "--target-accept", "1.5"), "target_accept must satisfy"),
    "target accept 0": (_formula("--engine", "bayes", "--target-accept", "0"), "target_accept must satisfy"),
    "laplace posterior with a metric": (
        _formula("--engine", "bayes", "--sampler", "laplace", "--no-dense-mass"),
        "dense_mass do not apply",
    ),
    "laplace posterior with chains": (
        _formula("--engine", "bayes", "--sampler", "laplace", "--chains", "2"),
        "chains do not apply",
    ),
    "priors unknown": (
        ["compare", "good.toml", "--engines", "nuts", "--priors", "flat"],
        "prior_set must be one of default, brms, brms_proper",
    ),
    # ML options
    "qpoints 0": (_formula("--method", "agq", "--qpoints", "0"), "--qpoints must be >= 1"),
    "qpoints with laplace": (_formula("--method", "laplace", "--qpoints", "5"), "method='laplace' uses one point"),
    "grid over the memory limit": (
        _formula("--method", "agq", "--qpoints", "40", "--max-grid-gb", "0.0001"),
        "--max-grid-gb",
    ),
    # output paths, checked before any fitting
    "json in a missing folder": (
        _formula("--json", "nofolder/fit.json"),
        "--json nofolder/fit.json: folder nofolder does not exist",
    ),
    "json is a folder": (_formula("--json", "afolder"), "--json afolder: is a folder"),
    "save in a missing folder": (
        _formula("--engine", "bayes", "--save", "nofolder/post.nc"),
        "--save nofolder/post.nc",
    ),
    "compare plot in a missing folder": (
        ["compare", "good.toml", "--engines", "laplace", "--plot", "no/f.png"],
        "--plot no/f.png",
    ),
    "compare density plot folder": (
        ["compare", "good.toml", "--engines", "laplace", "--density-plot", "afolder"],
        "--density-plot afolder: is a folder",
    ),
    "coverage out is a file": (
        ["coverage", "good.toml", "--engines", "laplace", "--out", "afile"],
        "--out afile: is a file",
    ),
    "predict without grid": (["predict", "good.toml"], "needs a [predict] section"),
    # comparisons and studies
    "compare reference not compared": (
        ["compare", "good.toml", "--engines", "laplace,agq5", "--reference", "nuts"],
        "--reference 'nuts' is not one of the fits compared",
    ),
    "compare unknown engine": (["compare", "good.toml", "--engines", "laplace,quad"], "unknown engine 'quad'"),
    "compare no engine": (["compare", "good.toml", "--engines", ","], "name at least one engine"),
    "compare max std diff": (
        ["compare", "good.toml", "--engines", "laplace", "--max-std-diff", "0"],
        "--max-std-diff must be > 0",
    ),
    "coverage workers -1": (
        ["coverage", "good.toml", "--engines", "laplace", "--workers", "-1", "--out", "st"],
        "--workers must be >= 1",
    ),
    "coverage sims 0": (
        ["coverage", "good.toml", "--engines", "laplace", "--sims", "0", "--out", "st"],
        "--sims must be >= 1",
    ),
}


SUBPROCESS_CASES = [case for i, case in enumerate(CASES) if i % 3 == 0]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    _files(folder)
    executable = Path(sys.executable).with_name("bayesglmm")
    environment = {**os.environ, "BAYESGLMM_CACHE": "off"}

    def run(args):
        return subprocess.run(
            [str(executable), *args], cwd=folder, capture_output=True, text=True, timeout=300, env=environment
        )

    with ThreadPoolExecutor(4) as pool:
        return dict(zip(SUBPROCESS_CASES, pool.map(run, [CASES[case][0] for case in SUBPROCESS_CASES]))), folder


def test_there_are_enough_cases():
    assert len(SUBPROCESS_CASES) >= 20 and len(CASES) >= 60


@pytest.mark.parametrize("case", list(CASES))
def test_user_error_exits_2_with_one_message(results, case, capsys, monkeypatch):
    expected = CASES[case][1]
    if case in results[0]:
        completed = results[0][case]
        code, stderr = completed.returncode, completed.stderr
    else:  # the same entry point in this process (an uncaught exception would fail the test)
        from bayesglmm.cli import main

        monkeypatch.chdir(results[1])
        capsys.readouterr()
        try:
            code = main(CASES[case][0])
        except SystemExit as exit_:  # argparse's own errors
            code = exit_.code
        stderr = capsys.readouterr().err
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert expected in stderr, stderr
    assert (
        not list(results[1].glob("nofolder*")) and not (results[1] / "st").exists()
    )  # nothing written, no study started


def test_a_failed_write_at_the_end_goes_to_a_fallback_file(tmp_path, capsys, monkeypatch):
    from bayesglmm.outputs import write_outputs

    def fails(path):
        if "fallback" not in str(path) and "bayesglmm-" not in str(path):
            raise OSError(28, "No space left on device")
        Path(path).write_text("the result")

    status = write_outputs({str(tmp_path / "fit.json"): fails})
    message = capsys.readouterr().err
    assert status == 1 and "No space left on device" in message
    fallback = Path(message.rsplit("the result is in ", 1)[1].strip())
    assert fallback.read_text() == "the result"
    fallback.unlink()
