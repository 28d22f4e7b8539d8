"""Several grouping factors (nested and crossed) by Laplace with a joint sparse mode.

The two small data sets are drawn by the package's simulator (seeds below). The lme4
numbers were produced in R 4.2.2 with lme4 1.1-31 (Debian's r-cran-lme4) on these data written to
CSV: ``glmer(formula, family, control = glmerControl(optimizer = "bobyqa"))``, then ``logLik``,
``fixef``, ``sqrt(diag(vcov(f)))``, ``VarCorr`` and ``ranef(f, condVar = TRUE)``.

Tolerances: log-likelihood 1e-4 (bobyqa stops short of the optimum by ~1e-6 crossed, ~7e-5
nested: ours is never lower), estimates and SDs 1e-3 absolute, conditional modes 1e-4 and their SDs
1e-3.  SEs 2%: lme4's default vcov comes from a finite-difference Hessian in (θ, β) and is off by
1% on the nested Poisson slope (0.02697; its RX-based vcov gives 0.02723), ours is the exact
Hessian (checked against finite differences of the gradient below: 0.02725).
"""

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.core.covariance import CovarianceStructure
from bayesglmm.errors import SpecError
from bayesglmm.ml.crossed import CrossedModel, crossed_data, factor_order
from bayesglmm.ml.crossed_fit import CrossedObjective

CROSSED = "y ~ x + (1 | patient) + (1 | site)"
NESTED = "y ~ x + (1 | school/class)"


def crossed_frame():
    """150 patients x 4 visits, each visit at one of 12 sites (crossed, not nested), Bernoulli."""
    rng = np.random.default_rng(1)
    design = pd.DataFrame(
        {"patient": np.repeat(np.arange(150), 4), "site": rng.integers(0, 12, 600), "x": rng.normal(size=600)}
    )
    params = {"beta[(Intercept)]": -0.3, "beta[x]": 0.8, "sd[patient,(Intercept)]": 1.0, "sd[site,(Intercept)]": 0.6}
    return bg.simulate(CROSSED, params, design, seed=2), rng


def nested_frame():
    """20 schools x 5 classes x 6 pupils, Poisson."""
    _, rng = crossed_frame()  # the reference data continued the same generator
    design = pd.DataFrame(
        {
            "school": np.repeat(np.arange(20), 30),
            "class": np.tile(np.repeat(np.arange(5), 6), 20),
            "x": rng.normal(size=600),
        }
    )
    params = {
        "beta[(Intercept)]": 0.5,
        "beta[x]": 0.3,
        "sd[school,(Intercept)]": 0.5,
        "sd[school:class,(Intercept)]": 0.4,
    }
    return bg.simulate(NESTED, params, design, seed=3, family="poisson")


@pytest.fixture(scope="module")
def crossed_fit():
    frame, _ = crossed_frame()
    assert frame["y"].sum() == 239  # the data lme4 was given
    return bg.fit_ml(bg.ModelSpec.from_formula(CROSSED, frame, "bernoulli"))


@pytest.fixture(scope="module")
def nested_fit():
    frame = nested_frame()
    assert frame["y"].sum() == 1291
    return bg.fit_ml(bg.ModelSpec.from_formula(NESTED, frame, "poisson"))


def test_crossed_laplace_matches_lme4(crossed_fit):
    fit = crossed_fit
    assert fit.converged and fit.method == "laplace"
    assert abs(fit.loglik - -360.644582594) < 1e-4
    np.testing.assert_allclose(fit.beta.values, [-0.5349726991, 0.8234928219], atol=1e-3)
    np.testing.assert_allclose(fit.fixed_effects()["se"].values, [0.1855977162, 0.1200525293], rtol=0.02)
    params = fit.params()["estimate"]
    np.testing.assert_allclose(
        [params["sd[patient,(Intercept)]"], params["sd[site,(Intercept)]"]], [1.0383500523, 0.4440505693], atol=1e-3
    )
    sites = fit.conditional_modes("site")
    np.testing.assert_allclose(sites["(Intercept)"].values[:3], [-0.291750985, 0.078208702, 0.093052604], atol=1e-4)
    np.testing.assert_allclose(sites["sd((Intercept))"].values[:3], [0.27992187, 0.26344098, 0.30564500], atol=1e-3)


