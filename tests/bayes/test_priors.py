"""Prior syntax, named sets, overrides and their errors."""

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec, SpecError
from bayesglmm.bayes.priors import parse_prior, resolve_priors


@pytest.fixture(scope="module")
def spec():
    frame = pd.DataFrame({"y": [0, 1, 1, 0, 1, 0] * 4, "x": np.arange(24.0) % 3, "g": np.repeat(np.arange(6), 4)})
    return ModelSpec.from_formula("y ~ x + (1 + x | g)", frame, "bernoulli")


def test_brms_proper_set_is_brms_defaults_made_proper(spec):
    priors = resolve_priors(spec, "brms_proper")
    assert [str(p) for p in priors.beta] == ["normal(0, 10)", "normal(0, 10)"]
    assert [str(p) for p in priors.sd["g"]] == ["half_student_t(3, 2.5)"] * 2
    assert [str(p) for p in priors.corr["g"]] == ["lkj(1)"]
    assert priors.sigma is None


def test_overrides_most_specific_name_wins(spec):
    priors = resolve_priors(
        spec,
        "default",
        {"beta": "normal(0, 2)", "beta[x]": "normal(1, 0.5)", "sd[g,x]": "half_normal(1)", "corr[g]": "lkj(4)"},
    )
    assert [str(p) for p in priors.beta] == ["normal(0, 2)", "normal(1, 0.5)"]
    assert [str(p) for p in priors.sd["g"]] == ["half_student_t(3, 2.5)", "half_normal(1)"]
    assert str(priors.corr["g"][0]) == "lkj(4)"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"beta[z]": "normal(0, 1)"}, "no parameter named beta\\[z\\]"),
        ({"sd": "normal(0, 1)"}, "a standard deviation needs one of"),
        ({"beta": "lkj(2)"}, "a coefficient needs one of"),
        ({"beta": "normal(0, -1)"}, "must be positive"),
        ({"beta": "gauss(0, 1)"}, "cannot read the prior"),
        ({"beta": "normal(0)"}, "takes 2 argument"),
        ({"sigma": "half_normal(1)"}, "has no sigma"),
    ],
)
def test_invalid_priors_are_explained(spec, overrides, message):
    with pytest.raises(SpecError, match=message):
        resolve_priors(spec, "default", overrides)


def test_unknown_prior_set(spec):
    with pytest.raises(SpecError, match="unknown prior set 'stan'"):
        resolve_priors(spec, "stan")


def test_parse_prior_round_trips():
    assert str(parse_prior(" student_t( 3, 0 , 2.5 ) ")) == "student_t(3, 0, 2.5)"


# Each prior string against scipy's density (lkj: tests/bayes/test_program.py checks the 2x2 LKJ
# density inside the program's joint density). (string, scipy frozen distribution, points)
SCIPY_PRIORS = [
    ("normal(1, 2)", lambda st: st.norm(1, 2), [-3.0, 0.5, 4.0]),
    ("student_t(3, 0.5, 2.5)", lambda st: st.t(3, 0.5, 2.5), [-6.0, 0.0, 2.0]),
    ("cauchy(0, 2.5)", lambda st: st.cauchy(0, 2.5), [-10.0, 0.3, 5.0]),
    ("logistic(0, 1)", lambda st: st.logistic(0, 1), [-4.0, 0.0, 2.5]),
    ("half_normal(2)", lambda st: st.halfnorm(scale=2), [0.1, 1.0, 5.0]),
    ("half_student_t(3, 2.5)", lambda st: st.halft(3, scale=2.5) if hasattr(st, "halft") else None, [0.1, 1.0, 8.0]),
    ("half_cauchy(1)", lambda st: st.halfcauchy(scale=1), [0.05, 1.0, 20.0]),
    ("exponential(2)", lambda st: st.expon(scale=0.5), [0.01, 0.5, 3.0]),
    ("gamma(0.01, 0.01)", lambda st: st.gamma(0.01, scale=100.0), [0.001, 1.0, 50.0]),
    ("inv_gamma(2, 1)", lambda st: st.invgamma(2, scale=1.0), [0.1, 0.7, 4.0]),
    ("lognormal(0.5, 1.5)", lambda st: st.lognorm(s=1.5, scale=np.exp(0.5)), [0.05, 1.0, 9.0]),
    ("uniform(-1, 3)", lambda st: st.uniform(-1, 4), [-0.5, 1.0, 2.9]),
    ("beta(2, 5)", lambda st: st.beta(2, 5), [0.05, 0.3, 0.9]),
]


