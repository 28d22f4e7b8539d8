"""``fit_gee``: GEE (Liang & Zeger 1986) and alternating logistic regression (Carey, Zeger & Diggle 1993).

The mean model comes from the fixed part of an lme4-style formula (random-effect bars
are not allowed: a marginal model has none); ``cluster`` names the independent units and
``within`` the occasion of each row (needed for ar1, unstructured and ALR fullclust when
clusters have missing occasions).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace

import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import _jax  # noqa: F401  (float64)
from ..errors import ConvergenceWarning, DataWarning, InferenceWarning, SpecError
from ..model.identifiability import columns_varying_in_one_cluster
from ..model.spec import ModelSpec
from ..results.geefit import GEEFit, GEESolution
from .correlation import alpha_names, correlation_matrix, estimate_alpha, estimate_scale
from .estimating import mean_pieces, score_pieces, working_covariance
from .layout import cluster_layout
from .options import ALR_STRUCTURES, CORRELATIONS, GEEOptions
from .qic import qic
from .score_tests import type3_score_table
from .small_sample import corrected_covariances


def _model_data(
    formula: str,
    data: pd.DataFrame,
    family,
    link,
    trials,
    cluster: str,
    within: str | None,
    reference: dict | None = None,
    subcluster: str | None = None,
):
    """The fixed-effects spec, the cluster, within and subcluster values of its rows (rows missing
    any of them dropped) and the number of rows dropped."""
    if not isinstance(data, pd.DataFrame):
        raise SpecError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if "|" in formula:
        raise SpecError(
            "GEE is a marginal model: give the fixed part only (no '(... | group)' terms) and the cluster as cluster="
        )
    for role, column in (("cluster", cluster), ("within", within), ("subcluster", subcluster)):
        if column is not None and column not in data.columns:
            raise SpecError(f"{role} column {column!r} not in the data; columns: {', '.join(map(str, data.columns))}")
    keys = [c for c in (cluster, within, subcluster) if c is not None]
    missing = data[keys].isna().any(axis=1)
    if missing.any():
        warnings.warn(f"{int(missing.sum())} rows dropped for a missing {' or '.join(keys)}", DataWarning, stacklevel=3)
    kept = data.loc[~missing]
    spec = ModelSpec.from_formula(formula, kept, family, link=link, trials=trials, reference=reference)
    rows = spec.data.row_labels
    values = [None if column is None else kept.loc[rows, column] for column in (within, subcluster)]
    return spec, kept.loc[rows, cluster], *values, int(missing.sum())


def fit_gee(
    formula: str,
    data: pd.DataFrame,
    family,
    cluster: str | None = None,
    within: str | None = None,
    corr: str = "independence",
    link: str | None = None,
    trials: str | None = None,
    reference: dict | None = None,
    ar1: str = "lag1",
    score_tests: bool = False,
    alr_design=None,
    subcluster: str | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> GEEFit:
    """Marginal (population-averaged) model by generalized estimating equations.

    Parameters
    ----------
    formula : ``y ~ fixed terms`` (``offset(x)`` allowed).
    family : ``bernoulli``, ``binomial`` (with ``trials``), ``poisson`` or ``gaussian`` (required, as for GLMMs).
    cluster : column of the independent units (SAS ``subject=``).
    within : column of the occasion inside a cluster (SAS ``withinsubject=``, geepack ``waves``).
    corr : working correlation ``independence``, ``exchangeable``, ``ar1``, ``unstructured``, or
        alternating logistic regression ``alr-exch`` (one log odds ratio) / ``alr-fullclust``
        (one per pair of occasions; SAS ``logor=fullclust``) / ``alr-nest1`` (one for pairs in the
        same ``subcluster``, one for pairs in different ones; SAS ``logor=nest1 subclust=``) /
        ``alr-zrep`` (a design of your own per pair, ``alr_design``; SAS ``logor=zrep``), binary
        responses only.
    reference : reference level of categorical columns, as :meth:`ModelSpec.from_formula`.
    ar1 : the AR(1) estimator: ``"lag1"`` (lag-one moments, SAS GENMOD and Liang & Zeger; the
        default) or ``"pairs"`` (geepack's least squares over all pairs), :mod:`.correlation`.
    alr_design : for ``corr="alr-zrep"`` (SAS ``logor=zrep``): the log odds ratio of pair (j, k) is
        z_jkᵀ α with z_jk the rows of this matrix, one per pair in the order (1,2), (1,3), …, (T−1,T).
    subcluster : for ``corr="alr-nest1"``: the column whose values split a cluster into
        subclusters (SAS ``subclust=``).
    score_tests : also compute the type III generalized score tests (SAS's default ``type3``;
        one refit per term, :mod:`.score_tests`), returned by ``fit.type3(kind="score")``.
    """
    started = time.perf_counter()
    if corr not in CORRELATIONS:
        raise SpecError(f"unknown working correlation {corr!r}; choose one of {', '.join(CORRELATIONS)}")
    options = GEEOptions(corr, ar1, score_tests, max_iter, tol)  # checks every option
    if (alr_design is not None) != (corr == "alr-zrep"):
        raise SpecError("alr_design goes with corr='alr-zrep' (SAS logor=zrep), and alr-zrep needs alr_design")
    if (subcluster is not None) != (corr == "alr-nest1"):
        raise SpecError(
            "subcluster goes with corr='alr-nest1' (SAS logor=nest1 subclust=), and alr-nest1 needs "
            "subcluster= (the column of the subclusters)"
        )
    if cluster is None:
        raise SpecError("GEE needs cluster= (the column of independent units, SAS subject=)")
    spec, cluster_values, within_values, subcluster_values, dropped = _model_data(
        formula, data, family, link, trials, cluster, within, reference, subcluster
    )
    if not spec.family.gee:
        raise SpecError(
            f"GEE needs a variance function with at most a scale; family {spec.family.name!r} has an extra "
            f"likelihood parameter ({spec.family.extra_name}) in its variance: fit it as a GLMM (fit_ml, fit_bayes)"
        )
    layout = cluster_layout(spec, cluster_values, within_values, within)
    if subcluster is not None:
        alr_design = np.full(layout.mask.shape, -1)
        alr_design[layout.rows] = pd.factorize(subcluster_values)[0]
    flagged = columns_varying_in_one_cluster(spec.fixed.X, spec.fixed.names, pd.factorize(cluster_values)[0])
    if flagged:
        warnings.warn(
            f"fixed-effect column(s) {', '.join(repr(n) for n in flagged)} vary in only one cluster of "
            f"'{cluster}': their robust (sandwich) SEs rest on one cluster's score and are not meaningful",
            InferenceWarning,
            stacklevel=2,
        )
    if options.corr in ALR_STRUCTURES:
        from .alr import solve_alr

        solution = solve_alr(spec, layout, options.corr, options.max_iter, options.tol, alr_design)
    else:
        solution = solve_gee(spec, layout, options.corr, options.max_iter, options.tol, options.ar1)
    fit = GEEFit.from_solution(
        spec,
        layout,
        solution,
        corr=corr,
        cluster=cluster,
        within=within,
        dropped_cluster=dropped,
        seconds=time.perf_counter() - started,
    )
    criteria, criteria_u = qic(spec, fit.beta, fit.cov_robust, fit.scale)
    scores = None
    if options.score_tests:
        if options.corr in ALR_STRUCTURES:
            raise SpecError("score tests are available for GEE working correlations, not ALR; use the Wald tests")
        scores = type3_score_table(spec, layout, options.corr, solve_gee, options.ar1, options.max_iter, options.tol)
    return replace(fit, qic=criteria, qicu=criteria_u, type3_score=scores)


# Alternating steps before the fixed point is solved for directly (see solve_gee).
ALTERNATING_STEPS = 50


def solve_gee(spec, layout, structure: str, max_iter: int, tol: float, ar1: str = "lag1") -> GEESolution:
    """β solving U(β; α̂(β), φ̂(β)) = 0, the moment estimates of φ and α taken at β.

    From β = 0, Fisher scoring under independence gives the GLM fit (the start geepack and SAS
    use: from β = 0 the first moment estimates of a rich structure, unstructured with
    overdispersed counts, can leave the correlations' range and the iteration diverge). Then
    scoring steps alternate with the moment estimates; where that converges slowly (correlations
    near 1 make it linear with a rate near 1: the epilepsy counts with an unstructured
    correlation need about 3,000 steps, and geepack stops at its 25-step limit with error 1), the
    fixed point step(β) = 0 is solved for directly by Powell's hybrid method (scipy ``hybr``)
    after :data:`ALTERNATING_STEPS`. Working correlations are kept inside (−1, 1)
    (:func:`~.correlation.valid_correlation`).
    """
    from scipy.optimize import root

    family, T = spec.family, layout.n_occasions
    X, offset, trials, mask, y = (
        jnp.asarray(a) for a in (layout.X, layout.offset, layout.trials, layout.mask, layout.y)
    )

    def moments(beta, current: str):
        mu, dmu, v = mean_pieces(jnp.asarray(beta), X, offset, trials, mask, family)
        residuals = np.asarray((y - mu) / jnp.sqrt(v))
        scale = estimate_scale(residuals, layout.mask)  # estimated for every family, as geepack does
        return mu, dmu, v, scale, estimate_alpha(current, residuals, layout.mask, scale, ar1)

    def scoring_step(beta, current: str):
        mu, dmu, v, scale, alpha = moments(beta, current)
        U, H = score_pieces(X, dmu, working_covariance(current, alpha, scale, v, T), y - mu, mask)
        return np.asarray(jnp.linalg.solve(H, U.sum(axis=0)))

    def settled(step, beta) -> bool:
        return float(np.max(np.abs(step))) < tol * (1.0 + float(np.max(np.abs(beta))))

    beta, iteration, converged = np.zeros(layout.X.shape[-1]), 0, False
    for current in dict.fromkeys(("independence", structure)):
        for _ in range(ALTERNATING_STEPS if current == structure else max_iter):
            iteration += 1
            step = scoring_step(beta, current)
            beta = beta + step
            if settled(step, beta):
                converged = current == structure
                break
    if not converged:
        solution = root(
            lambda b: scoring_step(b, structure),
            beta,
            method="hybr",
            options={"xtol": tol, "maxfev": max(max_iter - iteration, 1)},
        )
        iteration += int(solution.nfev)
        if np.all(np.isfinite(solution.x)) and settled(scoring_step(solution.x, structure), solution.x):
            beta, converged = solution.x, True
    mu, dmu, v, scale, alpha = moments(beta, structure)
    V = working_covariance(structure, alpha, scale, v, T)
    U, H = score_pieces(X, dmu, V, y - mu, mask)
    corrected = corrected_covariances(X, dmu, V, y - mu, mask, H, U)
    if not converged:
        warnings.warn(
            f"GEE did not converge in {max_iter} iterations: raise max_iter or simplify the working correlation",
            ConvergenceWarning,
            stacklevel=3,
        )
    return GEESolution(
        beta=np.asarray(beta),
        H=np.asarray(H),
        U=np.asarray(U),
        scale=scale,
        association=pd.DataFrame(
            {"estimate": alpha, "se": np.nan}, index=alpha_names(structure, layout.occasion_labels)
        ),
        working_correlation=correlation_matrix(structure, alpha, T),
        iterations=iteration,
        converged=converged,
        cov_corrected=corrected,
    )
