"""NumPyro samples -> ArviZ InferenceData with named dimensions (the one place that knows ArviZ).

Groups: posterior, random_effects, sample_stats, log_likelihood (pointwise, for LOO/WAIC),
posterior_predictive, observed_data, constant_data (and prior, prior_predictive when drawn).

Laid out so that ArviZ's defaults work with no arguments (``az.summary(idata)``,
``az.plot_trace(idata)``), as brms splits ``b_``/``sd_``/``cor_`` from ``r_``: the posterior holds
the population parameters once each — ``beta`` (dimension ``term``), ``sd_GROUP``
(``GROUP_term``), ``corr_GROUP`` (``GROUP_pair``, one entry per correlation, labelled
``TERM1,TERM2``: no constant diagonal, no repeated triangle) and the family's own (``sigma``,
``shape``, ``phi``, ``zi``); the per-group effects ``b_GROUP`` (``GROUP`` × ``GROUP_term``) are
in the group ``random_effects`` (``az.summary(idata, group="random_effects")``).  The common
names shared with the ML engine (``beta[TERM]``, ``sd[GROUP,TERM]``, ``corr[GROUP,TERM1,TERM2]``)
map onto these variables by :func:`~bayesglmm.model.parameters.posterior_location`
(:meth:`~bayesglmm.results.bayesfit.BayesFit.parameter_draws`).
Written for ArviZ 0.x's ``from_dict``; moving to ArviZ 1.x changes only this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import arviz as az

import numpy as np

from ..model.parameters import (
    BETA_SITE,
    corr_site,
    correlation_pairs,
    effects_site,
    pair_dim,
    pair_label,
    posterior_location,
    reported_names,
    sd_site,
    term_dim,
)
from .program import Program

# the non-centred innovations, Cholesky factors and brms's centred intercept: b, corr and beta carry them
DROPPED = ("z_", "L_", "centred_")


def _dims_and_coords(program: Program):
    dims = {BETA_SITE: ["term"], "y": ["obs"]}
    coords = {"term": list(program.fixed_names), "obs": np.arange(program.data["y"].shape[0])}
    for factor in program.factors:
        g = factor.group
        coords[term_dim(g)] = list(factor.terms)
        coords[g] = list(factor.levels)
        dims[sd_site(g)] = [term_dim(g)]
        dims[effects_site(g)] = [g, term_dim(g)]
        if factor.correlated_blocks:
            coords[pair_dim(g)] = [pair_label(factor.terms, pair) for pair in correlation_pairs(factor.blocks)]
            dims[corr_site(g)] = [pair_dim(g)]
    zi_terms = getattr(program.family, "zi_terms", ())
    if program.priors.zi_names != ("zi",) and zi_terms:  # the coefficients of a zi formula
        dims["zi"], coords["zi_term"] = ["zi_term"], list(zi_terms)
    return dims, coords


def to_inference_data(
    program: Program,
    posterior: dict,
    sample_stats: dict | None,
    log_likelihood,
    posterior_predictive=None,
    prior=None,
    group_log_likelihood=None,
) -> az.InferenceData:
    """InferenceData laid out as the module docstring says.

    ``posterior``: the program's sites and deterministics, arrays (chain, draw, ...);
    ``sample_stats``: sampler statistics (chain, draw) or None (independent draws);
    ``log_likelihood``: pointwise conditional log-likelihood (chain, draw, n), or None (prior draws);
    ``posterior_predictive``: response draws (chain, draw, n); ``prior``: prior draws of every
    site and of ``y``, flat (draws, ...); ``group_log_likelihood``: each group's marginal
    log-likelihood (chain, draw, n_groups), stored as ``log_likelihood["y_marginal"]`` with the
    grouping factor's dimension (``az.loo(idata, var_name="y_marginal")``: leave one group out).
    ``constant_data`` holds each row's fixed-effect covariates and group (``group_GROUP``).
    """
    import arviz as az

    dims, coords = _dims_and_coords(program)
    site_dims = dict(dims)
    kept = {name: np.asarray(value) for name, value in posterior.items() if not name.startswith(DROPPED)}
    groups = {
        "posterior": kept,
        "observed_data": {"y": np.asarray(program.data["y"])},
        "constant_data": {
            "X": np.asarray(program.data["X"]),
            **{f"group_{f.group}": np.asarray(index) for f, index in zip(program.factors, program.data["index"])},
        },
    }
    if log_likelihood is not None:
        groups["log_likelihood"] = {"y": np.asarray(log_likelihood)}
    site_dims = {**site_dims, "X": ["obs", "term"], **{f"group_{f.group}": ["obs"] for f in program.factors}}
    if group_log_likelihood is not None:
        (factor,) = program.factors
        groups["log_likelihood"]["y_marginal"] = np.asarray(group_log_likelihood)
        site_dims["y_marginal"] = [factor.group]
    if sample_stats is not None:
        groups["sample_stats"] = sample_stats
    if posterior_predictive is not None:
        groups["posterior_predictive"] = {"y": np.asarray(posterior_predictive)}
    if prior is not None:
        prior = {name: np.asarray(value)[None] for name, value in prior.items()}
        groups["prior_predictive"] = {"y": prior.pop("y")}
        groups["prior"] = {name: value for name, value in prior.items() if not name.startswith(DROPPED)}
    idata = az.from_dict(**groups, coords=coords, dims=site_dims)
    effects = [effects_site(f.group) for f in program.factors if effects_site(f.group) in idata.posterior]
    if effects:
        levels = [f.group for f in program.factors]  # dimensions only the effects use
        idata.add_groups({"random_effects": idata.posterior[effects]})
        idata.posterior = idata.posterior.drop_vars(effects + levels, errors="ignore")
    # the variables in the order of the common names (β, SDs, correlations, the family's), as summaries list them
    names = reported_names(program.fixed_names, program.factors, program.family)
    ordered = list(dict.fromkeys(posterior_location(name)[0] for name in names))
    rest = [name for name in idata.posterior.data_vars if name not in ordered]
    idata.posterior = idata.posterior[ordered + rest]
    return idata
