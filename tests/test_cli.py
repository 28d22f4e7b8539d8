"""The command line: spec files, the spec-less form, the JSON contract and error exits."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bayesglmm.cli import main
from bayesglmm.toml_spec import load_spec_file

ROOT = Path(__file__).resolve().parents[1]
JSON_KEYS = {"engine", "method", "qpoints", "loglik", "converged", "nobs", "ngroups", "seconds", "fixed", "random"}


def test_fit_spec_file_writes_the_documented_json(tmp_path, capsys, epilepsy_laplace):
    out = tmp_path / "fit.json"
    assert main(["fit", str(ROOT / "models" / "epilepsy.toml"), "--method", "laplace", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Solutions for Fixed Effects" in printed and "UN(2,1)" in printed
    fit = json.loads(out.read_text())
    assert JSON_KEYS <= set(fit)
    assert fit["engine"] == "ml" and fit["method"] == "laplace" and fit["qpoints"] == 1
    assert (fit["nobs"], fit["ngroups"]) == (295, 59)
    assert [row["term"] for row in fit["fixed"]] == ["(Intercept)", "time", "trt", "time:trt"]
    assert {"term", "estimate", "se", "se_empirical"} <= set(fit["fixed"][0])
    random = fit["random"][0]
    assert random["group"] == "id" and random["terms"] == ["(Intercept)", "time"]
    np.testing.assert_allclose(random["covariance"], epilepsy_laplace.G, rtol=1e-6)
    np.testing.assert_allclose(np.diag(random["corr"]), [1.0, 1.0])
    assert abs(fit["loglik"] - epilepsy_laplace.loglik) < 1e-6


def test_spec_less_form(tmp_path, epilepsy, epilepsy_laplace):
    csv = tmp_path / "epilepsy.csv"
    epilepsy.to_csv(csv, index=False)
    out = tmp_path / "fit.json"
    code = main(
        [
            "fit",
            "--formula",
            "y ~ time + trt + trt:time + offset(t) + (1 + time | id)",
            "--data",
            str(csv),
            "--family",
            "poisson",
            "--method",
            "laplace",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    assert abs(json.loads(out.read_text())["loglik"] - epilepsy_laplace.loglik) < 1e-6


def test_errors_exit_with_a_message(tmp_path, capsys, epilepsy):
    csv = tmp_path / "data.csv"
    epilepsy.to_csv(csv, index=False)
    code = main(["fit", "--formula", "y ~ time + dose + (1 | id)", "--data", str(csv), "--family", "poisson"])
    assert code == 2
    assert "column 'dose' not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fit", "--qpoints", "many"])


def test_model_files_reproduce_the_seed_settings(amenorrhea):
    amen = load_spec_file(ROOT / "models" / "amenorrhea.toml")
    epi = load_spec_file(ROOT / "models" / "epilepsy.toml")
    assert amen.ml == {"method": "agq", "qpoints": 5, "empirical": True}
    assert epi.ml == {"method": "agq", "qpoints": 50, "empirical": True}
    assert epi.spec().fixed.names == ("(Intercept)", "time", "trt", "time:trt")
    assert amen.spec().nobs == 3616


def test_unknown_toml_keys_are_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[model]\nformula = "y ~ x + (1 | g)"\nfamly = "poisson"\n[data]\ndataset = "epilepsy"\n')
    from bayesglmm import SpecError

    with pytest.raises(SpecError, match=r"unknown key\(s\) \['famly'\] in \[model\]"):
        load_spec_file(path)


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "bayesglmm.cli", "fit", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--qpoints" in result.stdout


def test_zero_inflation_from_the_cli_and_toml(tmp_path, capsys):
    """--zi and [model] zi give the fit of ModelSpec.from_formula(..., zi=); a bad zi is a one-line error."""
    data = ROOT / "tests" / "ml" / "data" / "zinb_sim.csv"
    out, toml_out = tmp_path / "cli.json", tmp_path / "toml.json"
    base = ["fit", "--method", "laplace", "--quiet"]
    cli = ["--formula", "y ~ x + trt + (1 | g)", "--data", str(data), "--family", "nbinom2", "--zi", "~ trt"]
    assert main([*base, *cli, "--json", str(out)]) == 0
    spec = tmp_path / "zinb.toml"
    spec.write_text(
        f'[model]\nformula = "y ~ x + trt + (1 | g)"\nfamily = "nbinom2"\nzi = "~ trt"\n\n[data]\nfile = "{data}"\n'
    )
    assert main([*base, str(spec), "--json", str(toml_out)]) == 0
    loglik = json.loads(out.read_text())["loglik"]
    assert loglik == pytest.approx(-664.9243038, abs=0.01)  # glmmTMB, tests/ml/r/zero_inflated.R
    assert json.loads(toml_out.read_text())["loglik"] == pytest.approx(loglik, abs=1e-8)
    capsys.readouterr()
    assert main([*base, *cli[:-1], "trt"]) == 2
    assert "one-sided formula" in capsys.readouterr().err


def test_loo_of_saved_bayesian_fits(tmp_path, capsys, epilepsy):
    """`bayesglmm loo A.nc B.nc`: each fit's table (observation and group LOO) and their comparison."""
    import warnings

    from bayesglmm import ModelSpec
    from bayesglmm.bayes import fit_bayes

    paths = []
    for family in ("poisson", "nbinom2"):
        spec = ModelSpec.from_formula("y ~ time + trt + (1 | id)", epilepsy, family)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a short run
            fit = fit_bayes(
                spec, sampler="full", chains=1, warmup=100, draws=100, seed=1, progress=False, predictive=False
            )
        paths.append(str(tmp_path / f"{family}.nc"))
        fit.save(paths[-1])
    out = tmp_path / "loo.json"
    assert main(["loo", *paths, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "y_marginal" in printed and "comparison by y_marginal" in printed
    result = json.loads(out.read_text())
    assert set(result["loo"]) == set(paths) and set(result["compare"]) == set(paths)
    assert main(["loo", str(tmp_path / "missing.nc")]) == 2
    assert "missing.nc" in capsys.readouterr().err
