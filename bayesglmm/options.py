"""Fitting options as frozen, validated objects: one set of rules for Python, TOML and the CLI.

:class:`MLOptions` holds how the ML engine fits (as lme4's ``glmerControl``), :class:`NUTSOptions`
the sampler's kernel and driver settings (NumPyro's ``NUTS`` and ``MCMC``).  Each checks its
values' types and ranges when it is built, so ``empirical = "no"`` in a TOML file or
``--chains 0`` on the command line fails before any work with a message that names the option,
the value and what is allowed — the same message from every entry point.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

from .errors import SpecError

METHODS = ("laplace", "agq")


def _type_name(value) -> str:
    return f"{type(value).__name__} {value!r}"


def check_bool(name: str, value) -> bool:
    """``value`` as a bool; strings such as ``"no"`` are refused (they would be truthy)."""
    if isinstance(value, bool):
        return value
    raise SpecError(f"{name} must be true or false, got {_type_name(value)}")


def check_int(name: str, value, minimum: int | None = None) -> int:
    """``value`` as an int of at least ``minimum`` (a whole float such as 4.0 is accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SpecError(f"{name} must be a whole number, got {_type_name(value)}")
    if value != int(value):
        raise SpecError(f"{name} must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise SpecError(f"{name} must be >= {minimum}, got {int(value)}")
    return int(value)


def check_float(
    name: str, value, low: float | None = None, high: float | None = None, low_open: bool = True, high_open: bool = True
) -> float:
    """``value`` as a finite float inside the given bounds (open by default)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SpecError(f"{name} must be a number, got {_type_name(value)}")
    value = float(value)
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or below or above:
        left = "" if low is None else f"{low} {'<' if low_open else '<='} "
        right = "" if high is None else f" {'<' if high_open else '<='} {high}"
        raise SpecError(f"{name} must satisfy {left}{name}{right}, got {value!r}")
    return value


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SpecError(f"{name} must be one of {', '.join(choices)}, got {_type_name(value)}")
    return value


def check_qpoints(name: str, value, allow_auto: bool = True):
    """A positive whole number of points per dimension, or ``"auto"`` (or None: the default)."""
    if value is None or (allow_auto and value == "auto"):
        return value
    if isinstance(value, str):
        allowed = "a whole number >= 1" + (" or 'auto'" if allow_auto else "")
        raise SpecError(f"{name} must be {allowed}, got {value!r}")
    return check_int(name, value, 1)


@dataclass(frozen=True)
class MLOptions:
    """How the ML engine fits (see :func:`bayesglmm.ml.fit_ml` for each option's meaning)."""

    method: str = "laplace"
    qpoints: int | str | None = None
    empirical: bool = False
    auto_tol: float = 0.01
    max_nodes: int = 3000
    gtol: float = 1e-6
    chunks: int | None = None
    max_grid_gb: float | None = None  # None: three quarters of the machine's memory

    def __post_init__(self):
        check_choice("method", self.method, METHODS)
        check_qpoints("qpoints", self.qpoints)
        if self.method == "laplace" and self.qpoints not in (None, 1):
            raise SpecError("method='laplace' uses one point; for more points use method='agq'")
        check_bool("empirical", self.empirical)
        check_float("auto_tol", self.auto_tol, 0.0)
        check_int("max_nodes", self.max_nodes, 1)
        check_float("gtol", self.gtol, 0.0)
        if self.chunks is not None:
            check_int("chunks", self.chunks)  # its range depends on the data: checked by chunked_data
        if self.max_grid_gb is not None:
            check_float("max_grid_gb", self.max_grid_gb, 0.0)
        object.__setattr__(
            self, "qpoints", int(self.qpoints) if isinstance(self.qpoints, numbers.Real) else self.qpoints
        )


@dataclass(frozen=True)
class NUTSOptions:
    """NUTS kernel (target_accept, max_tree_depth) and driver (chains, warmup, draws, thin, seed)."""

    chains: int = 4
    warmup: int | None = None  # None: the sampler's default
    draws: int = 1000
    thin: int = 1
    seed: int = 0
    target_accept: float = 0.8
    max_tree_depth: int = 10

    def __post_init__(self):
        check_int("chains", self.chains, 1)
        if self.warmup is not None:
            check_int("warmup", self.warmup, 0)
        check_int("draws", self.draws, 1)
        check_int("thin", self.thin, 1)
        check_int("seed", self.seed, 0)
        check_float("target_accept", self.target_accept, 0.0, 1.0)
        check_int("max_tree_depth", self.max_tree_depth, 1)
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, float) and item.name != "target_accept":
                object.__setattr__(self, item.name, int(value))


def in_section(section: str, source, error: SpecError) -> SpecError:
    """``error`` with where the value came from (a TOML section of a file) in front."""
    return SpecError(f"[{section}] of {source}: {error}")
