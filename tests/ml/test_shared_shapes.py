"""Shared shapes (:mod:`bayesglmm.core.shapes`): padding changes no result, and a second model of the
same structure runs the programs the first one compiled (issue 23)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesglmm import ModelSpec, fit_ml
from bayesglmm.core.covariance import CovarianceStructure
from bayesglmm.core.data import chunked_data
from bayesglmm.core.group_likelihood import MarginalModel
from bayesglmm.core.shapes import SHAPES, ChunkShape, ShapeRegistry, bucketed, fixed_columns_bucket, size_bucket
from bayesglmm.ml.objective import MarginalObjective
from bayesglmm.ml.options import MLOptions

from ..compile_events import compile_events
from ..conftest import AMENORRHEA


def test_size_buckets_pad_by_at_most_a_fifth():
    sizes = [size_bucket(n) for n in range(1, 5000)]
    assert all(b >= n for n, b in zip(range(1, 5000), sizes))
    assert all(b <= max(n * 2**0.25 + 1, n) for n, b in zip(range(1, 5000), sizes))
    assert sizes == sorted(sizes)
    assert len(set(sizes[1000:])) <= 4 * 3  # four buckets per doubling from 1000 to 5000 rows
    assert [size_bucket(n) for n in (1, 2, 3, 4, 5, 9, 16, 17)] == [1, 2, 3, 4, 5, 10, 16, 20]
    assert [fixed_columns_bucket(p) for p in (1, 4, 5, 8, 9)] == [4, 4, 8, 8, 12]


def test_registry_reuses_a_compiled_shape_and_buckets_the_next_one():
    registry = ShapeRegistry()
    first = registry.shape_for("structure", ChunkShape(3616, 1151, 5))
    assert first == ChunkShape(3616, 1151, 5)  # the first program of a structure: exact, no padding cost
    assert registry.shape_for("structure", ChunkShape(2170, 1000, 4)) == first  # 60% of the rows, a term fewer
    assert registry.shape_for("structure", ChunkShape(3616, 1151, 5)) == first  # a simulated replicate
    assert registry.shape_for("other structure", ChunkShape(2170, 1000, 4)) == ChunkShape(2170, 1000, 4)
    added = registry.shape_for("structure", ChunkShape(3616, 1151, 6))  # a term more: bucketed, with headroom
    assert added == ChunkShape(size_bucket(3616), size_bucket(1151), 8) == ChunkShape(4096, 1218, 8)
    assert registry.shape_for("structure", ChunkShape(3616, 1151, 7)) == added  # and the next term fits it
    smaller = registry.shape_for("structure", ChunkShape(1500, 700, 5))  # under half: its own buckets
    assert smaller == bucketed(ChunkShape(1500, 700, 5))


def _family_frame(family: str, seed: int = 0, n_groups: int = 21, size: int = 5) -> pd.DataFrame:
    """A small one-factor data set for ``family``: 21 groups, 105 rows and 2 fixed columns, padded
    to 23 groups, 108 rows and 4 columns."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), size)
    x = rng.normal(size=g.size)
    eta = 0.3 + 0.4 * x + rng.normal(0, 0.6, n_groups)[g]
    frame = pd.DataFrame({"g": g, "x": x, "n": 6})
    mean = np.exp(eta)
    draw = {
        "gaussian": lambda: eta + rng.normal(0, 0.5, g.size),
        "bernoulli": lambda: rng.binomial(1, 1 / (1 + np.exp(-eta))),
        "binomial": lambda: rng.binomial(6, 1 / (1 + np.exp(-eta))),
        "poisson": lambda: rng.poisson(mean),
        "nbinom2": lambda: rng.negative_binomial(2.0, 2.0 / (2.0 + mean)),
        "nbinom1": lambda: rng.negative_binomial(mean / 1.5, 1 / 2.5),
        "gamma": lambda: rng.gamma(3.0, mean / 3.0),
        "beta": lambda: rng.beta(5 / (1 + np.exp(-eta)), 5 / (1 + np.exp(eta))),
        "zipoisson": lambda: rng.poisson(mean) * (rng.uniform(size=g.size) > 0.25),
        "zinbinom2": lambda: rng.negative_binomial(2.0, 2.0 / (2.0 + mean)) * (rng.uniform(size=g.size) > 0.25),
    }[family]
    frame["y"] = draw()
    return frame