@pytest.mark.parametrize("text, reference, points", SCIPY_PRIORS, ids=[row[0] for row in SCIPY_PRIORS])
def test_every_prior_family_matches_scipy(text, reference, points):
    from scipy import stats

    frozen = reference(stats)
    if frozen is None:  # scipy without halft: the folded Student-t is twice the Student-t on x > 0
        expected = np.log(2.0) + stats.t(3, 0.0, 2.5).logpdf(points)
    else:
        expected = frozen.logpdf(points)
    got = np.asarray(parse_prior(text).distribution().log_prob(np.asarray(points)))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"beta": "normal(0, inf)"}, "every argument must be a finite number"),
        ({"beta[x]": "normal(nan, 1)"}, "every argument must be a finite number"),
        ({"sd": "half_normal(0)"}, "must be positive"),
        ({"sd[g,x]": "uniform(-1, 2)"}, "lies in \\[0, inf\\]"),
        ({"beta": "uniform(2, 1)"}, "needs lower < upper"),
        ({"beta[x]": "uniform(-5, 5)"}, "the priors of beta mix uniform with normal"),
        ({"corr": "uniform(0, 1)"}, "a correlation needs one of lkj"),
    ],
)
def test_bad_prior_values_are_refused_when_the_priors_are_resolved(spec, overrides, message):
    with pytest.raises(SpecError, match=message):
        resolve_priors(spec, "default", overrides)


def test_mixed_families_within_a_class(spec):
    """A Student-t intercept with a normal slope, a half-normal on one SD beside the set's
    half-Student-t: one vector site each, with the sum of the components' log densities, the
    class's support, and draws from each component's own distribution."""
    import jax
    from scipy import stats

    from bayesglmm.bayes.program import IndependentPriors, vector_distribution

    priors = resolve_priors(spec, "default", {"beta[(Intercept)]": "student_t(3, 0, 2.5)", "sd[g,x]": "half_normal(1)"})
    beta = vector_distribution(priors.beta, "beta")
    sd = vector_distribution(priors.sd["g"], "sd[g]")
    assert isinstance(beta, IndependentPriors) and isinstance(sd, IndependentPriors)
    np.testing.assert_allclose(
        float(beta.log_prob(np.array([0.7, -1.2]))), stats.t(3, 0, 2.5).logpdf(0.7) + stats.norm(0, 5).logpdf(-1.2)
    )
    np.testing.assert_allclose(
        float(sd.log_prob(np.array([0.4, 0.9]))),
        np.log(2) + stats.t(3, 0, 2.5).logpdf(0.4) + stats.halfnorm(scale=1).logpdf(0.9),
    )
    assert str(sd.support.base_constraint) == "Positive(lower_bound=0.0)"
    draws = np.asarray(beta.sample(jax.random.PRNGKey(0), (4000,)))
    assert draws.shape == (4000, 2)
    assert stats.kstest(draws[:, 0], stats.t(3, 0, 2.5).cdf).pvalue > 1e-3
    assert stats.kstest(draws[:, 1], stats.norm(0, 5).cdf).pvalue > 1e-3


def test_mixed_priors_sample_in_a_fit(spec):
    """The full program samples with mixed families within a class (a short run)."""
    import warnings

    from bayesglmm.bayes import fit_bayes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_bayes(
            spec,
            priors={"beta[(Intercept)]": "student_t(3, 0, 2.5)", "sd[g,x]": "half_normal(1)"},
            sampler="full",
            chains=1,
            warmup=100,
            draws=100,
            progress=False,
            predictive=False,
            group_loglik=False,
        )
    assert dict(fit.priors)["beta[(Intercept)]"] == "student_t(3, 0, 2.5)"
    assert np.all(fit.idata.posterior["sd_g"].values > 0)


# brms 2.18's get_prior() on these models (tests/bayes/r/brms_default_priors.R): the Intercept
# prior's location is round(median(log y*), 1) - mean(offset) for the log link, 0 for the logit.
BRMS_GET_PRIOR = {
    ("epilepsy", "poisson"): {"Intercept": "student_t(3, 0.829594, 2.5)", "sd": "half_student_t(3, 2.5)"},
    ("epilepsy", "nbinom2"): {
        "Intercept": "student_t(3, 0.829594, 2.5)",
        "sd": "half_student_t(3, 2.5)",
        "shape": "gamma(0.01, 0.01)",
    },
    ("amenorrhea", "bernoulli"): {"Intercept": "student_t(3, 0, 2.5)", "sd": "half_student_t(3, 2.5)"},
    ("epilepsy", "gaussian"): {
        "Intercept": "student_t(3, 6, 5.9)",
        "sd": "half_student_t(3, 5.9)",
        "sigma": "half_student_t(3, 5.9)",
    },
}
FORMULAS = {
    ("epilepsy", "poisson"): "y ~ time + trt + trt:time + offset(t) + (1 + time | id)",
    ("epilepsy", "nbinom2"): "y ~ time + trt + trt:time + offset(t) + (1 + time | id)",
    ("amenorrhea", "bernoulli"): "y ~ time + time2 + trt:time + trt:time2 + (1 + time | id)",
    ("epilepsy", "gaussian"): "y ~ time + (1 | id)",
}