def test_nested_laplace_matches_lme4(nested_fit):
    fit = nested_fit
    assert fit.converged
    assert -1003.06787631 - 1e-6 <= fit.loglik < -1003.06787631 + 1e-4
    np.testing.assert_allclose(fit.beta.values, [0.3884621532, 0.3056916772], atol=1e-3)
    np.testing.assert_allclose(fit.fixed_effects()["se"].values, [0.14799034739, 0.02696726653], rtol=0.02)
    params = fit.params()["estimate"]
    np.testing.assert_allclose(
        [params["sd[school:class,(Intercept)]"], params["sd[school,(Intercept)]"]],
        [0.3945535485, 0.6158354509],
        atol=1e-3,
    )
    schools = fit.conditional_modes("school")["(Intercept)"].values[:3]
    np.testing.assert_allclose(schools, [1.15618250, -0.80312150, 0.53878786], atol=1e-3)


def test_several_factor_output_names_every_factor(nested_fit):
    fit = nested_fit
    assert [f.group for f in fit.factors] == ["school:class", "school"]  # most effects first, as lme4
    text = fit.summary()
    assert "Levels (school:class)  100" in text and "Levels (school)        20" in text
    assert "se_empirical" not in text  # no independent clusters: no sandwich column
    record = fit.to_dict()
    assert record["ngroups"] == {"school:class": 100, "school": 20}
    assert [r["group"] for r in record["random"]] == ["school:class", "school"]
    assert "NaN" not in fit.to_json()
    with pytest.raises(ValueError, match="2 grouping factors"):
        _ = fit.group


def gaussian_crossed_spec(seed=4):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.integers(0, 15, 120), "b": rng.integers(0, 6, 120), "x": rng.normal(size=120)})
    frame["y"] = (
        1.0
        + 0.5 * frame["x"]
        + rng.normal(size=15)[frame["a"]]
        + 0.7 * rng.normal(size=6)[frame["b"]]
        + 0.8 * rng.normal(size=120)
    )
    return bg.ModelSpec.from_formula("y ~ x + (1 + x | a) + (1 | b)", frame, "gaussian")


def objective_of(spec):
    order = factor_order(spec)
    factors = [spec.random[g] for g in order]
    model = CrossedModel(
        spec.family,
        tuple(CovarianceStructure(f.q, f.blocks, log_diagonal=True) for f in factors),
        spec.fixed.X.shape[1],
    )
    return CrossedObjective(model, crossed_data(spec, order)), factors


def test_gaussian_laplace_is_the_exact_marginal_likelihood():
    # For the Gaussian family the Laplace approximation is exact: ℓ = log N(y; Xβ, Z G Zᵀ + σ² I).
    spec = gaussian_crossed_spec()
    objective, factors = objective_of(spec)
    beta, sigma = np.array([0.9, 0.4]), 0.75
    G_a = np.array([[0.8, 0.1], [0.1, 0.3]])
    chol_a = np.linalg.cholesky(G_a)
    theta_a = [np.log(chol_a[0, 0]), chol_a[1, 0], np.log(chol_a[1, 1])]
    phi = np.array([*beta, *theta_a, np.log(0.6), np.log(sigma)])
    value, _ = objective.evaluate(phi, objective.initial_modes())
    Z = np.zeros((spec.nobs, 0))
    blocks = []
    for factor, G in zip(factors, [G_a, np.array([[0.36]])]):
        indicator = np.eye(len(factor.levels))[factor.index]
        Z = np.hstack([Z, (indicator[:, :, None] * factor.Z[:, None, :]).reshape(spec.nobs, -1)])
        blocks.append(np.kron(np.eye(len(factor.levels)), G))
    covariance = np.zeros((Z.shape[1], Z.shape[1]))
    position = 0
    for block in blocks:
        covariance[position : position + len(block), position : position + len(block)] = block
        position += len(block)
    V = Z @ covariance @ Z.T + sigma**2 * np.eye(spec.nobs)
    residual = spec.y - spec.fixed.X @ beta
    exact = -0.5 * (spec.nobs * np.log(2 * np.pi) + np.linalg.slogdet(V)[1] + residual @ np.linalg.solve(V, residual))
    assert abs(-value - exact) < 1e-8


