"""Predictions on everyday new data: one patient's rows, a grid with one treatment, a pandas
Categorical, with a non-default reference level, for every engine (issue 18, item 1).

Each must equal predicting on the full data and selecting those rows: the new-data design is
built from the fit's own levels, reference and column order (:mod:`bayesglmm.model.newdata`).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec, SpecError, fit_ml
from bayesglmm.gee import fit_gee
from bayesglmm.predict import predict

FORMULA = "y ~ time + trt + trt:time + offset(t) + (1 + time | id)"


@pytest.fixture(scope="module")
def labelled(epilepsy):
    return epilepsy.assign(trt=np.where(epilepsy["trt"] == 1, "drug", "placebo"))


@pytest.fixture(scope="module")
def fits(labelled):
    from bayesglmm.bayes import fit_bayes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = ModelSpec.from_formula(FORMULA, labelled, "poisson", reference={"trt": "placebo"})
        assert spec.fixed_names == ("(Intercept)", "time", "trtdrug", "time:trtdrug")
        return {
            "ml": (fit_ml(spec, "laplace"), "conditional"),
            "bayes": (
                fit_bayes(spec, sampler="full", chains=2, warmup=150, draws=100, seed=1, predictive=False),
                "conditional",
            ),
            "gee": (
                fit_gee(
                    "y ~ time + trt + trt:time + offset(t)",
                    labelled,
                    "poisson",
                    cluster="id",
                    corr="exchangeable",
                    reference={"trt": "placebo"},
                ),
                "marginal",
            ),
        }


def _subsets(labelled):
    categorical = labelled.assign(trt=pd.Categorical(labelled["trt"], categories=["placebo", "drug"]))
    return {
        "one patient": labelled[labelled["id"] == labelled["id"].iloc[0]],
        "one treatment": labelled[labelled["trt"] == "drug"],
        "categorical, one patient": categorical[categorical["id"] == 40],
        "categorical, reversed categories": labelled.assign(
            trt=pd.Categorical(labelled["trt"], categories=["drug", "placebo"])
        ).iloc[100:130],
    }


@pytest.mark.parametrize("engine", ["ml", "bayes", "gee"])
def test_predictions_on_subsets_equal_the_full_datas(fits, labelled, engine):
    fit, kind = fits[engine]
    full = predict(fit, labelled, kind=kind)
    for name, rows in _subsets(labelled).items():
        part = predict(fit, rows, kind=kind)
        np.testing.assert_allclose(
            part.to_numpy(), full.loc[rows.index].to_numpy(), rtol=1e-12, atol=1e-12, err_msg=name
        )


@pytest.mark.parametrize("engine", ["ml", "bayes", "gee"])
def test_an_unseen_level_is_named(fits, labelled, engine):
    fit, kind = fits[engine]
    with pytest.raises(SpecError, match=r"column 'trt' .* level\(s\) 'other' not seen in the fit .*'placebo', 'drug'"):
        predict(fit, labelled.assign(trt="other").iloc[:3], kind=kind)


def test_new_groups_follow_lme4(fits, labelled):
    fit, _ = fits["ml"]
    rows = labelled.iloc[:5].assign(id=999)
    with pytest.raises(SpecError, match="id level.*999.*new_groups='population'"):
        predict(fit, rows)
    with pytest.raises(SpecError, match="new_groups must be one of error, population"):
        predict(fit, rows, new_groups="zero")
    np.testing.assert_allclose(
        predict(fit, rows, new_groups="population")["estimate"],
        predict(fit, rows, kind="typical")["estimate"],
        rtol=1e-12,
    )
    with pytest.raises(SpecError, match="group column 'id'"):
        predict(fit, rows.drop(columns="id"))


def test_saved_bayes_fit_predicts_the_same(fits, labelled, tmp_path):
    from bayesglmm import BayesFit

    fit, _ = fits["bayes"]
    fit.save(tmp_path / "post.nc")
    loaded = BayesFit.load(tmp_path / "post.nc")
    rows = labelled[labelled["trt"] == "placebo"].iloc[:7]
    np.testing.assert_allclose(predict(loaded, rows).to_numpy(), predict(fit, rows).to_numpy(), rtol=1e-12)


def test_stateful_transforms_use_the_fitted_data(labelled):
    """scale(age) on one patient's rows uses the fitted mean and SD (R's predict), not the new rows'."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = ModelSpec.from_formula("y ~ time + scale(age) + offset(t) + (1 | id)", labelled, "poisson")
        fit = fit_ml(spec, "laplace")
    rows = labelled[labelled["id"] == 5]
    np.testing.assert_allclose(
        predict(fit, rows).to_numpy(), predict(fit, labelled).loc[rows.index].to_numpy(), rtol=1e-12
    )
