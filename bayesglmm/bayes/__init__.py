"""Bayesian engine: the ModelSpec compiled to a NumPyro program, sampled by NUTS.

Full latent (every random effect sampled) or marginal (random effects integrated out by the
ML engine's quadrature), and the Laplace posterior.
"""

from .fit import fit_bayes, laplace_fit
from .program import compile_program
from .sampling import set_cpu_devices

__all__ = ["fit_bayes", "laplace_fit", "compile_program", "set_cpu_devices"]
