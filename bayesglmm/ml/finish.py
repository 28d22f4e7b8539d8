"""The finishing stage every ML fit shares (one grouping factor by Laplace or AGQ, several by
joint Laplace): from the optimum and the derivatives there to an :class:`~bayesglmm.results.mlfit.MLFit`.

start → minimise → **derivatives at the optimum → inference → optimisation summary → fit**: the
first two differ by engine (:mod:`.fit`, :mod:`.crossed_fit`), the rest is here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..model.spec import ModelSpec
from ..results.mlfit import MLFit
from ..results.parameters import FactorEstimates, OptSummary
from .inference import infer, reported_parameters


@dataclass(frozen=True)
class OptimumDerivatives:
    """What a fit needs at its optimum φ̂: −ℓ, its gradient and Hessian in φ, the per-group scores
    (None when the groups are not independent clusters), the reported quantities and their
    Jacobian in φ, and per grouping factor the conditional modes of b and their conditional SDs."""

    value: float
    gradient: np.ndarray
    hessian: np.ndarray
    scores: np.ndarray | None
    reported: np.ndarray
    report_jacobian: np.ndarray
    modes: tuple[np.ndarray, ...]
    conditional_sds: tuple[np.ndarray, ...]


def finish_fit(
    spec: ModelSpec,
    model,
    factors,
    result,
    at_optimum: OptimumDerivatives,
    *,
    method: str,
    qpoints: int,
    optimizer: str,
    stages,
    phi0: np.ndarray,
    qpoints_table: dict,
    empirical: bool,
    started: float,
) -> MLFit:
    """Standard errors (:func:`~.inference.infer`), the optimisation summary and the fit.

    ``model`` has ``n_params``, ``covariances`` and ``family``; ``factors`` are the spec's random
    factors in the model's order; ``result`` is the optimiser's (:mod:`.optimise`).
    """
    d = at_optimum
    n_params = model.n_params
    scores = d.scores if d.scores is not None else np.full((1, n_params), np.nan)
    inference = infer(d.hessian, scores, d.reported, d.report_jacobian, spec.nobs if d.scores is not None else None)
    seconds = time.perf_counter() - started
    optimization = OptSummary(
        method=method,
        qpoints=qpoints,
        optimizer=optimizer,
        iterations=result.iterations,
        status=result.status,
        message=result.message,
        converged=result.converged,
        gradient_norm=float(np.max(np.abs(np.asarray(d.gradient)))),
        hessian_positive_definite=inference.hessian_positive_definite,
        initial_parameters=phi0,
        final_parameters=result.x,
        stages=tuple(stages),
        qpoints_table=dict(sorted(qpoints_table.items())),
        path=tuple(result.path),
    )
    return MLFit.from_engine(
        spec=spec,
        factors=tuple(FactorEstimates.of(f, m, sd) for f, m, sd in zip(factors, d.modes, d.conditional_sds)),
        method=method,
        qpoints=qpoints,
        loglik=-float(d.value),
        parameters=reported_parameters(model, spec.fixed.names, [(f.group, f.terms) for f in factors]),
        inference=inference,
        n_params=n_params,
        empirical=empirical,
        optimization=optimization,
        seconds=seconds,
    )
