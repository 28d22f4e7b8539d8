"""The Bayesian engine's sampler options: NUTS kernel and MCMC driver (NumPyro's ``NUTS`` and ``MCMC``)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..options import check_bool, check_float, check_int


@dataclass(frozen=True)
class NUTSKernel:
    """The NUTS kernel's settings (NumPyro's ``NUTS``): target acceptance, maximum tree depth, and
    whether the metric (mass matrix) is dense or diagonal (NumPyro's ``dense_mass``; Stan's
    ``metric = dense_e`` or ``diag_e``)."""

    target_accept: float = 0.8
    max_tree_depth: int = 10
    dense_mass: bool = True


@dataclass(frozen=True)
class MCMCDriver:
    """The sampling run's settings (NumPyro's ``MCMC``): chains, warm-up and kept draws per chain,
    thinning and the random seed."""

    chains: int = 4
    warmup: int = 1000
    draws: int = 1000
    thin: int = 1
    seed: int = 0


@dataclass(frozen=True)
class NUTSOptions:
    """The NUTS settings as one validated record, as Python, TOML and the CLI give them:
    :attr:`kernel` (:class:`NUTSKernel`) and :attr:`driver` (:class:`MCMCDriver`) split them as
    NumPyro's ``NUTS`` and ``MCMC`` do. ``warmup=None`` is the sampler's default."""

    chains: int = 4
    warmup: int | None = None  # None: the sampler's default
    draws: int = 1000
    thin: int = 1
    seed: int = 0
    target_accept: float = 0.8
    max_tree_depth: int = 10
    dense_mass: bool = True

    def __post_init__(self):
        check_int("chains", self.chains, 1)
        if self.warmup is not None:
            check_int("warmup", self.warmup, 0)
        check_int("draws", self.draws, 1)
        check_int("thin", self.thin, 1)
        check_int("seed", self.seed, 0)
        check_float("target_accept", self.target_accept, 0.0, 1.0)
        check_int("max_tree_depth", self.max_tree_depth, 1)
        check_bool("dense_mass", self.dense_mass)
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, float) and item.name != "target_accept":
                object.__setattr__(self, item.name, int(value))

    @property
    def kernel(self) -> NUTSKernel:
        return NUTSKernel(self.target_accept, self.max_tree_depth, self.dense_mass)

    def driver(self, default_warmup: int) -> MCMCDriver:
        """The run's settings, ``default_warmup`` standing in for ``warmup=None``."""
        warmup = default_warmup if self.warmup is None else self.warmup
        return MCMCDriver(self.chains, warmup, self.draws, self.thin, self.seed)
