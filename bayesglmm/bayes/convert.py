"""NumPyro samples -> ArviZ InferenceData with named dimensions (the one place that knows ArviZ).

Groups: posterior, sample_stats, log_likelihood (pointwise, for LOO/WAIC),
posterior_predictive, observed_data (and prior, prior_predictive when drawn).  Beside the
model's own variables, the posterior holds ``parameters`` with dimension ``parameter``
whose coordinates are the common parameterisation shared with the ML engine:
``beta[TERM]``, ``sd[GROUP,TERM]``, ``corr[GROUP,TERM1,TERM2]`` (and ``sigma``).
Written for ArviZ 0.x's ``from_dict``; moving to ArviZ 1.x changes only this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import arviz as az

import numpy as np

from ..model.parameters import BETA_SITE, corr_site, effects_site, reported_sites, sd_site, term_dim
from .program import Program

DROPPED = ("z_", "L_")  # the non-centred innovations and Cholesky factors: b and corr carry them


def common_names(program: Program) -> list[tuple[str, str, tuple]]:
    """(common name, posterior variable, index) of each reported parameter (:mod:`bayesglmm.model.parameters`)."""
    return reported_sites(program.fixed_names, program.factors, program.family)


def _dims_and_coords(program: Program):
    dims = {BETA_SITE: ["term"], "y": ["obs"], "parameters": ["parameter"]}
    coords = {"term": list(program.fixed_names), "obs": np.arange(program.data["y"].shape[0])}
    for factor in program.factors:
        g = factor.group
        terms, terms_bis = term_dim(g), term_dim(g) + "_bis"
        coords[terms] = list(factor.terms)
        coords[terms_bis] = list(factor.terms)
        coords[g] = list(factor.levels)
        dims[sd_site(g)] = [terms]
        dims[corr_site(g)] = [terms, terms_bis]
        dims[effects_site(g)] = [g, terms]
    zi_terms = getattr(program.family, "zi_terms", ())
    if program.priors.zi_names != ("zi",) and zi_terms:  # the coefficients of a zi formula
        dims["zi"], coords["zi_term"] = ["zi_term"], list(zi_terms)
    coords["parameter"] = [name for name, _, _ in common_names(program)]
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
    """InferenceData with the ``parameters`` variable in the common names.

    ``posterior``: the program's sites and deterministics, arrays (chain, draw, ...);
    ``sample_stats``: sampler statistics (chain, draw) or None (independent draws);
    ``log_likelihood``: pointwise conditional log-likelihood (chain, draw, n);
    ``posterior_predictive``: response draws (chain, draw, n); ``prior``: prior draws of every
    site and of ``y``, flat (draws, ...); ``group_log_likelihood``: each group's marginal
    log-likelihood (chain, draw, n_groups), stored as ``log_likelihood["y_marginal"]`` with the
    grouping factor's dimension (``az.loo(idata, var_name="y_marginal")``: leave one group out).
    ``constant_data`` holds each row's fixed-effect covariates and group (``group_GROUP``).
    """
    import arviz as az
    import xarray as xr

    dims, coords = _dims_and_coords(program)
    site_dims = {k: v for k, v in dims.items() if k != "parameters"}
    kept = {name: np.asarray(value) for name, value in posterior.items() if not name.startswith(DROPPED)}
    groups = {
        "posterior": kept,
        "log_likelihood": {"y": np.asarray(log_likelihood)},
        "observed_data": {"y": np.asarray(program.data["y"])},
        "constant_data": {
            "X": np.asarray(program.data["X"]),
            **{f"group_{f.group}": np.asarray(index) for f, index in zip(program.factors, program.data["index"])},
        },
    }
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
    stacked = [
        posterior[var][(Ellipsis, *index)] if index else posterior[var] for _, var, index in common_names(program)
    ]
    parameters = xr.DataArray(
        np.stack([np.asarray(value) for value in stacked], axis=-1),
        dims=("chain", "draw", "parameter"),
        coords={"chain": idata.posterior.chain, "draw": idata.posterior.draw, "parameter": coords["parameter"]},
    )
    idata.posterior = idata.posterior.assign(parameters=parameters)
    return idata
