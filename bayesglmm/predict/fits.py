"""``predict`` for each fit type: ML GLMM, Bayesian GLMM and GEE (see :mod:`bayesglmm.predict.core`)."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import _jax  # noqa: F401  (float64)
from ..errors import SpecError
from ..model.families import inverse_link, link_function
from ..model.parameters import BETA_SITE, effects_site, parse_common_name, posterior_location, sd_site, term_dim
from ..results import protocol
from ..results.bayesfit import BayesFit
from ..results.geefit import GEEFit
from ..results.mlfit import MLFit
from ..results.stats import Z_975
from .core import QPOINTS, covariance_from, population_average
from .design import group_positions, prediction_design

KINDS = ("conditional", "typical", "marginal")
SCALES = ("link", "response")


def _check(scale: str, kind: str, kinds=KINDS) -> None:
    if scale not in SCALES:
        raise SpecError(f"scale must be one of {', '.join(SCALES)}, not {scale!r}")
    if kind not in kinds:
        raise SpecError(f"kind must be one of {', '.join(kinds)}, not {kind!r}")


def _wald_table(index, eta, se_eta, link_name: str, scale: str) -> pd.DataFrame:
    """estimate, se, lower, upper on the chosen scale from η and se(η) (delta method, g⁻¹ of the η limits)."""
    eta, se_eta = np.asarray(eta), np.asarray(se_eta)
    lower, upper = eta - Z_975 * se_eta, eta + Z_975 * se_eta
    if scale == "link":
        return pd.DataFrame({"estimate": eta, "se": se_eta, "lower": lower, "upper": upper}, index=index)
    mu, slope = jax.jvp(lambda e: inverse_link(link_name, e), (jnp.asarray(eta),), (jnp.ones_like(jnp.asarray(eta)),))
    return pd.DataFrame(
        {
            "estimate": np.asarray(mu),
            "se": np.abs(np.asarray(slope)) * se_eta,
            "lower": np.asarray(inverse_link(link_name, lower)),
            "upper": np.asarray(inverse_link(link_name, upper)),
        },
        index=index,
    )


def _group_effects(data: pd.DataFrame, group: str, levels, effects: np.ndarray, new_groups: str) -> np.ndarray:
    """Each row's random effects, (..., m, q) → (..., n, q): its group's where the group was fitted,
    zero for a new group when ``new_groups="population"`` (leading dimensions, e.g. draws, are kept)."""
    index = group_positions(data, group, levels, new_groups)
    return np.where((index >= 0)[:, None], np.take(effects, np.maximum(index, 0), axis=-2), 0.0)


def predict_ml(
    fit,
    data: pd.DataFrame,
    scale: str = "response",
    kind: str = "conditional",
    qpoints: int = QPOINTS,
    new_groups: str = "error",
) -> pd.DataFrame:
    """Predictions of an ML GLMM with delta-method 95% intervals (model-based or empirical, as the fit).

    ``kind``: ``conditional`` (each row's groups at their conditional modes, one per grouping
    factor), ``typical`` (b = 0), ``marginal`` (population-averaged over N(0, G); with several
    factors, independent, over the normal sum Σ_g z_gᵀ b_g by a one-dimensional rule); with zero
    inflation the response scale is E(y) = (1 − π) μ (glmmTMB's ``type = "response"``; its
    interval on the log scale) and the link scale is the count part's η. A group not in the fit (of any factor) is an error unless
    ``new_groups="population"`` (b = 0 for it, lme4's ``allow.new.levels``). Conditional SEs
    count the uncertainty of β, not of the modes.
    """
    _check(scale, kind)
    design = prediction_design(fit, data, fit.fixed_names)
    X, offset = jnp.asarray(design.X), jnp.asarray(design.offset)
    factors = [_FactorPart.of(fit, factor, data, kind, new_groups) for factor in fit.factors]
    beta_idx = [i for i, parameter in enumerate(fit.parameters) if parameter.kind == "beta"]
    used = beta_idx + [i for part in factors for i in part.sd_idx + part.corr_idx]
    cov = fit.inference.cov_empirical if fit.empirical else fit.inference.cov_model
    theta, cov = fit.inference.estimates[used], cov[np.ix_(used, used)]
    p = len(beta_idx)

    def eta_star(parameters):
        eta = X @ parameters[:p] + offset
        if kind == "conditional":
            return eta + sum(jnp.sum(part.Z * part.effects, axis=1) for part in factors)
        if kind == "typical" or not factors:
            return eta
        covariances, start = [], p
        for part in factors:
            q, n_corr = len(part.sd_idx), len(part.corr_idx)
            sd, corr = parameters[start : start + q], parameters[start + q : start + q + n_corr]
            covariances.append(covariance_from(sd, corr, q, part.corr_pairs))
            start += q + n_corr
        if len(factors) == 1:
            return link_function(fit.link, population_average(eta, factors[0].Z, covariances[0], fit.link, qpoints))
        # independent factors: Σ_g z_gᵀ b_g ~ N(0, Σ_g z_gᵀ G_g z_g), a one-dimensional average per row
        variance = sum(jnp.einsum("nj,jk,nk->n", part.Z, G, part.Z) for part, G in zip(factors, covariances))
        scale_of_row = jnp.sqrt(jnp.maximum(variance, 1e-300))[:, None]
        return link_function(fit.link, population_average(eta, scale_of_row, jnp.eye(1), fit.link, qpoints))

    zi_idx = [i for i, parameter in enumerate(fit.parameters) if parameter.name.split("[")[0] == "zi"]
    if zi_idx and scale == "response":  # E(y) = (1 − π) g⁻¹(η*): its own delta method, with the zi parameters
        full = used + zi_idx
        cov_full = (fit.inference.cov_empirical if fit.empirical else fit.inference.cov_model)[np.ix_(full, full)]
        W = jnp.asarray(fit.template.zi_design(data, _zi_terms(fit, zi_idx)))

        def mean_star(parameters):
            zi = parameters[len(used) :]
            zeta = W @ (jnp.log(zi / (1.0 - zi)) if [fit.parameters[i].name for i in zi_idx] == ["zi"] else zi)
            return (1.0 - jax.nn.sigmoid(zeta)) * inverse_link(fit.link, eta_star(parameters[: len(used)]))

        return _positive_delta_table(data.index, mean_star, fit.inference.estimates[full], cov_full)

    value_twice = lambda parameters: (eta_star(parameters),) * 2  # noqa: E731  (the value rides along as aux)
    jacobian, eta = jax.jacfwd(value_twice, has_aux=True)(jnp.asarray(theta))
    jacobian = np.asarray(jacobian)
    se = np.sqrt(np.einsum("np,pq,nq->n", jacobian, cov, jacobian))
    return _wald_table(data.index, eta, se, fit.link, scale)


@dataclass(frozen=True)
class _FactorPart:
    """One grouping factor's part of a prediction: its covariates Z (n, q) on the new rows, each
    row's conditional modes (zero for a new level with ``new_groups="population"``; zero unless
    ``kind="conditional"``), and the positions of its SDs and correlations in the fit's parameters."""

    Z: jax.Array
    effects: jax.Array
    sd_idx: list
    corr_idx: list
    corr_pairs: list

    @classmethod
    def of(cls, fit, factor, data: pd.DataFrame, kind: str, new_groups: str) -> _FactorPart:
        Z = fit.template.random(data, factor.group, factor.terms)
        effects = (
            _group_effects(data, factor.group, factor.levels, factor.modes, new_groups)
            if kind == "conditional"
            else np.zeros_like(Z)
        )
        mine = [(i, parameter) for i, parameter in enumerate(fit.parameters) if parameter.group == factor.group]
        corr = [(i, parameter) for i, parameter in mine if parameter.kind == "corr"]
        sd = sorted((parameter.indices, i) for i, parameter in mine if parameter.kind == "sd")
        return cls(
            jnp.asarray(Z),
            jnp.asarray(effects),
            [i for _, i in sd],
            [i for i, _ in corr],
            [parameter.indices for _, parameter in corr],
        )


