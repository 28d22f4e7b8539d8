"""Priors of the Bayesian engine: a small text syntax, named sets, overrides per class and term.

A prior is written as text, the same in Python and TOML::

    normal(0, 10)          student_t(3, 0, 2.5)     cauchy(0, 2.5)
    half_normal(2.5)       half_student_t(3, 2.5)   half_cauchy(1)     exponential(1)
    gamma(0.01, 0.01)      (shape, rate: brms's default for a negative binomial or Gamma shape)
    logistic(0, 1)         lognormal(0, 1)          inv_gamma(2, 1)
    uniform(0, 10)         (lower, upper: the parameter is bounded there)
    flat                   (coefficients only: improper, brms's default on b; no prior draws)
    beta(1, 1)             (probabilities only: the zero-inflation probability zi)
    lkj(1)                 (correlations only: LKJ(eta) on the correlation matrix)

Scales, degrees of freedom and η must be positive and every argument finite (``normal(0, inf)``
is refused: a flat prior is ``flat``, where a class allows one). Within a class the parameters may
take priors of different families (a Student-t intercept with normal slopes, a half-normal on one
SD and the set's half-Student-t on the others), except ``uniform``, whose bounds become the
parameter's range: all of a vector or none of it.

Classes and their names (the common parameterisation):

    beta, beta[TERM]             fixed effects (every coefficient, the intercept included)
    Intercept                    brms's class: the intercept with every other column of X centred
                                 at its mean (:class:`Centring`); setting it centres the intercept
    sd, sd[GROUP], sd[GROUP,TERM] random-effect standard deviations (positive priors only)
    corr, corr[GROUP]            LKJ prior of each correlated block
    sigma                        residual SD (Gaussian family; positive priors only)
    shape, phi                   NB2 / Gamma shape, NB1 / Beta dispersion (positive priors only)
    zi                           zero-inflation probability (constant zi: beta(1, 1), brms's
                                 default), or every coefficient of a zi formula
    zi[TERM]                     one coefficient of a zi formula (logit scale; default
                                 logistic(0, 1), brms's prior of the zi intercept: π uniform)

Named sets:

* ``default``: normal(0, 5) on every coefficient, half_student_t(3, 2.5) on SDs, lkj(2);
* ``brms``: brms's own defaults (:func:`brms_default_priors`; brms 2.18's ``get_prior``): flat
  b, student_t(3, μ̂, s) on the centred Intercept, half_student_t(3, s) on SDs (and on a Gaussian
  σ), lkj(1), with μ̂ and s from the response on the link scale;
* ``brms_proper``: the brms defaults made proper as the reference fits of these tests were run
  (normal(0, 10) on every coefficient, the intercept not centred, half_student_t(3, 2.5), lkj(1)).

A family's other extra parameters take the family's own default prior
(:class:`~bayesglmm.model.families.ExtraParameter`: gamma(0.01, 0.01) on a shape or precision,
beta(1, 1) on zi, brms's; Gaussian sigma: half_student_t(3, 2.5) outside the ``brms`` set).
Overrides are applied over the set, the most specific name winning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpyro.distributions as dist

import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from ..model.families import FAMILIES
from ..model.parameters import beta_name, common_name, sd_name
from .prior_sets import PRIOR_SETS, brms_default_priors

__all__ = ["PRIOR_SETS", "Prior", "PriorSet", "brms_default_priors", "parse_prior", "resolve_priors"]


_ARITY = {
    "normal": 2,
    "student_t": 3,
    "cauchy": 2,
    "half_normal": 1,
    "half_student_t": 2,
    "half_cauchy": 1,
    "exponential": 1,
    "gamma": 2,
    "logistic": 2,
    "lognormal": 2,
    "inv_gamma": 2,
    "beta": 2,
    "uniform": 2,
    "lkj": 1,
    "flat": 0,
}
_POSITIVE = {"half_normal", "half_student_t", "half_cauchy", "exponential", "gamma", "lognormal", "inv_gamma"}
_REAL = {"normal", "student_t", "cauchy", "logistic"}
_UNIT = {"beta"}
ZI_COEFFICIENT_PRIOR = "logistic(0, 1)"


@dataclass(frozen=True)
class Prior:
    """A parsed prior: family name and numeric arguments."""

    family: str
    args: tuple[float, ...]

    def __str__(self) -> str:
        if not self.args:
            return self.family
        return f"{self.family}({', '.join(f'{a:g}' for a in self.args)})"

    def distribution(self) -> dist.Distribution:
        """The NumPyro distribution."""
        import numpyro.distributions as dist

        a = self.args
        return {
            "normal": lambda: dist.Normal(a[0], a[1]),
            "student_t": lambda: dist.StudentT(a[0], a[1], a[2]),
            "cauchy": lambda: dist.Cauchy(a[0], a[1]),
            "half_normal": lambda: dist.HalfNormal(a[0]),
            "half_student_t": lambda: dist.FoldedDistribution(dist.StudentT(a[0], 0.0, a[1])),
            "half_cauchy": lambda: dist.HalfCauchy(a[0]),
            "exponential": lambda: dist.Exponential(a[0]),
            "gamma": lambda: dist.Gamma(a[0], a[1]),  # shape, rate (as brms and Stan)
            "logistic": lambda: dist.Logistic(a[0], a[1]),
            "lognormal": lambda: dist.LogNormal(a[0], a[1]),
            "inv_gamma": lambda: dist.InverseGamma(a[0], a[1]),  # shape, scale (as Stan)
            "beta": lambda: dist.Beta(a[0], a[1]),
            "uniform": lambda: dist.Uniform(a[0], a[1]),
            "flat": lambda: dist.ImproperUniform(dist.constraints.real, (), ()),
        }[self.family]()


def parse_prior(text: str, name: str = "prior") -> Prior:
    """Parse ``family(a, b, ...)``; errors say what is accepted."""
    if str(text).strip() in ("flat", "flat()", ""):  # brms writes a flat prior as "" and prints "(flat)"
        return Prior("flat", ())
    match = re.fullmatch(r"\s*([a-z_]+)\s*\(([^()]*)\)\s*", str(text))
    if not match or match.group(1) not in _ARITY:
        raise SpecError(
            f"cannot read the prior {text!r} for {name}; write family(args) with family one of "
            f"{', '.join(_ARITY)}, e.g. 'normal(0, 10)'"
        )
    family = match.group(1)
    try:
        args = tuple(float(part) for part in match.group(2).split(",") if part.strip())
    except ValueError:
        raise SpecError(f"prior {text!r} for {name}: arguments must be numbers") from None
    if len(args) != _ARITY[family]:
        raise SpecError(f"prior {family} for {name} takes {_ARITY[family]} argument(s), got {len(args)}")
    if not all(math.isfinite(a) for a in args):
        raise SpecError(f"prior {text!r} for {name}: every argument must be a finite number")
    scales = {
        "normal": [1],
        "student_t": [0, 2],
        "cauchy": [1],
        "logistic": [1],
        "lognormal": [1],
        "lkj": [0],
        "uniform": [],
    }.get(family, list(range(len(args))))
    if any(args[i] <= 0 for i in scales):
        raise SpecError(f"prior {text!r} for {name}: scale, degrees of freedom and eta must be positive")
    if family == "uniform" and not args[0] < args[1]:
        raise SpecError(f"prior {text!r} for {name}: uniform(lower, upper) needs lower < upper")
    return Prior(family, args)


@dataclass(frozen=True)
class Centring:
    """brms's centred intercept (its class ``Intercept``): the prior is on α = β₀ + x̄ᵀβ, the
    intercept when every other column of X is centred at its mean x̄, and β₀ = α − x̄ᵀβ (brms's
    ``b_Intercept = Intercept - dot(means_X, b)``). ``index``: the intercept's column; ``means``:
    every column's mean (0 at ``index``)."""

    index: int
    means: tuple[float, ...]


