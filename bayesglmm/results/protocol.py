"""What every fit (ML, Bayes, GEE) offers, and the prediction entry point they share.

Predictions are implemented in :mod:`bayesglmm.predict`, a layer above this one: ``predict``
below is a :func:`functools.singledispatch` function that :mod:`bayesglmm.predict.fits`
registers each fit type with, so a fit's ``.predict`` method reaches its predictor without
``results`` importing ``predict`` (imports run one way, DESIGN.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatch
from typing import Protocol, runtime_checkable

import pandas as pd

COMPARISON_COLUMNS = ("estimate", "median", "se", "se_empirical", "lower", "upper")
CONDITIONAL, POPULATION_AVERAGED = "conditional", "population-averaged"


@dataclass(frozen=True)
class ComparisonColumns:
    """A fit as :func:`bayesglmm.compare.compare` sees it: what kind of estimate and its numbers.

    ``table`` is indexed by common parameter name with :data:`COMPARISON_COLUMNS`: the point
    estimate (MLE or posterior mean), the posterior median (NaN for ML and GEE), the uncertainty
    (model-based SE or posterior SD), the sandwich SE (NaN for Bayes), and the 95% interval the
    fit reports; ``interval`` says how that interval was made.
    """

    kind: str  # ml | bayes | gee
    method: str  # laplace, agq11, nuts, marginal, laplace-posterior, gee-exchangeable, ...
    scale: str  # CONDITIONAL | POPULATION_AVERAGED
    interval: str
    table: pd.DataFrame


@runtime_checkable
class Fit(Protocol):
    """A fitted model: estimates in the common parameterisation, text and JSON output, predictions."""

    formula: str
    family: str
    link: str

    def params(self) -> pd.DataFrame: ...

    def summary(self) -> str: ...

    def to_dict(self) -> dict: ...

    def predict(
        self, data: pd.DataFrame, scale: str = "response", kind: str | None = None, **options
    ) -> pd.DataFrame: ...


@singledispatch
def predict(fit, data: pd.DataFrame, scale: str = "response", kind: str | None = None, **options) -> pd.DataFrame:
    """Predictions of any fit on ``data``; each fit type registers its own (``bayesglmm.predict``)."""
    raise TypeError(f"predict() takes an MLFit, BayesFit or GEEFit, not {type(fit).__name__}")


@singledispatch
def profile(fit, level: float = 0.95, parameters=None) -> object:
    """Profile-likelihood intervals of a fit; the ML engine registers its fits
    (:func:`bayesglmm.ml.profile.profile_intervals`)."""
    raise TypeError(f"profile intervals are defined for ML fits, not {type(fit).__name__}")


@singledispatch
def bootstrap(fit, sims: int = 1000, out=None, seed: int = 0, workers=None, level: float = 0.95, **options) -> object:
    """Parametric bootstrap of a fit; :mod:`bayesglmm.compare.bootstrap` registers ML fits."""
    raise TypeError(f"the parametric bootstrap is defined for ML fits, not {type(fit).__name__}")
