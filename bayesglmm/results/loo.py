"""PSIS-LOO of Bayesian fits (ArviZ's ``loo`` and ``compare``) on both stored log-likelihoods.

``y``: each observation given its group's sampled random effects — leave one observation out;
it is unstable for mixed models (most groups' effects are pinned down by the held-out row's
neighbours: many Pareto k > 0.7).  ``y_marginal``: each group's likelihood with its random
effects integrated out by adaptive quadrature — leave one *group* out, the question a
mixed-model user usually asks (a new subject), with sane k (:mod:`bayesglmm.bayes.group_loglik`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd


def k_threshold(draws: int) -> float:
    """The Pareto k above which PSIS is unreliable for ``draws`` draws: min(1 − 1/log10 S, 0.7)
    (Vehtari et al. 2024, "Pareto smoothed importance sampling"; ArviZ's rule)."""
    return min(1.0 - 1.0 / np.log10(draws), 0.7)


VARIABLES = {"y": "observation", "y_marginal": "group"}


def loo_table(idata) -> pd.DataFrame:
    """elpd_loo, its SE, p_loo and the Pareto k diagnostics per stored log-likelihood."""
    import arviz as az

    rows = []
    for name, leaves_out in VARIABLES.items():
        if name not in idata.log_likelihood:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ArviZ's warning about high k: the table reports k itself
            result = az.loo(idata, var_name=name, pointwise=True)
        k = np.asarray(result.pareto_k)
        threshold = k_threshold(idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"])
        rows.append(
            {
                "log_likelihood": name,
                "leaves_out": leaves_out,
                "elpd_loo": float(result.elpd_loo),
                "se": float(result.se),
                "p_loo": float(result.p_loo),
                "n": int(k.size),
                "k threshold": threshold,
                "k > threshold": int(np.sum(k > threshold)),
                "max k": float(np.max(k)),
            }
        )
    return pd.DataFrame(rows).set_index("log_likelihood")


def loo_compare(fits: Mapping, var_name: str = "y_marginal") -> pd.DataFrame:
    """ArviZ's ``compare`` of several Bayesian fits of the same data by PSIS-LOO on ``var_name``
    (default leave-one-group-out), best first: elpd differences and their SEs, weights."""
    import arviz as az

    from ..errors import SpecError

    missing = [name for name, fit in fits.items() if var_name not in fit.idata.log_likelihood]
    if missing:
        raise SpecError(
            f"fit(s) {', '.join(map(repr, missing))} have no log-likelihood {var_name!r}; refit with "
            "group_loglik=True (one grouping factor) or use var_name='y'"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.compare({name: fit.idata for name, fit in fits.items()}, var_name=var_name)