@dataclass(frozen=True)
class PriorSet:
    """Resolved priors: one per fixed effect, per random-effect SD, per correlated block, sigma."""

    beta: tuple[Prior, ...]
    sd: dict  # group -> tuple[Prior, ...] (one per term)
    corr: dict  # group -> tuple[Prior, ...] (one per correlated block)
    sigma: Prior | None  # the prior of the family's extra parameter (sigma, shape, phi), None without one
    source: str  # "brms", "default + overrides", ...
    extra_name: str | None = None  # the extra parameter's name
    zi: tuple[Prior, ...] = ()  # zero inflation: the prior of π (constant zi) or of each zi coefficient
    zi_names: tuple[str, ...] = ()  # their common names (zi, or zi[TERM])
    centring: Centring | None = None  # brms's centred intercept: beta[centring.index] is the prior of α

    @property
    def flat(self) -> bool:
        """Whether some coefficient has the improper flat prior (no prior draws then)."""
        return any(prior.family == "flat" for prior in self.beta)

    def table(self, fixed_names, factors) -> list[tuple[str, str]]:
        """(parameter, prior) rows for printing with a fit."""
        rows = [(beta_name(name), str(prior)) for name, prior in zip(fixed_names, self.beta)]
        if self.centring is not None:
            rows[self.centring.index] = ("Intercept (centred predictors)", str(self.beta[self.centring.index]))
        for factor in factors:
            rows += [(sd_name(factor.group, term), str(p)) for term, p in zip(factor.terms, self.sd[factor.group])]
            for block, prior in zip(_correlated_blocks(factor), self.corr[factor.group]):
                terms = ",".join(factor.terms[i] for i in block)
                rows.append((f"{common_name('corr', factor.group)} ({terms})", str(prior)))
        if self.sigma is not None:
            rows.append((self.extra_name, str(self.sigma)))
        rows += [(name, str(prior)) for name, prior in zip(self.zi_names, self.zi)]
        return rows