def _spec(family: str) -> ModelSpec:
    frame = _family_frame(family)
    formula = "cbind(y, n - y) ~ x + (1 | g)" if family == "binomial" else "y ~ x + (1 | g)"
    zi = "~ 1" if family.startswith("zi") else None
    name = {"zipoisson": "poisson", "zinbinom2": "nbinom2"}.get(family, family)
    return ModelSpec.from_formula(formula, frame, name, zi=zi)


@pytest.mark.parametrize(
    "family", ["gaussian", "bernoulli", "binomial", "poisson", "nbinom2", "nbinom1", "gamma", "beta", "zipoisson"]
)
def test_padding_changes_no_derivative_for_any_family(family):
    """−ℓ and its gradient at one φ, by Laplace and 3-point AGQ, padded and not: equal to 1e-10
    (the padded rows, groups and columns add exact zeros, also to the derivatives; the Hessian and
    scores: the amenorrhea fit below)."""
    spec = _spec(family)
    factor = spec.random[0]
    model = MarginalModel(spec.family, CovarianceStructure(factor.q, factor.blocks), spec.fixed.X.shape[1])
    plain = chunked_data(spec)
    padded = chunked_data(spec, pad_to=bucketed(ChunkShape(plain.data.y.shape[1], plain.group_ids.shape[1], 2)))
    assert padded.data.X.shape[1:] != plain.data.X.shape[1:] and padded.group_ids.shape != plain.group_ids.shape
    rng = np.random.default_rng(1)
    phi = np.concatenate([[0.2, 0.3], [0.5], rng.normal(0, 0.3, model.n_params - 3)])
    for method, qpoints in (("laplace", 1), ("agq", 3)):
        m = MarginalModel(model.family, model.covariance, model.n_fixed, method)
        results = []
        for chunks in (plain, padded):
            objective = MarginalObjective(m, chunks, qpoints)
            _, modes = objective.evaluate(phi, objective.initial_modes())  # the modes at φ
            value, gradient = objective.value_and_gradient(phi, modes)
            assert gradient.shape == (m.n_params,) and np.all(np.isfinite(gradient))
            results.append((value, gradient))
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * max(1.0, np.max(np.abs(a))))


@pytest.fixture(scope="module")
def amenorrhea_specs(amenorrhea):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        subset = amenorrhea.sample(frac=0.6, random_state=3)
        return (
            ModelSpec.from_formula(AMENORRHEA, amenorrhea, "bernoulli"),
            ModelSpec.from_formula("y ~ time + time2 + trt:time + (1 + time | id)", amenorrhea, "bernoulli"),
            ModelSpec.from_formula(AMENORRHEA, subset, "bernoulli"),
        )


def test_padded_fit_is_the_unpadded_fit(amenorrhea_specs):
    """A whole AGQ fit (estimates, SEs both ways, −2ℓ) with the data at their own shape and padded
    into the program of a larger model (1151 -> 1218 groups, 3616 -> 4096 rows, 5 -> 8 columns)."""
    spec = amenorrhea_specs[0]
    SHAPES.clear()
    SHAPES.shape_for((spec.family, 2, ((0, 1),)), ChunkShape(4096, 1218, 8))  # as if compiled before
    assert chunked_data(spec, shared_shapes=True).data.X.shape == (1, 4096, 8)
    fits = [fit_ml(spec, options=MLOptions("agq", 7, empirical=True, shared_shapes=s)) for s in (False, True)]
    SHAPES.clear()
    plain, padded = (f.params() for f in fits)
    assert abs(fits[0].loglik - fits[1].loglik) < 1e-10
    for column in ("estimate", "se", "se_empirical", "lower"):
        np.testing.assert_allclose(padded[column], plain[column], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fits[1].modes, fits[0].modes, atol=1e-8)


