"""New responses from a fitted or stated GLMM: on the spec's own design (:func:`simulate_response`)
or on a new one (:func:`simulate`).

:func:`simulate_response` keeps everything but the response: rows used (so a dropout pattern stays),
groups and cluster sizes, covariates, offsets and binomial trials. Random
effects are drawn afresh per group, b_g ~ N(0, G(θ)), and

    η = X β + Σ_factors Z b_group(row) + offset,   y ~ family(g⁻¹(η)).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import DataWarning, SpecError
from .design import RandomFactor
from .formula import parse_formula
from .parameters import beta_name, corr_name, sd_name
from .spec import ModelSpec


def _value(params: Mapping, name: str) -> float:
    if name not in params:
        raise SpecError(f"no value for {name}: give every parameter of the model's params() table")
    return float(params[name])


def _factor_covariance(factor: RandomFactor, params: Mapping) -> np.ndarray:
    """G of one grouping factor from sd[group,term] and corr[group,t1,t2] (zero across blocks)."""
    sd = np.array([_value(params, sd_name(factor.group, term)) for term in factor.terms])
    corr = np.eye(factor.q)
    for block in factor.blocks:
        for a, i in enumerate(block):
            for j in block[a + 1 :]:
                corr[i, j] = corr[j, i] = _value(params, corr_name(factor.group, factor.terms[i], factor.terms[j]))
    if np.linalg.eigvalsh(corr).min() < -1e-12:
        raise SpecError(f"the correlations given for {factor.group} do not form a valid correlation matrix")
    return corr * np.outer(sd, sd)


def natural_parameters(spec: ModelSpec, params: Mapping) -> tuple[np.ndarray, list[np.ndarray], object]:
    """(β, G of each grouping factor, the family's natural extra) of ``spec``'s model from values by
    common name (``fit.params()["estimate"]``; every parameter of that table is needed)."""
    beta = np.array([_value(params, beta_name(name)) for name in spec.fixed_names])
    covariances = [_factor_covariance(factor, params) for factor in spec.random]
    return beta, covariances, spec.family.extra_from_params(lambda name: _value(params, name))


def linear_predictor(spec: ModelSpec, params: Mapping, rng: np.random.Generator) -> np.ndarray:
    """η for every row, with fresh random effects for every group of every factor."""
    beta = np.array([_value(params, beta_name(name)) for name in spec.fixed_names])
    eta = spec.fixed.X @ beta + spec.offset
    for factor in spec.random:
        G = _factor_covariance(factor, params)
        b = rng.multivariate_normal(np.zeros(factor.q), G, size=len(factor.levels), method="eigh")
        eta = eta + np.einsum("nq,nq->n", factor.Z, b[factor.index])
    return eta


def simulate_response(spec: ModelSpec, params: Mapping, seed: int | np.random.Generator) -> ModelSpec:
    """A copy of ``spec`` whose response is drawn from the model at ``params``.

    ``params`` maps common parameter names (``beta[..]``, ``sd[..]``, ``corr[..]``,
    the family's extra parameters: ``sigma`` for Gaussian, ``shape`` for NB2 and Gamma, ``zi`` or
    ``zi[term]`` for zero inflation) to values, e.g. ``fit.params()["estimate"]``.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    eta = linear_predictor(spec, params, rng)
    family = spec.family
    extra = family.extra_from_params(lambda name: _value(params, name))
    y = np.asarray(family.row_simulate(rng, np.asarray(eta), spec.trials, extra, spec.zi_X), dtype=float)
    y.setflags(write=False)
    return dataclasses.replace(spec, y=y)


def simulate(
    spec: ModelSpec | str,
    params: Mapping,
    design: pd.DataFrame,
    seed: int | np.random.Generator = 0,
    family: str | None = None,
    link: str | None = None,
    trials: str | None = None,
    zi: str | None = None,
) -> pd.DataFrame:
    """A new data set: ``design`` (covariates, grouping columns, offsets; any number of rows and
    groups, any cluster sizes) with a response drawn from the model at ``params``.

    ``spec`` is a :class:`ModelSpec` (its formula, family and link are used; its data are not) or a
    formula, with ``family`` (default ``bernoulli``) and ``link``; binomial models need ``trials``,
    the design's column of numbers of trials; ``zi`` the zero-inflation formula (taken from a
    zero-inflated ``spec``). ``params`` maps the common parameter names to values
    (see :func:`simulate_response`). Returns a copy of ``design`` with the response column filled in;
    the design must have no missing values in the columns the model uses.
    """
    if isinstance(spec, ModelSpec):
        formula, family, link = spec.formula, spec.family.name, spec.family.link
        zi = f"~ {spec.template.zi}" if spec.template is not None and spec.template.zi else zi
    else:
        formula, family = spec, family or "bernoulli"
    response = parse_formula(formula).response
    if not response:
        raise SpecError("simulate needs a response column name on the left of the formula, not cbind(...)")
    frame = design.copy()
    frame[response] = np.arange(len(frame)) % 2.0  # a varying placeholder every family accepts; replaced below
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # dropped rows are an error here, raised below
        model = ModelSpec.from_formula(formula, frame, family, link=link, trials=trials, zi=zi)
    if model.nobs != len(frame):
        raise SpecError(
            f"the design has missing values in {len(frame) - model.nobs} rows of the columns the model uses"
        )
    frame[response] = simulate_response(model, params, seed).y
    return frame
