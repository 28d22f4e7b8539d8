"""Design rows of new data for a fitted model: X, the random-effect covariates Z and the offset.

Built from the fit's formula with the same machinery as the fit (formulae, R column names);
the columns must come out with the fit's names (a categorical predictor whose levels differ
from the fitted data is an error that says so, not a silent misalignment).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..design import fixed_design
from ..errors import SpecError
from ..formula import parse_formula
from ..spec import evaluate_expression


@dataclass(frozen=True)
class PredictionDesign:
    X: np.ndarray  # (n, p), the fit's fixed-effect columns in its order
    Z: np.ndarray  # (n, q), the fit's random-effect terms (empty with no random part)
    offset: np.ndarray  # (n,)


def _columns(rhs: str, frame: pd.DataFrame, parsed, wanted, what: str) -> np.ndarray:
    design = fixed_design(replace(parsed, fixed=rhs), frame)
    missing = [name for name in wanted if name not in design.names]
    if missing:
        raise SpecError(
            f"the new data do not give the fitted {what} column(s) {', '.join(missing)} (they give "
            f"{', '.join(design.names)}): a categorical predictor needs the levels it was fitted with"
        )
    return design.X[:, [design.names.index(name) for name in wanted]]


def prediction_design(formula: str, frame: pd.DataFrame, fixed_names, group: str | None = None, re_terms=()) -> PredictionDesign:
    """X, Z (the terms of ``group``'s random effects) and offset of ``frame``'s rows under ``formula``.

    The response column is not needed; nor is the group column (conditional predictions look it up).
    """
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise SpecError("predictions need a non-empty pandas DataFrame of covariate values")
    parsed = parse_formula(formula)
    X = _columns(parsed.fixed, frame, parsed, list(fixed_names), "fixed-effect")
    Z = np.zeros((len(frame), 0))
    if re_terms:
        expr = " + ".join(bar.expr for bar in parsed.bars if bar.group == group)
        Z = _columns(expr, frame, parsed, list(re_terms), "random-effect")
    offset = np.zeros(len(frame))
    for expression in parsed.offsets:
        offset = offset + evaluate_expression(frame, expression, "offset")
    return PredictionDesign(X, Z, offset)