def _zi_terms(fit, zi_idx) -> tuple[str, ...]:
    """The zero-inflation design's columns from the reported names (``zi``: the intercept alone)."""
    names = [fit.parameters[i].name for i in zi_idx]
    return ("(Intercept)",) if names == ["zi"] else tuple(name[3:-1] for name in names)


def _positive_delta_table(index, value, estimates, cov) -> pd.DataFrame:
    """A positive quantity's estimate and delta-method SE, with the 95% interval on the log scale."""
    value_twice = lambda parameters: (value(parameters),) * 2  # noqa: E731
    jacobian, estimate = jax.jacfwd(value_twice, has_aux=True)(jnp.asarray(estimates))
    jacobian, estimate = np.asarray(jacobian), np.asarray(estimate)
    se = np.sqrt(np.einsum("np,pq,nq->n", jacobian, cov, jacobian))
    half = Z_975 * se / estimate
    return pd.DataFrame(
        {"estimate": estimate, "se": se, "lower": estimate * np.exp(-half), "upper": estimate * np.exp(half)},
        index=index,
    )


def predict_gee(fit, data: pd.DataFrame, scale: str = "response", kind: str = "marginal") -> pd.DataFrame:
    """GEE predictions (population-averaged by construction) with robust delta-method intervals
    (SAS ``proc plm ... score ... / ilink``)."""
    _check(scale, kind, ("marginal",))
    design = prediction_design(fit, data, fit.fixed_names)
    eta = design.X @ fit.beta + design.offset
    se = np.sqrt(np.einsum("np,pq,nq->n", design.X, fit.cov_robust, design.X))
    return _wald_table(data.index, eta, se, fit.link, scale)