def test_second_formula_and_subset_compile_nothing(amenorrhea_specs):
    """After a first Laplace fit, a formula with a term fewer and a 60% subset of the rows run the
    same compiled programs: no tracing and no XLA compilation at all (JAX's compile events; a
    program read back from the persistent cache is still traced, so it counts too)."""
    SHAPES.clear()
    full, fewer, subset = amenorrhea_specs
    with compile_events("/jax/core/compile/") as compiles:
        fit_ml(full, "laplace")
        before = len(compiles)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_ml(fewer, "laplace")
            fit_ml(subset, "laplace")
    assert len(compiles) == before


def test_fixed_points_check_runs_on_the_stage_program(epilepsy, monkeypatch):
    """A fixed number of points within 25% of the check's next grid (50 -> 51 points, one random
    effect) runs its AGQ stage on the grid padded to the check's size: every evaluation, the
    check's included, sees one grid shape (one program), and the fit equals the unpadded one."""
    import bayesglmm.ml.fit as ml_fit
    import bayesglmm.ml.objective as objective
    import bayesglmm.ml.point_rule as point_rule

    spec = ModelSpec.from_formula("y ~ time + trt + offset(t) + (1 | id)", epilepsy, "poisson")
    shapes = []
    evaluate = objective._evaluate

    def recording(phi, modes, dynamic, model):
        if model.method == "agq":
            shapes.append(dynamic.nodes.shape)
        return evaluate(phi, modes, dynamic, model)

    monkeypatch.setattr(objective, "_evaluate", recording)
    monkeypatch.setattr(point_rule, "_evaluate", recording)
    padded = fit_ml(spec, "agq", 50)
    assert set(shapes) == {(51, 1)} and len(shapes) > 2  # the stage's evaluations and the check's
    assert set(padded.optimization.qpoints_table) == {50, 51}
    monkeypatch.setattr(ml_fit, "CHECK_GRID_SHARED_UP_TO", 1.0)  # no sharing: the stage at 50 nodes
    shapes.clear()
    plain = fit_ml(spec, "agq", 50)
    assert set(shapes) == {(50, 1), (51, 1)}
    assert abs(padded.loglik - plain.loglik) < 1e-10
    np.testing.assert_allclose(padded.params()["estimate"], plain.params()["estimate"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(padded.params()["se"], plain.params()["se"], rtol=1e-10)


def test_small_fits_report_from_the_derivatives_program(epilepsy, monkeypatch):
    """On small data the optimum's extras (modes, conditional covariances, reported values and their
    Jacobian) come out of the derivatives program, not a program of their own; the fit equals the
    one that computes them apart (``one_program_up_to=0``: the large-data path)."""
    import bayesglmm.ml.objective as objective

    spec = ModelSpec.from_formula("y ~ time + trt + offset(t) + (1 + time | id)", epilepsy, "poisson")
    calls = []
    separate = objective._random_effects_and_report

    def counting(*args, **kwargs):
        calls.append(1)
        return separate(*args, **kwargs)

    monkeypatch.setattr(objective, "_random_effects_and_report", counting)
    small = fit_ml(spec, options=MLOptions("laplace", empirical=True))
    assert calls == []
    apart = fit_ml(spec, options=MLOptions("laplace", empirical=True, one_program_up_to=0))
    assert calls == [1]
    for column in ("estimate", "se", "se_empirical"):
        np.testing.assert_allclose(small.params()[column], apart.params()[column], rtol=1e-12)
    np.testing.assert_allclose(small.modes, apart.modes, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(small.factors[0].conditional_sd, apart.factors[0].conditional_sd, rtol=1e-12)
