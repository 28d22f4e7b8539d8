"""Laplace approximation of each group's marginal log-likelihood.

log ∫ exp f_i(b) db ≈ f_i(b_hat) + (q/2) log 2π − ½ log|H_i|,  H_i = −∇²f_i(b_hat)
(Tierney & Kadane 1986; the approximation lme4's ``glmer(nAGQ = 1)`` and
glmmTMB maximise).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import _jax  # noqa: F401
from . import smallmat


def laplace_log_integral(f_at_mode, hessian) -> jax.Array:
    """f_at_mode (m,), hessian (m, q, q) -> (m,) Laplace log-integrals."""
    q = hessian.shape[-1]
    log_det = smallmat.log_det_from_cholesky(smallmat.cholesky(hessian))
    return f_at_mode + 0.5 * q * jnp.log(2.0 * jnp.pi) - 0.5 * log_det
