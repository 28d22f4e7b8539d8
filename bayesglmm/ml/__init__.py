"""Maximum-likelihood engine: Laplace and fully adaptive Gauss–Hermite quadrature.

Stages, as lme4's modular fitting: the spec becomes :class:`~bayesglmm.core.data.GroupedData`
and a :class:`~bayesglmm.core.group_likelihood.MarginalModel` (the objective), :mod:`.optimise`
minimises it, :mod:`.inference` turns the optimum into standard errors, and
:func:`~.fit.fit_ml` packages an :class:`~bayesglmm.results.mlfit.MLFit`.

The public functions other layers may call: :func:`fit_ml` here and :mod:`.evaluate`
(``loglik_at``, ``qpoints_rule_at``).
"""

from .fit import fit_ml

__all__ = ["fit_ml"]
