"""The records an ML fit is made of: its reported quantities (names, labels, estimates and
covariances), its grouping factors' estimates, and how the optimum was found.

The ML engine fills them (:mod:`bayesglmm.ml.fit`, :mod:`bayesglmm.ml.inference`);
:class:`~.mlfit.MLFit` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..model.design import RandomFactor


@dataclass(frozen=True)
class ReportedParameter:
    """One reported quantity: its common name, kind and GLIMMIX-style label."""

    name: str  # beta[time], var[id,(Intercept)], cov[id,(Intercept),time], sd[...], corr[...], sigma, shape, ...
    kind: str  # beta | var | cov | sd | corr | family (a family's extra parameter: positive)
    label: str  # GLIMMIX label: the term, UN(1,1), ..., Residual
    indices: tuple[int, ...] = ()  # random-effect positions in the factor: (i,) for var/sd, (i, j) for cov/corr
    group: str | None = None  # the grouping factor of a var/cov/sd/corr


@dataclass(frozen=True)
class Inference:
    """Estimates and covariances of the reported quantities."""

    estimates: np.ndarray
    cov_model: np.ndarray
    cov_empirical: np.ndarray
    hessian_positive_definite: bool
    cov_phi_model: np.ndarray
    cov_phi_empirical: np.ndarray
    cov_mbn: np.ndarray | None = None  # the MBN-adjusted empirical covariance (None: not available)


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
    compile_seconds: float = 0.0  # of the fit's seconds, those spent compiling JAX programs


def package_versions() -> dict:
    """Versions of the packages that produced the fit (from the imported modules: no metadata scan)."""
    import importlib

    return {
        name: getattr(importlib.import_module(name), "__version__", "unknown")
        for name in ("bayesglmm", "jax", "numpy", "scipy", "pandas", "formulae")
    }


@dataclass(frozen=True)
class FactorEstimates:
    """One grouping factor of a fit: its random-effect terms, levels and conditional modes."""

    group: str
    terms: tuple[str, ...]
    covariance_type: str
    levels: tuple[str, ...]
    sizes: np.ndarray  # rows per level
    modes: np.ndarray  # (levels, q) conditional modes
    conditional_sd: np.ndarray  # (levels, q) sqrt of the diagonal of the inverse of -Hessian of the joint log density

    @classmethod
    def of(cls, factor: RandomFactor, modes, conditional_sd) -> FactorEstimates:
        return cls(
            group=factor.group,
            terms=factor.terms,
            covariance_type=factor.structure,
            levels=factor.levels,
            sizes=np.bincount(factor.index, minlength=len(factor.levels)),
            modes=np.asarray(modes),
            conditional_sd=np.asarray(conditional_sd),
        )
