"""fit_ml: spec -> objective -> optimise -> MLFit, in stages as lme4's glmer.

Stage 1 fits the GLM (IRLS) for starting values; stage 2 maximises the Laplace
log-likelihood by Newton with exact Hessians (on large data first on a random eighth of the
groups, :func:`_warm_start`); for ``method="agq"`` stage 3
maximises the adaptive Gauss–Hermite log-likelihood from the Laplace estimates
(Newton on small data, BFGS started from the Laplace Hessian on large), choosing the number of points first
when ``qpoints="auto"``.  The exact Hessian and per-group scores at the optimum
give the standard errors.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from .._jax import compile_seconds
from ..core.covariance import CovarianceStructure
from ..core.data import chunked_data, single_factor
from ..core.group_likelihood import MarginalModel
from ..core.parameter_map import phi_from_natural
from ..core.point_rule import compilation_dominates
from ..errors import ConvergenceWarning, InferenceWarning, SingularFitWarning, SpecError
from ..model.identifiability import columns_varying_in_one_cluster, separated_columns
from ..model.simulate import natural_parameters
from ..model.spec import ModelSpec
from ..results.mlfit import MLFit
from .crossed_fit import fit_crossed
from .finish import finish_fit
from .memory import agq_memory_gb, default_memory_limit_gb
from .objective import MarginalObjective
from .optimise import minimize
from .options import MLOptions
from .point_rule import DEFAULT_MAX_NODES, DEFAULT_TOL, QPOINT_SEQUENCE, choose_qpoints, deviance_by_qpoints
from .start import GLMFit, glm_fit


def _check_several_factors(spec: ModelSpec, method: str, empirical: bool):
    names = ", ".join(f"'{factor.group}'" for factor in spec.random)
    if method != "laplace":
        raise SpecError(
            f"adaptive quadrature integrates one grouping factor; this model has {len(spec.random)} ({names}). "
            "Use method='laplace' for nested or crossed random effects"
        )
    if empirical:
        raise SpecError(
            f"empirical (sandwich) standard errors need independent clusters; the grouping factors {names} "
            "are not one set of independent clusters. Use the model-based standard errors (empirical=False)"
        )


def fit_ml(
    spec: ModelSpec,
    method: str = "laplace",
    qpoints: int | str | None = None,
    empirical: bool = False,
    auto_tol: float = DEFAULT_TOL,
    max_nodes: int = DEFAULT_MAX_NODES,
    gtol: float = 1e-6,
    chunks: int | None = None,
    max_grid_gb: float | None = None,
    *,
    options: MLOptions | None = None,
    start=None,
) -> MLFit:
    """Maximum-likelihood fit of a GLMM: one grouping factor by Laplace or AGQ, several (nested
    or crossed) by Laplace with a joint sparse mode (:mod:`.crossed`).

    Parameters
    ----------
    method : ``"laplace"`` or ``"agq"`` (fully adaptive Gauss–Hermite quadrature).
    qpoints : points per random-effect dimension for AGQ (product grid of
        ``qpoints**q`` nodes), or ``"auto"`` (the default for AGQ): the smallest
        number whose −2 log-likelihood is within ``auto_tol`` of the next one's.
    empirical : report tests and intervals with the empirical (sandwich)
        covariance, as GLIMMIX's ``empirical`` option; both SEs are always computed.
    max_grid_gb : refuse an AGQ grid, or with several grouping factors the dense matrices of the
        secondary factors' effects, whose estimated memory exceeds this many GB (default: three
        quarters of the machine's memory), before compiling (:mod:`.memory`).
    chunks : the groups are cut into this many chunks of whole groups, evaluated one after the
        other on each device and sharded across the JAX devices (default: one per GPU, on CPU about
        65,000 rows each; :func:`~bayesglmm.core.data.chunked_data`).  The estimates do not depend on it.
    options : all of the above (and the engine's tuning knobs) as one :class:`~bayesglmm.ml.options.MLOptions`,
        instead of the keywords: what the TOML loader and the CLI build, and a way to reuse one set of
        options across fits.
    start : starting values (lme4's and glmmTMB's ``start``): an ML fit of the same model, or every
        parameter by common name (``fit.params()["estimate"]``), instead of the GLM start; one
        grouping factor.  A start on the boundary (a singular G) is not used: the GLM start is
        (from an SD of exactly 0 the optimiser cannot leave it).  The bootstrap's refits start at
        the estimates (:func:`bayesglmm.compare.parametric_bootstrap`).
    """
    keywords = (method, qpoints, empirical, auto_tol, max_nodes, gtol, chunks, max_grid_gb)
    if options is None:
        options = MLOptions(*keywords)  # checks every option
    elif keywords != _KEYWORD_DEFAULTS:
        raise SpecError("give the fitting options either as keywords or as options=MLOptions(...), not both")
    compiling = compile_seconds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = _fit(spec, options, start)
    messages = tuple(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    optimization = replace(fit.optimization, compile_seconds=compile_seconds() - compiling)
    for w in caught:  # raised again under the caller's filters (``error`` still raises), at the caller's line
        warnings.warn(w.message, w.category, stacklevel=2)
    return replace(fit, optimization=optimization, messages=messages)


_KEYWORD_DEFAULTS = ("laplace", None, False, DEFAULT_TOL, DEFAULT_MAX_NODES, 1e-6, None, None)


def _fit(spec: ModelSpec, options: MLOptions, start=None):
    """The stages of :func:`fit_ml` (which adds the warnings raised and the compilation time)."""
    method, qpoints, empirical, gtol = options.method, options.qpoints, options.empirical, options.gtol
    auto_tol, max_nodes, max_grid_gb = options.auto_tol, options.max_nodes, options.max_grid_gb
    one_program_up_to = options.one_program_up_to
    glm = glm_fit(spec.family, spec.fixed.X, spec.y, spec.trials, spec.offset)  # the start and the certificate
    separated = _separation(spec, glm)
    if len(spec.random) > 1:
        if start is not None:
            raise SpecError("start applies to fits with one grouping factor")
        _check_several_factors(spec, method, empirical)
        fit = _unless_separated(fit_crossed(spec, gtol, max_grid_gb, glm), separated)
        _warn_about(fit)
        return fit
    if empirical:
        _warn_one_cluster_columns(spec)
    started = time.perf_counter()
    factor = single_factor(spec)
    data = chunked_data(spec, options.chunks, options.shared_shapes)
    structure = CovarianceStructure(factor.q, factor.blocks)
    p = spec.fixed.X.shape[1]
    if method == "agq" and qpoints not in (None, "auto"):  # refused before any compilation
        _check_grid_memory(int(qpoints), factor.q, data, MarginalModel(spec.family, structure, p).n_params, max_grid_gb)

    phi0 = None if start is None else _phi_of_start(spec, structure, start)
    given_start = phi0 is not None
    if not given_start:
        beta0, extra0 = glm.beta, glm.extra
        sd0 = np.full(factor.q, spec.family.start_random_sd(extra0))
        phi0 = np.concatenate([beta0, structure.start_theta(sd0), np.atleast_1d(extra0) if spec.family.n_extra else []])

    laplace_model = MarginalModel(spec.family, structure, p, "laplace")
    # Small data: the optimum's extras ride in the derivatives program (one program fewer), in
    # every Laplace stage alike, so that Laplace and AGQ fits share that program.
    small = compilation_dominates(data.data.y.size, 1, one_program_up_to)
    objective = MarginalObjective(laplace_model, data, 1, report_with_derivatives=small)
    if given_start:  # better than the first chunks' estimates
        stages, phi_first, modes = [], phi0, objective.initial_modes()
    else:
        stages, phi_first, modes = _warm_start(objective, phi0, gtol, options.warm_start_from_chunks)
    result = minimize(objective, phi_first, modes, gtol=gtol)
    stages.append(("laplace", 1, result.iterations, 2.0 * result.value))
    qpoints_table: dict[int, float] = {}
    used_qpoints, newton = 1, True

    if method == "agq":
        agq_model = MarginalModel(spec.family, structure, p, "agq")
        if qpoints in (None, "auto"):
            used_qpoints, qpoints_table = choose_qpoints(
                result.x, result.aux, data, laplace_model, auto_tol, max_nodes, one_program_up_to, spec
            )
        else:
            used_qpoints = int(qpoints)
        _check_grid_memory(used_qpoints, factor.q, data, laplace_model.n_params, max_grid_gb)
        hessian = result.hessian
        while True:
            grid_size = _shared_check_grid(used_qpoints, factor.q, max_nodes) if qpoints not in (None, "auto") else None
            # Newton with exact Hessians on small data (fewer iterations and one program fewer to
            # compile: docs/measurements.md); BFGS, cheaper per step, on large
            newton = compilation_dominates(data.data.y.size, used_qpoints**factor.q, one_program_up_to)
            objective = MarginalObjective(
                agq_model, data, used_qpoints, grid_size=grid_size, report_with_derivatives=newton
            )
            first = not any(stage[0].startswith("agq") for stage in stages)
            result, tried = _agq_stage(objective, result, hessian, newton, gtol, p, several_starts=first and newton)
            stages.extend((label, used_qpoints, r.iterations, 2.0 * r.value) for label, r in tried)
            if qpoints not in (None, "auto"):
                qpoints_table = _check_fixed_qpoints(result, data, laplace_model, used_qpoints, auto_tol, max_nodes)
                break
            # The rule again, at the new estimates: more points and a refit if it fails there.
            chosen, qpoints_table = choose_qpoints(
                result.x, result.aux, data, laplace_model, auto_tol, max_nodes, one_program_up_to, spec
            )
            if chosen <= used_qpoints:
                break
            used_qpoints, hessian = chosen, result.hessian

    fit = finish_fit(
        spec,
        objective.model,
        [factor],
        result,
        objective.derivatives_all(result.x, result.aux),
        method=method,
        qpoints=used_qpoints,
        optimizer="modified Newton, exact Hessian" if newton else "BFGS from the Laplace Hessian",
        stages=stages,
        phi0=phi0,
        qpoints_table=qpoints_table,
        empirical=empirical,
        started=started,
    )
    fit = _unless_separated(fit, separated)
    _warn_about(fit)
    return fit


# Start multipliers of the random-effect SDs for the first AGQ stage on small data: Laplace's
# variance estimates of binary models are biased low, often far (1.0 is the Laplace optimum itself).
AGQ_START_SD_SCALES = (1.0, 1.5)
# The other starts are tried when the AGQ optimum's -2LL is this far from the Laplace optimum's:
# Laplace then approximates the likelihood poorly and its optimum may lie in the wrong basin.
# (Epilepsy: 0.33 apart, one start; amenorrhea: 57; the sparse test case of the tests: 27.)
AGQ_FAR_FROM_LAPLACE = 1.0


def _agq_stage(objective, laplace, hessian, newton: bool, gtol: float, n_fixed: int, several_starts: bool):
    """The AGQ optimum from the previous stage's, and on small data (``several_starts``), when it
    lies far from the Laplace optimum (:data:`AGQ_FAR_FROM_LAPLACE`), also from the Laplace
    estimates with the random-effect SDs scaled by :data:`AGQ_START_SD_SCALES`, keeping the best:
    on sparse binary data the Laplace optimum can lie in the basin of a worse local maximum of
    the AGQ likelihood. Returns (best result, (stage label, result) for every start tried)."""
    tried = []
    for scale in AGQ_START_SD_SCALES:
        if scale != 1.0 and not (
            several_starts and abs(tried[0][1].value - laplace.value) * 2.0 > AGQ_FAR_FROM_LAPLACE
        ):
            break
        start = np.array(laplace.x, dtype=float)
        start[n_fixed : n_fixed + objective.model.covariance.n_theta] *= scale  # chol(G) x scale: SDs x scale
        modes = laplace.aux if scale == 1.0 else objective.initial_modes()
        label = "agq" if scale == 1.0 else f"agq from SDs x{scale:g}"
        tried.append((label, minimize(objective, start, modes, hessian0=hessian, exact_hessian=newton, gtol=gtol)))
    results = [r for _, r in tried]
    converged = [r for r in results if r.converged] or results
    return min(converged, key=lambda r: r.value), tried


# A fixed number of points is checked against the next of the rule's sequence at the optimum
# (_check_fixed_qpoints). When that grid is at most this much larger, the AGQ stage runs on the
# fixed grid padded with zero-weight nodes to the check's size, so that the check reuses the
# stage's compiled program: 50 points in 2 dimensions (the README's epilepsy fit) evaluate 2601
# nodes instead of 2500 (+4% per evaluation) and compile one program fewer (0.6 s).
CHECK_GRID_SHARED_UP_TO = 1.25


def _next_check_qpoints(qpoints: int, q: int, max_nodes: int) -> int | None:
    """The number of points :func:`_check_fixed_qpoints` compares ``qpoints`` with; None if none."""
    larger = [k for k in QPOINT_SEQUENCE if k > qpoints]
    if not larger or larger[0] ** q > max(max_nodes, qpoints**q):
        return None
    return larger[0]


def _shared_check_grid(qpoints: int, q: int, max_nodes: int) -> int | None:
    """The padded grid size of a fixed-points AGQ stage (:data:`CHECK_GRID_SHARED_UP_TO`), or None."""
    larger = _next_check_qpoints(qpoints, q, max_nodes)
    if larger is None or larger**q > CHECK_GRID_SHARED_UP_TO * qpoints**q:
        return None
    return larger**q


def _check_fixed_qpoints(result, data, laplace_model, qpoints: int, tol: float, max_nodes: int) -> dict[int, float]:
    """−2ℓ at the optimum with the given and the next number of points of the automatic rule's
    sequence; a :class:`ConvergenceWarning` with both numbers when they differ by more than the
    rule's own ``tol`` (the quadrature has not converged at the user's number of points)."""
    larger = _next_check_qpoints(qpoints, laplace_model.covariance.q, max_nodes)
    if larger is None:
        return {}
    table = {qpoints: 2.0 * result.value, **deviance_by_qpoints(result.x, result.aux, data, laplace_model, [larger])}
    change = table[larger] - table[qpoints]
    if abs(change) > tol:
        warnings.warn(
            f"the quadrature has not converged at {qpoints} points: at the estimates -2 log-likelihood is "
            f"{table[qpoints]:.4f} with {qpoints} points and {table[larger]:.4f} with {larger} (a change of "
            f"{change:+.4f}, more than the automatic rule's {tol}); use qpoints='auto' or more points",
            ConvergenceWarning,
            stacklevel=4,
        )
    return table


def _check_grid_memory(qpoints: int, q: int, data, n_params: int, limit_gb: float | None) -> None:
    """Refuse a grid whose estimated memory (:mod:`.memory`) exceeds the limit, before compiling."""
    nodes = qpoints**q
    rows = int(data.data.y.shape[1])
    needed = agq_memory_gb(rows, nodes, n_params)
    limit = default_memory_limit_gb() if limit_gb is None else limit_gb
    if nodes > 50_000 or needed > limit:
        raise SpecError(
            f"{qpoints} points in {q} dimensions is a grid of {nodes} nodes per group; with {rows} rows per chunk "
            f"the fit needs an estimated {needed:.1f} GB (limit {limit:.1f} GB). Use fewer points, method='laplace', "
            "more chunks (chunks=) or raise the limit: max_grid_gb= in Python, --max-grid-gb on the command line"
        )


def _separation(spec: ModelSpec, glm: GLMFit) -> list[str]:
    """The fixed-effect columns that separate the data (:mod:`bayesglmm.model.identifiability`), or [];
    the GLM's row scores rule it out without the linear program where they can."""
    sides = spec.family.separation_sides(spec.y, spec.trials)
    if sides is None:
        return []
    return separated_columns(spec.fixed.X, spec.fixed.names, sides, glm.row_scores)


