"""The Laplace approximation of a posterior: its mode and curvature in the sampler's coordinates.

For a NumPyro model with unconstrained parameters u (log SDs, the LKJ factor's unconstrained
coordinates, β as is) and potential U(u) = −log p(u | y) (priors and Jacobians included),

    û = argmin U(u),        p(u | y) ≈ N(u; û, H⁻¹),    H = ∇²U(û).

Draws of N(û, H⁻¹) are mapped back to the model's sites (SDs, correlations) by the model's
own transforms, so they report in the common parameterisation like any posterior.  On the
marginal program (random effects integrated out by quadrature) this is a posterior in seconds,
and (û, H⁻¹) is where NUTS starts and its first metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.distributions.transforms import biject_to
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.util import potential_energy
from scipy.optimize import minimize

from .. import _jax  # noqa: F401


@dataclass(frozen=True)
class LaplacePosterior:
    """N(mode, covariance) over the flattened unconstrained parameters of a NumPyro model."""

    mode: np.ndarray
    covariance: np.ndarray
    log_density: float  # log p(û | y) up to the normalising constant
    gradient_norm: float
    converged: bool
    positive_definite: bool
    iterations: int
    unravel: object  # flat vector -> dict of unconstrained sites
    transforms: dict  # site -> bijection from the unconstrained space onto its support

    def unconstrained_draws(self, key, n: int) -> np.ndarray:
        """n draws (n, d) of N(mode, covariance)."""
        chol = np.linalg.cholesky(self.covariance)
        noise = np.asarray(jax.random.normal(key, (n, self.mode.size)))
        return self.mode + noise @ chol.T

    def draws(self, key, n: int) -> dict:
        """n draws of every latent site, constrained to its support: {site: (n, ...)}.

        Only the bijections are applied (the model is not re-run, so no likelihood is evaluated),
        as one compiled program (op by op they were about 60 small compilations).
        """

        return self.draws_at(self.unconstrained_draws(key, n))

    def draws_at(self, flat: np.ndarray) -> dict:
        """Unconstrained vectors (n, d) as values of every latent site: {site: (n, ...)}, constrained."""
        return self._constrain(jnp.asarray(flat))

    @cached_property
    def _constrain(self):
        """The bijections as one compiled program, built once per posterior (it is called at the
        mode after each point-rule check and for the draws)."""

        def constrain(flat):
            return {name: self.transforms[name](value) for name, value in jax.vmap(self.unravel)(flat).items()}

        return jax.jit(constrain)

    def mode_sites(self) -> dict:
        """The mode as a value of every latent site, constrained to its support."""
        return jax.tree_util.tree_map(lambda site: site[0], self.draws_at(self.mode[None, :]))

    def chain_starts(self, key, chains: int) -> dict:
        """One start per chain from N(mode, covariance): {site: (chains, ...)} unconstrained."""
        flat = jnp.asarray(self.unconstrained_draws(key, chains))
        return jax.vmap(self.unravel)(flat)


def central_difference_hessian(gradient, u: np.ndarray) -> np.ndarray:
    """Hessian by central differences of an exact gradient, step ε^(1/3) max(1, |u_i|), symmetrised.

    Accurate to about 1e-7 relative, ample for a Gaussian approximation; 2d evaluations of the
    already compiled gradient instead of compiling a second-order program (seconds on CPU).
    """
    steps = np.finfo(float).eps ** (1 / 3) * np.maximum(1.0, np.abs(u))
    columns = []
    for i, h in enumerate(steps):
        e = np.zeros_like(u)
        e[i] = h
        columns.append((gradient(u + e) - gradient(u - e)) / (2.0 * h))
    H = np.column_stack(columns)
    return 0.5 * (H + H.T)


def latent_supports(model, model_kwargs: dict) -> dict:
    """{site: support} of the model's latent sample sites, found by tracing it abstractly.

    ``jax.eval_shape`` runs the model on abstract values, so nothing is computed (an eager
    run would compile every operation of the likelihood separately); the latent sites take
    zeros instead of draws, which improper priors (brms's flat b) do not have.
    """
    supports = {}

    def placeholder(site):
        if site["type"] != "sample" or site["is_observed"]:
            return None
        return jnp.zeros(site["fn"].shape())

    def run():
        for name, site in (
            trace(substitute(seed(model, 0), substitute_fn=placeholder)).get_trace(**model_kwargs).items()
        ):
            if site["type"] == "sample" and not site["is_observed"]:
                supports[name] = site["fn"].support
        return 0

    jax.eval_shape(run)
    return supports


def laplace_posterior(
    model, model_kwargs: dict, init_values: dict, gtol: float = 1e-6, max_iter: int = 200
) -> LaplacePosterior:
    """Mode and Hessian of −log p(u | y) for ``model(**model_kwargs)``, from ``init_values``.

    The mode by BFGS on the compiled potential and its exact gradient, then Newton steps with
    the Hessian by differences of the gradient until the gradient is below ``gtol``.
    """
    supports = latent_supports(model, model_kwargs)
    transforms = {name: biject_to(support) for name, support in supports.items()}
    unconstrain = jax.jit(lambda values: {name: transforms[name].inv(values[name]) for name in supports})
    start, unravel = ravel_pytree(unconstrain({name: jnp.asarray(init_values[name]) for name in supports}))

    def potential(u, kwargs):
        return potential_energy(model, (), kwargs, unravel(u))

    # the data as an argument, not constants: models with arrays of the same shapes share the program
    value_and_grad = jax.jit(jax.value_and_grad(potential))

    def fun(u):
        value, grad = value_and_grad(jnp.asarray(u), model_kwargs)
        return float(value), np.asarray(grad, dtype=float)

    def hessian(u):
        return central_difference_hessian(lambda x: fun(x)[1], u)

    result = minimize(
        fun, np.asarray(start, dtype=float), jac=True, method="BFGS", options={"gtol": gtol, "maxiter": max_iter}
    )
    u, iterations = result.x, int(result.nit)
    H = hessian(u)
    for _ in range(10):  # Newton polish: BFGS may stop at a loose gradient; Newton steps finish it
        value, grad = fun(u)
        if np.max(np.abs(grad)) < gtol:
            break
        try:
            candidate = u - np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            break
        if not fun(candidate)[0] <= value + 1e-12 * abs(value):
            break
        u, H = candidate, hessian(candidate)
        iterations += 1
    value, grad = fun(u)
    eigenvalues = np.linalg.eigvalsh(0.5 * (H + H.T))
    positive_definite = bool(np.all(eigenvalues > 0))
    covariance = np.linalg.inv(H) if positive_definite else np.linalg.pinv(H)
    return LaplacePosterior(
        mode=u,
        covariance=0.5 * (covariance + covariance.T),
        log_density=-value,
        gradient_norm=float(np.max(np.abs(grad))),
        converged=bool(np.max(np.abs(grad)) < 1e-3),
        positive_definite=positive_definite,
        iterations=iterations,
        unravel=unravel,
        transforms=transforms,
    )
