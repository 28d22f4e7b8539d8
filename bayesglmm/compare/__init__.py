"""Fits side by side (:func:`compare`) and the frequentist check of the engines (:func:`coverage_study`)."""

from .coverage import CoverageStudy, coverage_study, load_study
from .engines import BayesSettings, fit_engine, parse_engines
from .table import Comparison, compare

__all__ = [
    "compare",
    "Comparison",
    "coverage_study",
    "load_study",
    "CoverageStudy",
    "BayesSettings",
    "fit_engine",
    "parse_engines",
]