def test_hessian_matches_finite_differences_of_the_gradient():
    spec = gaussian_crossed_spec()
    objective, _ = objective_of(spec)
    phi = np.array([0.9, 0.4, -0.2, 0.05, -0.5, -0.4, -0.3])
    _, modes = objective.evaluate(phi, objective.initial_modes())
    _, gradient, hessian, _ = objective.derivatives(phi, modes)
    step = 1e-5
    for k in range(phi.size):
        shift = np.zeros(phi.size)
        shift[k] = step
        plus = objective.derivatives(phi + shift, objective.evaluate(phi + shift, modes)[1])[1]
        minus = objective.derivatives(phi - shift, objective.evaluate(phi - shift, modes)[1])[1]
        np.testing.assert_allclose(hessian[k], (plus - minus) / (2 * step), atol=1e-6 * (1 + np.abs(hessian).max()))
        value_plus = objective.evaluate(phi + shift, modes)[0]
        value_minus = objective.evaluate(phi - shift, modes)[0]
        assert abs(gradient[k] - (value_plus - value_minus) / (2 * step)) < 1e-6


def dense_laplace_loglik(phi, spec, factors, model):
    """ℓ(φ) by Laplace with the joint Hessian as one dense Q x Q matrix and JAX's own derivative
    rules (slogdet, solve): the reference for the block elimination and its custom derivatives."""
    import jax
    import jax.numpy as jnp

    beta, cholesky, log_dispersion = model.unpack(phi)
    columns, precisions, log_norms = [], [], []
    for factor, chol in zip(factors, cholesky):
        indicator = np.eye(len(factor.levels))[factor.index]
        columns.append((indicator[:, :, None] * factor.Z[:, None, :]).reshape(spec.nobs, -1))
        G = chol @ chol.T
        precisions.append(jnp.kron(jnp.eye(len(factor.levels)), jnp.linalg.inv(G)))
        log_norms.append(-0.5 * len(factor.levels) * jnp.linalg.slogdet(2 * jnp.pi * G)[1])
    Z = jnp.asarray(np.hstack(columns))
    P = jax.scipy.linalg.block_diag(*precisions)
    eta_fixed = spec.fixed.X @ beta + spec.offset

    def f(b):
        eta = eta_fixed + Z @ b
        rows = model.family.row_loglik(spec.y, eta, spec.trials, log_dispersion, spec.zi_X)
        return jnp.sum(rows) - 0.5 * b @ P @ b + sum(log_norms)

    def newton(_, b):
        return b - jnp.linalg.solve(jax.hessian(f)(b), jax.grad(f)(b))

    # converge without derivatives, then two differentiable steps
    b = jax.lax.stop_gradient(jax.lax.fori_loop(0, 12, newton, jnp.zeros(Z.shape[1])))
    for _ in range(2):
        b = b - jnp.linalg.solve(jax.hessian(f)(b), jax.grad(f)(b))
    return f(b) + 0.5 * b.size * jnp.log(2 * jnp.pi) - 0.5 * jnp.linalg.slogdet(-jax.hessian(f)(b))[1]


