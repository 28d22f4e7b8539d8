"""Design matrices from a parsed formula and a validated data frame.

The fixed-effects design comes from ``formulae`` (treatment coding, the first
category of an ordered categorical as reference); its column and term names
are rewritten to R's ``model.matrix`` conventions so that reference values from
lme4/glmmTMB line up: ``(Intercept)``, ``time:trt`` (variables inside an
interaction in order of first appearance in the formula), ``trt1`` for level
``1`` of factor ``trt``, and terms ordered by degree.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import FormulaError, SpecError
from .formula import ParsedFormula, RandomBar


@dataclass(frozen=True)
class FixedDesign:
    """Fixed-effects design: ``X`` (n, p), column names, and each term's columns."""

    X: np.ndarray
    names: tuple[str, ...]
    terms: tuple[tuple[str, tuple[int, ...]], ...]  # (R term label, column indices)


@dataclass(frozen=True)
class RandomFactor:
    """Random effects of one grouping factor.

    ``Z`` (n, q) holds the random-effect covariates of each row; row r of group
    ``index[r]`` contributes ``Z[r] @ b[index[r]]`` to the linear predictor.
    ``blocks`` partitions the q effects into independent blocks with an
    unstructured covariance each; lme4's ``||`` gives one block per effect
    (SAS ``type=vc``), ``|`` one block for all (``type=un``).
    """

    group: str
    levels: tuple[str, ...]
    index: np.ndarray  # (n,) int, position of each row's level in ``levels``
    terms: tuple[str, ...]
    Z: np.ndarray  # (n, q)
    blocks: tuple[tuple[int, ...], ...]

    @property
    def q(self) -> int:
        return len(self.terms)

    @property
    def structure(self) -> str:
        """``un`` for one correlated block, ``vc`` for independent effects, else ``block``."""
        if len(self.blocks) == 1 and self.q > 1:
            return "un"
        if all(len(block) == 1 for block in self.blocks):
            return "vc" if self.q > 1 else "un"
        return "block"


_SYNTACTIC = re.compile(r"[A-Za-z.][A-Za-z0-9_.]*")
_COMPARISON = re.compile(r"^I\(.*(<|>|==|!=).*\)$")


def _r_variable(name: str) -> str:
    """One variable or call of a formulae label as R prints it: ``I(x^2)`` (formulae: ``I(x ** 2)``),
    ``scale(x)``, a non-syntactic column in backticks (```my var```), a logical ``I(week > 2)TRUE``."""
    name = name.replace(" ** ", "^").replace("r_scale(", "scale(")
    if "(" not in name and not _SYNTACTIC.fullmatch(name):
        return f"`{name}`"
    if _COMPARISON.match(name):
        return name + "TRUE"
    return name


def _r_column_name(label: str, order: dict[str, int]) -> str:
    if label == "Intercept":
        return "(Intercept)"
    parts = label.split(":")
    parts.sort(key=lambda part: order.get(part.split("[")[0], len(order)))
    named = []
    for part in parts:
        level = re.search(r"\[(.*)\]$", part)
        variable = part[: level.start()] if level else part
        named.append(_r_variable(variable) + (level.group(1) if level else ""))
    return ":".join(named)


def _r_term_label(label: str, order: dict[str, int]) -> str:
    if label == "Intercept":
        return "(Intercept)"
    parts = label.split(":")
    parts.sort(key=lambda part: order.get(part, len(order)))
    return ":".join(_r_variable(part).removesuffix("TRUE") for part in parts)


class RScale:
    """R's ``scale(x)``: (x − mean) / sd with the *sample* SD (n − 1), where formulae's ``scale``
    divides by the population SD; the fitted mean and SD are kept for new data (R's predict)."""

    __transform_name__ = "r_scale"

    def __init__(self):
        self.params_set = False
        self.mean = None
        self.sd = None

    def __call__(self, x):
        if not self.params_set:
            values = np.asarray(x, dtype=float)
            self.mean, self.sd = values.mean(), values.std(ddof=1)
            self.params_set = True
        return (np.asarray(x, dtype=float) - self.mean) / self.sd


# Functions R users write inside a formula (formulae evaluates calls in Python).
R_FUNCTIONS = {
    name: getattr(np, name)
    for name in ("log", "exp", "sqrt", "abs", "log1p", "expm1", "log2", "log10", "sin", "cos", "tan", "floor")
}
R_FUNCTIONS["ceiling"] = np.ceil


def _formulae_text(rhs: str) -> str:
    """R's formula text in formulae's dialect: ``^`` is ``**``, ``scale(`` R's sample-SD scaling."""
    return re.sub(r"\bscale\(", "r_scale(", rhs.replace("^", "**"))


def _formulae_matrix(rhs: str, frame: pd.DataFrame):
    from formulae import design_matrices
    from formulae.transforms import register_stateful_transform

    register_stateful_transform(RScale)  # idempotent: formulae's registry of stateful transforms by name
    try:
        # formulae prints notes about dropped rows; rows are dropped (and counted) before this.
        with contextlib.redirect_stdout(io.StringIO()):
            return design_matrices(_formulae_text(rhs), frame, na_action="error", extra_namespace=R_FUNCTIONS).common
    except FormulaError:
        raise
    except Exception as error:  # formulae raises several types for bad terms
        raise FormulaError(f"cannot build the design for '{rhs}': {error}") from error


