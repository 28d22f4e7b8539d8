"""One damped-Newton routine for the conditional modes: per group (one grouping factor) or joint
(crossed factors, all random effects coupled).

From ``start``, each iteration takes the Newton step d = H⁻¹∇f of the concave f being maximised
and halves its length α (at most 30 times) until f does not fall; a part that finds no improving
step stays where it is. The iteration stops after ``max_iter`` steps or when nothing moves by
more than ``tol``.

``objective(x)`` returns one value per independent part: a vector (one f_i per group, each group
with its own step length, as its modes do not interact) or a scalar (one f and one step length
for all). ``x`` and the step are pytrees whose leaves have the parts along their first axis (or
no part axis for a scalar objective).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .. import _jax  # noqa: F401  (float64)


def _per_part(values, leaf):
    """``values`` (one per part) shaped to broadcast against ``leaf``."""
    return values.reshape(values.shape + (1,) * (leaf.ndim - values.ndim))


def damped_newton(
    objective, newton_step, start, max_iter: int = 100, tol: float = 1e-10, max_halvings: int = 30
) -> Any:
    """The maximiser of ``objective`` by damped Newton from ``start`` (module docstring); no gradients
    flow through the iteration (callers stop them and differentiate the converged mode)."""

    def body(state):
        x, value, iteration, _ = state
        step = newton_step(x)

        def worse(candidate):
            return ~jnp.isfinite(candidate) | (candidate < value - 1e-12 * (1.0 + jnp.abs(value)))

        def moved_by(alpha):
            return jax.tree.map(lambda d: _per_part(alpha, d) * d, step)

        def halve(carry):
            alpha, candidate, k = carry
            alpha = jnp.where(worse(candidate), 0.5 * alpha, alpha)
            return alpha, objective(jax.tree.map(jnp.add, x, moved_by(alpha))), k + 1

        alpha, candidate, _ = jax.lax.while_loop(
            lambda carry: jnp.any(worse(carry[1])) & (carry[2] < max_halvings),
            halve,
            (jnp.ones(jnp.shape(value), dtype=value.dtype), objective(jax.tree.map(jnp.add, x, step)), 0),
        )
        stay = worse(candidate)  # no improving step found for this part
        moved = jax.tree.map(lambda d: jnp.where(_per_part(stay, d), 0.0, _per_part(alpha, d) * d), step)
        largest = jnp.max(jnp.stack([jnp.max(jnp.abs(d)) for d in jax.tree.leaves(moved)]))
        return jax.tree.map(jnp.add, x, moved), jnp.where(stay, value, candidate), iteration + 1, largest

    state = (start, objective(start), 0, jnp.inf)
    x, *_ = jax.lax.while_loop(lambda s: (s[2] < max_iter) & (s[3] > tol), body, state)
    return x
