"""``sampler="auto"``: the marginal sampler where it applies and is cheap enough, else the full-latent one.

The rule, in order:

1. **More than one grouping factor** (nested or crossed): ``"full"`` — the marginal sampler
   integrates one factor by quadrature.
2. **One grouping factor**: the cost of one marginal-likelihood gradient is about proportional to
   the rows of the *distinct* groups (groups with identical rows are integrated once,
   :func:`~bayesglmm.core.data.distinct_groups`) times the quadrature nodes, points**q, with the
   points the marginal sampler would use (``qpoints``, an AGQ ``ml_fit``'s, else the ML engine's
   automatic rule at the Laplace ML estimates, evaluated on the distinct groups: :mod:`~bayesglmm.core.distinct_rule`). Up to :data:`MARGINAL_ROW_NODES` row-node pairs:
   ``"marginal"``; above: ``"full"``.

Why: the full-latent sampler meets the funnel of the random-effect SDs and mixes slowly where the
marginal one does not, whose cost grows linearly in the row-node pairs; on the seed models the two
break even near 2 million pairs (docs/measurements.md, docs/bayes.md "Checks and numbers").

The ML fit the rule needs is handed on to the marginal sampler, so the choice costs nothing
extra when it picks ``"marginal"``; the full sampler is chosen without any fit where even one
point per dimension would exceed the budget.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..core.data import distinct_groups, group_patterns, grouped_data
from ..errors import SingularFitWarning
from ..model.spec import ModelSpec

MARGINAL_ROW_NODES = 2_000_000


@dataclass(frozen=True)
class SamplerChoice:
    """The sampler ``"auto"`` chose, why (one sentence, printed and kept in the fit's record), and
    the ML fit made on the way (None if none was needed) with the automatic rule's number of points
    at its estimates (None where the rule was not run), for the marginal sampler to reuse."""

    sampler: str
    reason: str
    ml_fit: object = None
    rule_qpoints: int | None = None


def distinct_rows(spec: ModelSpec) -> tuple[int, int]:
    """(distinct groups, their rows) of the one grouping factor: what the marginal program integrates."""
    return _distinct_rows(grouped_data(spec))[:2]


def _distinct_rows(data) -> tuple[int, int, np.ndarray]:
    """:func:`distinct_rows` of grouped data, and each group's pattern (:func:`~bayesglmm.core.data.group_patterns`)."""
    pattern = group_patterns(data)
    representatives = np.unique(pattern, return_index=True)[1]  # the first group of each pattern
    sizes = np.bincount(np.asarray(data.group), minlength=data.n_groups)
    return len(representatives), int(np.sum(sizes[representatives])), pattern


def choose_sampler(spec: ModelSpec, qpoints: int | None = None, ml_fit=None) -> SamplerChoice:
    """The sampler for ``sampler="auto"`` by the rule of the module docstring."""
    if len(spec.random) != 1:
        names = ", ".join(f.group for f in spec.random)
        return SamplerChoice(
            "full", f"{len(spec.random)} grouping factors ({names}); the marginal sampler integrates one"
        )
    q = spec.random[0].q
    data = grouped_data(spec)
    groups, rows, pattern = _distinct_rows(data)
    if rows > MARGINAL_ROW_NODES:
        return SamplerChoice(
            "full", f"{groups} distinct groups with {rows} rows exceed {MARGINAL_ROW_NODES:,} row-node pairs"
        )
    if qpoints is None and ml_fit is not None and ml_fit.method == "agq":
        qpoints = ml_fit.qpoints
    rule_qpoints = None
    if qpoints is None:
        from ..core.distinct_rule import rule_for_spec
        from ..ml import fit_ml

        if ml_fit is None:
            with warnings.catch_warnings():  # the ML fit's singular-fit warning is about its SEs
                warnings.simplefilter("ignore", SingularFitWarning)
                ml_fit = fit_ml(spec, "laplace")
        estimates = ml_fit.params()["estimate"]
        sigma = spec.family.extra_from_params(lambda name: float(estimates[name]))
        qpoints = rule_for_spec(spec, ml_fit.beta.to_numpy(), ml_fit.G, sigma, distinct_groups(data, pattern)[:2])
        rule_qpoints = int(qpoints)
    pairs = rows * int(qpoints) ** q
    where = f"{groups} distinct groups, {rows} rows x {qpoints}^{q} nodes = {pairs:,} row-node pairs"
    if pairs > MARGINAL_ROW_NODES:
        return SamplerChoice("full", f"{where} > {MARGINAL_ROW_NODES:,}", ml_fit, rule_qpoints)
    return SamplerChoice("marginal", f"one grouping factor, {where} <= {MARGINAL_ROW_NODES:,}", ml_fit, rule_qpoints)
