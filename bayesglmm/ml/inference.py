"""Standard errors at the optimum: observed information, sandwich, delta method.

With H the Hessian of −ℓ at φ̂ and s_i = ∂ℓ_i/∂φ the per-group scores,
    model-based  Cov(φ̂) = H^{-1},
    empirical    Cov(φ̂) = H^{-1} (Σ_i s_i s_i^T) H^{-1}  (Liang & Zeger 1986; SAS GLIMMIX
                 ``empirical``, its classical form, no small-sample adjustment),
    MBN          c H^{-1} (Σ_i s_i s_i^T) H^{-1} + δ_m φ H^{-1}  (SAS GLIMMIX ``empirical=mbn``
                 for METHOD=LAPLACE/QUAD: the likelihood-based sandwich with Morel, Bokossa &
                 Neerchal's adjustment, k = the number of parameters; :mod:`bayesglmm.core.sandwich`),
and every reported quantity ψ = h(φ) (β, the elements of G, SDs, correlations,
the residual SD) gets Cov(ψ̂) = J Cov(φ̂) J^T with J = ∂h/∂φ from JAX.  At an
interior optimum this equals inverting the Hessian in the ψ parameterisation.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401
from ..core.sandwich import mbn_covariance
from ..errors import ConvergenceWarning
from ..model.parameters import beta_name, corr_name, cov_name, sd_name, var_name
from ..results.parameters import Inference, ReportedParameter


def _plain(term: str) -> str:
    """A term as GLIMMIX names it in labels: Intercept, not (Intercept)."""
    return "Intercept" if term == "(Intercept)" else term


def reported_parameters(model, fixed_names, factors) -> list[ReportedParameter]:
    """The quantities :func:`report_values` returns, in its order.

    ``model`` has ``covariances`` (one :class:`~.covariance.CovarianceStructure` per factor) and
    ``family``; ``factors`` are (group name, random-effect terms) in the same order.
    """
    params = [ReportedParameter(beta_name(name), "beta", name) for name in fixed_names]
    several = len(factors) > 1
    for structure, (group, terms) in zip(model.covariances, factors):
        un = len(structure.blocks) == 1  # GLIMMIX type=un, also for one effect: UN(1,1)
        for block in structure.blocks:
            for a, i in enumerate(block):
                for j in block[: a + 1]:
                    label = f"UN({i + 1},{j + 1})" if un else (terms[i] if i == j else f"{terms[i]},{terms[j]}")
                    label = f"{label} {group}" if several else label
                    if i == j:
                        params.append(ReportedParameter(var_name(group, terms[i]), "var", label, (i,), group))
                    else:
                        params.append(
                            ReportedParameter(cov_name(group, terms[j], terms[i]), "cov", label, (i, j), group)
                        )
    for group, terms in factors:
        suffix = f" {group}" if several else ""
        params += [
            ReportedParameter(sd_name(group, term), "sd", f"SD({_plain(term)}){suffix}", (i,), group)
            for i, term in enumerate(terms)
        ]
    for structure, (group, terms) in zip(model.covariances, factors):
        for i, j in structure.covariance_pairs():
            label = f"Corr({_plain(terms[j])},{_plain(terms[i])})" + (f" {group}" if several else "")
            params.append(ReportedParameter(corr_name(group, terms[j], terms[i]), "corr", label, (i, j), group))
    params += [ReportedParameter(name, "family", label) for name, label in model.family.reported_extras()]
    return params


def report_values(phi, model) -> jax.Array:
    """φ -> the reported quantities (order of :func:`reported_parameters`)."""
    beta, cholesky, log_dispersion = model.unpack_factors(phi)
    covariances = [chol @ chol.T for chol in cholesky]
    elements, sds, corr = [], [], []
    for G, structure in zip(covariances, model.covariances):
        elements += [G[i, j] for block in structure.blocks for a, i in enumerate(block) for j in block[: a + 1]]
        sd = jnp.sqrt(jnp.diag(G))
        sds.append(sd)
        corr += [G[i, j] / (sd[i] * sd[j]) for i, j in structure.covariance_pairs()]
    parts = [beta, jnp.stack(elements), *sds]
    if corr:
        parts.append(jnp.stack(corr))
    if model.family.n_extra:
        parts.append(model.family.natural_extras(log_dispersion))
    return jnp.concatenate(parts)


def infer(
    hessian: np.ndarray, scores: np.ndarray, estimates: np.ndarray, jacobian: np.ndarray, n_obs: int | None = None
) -> Inference:
    """Model-based and empirical covariances of the reported quantities at φ̂.

    ``hessian`` of −ℓ (P, P), ``scores`` (n_groups, P), the reported
    ``estimates`` and their ``jacobian`` in φ, all at the optimum; with ``n_obs`` (the
    observations) also the MBN-adjusted empirical covariance.
    """
    hessian = 0.5 * (hessian + hessian.T)
    eigenvalues = np.linalg.eigvalsh(hessian)
    positive_definite = bool(eigenvalues.min() > 1e-8 * max(1.0, eigenvalues.max()))
    if positive_definite:
        cov_phi = np.linalg.inv(hessian)
    else:
        warnings.warn(
            "the Hessian of -loglik is not positive definite at the estimates "
            f"(smallest eigenvalue {eigenvalues.min():.3g}); standard errors use a pseudo-inverse and are "
            "unreliable — the fit may be at a boundary (a zero variance): simplify the random effects, "
            "e.g. (1 + x || g) or (1 | g)",
            ConvergenceWarning,
            stacklevel=3,
        )
        cov_phi = np.linalg.pinv(hessian)
    meat = scores.T @ scores
    cov_phi_emp = cov_phi @ meat @ cov_phi
    cov_mbn = None
    if n_obs is not None and scores.shape[0] >= 2 and n_obs > hessian.shape[0]:
        cov_mbn = jacobian @ mbn_covariance(cov_phi, meat, n_obs, scores.shape[0]) @ jacobian.T
    return Inference(
        estimates=estimates,
        cov_model=jacobian @ cov_phi @ jacobian.T,
        cov_empirical=jacobian @ cov_phi_emp @ jacobian.T,
        hessian_positive_definite=positive_definite,
        cov_phi_model=cov_phi,
        cov_phi_empirical=cov_phi_emp,
        cov_mbn=cov_mbn,
    )
