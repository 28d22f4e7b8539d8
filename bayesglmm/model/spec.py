"""ModelSpec: what the model is (formula, family, validated data), nothing about fitting.

Build one with :meth:`ModelSpec.from_formula` (Python) or :func:`bayesglmm.toml_spec.load_spec`
(a TOML file).  Engines receive arrays and names from it and never touch the
formula or the data frame.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataWarning, SpecError
from .design import FixedDesign, RandomFactor, evaluate_expression, fixed_design, level_strings, random_factors
from .families import Family, check_counts, make_family, zero_inflated
from .formula import ParsedFormula, parse_formula
from .identifiability import check_random_terms, check_response_varies
from .newdata import DesignTemplate, template_of
from .zi_formula import parse_zi_formula, warn_without_zeros


@dataclass(frozen=True)
class DataSummary:
    """What happened to the rows on the way in (SAS: observations read and used)."""

    nobs_read: int
    nobs_used: int
    dropped_missing: dict = field(default_factory=dict)  # column -> rows with a missing value there
    row_labels: np.ndarray | None = None  # index labels of the rows used, in the data's order


@dataclass(frozen=True)
class ModelSpec:
    """An immutable description of a GLMM and its validated data.

    Arrays are read-only; ``y`` is the number of successes for binomial families
    (``trials`` the number of trials), the response otherwise.
    """

    formula: str
    family: Family
    response: str
    y: np.ndarray
    trials: np.ndarray
    offset: np.ndarray
    fixed: FixedDesign
    random: tuple[RandomFactor, ...]
    data: DataSummary
    template: DesignTemplate | None = field(default=None, compare=False, repr=False)  # for new data
    zi: FixedDesign | None = None  # the zero-inflation formula's design (zero-inflated families)

    @property
    def zi_X(self) -> np.ndarray:
        """Each row's zero-inflation design (n, k): the families' ``covariates``, (n, 0) without zi."""
        return self.zi.X if self.zi is not None else np.zeros((self.nobs, 0))

    @property
    def nobs(self) -> int:
        return int(self.y.shape[0])

    @property
    def fixed_names(self) -> tuple[str, ...]:
        return self.fixed.names

    @classmethod
    def from_formula(
        cls,
        formula: str,
        data: pd.DataFrame,
        family: str | Family,
        link: str | None = None,
        trials: str | None = None,
        reference: dict | None = None,
        zi: str | None = None,
    ) -> ModelSpec:
        """Validate ``data`` against an lme4 ``formula`` and build the spec.

        ``family`` (required, as in lme4's ``glmer``): ``bernoulli`` (0/1), ``binomial`` (with ``trials`` = a column of
        numbers of trials and a response of successes or proportions, or a
        ``cbind(successes, failures)`` response), ``poisson`` or ``gaussian``.
        ``reference`` maps a categorical column to its reference level.  ``zi``: a one-sided
        formula of the zero-inflation probability's logit (``"~ 1"``, ``"~ trt"``; glmmTMB's
        ``ziformula``, brms's ``zi ~``), which makes a Poisson or NB2 family zero-inflated (the
        families ``zipoisson`` and ``zinbinom2`` default to ``"~ 1"``).
        Rows with a missing value in any column the model uses are dropped, counted
        and reported with a :class:`~bayesglmm.errors.DataWarning`.
        """
        fam = family if isinstance(family, Family) else make_family(family, link)
        parsed = parse_formula(formula)
        if not isinstance(data, pd.DataFrame):
            raise SpecError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if fam.counts_of_trials and parsed.cbind is None and trials is None:
            if not _binary_column(data, parsed.response):
                raise SpecError(
                    "family 'binomial' needs the number of trials: pass trials='column' (CLI: --trials COLUMN, "
                    'TOML: trials = "column") or write the response as cbind(successes, failures); '
                    "a 0/1 response is fitted as Bernoulli"
                )
            fam = make_family("bernoulli", fam.link)  # R's convention (glm, glmer): binomial with a 0/1 response
        if trials is not None and not fam.counts_of_trials:
            raise SpecError(
                f"trials={trials!r} (CLI --trials, TOML trials) is for family 'binomial'; family {fam.name!r} has "
                "no number of trials — drop it or use family='binomial'"
            )
        if parsed.cbind is not None and not fam.is_binomial:
            raise SpecError(f"a cbind(successes, failures) response needs a binomial family, not {fam.name!r}")
        zi_parsed = parse_zi_formula(zi, parsed, fam)
        frame, summary = _select_rows(parsed, data, trials, zi_parsed.columns() if zi_parsed else [])
        frame = _categoricals(frame, parsed, reference or {})
        if zi_parsed is not None:
            frame = _categoricals(frame, zi_parsed, reference or {})
        y, n_trials = _response(parsed, frame, fam, trials)
        check_response_varies(fam, y, n_trials, parsed.response or parsed.cbind[0])
        offset = np.zeros(len(frame))
        for expression in parsed.offsets:
            offset = offset + evaluate_expression(frame, expression, "offset")
        fixed = fixed_design(parsed, frame)
        _check_finite(fixed.X, fixed.names, "fixed-effect")
        _check_rank(fixed)
        zi_design = None
        if zi_parsed is not None:
            zi_design = fixed_design(zi_parsed, frame)
            _check_finite(zi_design.X, zi_design.names, "zero-inflation")
            _check_rank(zi_design)
            fam = zero_inflated(fam, zi_design.names)
            warn_without_zeros(y, parsed.response)
        random = random_factors(parsed, frame)
        for factor in random:
            _check_finite(factor.Z, factor.terms, f"random-effect ({factor.group})")
        for factor in random:
            check_random_terms(factor, fam, n_trials)
            if len(factor.levels) < 2:
                raise SpecError(
                    f"grouping factor '{factor.group}' has only one level ({factor.levels[0]!r}) in the rows "
                    "used; a random effect needs at least two groups — drop the term or fit a GLM"
                )
        return cls(
            formula=formula,
            family=fam,
            response=parsed.response or parsed.cbind[0],
            y=_readonly(y),
            trials=_readonly(n_trials),
            offset=_readonly(offset),
            fixed=fixed,
            random=random,
            data=summary,
            template=template_of(
                formula, frame, [parsed.response, *(parsed.cbind or ()), trials], zi_parsed.fixed if zi_parsed else ""
            ),
            zi=None if zi_design is None else FixedDesign(_readonly(zi_design.X), zi_design.names, zi_design.terms),
        )


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=float)
    array.flags.writeable = False
    return array


def _select_rows(parsed: ParsedFormula, data: pd.DataFrame, trials: str | None, zi_columns=()):
    needed = parsed.columns() + ([trials] if trials else [])
    needed += [name for name in zi_columns if name not in needed]
    missing_columns = [name for name in needed if name not in data.columns]
    if missing_columns:
        raise SpecError(
            f"column{'s' if len(missing_columns) > 1 else ''} "
            f"{', '.join(repr(n) for n in missing_columns)} not found in the data; "
            f"the data has columns {', '.join(map(str, data.columns))}"
        )
    used = data[needed]
    is_missing = used.isna()
    dropped = {name: int(count) for name, count in is_missing.sum().items() if count}
    keep = ~is_missing.any(axis=1).to_numpy()
    if not keep.any():
        raise SpecError("no rows are left after dropping rows with missing values in " + ", ".join(dropped))
    if dropped:
        warnings.warn(
            f"{int((~keep).sum())} of {len(data)} rows dropped for missing values "
            f"({', '.join(f'{name}: {count}' for name, count in dropped.items())}); "
            f"{int(keep.sum())} observations used",
            DataWarning,
            stacklevel=3,
        )
    frame = data.loc[keep].copy()
    summary = DataSummary(len(data), int(keep.sum()), dropped, data.index.to_numpy()[keep])
    return frame, summary


def _categoricals(frame: pd.DataFrame, parsed: ParsedFormula, reference: dict) -> pd.DataFrame:
    """Non-numeric predictors become ordered categoricals with the reference level first.

    Levels are named by :func:`~bayesglmm.model.design.level_strings` (R's ``TRUE``/``FALSE``, ``1`` for
    a whole number); a pandas Categorical keeps its categories' order (R's factor levels), other
    columns are sorted (R's ``factor()``).
    """
    for name in reference:
        if name not in frame.columns:
            raise SpecError(f"reference level given for unknown column {name!r}")
    predictors = set(parsed.columns()) - {parsed.response, *(parsed.cbind or ())}
    for name in predictors:
        column = frame[name]
        if name in reference or not pd.api.types.is_numeric_dtype(column) or column.dtype == bool:
            strings = level_strings(column)
            present = set(strings)
            if isinstance(column.dtype, pd.CategoricalDtype):
                levels = [level for level in level_strings(pd.Series(column.cat.categories)) if level in present]
            else:
                levels = sorted(present)
            if name in reference:
                ref = str(reference[name])
                if ref not in levels:
                    raise SpecError(f"reference level {ref!r} is not a value of column {name!r} (values: {levels})")
                levels = [ref] + [level for level in levels if level != ref]
            frame[name] = pd.Categorical(strings, categories=levels, ordered=True)
    return frame


def _response(parsed: ParsedFormula, frame: pd.DataFrame, family: Family, trials: str | None):
    if parsed.cbind is not None:
        successes = evaluate_expression(frame, parsed.cbind[0], "successes")
        failures = evaluate_expression(frame, parsed.cbind[1], "failures")
        n = successes + failures
        check_counts(successes, parsed.cbind[0], "successes")
        check_counts(failures, parsed.cbind[1], "failures")
        return successes, n
    name = parsed.response
    column = frame[name]
    if column.dtype == bool:
        column = column.astype(float)
    if not pd.api.types.is_numeric_dtype(column):
        column = _factor_response(column, name, family)
    y = column.to_numpy(dtype=float)
    if not np.all(np.isfinite(y)):
        raise SpecError(
            f"response column '{name}' has {int(np.sum(~np.isfinite(y)))} infinite value(s); fix or drop those rows"
        )
    return family.check_response(y, name, None if trials is None else frame[trials].to_numpy(dtype=float), trials)


def _factor_response(column: pd.Series, name: str, family: Family) -> pd.Series:
    """A two-level factor or string response as 0/1, the first level the failure (R's ``glm``/``glmer``:
    levels in the Categorical's order, else sorted), said in a :class:`DataWarning`."""
    if not family.is_binomial:
        raise SpecError(
            f"response column '{name}' is not numeric (dtype {column.dtype}); family '{family.name}' needs numbers"
        )
    if isinstance(column.dtype, pd.CategoricalDtype):
        levels = [level for level in column.cat.categories if level in set(column)]
    else:
        levels = sorted(pd.unique(column.astype(str)))
        column = column.astype(str)
    if len(levels) != 2:
        raise SpecError(
            f"response column '{name}' has {len(levels)} distinct value(s) {list(levels)[:6]}; a factor response "
            "of a binary model needs exactly two (the first is the failure, as in R)"
        )
    warnings.warn(
        f"response '{name}' is a factor: {levels[1]!r} is the event (1) and {levels[0]!r} the failure (0), as R's "
        "glm/glmer take the first level as failure; give a Categorical with the order you want to change it",
        DataWarning,
        stacklevel=4,
    )
    return (column == levels[1]).astype(float)


def _check_finite(matrix: np.ndarray, names, what: str) -> None:
    """Error naming the design columns with infinite values (R's model.frame refuses them too)."""
    bad = ~np.isfinite(matrix)
    if bad.any():
        columns = [f"{names[j]!r} ({int(bad[:, j].sum())} rows)" for j in np.flatnonzero(bad.any(axis=0))]
        raise SpecError(
            f"{what} column(s) {', '.join(columns)} have infinite values; fix or drop those rows "
            "(missing values are dropped automatically, infinite ones are not)"
        )


def _check_rank(fixed: FixedDesign) -> None:
    """Error naming the columns that are linear combinations of earlier ones (R would give NA)."""
    from scipy.linalg import qr

    X = fixed.X
    if X.shape[1] == 0:
        return
    scale = np.linalg.norm(X, axis=0)
    if np.any(scale == 0):
        zero = [fixed.names[j] for j in np.flatnonzero(scale == 0)]
        raise SpecError(f"fixed-effect column(s) {zero} are all zero in the rows used; drop them from the formula")
    _, R, pivot = qr(X / scale, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > diag[0] * 1e-10 * max(X.shape)))
    if rank < X.shape[1]:
        aliased = [fixed.names[j] for j in sorted(pivot[rank:])]
        raise SpecError(
            f"the fixed-effects design is rank deficient (rank {rank} of {X.shape[1]} columns): "
            f"{', '.join(repr(n) for n in aliased)} {'is a linear combination' if len(aliased) == 1 else 'are linear combinations'} "
            "of other columns; remove them from the formula"
        )


def _binary_column(data: pd.DataFrame, name: str | None) -> bool:
    """True when ``name`` is a column whose values (missing ones aside) are 0/1, booleans or two
    levels: what R's ``binomial`` fits as Bernoulli without a number of trials."""
    if name is None or name not in data.columns:
        return False
    column = data[name].dropna()
    if column.dtype == bool or not pd.api.types.is_numeric_dtype(column):
        return column.nunique() <= 2
    return bool(np.isin(column.to_numpy(), (0, 1)).all())
