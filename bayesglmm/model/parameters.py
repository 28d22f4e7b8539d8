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
    """The scale a parameter's Wald interval is built on, so that it stays in the parameter's
    range (:func:`~bayesglmm.results.stats.wald_interval`): ``identity`` for β and the logit-scale
    coefficients ``zi[term]`` of a zi formula, ``log`` for SDs and the positive family parameters
    (σ, shape, φ), ``fisher`` for correlations, ``logit`` for the zero-inflation probability ``zi``."""
    kind = parse_common_name(name)[0]
    if kind in ("beta", "var", "cov"):
        return "identity"
    if kind == "sd":
        return "log"
    if kind == "corr":
        return "fisher"
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
# brms's centred intercept (:class:`~bayesglmm.bayes.priors.Centring`): the sampled sites, from
# which β is a deterministic site; left out of the posterior (β carries them)
CENTRED_INTERCEPT_SITE = "centred_intercept"
CENTRED_SLOPES_SITE = "centred_slopes"


def sd_site(group: str) -> str:
    """The vector of a factor's random-effect SDs."""
    return f"sd_{group}"


def corr_site(group: str) -> str:
    """A factor's correlations, one per pair of terms in a correlated block (a deterministic site;
    :func:`correlation_pairs` orders them), not the matrix: its constant diagonal and repeated
    upper triangle made ArviZ's default summaries show NaN R-hats and every correlation twice."""
    return f"corr_{group}"


def pair_dim(group: str) -> str:
    """The ArviZ dimension of a factor's correlations, labelled ``TERM1,TERM2`` (:func:`pair_label`)."""
    return f"{group}_pair"


def correlation_pairs(blocks) -> list[tuple[int, int]]:
    """The (row, column) index pairs, row > column, of the correlations within each covariance
    block, in the order of the common names (block by block, row by row): the entries of
    :func:`corr_site`."""
    return [(i, j) for block in blocks for a, i in enumerate(block) for j in block[:a]]


def pair_label(terms, pair: tuple[int, int]) -> str:
    """``TERM1,TERM2`` of a correlation pair (i, j): the earlier term first, as in its common name."""
    i, j = pair
    return f"{terms[j]},{terms[i]}"


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


def posterior_location(name: str) -> tuple[str, dict[str, str]]:
    """Where a common name's draws sit in a Bayesian fit's posterior: (variable, {dimension: label}),
    e.g. ``sd[id,time]`` -> ``("sd_id", {"id_term": "time"})``, ``corr[id,a,b]`` ->
    ``("corr_id", {"id_pair": "a,b"})``, ``shape`` -> ``("shape", {})``."""
    kind, parts = parse_common_name(name)
    if kind == "beta":
        return BETA_SITE, {"term": parts[0]}
    if kind == "sd":
        return sd_site(parts[0]), {term_dim(parts[0]): parts[1]}
    if kind == "corr":
        return corr_site(parts[0]), {pair_dim(parts[0]): f"{parts[1]},{parts[2]}"}
    if kind == "zi" and parts:
        return "zi", {"zi_term": parts[0]}
    return name, {}


def reported_names(fixed_names, factors, family) -> list[str]:
    """The common name of every reported parameter of a Bayesian program, in the common order: β,
    then per factor its SDs and correlations (within each correlated block), then the family's
    extra parameters (their draws: :func:`posterior_location`). ``factors`` have ``group``,
    ``terms`` and ``blocks``."""
    names = [beta_name(name) for name in fixed_names]
    for factor in factors:
        g = factor.group
        names += [sd_name(g, term) for term in factor.terms]
        names += [corr_name(g, factor.terms[j], factor.terms[i]) for i, j in correlation_pairs(factor.blocks)]
    return names + [name for name, _ in family.reported_extras()]
