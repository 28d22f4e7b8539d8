"""MLFit: the result of a maximum-likelihood fit, with tidy tables and a GLIMMIX-style summary."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..design import RandomFactor
from ..ml.inference import Inference, ReportedParameter
from ..spec import ModelSpec
from .io import dump_json
from .stats import Z_975, two_sided_normal_p, wald_type3


@dataclass(frozen=True)
class OptSummary:
    """How the fit was obtained (after MixedModels.jl's OptSummary)."""

    method: str
    qpoints: int
    optimizer: str
    iterations: int
    status: int
    message: str
    converged: bool
    gradient_norm: float
    hessian_positive_definite: bool
    initial_parameters: np.ndarray
    final_parameters: np.ndarray
    stages: tuple  # (method, qpoints, iterations, -2 loglik) per stage
    qpoints_table: dict  # qpoints -> -2 loglik, from the automatic rule
    path: tuple  # (iteration, objective, max |gradient|) of the last stage
    versions: dict = field(default_factory=dict)


def _versions() -> dict:
    """Versions of the packages that produced the fit (from the imported modules: no metadata scan)."""
    import importlib

    return {
        name: getattr(importlib.import_module(name), "__version__", "unknown")
        for name in ("bayesglmm", "jax", "numpy", "scipy", "pandas", "formulae")
    }


@dataclass(frozen=True)
class MLFit:
    """A maximum-likelihood GLMM fit (Laplace or adaptive Gauss–Hermite quadrature)."""

    formula: str
    family: str
    link: str
    response: str
    group: str
    re_terms: tuple[str, ...]
    covariance_type: str
    fixed_names: tuple[str, ...]
    fixed_terms: tuple
    nobs_read: int
    nobs: int
    dropped: dict
    group_levels: tuple[str, ...]
    group_sizes: np.ndarray
    method: str
    qpoints: int
    loglik: float
    n_params: int
    parameters: tuple[ReportedParameter, ...]
    inference: Inference
    empirical: bool
    modes: np.ndarray  # (n_groups, q)
    mode_hessians: np.ndarray  # (n_groups, q, q)
    optimization: OptSummary
    seconds: float

    @classmethod
    def from_engine(cls, spec: ModelSpec, factor: RandomFactor, **values) -> "MLFit":
        optimization = values.pop("optimization")
        optimization = OptSummary(**{**optimization.__dict__, "versions": _versions()})
        return cls(
            formula=spec.formula,
            family=spec.family.name,
            link=spec.family.link,
            response=spec.response,
            group=factor.group,
            re_terms=factor.terms,
            covariance_type=factor.structure,
            fixed_names=spec.fixed.names,
            fixed_terms=spec.fixed.terms,
            nobs_read=spec.data.nobs_read,
            nobs=spec.nobs,
            dropped=dict(spec.data.dropped_missing),
            group_levels=factor.levels,
            group_sizes=np.bincount(factor.index, minlength=len(factor.levels)),
            optimization=optimization,
            parameters=tuple(values.pop("parameters")),
            **values,
        )

    # -- fit statistics -------------------------------------------------------------------
    @property
    def ngroups(self) -> int:
        return len(self.group_levels)

    @property
    def deviance(self) -> float:
        """−2 log-likelihood (all normalising constants included)."""
        return -2.0 * self.loglik

    @property
    def aic(self) -> float:
        return self.deviance + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        """BIC with n = observations used, as lme4 and glmmTMB."""
        return self.deviance + self.n_params * math.log(self.nobs)

    @property
    def converged(self) -> bool:
        return self.optimization.converged

    # -- parameters --------------------------------------------------------------------------
    def _index(self, kind: str) -> list[int]:
        return [i for i, p in enumerate(self.parameters) if p.kind == kind]

    def _se(self, empirical: bool) -> np.ndarray:
        cov = self.inference.cov_empirical if empirical else self.inference.cov_model
        return np.sqrt(np.maximum(np.diag(cov), 0.0))

    @property
    def beta(self) -> pd.Series:
        return pd.Series(self.inference.estimates[self._index("beta")], index=list(self.fixed_names), name="estimate")

    @property
    def G(self) -> np.ndarray:
        """Random-effects covariance matrix (q, q), in the order of ``re_terms``."""
        G = np.diag(self.random_sd**2)
        for i in self._index("cov"):
            j, k = self.parameters[i].indices
            G[j, k] = G[k, j] = self.inference.estimates[i]
        return G

    @property
    def random_sd(self) -> np.ndarray:
        return self.inference.estimates[self._index("sd")]

    @property
    def is_singular(self) -> bool:
        """True at a boundary: a random-effect SD near 0 or a correlation near ±1 (lme4's isSingular)."""
        sd = self.random_sd
        corr = self.inference.estimates[self._index("corr")]
        return bool(np.any(sd < 1e-4) or np.any(np.abs(corr) > 0.999))

    def fixed_effects(self, empirical: bool | None = None) -> pd.DataFrame:
        """Solutions for fixed effects: estimate, both SEs, z, p and 95% Wald interval.

        z, p and the interval use the empirical SE when ``empirical`` (default:
        as the fit was requested), else the model-based SE.
        """
        use_empirical = self.empirical if empirical is None else empirical
        idx = self._index("beta")
        est = self.inference.estimates[idx]
        se_model, se_emp = self._se(False)[idx], self._se(True)[idx]
        se = se_emp if use_empirical else se_model
        z = est / se
        return pd.DataFrame(
            {
                "estimate": est,
                "se": se_model,
                "se_empirical": se_emp,
                "z": z,
                "p": two_sided_normal_p(z),
                "lower": est - Z_975 * se,
                "upper": est + Z_975 * se,
            },
            index=pd.Index(self.fixed_names, name="term"),
        )

    def covariance_parameters(self) -> pd.DataFrame:
        """Covariance parameter estimates (GLIMMIX labels UN(i,j)), then SDs and correlations."""
        rows = []
        se_model, se_emp = self._se(False), self._se(True)
        for i, p in enumerate(self.parameters):
            if p.kind in ("var", "cov", "sd", "corr", "sigma"):
                rows.append(
                    {
                        "name": p.name,
                        "label": p.label,
                        "kind": p.kind,
                        "estimate": self.inference.estimates[i],
                        "se": se_model[i],
                        "se_empirical": se_emp[i],
                    }
                )
        return pd.DataFrame(rows).set_index("name")

    def params(self) -> pd.DataFrame:
        """The common parameterisation: ``beta[term]``, ``sd[group,term]``, ``corr[group,t1,t2]``.

        Intervals: Wald for β; for SDs on the log scale (exp(log sd ± 1.96 se/sd));
        for correlations on Fisher's z scale — both stay inside the parameter space.
        The SE used follows ``empirical``.
        """
        se_model, se_emp = self._se(False), self._se(True)
        se = se_emp if self.empirical else se_model
        rows = []
        for i, p in enumerate(self.parameters):
            if p.kind not in ("beta", "sd", "corr", "sigma"):
                continue
            est = self.inference.estimates[i]
            if p.kind == "beta":
                lower, upper = est - Z_975 * se[i], est + Z_975 * se[i]
            elif p.kind in ("sd", "sigma"):
                half = Z_975 * se[i] / est if est > 0 else np.inf
                with np.errstate(over="ignore"):  # an SD at the boundary: the interval reaches infinity
                    lower, upper = est * np.exp(-half), est * np.exp(half)
            else:
                z, half = np.arctanh(np.clip(est, -0.999999, 0.999999)), Z_975 * se[i] / max(1 - est**2, 1e-12)
                lower, upper = np.tanh(z - half), np.tanh(z + half)
            rows.append(
                {"name": p.name, "estimate": est, "se": se_model[i], "se_empirical": se_emp[i], "lower": lower, "upper": upper}
            )
        return pd.DataFrame(rows).set_index("name")

    def odds_ratios(self, empirical: bool | None = None) -> pd.DataFrame:
        """exp(β) with 95% Wald limits: the conditional odds ratio for a unit change of each column."""
        if self.link != "logit":
            raise ValueError(f"odds ratios need a logit link; this fit uses {self.link!r}")
        table = self.fixed_effects(empirical).drop(index="(Intercept)", errors="ignore")
        return pd.DataFrame(
            {"odds_ratio": np.exp(table["estimate"]), "lower": np.exp(table["lower"]), "upper": np.exp(table["upper"])}
        )

    def type3(self, empirical: bool | None = None) -> pd.DataFrame:
        """Wald tests that all coefficients of a model term are zero (chi-square and F = chi2/df);
        see :func:`~bayesglmm.results.stats.wald_type3`."""
        use_empirical = self.empirical if empirical is None else empirical
        cov = self.inference.cov_empirical if use_empirical else self.inference.cov_model
        idx = self._index("beta")
        rows = wald_type3(self.inference.estimates[idx], cov[np.ix_(idx, idx)], self.fixed_terms)
        return pd.DataFrame(rows).set_index("term")

    def conditional_modes(self) -> pd.DataFrame:
        """Conditional modes of the random effects per group, with conditional SDs sqrt(diag H_i^{-1})."""
        sds = np.sqrt(np.diagonal(np.linalg.inv(self.mode_hessians), axis1=1, axis2=2))
        frame = pd.DataFrame(self.modes, columns=list(self.re_terms), index=pd.Index(self.group_levels, name=self.group))
        for j, term in enumerate(self.re_terms):
            frame[f"sd({term})"] = sds[:, j]
        return frame

    # -- output -----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The documented machine-readable form (see the README's JSON section)."""
        fixed = self.fixed_effects()
        cov = self.covariance_parameters()
        G = self.G
        sd = self.random_sd
        corr = G / np.outer(sd, sd)
        return {
            "engine": "ml",
            "method": self.method,
            "qpoints": self.qpoints,
            "formula": self.formula,
            "family": self.family,
            "link": self.link,
            "loglik": self.loglik,
            "deviance": self.deviance,
            "aic": self.aic,
            "bic": self.bic,
            "n_params": self.n_params,
            "converged": self.converged,
            "singular": self.is_singular,
            "gradient_norm": self.optimization.gradient_norm,
            "nobs": self.nobs,
            "nobs_read": self.nobs_read,
            "ngroups": self.ngroups,
            "seconds": self.seconds,
            "fixed": [
                {"term": term, "estimate": row.estimate, "se": row.se, "se_empirical": row.se_empirical, "z": row.z, "p": row.p}
                for term, row in fixed.iterrows()
            ],
            "random": [
                {
                    "group": self.group,
                    "terms": list(self.re_terms),
                    "type": self.covariance_type,
                    "covariance": G.tolist(),
                    "sd": sd.tolist(),
                    "corr": corr.tolist(),
                }
            ],
            "covariance_parameters": [
                {"name": name, "label": row.label, "estimate": row.estimate, "se": row.se, "se_empirical": row.se_empirical}
                for name, row in cov.iterrows()
            ],
            "qpoints_table": {str(k): v for k, v in self.optimization.qpoints_table.items()},
            "versions": self.optimization.versions,
        }

    def predict(self, data, scale: str = "response", kind: str = "conditional", **options):
        """Predicted means (``scale="response"``) or linear predictors on ``data`` with 95% intervals;
        see :func:`bayesglmm.predict.predict` for the kinds (conditional, typical, marginal)."""
        from ..predict import predict

        return predict(self, data, scale, kind, **options)

    def to_json(self, path=None, indent: int = 2) -> str:
        """:meth:`to_dict` as JSON, written to ``path`` when given."""
        return dump_json(self.to_dict(), path, indent)

    def summary(self) -> str:
        from .format import ml_summary

        return ml_summary(self)

    def __repr__(self) -> str:
        return f"<MLFit {self.method}{'' if self.method == 'laplace' else f'({self.qpoints})'} {self.formula!r} loglik={self.loglik:.3f}>"
