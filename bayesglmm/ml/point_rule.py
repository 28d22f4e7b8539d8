"""Choosing the number of quadrature points, as GLIMMIX does when ``qpoints`` is not given: the
rule of :mod:`bayesglmm.core.point_rule` with −2ℓ from the ML objective's own program.

At given parameters, −2ℓ is evaluated with 1, 3, 5, 7, 9, 11, 15, 21, … points
per dimension; the rule picks the smallest number whose −2ℓ differs from the
next one's by less than ``tol`` (absolute, default 0.01).  A fit chooses at the
Laplace estimates, fits, and checks the rule again at its own estimates,
raising the number and refitting until the check passes.
"""

from __future__ import annotations

import numpy as np

from .. import _jax  # noqa: F401
from ..core.data import ChunkedData, GroupedData, distinct_groups, grouped_data
from ..core.distinct_rule import rule_on_distinct_phi, worth_it
from ..core.group_likelihood import MarginalModel
from ..core.point_rule import (
    QPOINT_SEQUENCE,
    candidate_qpoints,
    choose_by_rule,
    deviances_by_qpoints,
    rule_choice,
)
from ..core.shapes import SHARED_UP_TO_ROWS
from ..model.spec import ModelSpec
from .objective import _evaluate, program_inputs
from .options import MLOptions

__all__ = ["QPOINT_SEQUENCE", "candidate_qpoints", "choose_qpoints", "deviance_by_qpoints", "rule_choice"]

DEFAULT_TOL = MLOptions.auto_tol
DEFAULT_MAX_NODES = MLOptions.max_nodes
ONE_PROGRAM_UP_TO = MLOptions.one_program_up_to


def deviance_by_qpoints(
    phi,
    modes,
    chunks: ChunkedData,
    model: MarginalModel,
    qpoints_list,
    stop_tol=None,
    one_program_up_to: int = ONE_PROGRAM_UP_TO,
) -> dict[int, float]:
    """−2ℓ at φ for each number of points (adaptive quadrature; grids padded to shared sizes,
    :func:`~bayesglmm.core.point_rule.padded_size`, so that few programs are compiled).

    With ``stop_tol``, stops after the first pair of successive values closer than it.
    """
    return deviances_by_qpoints(
        _deviance_on_grid(phi, modes, chunks, model),
        model.covariance.q,
        chunks.data.y.size,
        qpoints_list,
        stop_tol,
        one_program_up_to,
    )


def _deviance_on_grid(phi, modes, chunks: ChunkedData, model: MarginalModel):
    """−2ℓ at φ as a function of the grid (nodes, log_weights), by the ML objective's program."""
    agq = MarginalModel(model.family, model.covariance, int(chunks.data.X.shape[-1]), "agq")  # as the data's columns
    phi = np.asarray(chunks.padding.embed(phi), dtype=float)

    def deviance_on_grid(nodes, log_weights) -> float:
        value, _ = _evaluate(phi, modes, program_inputs(chunks, nodes, log_weights), agq)
        return 2.0 * float(value)

    return deviance_on_grid


def distinct_for_rule(spec: ModelSpec) -> tuple[GroupedData, np.ndarray] | None:
    """(distinct groups, counts) of ``spec``'s grouping factor where the rule is cheaper on them
    (:func:`~bayesglmm.core.distinct_rule.worth_it`: one chunk, groups that repeat), else None."""
    if spec.nobs > SHARED_UP_TO_ROWS:
        return None
    distinct, counts, _ = distinct_groups(grouped_data(spec))
    return (distinct, counts) if worth_it(int(counts.sum()), len(counts)) else None


def choose_qpoints(
    phi,
    modes,
    chunks: ChunkedData,
    model: MarginalModel,
    tol=DEFAULT_TOL,
    max_nodes=DEFAULT_MAX_NODES,
    one_program_up_to: int = ONE_PROGRAM_UP_TO,
    spec: ModelSpec | None = None,
) -> tuple[int, dict[int, float]]:
    """The rule's number of points at φ (the largest candidate if none agrees, with a warning), and
    the table used; with the ``spec`` of the data, −2ℓ on its distinct groups where that is
    cheaper (:func:`distinct_for_rule`, :mod:`bayesglmm.core.distinct_rule`: the same values, a
    fraction of the work)."""
    distinct = None if spec is None else distinct_for_rule(spec)
    if distinct is not None:
        return rule_on_distinct_phi(
            model.family, model.covariance, phi, model.n_fixed, *distinct, tol, max_nodes, one_program_up_to
        )
    return choose_by_rule(
        _deviance_on_grid(phi, modes, chunks, model),
        model.covariance.q,
        chunks.data.y.size,
        tol,
        max_nodes,
        one_program_up_to,
    )
