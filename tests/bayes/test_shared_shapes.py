"""The marginal sampler's shared shapes (issue 23): the data padded to fixed buckets and β to the
next multiple of 4 above p, so that a formula with a term fewer runs the same programs.

What must hold: the padded program's log density is the unpadded one's plus the padded
coefficients' own prior (so the model's parameters have the same posterior), its Laplace
posterior is the same on the model's coordinates, two formulas of the same structure lower to
the same program, and a fit reports the model's own coefficients only.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from numpyro.infer.util import potential_energy

from bayesglmm import ModelSpec, datasets, fit_ml
from bayesglmm.bayes import fit_bayes
from bayesglmm.bayes.integrated_program import compile_marginal_program
from bayesglmm.bayes.integrated_sampler import _site_values, _spherical_modes
from bayesglmm.bayes.laplace_posterior import laplace_posterior, latent_supports
from bayesglmm.bayes.program import compile_program
from bayesglmm.core.data import grouped_data
from bayesglmm.core.shapes import ChunkShape, stable_shape
from bayesglmm.errors import SingularFitWarning
from bayesglmm.model.parameters import BETA_SITE

FORMULA = "y ~ time + time2 + trt:time + trt:time2 + (1 + time | id)"
FEWER = "y ~ time + time2 + trt:time + (1 + time | id)"
QPOINTS = 5


@pytest.fixture(scope="module")
def amenorrhea():
    return datasets.load("amenorrhea")


def _programs(data, formula, prior_set="default"):
    """(spec, full-latent program, ML fit, marginal program unpadded, marginal program padded)."""
    spec = ModelSpec.from_formula(formula, data, "bernoulli")
    program = compile_program(spec, prior_set, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        ml = fit_ml(spec, "laplace")
    grouped, start = grouped_data(spec), _spherical_modes(ml)
    p = len(program.fixed_names)
    args = (grouped, program.factors[0], program.priors, spec.family, p, QPOINTS, start)
    exact = compile_marginal_program(*args, shared_shapes=False)
    padded = compile_marginal_program(*args, shared_shapes=True)
    return spec, program, ml, exact, padded


def _unconstrained(program, values):
    """The unconstrained coordinates of ``values`` under ``program``'s model, and the unravel."""
    supports = latent_supports(program.model, program.data)
    from numpyro.distributions.transforms import biject_to

    return ravel_pytree({name: biject_to(support).inv(jnp.asarray(values[name])) for name, support in supports.items()})


def test_stable_shape_pads_beta_to_the_multiple_of_4_above_p():
    assert stable_shape(ChunkShape(184, 55, 5)) == ChunkShape(198, 59, 8)  # ⌈2^(61/8)⌉, ⌈2^(47/8)⌉
    assert stable_shape(ChunkShape(184, 55, 4)).fixed_columns == 8  # a term fewer: the same program
    assert stable_shape(ChunkShape(184, 55, 3)).fixed_columns == 4
    assert stable_shape(ChunkShape(184, 55, 5), pad_fixed=False).fixed_columns == 5
    assert stable_shape(ChunkShape(100_000, 55, 5)) == ChunkShape(100_000, 55, 5)  # large data: exact


