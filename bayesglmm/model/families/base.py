"""The :class:`Family` interface: everything the engines need to know about a response distribution.

A family is a frozen, hashable object (a valid static argument of ``jax.jit``, and part of the
on-disk compile key through its ``repr``) holding its link. It answers, for its own response:

- validation: :meth:`Family.check_response` (values and trials), :meth:`constant_response`;
- the likelihood: :meth:`loglik` with all normalising constants (log-likelihoods, AIC and BIC
  comparable with glmmTMB, lme4 and SAS GLIMMIX) and :meth:`eta_derivatives`;
- the GLM start: :meth:`start_eta`, :meth:`glm_variance`;
- GEE: the variance function :meth:`variance` and the quasi-likelihood :meth:`quasi_likelihood` (QIC);
- Bayes: :meth:`distribution`, the NumPyro likelihood;
- simulation: :meth:`simulate`;
- identifiability: :meth:`separation_sides` (where the likelihood is unbounded);
- its extra parameters (:class:`ExtraParameter`: the Gaussian residual SD) with their transform
  and default prior, and its names in R, brms and SAS.

Engines ask the family and never branch on its name; a new family is one subclass registered
with :func:`bayesglmm.model.families.register_family` (CONTRIBUTING.md, "Adding a family").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ... import _jax  # noqa: F401  (float64)
from ...errors import SpecError
from ..links import Link, get_link

if TYPE_CHECKING:
    import numpyro.distributions as dist


@dataclass(frozen=True)
class ExtraParameter:
    """A family parameter besides the mean (one unconstrained value θ in the engines).

    The natural value is exp(θ) (every extra parameter today is positive); ``prior`` is the
    default prior of the Bayesian engine in both named prior sets (brms's default for the
    Gaussian sigma: Student-t(3, 0, 2.5) folded at zero).
    """

    name: str  # the common name: sigma
    label: str  # the GLIMMIX-style label: Residual SD
    prior: str  # default prior, in the syntax of bayesglmm.bayes.priors
    description: str


def check_counts(values: np.ndarray, name: str, what: str) -> None:
    """SpecError naming the column when ``values`` are negative or not whole numbers."""
    if np.any(values < 0):
        raise SpecError(f"column '{name}' has negative values ({values[values < 0][:5].tolist()}); {what} must be >= 0")
    if np.any(values != np.round(values)):
        bad = values[values != np.round(values)][:5].tolist()
        raise SpecError(f"column '{name}' has non-integer values ({bad}); {what} must be whole numbers")


@dataclass(frozen=True)
class Family:
    """A response distribution with its link (subclasses: one per family).

    Class attributes say what the family is; ``link`` (a name) is the one instance field.
    """

    link: str

    name: ClassVar[str]  # bayesglmm's name, as in make_family
    label: ClassVar[str]  # as printed in summaries ("Model information")
    links: ClassVar[tuple[str, ...]]  # allowed links, the default first
    extra_parameters: ClassVar[tuple[ExtraParameter, ...]] = ()
    binary: ClassVar[bool] = False  # 0/1 response (a factor response is allowed)
    counts_of_trials: ClassVar[bool] = False  # successes out of trials (trials= or cbind)
    gee: ClassVar[bool] = True  # a variance function and at most a scale: GEE applies
    aliases: ClassVar[tuple[str, ...]] = ()  # other spellings accepted by make_family (R, glmmTMB, brms)
    r_name: ClassVar[str] = ""  # R's family() / glmmTMB
    brms_name: ClassVar[str] = ""
    sas_name: ClassVar[str] = ""  # GLIMMIX / GENMOD dist=

    def __post_init__(self):
        if self.link not in self.links:
            raise SpecError(
                f"link {self.link!r} is not available for family {self.name!r}; choose one of {', '.join(self.links)}"
            )

    # -- what the family is ---------------------------------------------------------------
    @property
    def link_object(self) -> Link:
        return get_link(self.link)

    @property
    def has_dispersion(self) -> bool:
        """True when the family has an extra (scale) parameter: one unconstrained value in φ."""
        return bool(self.extra_parameters)

    @property
    def extra_name(self) -> str | None:
        """The common name (and NumPyro site) of the extra parameter, None without one."""
        return self.extra_parameters[0].name if self.extra_parameters else None

    @property
    def is_binomial(self) -> bool:
        """True for binary and successes-out-of-trials responses (cbind and factor responses allowed)."""
        return self.binary or self.counts_of_trials

    def inverse_link(self, eta) -> jax.Array:
        return self.link_object.inverse(eta)

    # -- the response ---------------------------------------------------------------------
    def check_response(
        self, y: np.ndarray, name: str, trials: np.ndarray | None = None, trials_name: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(y, trials) after checking the values suit the family (SpecError naming the column)."""
        return y, np.ones_like(y)

    def constant_response(self, y: np.ndarray, trials: np.ndarray) -> str | None:
        """What makes the response unusable when it is the same in every row (None when it is not):
        by default a constant value (nothing to model); count families say when all zeros are."""
        return None if not np.all(y == y[0]) else f"is constant ({y[0]}) in every row used: no variance to model"

    def separation_sides(self, y: np.ndarray, trials: np.ndarray) -> np.ndarray | None:
        """+1 / −1 / 0 per row where the likelihood grows without bound as η → +∞ / −∞ / neither
        (the separation LP of :mod:`bayesglmm.model.identifiability`); None when it is bounded."""
        return None

    # -- the extra parameters in the engines ----------------------------------------------
    @property
    def n_extra(self) -> int:
        """How many unconstrained values the family adds to φ (after β and the covariance parameters)."""
        return len(self.extra_parameters)

    def extras_from(self, tail) -> jax.Array:
        """The family's value in the engines (``log_dispersion`` of :meth:`loglik`) from φ's tail
        after the covariance parameters: one scalar for one extra parameter (0 without one)."""
        return tail[0] if self.n_extra else jnp.zeros((), tail.dtype)

    def reported_extras(self) -> tuple[tuple[str, str], ...]:
        """(common name, GLIMMIX-style label) of each reported extra parameter, in φ's order."""
        return tuple((p.name, p.label) for p in self.extra_parameters)

    def natural_extras(self, extras) -> jax.Array:
        """The reported values (vector, :meth:`reported_extras`' order) of the engines' ``extras``:
        exp(θ) for the positive parameters of the one-extra families."""
        return jnp.exp(extras)[None] if self.n_extra else jnp.zeros((0,))

    def extras_vector(self, extra) -> jax.Array:
        """The unconstrained tail of φ (n_extra,) from the natural ``extra`` of :meth:`distribution`
        (log of the one positive parameter); the inverse of :meth:`extra_value`."""
        return jnp.log(jnp.asarray(extra))[None] if self.n_extra else jnp.zeros((0,))

    def extra_value(self, extras) -> object:
        """The natural ``extra`` of :meth:`distribution` from the engines' value (:meth:`extras_from`)."""
        return jnp.exp(extras) if self.n_extra else None

    def sas_scale(self, estimate: float, se: float, se_empirical: float) -> tuple[str, float, float, float] | None:
        """The extra parameter as SAS GLIMMIX prints it ("Scale" or "Residual"), from the reported
        estimate and SEs: (label, estimate, se, se_empirical), or None where GLIMMIX has no such
        row or the same value is printed already (SAS/STAT User's Guide, GLIMMIX, "Scale and
        Dispersion Parameters")."""
        return None

    def extra_from_params(self, value) -> object:
        """The ``extra`` of :meth:`distribution` and :meth:`simulate` from reported parameter values
        (``value(name)`` looks one up by its common name): the natural value, None without one."""
        return value(self.extra_name) if self.extra_name else None

    # -- likelihood -----------------------------------------------------------------------
    def loglik(self, y, eta, trials, log_dispersion=0.0) -> jax.Array:
        """Per-row log p(y | η) with all normalising constants (JAX); ``log_dispersion`` is the
        family's value of :meth:`extras_from`."""
        raise NotImplementedError

    def eta_derivatives(self, y, eta, trials, log_dispersion=0.0) -> tuple[jax.Array, jax.Array]:
        """First and second derivatives of :meth:`loglik` in η, elementwise (automatic
        differentiation; families override it with closed forms where they have them)."""
        first = jax.grad(lambda e: jnp.sum(self.loglik(y, e, trials, log_dispersion)))
        return jax.jvp(first, (eta,), (jnp.ones_like(eta),))

    def loglik_parts(self, y, eta, trials, log_dispersion=0.0) -> tuple[jax.Array, jax.Array]:
        """:meth:`loglik` as (the part that varies with η, the part that does not): the
        quadrature sums the second once per row instead of once per node (log y!, log Γ terms).
        By default all of it varies."""
        return self.loglik(y, eta, trials, log_dispersion), jnp.zeros_like(y)

    # -- what the engines call: the above with each row's covariates ----------------------
    # ``covariates`` (n, k) is each row's design of a second, fixed-effects predictor (the
    # zero-inflation formula); a family that has one overrides these four, the others ignore it,
    # so a family written for the plain signatures (CONTRIBUTING.md) works unchanged.
    def row_loglik(self, y, eta, trials, log_dispersion, covariates) -> jax.Array:
        """:meth:`loglik` with the rows' ``covariates``."""
        return self.loglik(y, eta, trials, log_dispersion)

    def row_eta_derivatives(self, y, eta, trials, log_dispersion, covariates) -> tuple[jax.Array, jax.Array]:
        """:meth:`eta_derivatives` with the rows' ``covariates``."""
        return self.eta_derivatives(y, eta, trials, log_dispersion)

    def row_loglik_parts(self, y, eta, trials, log_dispersion, covariates) -> tuple[jax.Array, jax.Array]:
        """:meth:`loglik_parts` with the rows' ``covariates``."""
        return self.loglik_parts(y, eta, trials, log_dispersion)

    def row_distribution(self, eta, trials, extra, covariates) -> dist.Distribution:
        """:meth:`distribution` with the rows' ``covariates``."""
        return self.distribution(eta, trials, extra)

    def row_simulate(self, rng: np.random.Generator, eta, trials, extra, covariates) -> np.ndarray:
        """:meth:`simulate` with the rows' ``covariates``."""
        return self.simulate(rng, eta, trials, extra)

    # -- GLM start and GEE ----------------------------------------------------------------
    def start_eta(self, y: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """A linear predictor close to the data, to start the GLM fit (as R's ``mustart``)."""
        return np.asarray(y, dtype=float)

    def glm_response(self, y: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """The response on the scale of g⁻¹(η) (proportions for binomial)."""
        return y

    def glm_variance(self, mean: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """Var(response on the g⁻¹(η) scale) / dispersion, for IRLS (NumPy)."""
        return np.ones_like(mean)

    def start_extra(self, y: np.ndarray, mean: np.ndarray, trials: np.ndarray) -> float:
        """The unconstrained extra parameter's start from the GLM fit's means (a moment estimate;
        0 for a family without one)."""
        return 0.0

    def start_random_sd(self, extra: float) -> float:
        """The random-effect SDs' start, on the linear-predictor scale, given :meth:`start_extra`'s value."""
        return 1.0

    def variance(self, mu, trials) -> jax.Array:
        """The GEE variance function v(μ) of the response's mean μ = trials · g⁻¹(η) (JAX)."""
        return jnp.ones_like(mu)

    def quasi_likelihood(self, y: np.ndarray, mu: np.ndarray, trials: np.ndarray) -> float:
        """Σ Q(μ; y) with Q the quasi-likelihood of :meth:`variance` (Pan 2001's QIC), dispersion 1."""
        raise NotImplementedError

    # -- Bayes and simulation -------------------------------------------------------------
    def distribution(self, eta, trials, extra=None) -> dist.Distribution:
        """The NumPyro distribution of the response at linear predictor η (vectorised over rows);
        ``extra`` is the natural value of the extra parameter (σ, the NB shape, …) if the family has one."""
        raise NotImplementedError

    def simulate(
        self,
        rng: np.random.Generator,
        eta: np.ndarray,
        trials: np.ndarray,
        extra: float | None = None,
    ) -> np.ndarray:
        """Responses drawn at η (NumPy); ``extra`` as in :meth:`distribution`."""
        raise NotImplementedError
