"""An ML fit's documented machine-readable form (the README's JSON section): what
:meth:`~.mlfit.MLFit.to_dict` and ``to_json`` give and the command line writes."""

from __future__ import annotations

import numpy as np

from .parameters import FactorEstimates


def ml_fit_dict(fit) -> dict:
    """Every number of an :class:`~.mlfit.MLFit` as plain Python values, by section."""
    fixed = fit.fixed_effects()
    cov = fit.covariance_parameters()
    se_mbn = np.full(len(fixed), np.nan) if fit.inference.cov_mbn is None else fit._se(True, "mbn")[fit._index("beta")]
    return {
        "engine": "ml",
        "method": fit.method,
        "qpoints": fit.qpoints,
        "formula": fit.formula,
        "family": fit.family,
        "link": fit.link,
        "loglik": fit.loglik,
        "deviance": fit.deviance,
        "aic": fit.aic,
        "bic": fit.bic,
        "n_params": fit.n_params,
        "converged": fit.converged,
        "singular": fit.is_singular,
        "gradient_norm": fit.optimization.gradient_norm,
        "nobs": fit.nobs,
        "nobs_read": fit.nobs_read,
        "ngroups": fit.ngroups if fit.has_independent_groups else {f.group: len(f.levels) for f in fit.factors},
        "seconds": fit.seconds,
        "se_used": "empirical" if fit.empirical else "model",  # the SE of z, p and the limits
        "hessian_positive_definite": fit.optimization.hessian_positive_definite,
        "compile_seconds": fit.optimization.compile_seconds,
        "warnings": list(fit.messages),
        "fixed": [
            {
                "term": term,
                "estimate": row.estimate,
                "se": row.se,
                "se_empirical": row.se_empirical,
                "se_mbn": mbn,
                "z": row.z,
                "p": row.p,
                "lower": row.lower,
                "upper": row.upper,
            }
            for (term, row), mbn in zip(fixed.iterrows(), se_mbn)
        ],
        "odds_ratios": []
        if fit.link != "logit"
        else [
            {"term": term, "odds_ratio": row.odds_ratio, "lower": row.lower, "upper": row.upper}
            for term, row in fit.odds_ratios().iterrows()
        ],
        "type3": [{"term": term, **{k: float(v) for k, v in row.items()}} for term, row in fit.type3().iterrows()],
        "random": [_factor_dict(fit, factor) for factor in fit.factors],
        "covariance_parameters": [
            {
                "name": name,
                "label": row.label,
                "estimate": row.estimate,
                "se": row.se,
                "se_empirical": row.se_empirical,
            }
            for name, row in cov.iterrows()
        ],
        "qpoints_table": {str(k): v for k, v in fit.optimization.qpoints_table.items()},
        "versions": fit.optimization.versions,
    }


def _factor_dict(fit, factor: FactorEstimates) -> dict:
    G = fit.covariance(factor.group)
    sd = np.sqrt(np.diag(G))
    return {
        "group": factor.group,
        "terms": list(factor.terms),
        "type": factor.covariance_type,
        "covariance": G.tolist(),
        "sd": sd.tolist(),
        "corr": (G / np.outer(sd, sd)).tolist(),
    }