def predict_bayes(
    fit,
    data: pd.DataFrame,
    scale: str = "response",
    kind: str = "conditional",
    qpoints: int = 20,
    new_groups: str = "error",
) -> pd.DataFrame:
    """Posterior predictions: mean, SD and equal-tailed 95% interval of η or μ over the draws.

    ``conditional`` uses each row's groups' random-effect draws, one per grouping factor (a group
    not in the fit is an error unless ``new_groups="population"``: b = 0, brms's
    ``allow_new_levels``), ``typical`` b = 0, ``marginal`` averages g⁻¹ over N(0, G) for every
    draw (``qpoints`` per dimension; with several factors over the normal sum of their effects); with
    zero inflation the response scale is (1 − π) μ per draw.
    """
    _check(scale, kind)
    post = fit.idata.posterior
    groups = list(fit.ngroups)  # the grouping factors, in the model's order
    design = prediction_design(fit, data, tuple(post["term"].values))
    beta = jnp.asarray(post[BETA_SITE].values.reshape(-1, post[BETA_SITE].shape[-1]))
    X, offset = jnp.asarray(design.X), jnp.asarray(design.offset)
    eta_fixed = beta @ X.T + offset  # (S, n)
    terms = {group: tuple(post[term_dim(group)].values) for group in groups}
    Z = {group: jnp.asarray(fit.template.random(data, group, terms[group])) for group in groups}
    if kind == "typical" or not groups:
        draws = eta_fixed
    elif kind == "conditional":
        draws = eta_fixed
        for group in groups:
            effects = fit.idata.random_effects[effects_site(group)]
            b = effects.values.reshape(-1, *effects.shape[-2:])  # (S, m, q)
            row_b = _group_effects(data, group, effects[group].values, b, new_groups)  # (S, n, q)
            draws = draws + jnp.einsum("snq,nq->sn", jnp.asarray(row_b), Z[group])
    else:
        covariances = {}
        for group in groups:
            sd = post[sd_site(group)].values.reshape(-1, len(terms[group]))
            corr = _correlation_matrices(fit, group, terms[group])
            covariances[group] = jnp.asarray(corr * sd[:, :, None] * sd[:, None, :])
        if len(groups) == 1:
            Z_one, G_one = Z[groups[0]], covariances[groups[0]]
            mu = jax.lax.map(
                lambda args: population_average(args[0], Z_one, args[1], fit.link, qpoints),
                (eta_fixed, G_one),
                batch_size=64,
            )
        else:  # independent factors: per draw, a one-dimensional average over the normal sum of their effects
            scale_of_rows = jnp.sqrt(
                sum(jnp.einsum("nj,sjk,nk->sn", Z[group], covariances[group], Z[group]) for group in groups)
            )
            mu = jax.lax.map(
                lambda args: population_average(args[0], args[1][:, None], jnp.eye(1), fit.link, qpoints),
                (eta_fixed, scale_of_rows),
                batch_size=64,
            )
        draws = link_function(fit.link, mu)
    values = np.asarray(draws if scale == "link" else inverse_link(fit.link, draws))
    if scale == "response" and "zi" in post:  # zero inflation: E(y) = (1 − π) μ per draw
        values = values * (1.0 - _zi_probability_draws(fit, post, data))
    return pd.DataFrame(
        {
            "estimate": values.mean(axis=0),
            "se": values.std(axis=0, ddof=1),
            "lower": np.quantile(values, 0.025, axis=0),
            "upper": np.quantile(values, 0.975, axis=0),
        },
        index=data.index,
    )


