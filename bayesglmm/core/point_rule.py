"""The automatic number of quadrature points, as GLIMMIX chooses it when ``qpoints`` is not given,
for any function that evaluates −2ℓ on a grid.

At given parameters, −2ℓ is evaluated with 1, 3, 5, 7, 9, 11, 15, 21, … points per dimension; the
rule picks the smallest number whose −2ℓ differs from the next one's by less than ``tol``
(absolute, default 0.01).  The ML engine applies it with its own objective
(:mod:`bayesglmm.ml.point_rule`); the full-latent sampler's leave-one-group-out variable with a
single-φ program of its own (:mod:`bayesglmm.bayes.group_loglik`).

Every grid is padded with zero-weight nodes (which change no integral) to a shared size, so that
one compiled program serves several numbers of points (:func:`padded_size`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from ..errors import ConvergenceWarning
from .quadrature import gauss_hermite_grid

QPOINT_SEQUENCE = (1, 3, 5, 7, 9, 11, 15, 21, 31, 41, 51, 75, 101)
# The ML options' defaults (bayesglmm.ml.options.MLOptions: auto_tol, max_nodes, one_program_up_to)
DEFAULT_TOL = 0.01
DEFAULT_MAX_NODES = 3000
ONE_PROGRAM_UP_TO = 50_000_000


def candidate_qpoints(q: int, max_nodes: int = DEFAULT_MAX_NODES) -> list[int]:
    """Numbers of points per dimension whose product grid has at most ``max_nodes`` nodes."""
    return [k for k in QPOINT_SEQUENCE if k**q <= max_nodes]


def compilation_dominates(n_rows: int, nodes: int, up_to: int) -> bool:
    """Whether evaluations of ``n_rows`` rows at ``nodes`` quadrature nodes are cheap next to
    compiling a program: up to ``up_to`` row-node pairs (``MLOptions.one_program_up_to``), a fit
    compiles fewer programs rather than making each evaluation cheaper: the automatic choice of
    points pads every grid to the largest (:func:`padded_size`), and the ML engine's AGQ stage
    takes Newton steps with the exact Hessian instead of BFGS steps, which need a gradient program
    besides (:mod:`bayesglmm.ml.fit`). Measurements behind the default: docs/ml.md, "Speed"."""
    return n_rows * nodes <= up_to


def padded_size(nodes: int, largest: int, n_rows: int, one_program_up_to: int = ONE_PROGRAM_UP_TO) -> int:
    """The number of nodes a grid of ``nodes`` is padded to: the largest candidate's where
    compilation dominates (one program for all grids, :func:`compilation_dominates`), else the
    next power of two (an evaluation costs at most twice its own grid, for a few more
    compilations; measurements in docs/ml.md, "Speed")."""
    if compilation_dominates(n_rows, largest, one_program_up_to):
        return largest
    return min(largest, 1 << (nodes - 1).bit_length())


def padded_grid(qpoints: int, q: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid padded with zero-weight nodes to ``size`` nodes (one compiled shape for all grids of that size)."""
    nodes, log_weights = gauss_hermite_grid(qpoints, q)
    pad = size - nodes.shape[0]
    nodes = np.vstack([nodes, np.zeros((pad, q))])
    log_weights = np.concatenate([log_weights, np.full(pad, -np.inf)])
    return nodes, log_weights


def deviances_by_qpoints(
    deviance_on_grid: Callable[[np.ndarray, np.ndarray], float],
    q: int,
    n_rows: int,
    qpoints_list,
    stop_tol: float | None = None,
    one_program_up_to: int = ONE_PROGRAM_UP_TO,
) -> dict[int, float]:
    """−2ℓ for each number of points per dimension in ``qpoints_list``:
    ``deviance_on_grid(nodes, log_weights)`` on each padded product grid (``n_rows`` rows of data
    decide the padding, :func:`padded_size`).  With ``stop_tol``, stops after the first pair of
    successive values closer than it."""
    largest = max(k**q for k in qpoints_list)
    table: dict[int, float] = {}
    for k in qpoints_list:
        grid = padded_grid(k, q, padded_size(k**q, largest, n_rows, one_program_up_to))
        table[k] = float(deviance_on_grid(*grid))
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


def choose_by_rule(
    deviance_on_grid: Callable[[np.ndarray, np.ndarray], float],
    q: int,
    n_rows: int,
    tol: float = DEFAULT_TOL,
    max_nodes: int = DEFAULT_MAX_NODES,
    one_program_up_to: int = ONE_PROGRAM_UP_TO,
) -> tuple[int, dict[int, float]]:
    """The rule's number of points (the largest candidate if none agrees, with a
    :class:`ConvergenceWarning`), and the table of −2ℓ it used."""
    candidates = candidate_qpoints(q, max_nodes)
    table = deviances_by_qpoints(deviance_on_grid, q, n_rows, candidates, tol, one_program_up_to)
    chosen = rule_choice(table, tol)
    if chosen is None:
        warnings.warn(
            f"-2 log-likelihood did not settle within {tol} up to {candidates[-1]} points per dimension "
            f"({candidates[-1] ** q} nodes); using {candidates[-1]}. Raise max_nodes or give qpoints explicitly.",
            ConvergenceWarning,
            stacklevel=4,
        )
        chosen = candidates[-1]
    return chosen, table
