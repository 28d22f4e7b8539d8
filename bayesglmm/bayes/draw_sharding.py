"""Posterior draws split over the local JAX devices (CPU host devices run on separate cores).

Per-draw work (the random-effect draws of the marginal sampler, each group's marginal
log-likelihood) is a ``jax.pmap`` over devices of a ``jax.lax.map`` over that device's draws,
``batch_size`` at a time to bound memory, in equal batches: ``lax.map`` compiles its body a second
time for a remainder batch (docs/measurements.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np


@dataclass(frozen=True)
class DrawSharding:
    """How ``total`` draws are laid out: ``devices`` x ``per_device`` (padded), in batches of ``batch_size``."""

    total: int
    devices: int
    per_device: int
    batch_size: int

    @classmethod
    def of(cls, total: int, batch_size: int) -> DrawSharding:
        devices = jax.local_device_count()
        per_device = -(-total // devices)
        batches = -(-per_device // batch_size)
        batch_size = -(-per_device // batches)
        return cls(total, devices, batches * batch_size, batch_size)

    def shard(self, a) -> np.ndarray:
        """(total, ...) -> (devices, per_device, ...), padded with copies of the last draw; on the
        host, so that ``pmap`` places it whatever devices the draws came from (a sampler's output
        sits sharded over the devices already, which ``pmap`` refuses)."""
        a = np.asarray(a)
        a = np.concatenate([a, np.repeat(a[-1:], self.per_device * self.devices - self.total, axis=0)])
        return a.reshape((self.devices, self.per_device) + a.shape[1:])

    def gather(self, a) -> np.ndarray:
        """(devices, per_device, ...) -> (total, ...), the padding dropped; on the host, as
        :meth:`shard`: reshaping the ``pmap`` output on the devices would be one more program
        across all of them, run while their threads may still be finishing the ``pmap``."""
        a = np.asarray(a)
        return a.reshape((-1,) + a.shape[2:])[: self.total]
