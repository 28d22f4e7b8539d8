"""The fitted design applied to new data: the same columns, levels, reference and transforms.

A fit keeps a :class:`DesignTemplate`: its formula, the levels of each categorical predictor
(reference first) and the predictor columns of the rows it used.  New rows are built by
formulae's ``evaluate_new_data`` on the design of those fitted rows, so that

* a factor keeps the fitted levels and reference whatever levels the new rows hold (one
  patient's rows, a grid with one treatment, a pandas Categorical);
* stateful transforms (``scale(x)``, ``center(x)``) use the fitted data's mean and SD, as R's
  ``predict`` does through ``makepredictcall``;
* a level that the fit never saw is an error naming the column and the level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import SpecError
from .design import _formulae_matrix, _named_design, _r_column_name, evaluate_expression, level_strings
from .formula import expression_columns, parse_formula


@dataclass(frozen=True)
class DesignTemplate:
    """What new data need to reproduce a fit's design matrices (see the module docstring)."""

    formula: str
    levels: tuple[tuple[str, tuple[str, ...]], ...]  # categorical predictor -> its levels, reference first
    frame: pd.DataFrame = field(compare=False, repr=False)  # the fitted rows' predictor columns
    zi: str = ""  # the zero-inflation formula's right-hand side ("" without one)

    def coerce(self, new: pd.DataFrame, columns) -> pd.DataFrame:
        """``new``'s ``columns`` with each categorical one as a Categorical of the fitted levels."""
        if not isinstance(new, pd.DataFrame) or new.empty:
            raise SpecError("predictions need a non-empty pandas DataFrame of covariate values")
        missing = [name for name in columns if name not in new.columns]
        if missing:
            raise SpecError(
                f"the new data lack column(s) {', '.join(repr(n) for n in missing)} that the model uses; "
                f"they have {', '.join(map(str, new.columns))}"
            )
        frame = new[list(columns)].copy()
        for name, levels in self.levels:
            if name not in frame.columns:
                continue
            if frame[name].isna().any():
                raise SpecError(f"column {name!r} of the new data has missing values; predictions need every covariate")
            strings = level_strings(frame[name])
            unseen = sorted(set(strings) - set(levels))
            if unseen:
                raise SpecError(
                    f"column {name!r} of the new data has level(s) {', '.join(repr(u) for u in unseen)} not seen in the "
                    f"fit (fitted levels: {', '.join(repr(level) for level in levels)})"
                )
            frame[name] = pd.Categorical(strings, categories=list(levels), ordered=True)
        return frame

    def _evaluate(self, rhs: str, new: pd.DataFrame):
        fitted = _formulae_matrix(rhs, self.frame)
        columns = [name for name in expression_columns(rhs) if name in self.frame.columns]
        frame = self.coerce(new, columns)
        try:
            return fitted.evaluate_new_data(frame)
        except SpecError:
            raise
        except Exception as error:  # formulae raises several types for values it cannot use
            raise SpecError(f"cannot build the design of the new data for '{rhs}': {error}") from error

    def fixed(self, new: pd.DataFrame, names) -> np.ndarray:
        """The fixed-effects design (n, p) of ``new`` in the fit's column order ``names``."""
        parsed = parse_formula(self.formula)
        design = _named_design(self._evaluate(parsed.fixed, new), parsed)
        return _in_order(design.X, design.names, names, "fixed-effect")

    def zi_design(self, new: pd.DataFrame, names) -> np.ndarray:
        """The zero-inflation design (n, k) of ``new`` in the fit's column order ``names``."""
        if not self.zi:
            return np.zeros((len(new), 0))
        parsed = parse_formula(f"y ~ {self.zi}")
        design = _named_design(self._evaluate(parsed.fixed, new), parsed)
        return _in_order(design.X, design.names, names, "zero-inflation")

    def random(self, new: pd.DataFrame, group: str, terms) -> np.ndarray:
        """The random-effect covariates (n, q) of grouping factor ``group`` in the fit's term order."""
        parsed = parse_formula(self.formula)
        blocks = [bar.expr for bar in parsed.bars if group in _nested(bar.group)]
        columns, names = [], []
        for expr in blocks:
            common = self._evaluate(expr, new)
            columns.append(np.asarray(common.design_matrix, dtype=float))
            names += [_r_column_name(label, {}) for term in common.terms.values() for label in term.labels]
        X = np.hstack(columns) if columns else np.zeros((len(new), 0))
        return _in_order(X, names, terms, "random-effect")

    def offset(self, new: pd.DataFrame) -> np.ndarray:
        """The summed ``offset(...)`` terms of the formula on ``new``'s rows."""

        total = np.zeros(len(new))
        for expression in parse_formula(self.formula).offsets:
            total = total + evaluate_expression(new, expression, "offset")
        return total

    def to_dict(self) -> dict:
        """A JSON-ready form (a saved Bayesian fit carries it): categoricals as their level names."""
        frame = self.frame.astype({name: object for name, _ in self.levels})
        return {
            "formula": self.formula,
            "levels": [[name, list(levels)] for name, levels in self.levels],
            "frame": {name: frame[name].tolist() for name in frame.columns},
            "zi": self.zi,
        }

    @classmethod
    def from_dict(cls, record: dict) -> DesignTemplate:
        levels = tuple((name, tuple(values)) for name, values in record["levels"])
        frame = pd.DataFrame(record["frame"])
        for name, values in levels:
            frame[name] = pd.Categorical(frame[name].astype(str), categories=list(values), ordered=True)
        return cls(record["formula"], levels, frame, record.get("zi", ""))


def _nested(group: str) -> list[str]:
    parts = [part.strip() for part in group.split("/")]
    return [":".join(parts[: i + 1]) for i in range(len(parts))]


def _in_order(X: np.ndarray, names, wanted, what: str) -> np.ndarray:
    names, wanted = list(names), list(wanted)
    missing = [name for name in wanted if name not in names]
    if missing:  # not expected: the design is evaluated on the fitted levels
        raise SpecError(f"the new data do not give the fitted {what} column(s) {', '.join(missing)}")
    return X[:, [names.index(name) for name in wanted]]


def template_of(formula: str, frame: pd.DataFrame, response_columns, zi: str = "") -> DesignTemplate:
    """The template of a fit on ``frame`` (the validated rows, categoricals already made); ``zi``
    the right-hand side of the zero-inflation formula."""
    parsed = parse_formula(formula)
    columns = parsed.columns() + (expression_columns(zi) if zi else [])
    predictors = list(
        dict.fromkeys(name for name in columns if name in frame.columns and name not in set(response_columns))
    )
    kept = frame[predictors].copy()
    levels = tuple(
        (name, tuple(str(c) for c in kept[name].cat.categories))
        for name in predictors
        if isinstance(kept[name].dtype, pd.CategoricalDtype)
    )
    kept.index = pd.RangeIndex(len(kept))
    return DesignTemplate(formula, levels, kept, zi)
