"""The compiled pieces of the ML objective −ℓ(φ), shared by every stage of a fit.

Each function is jitted once at module level with the :class:`MarginalModel` as
a static argument, so a model and data shape compile once per process (and
once per machine with the persistent compilation cache of the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
import numpy as np

from .. import _jax  # noqa: F401
import jax
import jax.numpy as jnp

from .._compiled import compiled
from .data import GroupedData
from .inference import report_values
from .marginal import MarginalModel, group_logliks
from .modes import find_modes, refine_modes
from .quadrature import gauss_hermite_grid


@compiled(static_argnames="model")
def _evaluate(phi, modes, dynamic, model):
    data, nodes, log_weights = dynamic
    beta, chol_G, log_dispersion = model.unpack(phi)
    eta_fixed = data.X @ beta + data.offset
    modes = find_modes(eta_fixed, chol_G, log_dispersion, data, model.family, modes)
    return -jnp.sum(group_logliks(phi, data, model, nodes, log_weights, modes)), modes


@compiled(static_argnames="model")
def _value_and_gradient(phi, modes, dynamic, model):
    data, nodes, log_weights = dynamic
    return jax.value_and_grad(lambda x: -jnp.sum(group_logliks(x, data, model, nodes, log_weights, modes)))(phi)


@compiled(static_argnames="model")
def _derivatives(phi, modes, dynamic, model):
    """Everything the optimiser and the inference step need at φ, in one compiled program.

    −ℓ, its gradient and Hessian, the per-group scores ∂ℓ_i/∂φ (n_groups, P);
    the conditional modes and H_i at them; the reported quantities and their
    Jacobian in φ (:func:`~.inference.report_values`).
    """
    data, nodes, log_weights = dynamic

    def gradient_and_groups(x):
        groups, pullback = jax.vjp(lambda x: group_logliks(x, data, model, nodes, log_weights, modes), x)
        gradient = pullback(jnp.ones_like(groups))[0]
        return (gradient, groups), (groups, gradient)

    (hessian, scores), (groups, gradient) = jax.jacfwd(gradient_and_groups, has_aux=True)(phi)
    beta, chol_G, log_dispersion = model.unpack(phi)
    b_hat, mode_hessians = refine_modes(modes, data.X @ beta + data.offset, chol_G, log_dispersion, data, model.family)
    return {
        "value": -jnp.sum(groups),
        "gradient": -gradient,
        "hessian": -hessian,
        "scores": scores,
        "modes": b_hat,
        "mode_hessians": mode_hessians,
        "reported": report_values(phi, model),
        "report_jacobian": jax.jacfwd(report_values)(phi, model),
    }


@dataclass(frozen=True)
class MarginalObjective:
    """−ℓ(φ) of one model on one data set, by the model's method and quadrature grid."""

    model: MarginalModel
    data: GroupedData
    qpoints: int = 1

    @cached_property
    def _dynamic(self):
        nodes, log_weights = gauss_hermite_grid(self.qpoints, self.model.covariance.q)
        return self.data, jax.device_put(nodes), jax.device_put(log_weights)

    def initial_modes(self):
        """Zero modes, placed on the device like the modes a compiled call returns (one program, not two)."""
        return jax.device_put(np.zeros((self.data.n_groups, self.model.covariance.q)), jax.devices()[0])

    def evaluate(self, phi, modes):
        value, modes = _evaluate(np.asarray(phi, dtype=float), modes, self._dynamic, self.model)
        return float(value), modes

    def value_and_gradient(self, phi, modes):
        value, gradient = _value_and_gradient(np.asarray(phi, dtype=float), modes, self._dynamic, self.model)
        return float(value), np.asarray(gradient)

    def derivatives(self, phi, modes):
        """(−ℓ, gradient, Hessian, per-group scores) at φ, as the optimiser needs them."""
        out = self.derivatives_all(phi, modes)
        return out["value"], out["gradient"], out["hessian"], out["scores"]

    def derivatives_all(self, phi, modes) -> dict:
        """Everything :func:`_derivatives` returns, as numpy (floats for scalars)."""
        out = _derivatives(np.asarray(phi, dtype=float), modes, self._dynamic, self.model)
        return {key: (float(value) if value.ndim == 0 else np.asarray(value)) for key, value in out.items()}
