"""Shared array shapes, so that one compiled program serves many models.

A compiled XLA program is specialised to its arguments' shapes; the ML engine's data are
(rows, groups, fixed-effect columns) arrays, so without care every new formula, subset or data
size compiles its programs from nothing (seconds each) for a fit that takes a tenth of a second.
Where compilation dominates (data that fit in one chunk, :data:`SHARED_UP_TO_ROWS`), a process
remembers the shapes its programs were compiled for, by program structure (family, random-effect
covariance), and pads a new model's data to one of them when it fits:

- a compiled shape is reused when it holds the data and is at most :data:`REUSE_WITHIN` times
  their rows and groups and :data:`FIXED_COLUMNS_MULTIPLE` columns more (a model with a term
  fewer, a 60% subset of the rows, a simulated replicate);
- the first model of a structure is compiled for its exact shape: a fit repeated on one design
  (simulation studies, bootstraps) pays nothing for padding;
- when a later model of that structure fits no compiled shape, it is compiled for *bucket*
  sizes with headroom, so that the models after it reuse that program: rows and groups to the
  next of the sizes ⌈2^(k/4)⌉ (at most 19% padding), fixed-effect columns to the next multiple of
  :data:`FIXED_COLUMNS_MULTIPLE` (the next term added fits too).

Padded rows carry an out-of-range group index and padded groups have no rows, so they add
exactly nothing (:mod:`.data`); padded columns are zero, their coefficients held at zero outside
the compiled programs and left out of the optimisation and of the reported information
(:class:`FixedColumnPadding`). The run time of a padded program grows with its sizes (measured:
docs/limitations.md); large data keep their exact shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from threading import Lock

import numpy as np

# Data up to this many rows share bucketed shapes (one CPU chunk, :data:`.data.CPU_ROWS_PER_CHUNK`).
SHARED_UP_TO_ROWS = 65_536
FIXED_COLUMNS_MULTIPLE = 4
BUCKETS_PER_DOUBLING = 4
# A bucket already compiled is reused for data down to 1/REUSE_WITHIN of its size.
REUSE_WITHIN = 2.0


def size_bucket(n: int, per_doubling: int = BUCKETS_PER_DOUBLING) -> int:
    """The smallest size ⌈2^(k/m)⌉ ≥ ``n``, m = ``per_doubling`` (m = 4: 1, 2, 3, 4, 5, 6, 7, 8, 10,
    12, 14, 16, 20, …; at most 2^(1/m) − 1 padding: 19% for m = 4, 9% for m = 8)."""
    if n <= 1:
        return max(int(n), 1)
    k = math.ceil(per_doubling * math.log2(n) - 1e-9)
    while math.ceil(2 ** ((k - 1) / per_doubling)) >= n:  # floating-point edges
        k -= 1
    return max(math.ceil(2 ** (k / per_doubling)), n)


def fixed_columns_bucket(p: int) -> int:
    """``p`` rounded up to a multiple of :data:`FIXED_COLUMNS_MULTIPLE`."""
    return max(FIXED_COLUMNS_MULTIPLE, -(-p // FIXED_COLUMNS_MULTIPLE) * FIXED_COLUMNS_MULTIPLE)


@dataclass(frozen=True)
class ChunkShape:
    """The shape of one chunk of the ML engine's data: rows, groups, fixed-effect columns."""

    rows: int
    groups: int
    fixed_columns: int

    def holds(self, other: ChunkShape) -> bool:
        return self.rows >= other.rows and self.groups >= other.groups and self.fixed_columns >= other.fixed_columns

    def within(self, other: ChunkShape, factor: float) -> bool:
        """Whether this shape is at most ``factor`` times ``other`` in rows and in groups."""
        return self.rows <= factor * other.rows and self.groups <= factor * other.groups


def bucketed(needed: ChunkShape) -> ChunkShape:
    """``needed`` with rows and groups to their :func:`size_bucket` and columns to :func:`fixed_columns_bucket`."""
    return ChunkShape(size_bucket(needed.rows), size_bucket(needed.groups), fixed_columns_bucket(needed.fixed_columns))


