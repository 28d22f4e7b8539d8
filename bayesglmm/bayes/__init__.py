"""Bayesian engine: the ModelSpec compiled to a NumPyro program, sampled by NUTS.

Full latent (every random effect sampled) or marginal (random effects integrated out by the
ML engine's quadrature), and the Laplace posterior.

The public functions are loaded on first use (PEP 562): importing ``bayesglmm`` or this
package's options and priors does not import NumPyro, which only a Bayesian fit needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_PUBLIC = {
    "fit_bayes": ".fit",
    "laplace_fit": ".fit",
    "prior_fit": ".fit",
    "compile_program": ".program",
    "set_cpu_devices": ".sampling",
    "loo_compare": "..results.loo",
}

if TYPE_CHECKING:
    from ..results.loo import loo_compare
    from .fit import fit_bayes, laplace_fit, prior_fit
    from .program import compile_program
    from .sampling import set_cpu_devices


def __getattr__(name: str):  # PEP 562: the module attribute hook
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["compile_program", "fit_bayes", "laplace_fit", "loo_compare", "prior_fit", "set_cpu_devices"]
