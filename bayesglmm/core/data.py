"""Arrays of one grouping factor, rows sorted by group, as a JAX pytree.

Per-group sums use ``jax.ops.segment_sum`` over the sorted group index, so the
memory is linear in rows whatever the cluster sizes (no padding).

For the ML objective the groups are cut into K *chunks* of whole groups (:func:`chunked_data`),
padded to one shape and stacked on a leading axis that the objective maps over and that is
sharded across the JAX devices (several GPUs, or CPU host devices): one program, any number of
devices.  Padding costs nothing in the sums: padded rows (copies of a real row, valid for the
family) carry the group index G, out of range, which ``segment_sum`` drops; a padded group has no
rows, and a group without rows has marginal log-likelihood exactly 0 (∫ N(b; 0, G) db = 1, and
Laplace and AGQ are exact for it).  Padded fixed-effect columns are zero (:mod:`.shapes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..model.design import RandomFactor

from dataclasses import astuple, dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .. import _jax  # noqa: F401
from ..errors import SpecError
from ..model.spec import ModelSpec
from .shapes import SHAPES, SHARED_UP_TO_ROWS, ChunkShape, FixedColumnPadding

# From this many groups (per chunk) the Newton steps of the modes work on the entries of the small
# matrices (:mod:`.smallmat`), below it on (n_groups, q, q) arrays: the default of the static field
# GroupedData.entries_from_groups (measurements: docs/ml.md, "Speed").
ENTRIES_FROM_GROUPS = 50_000


@partial(
    jax.tree_util.register_dataclass,
    data_fields=["X", "Z", "y", "trials", "offset", "group", "W"],
    meta_fields=["n_groups", "entries_from_groups"],
)
@dataclass(frozen=True)
class GroupedData:
    """Model arrays with rows sorted by group.

    Shapes: ``X`` (n, p), ``Z`` (n, q), ``y``/``trials``/``offset`` (n,), ``W`` (n, k) the
    families' per-row covariates (the zero-inflation design; k = 0 without one),
    ``group`` (n,) int, non-decreasing, in [0, n_groups). ``entries_from_groups`` is the number
    of groups from which the Newton steps work on small-matrix entries
    (:data:`ENTRIES_FROM_GROUPS`): a static field, so a program compiled
    under one value is never served for another (it is part of the jit and on-disk keys).
    """

    X: jax.Array
    Z: jax.Array
    y: jax.Array
    trials: jax.Array
    offset: jax.Array
    group: jax.Array
    W: jax.Array
    n_groups: int
    entries_from_groups: int = ENTRIES_FROM_GROUPS


def single_factor(spec: ModelSpec) -> RandomFactor:
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
        W=jax.device_put(spec.zi_X[order]),
        n_groups=len(factor.levels),
    )
    return data


def distinct_groups(data: GroupedData, pattern: np.ndarray | None = None) -> tuple[GroupedData, np.ndarray, np.ndarray]:
    """The groups of ``data`` with distinct rows, how many groups each stands for, and which.

    Groups whose rows are identical (X, Z, y, trials, offset, W, in order) have identical marginal
    likelihoods, modes and conditional posteriors, so Σ_i ℓ_i = Σ_d n_d ℓ_d exactly: a binary
    outcome with few visits repeats patterns (amenorrhea: 1151 women, 55 distinct groups).
    Returns (the first group of each pattern as :class:`GroupedData`, counts n_d (D,), the index of
    that first group (D,)).
    """
    host = {name: np.asarray(getattr(data, name)) for name in ("X", "Z", "y", "trials", "offset", "W")}
    pattern = group_patterns(data) if pattern is None else pattern  # each group's pattern, if known
    bounds = np.concatenate([[0], np.cumsum(np.bincount(np.asarray(data.group), minlength=data.n_groups))])
    counts = np.bincount(pattern)
    representative = np.unique(pattern, return_index=True)[1]  # the first group of each pattern
    kept = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in representative])
    distinct = GroupedData(
        **{name: jax.device_put(values[kept]) for name, values in host.items()},
        group=jax.device_put(np.repeat(np.arange(len(counts), dtype=np.int32), np.diff(bounds)[representative])),
        n_groups=len(counts),
    )
    return distinct, counts, representative


def zero_padded(values, size: int, axis: int = -1) -> np.ndarray | jax.Array:
    """``values`` with zeros appended along ``axis`` up to ``size`` entries (itself when it has
    them): counts, mode starts and coefficients of the groups and columns :func:`padded_groups` adds."""
    extra = size - values.shape[axis]
    if extra == 0:
        return values
    xp = jnp if isinstance(values, jax.Array) else np
    zeros_shape = list(values.shape)
    zeros_shape[axis] = extra
    return xp.concatenate([values, xp.zeros(zeros_shape, dtype=values.dtype)], axis=axis)


def padded_groups(data: GroupedData, shape: ChunkShape) -> GroupedData:
    """``data`` (one chunk) padded to ``shape``: as :func:`chunked_data` pads, padded rows repeat
    the first row (a valid response for every family) under the out-of-range group index
    ``shape.groups``, padded groups have no rows and padded fixed-effect columns are zero, so
    every per-group sum over the real groups is unchanged."""
    rows, p = data.X.shape
    if (rows, data.n_groups, p) == (shape.rows, shape.groups, shape.fixed_columns):
        return data
    extra = shape.rows - rows

    def rows_of(values):
        values = np.asarray(values)
        return np.concatenate([values, np.repeat(values[:1], extra, axis=0)])

    X = np.zeros((shape.rows, shape.fixed_columns))
    X[:, :p] = rows_of(data.X)
    group = np.concatenate([np.asarray(data.group), np.full(extra, shape.groups, dtype=np.int32)])
    arrays = {name: rows_of(getattr(data, name)) for name in ("Z", "y", "trials", "offset", "W")}
    return GroupedData(
        X=jax.device_put(X),
        group=jax.device_put(group.astype(np.int32)),
        **{name: jax.device_put(values) for name, values in arrays.items()},
        n_groups=shape.groups,
        entries_from_groups=data.entries_from_groups,
    )


def group_patterns(data: GroupedData) -> np.ndarray:
    """Each group's pattern (n_groups,): groups with identical rows (X, Z, y, trials, offset, W, in
    order) share one, numbered in order of first appearance (:func:`distinct_groups`)."""
    names = ("X", "Z", "y", "trials", "offset", "W")
    rows = np.column_stack([np.asarray(getattr(data, n)).reshape(data.y.shape[0], -1).astype(float) for n in names])
    bounds = np.concatenate([[0], np.cumsum(np.bincount(np.asarray(data.group), minlength=data.n_groups))])
    first_of: dict[bytes, int] = {}
    return np.array(
        [first_of.setdefault(rows[bounds[i] : bounds[i + 1]].tobytes(), len(first_of)) for i in range(data.n_groups)]
    )


def host_array(values) -> np.ndarray:
    """``values`` whole on this host: ``np.asarray``, or, for an array whose chunks sit on other
    processes' devices too (JAX's multi-process mode, :mod:`bayesglmm.distributed`), gathered from
    every process (``multihost_utils.process_allgather``; a collective: every process calls it)."""
    if isinstance(values, jax.Array) and not values.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(values, tiled=True))
    return np.asarray(values)


@dataclass(frozen=True)
class ChunkedData:
    """:class:`GroupedData` with a leading chunk axis (K, ...) and where each group went.

    ``group_ids`` (K, G): the original group index held in each chunk's group slot, −1 for padding.
    """

    data: GroupedData
    group_ids: np.ndarray
    n_fixed: int | None = None  # the model's fixed-effect columns; X holds more (zero) when padded

    @property
    def padding(self) -> FixedColumnPadding:
        """Between the model's φ and the programs' (:mod:`.shapes`)."""
        padded = int(self.data.X.shape[-1])
        return FixedColumnPadding(padded if self.n_fixed is None else self.n_fixed, padded)

    @property
    def n_groups(self) -> int:
        return int(np.sum(self.group_ids >= 0))

    def gather(self, values) -> np.ndarray:
        """Per-chunk values (K, G, ...) -> (n_groups, ...) in the original group order."""
        values = host_array(values)
        present = self.group_ids >= 0
        out = np.empty((self.n_groups,) + values.shape[2:], dtype=values.dtype)
        out[self.group_ids[present]] = values[present]
        return out


def chunk_mesh(chunks: int) -> Mesh | None:
    """The mesh the chunk axis is split over: all devices when there are several and they divide
    the chunks, else None (everything on the default device).  Across several processes
    (:mod:`bayesglmm.distributed`) the devices are all processes' and must divide the chunks."""
    devices = jax.devices()
    if len(devices) > 1 and chunks % len(devices) == 0:
        return Mesh(np.array(devices), ("chunks",))
    if jax.process_count() > 1:
        raise SpecError(
            f"with {jax.process_count()} processes the chunks are split over their {len(devices)} devices: "
            f"chunks must be a multiple of {len(devices)}, got {chunks} (or leave chunks=None)"
        )
    return None


