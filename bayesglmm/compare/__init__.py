"""Fits side by side (:func:`compare`), the frequentist check of the engines (:func:`coverage_study`),
its Bayesian twin (:func:`sbc_study`, simulation-based calibration) and predictive checks (:func:`pp_check`)."""

from .bootstrap import BootstrapResult, parametric_bootstrap
from .coverage import CoverageStudy, coverage_study, load_study
from .engines import BayesSettings, fit_engine, parse_engines
from .ppcheck import pp_check, pp_check_table
from .profile_plot import profile_plot
from .sbc import SBCStudy, load_sbc, sbc_study
from .table import Comparison, compare

__all__ = [
    "compare",
    "parametric_bootstrap",
    "BootstrapResult",
    "profile_plot",
    "Comparison",
    "coverage_study",
    "load_study",
    "CoverageStudy",
    "BayesSettings",
    "fit_engine",
    "parse_engines",
    "pp_check",
    "pp_check_table",
    "sbc_study",
    "load_sbc",
    "SBCStudy",
]