def _correlation_matrices(fit, group: str, terms: tuple[str, ...]) -> np.ndarray:
    """Each draw's correlation matrix (S, q, q) of ``group``'s effects from the fit's correlation
    draws (``corr[GROUP,TERM1,TERM2]``); the identity where the effects are uncorrelated."""
    post = fit.idata.posterior
    matrices = np.tile(np.eye(len(terms)), (post.sizes["chain"] * post.sizes["draw"], 1, 1))
    for name in fit.parameter_names:
        kind, parts = parse_common_name(name)
        if kind == "corr" and parts[0] == group:
            variable, selection = posterior_location(name)
            first, second = terms.index(parts[1]), terms.index(parts[2])
            matrices[:, first, second] = matrices[:, second, first] = post[variable].sel(selection).values.ravel()
    return matrices


def _zi_probability_draws(fit, post, data: pd.DataFrame) -> np.ndarray:
    """π of every row at every draw (S, n): the constant ``zi`` draws, or logit⁻¹(W γ) of a zi formula."""
    zi = post["zi"].values
    if "zi_term" not in post.coords:
        return zi.reshape(-1, 1)
    W = fit.template.zi_design(data, tuple(post["zi_term"].values))
    gamma = zi.reshape(-1, zi.shape[-1])
    return 1.0 / (1.0 + np.exp(-(gamma @ W.T)))


def predict(fit, data: pd.DataFrame, scale: str = "response", kind: str | None = None, **options) -> pd.DataFrame:
    """Predictions of any fit on ``data`` (see :func:`predict_ml`, :func:`predict_bayes`, :func:`predict_gee`).

    ``kind`` defaults to ``conditional`` for GLMMs and ``marginal`` for GEE. Dispatches on the fit's
    type through :func:`bayesglmm.results.protocol.predict`, where each fit type is registered below.
    """
    return protocol.predict(fit, data, scale, kind, **options)


@protocol.predict.register
def _(fit: GEEFit, data: pd.DataFrame, scale: str = "response", kind: str | None = None, **options) -> pd.DataFrame:
    return predict_gee(fit, data, scale, kind or "marginal")


@protocol.predict.register
def _(fit: MLFit, data: pd.DataFrame, scale: str = "response", kind: str | None = None, **options) -> pd.DataFrame:
    return predict_ml(fit, data, scale, kind or "conditional", **options)


@protocol.predict.register
def _(fit: BayesFit, data: pd.DataFrame, scale: str = "response", kind: str | None = None, **options) -> pd.DataFrame:
    return predict_bayes(fit, data, scale, kind or "conditional", **options)
