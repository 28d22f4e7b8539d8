"""The arrays of a several-factor Laplace fit (:mod:`.crossed`): rows sorted by the primary factor
(the one with the most effects), each secondary factor's cells (primary level, its level) and the
pairs of cells in the same primary level that make the Schur complement's terms."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import numpy as np

from .. import _jax  # noqa: F401  (float64)
from ..model.spec import ModelSpec


@partial(
    jax.tree_util.register_dataclass,
    data_fields=["X", "y", "trials", "offset", "W", "Z", "index", "cells", "cell_group", "cell_level", "pairs"],
    meta_fields=["n_levels", "nested"],
)
@dataclass(frozen=True)
class CrossedData:
    """Model arrays, rows sorted by the primary factor (factor 0).

    ``Z[g]`` (n, q_g) and ``index[g]`` (n,) per factor, ``n_levels[g]`` its number of levels.
    For each secondary factor g ≥ 1, a *cell* is a (primary level, level of g) pair that occurs
    in the data: ``cells[g-1]`` (n,) the cell of each row, ``cell_group[g-1]`` and
    ``cell_level[g-1]`` the two levels of each cell.  ``pairs[(g, h)]`` holds the index arrays
    (cells of g, cells of h) of every two cells in the same primary level, for S's Cᵀ A⁻¹ C term.
    ``nested``: one secondary factor within whose levels the primary levels nest (``(1 | a/b)``,
    or crossed-looking data that happen to nest): then every cell is its primary level's only one,
    S is block diagonal over the secondary levels (q_1 × q_1 blocks), and it is factorised block by
    block, in time and memory linear in its size.
    """

    X: jax.Array
    y: jax.Array
    trials: jax.Array
    offset: jax.Array
    W: jax.Array  # (n, k): the families' per-row covariates (zero-inflation design)
    Z: tuple
    index: tuple
    cells: tuple
    cell_group: tuple
    cell_level: tuple
    pairs: dict
    n_levels: tuple
    nested: bool  # one secondary factor and each primary level inside one of its levels: S block diagonal

    @property
    def dense_size(self) -> int:
        """The side of the dense matrix the fit factorises: m, or 0 when S is block diagonal."""
        return 0 if self.nested else self.n_secondary

    @property
    def n_pairs(self) -> int:
        """Pairs of cells in the same primary level: the scattered terms of S."""
        return sum(int(first.shape[0]) for first, _ in self.pairs.values())

    @property
    def n_secondary(self) -> int:
        """m, the number of secondary random effects."""
        return sum(n * Z.shape[1] for n, Z in zip(self.n_levels[1:], self.Z[1:]))

    def offsets(self) -> list[int]:
        """Start of each secondary factor's effects in u."""
        starts, position = [], 0
        for n, Z in zip(self.n_levels[1:], self.Z[1:]):
            starts.append(position)
            position += n * Z.shape[1]
        return starts


def factor_order(spec: ModelSpec) -> list[int]:
    """Factors of ``spec`` by decreasing number of effects (levels x terms), as lme4 orders its
    random-effect terms; the first is the primary factor."""
    sizes = [len(factor.levels) * factor.q for factor in spec.random]
    return sorted(range(len(sizes)), key=lambda g: -sizes[g])


def crossed_data(spec: ModelSpec, order: list[int]) -> CrossedData:
    """Arrays of ``spec`` for :func:`laplace_loglik`, factors in ``order`` (primary first)."""
    factors = [spec.random[g] for g in order]
    order_rows = np.argsort(factors[0].index, kind="stable")
    primary = factors[0].index[order_rows]
    cells, cell_group, cell_level = [], [], []
    for factor in factors[1:]:
        level = factor.index[order_rows]
        keys, cell = np.unique(np.stack([primary, level], axis=1), axis=0, return_inverse=True)
        cells.append(cell.reshape(-1).astype(np.int32))
        cell_group.append(keys[:, 0].astype(np.int32))
        cell_level.append(keys[:, 1].astype(np.int32))
    nested = len(cells) == 1 and len(cell_group[0]) == len(factors[0].levels)
    pairs = {}
    for g in range(len(cells)):
        for h in range(len(cells)):
            pairs[(g, h)] = tuple(jax.device_put(a) for a in _same_group_pairs(cell_group[g], cell_group[h]))
    put = jax.device_put
    return CrossedData(
        X=put(spec.fixed.X[order_rows]),
        y=put(spec.y[order_rows]),
        trials=put(spec.trials[order_rows]),
        offset=put(spec.offset[order_rows]),
        W=put(spec.zi_X[order_rows]),
        Z=tuple(put(f.Z[order_rows]) for f in factors),
        index=tuple(put(f.index[order_rows].astype(np.int32)) for f in factors),
        cells=tuple(put(c) for c in cells),
        cell_group=tuple(put(c) for c in cell_group),
        cell_level=tuple(put(c) for c in cell_level),
        pairs=pairs,
        n_levels=tuple(len(f.levels) for f in factors),
        nested=bool(nested),
    )


def _same_group_pairs(group_a: np.ndarray, group_b: np.ndarray):
    """All (i, j) with group_a[i] == group_b[j] (both sorted by group)."""
    starts_b = np.searchsorted(group_b, group_a, side="left")
    ends_b = np.searchsorted(group_b, group_a, side="right")
    counts = ends_b - starts_b
    first = np.repeat(np.arange(group_a.size), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    second = np.repeat(starts_b, counts) + offsets
    return first.astype(np.int32), second.astype(np.int32)


def split_secondary(u, data: CrossedData) -> list:
    """u (m,) -> per secondary factor (levels, q_g)."""
    return [
        u[start : start + n * Z.shape[1]].reshape(n, Z.shape[1])
        for start, n, Z in zip(data.offsets(), data.n_levels[1:], data.Z[1:])
    ]