def test_padded_program_has_the_models_log_density_plus_the_padding_prior(amenorrhea):
    _, program, ml, exact, padded = _programs(amenorrhea, FORMULA)
    assert exact.marginal.n_fixed == 5 and padded.marginal.n_fixed == 8 and padded.padded
    assert padded.data["data"].n_groups > exact.data["data"].n_groups  # groups padded too (55 -> 59)
    values = _site_values(ml, program, exact)
    u_exact, unravel_exact = _unconstrained(exact, values)
    with_padding = padded.padded_sites(values)
    with_padding[BETA_SITE] = with_padding[BETA_SITE] + np.r_[np.zeros(5), 0.7, -1.3, 2.1]
    u_padded, unravel_padded = _unconstrained(padded, with_padding)

    def exact_potential(u):
        return potential_energy(exact.model, (), exact.data, unravel_exact(u))

    def padded_potential(u):
        return potential_energy(padded.model, (), padded.data, unravel_padded(u))

    prior = float(padded.padding_log_prior(with_padding[BETA_SITE]))
    assert prior == pytest.approx(
        float(np.sum(-0.5 * (np.r_[0.7, -1.3, 2.1] / 5) ** 2 - np.log(5 * np.sqrt(2 * np.pi))))
    )
    np.testing.assert_allclose(
        float(padded_potential(u_padded)), float(exact_potential(u_exact)) - prior, rtol=0, atol=1e-10
    )
    # the gradient in the model's coordinates is the same; in a padded one it is the prior's alone
    grad_exact = unravel_exact(jax.grad(exact_potential)(u_exact))
    grad_padded = unravel_padded(jax.grad(padded_potential)(u_padded))
    for name in grad_exact:
        own = grad_padded[name][..., :5] if name == BETA_SITE else grad_padded[name]
        np.testing.assert_allclose(own, grad_exact[name], rtol=0, atol=1e-10)
    np.testing.assert_allclose(grad_padded[BETA_SITE][5:], np.r_[0.7, -1.3, 2.1] / 25, atol=1e-12)


def test_padded_laplace_posterior_is_the_models_on_its_coordinates(amenorrhea):
    _, program, ml, exact, padded = _programs(amenorrhea, FORMULA)
    values = _site_values(ml, program, exact)
    without = laplace_posterior(exact.model, exact.data, values)
    with_padding = laplace_posterior(padded.model, padded.data, padded.padded_sites(values))
    # where each site's entries sit in the flat vectors (sites in name order, β with 8 entries)
    index = with_padding.unravel(jnp.arange(with_padding.mode.size, dtype=float))
    own = np.concatenate([np.ravel(index[n][..., :5] if n == BETA_SITE else index[n]) for n in sorted(index)]).astype(
        int
    )
    extra = np.asarray(index[BETA_SITE][5:]).astype(int)
    np.testing.assert_allclose(with_padding.mode[own], without.mode, atol=1e-6)
    np.testing.assert_allclose(with_padding.mode[extra], 0.0, atol=1e-12)
    np.testing.assert_allclose(with_padding.covariance[np.ix_(own, own)], without.covariance, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(np.diag(with_padding.covariance)[extra], 25.0, rtol=1e-6)  # the normal(0, 5) prior
    beta = padded.own_sites(with_padding.mode_sites())[BETA_SITE]
    np.testing.assert_allclose(beta, without.mode_sites()[BETA_SITE], atol=1e-6)


def test_a_formula_with_a_term_fewer_lowers_to_the_same_programs(amenorrhea):
    """The programs are keyed on the shapes, not on the formula: the Laplace posterior's gradient
    (the sampler's potential, which NUTS's start and loop contain) lowers to the same text."""
    lowered = []
    for formula in (FORMULA, FEWER):
        _, program, ml, _, padded = _programs(amenorrhea, formula)
        u, unravel = _unconstrained(padded, padded.padded_sites(_site_values(ml, program, padded)))
        potential = jax.jit(jax.value_and_grad(lambda u, kw: potential_energy(padded.model, (), kw, unravel(u))))
        lowered.append(potential.lower(u, padded.data).as_text())
    assert lowered[0] == lowered[1]


def test_fit_reports_the_models_own_coefficients(amenorrhea):
    spec = ModelSpec.from_formula(FEWER, amenorrhea, "bernoulli")
    options = dict(sampler="marginal", qpoints=QPOINTS, chains=1, warmup=60, draws=40, progress=False, predictive=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_bayes(spec, **options)
    posterior = fit.idata.posterior
    assert list(posterior["beta"].coords["term"].values if "term" in posterior["beta"].coords else []) in (
        [],
        list(spec.fixed.names),
    )
    assert posterior["beta"].shape[-1] == 4
    assert np.all(np.isfinite(fit.idata.sample_stats["lp"].values))
