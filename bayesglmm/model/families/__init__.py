"""Response families as objects (:class:`Family`), a registry, and :func:`make_family`.

``make_family("poisson")`` builds a family from its name and optional link (default: its first,
canonical one); :func:`register_family` adds a family class, for this package's own families
and for users' or tests' (CONTRIBUTING.md, "Adding a family").
"""

from __future__ import annotations

from ..links import LINKS, get_link, inverse_link, link_function
from .base import ExtraParameter, Family, check_counts
from .beta import Beta
from .binomial import Bernoulli, Binomial, softplus
from .gamma import Gamma
from .gaussian import Gaussian
from .negative_binomial import NegativeBinomial1, NegativeBinomial2
from .poisson import Poisson
from .zero_inflated import ZeroInflatedNB2, ZeroInflatedPoisson, zero_inflated

FAMILIES: dict[str, type[Family]] = {}
_ALIASES: dict[str, str] = {}  # lower-cased other spellings -> name


def register_family(family: type[Family]) -> type[Family]:
    """Make ``family`` (a :class:`Family` subclass) available by its ``name``; usable as a decorator.

    A family defined outside this package enters the on-disk program cache's key by its class's
    source (:mod:`bayesglmm.core.compiled`), so an edited family is traced again; a class whose
    source cannot be read (typed at an interactive prompt) is compiled in memory only.
    """
    from ...errors import SpecError

    if not (isinstance(family, type) and issubclass(family, Family)):
        raise SpecError(f"register_family takes a Family subclass, got {family!r}")
    FAMILIES[family.name] = family
    for alias in family.aliases:
        _ALIASES[alias.lower()] = family.name
    return family


for _family in (
    Bernoulli, Binomial, Poisson, Gaussian, NegativeBinomial2, NegativeBinomial1, Gamma, Beta,
    ZeroInflatedPoisson, ZeroInflatedNB2,
):  # fmt: skip
    register_family(_family)


def make_family(name: str, link: str | None = None) -> Family:
    """Family from its name and optional link (default: the canonical one).

    The family is required (as lme4's ``glmer``): a default would silently fit counts or
    measurements as 0/1 data.
    """
    from ...errors import SpecError

    if name is None:
        raise SpecError(f"the family is required (as in lme4's glmer): choose one of {', '.join(FAMILIES)}")
    if not isinstance(name, str):
        raise SpecError(f"family must be a name ({', '.join(FAMILIES)}), got {type(name).__name__} {name!r}")
    if link is not None and not isinstance(link, str):
        raise SpecError(f"link must be a name ({', '.join(LINKS)}), got {type(link).__name__} {link!r}")
    key = name.lower()
    family = FAMILIES.get(key) or FAMILIES.get(_ALIASES.get(key, ""))
    if family is None:
        raise SpecError(f"unknown family {name!r}; choose one of {', '.join(FAMILIES)}")
    return family((link or family.links[0]).lower())


__all__ = [
    "FAMILIES",
    "LINKS",
    "Bernoulli",
    "Beta",
    "Binomial",
    "ExtraParameter",
    "Family",
    "Gamma",
    "Gaussian",
    "NegativeBinomial1",
    "NegativeBinomial2",
    "Poisson",
    "check_counts",
    "get_link",
    "inverse_link",
    "link_function",
    "make_family",
    "register_family",
    "softplus",
    "ZeroInflatedNB2",
    "ZeroInflatedPoisson",
    "zero_inflated",
]
