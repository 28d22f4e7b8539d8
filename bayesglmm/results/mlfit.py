"""MLFit: the result of a maximum-likelihood fit, with tidy tables and a GLIMMIX-style summary."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..model.newdata import DesignTemplate
from ..model.parameters import interval_scale
from ..model.spec import ModelSpec
from .io import dump_json
from .parameters import FactorEstimates, Inference, OptSummary, ReportedParameter, package_versions
from .protocol import COMPARISON_COLUMNS, CONDITIONAL, ComparisonColumns
from .stats import Z_975, two_sided_normal_p, wald_interval, wald_type3


@dataclass(frozen=True)
class MLFit:
    """A maximum-likelihood GLMM fit (Laplace or adaptive Gauss–Hermite quadrature).

    ``factors`` holds each grouping factor's estimates; for a one-factor fit ``group``,
    ``re_terms``, ``group_levels``, ``modes`` etc. are those of its factor.
    """

    formula: str
    family: str
    link: str
    response: str
    factors: tuple[FactorEstimates, ...]
    fixed_names: tuple[str, ...]
    fixed_terms: tuple
    nobs_read: int
    nobs: int
    dropped: dict
    method: str
    qpoints: int
    loglik: float
    n_params: int
    parameters: tuple[ReportedParameter, ...]
    inference: Inference
    empirical: bool
    optimization: OptSummary
    seconds: float
    messages: tuple[str, ...] = ()  # the warnings the fit raised, "Category: text"
    template: DesignTemplate | None = field(default=None, compare=False, repr=False)  # the design for new data
    spec: object = field(default=None, compare=False, repr=False)  # the ModelSpec fitted: what a profile refits

    @classmethod
    def from_engine(cls, spec: ModelSpec, **values) -> MLFit:
        optimization = values.pop("optimization")
        optimization = OptSummary(**{**optimization.__dict__, "versions": package_versions()})
        return cls(
            formula=spec.formula,
            family=spec.family.name,
            link=spec.family.link,
            response=spec.response,
            fixed_names=spec.fixed.names,
            fixed_terms=spec.fixed.terms,
            nobs_read=spec.data.nobs_read,
            nobs=spec.nobs,
            dropped=dict(spec.data.dropped_missing),
            optimization=optimization,
            template=spec.template,
            spec=spec,
            parameters=tuple(values.pop("parameters")),
            **values,
        )

    # -- the grouping factor of a one-factor fit -------------------------------------------
    def _only_factor(self) -> FactorEstimates:
        if len(self.factors) != 1:
            names = ", ".join(f.group for f in self.factors)
            raise ValueError(f"this fit has {len(self.factors)} grouping factors ({names}); use fit.factors")
        return self.factors[0]

    @property
    def group(self) -> str:
        return self._only_factor().group

    @property
    def re_terms(self) -> tuple[str, ...]:
        return self._only_factor().terms

    @property
    def covariance_type(self) -> str:
        return self._only_factor().covariance_type

    @property
    def group_levels(self) -> tuple[str, ...]:
        return self._only_factor().levels

    @property
    def group_sizes(self) -> np.ndarray:
        return self._only_factor().sizes

    @property
    def modes(self) -> np.ndarray:
        """Conditional modes (n_groups, q) of the one grouping factor."""
        return self._only_factor().modes

    # -- fit statistics -------------------------------------------------------------------
    @property
    def ngroups(self) -> int:
        return len(self.group_levels)

    @property
    def has_independent_groups(self) -> bool:
        """True with one grouping factor: only then are the groups independent (sandwich SEs need it)."""
        return len(self.factors) == 1

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

    def _covariance(self, empirical: bool, correction: str | None = None) -> np.ndarray:
        """The model-based, empirical or (``correction="mbn"``) MBN-adjusted empirical covariance."""
        if correction is None:
            return self.inference.cov_empirical if empirical else self.inference.cov_model
        if correction != "mbn":
            raise ValueError(f"correction must be 'mbn' (SAS GLIMMIX empirical=mbn) or None, not {correction!r}")
        if self.inference.cov_mbn is None:
            raise ValueError(
                "this fit has no MBN-adjusted covariance: it needs independent clusters (one grouping "
                "factor), at least two of them, and more observations than parameters"
            )
        return self.inference.cov_mbn

    def _se(self, empirical: bool, correction: str | None = None) -> np.ndarray:
        return np.sqrt(np.maximum(np.diag(self._covariance(empirical, correction)), 0.0))

    @property
    def beta(self) -> pd.Series:
        return pd.Series(self.inference.estimates[self._index("beta")], index=list(self.fixed_names), name="estimate")

    @property
    def G(self) -> np.ndarray:
        """Random-effects covariance matrix (q, q) of the one grouping factor, in the order of ``re_terms``."""
        return self.covariance(self._only_factor().group)

    def covariance(self, group: str) -> np.ndarray:
        """The random-effects covariance matrix of grouping factor ``group``, in its terms' order."""
        factor = next((f for f in self.factors if f.group == group), None)
        if factor is None:
            raise KeyError(f"no grouping factor {group!r}; the fit has {', '.join(f.group for f in self.factors)}")
        G = np.zeros((len(factor.terms), len(factor.terms)))
        for value, p in zip(self.inference.estimates, self.parameters):
            if p.group == group and p.kind in ("var", "cov"):
                i, j = p.indices * 2 if p.kind == "var" else p.indices
                G[i, j] = G[j, i] = value
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

    def fixed_effects(self, empirical: bool | None = None, correction: str | None = None) -> pd.DataFrame:
        """Solutions for fixed effects: estimate, both SEs, z, p and 95% Wald interval.

        z, p and the interval use the empirical SE when ``empirical`` (default:
        as the fit was requested), else the model-based SE. ``correction="mbn"`` makes the
        empirical SE the MBN-adjusted one (SAS GLIMMIX ``empirical=mbn``; implies ``empirical``),
        for few clusters: see :mod:`bayesglmm.core.sandwich`.
        """
        use_empirical = correction is not None or (self.empirical if empirical is None else empirical)
        idx = self._index("beta")
        est = self.inference.estimates[idx]
        se_model, se_emp = self._se(False)[idx], self._se(True, correction)[idx]
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
            if p.kind in ("var", "cov", "sd", "corr", "family"):
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

        Intervals: Wald for β and zi formula coefficients; for SDs and positive family parameters
        on the log scale (exp(log sd ± 1.96 se/sd)), for the zero-inflation probability on the logit scale;
        for correlations on Fisher's z scale — both stay inside the parameter space.
        The SE used follows ``empirical``.
        """
        se_model, se_emp = self._se(False), self._se(True)
        se = se_emp if self.empirical else se_model
        rows = []
        for i, p in enumerate(self.parameters):
            if p.kind not in ("beta", "sd", "corr", "family"):
                continue
            est = self.inference.estimates[i]
            scale = interval_scale(p.name)
            lower, upper = wald_interval(est, se[i], scale)
            rows.append(
                {
                    "name": p.name,
                    "estimate": est,
                    "se": se_model[i],
                    "se_empirical": se_emp[i],
                    "lower": lower,
                    "upper": upper,
                }
            )
        return pd.DataFrame(rows).set_index("name")

    def confint(self, method: str = "wald", level: float = 0.95, parameters=None, **options) -> pd.DataFrame:
        """Confidence intervals by common name (estimate, lower, upper): ``"wald"`` as :meth:`params`
        at any ``level``, ``"profile"``, the profile likelihood (lme4's
        ``confint(method = "profile")``), or ``"boot"``, the parametric bootstrap's percentile
        intervals (lme4's ``confint(method = "boot")``; ``options`` go to :meth:`bootstrap`, and
        ``boot_type="basic"`` gives the basic ones); :mod:`bayesglmm.results.intervals`."""
        from .intervals import confidence_intervals

        return confidence_intervals(self, method, level, parameters, **options)

    def bootstrap(
        self, sims: int = 1000, out=None, seed: int = 0, workers=None, level: float = 0.95, **options
    ) -> object:
        """Parametric bootstrap (lme4's ``bootMer``): ``sims`` data sets simulated at the estimates
        and refitted by this fit's method; bias, bootstrap SE, percentile and basic intervals by
        common name, failed refits counted.  Kept in the folder ``out`` (resumable: call again on it),
        or in a new temporary folder (its path is the result's ``folder``).  ``options``:
        ``executor``, ``progress``.  Returns a :class:`bayesglmm.compare.BootstrapResult`
        (:func:`bayesglmm.compare.parametric_bootstrap`)."""
        from . import protocol

        return protocol.bootstrap(self, sims, out, seed, workers, level, **options)

    def comparison_columns(self) -> ComparisonColumns:
        """:func:`bayesglmm.compare.compare`'s view of the fit (:class:`~.protocol.ComparisonColumns`)."""
        params = self.params()
        table = params[["estimate", "se", "se_empirical", "lower", "upper"]].assign(median=np.nan)
        method = "laplace" if self.method == "laplace" else f"agq{self.qpoints}"
        interval = "Wald, empirical SE" if self.empirical else "Wald, model-based SE"
        return ComparisonColumns("ml", method, CONDITIONAL, interval, table.loc[:, list(COMPARISON_COLUMNS)])

    def odds_ratios(self, empirical: bool | None = None) -> pd.DataFrame:
        """exp(β) with 95% Wald limits: the conditional odds ratio for a unit change of each column."""
        if self.link != "logit":
            raise ValueError(f"odds ratios need a logit link; this fit uses {self.link!r}")
        table = self.fixed_effects(empirical).drop(index="(Intercept)", errors="ignore")
        return pd.DataFrame(
            {"odds_ratio": np.exp(table["estimate"]), "lower": np.exp(table["lower"]), "upper": np.exp(table["upper"])}
        )

    def type3(self, empirical: bool | None = None, correction: str | None = None) -> pd.DataFrame:
        """Wald tests that all coefficients of a model term are zero (chi-square and F = chi2/df);
        see :func:`~bayesglmm.results.stats.wald_type3`. ``empirical`` and ``correction`` as in
        :meth:`fixed_effects`."""
        use_empirical = correction is not None or (self.empirical if empirical is None else empirical)
        cov = self._covariance(use_empirical, correction)
        idx = self._index("beta")
        rows = wald_type3(self.inference.estimates[idx], cov[np.ix_(idx, idx)], self.fixed_terms)
        return pd.DataFrame(rows).set_index("term")

    def conditional_modes(self, group: str | None = None) -> pd.DataFrame:
        """Conditional modes of the random effects per level of ``group`` (default: the one factor),
        with conditional SDs (square roots of the diagonal of the inverse of −∇² of the joint log density)."""
        factor = self._only_factor() if group is None else next(f for f in self.factors if f.group == group)
        frame = pd.DataFrame(factor.modes, columns=list(factor.terms), index=pd.Index(factor.levels, name=factor.group))
        for j, term in enumerate(factor.terms):
            frame[f"sd({term})"] = factor.conditional_sd[:, j]
        return frame

    # -- output -----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The documented machine-readable form (see the README's JSON section; :mod:`.ml_json`)."""
        from .ml_json import ml_fit_dict

        return ml_fit_dict(self)

    def predict(self, data, scale: str = "response", kind: str = "conditional", **options) -> pd.DataFrame:
        """Predicted means (``scale="response"``) or linear predictors on ``data`` with 95% intervals;
        see :func:`bayesglmm.predict.predict` for the kinds (conditional, typical, marginal)."""
        from . import protocol

        return protocol.predict(self, data, scale, kind, **options)

    def to_json(self, path=None, indent: int = 2) -> str:
        """:meth:`to_dict` as JSON, written to ``path`` when given."""
        return dump_json(self.to_dict(), path, indent)

    def summary(self) -> str:
        from .format import ml_summary

        return ml_summary(self)

    def __repr__(self) -> str:
        return f"<MLFit {self.method}{'' if self.method == 'laplace' else f'({self.qpoints})'} {self.formula!r} loglik={self.loglik:.3f}>"