def _correlated_blocks(factor):
    return [block for block in factor.blocks if len(block) > 1]


def resolve_priors(spec, prior_set: str = "default", overrides: dict | None = None) -> PriorSet:
    """The priors of every parameter of ``spec`` from a named set and overrides.

    Unknown names (a term or group that is not in the model) and priors of the
    wrong kind (a real-line prior for an SD, LKJ for a coefficient) are errors.
    """
    if prior_set not in PRIOR_SETS:
        raise SpecError(f"unknown prior set {prior_set!r}; choose one of {', '.join(PRIOR_SETS)}")
    base = PRIOR_SETS[prior_set]
    base = base(spec) if callable(base) else dict(base)
    overrides = dict(overrides or {})
    other_extras = {p.name for family in FAMILIES.values() for p in family.extra_parameters}
    own_extras = {p.name for p in spec.family.extra_parameters}
    valid = {"beta", "sd", "corr"} | own_extras | other_extras
    valid |= {beta_name(name) for name in spec.fixed.names}
    intercept = beta_name("(Intercept)")
    if intercept in valid:
        valid.add("Intercept")
    zi_terms = getattr(spec.family, "zi_terms", ())
    if tuple(zi_terms) != ("(Intercept)",):  # a zi formula: its coefficients by name
        valid |= {f"zi[{term}]" for term in zi_terms}
    for factor in spec.random:
        valid |= {common_name("sd", factor.group), common_name("corr", factor.group)}
        valid |= {sd_name(factor.group, term) for term in factor.terms}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise SpecError(
            f"no parameter named {', '.join(unknown)} in this model; priors can be set for: {', '.join(sorted(valid))}"
        )
    wrong = sorted(set(overrides) & (other_extras - own_extras))
    if wrong:
        raise SpecError(f"family {spec.family.name!r} has no {wrong[0]} parameter")

    def pick(*names):  # the most specific name given, the overrides before the set
        for source in (overrides, base):
            for name in names:
                if name in source:
                    return parse_prior(source[name], name), name
        raise AssertionError(f"the prior set has no {names[-1]}")

    def check(prior: Prior, name: str, allowed: set, what: str) -> Prior:
        if prior.family == "uniform" and "lkj" not in allowed:  # bounds within the parameter's range
            low, high = {id(_POSITIVE): (0.0, math.inf), id(_UNIT): (0.0, 1.0)}.get(id(allowed), (-math.inf, math.inf))
            if prior.args[0] < low or prior.args[1] > high:
                raise SpecError(
                    f"prior {prior} for {name}: {what} lies in [{low:g}, {high:g}]; bound uniform within it"
                )
            return prior
        if prior.family not in allowed:
            accepted = sorted(allowed | ({"uniform"} if "lkj" not in allowed else set()))
            raise SpecError(f"prior {prior} for {name}: {what} needs one of {', '.join(accepted)}")
        return prior

    centring = _centring(spec, base, overrides)
    beta = tuple(
        check(
            *pick("Intercept" if centring and n == "(Intercept)" else beta_name(n), "beta"),
            _REAL | {"flat"},
            "a coefficient",
        )
        for n in spec.fixed.names
    )
    sd, corr = {}, {}
    for factor in spec.random:
        g = factor.group
        sd[g] = tuple(
            check(*pick(sd_name(g, t), common_name("sd", g), "sd"), _POSITIVE, "a standard deviation")
            for t in factor.terms
        )
        corr[g] = tuple(
            check(*pick(common_name("corr", g), "corr"), {"lkj"}, "a correlation") for _ in _correlated_blocks(factor)
        )
    sigma, extra_name = None, None
    for parameter in spec.family.extra_parameters:  # an override, else the set's, else the family's default
        if parameter.name == "zi":
            continue
        text = overrides.get(parameter.name, base.get(parameter.name, parameter.prior))  # override, set, family
        prior = parse_prior(text, parameter.name)
        sigma, extra_name = check(prior, parameter.name, _POSITIVE, f"a {parameter.description}"), parameter.name
    zi, zi_names = _zi_priors(zi_terms, overrides, check)
    _check_uniform_vectors({"beta": beta, **{common_name("sd", g): p for g, p in sd.items()}, "zi": zi})
    source = prior_set + (" + overrides" if overrides else "")
    return PriorSet(beta, sd, corr, sigma, source, extra_name, zi, zi_names, centring)


