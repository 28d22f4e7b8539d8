"""bayesglmm: generalized linear mixed models by exact maximum likelihood and by Bayes (NumPyro).

The handful of names a user needs::

    from bayesglmm import ModelSpec, fit_ml, datasets, load_spec_file, compare, BayesFit
    from bayesglmm.bayes import fit_bayes
"""

from . import predict as _predict  # noqa: F401  (registers each fit type's predictor: fit.predict works)
from .compare import compare, coverage_study
from .errors import ConvergenceWarning, DataWarning, FormulaError, InferenceWarning, SingularFitWarning, SpecError
from .ml import fit_ml
from .ml.evaluate import loglik_at
from .ml.lrt import likelihood_ratio_test
from .ml.profile import profile_intervals
from .model import datasets
from .model.families import Family, make_family, register_family
from .model.simulate import simulate, simulate_response
from .model.spec import ModelSpec
from .results.bayesfit import BayesFit
from .toml_spec import load_spec_file

__all__ = [
    "ModelSpec",
    "fit_ml",
    "BayesFit",
    "loglik_at",
    "likelihood_ratio_test",
    "profile_intervals",
    "compare",
    "coverage_study",
    "simulate",
    "simulate_response",
    "load_spec_file",
    "datasets",
    "Family",
    "make_family",
    "register_family",
    "SpecError",
    "FormulaError",
    "DataWarning",
    "ConvergenceWarning",
    "SingularFitWarning",
    "InferenceWarning",
]
__version__ = "0.1.0"
