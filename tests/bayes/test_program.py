"""The compiled NumPyro program: its joint log-density against an independent scipy computation."""

import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density
from scipy import special, stats

from bayesglmm import ModelSpec
from bayesglmm.bayes.program import compile_program


def _frame(seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(8), 5)
    x = np.tile(np.arange(5.0), 8)
    return pd.DataFrame(
        {
            "g": g,
            "x": x,
            "y": rng.integers(0, 2, g.size),
            "count": rng.poisson(3, g.size),
            "t": rng.normal(0, 0.1, g.size),
        }
    )


def _lkj2_logpdf(r, eta):
    """LKJ(eta) density of the correlation r of a 2x2 matrix: (1-r^2)^(eta-1) / (2^(2 eta - 1) B(eta, eta))."""
    return (eta - 1) * np.log1p(-(r**2)) - (2 * eta - 1) * np.log(2) - special.betaln(eta, eta)


@pytest.mark.parametrize("family, prior_set, eta", [("bernoulli", "brms_proper", 1.0), ("poisson", "default", 2.0)])
def test_log_density_equals_an_independent_computation(family, prior_set, eta):
    frame = _frame()
    response = "y" if family == "bernoulli" else "count"
    spec = ModelSpec.from_formula(f"{response} ~ x + offset(t) + (1 + x | g)", frame, family)
    program = compile_program(spec, prior_set)
    rng = np.random.default_rng(1)
    beta, sd, r = np.array([-0.3, 0.2]), np.array([0.8, 0.3]), 0.4
    z = rng.normal(size=(8, 2))
    L = np.array([[1.0, 0.0], [r, np.sqrt(1 - r**2)]])
    point = {"beta": beta, "sd_g": sd, "z_g": z, "L_g_0": L}
    value, _ = log_density(program.model, (), program.data, point)

    beta_prior = stats.norm(0, 10 if prior_set == "brms_proper" else 5).logpdf(beta).sum()
    sd_prior = (np.log(2) + stats.t(3, 0, 2.5).logpdf(sd)).sum()  # Student-t folded at zero
    b = (z @ L.T) * sd
    eta_rows = beta[0] + beta[1] * frame["x"] + frame["t"] + b[frame["g"], 0] + b[frame["g"], 1] * frame["x"]
    if family == "bernoulli":
        loglik = stats.bernoulli(special.expit(eta_rows)).logpmf(frame["y"]).sum()
    else:
        loglik = stats.poisson(np.exp(eta_rows)).logpmf(frame["count"]).sum()
    expected = beta_prior + sd_prior + stats.norm.logpdf(z).sum() + _lkj2_logpdf(r, eta) + loglik
    np.testing.assert_allclose(float(value), expected, rtol=1e-10)


def test_program_is_inspectable():
    spec = ModelSpec.from_formula("y ~ x + (1 + x || g)", _frame(), "bernoulli")
    program = compile_program(spec)
    assert set(program.data) == {"X", "offset", "trials", "Z", "index", "W", "y"}  # W: the zi design, (n, 0) here
    from numpyro import handlers

    trace = handlers.trace(handlers.seed(program.model, 0)).get_trace(**program.data)
    assert "L_g_0" not in trace  # independent effects: no correlation factor
    assert trace["b_g"]["value"].shape == (8, 2)