def _unless_separated(fit, separated: list[str]):
    """The fit marked not converged when the data are separated: its β estimates are finite only
    because the optimiser stopped (the MLE is at infinity)."""
    if not separated:
        return fit
    message = (
        f"the data are separated by {', '.join(repr(name) for name in separated)}: the likelihood keeps "
        "rising as those coefficients go to infinity, so the MLE does not exist (remove or merge the "
        "column's levels, or fit with a prior: fit_bayes)"
    )
    optimization = replace(fit.optimization, converged=False, message=message)
    return replace(fit, optimization=optimization)


def _warn_one_cluster_columns(spec: ModelSpec) -> None:
    factor = spec.random[0]
    flagged = columns_varying_in_one_cluster(spec.fixed.X, spec.fixed.names, factor.index)
    if flagged:
        warnings.warn(
            f"fixed-effect column(s) {', '.join(repr(n) for n in flagged)} vary in only one level of "
            f"'{factor.group}': their empirical (sandwich) SEs rest on one cluster's score and are not meaningful; "
            "use the model-based SEs (empirical=False)",
            InferenceWarning,
            stacklevel=3,
        )


def _phi_of_start(spec: ModelSpec, structure: CovarianceStructure, start) -> np.ndarray | None:
    """φ of a user's ``start`` (:func:`fit_ml`), or None where it is on the boundary (a singular G)."""
    if isinstance(start, MLFit):
        start = start.params()["estimate"]
    if not isinstance(start, Mapping | pd.Series):
        raise SpecError(
            f"start must be an ML fit or parameter values by name (a mapping or a Series), not {type(start).__name__}"
        )
    beta, (G,), extra = natural_parameters(spec, start)
    eigenvalues = np.linalg.eigvalsh(G)
    if eigenvalues.min() <= 1e-8 * max(eigenvalues.max(), 1e-300):
        return None
    phi = phi_from_natural(structure, beta, G, extra, spec.family)
    return phi if np.all(np.isfinite(phi)) else None


