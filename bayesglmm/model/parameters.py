"""The one place that names a model's parameters: the common names every engine reports, the
NumPyro sites and ArviZ dimensions of the Bayesian programs, and the map between them.

Common names (the parameterisation ML, Bayes and GEE fits share, and ``simulate`` reads)::

    beta[TERM]                 a fixed effect
    sd[GROUP,TERM]             a random-effect standard deviation
    corr[GROUP,TERM1,TERM2]    a random-effect correlation (TERM1 before TERM2 in the factor)
    var[GROUP,TERM], cov[GROUP,TERM1,TERM2]   the elements of G (ML's covariance parameters)
    sigma                      a family's extra parameter, by its own name (Gaussian: sigma)

Prior classes use the same spelling with fewer parts (``sd[GROUP]``, ``corr[GROUP]``, ``beta``).
The unconstrained vector φ of the ML engine is laid out by :mod:`bayesglmm.core.covariance`
and :class:`bayesglmm.core.group_likelihood.MarginalModel` (β, then θ per factor, then the
extra parameters on the log scale).
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^(?P<kind>[a-z_]+)(?:\[(?P<parts>.*)\])?$")


def common_name(kind: str, *parts: str) -> str:
    """``kind[part1,part2,...]`` (``kind`` alone without parts): ``common_name("sd", "id", "time")``."""
    return f"{kind}[{','.join(parts)}]" if parts else kind


def parse_common_name(name: str) -> tuple[str, tuple[str, ...]]:
    """The inverse of :func:`common_name`: ``"sd[id,time]"`` -> ``("sd", ("id", "time"))``.

    Terms with commas inside (``poly(x, 2)1``) are not split apart: a part ends at a comma only
    outside parentheses.
    """
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a parameter name such as beta[time] or sd[id,(Intercept)]")
    parts, depth, current = [], 0, ""
    for character in match.group("parts") or "":
        depth += {"(": 1, ")": -1}.get(character, 0)
        if character == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += character
    if match.group("parts") is not None:
        parts.append(current)
    return match.group("kind"), tuple(parts)


STRUCTURAL_KINDS = ("beta", "sd", "corr", "var", "cov")


def parameter_kind(name: str) -> str:
    """``beta``, ``sd``, ``corr``, ``var``, ``cov`` — or ``family`` for a family's extra parameter
    (``sigma``, ``shape``, ``phi``, …)."""
    kind = parse_common_name(name)[0]
    return kind if kind in STRUCTURAL_KINDS else "family"


def interval_scale(name: str) -> str:
    """The scale of a family parameter's Wald interval, so that it stays in the parameter's range:
    ``logit`` for the zero-inflation probability ``zi``, ``identity`` for the logit-scale
    coefficients ``zi[term]`` of a zi formula, ``log`` for the positive ones (σ, shape, φ)."""
    kind = parse_common_name(name)[0]
    if name == "zi":
        return "logit"
    return "identity" if kind == "zi" else "log"


def beta_name(term: str) -> str:
    return common_name("beta", term)


def sd_name(group: str, term: str) -> str:
    return common_name("sd", group, term)


def corr_name(group: str, first: str, second: str) -> str:
    return common_name("corr", group, first, second)


def var_name(group: str, term: str) -> str:
    return common_name("var", group, term)


def cov_name(group: str, first: str, second: str) -> str:
    return common_name("cov", group, first, second)


# -- NumPyro sites and ArviZ dimensions of the Bayesian programs ------------------------------
BETA_SITE = "beta"


def sd_site(group: str) -> str:
    """The vector of a factor's random-effect SDs."""
    return f"sd_{group}"


def corr_site(group: str) -> str:
    """A factor's correlation matrix (a deterministic site)."""
    return f"corr_{group}"


def effects_site(group: str) -> str:
    """A factor's random effects b (levels × terms; a deterministic site)."""
    return f"b_{group}"


def innovations_site(group: str) -> str:
    """The standard-normal innovations z of a factor's non-centred random effects."""
    return f"z_{group}"


def cholesky_site(group: str, block: int) -> str:
    """The LKJ Cholesky factor of one correlated block of a factor."""
    return f"L_{group}_{block}"


def term_dim(group: str) -> str:
    """The ArviZ dimension of a factor's random-effect terms (``term_dim(g) + "_bis"``: the second)."""
    return f"{group}_term"


def reported_sites(fixed_names, factors, family) -> list[tuple[str, str, tuple]]:
    """(common name, posterior variable, index) of every reported parameter, in the common order:
    β, then per factor its SDs and correlations (within each correlated block), then the family's
    extra parameters. ``factors`` have ``group``, ``terms`` and ``blocks``."""
    rows = [(beta_name(name), BETA_SITE, (j,)) for j, name in enumerate(fixed_names)]
    for factor in factors:
        g = factor.group
        rows += [(sd_name(g, term), sd_site(g), (j,)) for j, term in enumerate(factor.terms)]
        for block in factor.blocks:
            for a, i in enumerate(block):
                for j in block[:a]:
                    rows.append((corr_name(g, factor.terms[j], factor.terms[i]), corr_site(g), (i, j)))
    for name, _ in family.reported_extras():  # sigma, shape, zi: scalar sites; zi[TERM]: entries of the site zi
        kind, parts = parse_common_name(name)
        rows.append((name, kind, (sum(1 for row in rows if row[1] == kind),) if parts else ()))
    return rows
