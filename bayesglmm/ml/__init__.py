"""Maximum-likelihood engine: Laplace and fully adaptive Gauss–Hermite quadrature.

Stages, as lme4's modular fitting: the spec becomes :class:`~.data.GroupedData`
and a :class:`~.marginal.MarginalModel` (the objective), :mod:`.optimise`
minimises it, :mod:`.inference` turns the optimum into standard errors, and
:func:`~.fit.fit_ml` packages an :class:`~bayesglmm.results.mlfit.MLFit`.
"""

from .fit import fit_ml

__all__ = ["fit_ml"]
