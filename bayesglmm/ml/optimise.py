"""Newton and quasi-Newton minimisation with exact (autodiff) derivatives, for a few parameters.

The loop runs in Python over compiled pieces of an :class:`Objective`, so each
piece compiles once per model and data shape and is reused by every stage and
by the inference step.  Each iteration solves with the Hessian after its
eigenvalues are made positive (|λ|, floored: "modified Newton", Nocedal &
Wright 2006, section 3.4), caps the step length and backtracks until the Armijo
condition holds.  With ``exact_hessian=False`` the Hessian is a BFGS update of
the one given (for adaptive quadrature, the Laplace fit's Hessian is a good
start and an exact Hessian costs ten gradients).

The objective carries auxiliary state, the conditional modes of the random
effects: every evaluation is warm-started from the modes at the last accepted
point.

Return codes (``status``): 0 converged (max |gradient| <= gtol); 1 converged
(no further decrease possible and max |gradient| <= 1e-3, e.g. at a boundary);
2 iteration limit; 3 line search failed with a larger gradient; 4 converged (the
objective fell by less than ``flat_tol`` in each of the last ``flat_iterations``
iterations, or in the last one before a failed line search). Code 4 is the boundary case in
log-Cholesky coordinates (the several-factor engine, :mod:`.crossed`): a fit that drifts towards a
singular covariance (a correlation going to ±1 is infinitely far there) keeps a gradient far
above any absolute tolerance while the log-likelihood no longer moves (measured with the
one-factor engine when it used those coordinates: 20,000 groups, changes of 1e-8 per iteration
while max |gradient| wandered between 5e-5 and 0.04).  The one-factor engine's signed Cholesky
coordinates put that boundary at 0, which Newton reaches (:mod:`.covariance`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

# Relative size of the objective's rounding noise below which a predicted decrease is not resolved.
RESOLUTION = 1e-12

STATUS_MESSAGES = {
    0: "converged: gradient below tolerance",
    1: "converged: no step decreases the objective further, gradient small (numerical precision reached)",
    2: "iteration limit reached",
    3: "line search failed: no step decreases the objective",
    4: "converged: the log-likelihood stopped changing (flat optimum; possibly at a boundary)",
}


class Objective(Protocol):
    """What the optimiser needs; see :class:`bayesglmm.ml.objective.MarginalObjective`."""

    def evaluate(self, x, aux) -> tuple: ...  # (value, aux at x)

    def value_and_gradient(self, x, aux) -> tuple: ...  # (value, gradient)

    def derivatives(self, x, aux) -> tuple: ...  # (value, gradient, hessian, per-group scores)


@dataclass(frozen=True)
class OptimumResult:
    """Where the optimiser stopped, why, and the path it took (MixedModels.jl's fitlog)."""

    x: np.ndarray
    value: float
    gradient: np.ndarray
    iterations: int
    status: int
    aux: object = None
    hessian: np.ndarray | None = None  # exact or BFGS Hessian at x
    path: list = field(default_factory=list)  # (iteration, objective, max |gradient|)

    @property
    def converged(self) -> bool:
        return self.status in (0, 1, 4) and bool(np.all(np.isfinite(self.x))) and bool(np.isfinite(self.value))

    @property
    def message(self) -> str:
        return STATUS_MESSAGES[self.status]

    @property
    def gradient_norm(self) -> float:
        return float(np.max(np.abs(self.gradient))) if self.gradient.size else 0.0


def _newton_direction(hessian: np.ndarray, gradient: np.ndarray, max_step: float) -> np.ndarray:
    eigenvalues, vectors = np.linalg.eigh(0.5 * (hessian + hessian.T))
    floor = max(1e-10 * np.max(np.abs(eigenvalues)), 1e-12)
    direction = -vectors @ ((vectors.T @ gradient) / np.maximum(np.abs(eigenvalues), floor))
    longest = np.max(np.abs(direction))
    return direction * min(1.0, max_step / longest) if longest > 0 else direction


def minimize(
    objective: Objective,
    x0,
    aux0,
    hessian0: np.ndarray | None = None,
    exact_hessian: bool = True,
    max_iter: int = 200,
    gtol: float = 1e-6,
    max_step: float = 3.0,
    flat_tol: float = 1e-5,
    flat_iterations: int = 3,
) -> OptimumResult:
    """Minimise ``objective`` from ``x0`` (modes warm-started from ``aux0``).

    ``exact_hessian=False`` needs ``hessian0`` and updates it by BFGS; an exact
    Hessian is computed whenever the line search fails with an approximate one.
    """
    x = np.asarray(x0, dtype=float)
    value, aux = objective.evaluate(x, aux0)
    if exact_hessian or hessian0 is None:
        value, gradient, hessian, _ = objective.derivatives(x, aux)
        hessian_is_exact = True
    else:
        value, gradient = objective.value_and_gradient(x, aux)
        hessian, hessian_is_exact = np.array(hessian0, dtype=float), False
    value, gradient, hessian = float(value), np.asarray(gradient), np.asarray(hessian)
    path, status, iteration = [(0, value, float(np.max(np.abs(gradient))))], 2, 0
    flat_run = 0  # consecutive iterations that lowered the objective by less than flat_tol
    while iteration < max_iter:
        gmax = float(np.max(np.abs(gradient)))
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            status = 3
            break
        if gmax <= gtol:
            status = 0
            break
        direction = _newton_direction(hessian, gradient, max_step)
        slope = float(gradient @ direction)
        # Near the optimum the predicted decrease can fall below what the objective's rounding
        # resolves (a sum of 10⁴ terms): the full step is then taken unless it visibly rises.
        resolution = RESOLUTION * (1.0 + abs(value))
        alpha, accepted = 1.0, False
        for _ in range(40):
            candidate, candidate_aux = objective.evaluate(x + alpha * direction, aux)
            candidate = float(candidate)
            unresolved = alpha == 1.0 and -slope <= resolution and candidate <= value + resolution
            if np.isfinite(candidate) and (candidate <= value + 1e-4 * alpha * slope or unresolved):
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            if not hessian_is_exact:  # retry from an exact Hessian before giving up
                value, gradient, hessian, _ = objective.derivatives(x, aux)
                value, gradient, hessian = float(value), np.asarray(gradient), np.asarray(hessian)
                hessian_is_exact = True
                continue
            # flat: the last step gained < flat_tol; never "converged" without a step unless gmax <= gtol
            status = (1 if gmax <= 1e-3 else 4 if flat_run else 3) if iteration > 0 else 3
            break
        iteration += 1
        step = alpha * direction
        x, aux, previous = x + step, candidate_aux, value
        if exact_hessian:
            value, new_gradient, hessian, _ = objective.derivatives(x, aux)
            hessian = np.asarray(hessian)
        else:
            value, new_gradient = objective.value_and_gradient(x, aux)
            hessian = _bfgs_update(hessian, step, np.asarray(new_gradient) - gradient)
            hessian_is_exact = False
        value, gradient = float(value), np.asarray(new_gradient)
        path.append((iteration, value, float(np.max(np.abs(gradient)))))
        if previous - value <= 1e-13 * (1.0 + abs(value)) and np.max(np.abs(gradient)) > gtol:
            status = 1 if np.max(np.abs(gradient)) <= 1e-3 else 3
            break
        flat_run = flat_run + 1 if previous - value < flat_tol else 0
        if flat_run >= flat_iterations and np.max(np.abs(gradient)) > gtol:
            status = 4
            break
    else:
        status = 0 if np.max(np.abs(gradient)) <= gtol else 2
    return OptimumResult(x, value, gradient, iteration, status, aux, hessian, path)


def _bfgs_update(hessian: np.ndarray, step: np.ndarray, change: np.ndarray) -> np.ndarray:
    """BFGS update of a Hessian approximation; skipped when the curvature condition fails."""
    curvature = float(change @ step)
    hs = hessian @ step
    shs = float(step @ hs)
    if curvature <= 1e-12 * np.linalg.norm(change) * np.linalg.norm(step) or shs <= 0:
        return hessian
    return hessian - np.outer(hs, hs) / shs + np.outer(change, change) / curvature
