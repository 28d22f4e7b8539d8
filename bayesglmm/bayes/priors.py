"""Priors of the Bayesian engine: a small text syntax, named sets, overrides per class and term.

A prior is written as text, the same in Python and TOML::

    normal(0, 10)          student_t(3, 0, 2.5)     cauchy(0, 2.5)
    half_normal(2.5)       half_student_t(3, 2.5)   half_cauchy(1)     exponential(1)
    gamma(0.01, 0.01)      (shape, rate: brms's default for a negative binomial or Gamma shape)
    logistic(0, 1)         lognormal(0, 1)          inv_gamma(2, 1)
    beta(1, 1)             (probabilities only: the zero-inflation probability zi)
    lkj(1)                 (correlations only: LKJ(eta) on the correlation matrix)

Classes and their names (the common parameterisation):

    beta, beta[TERM]             fixed effects (every coefficient, the intercept included)
    sd, sd[GROUP], sd[GROUP,TERM] random-effect standard deviations (positive priors only)
    corr, corr[GROUP]            LKJ prior of each correlated block
    sigma                        residual SD (Gaussian family; positive priors only)
    shape, phi                   NB2 / Gamma shape, NB1 / Beta dispersion (positive priors only)
    zi                           zero-inflation probability (constant zi: beta(1, 1), brms's
                                 default), or every coefficient of a zi formula
    zi[TERM]                     one coefficient of a zi formula (logit scale; default
                                 logistic(0, 1), brms's prior of the zi intercept: π uniform)

Named sets: ``default`` and ``brms`` (brms's proper defaults: every coefficient Normal(0, 10),
SDs Student-t(3, 0, 2.5) folded at zero, correlations LKJ(1)). A family's extra parameters
(sigma) take the family's own default prior (:class:`~bayesglmm.model.families.ExtraParameter`;
Gaussian sigma: Student-t(3, 0, 2.5) folded at zero, brms's default, in both sets).
Overrides are applied over the set, the most specific name winning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpyro.distributions as dist

import re
from dataclasses import dataclass

from ..errors import SpecError
from ..model.families import FAMILIES
from ..model.parameters import beta_name, common_name, sd_name

PRIOR_SETS = {
    "default": {
        "beta": "normal(0, 5)",
        "sd": "half_student_t(3, 2.5)",
        "corr": "lkj(2)",
    },
    "brms": {
        "beta": "normal(0, 10)",
        "sd": "half_student_t(3, 2.5)",
        "corr": "lkj(1)",
    },
}

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
    "lkj": 1,
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
        }[self.family]()


def parse_prior(text: str, name: str = "prior") -> Prior:
    """Parse ``family(a, b, ...)``; errors say what is accepted."""
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
    scales = {"normal": [1], "student_t": [0, 2], "cauchy": [1], "logistic": [1], "lognormal": [1], "lkj": [0]}.get(
        family, list(range(len(args)))
    )
    if any(args[i] <= 0 for i in scales):
        raise SpecError(f"prior {text!r} for {name}: scale, degrees of freedom and eta must be positive")
    return Prior(family, args)


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

    def table(self, fixed_names, factors) -> list[tuple[str, str]]:
        """(parameter, prior) rows for printing with a fit."""
        rows = [(beta_name(name), str(prior)) for name, prior in zip(fixed_names, self.beta)]
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
    base = dict(PRIOR_SETS[prior_set])
    overrides = dict(overrides or {})
    other_extras = {p.name for family in FAMILIES.values() for p in family.extra_parameters}
    own_extras = {p.name for p in spec.family.extra_parameters}
    valid = {"beta", "sd", "corr"} | own_extras | other_extras
    valid |= {beta_name(name) for name in spec.fixed.names}
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

    def pick(*names):
        for name in names:
            if name in overrides:
                return parse_prior(overrides[name], name), name
        return parse_prior(base[names[-1]], names[-1]), names[-1]

    def check(prior: Prior, name: str, allowed: set, what: str) -> Prior:
        if prior.family not in allowed:
            raise SpecError(f"prior {prior} for {name}: {what} needs one of {', '.join(sorted(allowed))}")
        return prior

    beta = tuple(check(*pick(beta_name(n), "beta"), _REAL, "a coefficient") for n in spec.fixed.names)
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
    for parameter in spec.family.extra_parameters:  # the family's default prior unless overridden
        if parameter.name == "zi":
            continue
        prior = (
            parse_prior(overrides[parameter.name], parameter.name)
            if parameter.name in overrides
            else parse_prior(parameter.prior, parameter.name)
        )
        sigma, extra_name = check(prior, parameter.name, _POSITIVE, f"a {parameter.description}"), parameter.name
    zi, zi_names = _zi_priors(zi_terms, overrides, check)
    source = prior_set + (" + overrides" if overrides else "")
    return PriorSet(beta, sd, corr, sigma, source, extra_name, zi, zi_names)


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