def fixed_design(parsed: ParsedFormula, frame: pd.DataFrame) -> FixedDesign:
    """The fixed-effects design of ``parsed.fixed`` with R's names and term order."""
    return _named_design(_formulae_matrix(parsed.fixed, frame), parsed)


def _named_design(common, parsed: ParsedFormula) -> FixedDesign:
    """A formulae design (fitted or evaluated on new data) with R's column names and term order."""
    order = {name: position for position, name in enumerate(parsed.variable_order())}
    matrix = np.asarray(common.design_matrix, dtype=float)
    terms = []
    for label, term in common.terms.items():
        columns = range(matrix.shape[1])[common.slices[label]]
        degree = 0 if label == "Intercept" else len(label.split(":"))
        names = [_r_column_name(name, order) for name in term.labels]
        if len(names) != len(columns):  # formulae mislabels some terms (its a/b gives 1 column, 2 labels)
            raise FormulaError(
                f"the columns of term '{label}' cannot be named ({len(columns)} columns, labels {names}); "
                "write nested fixed effects out, e.g. 'a + a:b' instead of 'a/b'"
            )
        terms.append((degree, _r_term_label(label, order), list(columns), names))
    terms.sort(key=lambda item: item[0])  # stable: R orders terms by degree
    columns = [column for _, _, cols, _ in terms for column in cols]
    names = tuple(name for *_, term_names in terms for name in term_names)
    term_index, position = [], 0
    for _, label, cols, _ in terms:
        term_index.append((label, tuple(range(position, position + len(cols)))))
        position += len(cols)
    return FixedDesign(np.ascontiguousarray(matrix[:, columns]), names, tuple(term_index))


def random_factors(parsed: ParsedFormula, frame: pd.DataFrame) -> tuple[RandomFactor, ...]:
    """One :class:`RandomFactor` per grouping factor; bars on the same factor are merged.

    Nested ``(1 | a/b)`` expands to factors ``a`` and ``a:b`` as in lme4.
    """
    by_group: dict[str, list[RandomBar]] = {}
    for bar in parsed.bars:
        for group in _expand_nesting(bar.group):
            by_group.setdefault(group, []).append(bar)
    factors = []
    for group, bars in by_group.items():
        columns, names, blocks = [], [], []
        for bar in bars:
            common = _formulae_matrix(bar.expr, frame)
            block_names = [_r_column_name(label, {}) for term in common.terms.values() for label in term.labels]
            block_cols = np.asarray(common.design_matrix, dtype=float)
            start = len(names)
            for name in block_names:
                if name in names:
                    raise FormulaError(f"random effect '{name}' appears twice for grouping factor '{group}'")
            names.extend(block_names)
            columns.append(block_cols)
            indices = tuple(range(start, start + len(block_names)))
            blocks.extend([indices] if bar.correlated else [(i,) for i in indices])
        levels, index = np.unique(group_labels(group, frame), return_inverse=True)
        factors.append(
            RandomFactor(
                group=group,
                levels=tuple(_level_label(level) for level in levels),
                index=index.astype(np.int64),
                terms=tuple(names),
                Z=np.ascontiguousarray(np.hstack(columns)),
                blocks=tuple(blocks),
            )
        )
    return tuple(factors)


def _expand_nesting(group: str) -> list[str]:
    parts = [part.strip() for part in group.split("/")]
    return [":".join(parts[: i + 1]) for i in range(len(parts))]


def group_labels(group: str, frame: pd.DataFrame) -> np.ndarray:
    """Group value of each row; numeric ids stay numeric so levels sort as numbers.  A nested
    group ``a:b`` (from ``(1 | a/b)``) joins the columns' values with ':'."""
    names = group.split(":")
    if len(names) == 1 and pd.api.types.is_numeric_dtype(frame[names[0]]):
        return frame[names[0]].to_numpy()
    parts = [frame[name].astype(str).to_numpy() for name in names]
    labels = parts[0]
    for part in parts[1:]:
        labels = np.char.add(np.char.add(labels.astype(str), ":"), part.astype(str))
    return labels


def _level_label(level) -> str:
    """'12' for the numeric id 12.0, as R prints factor levels made from numbers."""
    if isinstance(level, (float, np.floating)) and float(level).is_integer():
        return str(int(level))
    return str(level)


def level_strings(column: pd.Series) -> pd.Series:
    """A predictor's values as the level names R would print: ``TRUE``/``FALSE`` for logicals,
    ``1`` (not ``1.0``) for whole numbers held as floats, the text otherwise.

    The fit and every prediction map values to levels through this one function, so new data
    given as ints, floats or strings name the same levels as the fitted data.
    """
    if column.dtype == bool:
        return column.map({True: "TRUE", False: "FALSE"})
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=float)
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return pd.Series(values.astype(np.int64).astype(str), index=column.index)
    return column.map(_level_label).astype(str)


def evaluate_expression(frame: pd.DataFrame, expression: str, role: str) -> np.ndarray:
    """The values of a column or a pandas expression (an offset, cbind's parts) as finite floats;
    ``role`` names it in the SpecError."""
    if expression in frame.columns:
        values = frame[expression]
    else:
        try:
            values = frame.eval(expression)
        except Exception as error:
            raise SpecError(f"cannot evaluate {role} '{expression}': {error}") from error
    values = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise SpecError(f"{role} '{expression}' has non-finite values")
    return values