@pytest.mark.parametrize("data, family", list(BRMS_GET_PRIOR), ids=["-".join(key) for key in BRMS_GET_PRIOR])
def test_brms_set_is_brms_own_defaults(data, family, epilepsy, amenorrhea):
    """The ``brms`` set is what brms's get_prior() gives: flat b, the centred Intercept's
    Student-t located at the response's median on the link scale, the SDs' (and a Gaussian
    sigma's) scale max(2.5, mad), lkj(1), and the family's shape prior."""
    import warnings

    frame = {"epilepsy": epilepsy, "amenorrhea": amenorrhea}[data]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ModelSpec.from_formula(FORMULAS[data, family], frame, family)
    table = dict(resolve_priors(model, "brms").table(model.fixed.names, model.random))
    expected = BRMS_GET_PRIOR[data, family]
    assert table.pop("Intercept (centred predictors)") == expected["Intercept"]
    assert all(table[f"beta[{term}]"] == "flat" for term in model.fixed.names if term != "(Intercept)")
    assert {prior for name, prior in table.items() if name.startswith("sd[")} == {expected["sd"]}
    assert all(prior == "lkj(1)" for name, prior in table.items() if name.startswith("corr["))
    for extra in ("shape", "sigma"):
        if extra in expected:
            assert table[extra] == expected[extra]


def test_centred_intercept_is_the_intercept_at_the_predictor_means(spec):
    """With brms's class Intercept, the program samples α (centred) and b and records
    β₀ = α − x̄ᵀb: the linear predictor is unchanged, X β = α + (X − x̄) b."""
    import jax
    from numpyro.handlers import seed, substitute, trace

    from bayesglmm.bayes.program import beta_from_sites, compile_program, fixed_effect_sites

    program = compile_program(spec, "default", {"Intercept": "student_t(3, 0, 2.5)"})
    assert program.priors.centring is not None and program.priors.centring.means[1] == pytest.approx(1.0)
    beta = np.array([0.3, -0.7])
    sites = fixed_effect_sites(program.priors, beta)
    assert sites["centred_intercept"] == pytest.approx(0.3 - 0.7 * 1.0)
    np.testing.assert_allclose(np.asarray(beta_from_sites(program.priors, sites)), beta)
    model = substitute(seed(program.model, jax.random.PRNGKey(0)), data=sites)
    recorded = trace(model).get_trace(**{k: v for k, v in program.data.items() if k != "y"})
    np.testing.assert_allclose(np.asarray(recorded["beta"]["value"]), beta)
    from scipy import stats

    log_prior = float(recorded["centred_intercept"]["fn"].log_prob(sites["centred_intercept"]))
    assert log_prior == pytest.approx(stats.t(3, 0, 2.5).logpdf(-0.4))


def test_intercept_given_twice_is_refused(spec):
    with pytest.raises(SpecError, match="either as Intercept .* or as beta\\[\\(Intercept\\)\\]"):
        resolve_priors(spec, "default", {"Intercept": "normal(0, 1)", "beta[(Intercept)]": "normal(0, 1)"})


def test_beta_intercept_override_uncentres_the_brms_set(spec):
    priors = resolve_priors(spec, "brms", {"beta[(Intercept)]": "normal(0, 5)"})
    assert priors.centring is None and str(priors.beta[0]) == "normal(0, 5)" and str(priors.beta[1]) == "flat"


def test_flat_priors_have_no_prior_draws(spec):
    from bayesglmm.bayes import fit_bayes

    with pytest.raises(SpecError, match="prior draws need proper priors"):
        fit_bayes(spec, "brms", prior_draws=10)


@pytest.mark.parametrize("sampler", ["full", "marginal", "laplace"])
def test_brms_defaults_sample_by_every_sampler(epilepsy_spec, epilepsy_laplace, sampler):
    """Flat b and the centred intercept through every sampler: on epilepsy, whose likelihood
    dominates, the posterior means agree with the ML estimates within 0.5 posterior SD."""
    import warnings

    from bayesglmm.bayes import fit_bayes, laplace_fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if sampler == "laplace":
            fit = laplace_fit(epilepsy_spec, "brms", draws=1000, ml_fit=epilepsy_laplace, predictive=False)
        else:
            ml_fit = epilepsy_laplace if sampler == "marginal" else None
            fit = fit_bayes(
                epilepsy_spec,
                "brms",
                sampler=sampler,
                chains=2,
                warmup=300,
                draws=300,
                seed=1,
                progress=False,
                predictive=False,
                ml_fit=ml_fit,
            )
    posterior, ml = fit.params(), epilepsy_laplace.params()
    assert "centred_intercept" not in fit.idata.posterior  # β carries it, once
    for name in [n for n in ml.index if n.startswith("beta[")]:
        assert abs(posterior.loc[name, "mean"] - ml.loc[name, "estimate"]) < 0.5 * posterior.loc[name, "sd"], name