# Rows per chunk on CPU: chunks of about this size sit in the cores' caches (measurements:
# docs/ml.md, "Speed"). It sets the chunks' shapes, which are part of every compile key.
CPU_ROWS_PER_CHUNK = 65_536


def default_chunks(n_rows: int) -> int:
    """One chunk per GPU; on CPU about :data:`CPU_ROWS_PER_CHUNK` rows each (split over CPU host
    devices when their number divides the chunks, :func:`chunk_mesh`), a multiple of the number of
    devices when several processes share the fit (every device gets chunks)."""
    if jax.default_backend() != "cpu":
        return jax.device_count()
    chunks = max(1, -(-n_rows // CPU_ROWS_PER_CHUNK))
    if jax.process_count() > 1:
        devices = jax.device_count()
        chunks = -(-chunks // devices) * devices
    return chunks


def chunked_data(
    spec: ModelSpec, chunks: int | None = None, shared_shapes: bool = False, pad_to: ChunkShape | None = None
) -> ChunkedData:
    """The rows of ``spec`` in ``chunks`` chunks of whole groups with about equal numbers of rows
    (default :func:`default_chunks`).

    With ``shared_shapes``, data in one chunk of up to :data:`~.shapes.SHARED_UP_TO_ROWS` rows
    are padded to shared bucket sizes (rows, groups, fixed-effect columns; :mod:`.shapes`), so that
    other models of the same structure reuse the compiled programs; ``pad_to`` pads each chunk to
    at least that shape (rows, groups, fixed-effect columns) in any case.

    With several chunks the groups are dealt to them in a fixed pseudo-random order, so that each
    chunk is a random sample of the groups whatever order their labels follow (the fit's warm
    start uses the first chunks alone, :func:`bayesglmm.ml.fit.fit_ml`).  Any chunking gives the
    same result, to rounding.
    """
    factor = single_factor(spec)
    n_groups = len(factor.levels)
    chunks = min(default_chunks(len(factor.index)), n_groups) if chunks is None else int(chunks)
    if not 1 <= chunks <= n_groups:
        raise SpecError(f"chunks must be between 1 and the number of groups ({n_groups}), got {chunks}")
    dealt = np.arange(n_groups) if chunks == 1 else np.random.default_rng(0).permutation(n_groups)
    position = np.empty(n_groups, dtype=np.int64)
    position[dealt] = np.arange(n_groups)  # each group's place in the dealt order
    order = np.argsort(position[factor.index], kind="stable")
    group = position[factor.index][order]
    sizes = np.bincount(group, minlength=n_groups)
    cumulative, ends = np.cumsum(sizes), []
    for k in range(1, chunks):  # the group boundary nearest k/chunks of the rows, every chunk non-empty
        end = int(np.searchsorted(cumulative, k * len(group) / chunks, side="left")) + 1
        ends.append(min(max(end, (ends[-1] if ends else 0) + 1), n_groups - (chunks - k)))
    bounds = np.array([0, *ends, n_groups])
    row_bounds = np.concatenate([[0], np.cumsum(sizes)])[bounds]
    rows_per_chunk = int(np.max(np.diff(row_bounds)))
    groups_per_chunk = int(np.max(np.diff(bounds)))
    p = spec.fixed.X.shape[1]
    shape = ChunkShape(rows_per_chunk, groups_per_chunk, p)
    if shared_shapes and chunks == 1 and rows_per_chunk <= SHARED_UP_TO_ROWS:
        shape = SHAPES.shape_for((spec.family, factor.q, tuple(map(tuple, factor.blocks))), shape)
    if pad_to is not None:
        shape = ChunkShape(*(max(a, b) for a, b in zip(astuple(shape), astuple(pad_to))))
    rows_per_chunk, groups_per_chunk, fixed_columns = shape.rows, shape.groups, shape.fixed_columns
    group_ids = np.full((chunks, groups_per_chunk), -1)
    row_index = np.full((chunks, rows_per_chunk), -1)
    local_group = np.full((chunks, rows_per_chunk), groups_per_chunk, dtype=np.int32)  # padding: out of range
    for k in range(chunks):
        g0, g1, r0, r1 = bounds[k], bounds[k + 1], row_bounds[k], row_bounds[k + 1]
        group_ids[k, : g1 - g0] = dealt[g0:g1]
        row_index[k, : r1 - r0] = order[r0:r1]
        local_group[k, : r1 - r0] = group[r0:r1] - g0
    present = row_index >= 0

    def rows(values, columns=None):  # columns: pad a matrix's columns with zeros to this many
        # Padded rows repeat the first row, a valid one for the family (a Gamma response of 0
        # would make ∂/∂ log(shape) NaN, and the group sum's zero cotangent keeps a NaN).
        trailing = values.shape[1:] if columns is None else (columns,)
        out = np.zeros((chunks, rows_per_chunk) + trailing, dtype=float)
        width = () if columns is None else (slice(0, values.shape[1]),)
        out[(Ellipsis, *width)] = values[0]
        out[(present, *width)] = values[row_index[present]]
        return out

    mesh = chunk_mesh(chunks)
    sharding = jax.devices()[0] if mesh is None else NamedSharding(mesh, PartitionSpec("chunks"))
    data = GroupedData(
        X=jax.device_put(rows(spec.fixed.X, fixed_columns), sharding),
        Z=jax.device_put(rows(factor.Z), sharding),
        y=jax.device_put(rows(spec.y), sharding),
        trials=jax.device_put(rows(spec.trials), sharding),
        offset=jax.device_put(rows(spec.offset), sharding),
        group=jax.device_put(local_group, sharding),
        W=jax.device_put(rows(spec.zi_X), sharding),
        n_groups=groups_per_chunk,
    )
    return ChunkedData(data, group_ids, p)