def _warm_start(objective: MarginalObjective, phi0, gtol: float, from_chunks: int):
    """(stages, start, modes) for the Laplace fit on all groups: with many chunks, the Laplace
    estimates on the groups of the first eighth of the chunks (a random sample of the groups,
    :func:`~bayesglmm.core.data.chunked_data`), with their modes, else the GLM start. "Many" is
    at least ``from_chunks`` (``MLOptions.warm_start_from_chunks``).

    Newton then needs fewer iterations on all the groups, the costly ones: 3 instead of 7 for
    100,000 groups (500,000 rows in 8 chunks), from the estimates on 12,500.  The same compiled
    programs serve both (:meth:`~.objective.MarginalObjective.on_first_chunks`), and the result
    does not depend on the start beyond the optimiser's tolerance.
    """
    chunks = objective.chunks.group_ids.shape[0]
    if chunks < from_chunks:
        return [], phi0, objective.initial_modes()
    sample = objective.on_first_chunks(-(-chunks // 8))
    warm = minimize(sample, phi0, sample.initial_modes(), gtol=gtol)
    stage = (
        f"laplace on {sample.n_active_groups} of {objective.chunks.n_groups} groups",
        1,
        warm.iterations,
        2.0 * warm.value,
    )
    if not warm.converged:  # a sample too small to estimate G, say: start from the GLM as without it
        return [stage], phi0, objective.initial_modes()
    return [stage], warm.x, warm.aux


def _warn_about(fit) -> None:
    opt = fit.optimization
    if not opt.converged:
        warnings.warn(
            f"the {fit.method} fit did not converge ({opt.message}; max |gradient| {opt.gradient_norm:.2g}). "
            "Try simpler random effects, rescaling covariates, or check the data for separation.",
            ConvergenceWarning,
            stacklevel=3,
        )
    if fit.is_singular:
        warnings.warn(
            "boundary (singular) fit: the random-effects covariance is nearly singular "
            f"(SDs {np.round(fit.random_sd, 4).tolist()}, correlations at ±1 or a zero variance). "
            "Standard errors of the covariance parameters are unreliable; consider removing a random "
            "term or using uncorrelated effects (||).",
            SingularFitWarning,
            stacklevel=3,
        )
