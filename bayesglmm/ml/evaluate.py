"""The marginal log-likelihood at given parameter values, for checks and convergence tables."""

from __future__ import annotations

import numpy as np

from ..spec import ModelSpec
from .covariance import CovarianceStructure
from .data import chunked_data, single_factor
from .marginal import MarginalModel
from .objective import MarginalObjective


def phi_from(structure: CovarianceStructure, beta, G, sigma=None) -> np.ndarray:
    """The internal parameter vector φ = (β, log-Cholesky θ of G, log σ) from natural values."""
    G = np.asarray(G, dtype=float)
    theta = []
    for block in structure.blocks:
        L = np.linalg.cholesky(G[np.ix_(block, block)])
        for a in range(len(block)):
            for b in range(a + 1):
                theta.append(np.log(L[a, b]) if a == b else L[a, b])
    tail = [] if sigma is None else [np.log(sigma)]
    return np.concatenate([np.asarray(beta, dtype=float), theta, tail])


def loglik_at(spec: ModelSpec, beta, G, method: str = "agq", qpoints: int = 1, sigma=None) -> float:
    """ℓ(β, G) of ``spec`` by Laplace or adaptive Gauss–Hermite quadrature with ``qpoints``.

    ``G`` is the random-effects covariance (q, q) in the order of the random
    terms; ``sigma`` the residual SD (Gaussian family only).
    """
    factor = single_factor(spec)
    structure = CovarianceStructure(factor.q, factor.blocks)
    data = chunked_data(spec)
    model = MarginalModel(spec.family, structure, spec.fixed.X.shape[1], method)
    if spec.family.has_dispersion and sigma is None:
        raise ValueError("the Gaussian family needs sigma, the residual SD")
    objective = MarginalObjective(model, data, qpoints if method == "agq" else 1)
    value, _ = objective.evaluate(phi_from(structure, beta, G, sigma), objective.initial_modes())
    return -value


def loglik_by_qpoints(fit, spec: ModelSpec, qpoints=(1, 3, 5, 7, 11, 15, 21)) -> dict[int, float]:
    """ℓ at a fit's estimates for several numbers of points (fully adaptive quadrature)."""
    sigma = fit.params().loc["sigma", "estimate"] if "sigma" in fit.params().index else None
    return {k: loglik_at(spec, fit.beta.values, fit.G, "agq", k, sigma) for k in qpoints}
