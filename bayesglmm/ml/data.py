"""Arrays of one grouping factor, rows sorted by group, as a JAX pytree.

Per-group sums use ``jax.ops.segment_sum`` over the sorted group index, so the
memory is linear in rows whatever the cluster sizes (no padding).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from .. import _jax  # noqa: F401
import jax

from ..errors import SpecError
from ..spec import ModelSpec


@partial(
    jax.tree_util.register_dataclass,
    data_fields=["X", "Z", "y", "trials", "offset", "group"],
    meta_fields=["n_groups"],
)
@dataclass(frozen=True)
class GroupedData:
    """Model arrays with rows sorted by group.

    Shapes: ``X`` (n, p), ``Z`` (n, q), ``y``/``trials``/``offset`` (n,),
    ``group`` (n,) int, non-decreasing, in [0, n_groups).
    """

    X: jax.Array
    Z: jax.Array
    y: jax.Array
    trials: jax.Array
    offset: jax.Array
    group: jax.Array
    n_groups: int


def single_factor(spec: ModelSpec):
    """The one grouping factor of ``spec``, or an error naming the limitation."""
    if len(spec.random) == 0:
        raise SpecError("the formula has no random-effect term such as (1 | group); fit a GLM instead")
    if len(spec.random) > 1:
        names = ", ".join(f"'{factor.group}'" for factor in spec.random)
        raise SpecError(
            f"adaptive quadrature and this step need one grouping factor; this model has {len(spec.random)} "
            f"({names}). Fit nested and crossed random effects with fit_ml(spec, method='laplace')"
        )
    return spec.random[0]


def grouped_data(spec: ModelSpec) -> GroupedData:
    """The rows of ``spec`` sorted by group (results are per group, so no row order is kept)."""
    factor = single_factor(spec)
    order = np.argsort(factor.index, kind="stable")
    # device_put, not jnp.asarray: no eager XLA program per array on the way in
    data = GroupedData(
        X=jax.device_put(spec.fixed.X[order]),
        Z=jax.device_put(factor.Z[order]),
        y=jax.device_put(spec.y[order]),
        trials=jax.device_put(spec.trials[order]),
        offset=jax.device_put(spec.offset[order]),
        group=jax.device_put(factor.index[order].astype(np.int32)),
        n_groups=len(factor.levels),
    )
    return data
