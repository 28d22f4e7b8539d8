"""The marginal log-likelihood at given parameter values, for checks and convergence tables."""

from __future__ import annotations

from ..core.covariance import CovarianceStructure
from ..core.data import chunked_data, single_factor
from ..core.group_likelihood import MarginalModel
from ..core.parameter_map import phi_from_natural
from ..model.spec import ModelSpec
from .objective import MarginalObjective
from .point_rule import DEFAULT_MAX_NODES, DEFAULT_TOL, choose_qpoints, deviance_by_qpoints

# φ from natural values; the map lives in the core (:mod:`bayesglmm.core.parameter_map`)
phi_from = phi_from_natural


def _objective(spec: ModelSpec, method: str, qpoints: int, sigma):
    """The structure and objective of ``spec``'s one grouping factor at ``qpoints``."""
    if spec.family.has_dispersion and sigma is None:
        raise ValueError(
            f"family {spec.family.name!r} has extra parameters ({', '.join(n for n, _ in spec.family.reported_extras())}): "
            "give their natural value as sigma= (for zero inflation: (shape or None, zi coefficients))"
        )
    factor = single_factor(spec)
    structure = CovarianceStructure(factor.q, factor.blocks)
    model = MarginalModel(spec.family, structure, spec.fixed.X.shape[1], method)
    return structure, MarginalObjective(
        model, chunked_data(spec, shared_shapes=True), qpoints if method == "agq" else 1
    )


def loglik_at(spec: ModelSpec, beta, G, method: str = "agq", qpoints: int = 1, sigma=None) -> float:
    """ℓ(β, G) of ``spec`` by Laplace or adaptive Gauss–Hermite quadrature with ``qpoints``.

    ``G`` is the random-effects covariance (q, q) in the order of the random
    terms; ``sigma`` the natural value of the family's extra parameter (the Gaussian residual SD,
    the NB2 or Gamma shape, …), for families that have one.
    """
    structure, objective = _objective(spec, method, qpoints, sigma)
    value, _ = objective.evaluate(phi_from(structure, beta, G, sigma, spec.family), objective.initial_modes())
    return -value


def loglik_by_qpoints(fit, spec: ModelSpec, qpoints=(1, 3, 5, 7, 11, 15, 21)) -> dict[int, float]:
    """ℓ at a fit's estimates for several numbers of points (fully adaptive quadrature).

    One compiled program for all of them: every grid is padded with zero-weight nodes to the
    largest (:func:`~.point_rule.deviance_by_qpoints`, as the automatic rule), instead of one
    compilation per number of points (seconds each).
    """
    estimates = fit.params()["estimate"]
    sigma = spec.family.extra_from_params(lambda name: float(estimates[name]))
    structure, objective = _objective(spec, "agq", 1, sigma)
    phi = phi_from(structure, fit.beta.values, fit.G, sigma, spec.family)
    table = deviance_by_qpoints(phi, objective.initial_modes(), objective.chunks, objective.model, list(qpoints))
    return {k: -0.5 * deviance for k, deviance in table.items()}


def qpoints_rule_at(
    spec: ModelSpec, beta, G, sigma=None, tol: float = DEFAULT_TOL, max_nodes: int = DEFAULT_MAX_NODES
) -> tuple[int, dict[int, float]]:
    """The automatic rule's number of points at (β, G, σ) (:func:`~.auto.choose_qpoints`) and its
    table of −2ℓ by number of points: what ``fit_ml(spec, "agq", "auto")`` checks at its estimates,
    at any parameter values (the marginal sampler's posterior mode)."""
    structure, objective = _objective(spec, "agq", 1, sigma)
    phi = phi_from(structure, beta, G, sigma, spec.family)
    return choose_qpoints(phi, objective.initial_modes(), objective.chunks, objective.model, tol, max_nodes)
