"""SamplerRecord: how a Bayesian fit's draws were obtained, as typed fields.

What the samplers report besides the draws (the quadrature points of the marginal sampler, the
random-effect draws' acceptance, the stage timings, the Laplace posterior's mode check, the
``sampler="auto"`` choice). A field that does not apply to the sampler used is None and is left
out of :meth:`SamplerRecord.to_dict`, the form saved with a fit; reading a saved record back
(:meth:`SamplerRecord.from_dict`) ignores keys it does not know, so files written by other
versions load.

It is also a read-only mapping of its set fields (``record["qpoints"]``, ``"qpoints" in record``,
``record.items()``), the form of the plain dict it replaces.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class SamplerRecord(Mapping):
    """The sampler details of one :class:`~bayesglmm.results.bayesfit.BayesFit` (module docstring)."""

    max_tree_depth: int | None = None  # NUTS samplers
    dense_mass: bool | None = None  # NUTS samplers: dense (True) or diagonal metric
    sampler_choice: str | None = None  # why sampler="auto" chose this one
    qpoints: int | None = None  # marginal sampler and Laplace posterior: points per dimension
    re_steps: int | None = None  # independence Metropolis steps per random-effect draw
    re_acceptance: float | None = None  # their acceptance rate
    seconds_ml: float | None = None  # the marginal sampler's stages
    seconds_laplace: float | None = None
    seconds_nuts: float | None = None
    mode_converged: bool | None = None  # Laplace posterior: its mode search
    mode_gradient_norm: float | None = None
    hessian_positive_definite: bool | None = None
    log_posterior_at_mode: float | None = None

    def to_dict(self) -> dict:
        """The fields that are set, as plain Python values (JSON and the saved NetCDF)."""
        return {name: _plain(value) for name, value in self._set_fields()}

    @classmethod
    def from_dict(cls, values: Mapping | None) -> SamplerRecord:
        """The record of :meth:`to_dict` (unknown keys, from other versions, ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{name: value for name, value in (values or {}).items() if name in known})

    def _set_fields(self) -> list[tuple[str, object]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, name: str):
        value = getattr(self, name, None) if name in _FIELD_NAMES else None
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(name for name, _ in self._set_fields())

    def __len__(self) -> int:
        return len(self._set_fields())


_FIELD_NAMES = frozenset(f.name for f in fields(SamplerRecord))


def _plain(value):
    """numpy scalars as Python numbers."""
    return value.item() if hasattr(value, "item") else value
