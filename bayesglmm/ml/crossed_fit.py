"""fit_ml for several grouping factors: the Laplace objective of :mod:`.crossed`, optimised as
the one-factor Laplace stage (modified Newton with exact Hessians, :mod:`.optimise`).

Standard errors are model-based only: the sandwich needs independent clusters, and with
crossed factors there are none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401
from ..core.compiled import compiled
from ..core.covariance import CovarianceStructure
from ..errors import SpecError
from ..model.spec import ModelSpec
from ..results.mlfit import MLFit
from .crossed import (
    CrossedData,
    CrossedModel,
    conditional_modes,
    conditional_sds,
    crossed_data,
    factor_order,
    find_joint_mode,
    laplace_loglik,
)
from .finish import OptimumDerivatives, finish_fit
from .inference import report_values
from .memory import crossed_memory_gb, default_memory_limit_gb
from .optimise import minimize
from .start import GLMFit, glm_fit


@compiled(static_argnames="model")
def _evaluate(phi, modes, data, model):
    beta, cholesky, log_dispersion = model.unpack(phi)
    modes = find_joint_mode(data.X @ beta + data.offset, cholesky, log_dispersion, data, model.family, modes)
    return -laplace_loglik(phi, data, model, modes)[0], modes


@compiled(static_argnames="model")
def _derivatives(phi, modes, data, model):
    """−ℓ, its gradient and Hessian at φ (modes converged there), in one program."""
    gradient_fn = jax.grad(lambda x: -laplace_loglik(x, data, model, modes)[0])
    value, refined = laplace_loglik(phi, data, model, modes)
    return -value, gradient_fn(phi), jax.jacfwd(gradient_fn)(phi), refined


@compiled(static_argnames="model")
def _report(phi, modes, data, model):
    """Reported quantities, their Jacobian in φ, and the conditional modes and SDs per factor."""
    return (
        report_values(phi, model),
        jax.jacfwd(report_values)(phi, model),
        conditional_modes(modes, data),
        conditional_sds(phi, data, model, modes),
    )


@dataclass(frozen=True)
class CrossedObjective:
    """−ℓ(φ) of several grouping factors by Laplace, as :mod:`.optimise` needs it."""

    model: CrossedModel
    data: CrossedData
    _last: dict = field(default_factory=dict, compare=False, repr=False)

    def initial_modes(self) -> tuple[jax.Array, jax.Array]:
        q0 = self.data.Z[0].shape[1]
        return (jnp.zeros((self.data.n_levels[0], q0)), jnp.zeros(self.data.n_secondary))

    def evaluate(self, phi, modes) -> tuple[float, tuple]:
        value, modes = _evaluate(np.asarray(phi, dtype=float), modes, self.data, self.model)
        return float(value), modes

    def derivatives_and_modes(self, phi, modes) -> tuple:
        """(−ℓ, gradient, Hessian, refined modes) at φ; the last result is kept, since the fit asks
        again at the optimum where the optimiser's last iteration has just computed it (the
        costliest program: 5 s at 3000 secondary effects)."""
        phi = np.asarray(phi, dtype=float)
        last = self._last.get("at")
        if last is None or last[1] is not modes or not np.array_equal(last[0], phi):
            value, gradient, hessian, refined = _derivatives(phi, modes, self.data, self.model)
            last = (phi.copy(), modes, (float(value), np.asarray(gradient), np.asarray(hessian), refined))
            self._last["at"] = last
        return last[2]

    def derivatives(self, phi, modes) -> tuple:
        value, gradient, hessian, _ = self.derivatives_and_modes(phi, modes)
        return value, gradient, hessian, None

    def value_and_gradient(self, phi, modes) -> tuple[float, np.ndarray]:
        value, gradient, _, _ = self.derivatives(phi, modes)
        return value, gradient


def _check_memory(data: CrossedData, factors, limit_gb: float | None) -> None:
    """SpecError before compiling when the estimated memory (:func:`.memory.crossed_memory_gb`) exceeds the limit."""
    needed = crossed_memory_gb(data.dense_size, int(data.y.shape[0]), data.n_pairs)
    limit = default_memory_limit_gb() if limit_gb is None else limit_gb
    if needed > limit:
        names = ", ".join(f"'{f.group}'" for f in factors[1:])
        raise SpecError(
            f"the factors {names} have {data.n_secondary} random effects together beyond the largest factor "
            f"'{factors[0].group}'; the Laplace fit holds dense matrices of that size and needs an estimated "
            f"{needed:.1f} GB (limit {limit:.1f} GB). Use fewer levels, the Bayesian engine (fit_bayes), or raise "
            "the limit: max_grid_gb= in Python, --max-grid-gb on the command line"
        )


def fit_crossed(
    spec: ModelSpec, gtol: float = 1e-6, max_memory_gb: float | None = None, glm: GLMFit | None = None
) -> MLFit:
    """Laplace fit of a GLMM with several (nested or crossed) grouping factors; an MLFit.

    Refused before compiling when the estimated memory (:func:`.memory.crossed_memory_gb`)
    exceeds ``max_memory_gb`` (default three quarters of the machine's).  ``glm``: the GLM that
    starts it (:func:`.start.glm_fit`), if the caller has it already."""
    started = time.perf_counter()
    order = factor_order(spec)
    factors = [spec.random[g] for g in order]
    data = crossed_data(spec, order)
    _check_memory(data, factors, max_memory_gb)
    model = CrossedModel(
        spec.family,
        tuple(CovarianceStructure(f.q, f.blocks, log_diagonal=True) for f in factors),
        spec.fixed.X.shape[1],
    )

    glm = glm or glm_fit(spec.family, spec.fixed.X, spec.y, spec.trials, spec.offset)
    beta0, extra0 = glm.beta, glm.extra
    sd0 = spec.family.start_random_sd(extra0)
    phi0 = np.concatenate(
        [
            beta0,
            *[c.start_theta(np.full(c.q, sd0)) for c in model.covariances],
            np.atleast_1d(extra0) if spec.family.n_extra else [],
        ]
    )
    objective = CrossedObjective(model, data)
    result = minimize(objective, phi0, objective.initial_modes(), gtol=gtol)
    value, gradient, hessian, refined = objective.derivatives_and_modes(result.x, result.aux)
    estimates, jacobian, modes, sds = _report(result.x, refined, data, model)
    at_optimum = OptimumDerivatives(
        value=float(value),
        gradient=np.asarray(gradient),
        hessian=np.asarray(hessian),
        scores=None,  # the groups are not independent clusters: no sandwich
        reported=np.asarray(estimates),
        report_jacobian=np.asarray(jacobian),
        modes=tuple(modes),
        conditional_sds=tuple(sds),
    )
    return finish_fit(
        spec,
        model,
        factors,
        result,
        at_optimum,
        method="laplace",
        qpoints=1,
        optimizer="modified Newton, exact Hessian (joint sparse modes)",
        stages=(("laplace", 1, result.iterations, 2.0 * float(value)),),
        phi0=phi0,
        qpoints_table={},
        empirical=False,
        started=started,
    )
