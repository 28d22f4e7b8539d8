"""The records of an ML fit's reported quantities: their names and labels, their estimates and covariances.

The ML engine fills them (:mod:`bayesglmm.ml.inference`); :class:`~.mlfit.MLFit` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReportedParameter:
    """One reported quantity: its common name, kind and GLIMMIX-style label."""

    name: str  # beta[time], var[id,(Intercept)], cov[id,(Intercept),time], sd[...], corr[...], sigma
    kind: str  # beta | var | cov | sd | corr | sigma
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