def test_block_elimination_equals_the_dense_laplace_with_its_derivatives():
    # The Schur complement's custom derivatives (Jacobi's formula, implicit solves) against a
    # dense joint Hessian differentiated by JAX's standard rules: value, gradient and Hessian.
    import jax

    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"a": rng.integers(0, 12, 160), "b": rng.integers(0, 7, 160), "x": rng.normal(size=160)})
    frame["y"] = (rng.random(160) < 1 / (1 + np.exp(-(0.3 + frame["x"] + rng.normal(size=7)[frame["b"]])))) * 1
    spec = bg.ModelSpec.from_formula("y ~ x + (1 + x | a) + (1 | b)", frame, "bernoulli")
    objective, factors = objective_of(spec)
    phi = np.array([0.2, 0.8, -0.4, 0.3, -0.9, -0.5])
    _, modes = objective.evaluate(phi, objective.initial_modes())
    value, gradient, hessian, _ = objective.derivatives(phi, modes)
    reference = lambda x: -dense_laplace_loglik(x, spec, factors, objective.model)  # noqa: E731
    assert abs(value - jax.jit(reference)(phi)) < 1e-10 * abs(value)
    np.testing.assert_allclose(gradient, jax.jit(jax.grad(reference))(phi), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(hessian, jax.jit(jax.hessian(reference))(phi), rtol=1e-9, atol=1e-10)


def test_nested_block_diagonal_path_equals_the_dense_one():
    # Nested factors: S is block diagonal and factorised block by block; forcing the dense path
    # on the same data gives the same value, gradient, Hessian and conditional SDs to 1e-10.
    # With a random slope in the outer factor (2 x 2 blocks); test_nested_laplace_matches_lme4
    # runs the block path on (1 | school/class).
    from dataclasses import replace

    from bayesglmm.ml.crossed import conditional_sds
    from bayesglmm.ml.crossed_fit import CrossedObjective

    spec = bg.ModelSpec.from_formula("y ~ x + (1 + x | school) + (1 | school:class)", nested_frame(), "poisson")
    nested, _ = objective_of(spec)
    assert nested.data.nested and nested.data.dense_size == 0
    dense = CrossedObjective(nested.model, replace(nested.data, nested=False))
    phi = np.array([0.4, 0.3, -0.9, -0.8, 0.1, -1.5])  # β, then the primary (class) factor's θ first
    _, modes = nested.evaluate(phi, nested.initial_modes())
    for a, b in zip(nested.derivatives(phi, modes)[:3], dense.derivatives(phi, modes)[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    for a, b in zip(
        conditional_sds(phi, nested.data, nested.model, modes), conditional_sds(phi, dense.data, dense.model, modes)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_row_order_and_labels_do_not_matter(crossed_fit):
    frame, _ = crossed_frame()
    shuffled = frame.sample(frac=1.0, random_state=5).reset_index(drop=True)
    shuffled["site"] = shuffled["site"].map(lambda s: f"site-{(7 * s) % 12:02d}")
    shuffled["patient"] = "p" + (1000 - shuffled["patient"]).astype(str)
    objective, _ = objective_of(bg.ModelSpec.from_formula(CROSSED, shuffled, "bernoulli"))
    value, _ = objective.evaluate(crossed_fit.optimization.final_parameters, objective.initial_modes())
    assert abs(-value - crossed_fit.loglik) < 1e-8


def test_several_factors_need_laplace_and_model_based_ses():
    frame, _ = crossed_frame()
    spec = bg.ModelSpec.from_formula(CROSSED, frame, "bernoulli")
    with pytest.raises(SpecError, match="method='laplace'"):
        bg.fit_ml(spec, method="agq", qpoints=5)
    with pytest.raises(SpecError, match="independent clusters"):
        bg.fit_ml(spec, empirical=True)


def test_too_many_secondary_effects_for_the_memory_is_a_clear_error():
    # No fixed limit on the secondary factors: the estimate (ml/memory.py) against the limit.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": np.arange(9000) % 4500, "b": np.arange(9000) // 2, "y": rng.integers(0, 2, 9000)})
    spec = bg.ModelSpec.from_formula("y ~ 1 + (1 | a) + (1 | b)", frame, "bernoulli")
    with pytest.raises(SpecError, match=r"4500 random effects .* estimated 5\.\d GB \(limit 2\.0 GB\).*max_grid_gb"):
        bg.fit_ml(spec, max_grid_gb=2.0)


def test_conditional_predictions_add_every_factors_modes(nested_fit):
    # μ = exp(xᵀβ + b_school + b_school:class), each at its conditional mode; the nested group's
    # level is built from the school and class columns as the fit built it.
    frame = nested_frame().iloc[[0, 37, 599]]
    predicted = nested_fit.predict(frame, scale="link")
    schools = nested_fit.conditional_modes("school")["(Intercept)"]
    classes = nested_fit.conditional_modes("school:class")["(Intercept)"]
    beta = nested_fit.beta.values
    school, klass = frame["school"].astype(str), frame["class"].astype(str)
    expected = beta[0] + beta[1] * frame["x"].values + schools[school].values + classes[school + ":" + klass].values
    np.testing.assert_allclose(predicted["estimate"].values, expected, rtol=1e-12)
    np.testing.assert_allclose(nested_fit.predict(frame)["estimate"].values, np.exp(expected), rtol=1e-12)
    assert np.all(predicted["se"] > 0)


def test_new_levels_of_one_factor_take_its_effect_at_zero(crossed_fit, nested_fit):
    frame, _ = crossed_frame()
    rows = frame.iloc[:2].assign(site=[999, frame["site"].iloc[1]])
    with pytest.raises(SpecError, match="1 row.* site level.*999"):
        crossed_fit.predict(rows)
    predicted = crossed_fit.predict(rows, scale="link", new_groups="population")["estimate"].values
    patients = crossed_fit.conditional_modes("patient")["(Intercept)"]
    sites = crossed_fit.conditional_modes("site")["(Intercept)"]
    eta = crossed_fit.beta.values[0] + crossed_fit.beta.values[1] * rows["x"].values
    eta = eta + patients[rows["patient"].astype(str)].values
    np.testing.assert_allclose(predicted, eta + [0.0, sites[str(rows["site"].iloc[1])]], rtol=1e-12)
    with pytest.raises(SpecError, match="group column 'class'"):
        nested_fit.predict(nested_frame().drop(columns="class").head(2))


def test_population_averaged_predictions_integrate_both_factors(crossed_fit):
    # E[logistic(η + b_patient + b_site)] with independent normal effects, by a 2-D product rule
    # of 80 x 80 Gauss–Hermite points computed here: equal to the package's 1-D rule on the sum.
    frame, _ = crossed_frame()
    rows = frame.iloc[:4]
    predicted = crossed_fit.predict(rows, kind="marginal")
    params = crossed_fit.params()["estimate"]
    sd_patient, sd_site = params["sd[patient,(Intercept)]"], params["sd[site,(Intercept)]"]
    nodes, weights = np.polynomial.hermite.hermgauss(80)
    a = np.sqrt(2) * sd_patient * nodes[:, None] + np.sqrt(2) * sd_site * nodes[None, :]
    w = weights[:, None] * weights[None, :] / np.pi
    eta = crossed_fit.beta.values[0] + crossed_fit.beta.values[1] * rows["x"].values
    expected = [np.sum(w / (1 + np.exp(-(e + a)))) for e in eta]
    np.testing.assert_allclose(predicted["estimate"].values, expected, rtol=1e-8)
    assert np.all(np.isfinite(predicted["se"])) and np.all(predicted["se"] > 0)
    typical = crossed_fit.predict(rows, kind="typical")["estimate"].values
    assert np.all(np.abs(predicted["estimate"].values - 0.5) < np.abs(typical - 0.5))  # attenuated
