"""Bayesian engine: the ModelSpec compiled to a NumPyro program, sampled by NUTS."""

from .fit import fit_bayes
from .program import compile_program
from .sampling import set_cpu_devices

__all__ = ["fit_bayes", "compile_program", "set_cpu_devices"]
