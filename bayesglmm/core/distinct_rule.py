"""The automatic number of points (:mod:`.point_rule`) evaluated on the distinct groups.

The rule compares −2ℓ(φ) on grids of increasing size and takes the smallest number of points
within 0.01 of the next one.  −2ℓ is the same sum over the distinct groups weighted by how often
they occur, Σ_i ℓ_i = Σ_d n_d ℓ_d (:func:`.data.distinct_groups`), and there it costs a fraction
when groups repeat: amenorrhea's 1151 women are 55 distinct groups with 184 rows instead of 3616,
and the rule at one φ takes 0.05 s instead of 0.5 s (warm; the grids are padded to the largest
candidate's, 2601 nodes for q = 2, so that one program serves them all).  Used by the ML
engine's automatic points on data in one chunk whose groups repeat (:func:`worth_it`), by the
marginal sampler at the ML estimates and at the posterior mode, and by the group
log-likelihoods at the posterior means.

The distinct groups are padded to a :func:`~.shapes.stable_shape`, so a formula of the same
structure reuses the program.  The modes start from zero at every φ (the ML objective's rule
starts them at the current modes: the same modes to the Newton tolerance).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401  (float64)
from ..model.families import Family
from ..model.spec import ModelSpec
from .compiled import compiled
from .covariance import CovarianceStructure
from .data import GroupedData, distinct_groups, grouped_data, padded_groups, single_factor, zero_padded
from .group_likelihood import MarginalModel, group_logliks
from .modes import find_modes
from .parameter_map import phi_from_natural
from .point_rule import DEFAULT_MAX_NODES, DEFAULT_TOL, ONE_PROGRAM_UP_TO, choose_by_rule
from .shapes import ChunkShape, FixedColumnPadding, stable_shape

# The distinct groups pay when they are at most this share of the groups (fewer rows to integrate);
# otherwise the ML engine's objective, optimised for its data, evaluates the rule.
WORTH_IT_SHARE = 0.5


def worth_it(n_groups: int, n_distinct: int) -> bool:
    """Whether the ML engine's rule should run on the distinct groups (of data in one chunk,
    :data:`~.shapes.SHARED_UP_TO_ROWS` rows, which the caller checks before finding them): when
    they are at most :data:`WORTH_IT_SHARE` of the groups."""
    return n_distinct <= WORTH_IT_SHARE * n_groups


def rule_on_distinct_phi(
    family: Family,
    covariance: CovarianceStructure,
    phi,
    n_fixed: int,
    distinct: GroupedData,
    counts: np.ndarray,
    tol: float = DEFAULT_TOL,
    max_nodes: int = DEFAULT_MAX_NODES,
    one_program_up_to: int = ONE_PROGRAM_UP_TO,
) -> tuple[int, dict[int, float]]:
    """The rule's number of points at φ (the engines' parameter vector, ``n_fixed`` coefficients
    first) and its table of −2ℓ by number of points, on the groups ``distinct`` standing for
    ``counts`` groups each (:func:`~.point_rule.choose_by_rule`: the largest candidate, with a
    warning, if none agrees)."""
    shape = stable_shape(ChunkShape(distinct.y.shape[0], distinct.n_groups, n_fixed))
    data = padded_groups(distinct, shape)
    weights = jnp.asarray(zero_padded(np.asarray(counts, dtype=float), shape.groups))
    marginal = MarginalModel(family, covariance, shape.fixed_columns, "agq")
    phi = jnp.asarray(FixedColumnPadding(n_fixed, shape.fixed_columns).embed(phi))

    def deviance_on_grid(nodes, log_weights):
        return float(rule_deviance(phi, data, weights, jnp.asarray(nodes), jnp.asarray(log_weights), marginal))

    chosen, table = choose_by_rule(deviance_on_grid, covariance.q, shape.rows, tol, max_nodes, one_program_up_to)
    return int(chosen), table


def rule_on_distinct(
    family: Family, covariance: CovarianceStructure, beta, G, extra, distinct: GroupedData, counts: np.ndarray
) -> tuple[int, dict[int, float]]:
    """:func:`rule_on_distinct_phi` at natural values: β, G and the family's extra (σ, the NB2
    shape, …; :func:`~.parameter_map.phi_from_natural`)."""
    beta = np.asarray(beta, dtype=float)
    phi = phi_from_natural(covariance, beta, G, extra, family)
    return rule_on_distinct_phi(family, covariance, phi, beta.size, distinct, counts)


def rule_for_spec(spec: ModelSpec, beta, G, extra, distinct=None) -> int:
    """:func:`rule_on_distinct`'s number of points for ``spec``'s one grouping factor at (β, G, extra);
    ``distinct``: its (distinct groups, counts) when known (:func:`~.data.distinct_groups`)."""
    factor = single_factor(spec)
    groups, counts = distinct if distinct is not None else distinct_groups(grouped_data(spec))[:2]
    return rule_on_distinct(spec.family, CovarianceStructure(factor.q, factor.blocks), beta, G, extra, groups, counts)[
        0
    ]


@compiled(static_argnames="marginal", compiler_options={"xla_backend_optimization_level": 0})
def rule_deviance(phi, data, counts, nodes, log_weights, marginal) -> jax.Array:
    """−2ℓ(φ) = −2 Σ_d n_d ℓ_d over the distinct groups, modes found from zero (as the ML rule).
    Run a few times per fit (one per number of points): compiled with XLA's cheapest backend
    optimisation, which compiles in two thirds of the time and runs in milliseconds still."""
    beta, chol_G, extras = marginal.unpack(phi)
    zeros = jnp.zeros((data.n_groups, marginal.covariance.q), dtype=phi.dtype)
    modes = find_modes(data.X @ beta + data.offset, chol_G, extras, data, marginal.family, zeros)
    return -2.0 * jnp.sum(counts * group_logliks(phi, data, marginal, nodes, log_weights, modes))
