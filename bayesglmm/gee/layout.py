"""Clusters as padded (cluster, occasion) arrays for GEE.

Row r of the spec goes to slot ``[cluster(r), occasion(r)]``: the occasion is the
position of the row's ``within`` value among the sorted within levels (SAS
``repeated ... withinsubject=``, geepack ``waves``), or, without a within variable, its
position inside its cluster in data order. Missing occasions (dropout) are empty
slots with ``mask`` False, so a working correlation indexed by occasion pairs means
the same thing in every cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import SpecError


@dataclass(frozen=True)
class ClusterLayout:
    """Padded arrays (m clusters × T occasions) and where each spec row went."""

    X: np.ndarray  # (m, T, p)
    y: np.ndarray  # (m, T)
    trials: np.ndarray  # (m, T), 1 in empty slots
    offset: np.ndarray  # (m, T)
    mask: np.ndarray  # (m, T) bool: slot holds an observation
    cluster_labels: tuple[str, ...]
    occasion_labels: tuple[str, ...]
    rows: tuple[np.ndarray, np.ndarray]  # (cluster index, occasion index) of every spec row

    @property
    def n_clusters(self) -> int:
        return self.X.shape[0]

    @property
    def n_occasions(self) -> int:
        return self.X.shape[1]


def _occasions(cluster_index: np.ndarray, within: pd.Series | None, within_name: str | None):
    if within is None:
        order = np.argsort(cluster_index, kind="stable")
        position = np.empty_like(cluster_index)
        starts = np.r_[0, np.flatnonzero(np.diff(cluster_index[order])) + 1]
        sizes = np.diff(np.r_[starts, len(order)])
        position[order] = np.arange(len(order)) - np.repeat(starts, sizes)
        return position, tuple(str(k + 1) for k in range(position.max() + 1))
    codes, levels = pd.factorize(within, sort=True)
    pairs = pd.Series(cluster_index).astype(str) + "\x00" + pd.Series(codes).astype(str)
    if pairs.duplicated().any():
        first = int(np.flatnonzero(pairs.duplicated().to_numpy())[0])
        raise SpecError(
            f"the within-cluster variable {within_name!r} repeats the value {within.iloc[first]!r} inside one cluster; "
            "each occasion may appear once per cluster (check the cluster and within columns)"
        )
    return codes, tuple(str(level) for level in levels)


def cluster_layout(
    spec, cluster: pd.Series, within: pd.Series | None = None, within_name: str | None = None
) -> ClusterLayout:
    """Arrange ``spec``'s rows by ``cluster`` (one value per spec row) and occasion."""
    cluster_index, cluster_levels = pd.factorize(cluster.to_numpy(), sort=True)
    occasion, occasion_labels = _occasions(cluster_index, within, within_name)
    m, T, p = len(cluster_levels), len(occasion_labels), spec.fixed.X.shape[1]
    X, y = np.zeros((m, T, p)), np.zeros((m, T))
    trials, offset, mask = np.ones((m, T)), np.zeros((m, T)), np.zeros((m, T), bool)
    X[cluster_index, occasion] = spec.fixed.X
    y[cluster_index, occasion] = spec.y
    trials[cluster_index, occasion] = spec.trials
    offset[cluster_index, occasion] = spec.offset
    mask[cluster_index, occasion] = True
    return ClusterLayout(
        X, y, trials, offset, mask, tuple(str(c) for c in cluster_levels), occasion_labels, (cluster_index, occasion)
    )
