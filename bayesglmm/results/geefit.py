"""GEEFit: a marginal (population-averaged) model fitted by GEE or alternating logistic regression."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..model.parameters import beta_name
from .io import dump_json
from .protocol import POPULATION_AVERAGED, ComparisonColumns
from .stats import Z_975, two_sided_normal_p, wald_type3


@dataclass(frozen=True)
class GEESolution:
    """What a GEE or ALR solver returns: β̂, the information H = Σ DᵀV⁻¹D and the per-cluster
    scores U (m, p) at β̂, the scale, the association parameters (a frame: estimate, se), the
    working correlation matrix (None for ALR), the iterations, convergence, and optionally the
    robust covariance (ALR's joint sandwich; else H⁻¹ (Σ UᵢUᵢᵀ) H⁻¹) and the small-sample ones."""

    beta: np.ndarray
    H: np.ndarray
    U: np.ndarray
    scale: float
    association: pd.DataFrame
    working_correlation: np.ndarray | None
    iterations: int
    converged: bool
    cov_robust: np.ndarray | None = None
    cov_corrected: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GEEFit:
    """Estimates, robust (sandwich) and model-based covariances, the association parameters."""

    formula: str
    family: str
    link: str
    corr: str
    cluster: str
    within: str | None
    fixed_names: tuple[str, ...]
    fixed_terms: tuple
    nobs_read: int
    nobs: int
    dropped: dict
    n_clusters: int
    cluster_sizes: np.ndarray
    occasion_labels: tuple[str, ...]
    beta: np.ndarray
    cov_robust: np.ndarray
    cov_model: np.ndarray
    scale: float
    association: pd.DataFrame  # name -> estimate, se (robust; NaN where not estimated by equations)
    working_correlation: np.ndarray | None  # T x T by occasion (None for ALR)
    iterations: int
    converged: bool
    seconds: float
    cov_corrected: dict = field(default_factory=dict)  # small-sample corrected sandwiches: "md", "kc", "mbn"
    type3_score: pd.DataFrame | None = None  # generalized score tests, when fit_gee(score_tests=True)
    qic: float = float("nan")  # Pan (2001), as SAS's "GEE Fit Criteria" (:mod:`bayesglmm.gee.qic`)
    qicu: float = float("nan")
    template: object = field(default=None, compare=False, repr=False)  # DesignTemplate: the design for new data

    @classmethod
    def from_solution(
        cls, spec, layout, solution: GEESolution, *, corr, cluster, within, dropped_cluster, seconds
    ) -> GEEFit:
        """Collect the solver's output; robust cov = H⁻¹ (Σ U_i U_iᵀ) H⁻¹, model-based = H⁻¹."""
        H_inv = np.linalg.inv(solution.H)
        U = solution.U
        cov_robust = solution.cov_robust if solution.cov_robust is not None else H_inv @ (U.T @ U) @ H_inv
        dropped = dict(spec.data.dropped_missing)
        if dropped_cluster:
            dropped[f"{cluster}{'' if within is None else '/' + within}"] = dropped_cluster
        return cls(
            formula=spec.formula,
            family=spec.family.name,
            link=spec.family.link,
            corr=corr,
            cluster=cluster,
            within=within,
            fixed_names=spec.fixed_names,
            fixed_terms=spec.fixed.terms,
            nobs_read=spec.data.nobs_read + dropped_cluster,
            nobs=spec.nobs,
            dropped=dropped,
            n_clusters=layout.n_clusters,
            cluster_sizes=layout.mask.sum(axis=1),
            occasion_labels=layout.occasion_labels,
            beta=solution.beta,
            cov_robust=cov_robust,
            cov_model=H_inv,
            scale=solution.scale,
            association=solution.association,
            working_correlation=solution.working_correlation,
            iterations=solution.iterations,
            converged=solution.converged,
            seconds=seconds,
            template=spec.template,
            cov_corrected=solution.cov_corrected,
        )

    def fixed_effects(self, robust: bool = True, correction: str | None = None) -> pd.DataFrame:
        """Estimates with robust (``se``) and model-based (``se_model``) SEs; z, p and the 95% Wald
        interval from the robust SE (SAS GENMOD's "empirical standard error estimates") unless ``robust=False``.

        ``correction``: ``"md"`` (Mancl & DeRouen 2001), ``"kc"`` (Kauermann & Carroll 2001) or
        ``"mbn"`` (Morel, Bokossa & Neerchal 2003, as SAS's ``EMPIRICAL=MBN``) puts
        the small-sample corrected sandwich (:mod:`bayesglmm.gee.small_sample`) in ``se`` and uses it
        for z, p and the interval; for trials with few clusters (the seed's 59 patients).
        """
        cov_robust = self.cov_robust
        if correction is not None:
            if correction not in ("md", "kc", "mbn"):
                raise ValueError(f"correction must be 'md', 'kc', 'mbn' or None, not {correction!r}")
            if correction not in self.cov_corrected:
                raise ValueError(
                    f"the {self.corr} fit has no small-sample corrected covariance (GEE working correlations only)"
                )
            cov_robust = self.cov_corrected[correction]
        se_robust, se_model = np.sqrt(np.diag(cov_robust)), np.sqrt(np.diag(self.cov_model))
        se = se_robust if robust else se_model
        z = self.beta / se
        return pd.DataFrame(
            {
                "estimate": self.beta,
                "se": se_robust,
                "se_model": se_model,
                "z": z,
                "p": two_sided_normal_p(z),
                "lower": self.beta - Z_975 * se,
                "upper": self.beta + Z_975 * se,
            },
            index=pd.Index(self.fixed_names, name="term"),
        )

    def type3(self, robust: bool = True, kind: str = "wald") -> pd.DataFrame:
        """Type III tests per model term: Wald (SAS ``type3 wald``, robust covariance by default) or,
        with ``kind="score"``, the generalized score tests (SAS's default ``type3``; the fit must be
        made with ``fit_gee(..., score_tests=True)``)."""
        if kind == "score":
            if self.type3_score is None:
                raise ValueError("score tests were not computed: fit with fit_gee(..., score_tests=True)")
            return self.type3_score
        if kind != "wald":
            raise ValueError(f"kind must be 'wald' or 'score', not {kind!r}")
        rows = wald_type3(self.beta, self.cov_robust if robust else self.cov_model, self.fixed_terms)
        return pd.DataFrame(rows).set_index("term")

    def odds_ratios(self) -> pd.DataFrame:
        """exp(β) with robust 95% limits: population-averaged odds ratios."""
        if self.link != "logit":
            raise ValueError(f"odds ratios need a logit link; this fit uses {self.link!r}")
        table = self.fixed_effects().drop(index="(Intercept)", errors="ignore")
        return pd.DataFrame(
            {"odds_ratio": np.exp(table["estimate"]), "lower": np.exp(table["lower"]), "upper": np.exp(table["upper"])}
        )

    def params(self) -> pd.DataFrame:
        """Fixed effects in the common names (``beta[term]``) with robust SEs and Wald limits."""
        fixed = self.fixed_effects()
        table = fixed[["estimate", "se", "se_model", "lower", "upper"]].copy()
        table.index = pd.Index([beta_name(name) for name in self.fixed_names], name="name")
        return table

    def comparison_columns(self) -> ComparisonColumns:
        """:func:`bayesglmm.compare.compare`'s view of the fit (:class:`~.protocol.ComparisonColumns`)."""
        params = self.params()
        table = pd.DataFrame(
            {
                "estimate": params["estimate"],
                "median": np.nan,
                "se": params["se_model"],
                "se_empirical": params["se"],
                "lower": params["lower"],
                "upper": params["upper"],
            }
        )
        return ComparisonColumns("gee", f"gee-{self.corr}", POPULATION_AVERAGED, "Wald, robust SE", table)

    def working_correlation_frame(self) -> pd.DataFrame | None:
        """The estimated working correlation, rows and columns labelled by occasion."""
        if self.working_correlation is None:
            return None
        return pd.DataFrame(self.working_correlation, index=self.occasion_labels, columns=self.occasion_labels)

    def to_dict(self) -> dict:
        """The documented machine-readable form (``bayesglmm fit --engine gee --json``)."""
        fixed = self.fixed_effects()
        return {
            "engine": "gee",
            "corr": self.corr,
            "formula": self.formula,
            "family": self.family,
            "link": self.link,
            "cluster": self.cluster,
            "within": self.within,
            "nobs": self.nobs,
            "nobs_read": self.nobs_read,
            "nclusters": self.n_clusters,
            "scale": self.scale,
            "iterations": self.iterations,
            "converged": self.converged,
            "seconds": self.seconds,
            "qic": self.qic,
            "qicu": self.qicu,
            "fixed": [
                {
                    "term": term,
                    "estimate": row.estimate,
                    "se": row.se,
                    "se_model": row.se_model,
                    "z": row.z,
                    "p": row.p,
                    **{f"se_{name}": float(np.sqrt(cov[i, i])) for name, cov in self.cov_corrected.items()},
                }
                for i, (term, row) in enumerate(fixed.iterrows())
            ],
            "association": [
                {"name": name, "estimate": row.estimate, "se": None if np.isnan(row.se) else row.se}
                for name, row in self.association.iterrows()
            ],
            "type3": [{"term": term, **row.to_dict()} for term, row in self.type3().iterrows()],
            "type3_score": None
            if self.type3_score is None
            else [{"term": term, **row.to_dict()} for term, row in self.type3_score.iterrows()],
        }

    def predict(self, data, scale: str = "response", kind: str = "marginal", **options) -> pd.DataFrame:
        """Predicted means (``scale="response"``) or linear predictors on ``data`` with 95% intervals;
        see :func:`bayesglmm.predict.predict` for the kinds (conditional, typical, marginal)."""
        from . import protocol

        return protocol.predict(self, data, scale, kind, **options)

    def to_json(self, path=None, indent: int = 2) -> str:
        return dump_json(self.to_dict(), path, indent)

    def summary(self) -> str:
        from .format import gee_summary

        return gee_summary(self)

    def __repr__(self) -> str:
        return f"<GEEFit {self.corr} {self.formula!r} clusters={self.n_clusters}>"
