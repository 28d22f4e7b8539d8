"""Choosing the number of quadrature points, as GLIMMIX does when ``qpoints`` is not given.

At given parameters, −2ℓ is evaluated with 1, 3, 5, 7, 9, 11, 15, 21, … points
per dimension; the rule picks the smallest number whose −2ℓ differs from the
next one's by less than ``tol`` (absolute, default 0.01).  A fit chooses at the
Laplace estimates, fits, and checks the rule again at its own estimates,
raising the number and refitting until the check passes.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _jax  # noqa: F401
from ..core.data import ChunkedData
from ..core.group_likelihood import MarginalModel
from ..core.quadrature import gauss_hermite_grid
from ..errors import ConvergenceWarning
from .objective import _evaluate, compilation_dominates, program_inputs
from .options import MLOptions

QPOINT_SEQUENCE = (1, 3, 5, 7, 9, 11, 15, 21, 31, 41, 51, 75, 101)
DEFAULT_TOL = MLOptions.auto_tol
DEFAULT_MAX_NODES = MLOptions.max_nodes
ONE_PROGRAM_UP_TO = MLOptions.one_program_up_to


def candidate_qpoints(q: int, max_nodes: int = DEFAULT_MAX_NODES) -> list[int]:
    """Numbers of points per dimension whose product grid has at most ``max_nodes`` nodes."""
    return [k for k in QPOINT_SEQUENCE if k**q <= max_nodes]


def _padded_size(nodes: int, largest: int, n_rows: int, one_program_up_to: int = ONE_PROGRAM_UP_TO) -> int:
    """The number of nodes a grid of ``nodes`` is padded to: the largest candidate's where
    compilation dominates (one program for all grids, :func:`~.objective.compilation_dominates`),
    else the next power of two (an evaluation costs at most twice its own grid, for a few more
    compilations; measurements in docs/ml.md, "Speed")."""
    if compilation_dominates(n_rows, largest, one_program_up_to):
        return largest
    return min(largest, 1 << (nodes - 1).bit_length())


def _padded_grid(qpoints: int, q: int, size: int):
    """The grid padded with zero-weight nodes to ``size`` nodes (one compiled shape for all grids of that size)."""
    nodes, log_weights = gauss_hermite_grid(qpoints, q)
    pad = size - nodes.shape[0]
    nodes = np.vstack([nodes, np.zeros((pad, q))])
    log_weights = np.concatenate([log_weights, np.full(pad, -np.inf)])
    return nodes, log_weights


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
    :func:`_padded_size`, so that few programs are compiled).

    With ``stop_tol``, stops after the first pair of successive values closer than it.
    """
    agq = MarginalModel(model.family, model.covariance, int(chunks.data.X.shape[-1]), "agq")  # as the data's columns
    phi = chunks.padding.embed(phi)
    q = model.covariance.q
    largest = max(k**q for k in qpoints_list)
    table: dict[int, float] = {}
    for k in qpoints_list:
        nodes, log_weights = _padded_grid(k, q, _padded_size(k**q, largest, chunks.data.y.size, one_program_up_to))
        value, _ = _evaluate(np.asarray(phi, dtype=float), modes, program_inputs(chunks, nodes, log_weights), agq)
        table[k] = 2.0 * float(value)
        values = list(table.values())
        if stop_tol is not None and len(values) > 1 and abs(values[-1] - values[-2]) < stop_tol:
            break
    return table


def rule_choice(table: dict[int, float], tol: float) -> int | None:
    """Smallest k whose −2ℓ is within ``tol`` of the next k's in ``table``; None if none is."""
    ks = list(table)
    for smaller, larger in zip(ks, ks[1:]):
        if abs(table[smaller] - table[larger]) < tol:
            return smaller
    return None


def choose_qpoints(
    phi,
    modes,
    chunks: ChunkedData,
    model: MarginalModel,
    tol=DEFAULT_TOL,
    max_nodes=DEFAULT_MAX_NODES,
    one_program_up_to: int = ONE_PROGRAM_UP_TO,
) -> tuple[int, dict[int, float]]:
    """The rule's number of points at φ (the largest candidate if none agrees), and the table used."""
    candidates = candidate_qpoints(model.covariance.q, max_nodes)
    table = deviance_by_qpoints(
        phi, modes, chunks, model, candidates, stop_tol=tol, one_program_up_to=one_program_up_to
    )
    chosen = rule_choice(table, tol)
    if chosen is None:
        warnings.warn(
            f"-2 log-likelihood did not settle within {tol} up to {candidates[-1]} points per dimension "
            f"({candidates[-1] ** model.covariance.q} nodes); using {candidates[-1]}. Raise max_nodes or "
            "give qpoints explicitly.",
            ConvergenceWarning,
            stacklevel=3,
        )
        chosen = candidates[-1]
    return chosen, table