class ShapeRegistry:
    """The chunk shapes this process has used, by program structure (family, covariance): the
    buckets whose programs are compiled already (in memory, or on disk with the cache on)."""

    def __init__(self):
        self._used: dict[object, set[ChunkShape]] = {}
        self._lock = Lock()

    def shape_for(self, structure, needed: ChunkShape) -> ChunkShape:
        """The shape to pad ``needed`` to (the rules above), recorded as used."""
        with self._lock:
            used = self._used.setdefault(structure, set())
            fitting = [
                s
                for s in used
                if s.holds(needed)
                and s.within(needed, REUSE_WITHIN)
                and s.fixed_columns <= needed.fixed_columns + FIXED_COLUMNS_MULTIPLE
            ]
            if fitting:
                chosen = min(fitting, key=lambda s: (s.rows * s.groups, s.fixed_columns))
            elif not used:
                chosen = needed
            else:
                chosen = bucketed(needed)
            used.add(chosen)
            return chosen

    def clear(self) -> None:
        with self._lock:
            self._used.clear()


SHAPES = ShapeRegistry()


STABLE_BUCKETS_PER_DOUBLING = (
    8  # rows and groups padded by at most 9% (NUTS runs the padded program thousands of times)
)


def stable_shape(needed: ChunkShape, pad_fixed: bool = True) -> ChunkShape:
    """A shape that depends on ``needed`` alone, for the Bayesian programs and the automatic rule
    on distinct groups (:mod:`.distinct_rule`): rows and groups to their :func:`size_bucket` with
    :data:`STABLE_BUCKETS_PER_DOUBLING` buckets per doubling (finer than the ML engine's: the
    sampler pays for padding at every gradient, and a formula on the same data changes the
    distinct groups little if at all), and, with
    ``pad_fixed``, the coefficients to the next
    multiple of 4 *above* p, so that a formula with a term fewer or one more shares the program
    in three cases of four (amenorrhea's 5 and 4 coefficients: 8).  Fixed buckets, not the ML
    engine's per-process choice (:class:`ShapeRegistry`): the padded
    coordinates change the sampler's path, so a seed's draws must not depend on the models
    fitted before in the process.  Data above :data:`SHARED_UP_TO_ROWS`
    rows keep their shape."""
    if needed.rows > SHARED_UP_TO_ROWS:
        return needed
    columns = fixed_columns_bucket(needed.fixed_columns + 1) if pad_fixed else needed.fixed_columns
    buckets = STABLE_BUCKETS_PER_DOUBLING
    return ChunkShape(size_bucket(needed.rows, buckets), size_bucket(needed.groups, buckets), columns)


@dataclass(frozen=True)
class FixedColumnPadding:
    """Between the optimiser's φ = (β (p), θ, extras) and the compiled programs' φ with β padded
    to ``padded`` entries (zero coefficients of zero columns, which change nothing).

    The programs' derivatives in the padded coordinates are exactly zero (gradient, Hessian rows and
    columns, scores); :meth:`restrict` drops them, so the optimiser and the information matrix
    see the model's own parameters only.
    """

    n_fixed: int
    padded: int

    def _keep(self, padded_length: int) -> np.ndarray:
        """The model's own entries of a padded vector whose first ``padded`` entries are β."""
        return np.concatenate([np.arange(self.n_fixed), np.arange(self.padded, padded_length)])

    def embed(self, phi) -> np.ndarray:
        """φ -> the padded φ (zeros for the padded coefficients)."""
        phi = np.asarray(phi, dtype=float)
        if self.padded == self.n_fixed:
            return phi
        return np.concatenate([phi[: self.n_fixed], np.zeros(self.padded - self.n_fixed), phi[self.n_fixed :]])

    def restrict(self, values, axes=(-1,)) -> np.ndarray:
        """``values`` with the padded coefficients' entries dropped along ``axes`` (each a padded φ
        or a vector of reported quantities, β first)."""
        values = np.asarray(values)
        if self.padded == self.n_fixed:
            return values
        for axis in axes:
            values = np.take(values, self._keep(values.shape[axis]), axis=axis)
        return values
