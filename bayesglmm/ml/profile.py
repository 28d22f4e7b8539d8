"""Profile-likelihood confidence intervals of a one-factor ML fit (lme4's ``profile`` and
``confint(method = "profile")``).

For each reported parameter ψ the signed root deviance

    ζ(ψ) = sign(ψ − ψ̂) √(2 (ℓ(θ̂) − max_{ψ fixed} ℓ)),

is traced on a grid from the optimum, the other parameters re-optimised at each point from the
neighbouring solution (Newton with the exact Hessian of the fit's own compiled objective, by
Laplace or adaptive quadrature as the fit). The interval at level 1 − α is where
ζ = ±z_{1−α/2}, found by monotone cubic interpolation of ψ against ζ (lme4 interpolates its
profile by splines the same way: ``confint.thpr``).

The other parameters are held in the coordinates lme4 profiles in, where each reported
parameter is one coordinate: β, log SD of each random effect, the Fisher z = atanh ρ of each
correlation, and the family's extra parameters on their unconstrained scale (log σ, log shape).
Where ζ at an SD of 0 is within the cut-off (the refit at the boundary itself), the interval's
lower limit is 0, as lme4 reports it; a correlation whose profile stays within the cut-off up to
:data:`BOUNDARY` of ±1 gets the limit ±1. A singular fit (an SD of 0, a correlation of ±1, at
infinity in these coordinates) is profiled from :data:`CLIP` inside its boundary, ζ measured from
the fit's own maximum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.special import ndtri

from .. import _jax  # noqa: F401
from ..core.covariance import CovarianceStructure
from ..core.data import chunked_data, single_factor
from ..core.group_likelihood import MarginalModel
from ..core.parameter_map import cholesky_from_scales, scales_from_cholesky
from ..errors import SpecError
from ..model.spec import ModelSpec
from ..results import protocol
from ..results.mlfit import MLFit
from .inference import report_values, reported_parameters
from .objective import MarginalObjective
from .optimise import minimize

BOUNDARY = {"sd": 1e-2, "corr": 1e-4}  # how close (SD / its estimate; 1 − |ρ|) a profile walks to a boundary
STEP = 0.5  # grid step in standard errors of the profiled coordinate: ζ moves by about this much
MAX_STEPS = 60  # per direction
MAX_STEP = {"sd": 0.5, "corr": 0.5}  # the largest first step on the log-SD and Fisher-z scales
CLIP = 1e-6  # a singular fit's SD of 0 or correlation of ±1 is profiled from this close to it


@dataclass(frozen=True)
class ProfileResult:
    """The intervals (``table``: estimate, lower, upper per common name) and the traced profiles
    (``zeta``: one row per grid point, columns parameter, value, zeta)."""

    table: pd.DataFrame
    zeta: pd.DataFrame
    level: float


@lru_cache(maxsize=16)
def _coordinates(model: MarginalModel) -> _Coordinates:
    """The coordinates of ``model`` with their compiled maps, made once per model (a coverage
    study profiles every replicate's fit of the same model)."""
    return _Coordinates(model)


class _Coordinates:
    """x = (β, log SDs, atanh ρ of each free correlation, the family's unconstrained tail) <-> φ."""

    def __init__(self, model: MarginalModel):
        self.model = model
        self.p, self.q = model.n_fixed, model.covariance.q
        self.pairs = model.covariance.covariance_pairs()
        self.n = model.n_params
        self.to_phi = jax.jit(self._phi)
        self.jacobian = jax.jit(jax.jacfwd(self._phi))
        self.curvature = jax.jit(jax.hessian(lambda x, g: jnp.dot(g, self._phi(x))))  # Σ_i g_i ∇²φ_i

    def _phi(self, x):
        p, q = self.p, self.q
        sd = jnp.exp(x[p : p + q])
        R = jnp.eye(q, dtype=x.dtype)
        for m, (i, j) in enumerate(self.pairs):
            rho = jnp.tanh(x[p + q + m])
            R = R.at[i, j].set(rho).at[j, i].set(rho)
        chol_G = cholesky_from_scales(sd, jnp.linalg.cholesky(R))  # NaN where R is not positive definite
        tail = x[p + q + len(self.pairs) :]
        return jnp.concatenate([x[:p], self.model.covariance.theta(chol_G), tail])

    def from_phi(self, phi) -> np.ndarray:
        beta, chol_G, _ = self.model.unpack(jnp.asarray(phi))
        sd, corr = scales_from_cholesky(chol_G)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = [np.arctanh(corr[i, j]) for i, j in self.pairs]
            tail = np.asarray(phi)[self.p + self.model.covariance.n_theta :]
            return np.concatenate([np.asarray(beta), np.log(sd), z, tail])


class _WithCoordinateFixed:
    """The objective in x with coordinate ``k`` held at ``value`` (the :class:`~.optimise.Objective`
    protocol over the other coordinates; the chain rule through φ(x) for its derivatives)."""

    def __init__(self, objective: MarginalObjective, coordinates: _Coordinates, k: int | None, value: float = 0.0):
        self.objective, self.coordinates, self.k, self.value = objective, coordinates, k, value
        self.free = np.array([i for i in range(coordinates.n) if i != k])

    def full(self, free) -> np.ndarray:
        x = np.empty(self.coordinates.n)
        x[self.free] = free
        if self.k is not None:
            x[self.k] = self.value
        return x

    def evaluate(self, free, aux) -> tuple:
        phi = np.asarray(self.coordinates.to_phi(self.full(free)))
        if not np.all(np.isfinite(phi)):
            return np.inf, aux
        return self.objective.evaluate(phi, aux)

    def derivatives(self, free, aux) -> tuple:
        x = self.full(free)
        phi = np.asarray(self.coordinates.to_phi(x))
        value, gradient, hessian, _ = self.objective.derivatives(phi, aux)
        J = np.asarray(self.coordinates.jacobian(x))
        gradient_x = J.T @ gradient
        hessian_x = J.T @ hessian @ J + np.asarray(self.coordinates.curvature(x, jnp.asarray(gradient)))
        return value, gradient_x[self.free], hessian_x[np.ix_(self.free, self.free)], None

    def value_and_gradient(self, free, aux) -> tuple:
        value, gradient, _, _ = self.derivatives(free, aux)
        return value, gradient


def _objective(spec: ModelSpec, fit: MLFit) -> MarginalObjective:
    if len(spec.random) != 1:
        raise SpecError("profile intervals integrate one grouping factor; this model has several")
    if fit.formula != spec.formula or fit.nobs != spec.nobs or fit.family != spec.family.name:
        raise SpecError("the fit was not made from this spec: give the spec the fit came from")
    factor = single_factor(spec)
    structure = CovarianceStructure(factor.q, factor.blocks)
    model = MarginalModel(spec.family, structure, spec.fixed.X.shape[1], fit.method)
    return MarginalObjective(model, chunked_data(spec, None, True), fit.qpoints if fit.method == "agq" else 1)


def _clipped(x: np.ndarray, coordinates: _Coordinates) -> np.ndarray:
    """x with a singular fit's infinite coordinates moved :data:`CLIP` inside: an SD of 0 to 1e-6,
    a correlation of ±1 to ±(1 − 1e-6), one left undefined by an SD of 0 to 0."""
    p, q = coordinates.p, coordinates.q
    x = x.copy()
    x[p : p + q] = np.where(np.isfinite(x[p : p + q]), x[p : p + q], math.log(CLIP))
    pairs = slice(p + q, p + q + len(coordinates.pairs))
    z = x[pairs]
    x[pairs] = np.where(np.isnan(z), 0.0, np.where(np.isinf(z), np.sign(z) * math.atanh(1.0 - CLIP), z))
    return x


def profile_intervals(spec: ModelSpec, fit: MLFit, level: float = 0.95, parameters=None) -> ProfileResult:
    """Profile-likelihood intervals of ``fit`` (made by ``fit_ml(spec, ...)``, one grouping
    factor, Laplace or AGQ) for the common names in ``parameters`` (default: every β, SD,
    correlation and family parameter). Module docstring for the method."""
    if not 0.0 < level < 1.0:
        raise SpecError(f"level must be between 0 and 1, got {level!r}")
    objective = _objective(spec, fit)
    model = objective.model
    coordinates = _coordinates(model)
    phi_hat = np.asarray(fit.optimization.final_parameters, dtype=float)
    x_hat = _clipped(coordinates.from_phi(phi_hat), coordinates)
    # φ(x̂) is φ̂ up to the signs of chol G's diagonal (the fit's signed Cholesky coordinates,
    # :mod:`~bayesglmm.core.covariance`): the same likelihood, other spherical modes, so the modes
    # are found at φ(x̂) itself (the derivatives need the modes at the point they are taken). ζ is
    # measured from the fit's own maximum, which a singular fit attains at the boundary itself.
    value_hat, _ = objective.evaluate(phi_hat, objective.initial_modes())
    value_clipped, modes_hat = objective.evaluate(np.asarray(coordinates.to_phi(x_hat)), objective.initial_modes())
    value_hat = min(value_hat, value_clipped)
    reported = reported_parameters(model, fit.fixed_names, [(f.group, f.terms) for f in fit.factors])
    profiled = [r for r in reported if r.kind in ("beta", "sd", "corr", "family")]
    in_x_order = [r for kind in ("beta", "sd", "corr", "family") for r in profiled if r.kind == kind]  # x's layout
    names = [r.name for r in profiled]
    wanted = names if parameters is None else list(parameters)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise SpecError(f"no parameter {', '.join(map(repr, unknown))} to profile; the fit has {', '.join(names)}")
    full = _WithCoordinateFixed(objective, coordinates, None)
    _, _, hessian_x, _ = full.derivatives(x_hat, modes_hat)
    se_x = np.sqrt(np.abs(np.diag(np.linalg.pinv(hessian_x))))
    cutoff = float(ndtri(0.5 + level / 2.0))
    rows, traces = [], []
    for r in profiled:
        k = in_x_order.index(r)
        if r.name not in wanted:
            continue
        step = STEP * se_x[k] if np.isfinite(se_x[k]) and se_x[k] > 0 else np.inf
        step = min(step, MAX_STEP.get(r.kind, np.inf))  # an SD or correlation at a boundary has no curvature there
        if not np.isfinite(step):
            raise SpecError(f"{r.name} has no curvature at the estimates (the fit is not at a maximum): no profile")

        def natural(x, r=r, k=k):
            """The reported value of ``r`` with its coordinate at x."""
            if r.kind in ("beta", "sd", "corr"):
                return float({"beta": lambda v: v, "sd": np.exp, "corr": np.tanh}[r.kind](x))
            moved = x_hat.copy()
            moved[k] = x
            return float(report_values(coordinates.to_phi(moved), model)[reported.index(r)])

        trace, stops = _trace(objective, coordinates, k, r.kind, x_hat, step, value_hat, modes_hat, cutoff)
        traces += [(r.name, natural(x), z) for x, z in trace]
        lower, upper = _limits(trace, stops, cutoff)
        rows.append((r.name, natural(x_hat[k]), natural(lower), natural(upper)))
    table = pd.DataFrame(rows, columns=["name", "estimate", "lower", "upper"]).set_index("name")
    zeta = pd.DataFrame(traces, columns=["parameter", "value", "zeta"])
    return ProfileResult(table, zeta, level)


def _trace(objective, coordinates, k, kind, x_hat, step, value_hat, modes_hat, cutoff):
    """[(x_k, ζ)] from the optimum outwards on both sides, sorted by x_k, and why each side stopped
    ({-1: reason, +1: reason}: "cutoff", "boundary", "failed" (a refit did not converge), "steps").

    Steps start at ``step`` and double while ζ moves by less than a quarter of :data:`STEP` (a flat
    profile, as near a boundary where the fit is singular), halving again where it moves by more
    than twice that. Below an SD the boundary itself is tried first: the refit at SD 0 (exact in
    the engine's spherical random effects). If ζ there is within the cut-off, the interval reaches 0
    and the walk only draws the profile down to :data:`BOUNDARY` of the estimate.
    """
    points, stops = [(x_hat[k], 0.0)], {}
    free_hat = np.delete(x_hat, k)
    for direction in (-1, 1):
        free, modes, stops[direction] = free_hat, modes_hat, "steps"
        to_boundary = False
        if kind == "sd" and direction < 0:
            at_zero = minimize(_WithCoordinateFixed(objective, coordinates, k, -np.inf), free, modes)
            to_boundary = at_zero.converged and 2.0 * (at_zero.value - value_hat) <= cutoff**2
        value, size, previous = x_hat[k], step, 0.0
        for _ in range(MAX_STEPS):
            value = value + direction * size
            if (to_boundary or kind == "corr") and _beyond_boundary(kind, value, x_hat[k]):
                stops[direction] = "boundary"
                break
            result = minimize(_WithCoordinateFixed(objective, coordinates, k, value), free, modes)
            if not result.converged:
                stops[direction] = "failed"
                break
            free, modes = result.x, result.aux
            zeta = direction * math.sqrt(max(0.0, 2.0 * (result.value - value_hat)))
            points.append((value, zeta))
            if abs(zeta) > cutoff + STEP:
                stops[direction] = "cutoff"
                break
            moved = abs(zeta - previous)
            size = 2.0 * size if moved < 0.25 * STEP else 0.5 * size if moved > 2.0 * STEP else size
            previous = zeta
        if to_boundary:
            stops[direction] = "boundary"
    return sorted(points), stops


def _beyond_boundary(kind: str, x: float, x_hat: float) -> bool:
    """Whether the profiled coordinate passed the closest approach to its boundary (:data:`BOUNDARY`)."""
    if kind == "sd":
        return x < x_hat + math.log(BOUNDARY["sd"])  # the SD below this fraction of its estimate
    if kind == "corr":
        return abs(math.tanh(x)) > 1.0 - BOUNDARY["corr"]
    return False


def _limits(trace, stops: dict, cutoff: float) -> tuple[float, float]:
    """x_k where ζ = −cutoff and +cutoff, by monotone cubic interpolation of x against ζ over the
    points of that side (from the optimum outwards, where |ζ| rises); the boundary (x = ∓∞: an SD of
    0, a correlation of ±1) where the profile reached it first; NaN where it stopped for another
    reason (a failed refit, or ζ still short of the cut-off after :data:`MAX_STEPS` steps)."""
    from scipy.interpolate import PchipInterpolator  # here: 0.16 s of every command's start-up otherwise

    x, zeta = (np.array(v) for v in zip(*trace))
    centre = int(np.argmin(np.abs(zeta)))
    ends = []
    for side in (-1, 1):
        outward = slice(centre, None, -1) if side < 0 else slice(centre, None)
        xs, height = x[outward], side * zeta[outward]
        rising = np.concatenate([[True], np.diff(np.maximum.accumulate(height)) > 0])  # strictly rising part
        xs, height = xs[rising], height[rising]
        if height[-1] >= cutoff:
            ends.append(float(PchipInterpolator(height, xs)(cutoff)))
        elif stops[side] == "boundary":
            ends.append(side * np.inf)
        else:
            ends.append(np.nan)
    return ends[0], ends[1]


@protocol.profile.register
def _profile_ml_fit(fit: MLFit, level: float = 0.95, parameters=None) -> ProfileResult:
    """``MLFit.confint(method="profile")``: the profile of the spec the fit was made from."""
    if fit.spec is None:
        raise SpecError("this fit carries no spec (one read back from a file?): call profile_intervals(spec, fit)")
    return profile_intervals(fit.spec, fit, level, parameters)
