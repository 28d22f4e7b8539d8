"""The compiled pieces of the ML objective −ℓ(φ), shared by every stage of a fit.

Each function is jitted once at module level with the :class:`MarginalModel` as
a static argument, so a model and data shape compile once per process (and
once per machine with the persistent compilation cache of the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from .. import _jax  # noqa: F401
import jax
import jax.numpy as jnp

from .data import GroupedData
from .marginal import MarginalModel, group_logliks
from .modes import find_modes, refine_modes
from .quadrature import gauss_hermite_grid


@partial(jax.jit, static_argnames="model")
def _evaluate(phi, modes, dynamic, model):
    data, nodes, log_weights = dynamic
    beta, chol_G, log_dispersion = model.unpack(phi)
    eta_fixed = data.X @ beta + data.offset
    modes = find_modes(eta_fixed, chol_G, log_dispersion, data, model.family, modes)
    return -jnp.sum(group_logliks(phi, data, model, nodes, log_weights, modes)), modes


def _negative_loglik_given_modes(phi, modes, dynamic, model):
    data, nodes, log_weights = dynamic
    return -jnp.sum(group_logliks(phi, data, model, nodes, log_weights, modes))


_value_and_gradient = jax.jit(jax.value_and_grad(_negative_loglik_given_modes), static_argnames="model")


@partial(jax.jit, static_argnames="model")
def _derivatives(phi, modes, dynamic, model):
    """−ℓ, its gradient and Hessian, and the per-group scores ∂ℓ_i/∂φ (n_groups, P), in one pass."""
    data, nodes, log_weights = dynamic

    def gradient_and_groups(x):
        groups, pullback = jax.vjp(lambda x: group_logliks(x, data, model, nodes, log_weights, modes), x)
        gradient = pullback(jnp.ones_like(groups))[0]
        return (gradient, groups), (groups, gradient)

    (hessian, scores), (groups, gradient) = jax.jacfwd(gradient_and_groups, has_aux=True)(phi)
    return -jnp.sum(groups), -gradient, -hessian, scores


@dataclass(frozen=True)
class MarginalObjective:
    """−ℓ(φ) of one model on one data set, by the model's method and quadrature grid."""

    model: MarginalModel
    data: GroupedData
    qpoints: int = 1

    @property
    def _dynamic(self):
        nodes, log_weights = gauss_hermite_grid(self.qpoints, self.model.covariance.q)
        return self.data, jnp.asarray(nodes), jnp.asarray(log_weights)

    def initial_modes(self):
        return jnp.zeros((self.data.n_groups, self.model.covariance.q))

    def evaluate(self, phi, modes):
        value, modes = _evaluate(jnp.asarray(phi), modes, self._dynamic, self.model)
        return float(value), modes

    def value_and_gradient(self, phi, modes):
        value, gradient = _value_and_gradient(jnp.asarray(phi), modes, self._dynamic, self.model)
        return float(value), np.asarray(gradient)

    def derivatives(self, phi, modes):
        value, gradient, hessian, scores = _derivatives(jnp.asarray(phi), modes, self._dynamic, self.model)
        return float(value), np.asarray(gradient), np.asarray(hessian), np.asarray(scores)

    def modes_and_hessians(self, phi, modes):
        """Conditional modes (n_groups, q) and H_i = −∇²f_i at them (n_groups, q, q), from converged modes."""
        b_hat, hessian = _refined_modes(jnp.asarray(phi), modes, self.data, self.model)
        return np.asarray(b_hat), np.asarray(hessian)

    def group_logliks(self, phi, modes):
        """Per-group marginal log-likelihoods at φ (numpy)."""
        data, nodes, log_weights = self._dynamic
        return np.asarray(_group_logliks(jnp.asarray(phi), modes, (data, nodes, log_weights), self.model))


@partial(jax.jit, static_argnames="model")
def _group_logliks(phi, modes, dynamic, model):
    data, nodes, log_weights = dynamic
    return group_logliks(phi, data, model, nodes, log_weights, modes)


@partial(jax.jit, static_argnames="model")
def _refined_modes(phi, modes, data, model):
    beta, chol_G, log_dispersion = model.unpack(phi)
    eta_fixed = data.X @ beta + data.offset
    return refine_modes(modes, eta_fixed, chol_G, log_dispersion, data, model.family)
