"""The GEE engine's options: one frozen, validated record (the choices of SAS GENMOD's ``repeated``
statement that are not columns of the data)."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import check_bool, check_choice, check_float, check_int
from .correlation import AR1_ESTIMATORS, STRUCTURES

ALR_STRUCTURES = ("alr-exch", "alr-fullclust", "alr-nest1", "alr-zrep")
CORRELATIONS = STRUCTURES + ALR_STRUCTURES


@dataclass(frozen=True)
class GEEOptions:
    """Working correlation or ALR association (``corr``), the AR(1) estimator, the type III score
    tests, and the solver's limits (see :func:`bayesglmm.gee.fit_gee`)."""

    corr: str = "independence"
    ar1: str = "lag1"
    score_tests: bool = False
    max_iter: int = 100
    tol: float = 1e-10

    def __post_init__(self):
        check_choice("corr", self.corr, CORRELATIONS)
        check_choice("ar1", self.ar1, AR1_ESTIMATORS)
        check_bool("score_tests", self.score_tests)
        check_int("max_iter", self.max_iter, 1)
        check_float("tol", self.tol, 0.0)