def check_proper(priors: PriorSet) -> None:
    """Refuse prior draws where a coefficient's prior is flat (improper: it has no draws)."""
    flat = [str(p) for p in priors.beta if p.family == "flat"]
    if flat:
        raise SpecError(
            "prior draws need proper priors, and the coefficients' prior is flat (brms's default b, improper); "
            "give beta a proper prior, e.g. priors={'beta': 'normal(0, 10)'}, or use prior_set='brms_proper'"
        )


def _centring(spec, base: dict, overrides: dict) -> Centring | None:
    """brms's centred intercept where the class ``Intercept`` is given (by the set or an override)
    and the intercept's prior is not given as ``beta[(Intercept)]`` instead."""
    names = list(spec.fixed.names)
    intercept = beta_name("(Intercept)")
    if "Intercept" in overrides and intercept in overrides:
        raise SpecError(
            "give the intercept's prior either as Intercept (brms's class: the intercept of centred predictors) "
            "or as beta[(Intercept)] (the intercept itself), not both"
        )
    wanted = "Intercept" in overrides or ("Intercept" in base and intercept not in overrides)
    if not wanted or "(Intercept)" not in names:
        return None
    index = names.index("(Intercept)")
    means = np.mean(np.asarray(spec.fixed.X, dtype=float), axis=0)
    means[index] = 0.0
    return Centring(index, tuple(float(m) for m in means))


def _check_uniform_vectors(vectors: dict) -> None:
    """A uniform prior bounds its parameter, and a vector site has one range: refuse uniform mixed
    with other families within one vector (β, a factor's SDs, zi coefficients)."""
    for name, priors in vectors.items():
        families = {prior.family for prior in priors}
        if "uniform" in families and len(families) > 1:
            raise SpecError(
                f"the priors of {name} mix uniform with {', '.join(sorted(families - {'uniform'}))}: a uniform prior "
                f"bounds its parameter, so give every parameter of {name} a uniform prior or none"
            )


def _zi_priors(zi_terms, overrides: dict, check) -> tuple[tuple[Prior, ...], tuple[str, ...]]:
    """The zero-inflation priors: of π itself for a constant zi (default beta(1, 1), brms's), else
    of each logit-scale coefficient (``zi[TERM]``, then ``zi``, default logistic(0, 1))."""
    if not zi_terms:
        return (), ()
    if tuple(zi_terms) == ("(Intercept)",):
        prior = parse_prior(overrides.get("zi", "beta(1, 1)"), "zi")
        return (check(prior, "zi", _UNIT, "the zero-inflation probability"),), ("zi",)
    names = tuple(f"zi[{term}]" for term in zi_terms)
    priors = tuple(
        check(
            parse_prior(overrides.get(name, overrides.get("zi", ZI_COEFFICIENT_PRIOR)), name),
            name,
            _REAL,
            "a coefficient",
        )
        for name in names
    )
    return priors, names
