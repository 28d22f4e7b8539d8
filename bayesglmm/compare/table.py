"""Side-by-side table of fits of one model in the common parameterisation.

Every fit is reduced to the same columns — point estimate (MLE or posterior
mean), posterior median, uncertainty (model-based SE, empirical SE or
posterior SD) and the 95% interval it reports (Wald or equal-tailed
credible) — and compared with one *reference* fit, by default the maximum-
likelihood fit with the most quadrature points:

    std_diff = (estimate − reference estimate) / reference SE,
    se_ratio = uncertainty / reference SE,

with the reference's model-based SE (the quantity a posterior SD estimates
when prior and likelihood agree). For the random-effect SDs, correlations and
family parameters (σ, shape, zi, …) a posterior is compared by its *median*,
not its mean: such posteriors are skewed (an SD's is bounded at 0 and
right-skewed), so their mean lies above the MLE even where prior and
likelihood agree, and that expected gap is not a disagreement; the column
``compared`` says which was used. A row is flagged when |std_diff| or
se_ratio leaves the thresholds the user chose. Fits of the population-
averaged (GEE) kind are listed but never compared with conditional ones:
their coefficients answer a different question.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

import json
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..model.parameters import parameter_kind
from ..results.protocol import COMPARISON_COLUMNS, CONDITIONAL, Fit

SKEWED_KINDS = ("sd", "corr", "family")  # compared by the posterior median (module docstring)

COLUMNS = COMPARISON_COLUMNS


@dataclass(frozen=True)
class FitColumns:
    """One fit as the comparison sees it: a label, what kind of estimate, and its numbers."""

    label: str
    kind: str  # ml | bayes | gee
    method: str  # laplace, agq11, nuts, marginal, laplace-posterior, gee-exch, ...
    scale: str  # conditional | population-averaged
    interval: str  # how lower/upper were made
    table: pd.DataFrame  # index: parameter name; COLUMNS
    fit: object


def fit_columns(fit, label: str | None = None) -> FitColumns:
    """Reduce a fit to the comparison's columns through the fit protocol's ``comparison_columns``
    (:class:`~bayesglmm.results.protocol.ComparisonColumns`; numbers copied, never recomputed)."""
    if not isinstance(fit, Fit):
        raise TypeError(f"compare() takes MLFit, BayesFit or GEEFit objects, not {type(fit).__name__}")
    view = fit.comparison_columns()
    return FitColumns(label or view.method, view.kind, view.method, view.scale, view.interval, view.table, fit)


def _default_reference(columns: list[FitColumns]) -> str:
    """The ML fit with the most quadrature points (Laplace counts as one), else the first conditional fit."""
    ml = [c for c in columns if c.kind == "ml"]
    if ml:
        return max(ml, key=lambda c: c.fit.qpoints if c.fit.method == "agq" else 1).label
    return next(c.label for c in columns if c.scale == CONDITIONAL)


def _unique_labels(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return unique


def _check_same_model(columns: list[FitColumns]) -> None:
    conditional = [c for c in columns if c.scale == CONDITIONAL]
    first = conditional[0]
    for other in conditional[1:]:
        for attribute in ("formula", "family", "link"):
            mine, theirs = getattr(first.fit, attribute), getattr(other.fit, attribute)
            if mine != theirs:
                raise ValueError(
                    f"compare() needs fits of one model: {first.label!r} has {attribute} {mine!r}, "
                    f"{other.label!r} has {theirs!r}"
                )


class Comparison:
    """The table :func:`compare` returns, with its views, flags and plots.

    ``table``: one row per (parameter, fit) with the fit's kind, method and scale,
    ``estimate`` (MLE or posterior mean), ``median`` (posterior), ``se``
    (model-based SE or posterior SD), ``se_empirical``, the 95% interval
    ``lower``/``upper``, ``std_diff``, ``se_ratio`` and ``flag``.
    """

    def __init__(
        self, columns: list[FitColumns], reference: str, max_std_diff: float, se_ratio_range: tuple[float, float]
    ):
        self.fits = {c.label: c for c in columns}
        self.reference = reference
        self.max_std_diff = max_std_diff
        self.se_ratio_range = se_ratio_range
        self.table = self._build()

    def _parameter_order(self) -> list[str]:
        order = list(self.fits[self.reference].table.index)
        for c in self.fits.values():
            order += [name for name in c.table.index if name not in order]
        return order

    def _build(self) -> pd.DataFrame:
        ref = self.fits[self.reference].table
        low, high = self.se_ratio_range
        frames = []
        for c in self.fits.values():
            frame = c.table.copy()
            frame.insert(0, "fit", c.label)
            frame.insert(1, "kind", c.kind)
            frame.insert(2, "method", c.method)
            frame.insert(3, "scale", c.scale)
            frame["interval"] = c.interval
            comparable = c.scale == CONDITIONAL and c.label != self.reference
            ref_est = ref["estimate"].reindex(frame.index)
            ref_se = ref["se"].reindex(frame.index)
            skewed = np.array([parameter_kind(name) in SKEWED_KINDS for name in frame.index])
            by_median = skewed & (c.kind == "bayes") & frame["median"].notna().to_numpy()
            frame["compared"] = np.where(by_median, "median", "estimate")
            point = np.where(by_median, frame["median"], frame["estimate"])
            frame["std_diff"] = (point - ref_est) / ref_se if comparable else np.nan
            frame["se_ratio"] = frame["se"] / ref_se if comparable else np.nan
            frame["flag"] = (frame["std_diff"].abs() > self.max_std_diff) | ~frame["se_ratio"].between(low, high)
            frame["flag"] &= frame["std_diff"].notna()
            frames.append(frame)
        table = pd.concat(frames)
        table.index.name = "name"
        order = {name: i for i, name in enumerate(self._parameter_order())}
        fit_order = {label: i for i, label in enumerate(self.fits)}
        table["_p"], table["_f"] = table.index.map(order), table["fit"].map(fit_order)
        return table.sort_values(["_p", "_f"]).drop(columns=["_p", "_f"]).set_index("fit", append=True)

    def wide(self, column: str = "estimate") -> pd.DataFrame:
        """One column per fit (e.g. ``column="se"``), one row per parameter."""
        wide = self.table[column].unstack("fit")
        return wide.loc[self._parameter_order(), list(self.fits)]

    def flagged(self) -> pd.DataFrame:
        """The rows that disagree with the reference beyond the thresholds."""
        return self.table[self.table["flag"]]

    def to_dict(self) -> dict:
        """Machine-readable form (``bayesglmm compare --json``)."""
        rows = json.loads(self.table.reset_index().to_json(orient="records", double_precision=15))  # NaN -> null
        return {
            "reference": self.reference,
            "max_std_diff": self.max_std_diff,
            "se_ratio_range": list(self.se_ratio_range),
            "fits": [
                {"label": c.label, "kind": c.kind, "method": c.method, "scale": c.scale, "interval": c.interval}
                for c in self.fits.values()
            ],
            "rows": rows,
        }

    def summary(self) -> str:
        from ..results.format import comparison_text

        return comparison_text(self)

    def __str__(self) -> str:
        return self.summary()

    def plot(self, path=None, exponentiate: bool = False) -> Figure:
        """Forest plot of every parameter with each fit's 95% interval (PNG when ``path`` is given);
        ``exponentiate``: the fixed effects as exp(β), odds or rate ratios."""
        from .plots import forest_plot

        return forest_plot(self, path, exponentiate)

    def plot_densities(self, path=None, prior: bool = False) -> Figure:
        """Per parameter, the posterior densities with each ML fit's Wald-interval density on one
        grid; ``prior`` overlays the prior (:func:`~.plots.density_plot`)."""
        from .plots import density_plot

        return density_plot(self, path, prior=prior)


def compare(
    *fits,
    labels=None,
    reference: str | None = None,
    max_std_diff: float = 0.5,
    se_ratio_range: tuple[float, float] = (0.8, 1.25),
) -> Comparison:
    """Compare fits of one model: Laplace, AGQ, NUTS, marginal NUTS, Laplace posterior, GEE.

    Parameters
    ----------
    fits : the fits, in the order their columns should appear.
    labels : optional names for the fits (default: the method, e.g. ``agq11``, ``nuts``).
    reference : label of the fit the others are measured against (default: the ML
        fit with the most quadrature points).
    max_std_diff : flag a row when the absolute difference (estimate − reference) / reference SE exceeds this.
    se_ratio_range : flag uncertainty / reference SE outside this range.
    """
    if not fits:
        raise ValueError("compare() needs at least one fit")
    if labels is not None and len(labels) != len(fits):
        raise ValueError(f"{len(labels)} labels for {len(fits)} fits")
    columns = [fit_columns(fit, None if labels is None else labels[i]) for i, fit in enumerate(fits)]
    unique = _unique_labels([c.label for c in columns])
    columns = [replace(c, label=label) for label, c in zip(unique, columns)]
    if not any(c.scale == CONDITIONAL for c in columns):
        raise ValueError("compare() needs at least one GLMM fit (ML or Bayesian); GEE fits are compared with those")
    _check_same_model(columns)
    reference = reference or _default_reference(columns)
    if reference not in unique:
        raise ValueError(f"reference {reference!r} is not one of the fits: {', '.join(unique)}")
    if columns[unique.index(reference)].scale != CONDITIONAL:
        raise ValueError(f"reference {reference!r} is population-averaged; choose a GLMM fit as the reference")
    if not (0 < se_ratio_range[0] < 1 < se_ratio_range[1]):
        raise ValueError(f"se_ratio_range must bracket 1, got {se_ratio_range}")
    return Comparison(columns, reference, max_std_diff, tuple(se_ratio_range))
